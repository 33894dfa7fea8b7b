"""Attack 242: the adversary of attack 236's page fixes. Page shapes a real or hostile index
writes, read by mlenv and by pip 26 and uv 0.13 (each shape was served to both over loopback,
their verdicts noted beside the case), so that mlenv neither refuses what both install nor
locks bytes or files both refuse.

Findings this file pins (each failed before its fix):

- A ``blake2b`` digest the bytes miss was no claim (``index.declared`` knew no blake2b), so
  ``lock`` measured the file and pinned whatever bytes the index served; uv refuses them (it
  checks uv's 32-byte blake2b, PyPI's ``blake2b_256``). Both lengths count now: 32 bytes as
  uv reads it, 64 as hashlib and pypiserver's ``--hash-algo blake2b`` write it.
- A JSON ``null`` digest beside a good sha256 (``"md5": null``) was a malformed claim, so the
  file (or its PEP 658 ``.metadata``, ``core-metadata: {"sha256": null}``) was refused where
  pip and uv install it: a null states nothing, as an empty value.
- ``"hashes": "sha256=..."`` (or any non-object) was read as no hashes: the file was measured
  and locked whatever its bytes; pip fails and uv refuses the page, as mlenv does now.
- ``"requires-python": 4`` was read as none, so the file was offered for any Python; pip fails
  and uv refuses the page, as mlenv does now.
- ``"yanked": 1`` was read as not yanked; pip reads any true value as yanked (uv refuses the
  page), and so does mlenv now.

Held (table below): uppercase hex (pip, uv and mlenv accept), a digest with a blank, ``%0A`` or
``%20`` (all three refuse), ``#sha256=A&sha256=B``, a malformed sha384/sha512/md5 beside a good
sha256 (mlenv refuses: pip checks the first fragment, uv the first), JSON ``hashes`` naming
sha256 twice (pip, uv and mlenv keep the last), ``data-core-metadata`` spelt ``True``, empty or
with no value, ``"yanked": ""`` (mlenv and uv: yanked), ``"requires-python": null``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlenv.index.declared import MALFORMED, DigestCheck, page_digests
from mlenv.index.model import IndexPageError
from mlenv.index.pages import parse_html, parse_json
from tests.support.cli import run_mlenv
from tests.support.fetch_project import make_project
from tests.support.wheels import build_wheel, write_simple_index

GOOD = build_wheel("app", "1.0", files={"app/__init__.py": b"good = 1\n"})
EVIL = build_wheel("app", "1.0", files={"app/__init__.py": b"import os; os.system('id')\n"})
RIGHT = hashlib.sha256(GOOD[1]).hexdigest()
PAGE = "https://pypi.example/simple/app/"


def _lock(root: Path, page_json: bool, edit: Callable[[str], str], served: bytes) -> str:
    """``lock`` of a project taking ``app`` from a local index whose page lists GOOD, edited
    by ``edit``, and whose file holds ``served``: its stderr, or "" when it locked."""
    index = write_simple_index(root / "index", [GOOD], json=page_json)
    (root / "index" / "files" / GOOD[0]).write_bytes(served)
    page = root / "index" / "simple" / "app" / ("index.json" if page_json else "index.html")
    page.write_text(edit(page.read_text()))
    project = make_project(root, index)
    done = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(root / "cache")})
    assert "Traceback" not in done.stderr, done.stderr
    assert (done.returncode == 0) == (project / "mlenv.lock").exists(), done.stderr
    return "" if done.returncode == 0 else done.stderr


def _entry(edit: Callable[[dict[str, object]], None]) -> Callable[[str], str]:
    """An edit of a JSON page's one entry."""

    def edited(page: str) -> str:
        document = json.loads(page)
        edit(document["files"][0])
        return json.dumps(document)

    return edited


def _blake2b(size: int) -> str:
    return hashlib.blake2b(GOOD[1], digest_size=size).hexdigest()


@pytest.mark.parametrize(
    ("page_json", "edit"),
    [  # uv refuses each (hash mismatch); pip checks the sha256 alone
        (False, lambda page: page.replace(f"sha256={RIGHT}", f"blake2b={_blake2b(32)}")),
        (False, lambda page: page.replace(f"sha256={RIGHT}", f"blake2b={_blake2b(64)}")),
        (True, _entry(lambda e: e.update(hashes={"blake2b": _blake2b(32)}))),
    ],
    ids=["html-uv-32-bytes", "html-pypiserver-64-bytes", "json-uv-32-bytes"],
)
def test_a_blake2b_digest_the_bytes_miss_is_refused(
    tmp_path: Path, page_json: bool, edit: Callable[[str], str]
) -> None:
    """Before: no claim, and the lock pinned EVIL's bytes."""
    said = _lock(tmp_path, page_json, edit, EVIL[1])
    assert f"{GOOD[0]}: the index declares blake2b " in said, said


def test_a_blake2b_digest_the_bytes_meet_locks(tmp_path: Path) -> None:
    """Both of blake2b's lengths are checked with the digest size they state."""
    for size in (32, 64):
        declared = page_digests([("blake2b", _blake2b(size))])[1]
        assert declared == (("blake2b", _blake2b(size)),)
        check = DigestCheck(declared)
        check.write(GOOD[1])
        assert check.contradiction(RIGHT) is None
    both = f"blake2b={_blake2b(32)}&blake2b={_blake2b(64)}&sha256={RIGHT}"
    assert _lock(tmp_path, False, lambda page: page.replace(f"sha256={RIGHT}", both), GOOD[1]) == ""


@pytest.mark.parametrize(
    "edit",
    [  # pip and uv install both
        _entry(lambda e: e.update(hashes={"sha256": RIGHT, "md5": None})),
        _entry(lambda e: e.update({"core-metadata": {"sha256": None}})),
    ],
    ids=["hashes-md5-null", "core-metadata-sha256-null"],
)
def test_a_null_digest_states_nothing(tmp_path: Path, edit: Callable[[str], str]) -> None:
    """Before: a claim no bytes meet, and the lock refused the file or its ``.metadata``."""
    assert _lock(tmp_path, True, edit, GOOD[1]) == ""


def test_hashes_that_are_no_object_refuse_the_page(tmp_path: Path) -> None:
    """Before: read as no hashes, the file was measured and the lock pinned EVIL's bytes."""
    said = _lock(tmp_path, True, _entry(lambda e: e.update(hashes=f"sha256={RIGHT}")), EVIL[1])
    assert "files[0].hashes is not an object" in said, said


@pytest.mark.parametrize("value", ["", [], 0, False])
def test_falsy_hashes_that_are_no_object_refuse_the_page_too(value: object) -> None:
    """Before (a review of 242): ``hashes or {}`` read each of these as no hashes."""
    entry = {"filename": GOOD[0], "url": GOOD[0], "hashes": value}
    document = {"meta": {"api-version": "1.1"}, "files": [entry]}
    with pytest.raises(IndexPageError, match=r"files\[0\]\.hashes is not an object"):
        parse_json(json.dumps(document).encode(), PAGE)


def test_null_hashes_are_none_as_pip_reads_them() -> None:
    entry = {"filename": GOOD[0], "url": GOOD[0], "hashes": None}
    document = {"meta": {"api-version": "1.1"}, "files": [entry]}
    assert parse_json(json.dumps(document).encode(), PAGE)[0].sha256 is None


@pytest.mark.parametrize("value", [4, [">=4"], {"spec": ">=4"}])
def test_a_requires_python_that_is_no_string_refuses_the_page(value: object) -> None:
    """Before: read as none, the file was offered for any Python."""
    entry = {"filename": GOOD[0], "url": GOOD[0], "requires-python": value}
    document = {"meta": {"api-version": "1.1"}, "files": [entry]}
    with pytest.raises(IndexPageError, match=r"files\[0\]\.requires-python is not a string"):
        parse_json(json.dumps(document).encode(), PAGE)


@pytest.mark.parametrize(("value", "yanked"), [(1, ""), ([1], ""), (0, None), (None, None)])
def test_yanked_spelt_as_no_bool_reads_as_pip_reads_it(value: object, yanked: str | None) -> None:
    """Before: 1 was not yanked, where pip leaves the file (and uv refuses the page)."""
    entry = {"filename": GOOD[0], "url": GOOD[0], "yanked": value}
    document = {"meta": {"api-version": "1.1"}, "files": [entry]}
    (link,) = parse_json(json.dumps(document).encode(), PAGE)
    assert link.yanked == yanked


# --- held: each shape as pip and uv read it (noted beside) ------------------------------------

_SHA = f"sha256={RIGHT}"
HTML_HELD: dict[str, tuple[str, str | None, tuple[tuple[str, str], ...]]] = {
    # anchor attributes after href: (fragment and attributes, sha256 read, other claims)
    "upper-hex": (f"#sha256={RIGHT.upper()}", RIGHT, ()),  # pip, uv: install
    "newline-escaped": (f"#{_SHA}%0A", None, (("sha256", MALFORMED),)),  # both refuse
    "blank-escaped": (f"#sha256=%20{RIGHT}", None, (("sha256", MALFORMED),)),  # both refuse
    "two-sha256": (f"#{_SHA}&sha256={'0' * 64}", None, (("sha256", "0" * 64), ("sha256", RIGHT))),
    "bad-sha512-after": (f"#{_SHA}&sha512=00", RIGHT, (("sha512", MALFORMED),)),  # pip, uv: ok
    "bad-md5-before": (f"#md5=00&{_SHA}", RIGHT, (("md5", MALFORMED),)),  # pip refuses, uv not
    "unknown-algorithm": (f"#{_SHA}&sha3_256=00&blake2s=00", RIGHT, ()),  # both install
}


@pytest.mark.parametrize("case", sorted(HTML_HELD))
def test_html_digest_shapes_held(case: str) -> None:
    fragment, sha256, declared = HTML_HELD[case]
    (link,) = parse_html(f'<a href="../../f/{GOOD[0]}{fragment}">x</a>', PAGE)
    assert (link.sha256, link.declared) == (sha256, declared)


@pytest.mark.parametrize("attribute", ['data-core-metadata="True"', 'data-core-metadata=""',
                                       "data-core-metadata"])  # fmt: skip
def test_metadata_attribute_spellings_held(attribute: str) -> None:
    """Each says the file has a ``.metadata`` and states no digest (pip and uv agree)."""
    (link,) = parse_html(f'<a href="../../f/{GOOD[0]}#{_SHA}" {attribute}>x</a>', PAGE)
    assert (link.has_metadata, link.metadata_sha256, link.metadata_declared) == (True, None, ())


def test_json_sha256_named_twice_keeps_the_last_as_pip_and_uv() -> None:
    entry: dict[str, object] = {"filename": GOOD[0], "url": GOOD[0], "yanked": ""}
    entry["requires-python"] = None
    entry["hashes"] = {"sha256": "0" * 64, "SHA256": RIGHT}  # respelt below: JSON names it twice
    document = {"meta": {"api-version": "1.1"}, "files": [entry]}
    text = json.dumps(document).replace('"SHA256"', '"sha256"')
    (link,) = parse_json(text.encode(), PAGE)
    assert (link.sha256, link.declared, link.yanked, link.requires_python) == (RIGHT, (), "", None)


@pytest.mark.parametrize("page_json", [False, True])
def test_a_digest_after_an_ampersand_in_the_query_is_a_claim(page_json: bool) -> None:
    """A last adversary: pip reads ``&sha256=X`` anywhere in a link (``[#&]sha256=``); mlenv
    read only the fragment, so the file was locked whatever its bytes."""
    url = f"https://h.example/f/{GOOD[0]}?x=1&sha256={'a' * 64}"
    if page_json:
        document = {"meta": {"api-version": "1.1"}, "files": [{"filename": GOOD[0], "url": url}]}
        link = parse_json(json.dumps(document).encode(), PAGE)[0]
    else:
        link = parse_html(f'<a href="{url.replace("&", "&amp;")}">x</a>', PAGE)[0]
    assert link.sha256 == "a" * 64
