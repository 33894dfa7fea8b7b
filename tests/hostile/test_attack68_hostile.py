"""Attack 68: today's changes before they ship (subjects, a bundle's write gate, the registry's
confirmations, image-tar = false, hints, uv's conditional sources, build tags).

Findings (before the fix):

- `mlenv.subjects.judge` read a tar's headers with tarfile by the file's name, after reading
  its first bytes through another descriptor. A FIFO swapped in between (a path whose stat
  races) held `inspect`/`verify` for ever in tarfile's open (reproduced by a thread swapping
  a tar and a FIFO: blocked on the first try). A GNU long name or pax record claiming
  gigabytes (a sparse file of a few KiB on disk) was read whole into memory (64 MiB peak for
  a 64 MiB claim). A pax GNU sparse 1.0 map without its newline raised ValueError out of
  tarfile: `mlenv inspect x.tar` said "internal error". Now the judge opens the file once
  (non-blocking), reads the tar headers from that descriptor under an 8 MiB budget, and a
  malformed header is "a tar archive that holds no image".
- The same crafted archive crashed `inspect`'s own reader (`oci.read.TarSource`, whose
  `_Headers` bounded only long names and pax records): it now refuses a sparse member (no
  image archive holds one; tarfile reads a sparse map for as long as the file goes on) and
  turns tarfile's ValueError into "not an image archive: ...".
- `inspect` of an image whose layer holds that sparse map (a layout or archive from anyone)
  was an internal error too: the layer reader caught tarfile's errors but not its
  ValueError. Now "layer sha256:... is not a readable tar".
- `init --from pyproject.toml` with `[tool.uv] index = true` (anything not an array) or
  `index-strategy = {}` (a table) was an internal error (TypeError); now each is a problem
  naming the key (found by Hypothesis over uv shapes; both predate today's change, in the
  module it touched).
- A bundle's write gate (`cache.bundle.bundle_files`) believed every path bundle.json
  listed: a bundle.json naming `data` or `artifacts-v1/mine` made the user's `data/thesis.txt`
  and `artifacts-v1/mine/notes` the earlier bundle's, and `fetch --bundle DIR` replaced them
  (the check passed). Only the names a bundle holds (mlenv.toml, mlenv.lock, an artifact's
  own `artifacts-v1/sha256/xx/<sha256>`, as the bundle reader reads them) now count; the
  write is refused naming the rest.
- `verify --nodes nodes.txt` (`kubectl get nodes -o json > nodes.txt`) was refused: "this is
  a requirements file, not a node list", the judge going by the .txt name alone. A .txt or
  .in file whose text starts with { or [ (JSON; no requirement line does) is now "a file",
  which --nodes takes.

Judged fine (no change): the real Debian docker-registry still takes pushes and serves pulls
(tests/integration/test_registry_bundle.py and test_registry_push.py, 18 passed);
Docker-Content-Digest is compared after strip(), and absent it is not required on a blob (a
manifest's is hashed from a read-back), a differently cased digest is refused (OCI digests
are lowercase); a lock named prod.lock or lock.toml is a lock (its header line);
an image.tar of more than 4096 members is judged "tar", which verify and inspect take too;
bundles pushed by every older mlenv carry schemaVersion 2 and the OCI manifest mediaType
(written since the first oci:// bundle, 46145fc), so `_listed` refuses none of them;
`build_preference` orders `1_` over `1` and `01` equal to `1` (then by filename) as pip does;
the hints' regexes stay linear on 100,000-character specs; `importable_beside` only stats
(a FIFO named requirements.txt is not a file, never opened).

Left open: a file bundle.json lists that is a directory on disk (a user's `mlenv.toml/`)
is still covered by the listing; a `.partial-` download left in `artifacts-v1/` by a killed
fetch into a bundle used as the cache now refuses the next `fetch --bundle` there.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tarfile
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.cache.bundle import BUNDLE_OUTPUT
from mlenv.errors import MlenvError
from mlenv.importers.pyproject import read_pyproject
from mlenv.oci.read import TarSource
from mlenv.outputs import OutputError, check_output
from mlenv.subjects import NODE_LIST, expect, judge
from tests.support.cli import run_mlenv


def _tar(members: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as archive:
        for info, data in members:
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _sparse_map_without_newline() -> bytes:
    info = tarfile.TarInfo("x")
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "oci-layout",
        "GNU.sparse.realsize": "10",
    }
    return _tar([(info, b"3" * 1024)])


def test_a_tar_header_claiming_gigabytes_is_not_read(tmp_path: Path) -> None:
    claimed = 64 << 20
    header = tarfile.TarInfo("././@LongLink")
    header.type = tarfile.GNUTYPE_LONGNAME
    header.size = claimed
    subject = tmp_path / "image.tar"
    with subject.open("wb") as stream:  # a few KiB on disk, 64 MiB of "name" to tarfile
        stream.write(header.tobuf(format=tarfile.GNU_FORMAT))
        stream.truncate(512 + claimed + 1024)
    tracemalloc.start()
    try:
        kind = judge(subject)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert kind == "tar"
    assert peak < 8 << 20, peak


def test_a_crafted_sparse_map_is_named_not_an_internal_error(tmp_path: Path) -> None:
    subject = tmp_path / "image.tar"
    subject.write_bytes(_sparse_map_without_newline())
    assert judge(subject) == "tar"
    done = run_mlenv(["inspect", str(subject)], tmp_path)
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr
    assert "not an image archive: a sparse member" in done.stderr


def test_a_fifo_swapped_in_after_the_first_look_never_holds_the_judge(tmp_path: Path) -> None:
    """A thread swaps a tar and a FIFO at the subject's path while the judge looks: the
    judge reads the tar's headers from the descriptor it opened without blocking, so it never
    waits for a FIFO's writer (by name, tarfile blocked on the first tries)."""
    info = tarfile.TarInfo("oci-layout")
    archive = _tar([(info, b"{}")])
    subject = tmp_path / "image.tar"
    subject.write_bytes(archive)
    stop = threading.Event()

    def swap() -> None:
        count = 0
        while not stop.is_set():
            count += 1
            plain, fifo = tmp_path / f"t{count}", tmp_path / f"f{count}"
            plain.write_bytes(archive)
            plain.replace(subject)
            time.sleep(0.0002)  # each state stays a moment: the judge sees both
            os.mkfifo(fifo)
            fifo.replace(subject)
            time.sleep(0.0002)

    judged: list[str] = []

    def look() -> None:
        for _ in range(3000):
            try:
                judged.append(judge(subject))
            except FileNotFoundError:
                judged.append("gone")

    swapper = threading.Thread(target=swap, daemon=True)
    looker = threading.Thread(target=look, daemon=True)
    swapper.start()
    looker.start()
    looker.join(60)
    stop.set()
    swapper.join(10)
    assert not looker.is_alive(), f"the judge blocked after {len(judged)} looks"
    assert set(judged) <= {"image-archive", "special", "file", "tar", "empty", "gone"}
    assert "image-archive" in judged


_PAX_KEYS = st.sampled_from(
    ["GNU.sparse.major", "GNU.sparse.minor", "GNU.sparse.name", "GNU.sparse.realsize",
     "GNU.sparse.size", "GNU.sparse.map", "GNU.sparse.offset", "GNU.sparse.numbytes",
     "GNU.sparse.numblocks", "size", "path", "linkpath", "uid", "mtime", "hdrcharset"]
)  # fmt: skip
_PAX_VALUES = st.one_of(
    st.sampled_from(["0", "1", "-1", "1,2", "1,", "x", "", "99999999999", "oci-layout"]),
    st.text(max_size=8),
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    pax=st.dictionaries(_PAX_KEYS, _PAX_VALUES, max_size=5),
    data=st.binary(max_size=700),
    kind=st.sampled_from([tarfile.REGTYPE, tarfile.GNUTYPE_SPARSE, tarfile.DIRTYPE]),
)
def test_any_pax_record_is_judged_and_read_without_a_crash(
    tmp_path: Path, pax: dict[str, str], data: bytes, kind: bytes
) -> None:
    info = tarfile.TarInfo("oci-layout")
    info.pax_headers = pax
    info.type = kind
    try:
        archive = _tar([(info, data)])
    except (ValueError, UnicodeError, tarfile.TarError):
        return  # tarfile itself will not write it
    path = tmp_path / "image.tar"  # one per test: each example overwrites it
    path.write_bytes(archive)
    assert judge(path) in {"image-archive", "tar"}
    with contextlib.suppress(MlenvError):
        TarSource(path)


def _pyproject(path: Path, uv: dict[str, object]) -> Path:
    document = {
        "project": {
            "name": "x",
            "version": "1",
            "dependencies": ["numpy", "torch"],
            "optional-dependencies": {"gpu": ["torch"]},
        },
        "tool": {"uv": uv},
    }
    target = path / "pyproject.toml"
    target.write_text(tomlkit.dumps(document))
    return target


def test_uv_keys_of_the_wrong_shape_are_problems_not_internal_errors(tmp_path: Path) -> None:
    cases: tuple[tuple[dict[str, object], str], ...] = (
        ({"index": True}, "[tool.uv] index"),
        ({"index-strategy": {}}, "index-strategy"),
    )
    for uv, named in cases:
        _pyproject(tmp_path, uv)
        done = run_mlenv(["init", "--from", "pyproject.toml"], tmp_path)
        assert done.returncode == 1, done.stderr
        assert "internal error" not in done.stderr
        assert named in done.stderr
        assert not (tmp_path / "mlenv.toml").exists()


_UV_SCALARS = st.one_of(
    st.integers(-3, 3),
    st.booleans(),
    st.sampled_from(
        ["", "x", "https://a.example/simple", "numpy", "gpu", "flat", "first-index",
         "sys_platform == 'linux'", "platform_release >= '5'", "extra == 'gpu'",
         "implementation_version > '3'", "python_version < '3.12'", "platform_release ~= '5'",
         "os_name == 'nt' and extra == 'a'", "'a' in platform_version", "python_version <"]
    ),
)  # fmt: skip
_UV_KEYS = st.sampled_from(
    ["name", "url", "explicit", "default", "format", "index", "marker", "extra", "group", "git"]
)
_UV_VALUES = st.recursive(
    _UV_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(_UV_KEYS, inner, max_size=4)
    ),
    max_leaves=8,
)
_UV = st.dictionaries(
    st.sampled_from(
        ["index", "sources", "find-links", "extra-index-url", "index-url", "index-strategy"]
    ),
    st.one_of(_UV_VALUES, st.dictionaries(st.sampled_from(["numpy", "torch"]), _UV_VALUES)),
    max_size=4,
)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(uv=_UV)
def test_any_uv_table_is_imported_or_refused_never_a_crash(
    tmp_path: Path, uv: dict[str, object]
) -> None:
    with contextlib.suppress(MlenvError):
        read_pyproject(_pyproject(tmp_path, uv), ["gpu"])


def _earlier_bundle(root: Path, listed: list[str]) -> None:
    root.mkdir()
    for path in listed:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"x")
    files = [{"path": path, "sha256": "0" * 64, "size": 1} for path in listed]
    (root / "bundle.json").write_text(json.dumps({"bundle-version": 1, "files": files}))


def test_a_bundle_json_naming_a_users_directory_does_not_make_it_the_bundles(
    tmp_path: Path,
) -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    artifact = f"artifacts-v1/sha256/{digest[:2]}/{digest}"
    genuine = tmp_path / "genuine"
    _earlier_bundle(genuine, ["mlenv.toml", "mlenv.lock", artifact])
    (genuine / "locks-v1").mkdir()  # a bundle used as a cache gains it
    assert check_output(genuine, BUNDLE_OUTPUT, keep={}) == genuine.resolve()

    edited = tmp_path / "edited"
    _earlier_bundle(edited, ["mlenv.toml", artifact, "data", "artifacts-v1/mine"])
    (edited / "data").unlink()
    (edited / "data").mkdir()
    (edited / "data" / "thesis.txt").write_text("a year of work")
    (edited / "artifacts-v1" / "mine").unlink()
    (edited / "artifacts-v1" / "mine").mkdir()
    (edited / "artifacts-v1" / "mine" / "notes").write_text("mine")
    with pytest.raises(OutputError) as refused:
        check_output(edited, BUNDLE_OUTPUT, keep={})
    assert "artifacts-v1/mine, data, which the earlier bundle did not write" in str(refused.value)


def test_a_node_list_saved_as_txt_is_a_node_list_not_requirements(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.txt"
    nodes.write_text(json.dumps({"apiVersion": "v1", "items": [], "kind": "List"}, indent=4))
    assert expect(nodes, NODE_LIST, "a node list", "verify --nodes") == "file"
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy>=1.26\n")
    assert judge(requirements) == "requirements"


def test_an_archive_of_thousands_of_blobs_before_its_index_is_still_an_image(
    tmp_path: Path,
) -> None:
    """mlenv's image.tar is sorted: blobs/ first, index.json and oci-layout last. 4,000
    members before them (one with a pax record, as a layer over 8 GiB has) fit the budget."""
    members = [(tarfile.TarInfo(f"blobs/sha256/{n:064x}"), b"x") for n in range(4000)]
    members[0][0].pax_headers = {"comment": "a pax record"}
    members += [(tarfile.TarInfo("index.json"), b"{}"), (tarfile.TarInfo("oci-layout"), b"{}")]
    subject = tmp_path / "image.tar"
    subject.write_bytes(_tar(members))
    assert judge(subject) == "image-archive"


def _blob(root: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}"


def test_a_layer_with_a_crafted_sparse_map_is_named_not_an_internal_error(tmp_path: Path) -> None:
    layout = tmp_path / "oci"
    layout.mkdir()
    layer = _sparse_map_without_newline()
    layer_digest = _blob(layout, layer)
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {},
         "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}
    ).encode()  # fmt: skip
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": _blob(layout, config), "size": len(config)},
         "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                     "digest": layer_digest, "size": len(layer)}]}
    ).encode()  # fmt: skip
    listed = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": _blob(layout, manifest), "size": len(manifest)}  # fmt: skip
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [listed]}))
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    done = run_mlenv(["inspect", str(layout)], tmp_path)
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr
    assert f"layer {layer_digest} is not a readable tar" in done.stderr
