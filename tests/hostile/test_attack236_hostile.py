"""Attack 236: parser differentials, the same bytes read by mlenv and by the reader a user would
use (pip and its zipfile for wheels, pip's link parser for pages), so that what mlenv checked
is not what gets installed.

Findings this file pins (each failed before its fix):

- A page stating a digest that is no digest of its algorithm (``#sha256=GOOD#x``, one digit
  short, a PEP 691 ``hashes`` value of 65 digits) had it read as no claim at all, so ``lock``
  measured the file and pinned whatever bytes it served; pip refuses such a download (hash
  mismatch) and uv the page. ``index.declared.page_digests`` keeps it as a claim no bytes meet.
- A PEP 691 entry whose url carries ``#sha256=`` had that fragment dropped: ``hashes`` naming
  the bytes served and the fragment another file's, mlenv locked the bytes pip refuses (pip
  takes the fragment's digest over ``hashes``). ``index.pages.parse_json`` counts both.

Held (table-driven below): wheels whose local header names another member, one member
twice in six spellings, bytes before the archive or a second archive after it, an EOCD in the
comment, a wrong CRC (small, big deflated, big stored, written and streamed), a member RECORD
does not list, two ``.dist-info`` in two cases, a stored member whose sizes disagree, a
RECORD digest padded, in the standard alphabet or in hex; pages with ``&amp;``, ``%2B``,
``<base href>`` given twice, an attribute given twice, both PEP 658 attributes, an entity in
a file name, links inside ``<title>``/``<textarea>``: mlenv reads each as pip does, or
refuses what it would install otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import struct
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest

from mlenv.build_outputs import stream_entries
from mlenv.errors import MlenvError
from mlenv.index.declared import MALFORMED
from mlenv.index.pages import parse_html
from mlenv.install.ports import BigMembers
from mlenv.install.wheels import InstallResult
from mlenv.tarball import write_layer
from mlenv.tree_listing import collect
from tests.support.cli import run_mlenv
from tests.support.fetch_project import make_project
from tests.support.raw_wheels import DIST_INFO, METADATA, WHEEL, raw_wheel, record_hash
from tests.support.streamed_wheels import DEST, big_blob, install_as, zip_info
from tests.support.wheels import build_wheel, write_simple_index

GOOD = build_wheel("app", "1.0", files={"app/__init__.py": b"good = 1\n"})
EVIL = build_wheel("app", "1.0", files={"app/__init__.py": b"import os; os.system('id')\n"})
RIGHT = hashlib.sha256(GOOD[1]).hexdigest()


def _served_evil(root: Path, page_json: bool, edit: Callable[[str], str]) -> Path:
    """A project locking ``app`` from a local index whose page states GOOD's digest, edited by
    ``edit``, for a file holding EVIL's bytes."""
    index = write_simple_index(root / "index", [GOOD], json=page_json, metadata_files=False)
    (root / "index" / "files" / GOOD[0]).write_bytes(EVIL[1])
    page = root / "index" / "simple" / "app" / ("index.json" if page_json else "index.html")
    page.write_text(edit(page.read_text()))
    return make_project(root, index)


def _fragment_against_hashes(page: str) -> str:
    """A PEP 691 entry whose ``hashes`` vouch for the bytes served (EVIL) and whose url's
    ``#sha256=`` for GOOD: pip takes the fragment's (``Link.from_json``) and refuses them."""
    document = json.loads(page)
    (entry,) = document["files"]
    entry["hashes"] = {"sha256": hashlib.sha256(EVIL[1]).hexdigest()}
    entry["url"] += f"#sha256={RIGHT}"
    return json.dumps(document)


@pytest.mark.parametrize(
    ("page_json", "edit", "said"),
    [
        (False, lambda page: page.replace(RIGHT, f"{RIGHT}#x"), MALFORMED),  # pip: "Expected ...#x"
        (False, lambda page: page.replace(RIGHT, RIGHT[:-1]), MALFORMED),
        (True, lambda page: page.replace(RIGHT, f"{RIGHT}0"), MALFORMED),
        (True, _fragment_against_hashes, RIGHT),
    ],
    ids=["second-fragment", "digit-short", "json-65-digits", "json-url-fragment"],
)
def test_every_digest_a_page_states_must_hold_however_spelt(
    tmp_path: Path, page_json: bool, edit: Callable[[str], str], said: str
) -> None:
    """Before: a malformed claim was none, and a PEP 691 url's fragment was dropped, so the
    file was measured (or pinned by ``hashes``) and the lock pinned the bytes the index served
    (EVIL), which pip refuses (uv too, for the malformed ones)."""
    project = _served_evil(tmp_path, page_json, edit)
    done = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{GOOD[0]}: the index declares sha256 {said}" in done.stderr, done.stderr
    assert not (project / "mlenv.lock").exists()


def test_a_well_formed_stated_digest_still_pins(tmp_path: Path) -> None:
    """The same index stating GOOD's digest plainly: the lock pins it, fetch refuses EVIL."""
    project = _served_evil(tmp_path, False, lambda page: page)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["lock"], project, env).returncode == 0
    assert RIGHT in (project / "mlenv.lock").read_text()
    fetched = run_mlenv(["fetch"], project, env)
    assert fetched.returncode == 1 and "Traceback" not in fetched.stderr, fetched.stderr


# --- wheels: mlenv's install against zipfile's reading (what pip installs) -------------------

SMALL, OTHER = b"good = 1\n", b"evil = 1\n"


def _patched(path: Path, old: bytes, new: bytes, count: int = 1) -> Path:
    """``path`` with the first ``count`` ``old`` (the local header's copy of a name or CRC
    comes first, the central directory's last) made ``new``."""
    path.write_bytes(path.read_bytes().replace(old, new, count))
    return path


def _central_size(path: Path, name: bytes, delta: int) -> Path:
    """``path`` whose central directory says ``name`` is ``delta`` bytes longer compressed."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        (length,) = struct.unpack_from("<H", data, at + 28)
        if bytes(data[at + 46 : at + 46 + length]) == name:
            (size,) = struct.unpack_from("<I", data, at + 20)
            struct.pack_into("<I", data, at + 20, size + delta)
        at = data.find(b"PK\x01\x02", at + 1)
    path.write_bytes(bytes(data))
    return path


def _two(first: str, second: str) -> Callable[[Path], Path]:
    return lambda d: raw_wheel(d, [(first, SMALL), (second, OTHER)])


def _joined(d: Path, before: bool) -> Path:
    (d / "b").mkdir()
    other = raw_wheel(d / "b", [("evil/a.py", OTHER)]).read_bytes()
    path = raw_wheel(d, [("evil/a.py", SMALL)])
    data = path.read_bytes()
    path.write_bytes(other + data if before else data + other)
    return path


def _commented(d: Path) -> Path:
    path = raw_wheel(d, [("evil/a.py", SMALL)])
    with zipfile.ZipFile(path, "a") as archive:
        archive.comment = b"PK\x05\x06" + bytes(18)
    return path


def _bad_crc(d: Path, data: bytes, compression: int, count: int = 2) -> Path:
    """A wheel whose member's CRC-32 is wrong in both headers (``count`` 1: the local one)."""
    path = raw_wheel(d, [(zip_info("evil/m.bin", compression), data)])
    crc = struct.pack("<I", zlib.crc32(data))
    return _patched(path, crc, struct.pack("<I", zlib.crc32(data) ^ 1), count)


def _unrecorded(d: Path) -> Path:
    rows = [
        ("evil/a.py", SMALL),
        (f"{DIST_INFO}/METADATA", METADATA),
        (f"{DIST_INFO}/WHEEL", WHEEL),
    ]
    record = "".join(f"{n},{record_hash(b)},{len(b)}\n" for n, b in rows)
    members = [("evil/a.py", SMALL), ("evil/x.pth", b"import os\n")]
    return raw_wheel(d, members, record=record + f"{DIST_INFO}/RECORD,,\n")


def _record_spelt(d: Path, spelling: Callable[[bytes], str]) -> Path:
    """A wheel whose RECORD spells its member's sha256 by ``spelling`` (of the digest)."""
    digest = hashlib.sha256(SMALL).digest()
    rows = [(f"{DIST_INFO}/METADATA", METADATA), (f"{DIST_INFO}/WHEEL", WHEEL)]
    record = f"evil/a.py,sha256={spelling(digest)},{len(SMALL)}\n"
    record += "".join(f"{n},{record_hash(b)},{len(b)}\n" for n, b in rows)
    return raw_wheel(d, [("evil/a.py", SMALL)], record=record + f"{DIST_INFO}/RECORD,,\n")


BIG = big_blob(236)
NFC, NFD = (unicodedata.normalize(form, "evil/\u00e9.py") for form in ("NFC", "NFD"))

# Each wheel, and whether mlenv refuses it; a wheel it installs must give zipfile's bytes.
WHEELS: dict[str, tuple[Callable[[Path], Path], bool]] = {
    "local header names another member": (
        lambda d: _patched(raw_wheel(d, [("evil/a.py", SMALL)]), b"evil/a.py", b"evil/b.py"),
        True,
    ),
    "big member's local header names another": (
        lambda d: _patched(
            raw_wheel(d, [(zip_info("evil/big.bin", zipfile.ZIP_STORED), BIG)]),
            b"evil/big.bin",
            b"evil/bad.bin",
        ),
        True,
    ),
    "one name twice": (_two("evil/a.py", "evil/a.py"), True),  # pip installs the last
    "case twins": (_two("evil/a.py", "evil/A.py"), True),
    "NFC and NFD twins": (_two(NFC, NFD), True),
    "./ twin": (_two("evil/a.py", "./evil/a.py"), True),
    "// twin": (_two("evil/a.py", "evil//a.py"), True),
    "backslash twin": (_two("evil/a.py", "evil\\a.py"), True),
    "trailing-slash twin (a directory entry)": (_two("evil/a.py", "evil/a.py/"), False),
    "bytes before the archive": (lambda d: _joined(d, before=True), False),
    "a second archive after it": (lambda d: _joined(d, before=False), False),
    "an EOCD in the comment": (_commented, True),
    "wrong CRC, small": (lambda d: _bad_crc(d, SMALL, zipfile.ZIP_DEFLATED), True),
    "wrong CRC, big deflated": (lambda d: _bad_crc(d, BIG, zipfile.ZIP_DEFLATED), True),
    "wrong CRC, big stored": (lambda d: _bad_crc(d, BIG, zipfile.ZIP_STORED), True),
    "wrong CRC in the local header alone": (
        lambda d: _bad_crc(d, BIG, zipfile.ZIP_DEFLATED, count=1),
        False,  # zipfile reads the central directory's, as the big-member reader does
    ),
    "a member RECORD does not list": (_unrecorded, True),  # pip installs evil/x.pth
    # RECORD's digest spelt otherwise (pip checks none): taken only when it is these bytes'
    "RECORD digest padded": (
        lambda d: _record_spelt(d, lambda digest: base64.urlsafe_b64encode(digest).decode()),
        False,
    ),
    "RECORD digest in the standard alphabet": (
        lambda d: _record_spelt(d, lambda digest: base64.b64encode(digest).decode().rstrip("=")),
        False,
    ),
    "RECORD digest in hex": (lambda d: _record_spelt(d, bytes.hex), False),
    "RECORD digest of other bytes, padded": (
        lambda d: _record_spelt(
            d, lambda digest: base64.urlsafe_b64encode(hashlib.sha256(OTHER).digest()).decode()
        ),
        True,
    ),
    "two .dist-info in two cases": (
        lambda d: raw_wheel(d, [("evil/a.py", SMALL), ("Evil-1.0.dist-info/METADATA", METADATA)]),
        True,
    ),
    "stored, compressed size 10 over": (
        lambda d: _central_size(
            raw_wheel(d, [(zip_info("evil/s.bin", zipfile.ZIP_STORED), BIG)]), b"evil/s.bin", 10
        ),
        True,  # pip installs its first bytes; mlenv refuses a member longer than it says
    ),
    "stored, compressed size 10 under": (
        lambda d: _central_size(
            raw_wheel(d, [(zip_info("evil/s.bin", zipfile.ZIP_STORED), BIG)]), b"evil/s.bin", -10
        ),
        True,
    ),
}


def _zipfile_view(path: Path) -> dict[str, bytes]:
    """The package's files as zipfile (pip's reader) gives them, the last of a name winning."""
    with zipfile.ZipFile(path) as archive:
        return {
            info.filename: archive.read(info)
            for info in archive.infolist()
            if info.filename.startswith("evil/") and not info.is_dir()
        }


def _layer_files(staging: Path, installed: InstallResult) -> dict[str, bytes]:
    """The package's files as the layer holds them (a streamed member is checked, and can
    fail, in the read that tars it)."""
    entries = stream_entries(collect(staging, DEST), installed.streamed, DEST)
    blob = io.BytesIO()
    write_layer(entries, blob, compression="gzip", mtime=0)
    site = f"{DEST}/lib/python3.11/site-packages/"
    with tarfile.open(fileobj=io.BytesIO(blob.getvalue())) as layer:
        return {
            member.name.removeprefix(site): layer.extractfile(member).read()  # type: ignore[union-attr]
            for member in layer.getmembers()
            if member.isfile() and member.name.startswith(f"{site}evil/")
        }


@pytest.mark.parametrize("case", sorted(WHEELS))
@pytest.mark.parametrize("big", ["scan", "stream"])
def test_wheel_differentials_held(tmp_path: Path, case: str, big: BigMembers) -> None:
    """Held: mlenv refuses the wheel (whole, no traceback) or its layer holds exactly
    zipfile's bytes, big members written (``scan``) or left in the wheel (``stream``)."""
    make, refused = WHEELS[case]
    (tmp_path / "w").mkdir()
    wheel = make(tmp_path / "w")
    staging = tmp_path / "staging"
    try:
        got = _layer_files(staging, install_as([wheel], staging, big))
    except MlenvError as exc:
        assert refused, f"{case}: {exc}"
        return
    assert not refused, case
    assert got == _zipfile_view(wheel), case


# --- pages: mlenv's link parser against pip's --------------------------------------------------

PAGE = "https://idx.example/simple/demo/"
W = "demo-1.0-py3-none-any.whl"
H, G, M = "a" * 64, "b" * 64, "c" * 32
F = "https://idx.example/f/"
_Link = tuple[str, str, str | None, str | None]
# Each page with what pip 26.3's link parser reads from it (url, file name, sha256, metadata
# sha256), found by running pip once; kept as data so the test imports none of pip's internals.
PAGES: dict[str, tuple[str, list[_Link]]] = {
    "&amp; between claims": (
        f'<a href="../../f/{W}#sha256={H}&amp;md5={M}">x</a>',
        [(F + W, W, H, None)],
    ),
    "%2B in the name": (
        f'<a href="../../f/demo-1.0%2Blocal-py3-none-any.whl#sha256={H}">x</a>',
        [(F + "demo-1.0+local-py3-none-any.whl", "demo-1.0+local-py3-none-any.whl", H, None)],
    ),
    "an entity in the name": (
        f'<a href="demo-1.0&#43;x-py3-none-any.whl#sha256={H}">x</a>',
        [(PAGE + "demo-1.0+x-py3-none-any.whl", "demo-1.0+x-py3-none-any.whl", H, None)],
    ),
    "base href": (
        f'<base href="https://other.example/x/"><a href="{W}#sha256={H}">x</a>',
        [("https://other.example/x/" + W, W, H, None)],
    ),
    "two base hrefs": (
        f'<base href="https://a.example/"><base href="https://b.example/">'
        f'<a href="{W}#sha256={H}">x</a>',
        [("https://a.example/" + W, W, H, None)],
    ),
    "href twice": (
        f'<a href="{W}#sha256={H}" href="evil-1.0-py3-none-any.whl#sha256={G}">x</a>',
        [(PAGE + "evil-1.0-py3-none-any.whl", "evil-1.0-py3-none-any.whl", G, None)],
    ),
    "//other-host": (
        f'<a href="//other.example/f/{W}#sha256={H}">x</a>',
        [("https://other.example/f/" + W, W, H, None)],
    ),
    "..": (f'<a href="../../../../../f/{W}#sha256={H}">x</a>', [(F + W, W, H, None)]),
    "links in title and textarea": (
        f'<title><a href="evil-1.0-py3-none-any.whl">t</a></title>'
        f'<textarea><a href="{W}#sha256={H}">x</a></textarea>',
        [
            (PAGE + "evil-1.0-py3-none-any.whl", "evil-1.0-py3-none-any.whl", None, None),
            (PAGE + W, W, H, None),
        ],
    ),
    "both PEP 658 attributes": (
        f'<a href="{W}#sha256={H}" data-dist-info-metadata="sha256={H}" '
        f'data-core-metadata="sha256={G}">x</a>',
        [(PAGE + W, W, H, G)],
    ),
}


@pytest.mark.parametrize("case", sorted(PAGES))
def test_page_differentials_held(case: str) -> None:
    """Held: every link mlenv reads is the URL, file name, sha256 and metadata digest pip
    reads from the same page."""
    text, pips = PAGES[case]
    ours = [
        (unquote(link.url), link.filename, link.sha256, link.metadata_sha256)
        for link in parse_html(text, PAGE)
    ]
    assert ours == pips
