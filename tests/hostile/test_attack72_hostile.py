"""Attack 72: a user's file deep inside an earlier output, at an output's own name in another
kind, and subjects named in another case.

Findings (before the fix), each held by a test below:

1. A user's file inside a multi-platform build's ``dist/<platform>/`` (or inside any build's
   ``oci/`` layout) was deleted by the next ``mlenv build``: the gate (``outputs._strangers``)
   took each directory build.json names as covering whatever is below it. Now
   ``build_written`` opens each up: a platform directory is what its own build.json accounts
   for, a layout its ``index.json``, ``oci-layout`` and ``blobs/sha256/<64 hex>``.
2. A directory, symlink or FIFO a user put where an earlier output (bundle or build) had a
   file was replaced as the output's. Now a named path is the output's only while it is a
   regular file (a directory only where the output's files lie below it).
3. ``mlenv verify BUILD.JSON`` said "no readable build.json beside the output" and
   ``inspect`` "a file of no kind": names were compared case-sensitively. Now names are
   case-folded and a build record is also known by its content.
4. ``mlenv inspect mlenv.lock`` on a lock of two platforms showed the first and said nothing
   of the other. Now a note on stderr names them all and the ``--platform`` that shows each.

Every refusal: exit 1, the path named, a hint to move it away, nothing changed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.commands.build import BUILD_OUTPUT
from mlenv.outputs import OutputError, check_output
from mlenv.subjects import judge
from tests.support import build_records
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.hostile

MANIFEST = (
    '[environment]\nname = "b"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
    'platforms = ["linux-64", "linux-aarch64"]\n'
    '[pypi]\nindex-url = "file:///nonexistent-mlenv-index/simple"\nfind-links = ["wheels"]\n'
    'dependencies = ["app"]\n[build]\noutputs = ["conda-pack"]\n'
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-platform project, locked, built into ``dist`` and fetched into the bundle ``B``."""
    root = tmp_path_factory.mktemp("attack72")
    (root / "wheels").mkdir()
    name, data = build_wheel("app", "1.0", files={"app/__init__.py": b"x = 1\n"})
    (root / "wheels" / name).write_bytes(data)
    (root / "mlenv.toml").write_text(MANIFEST)
    for command in (["lock"], ["fetch"], ["build"], ["fetch", "--bundle", "B"]):
        done = run_mlenv(command, root, _env(root))
        assert done.returncode == 0, done.stderr
    return root


def _env(root: Path) -> dict[str, str]:
    return {"MLENV_CACHE_DIR": str(root / "cache")}


def _tree(root: Path) -> dict[str, object]:
    """Everything below ``root`` as found (never followed): bytes, link targets, kinds."""
    found: dict[str, object] = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(top) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = ("link", str(path.readlink()))
            elif path.is_fifo():
                found[key] = "fifo"
            elif path.is_file():
                found[key] = path.read_bytes()
            else:
                found[key] = "dir"
    return found


def _plant(at: Path, shape: str, outside: Path) -> None:
    at.parent.mkdir(parents=True, exist_ok=True)
    if shape == "nested":
        (at / "a" / "b").mkdir(parents=True)
        (at / "a" / "b" / "thesis.tex").write_text("a year of work")
    elif shape == "symlink-out":
        at.symlink_to(outside)
    elif shape == "hardlink":
        os.link(outside, at)
    elif shape == "fifo":
        os.mkfifo(at)
    else:
        at.write_text("my notes")


SHAPES = ["file", "nested", "symlink-out", "hardlink", "fifo"]
PLACES = [
    "linux-64/notes.txt",
    "linux-aarch64/Notizen ü.txt",
    "linux-64/new\nline",
    "linux-64/oci",  # a layout name in a build that wrote none
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("place", PLACES)
def test_build_never_replaces_a_users_file_inside_a_platform_directory(
    project: Path, tmp_path: Path, shape: str, place: str
) -> None:
    """Finding 1, end to end: before, the build exited 0 and the file was gone."""
    dist = Path(shutil.copytree(project / "dist", tmp_path / "dist", symlinks=True))
    outside = tmp_path / "outside.txt"
    outside.write_text("kept outside")
    _plant(dist / place, shape, outside)
    before = _tree(dist)
    done = run_mlenv(["build", "--dist", str(dist)], project, _env(project))
    assert done.returncode == 1, done.stderr
    assert "which the earlier build output did not write" in done.stderr
    assert place.split("\n")[0] in done.stderr and "move " in done.stderr
    assert "Traceback" not in done.stderr
    assert _tree(dist) == before
    assert outside.read_text() == "kept outside"


def test_the_build_still_replaces_its_own_multi_platform_output(
    project: Path, tmp_path: Path
) -> None:
    dist = Path(shutil.copytree(project / "dist", tmp_path / "dist", symlinks=True))
    done = run_mlenv(["build", "--dist", str(dist)], project, _env(project))
    assert done.returncode == 0, done.stderr
    assert _tree(dist) == _tree(project / "dist")


@pytest.mark.parametrize("shape", ["nested", "symlink-out", "fifo"])
@pytest.mark.parametrize("name", ["b.tar.gz", "sbom.cdx.json", "build.json"])
def test_a_platforms_file_replaced_by_another_kind_is_the_users(
    project: Path, tmp_path: Path, shape: str, name: str
) -> None:
    """Finding 2 for builds: the archive, the SBOM or the platform's record turned into a
    directory, a symlink or a FIFO by a user is theirs."""
    dist = Path(shutil.copytree(project / "dist", tmp_path / "dist", symlinks=True))
    outside = tmp_path / "outside.txt"
    outside.write_text("kept outside")
    (dist / "linux-64" / name).unlink()
    _plant(dist / "linux-64" / name, shape, outside)
    before = _tree(dist)
    with pytest.raises(OutputError) as refused:
        check_output(dist, BUILD_OUTPUT, keep={})
    assert "linux-64" in str(refused.value)
    assert _tree(dist) == before


def _record(dist: Path, path: str, edit: dict[str, Any]) -> None:
    record = json.loads((dist / path).read_bytes())
    (dist / path).write_text(json.dumps({**record, **edit}))


@pytest.mark.parametrize(
    ("path", "edit", "users"),
    [
        # a platform's own record claiming the user's directory as its archive
        ("linux-64/build.json", {"outputs": {"conda-pack": {"file": "thesis"}}}, "thesis"),
        # ... claiming a layout it never wrote
        ("linux-64/build.json", {"outputs": {"oci": {"layout": "oci"}}}, "oci/notes"),
        # the platform's record made a multi-platform one: it holds no build
        ("linux-64/build.json", {"kind": "multi-platform"}, "b.tar.gz"),
    ],
)
def test_a_hand_edited_record_cannot_claim_a_users_file(
    project: Path, tmp_path: Path, path: str, edit: dict[str, Any], users: str
) -> None:
    dist = Path(shutil.copytree(project / "dist", tmp_path / "dist", symlinks=True))
    _record(dist, path, edit)
    (dist / "linux-64" / users).parent.mkdir(parents=True, exist_ok=True)
    if not (dist / "linux-64" / users).exists():
        (dist / "linux-64" / users).write_text("a year of work")
    before = _tree(dist)
    with pytest.raises(OutputError) as refused:
        check_output(dist, BUILD_OUTPUT, keep={})
    assert "holds linux-64" in str(refused.value)
    assert _tree(dist) == before


def _layout(root: Path) -> Path:
    """A dist/ of a build with an OCI layout as `mlenv build` lays it out."""
    root.mkdir()
    oci = build_records.image("a" * 64, "0123456789" * 6 + "abcd", tar=None)
    record = build_records.single(oci, sbom=None)
    (root / "build.json").write_text(json.dumps(record))
    blobs = root / "oci" / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for name in ("index.json", "oci-layout"):
        (root / "oci" / name).write_text("{}")
    for digest in ("a" * 64, "0123456789" * 6 + "abcd"):
        (blobs / digest).write_bytes(b"blob")
    return root


@pytest.mark.parametrize(
    "planted",
    ["oci/notes.txt", "oci/blobs/mine", "oci/blobs/sha256/mine.txt", "oci/blobs/sha256/" + "A" * 64,
     "oci/blobs/sha512/" + "a" * 128, "oci/x/y/z"],
)  # fmt: skip
@pytest.mark.parametrize("shape", ["file", "nested", "fifo"])
def test_a_users_file_inside_an_oci_layout_is_a_stranger(
    tmp_path: Path, planted: str, shape: str
) -> None:
    dist = _layout(tmp_path / "dist")
    assert check_output(dist, BUILD_OUTPUT, keep={}) == dist.resolve()
    _plant(dist / planted, shape, tmp_path)
    with pytest.raises(OutputError) as refused:
        check_output(dist, BUILD_OUTPUT, keep={})
    assert planted.split("/")[1] in str(refused.value)
    assert os.path.lexists(dist / planted)


@pytest.mark.parametrize("shape", ["nested", "symlink-out", "fifo"])
def test_a_blob_or_layout_record_of_another_kind_is_a_stranger(tmp_path: Path, shape: str) -> None:
    for name in ("oci/index.json", "oci/blobs/sha256/" + "a" * 64):
        dist = _layout(tmp_path / name.replace("/", "_"))
        (dist / name).unlink()
        _plant(dist / name, shape, tmp_path)
        with pytest.raises(OutputError) as refused:
            check_output(dist, BUILD_OUTPUT, keep={})
        assert name[:12] in str(refused.value)


_NAME = st.text(
    st.characters(exclude_characters="/\x00", codec="utf-8"), min_size=1,
    max_size=12,
).filter(lambda n: n not in (".", ".."))  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(depth=st.lists(_NAME, min_size=1, max_size=3), where=st.sampled_from(["linux-64", "oci"]))
def test_hypothesis_any_name_below_an_earlier_output_is_refused(
    tmp_path: Path, depth: list[str], where: str
) -> None:
    """Any path a user puts below a platform directory or a layout, whatever its name, makes
    the gate refuse, unless it is one of the names a build writes there."""
    root = Path(os.path.realpath(tmp_path)) / "h"
    shutil.rmtree(root, ignore_errors=True)
    dist = _layout(root)
    (dist / "linux-64").mkdir()
    top = build_records.multi(["linux-64"], index="a" * 64)
    (dist / "build.json").write_text(json.dumps(top))
    (dist / "linux-64" / "build.json").write_text(json.dumps(build_records.single(sbom=None)))
    target = dist.joinpath(where, *depth)
    if os.path.lexists(target):
        return  # one of the build's own names: not a user's file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("mine")
    with pytest.raises(OutputError):
        check_output(dist, BUILD_OUTPUT, keep={})
    assert target.read_text() == "mine"


@pytest.mark.parametrize("shape", ["nested", "symlink-out", "fifo"])
def test_fetch_bundle_never_replaces_an_artifact_the_user_turned_into_another_kind(
    project: Path, tmp_path: Path, shape: str
) -> None:
    """Finding 2 for bundles: before, a directory (with a user's file in it), a symlink or a
    FIFO at an artifact's path was replaced by `fetch --bundle`."""
    bundle = Path(shutil.copytree(project / "B", tmp_path / "B", symlinks=True))
    index = json.loads((bundle / "bundle.json").read_bytes())
    artifact = next(e["path"] for e in index["files"] if e["path"].startswith("artifacts"))
    outside = tmp_path / "outside.txt"
    outside.write_text("kept outside")
    (bundle / artifact).unlink()
    _plant(bundle / artifact, shape, outside)
    before = _tree(bundle)
    done = run_mlenv(["fetch", "--bundle", str(bundle)], project, _env(project))
    assert done.returncode == 1, done.stderr
    assert artifact in done.stderr and "nothing was changed" in done.stderr
    assert "Traceback" not in done.stderr
    assert _tree(bundle) == before


def test_fetch_bundle_still_replaces_its_own_bundle(project: Path, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(project / "B", tmp_path / "B", symlinks=True))
    (bundle / "locks-v1").mkdir()
    (bundle / "locks-v1" / "x.lock").write_bytes(b"")
    done = run_mlenv(["fetch", "--bundle", str(bundle)], project, _env(project))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("source", "name", "kind"),
    [
        ("dist/build.json", "BUILD.JSON", "build-record"),
        ("dist/linux-64/build.json", "Build.Json", "build-record"),
        ("dist/build.json", "record.txt", "build-record"),  # by its content
        ("mlenv.lock", "MLENV.LOCK", "lock"),
        ("mlenv.toml", "MLENV.TOML", "manifest"),
    ],
)
def test_a_subject_in_another_case_is_judged_by_what_it_is(
    project: Path, tmp_path: Path, source: str, name: str, kind: str
) -> None:
    """Finding 3: before, BUILD.JSON was "a file of no kind" to inspect and verify looked for
    a build.json beside it."""
    copy = tmp_path / name
    copy.write_bytes((project / source).read_bytes())
    assert judge(copy) == kind
    for command in ("verify", "inspect"):
        done = run_mlenv([command, str(copy)], project, _env(project))
        # inspect reads a lock by any name; everything else is refused, saying what it is
        assert done.returncode == int((command, kind) != ("inspect", "lock")), done.stderr
        assert "Traceback" not in done.stderr
        if kind == "build-record":
            assert "this is a build record" in done.stderr
            assert "no readable build.json" not in done.stderr


def test_inspect_of_a_multi_platform_lock_says_it_shows_one_and_how_to_choose(
    project: Path,
) -> None:
    """Finding 4."""
    done = run_mlenv(["inspect", "mlenv.lock", "--json"], project, _env(project))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["platform"] == "linux-64"
    assert "locks 2 platforms (linux-64, linux-aarch64); showing linux-64" in done.stderr
    assert "--platform linux-aarch64" in done.stderr
    chosen = run_mlenv(["inspect", "mlenv.lock", "--platform", "linux-aarch64"], project,
                       _env(project))  # fmt: skip
    assert chosen.returncode == 0 and "(linux-aarch64)" in chosen.stdout
    assert "note:" not in chosen.stderr


@pytest.mark.parametrize(
    "planted", ["oci/NOTES", "linux-64/oci/blobs/sha256/keep/x", "oci/blobs/y"]
)
def test_a_real_multi_platform_image_build_keeps_a_users_file_in_its_layouts(
    project: Path, tmp_path: Path, planted: str
) -> None:
    """Finding 1 with images: the joined `oci/` and each platform's layout, as `mlenv build`
    writes them (hard-linked blobs, image.tar), are rebuilt over; a user's file in them is
    refused by name."""
    root = Path(shutil.copytree(project, tmp_path / "p", symlinks=True))
    manifest = (root / "mlenv.toml").read_text()
    (root / "mlenv.toml").write_text(manifest.replace('["conda-pack"]', '["oci", "conda-pack"]'))
    shutil.rmtree(root / "dist")
    for _ in range(2):  # the second build replaces the first's layouts whole
        done = run_mlenv(["build"], root, _env(project))
        assert done.returncode == 0, done.stderr
    _plant(root / "dist" / planted, "file", tmp_path)
    before = _tree(root / "dist")
    done = run_mlenv(["build"], root, _env(project))
    assert done.returncode == 1 and planted.removesuffix("/x") in done.stderr, done.stderr
    assert _tree(root / "dist") == before


def test_a_platform_directory_swapped_for_a_symlink_to_outside_is_refused(
    project: Path, tmp_path: Path
) -> None:
    """The record inside a symlinked platform directory (read through it) names files, but the
    symlink itself is no directory the build wrote: refused, the outside untouched."""
    dist = Path(shutil.copytree(project / "dist", tmp_path / "dist", symlinks=True))
    outside = Path(shutil.copytree(dist / "linux-aarch64", tmp_path / "outside"))
    shutil.rmtree(dist / "linux-aarch64")
    (dist / "linux-aarch64").symlink_to(outside)
    before = _tree(outside)
    done = run_mlenv(["build", "--dist", str(dist)], project, _env(project))
    assert done.returncode == 1 and "holds linux-aarch64," in done.stderr, done.stderr
    assert _tree(outside) == before and (dist / "linux-aarch64").is_symlink()
