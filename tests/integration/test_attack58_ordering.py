"""Byte identity under what CI's reprotest run excludes (``--vary=-fileordering``): a mixed
conda + PyPI build read through disorderfs (directory listings shuffled, then reversed) and
with the artifact cache on a tmpfs (no hardlink from it into the staging tree can be made)
gives the same sha256 for every file under dist/ as a plain build.

The conda package holds a listed hardlink, symlinks (one to a directory), a name over 100
bytes and Turkish letters; the wheel holds odd modes, times and names (attack58's hostile pass).
disorderfs is a FUSE file system: missing, the test fails (scripts/install-test-tools).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.support.conda_channel as conda_channel
from tests.support.cli import run_mlenv
from tests.support.conda_project import channel_packages
from tests.support.engines import tool
from tests.support.golden import build, digests
from tests.support.mounts import tmpfs
from tests.support.odd_wheels import odd_wheel
from tests.support.wheels import write_simple_index

pytestmark = pytest.mark.integration

LONG = "share/" + "q" * 110 + "/" + "r" * 150 + ".txt"


def linked_package() -> tuple[str, bytes]:
    """``share/hl/b.txt`` is listed in paths.json and stored as a tar hardlink to a.txt."""
    link = tarfile.TarInfo("share/hl/b.txt")
    link.type, link.linkname, link.mode, link.mtime = tarfile.LNKTYPE, "share/hl/a.txt", 0o600, 7
    listed = {"share/hl/a.txt": b"same\n", "share/hl/b.txt": b"same\n", LONG: b"long\n",
              "share/hl/\u0130\u0131.txt": b"tr\n",
              "share/hl/sub dir/x y.txt": b"sp\n"}  # fmt: skip
    real_tar = conda_channel._tar

    def tar_without_b(members: dict[str, bytes], links: object = None, raw: object = ()) -> bytes:
        kept = {k: v for k, v in members.items() if not (raw and k == "share/hl/b.txt")}
        return real_tar(kept, links, raw)  # type: ignore[arg-type]

    conda_channel._tar = tar_without_b  # type: ignore[assignment]
    try:
        return conda_channel.build_conda_package(
            "hl", "1.0", "0", files=listed, raw=[(link, b"")],
            symlinks={"share/hl/link": "a.txt", "share/hl/dirlink": "sub dir"},
        )  # fmt: skip
    finally:
        conda_channel._tar = real_tar


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("attack58-order")
    channel = conda_channel.write_channel(
        root / "channel", [channel_packages()[0], linked_package()]
    )
    index = write_simple_index(root / "pypi", [odd_wheel()])
    project = root / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "hl"\npython = "3.11"\nprefix = "/opt/mlenv/hl"\n'
        f'[conda]\nchannels = ["{channel}"]\ndependencies = ["python 3.11.*", "hl"]\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["odd"]\n'
    )
    for args in (["lock"], ["fetch"]):
        done = run_mlenv(args, project, {"MLENV_CACHE_DIR": str(root / "cache")})
        assert done.returncode == 0, (args, done.stderr)
    return project, root / "cache"


@contextlib.contextmanager
def disordered(source: Path, where: Path, *options: str) -> Iterator[Path]:
    where.mkdir()
    subprocess.run([tool("disorderfs", "disorderfs"), "-q", *options, str(source), str(where)],
                   check=True)  # fmt: skip
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)  # root, as the tmpfs tests


def _built(project: Path, cache: Path) -> dict[str, str]:
    done = build(project, cache, env={"MLENV_LAYER_CACHE_MAX": "0"})
    assert done.returncode == 0, done.stderr
    found = digests(project / "dist")
    with tarfile.open(project / "dist" / "hl.tar.gz") as archive:
        kinds = {m.name: m.type for m in archive if m.name.startswith("share/hl/")}
    assert kinds["share/hl/b.txt"] == tarfile.REGTYPE  # never a hardlink from inode numbers
    return found


@pytest.mark.parametrize(
    "options",
    [("--shuffle-dirents=yes",), ("--reverse-dirents=yes", "--shuffle-dirents=no")],
    ids=["shuffled", "reversed"],
)
def test_directory_listing_order_changes_no_output_byte(
    mixed: tuple[Path, Path], tmp_path: Path, options: tuple[str, ...]
) -> None:
    """Protects the sorted entry walk (tree_listing.collect, prefix_scan) over the staging tree,
    which lives beside dist/ in the project, and over the cache."""
    project, cache = mixed
    plain = _built(project, cache)
    with (
        disordered(project, tmp_path / "project", *options) as shuffled_project,
        disordered(cache, tmp_path / "cache", *options) as shuffled_cache,
    ):
        assert _built(shuffled_project, shuffled_cache) == plain


def test_a_cache_on_another_file_system_changes_no_output_byte(
    mixed: tuple[Path, Path], tmp_path: Path
) -> None:
    """Protects the hardlink dereferencing: from a tmpfs cache conda's linker copies where it
    hardlinked, so only inode-blind entries give the same bytes."""
    project, cache = mixed
    plain = _built(project, cache)
    with tmpfs(tmp_path / "tmpfs", "256m") as mounted:
        shutil.copytree(cache, mounted / "cache", symlinks=True)
        assert _built(project, mounted / "cache") == plain
