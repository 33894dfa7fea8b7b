"""Attack 89: today's strict build.json reader, the base image prefix check and conda's
``__cuda`` driver floor, in shapes their own tests did not try.

- build.json: a lone surrogate escape (``"\\ud800"``) and ``-0`` were read, though mlenv's
  writer can write neither (UTF-8 cannot hold a lone surrogate; ``canonical_json`` writes 0);
  other readers replace or refuse the surrogate, so two readers saw two records. Records that
  real builds write (image-tar = false, conda-pack only with zstd) still read and verify.
- base image: a symlink (or file) at a directory above the prefix passed the check when the
  base also had entries below that path: in the same layer (``opt -> a`` then ``opt/mlenv/``),
  or in a later layer that names ``opt/mlenv/`` without ``opt/`` itself. Every unpacker leaves
  the link in the first case, and in the second overlayfs hides it while vfs follows it.
- ``__cuda``: beside ``cuda-version >=12,<13`` (a major only), ``__cuda >=11.8`` was taken as
  the build's CUDA (it spells a minor, so it looked stronger), and a CUDA 12.4 lock failed with
  a contradiction and a major mismatch; two ``__cuda`` floors kept the lower one.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest

from mlenv.build_record import BuildRecord, BuildRecordError, parse_record
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract_conda
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.oci.base_tree import check_prefix
from mlenv.oci.model import OciError, canonical_json
from mlenv.oci.read import read_base
from mlenv.outputs import MAX_RECORD
from mlenv.outputs import read_record as read_record_bytes
from mlenv.tarball import Entry
from tests.support import build_records
from tests.support.cli import run_mlenv
from tests.support.golden import fetched_golden, golden_project
from tests.support.images import write_image

pytestmark = pytest.mark.hostile

# build.json

_GOOD = build_records.single(build_records.image(), build_records.archive())


def _bytes(record: object) -> bytes:
    return json.dumps(record).encode()


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        (b'"mlenv": "0"', b'"mlenv": "\\ud800"', "lone surrogate"),
        (b'"ref": "env:latest"', b'"ref": "env\\udfff"', "lone surrogate"),
        (b'"size": 5', b'"size": -0', "-0"),
    ],
)
def test_what_mlenv_cannot_write_is_not_read(old: bytes, new: bytes, says: str) -> None:
    data = _bytes(_GOOD)
    assert old in data
    with pytest.raises(BuildRecordError) as caught:
        parse_record(data.replace(old, new, 1))
    assert says in caught.value.message
    with pytest.raises(UnicodeEncodeError):  # the writer indeed cannot write the surrogate
        canonical_json({"mlenv": "\ud800"})


def test_escapes_of_the_same_text_read_as_that_text() -> None:
    """A surrogate *pair*, an escaped key and blanks around the object are the same record to
    every JSON reader, so they are read."""
    data = _bytes(_GOOD).replace(b'"lock-sha256"', b'"lock\\u002dsha256"')
    data = data.replace(b'"mlenv": "0"', b'"mlenv": "0\\ud83d\\ude00"')
    record = parse_record(b" \n" + data + b"\n ")
    assert isinstance(record, BuildRecord)
    assert (record.lock_sha256, record.mlenv) == (build_records.LOCK_SHA, "0\U0001f600")


def test_a_200_mb_record_is_refused_before_it_is_read(tmp_path: Path) -> None:
    with open(tmp_path / "build.json", "wb") as handle:
        handle.truncate(200 << 20)  # sparse: no disk used
    with pytest.raises(ValueError, match=f"over {MAX_RECORD} bytes"):
        read_record_bytes(tmp_path, "build.json")


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return fetched_golden(tmp_path_factory.mktemp("golden89"))


@pytest.mark.parametrize(
    ("build", "outputs"),
    [
        ("image-tar = false\n", {"oci", "golden.tar.gz"}),
        ('outputs = ["conda-pack"]\ncompression = "zstd"\n', {"golden.tar.zst"}),
    ],
)
def test_records_real_builds_write_are_read_and_verified(
    fetched: tuple[Path, dict[str, str]], tmp_path: Path, build: str, outputs: set[str]
) -> None:
    source, env = fetched
    project = golden_project(tmp_path / "project")
    (project / "mlenv.toml").write_text((source / "mlenv.toml").read_text() + "[build]\n" + build)
    built = run_mlenv(["build", "--offline"], project, env)
    assert built.returncode == 0, built.stderr
    record = parse_record((project / "dist" / "build.json").read_bytes())
    assert isinstance(record, BuildRecord)
    assert record.files() - {"build.json", "sbom.cdx.json"} == outputs
    for name in sorted(outputs):
        verified = run_mlenv(["verify", f"dist/{name}"], project, env)
        assert verified.returncode == 0, verified.stdout + verified.stderr


# the base image's prefix check

PLATFORM = {"x86_64": "linux-64", "aarch64": "linux-aarch64"}[platform.machine()]
PREFIX = "/opt/mlenv/golden"


def _dir(name: str) -> Entry:
    return Entry(name, "dir", 0o755)


def _link(name: str, target: str) -> Entry:
    return Entry(name, "symlink", 0o777, target=target)


def _file(where: Path, name: str) -> Entry:
    data = where / name.replace("/", "_")
    data.write_text("x\n")
    return Entry(name, "file", 0o644, source=data, size=2)


def _check(where: Path, *layers: list[Entry]) -> None:
    write_image(where / "base", [(f"layer {n}", e) for n, e in enumerate(layers)],
                ref="latest", cmd=["/bin/sh"])  # fmt: skip
    check_prefix(read_base(where / "base", platform=PLATFORM), PREFIX)


@pytest.mark.parametrize(
    ("shape", "says"),
    [
        ("link-then-dir-below-in-one-layer", "/opt as a symlink to a"),
        ("link-then-prefix-dir-in-one-layer", "/opt as a symlink to a"),
        ("link-then-implied-dir-in-a-later-layer", "/opt as a symlink to a"),
        ("file-then-implied-dir-in-a-later-layer", "/opt as a file"),
    ],
)
def test_a_link_or_file_above_the_prefix_stays_one_under_entries_below_it(
    tmp_path: Path, shape: str, says: str
) -> None:
    """Each passed the check before the fix (an entry below made the path a directory)."""
    layers = {
        "link-then-dir-below-in-one-layer": [[_link("opt", "a"), _dir("a"), _dir("opt/mlenv")]],
        "link-then-prefix-dir-in-one-layer": [
            [_link("opt", "a"), _dir("a"), _dir("opt/mlenv"), _dir("opt/mlenv/golden")]
        ],
        "link-then-implied-dir-in-a-later-layer": [
            [_link("opt", "a"), _dir("a")],
            [_dir("opt/mlenv")],
        ],
        "file-then-implied-dir-in-a-later-layer": [
            [_file(tmp_path, "opt")],
            [_dir("opt/mlenv")],
        ],
    }[shape]
    with pytest.raises(OciError) as caught:
        _check(tmp_path, *layers)
    assert f"the base image has {says}" in caught.value.message


@pytest.mark.parametrize(
    "shape", ["explicit-dir-replaces-link", "whiteout-then-implied-dir", "dirs-only"]
)
def test_a_path_the_base_makes_a_directory_passes(tmp_path: Path, shape: str) -> None:
    layers = {
        "explicit-dir-replaces-link": [[_link("opt", "a"), _dir("a")], [_dir("opt")]],
        "whiteout-then-implied-dir": [
            [_link("opt", "a"), _dir("a")],
            [_file(tmp_path, ".wh.opt"), _dir("opt/mlenv")],
        ],
        "dirs-only": [[_dir("opt")], [_dir("opt/mlenv"), _dir("opt/mlenv/golden")]],
    }[shape]
    _check(tmp_path, *layers)


# conda's __cuda beside a build's claim


def _codes(cuda: str, driver: str, *depends: str, build: str = "h0") -> tuple[str, list[str]]:
    need = extract_conda("gpulib", "1.0", build, depends, ())
    assert need is not None
    target = CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(driver), checked=True)
    return str(need.cuda), [f.code for f in judge(target, [PackageNeed("gpulib", "1.0", need)])]


@pytest.mark.parametrize(
    ("cuda", "driver", "depends", "expected"),
    [
        # was: need 11.8, cuda-contradiction and cuda-major-mismatch
        ("12.4", "550.54.14", ("cuda-version >=12,<13", "__cuda >=11.8"), ("12.0", [])),
        ("12.4", "550.54.14", ("__cuda >=11.8", "cuda-version 12.*"), ("12.0", [])),
        # the build's major still decides against another major's target
        ("13.0", "580.65.06", ("cuda-version >=12,<13", "__cuda >=11.8"),
         ("12.0", ["cuda-major-mismatch"])),
        # a higher floor of the build's major still raises what the driver must run
        ("12.4", "550.54.14", ("cuda-version >=12,<13", "__cuda >=12.6"),
         ("12.6", ["cuda-newer-minor"])),
        # two floors: the higher one is the driver asked (was: a contradiction); a 550
        # driver is no CUDA 13 driver (attack 100: a driver floor, not another build)
        ("12.4", "550.54.14", ("__cuda >=11.2", "__cuda >=13"), ("13.0", ["cuda-driver-floor"])),
    ],
)  # fmt: skip
def test_a_driver_floor_never_stands_for_the_build_claim_beside_it(
    cuda: str, driver: str, depends: tuple[str, ...], expected: tuple[str, list[str]]
) -> None:
    need, codes = _codes(cuda, driver, *depends)
    assert (need, [c for c in codes if c.startswith("cuda-")]) == expected


@pytest.mark.parametrize(
    ("build", "depends", "expected"),
    [
        # the build string's claim with a higher floor of its major: the driver must run 12.8
        ("cuda126py311h0", ("__cuda >=12.8",), ("12.8", ["cuda-newer-minor"])),
        ("cuda126py311h0", ("__cuda >=12.6",), ("12.6", [])),
        ("cuda126py311h0", ("__cuda >=11.8",), ("12.6", [])),
        ("cuda118py311h0", ("__cuda >=11.8",), ("11.8", ["cuda-major-mismatch"])),
    ],
)
def test_a_build_strings_claim_is_raised_by_a_higher_floor_of_its_major(
    build: str, depends: tuple[str, ...], expected: tuple[str, list[str]]
) -> None:
    """Before, a ``cuda126`` build asking ``__cuda >=12.8`` was judged as 12.6: on a 12.6
    target with a 12.6 driver floor it passed, though conda refuses to install it there."""
    need, codes = _codes("12.6", "560.28.03", *depends, build=build)
    assert (need, [c for c in codes if c.startswith("cuda-")]) == expected
