"""mlenv.conda against real py-rattler 0.28.0 on channels built in code (both archive formats).

rattler runs only in mlenv's child processes: this test process never imports it, so the
py-rattler exit crash cannot fail the suite.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlenv.conda.explain import CondaSolveError
from mlenv.conda.export import conda_lock_yml, explicit_spec
from mlenv.conda.install import install as install_conda
from mlenv.conda.records import CondaRecord
from mlenv.conda.solve import solve as solve_conda
from mlenv.report import MemoryReporter
from tests.support.conda_channel import PLACEHOLDER, build_conda_package, write_channel

pytestmark = pytest.mark.integration

DEPLOY = "/opt/mlenv/conda-test-env"
FOO_1 = build_conda_package("foo", "1.0", "0")
LINK_JSON = {
    "noarch": {"type": "python", "entry_points": ["tool = tool.cli:main"]},
    "package_metadata_version": 1,
}


def gpu_packages() -> list[tuple[str, bytes]]:
    cuda_versions = [
        build_conda_package(
            "cuda-version",
            minor,
            "h0",
            constrains=["__cuda >=12", f"cudatoolkit {minor}|{minor}.*"],
            noarch="generic",
        )
        for minor in ("12.1", "12.4", "12.6")
    ]
    return [
        *cuda_versions,
        build_conda_package(
            "libfoo",
            "1.0",
            "cuda124_0",
            depends=["__cuda >=12.4", "cuda-version >=12.0,<13"],
            files={"lib/libfoo.so": b"\x7fELF libfoo"},
            fmt="conda",
        ),
        build_conda_package("gpuapp", "1.0", "0", depends=["libfoo"]),
        build_conda_package("legacy", "1.0", "0", constrains=["__cuda <12"]),
    ]


def python_packages() -> list[tuple[str, bytes]]:
    return [
        build_conda_package(
            "python",
            "3.11.7",
            "h0_cpython",
            depends=["__glibc >=2.17", "libzlib >=1.3,<2.0a0"],
            files={"bin/python3.11": b"#!/bin/sh\necho fake python\n"},
            prefix_files={
                "lib/python3.11/_sysconfigdata.py": f"PREFIX = '{PLACEHOLDER}'\n".encode()
            },
        ),
        build_conda_package(
            "libzlib", "1.3.1", "h1", files={"lib/libz.so.1": b"\x7fELF zlib"}, fmt="conda"
        ),
        build_conda_package(
            "fastmath",
            "2.1",
            "py311h0",
            depends=["python >=3.11,<3.12.0a0", "libzlib >=1.3"],
            files={"lib/python3.11/site-packages/fastmath/__init__.py": b"VERSION = '2.1'\n"},
        ),
        build_conda_package(
            "tool",
            "0.5",
            "pyh0",
            noarch="python",
            depends=["python >=3.8"],
            files={
                "site-packages/tool/__init__.py": b"",
                "site-packages/tool/cli.py": b"def main():\n    return 0\n",
                "info/link.json": json.dumps(LINK_JSON).encode(),
            },
            fmt="conda",
        ),
        build_conda_package(
            "app",
            "1.0",
            "0",
            depends=["python"],
            prefix_files={
                "bin/app": f"#!{PLACEHOLDER}/bin/python3.11\nprint('app')\n".encode(),
                "etc/app.conf": f"home = {PLACEHOLDER}/share/app\n".encode(),
            },
            files={"share/app/data.bin": bytes(range(256))},
        ),
        FOO_1,
        build_conda_package("foo", "2.0", "0"),
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("conda-world")
    packages = gpu_packages() + python_packages()
    return {
        "gpu": write_channel(root / "gpu", gpu_packages()),
        "cpu": write_channel(root / "cpu", python_packages()),
        "archives": {hashlib.sha256(data).hexdigest(): data for _, data in packages},
    }


def solve(
    world: dict[str, object],
    channel: str,
    specs: list[str],
    cuda: str | None,
    locked: tuple[CondaRecord, ...] = (),
) -> tuple[CondaRecord, ...]:
    return solve_conda(
        [str(world[channel])],
        specs,
        "linux-64",
        cuda=cuda,
        glibc="2.28",
        reporter=MemoryReporter(),
        locked=locked,
    )


def by_name(records: tuple[CondaRecord, ...]) -> dict[str, CondaRecord]:
    return {record.name: record for record in records}


# ---------------------------------------------------------------------------------------------
# Solving


def test_package_needing_newer_cuda_fails_with_the_chain(world: dict[str, object]) -> None:
    with pytest.raises(CondaSolveError) as caught:
        solve(world, "gpu", ["gpuapp"], "12.1")
    error = caught.value
    assert error.message.splitlines()[0] == (
        "gpuapp 1.0 -> libfoo 1.0 needs __cuda >=12.4, the manifest targets CUDA 12.1"
    )
    assert "└─ __cuda >=12.4, for which no candidates were found." in error.message
    assert error.hint is not None
    assert error.hint.startswith("raise [cuda] version to satisfy __cuda >=12.4")
    assert "a build of libfoo made for CUDA 12.1" in error.hint
    assert "rattler" not in sys.modules


def test_package_needing_cuda_124_solves_for_124(world: dict[str, object]) -> None:
    records = by_name(solve(world, "gpu", ["gpuapp"], "12.4"))
    assert sorted(records) == ["cuda-version", "gpuapp", "libfoo"]
    assert records["libfoo"].cuda == "12.4"
    assert records["libfoo"].filename.endswith(".conda")
    assert records["gpuapp"].filename.endswith(".tar.bz2")
    assert records["gpuapp"].cuda is None


def test_cuda_version_follows_the_manifest_not_the_newest(world: dict[str, object]) -> None:
    # 12.6 is the newest cuda-version and libfoo accepts any 12.x: only mlenv's pin holds 12.4.
    assert by_name(solve(world, "gpu", ["gpuapp"], "12.4"))["cuda-version"].version == "12.4"
    assert by_name(solve(world, "gpu", ["gpuapp"], "12.6"))["cuda-version"].version == "12.6"


def test_cuda_target_missing_from_cuda_version_is_explained(world: dict[str, object]) -> None:
    with pytest.raises(CondaSolveError) as caught:
        solve(world, "gpu", ["gpuapp"], "12.5")
    assert caught.value.message.startswith(
        "no cuda-version package in the channels matches CUDA 12.5\n"
    )


def test_constrains_on_cuda_are_honoured(world: dict[str, object]) -> None:
    with pytest.raises(CondaSolveError) as caught:
        solve(world, "gpu", ["legacy"], "12.4")
    assert caught.value.message.startswith(
        "legacy 1.0 constrains __cuda <12, the manifest targets CUDA 12.4\n"
    )
    # Without a CUDA target there is no __cuda at all, whatever this host has.
    assert [r.name for r in solve(world, "gpu", ["legacy"], None)] == ["legacy"]


def test_cpu_only_channel_solves_under_a_cuda_target(world: dict[str, object]) -> None:
    records = solve(world, "cpu", ["fastmath"], "12.4")
    assert [record.name for record in records] == ["fastmath", "libzlib", "python"]


def test_python_stack_solves_sorted_and_stable(world: dict[str, object]) -> None:
    specs = ["python 3.11.*", "fastmath", "tool", "app"]
    records = solve(world, "cpu", specs, None)
    assert [(r.name, r.version) for r in records] == [
        ("app", "1.0"),
        ("fastmath", "2.1"),
        ("libzlib", "1.3.1"),
        ("python", "3.11.7"),
        ("tool", "0.5"),
    ]
    tool = by_name(records)["tool"]
    assert (tool.noarch, tool.subdir, tool.channel) == ("python", "noarch", world["cpu"])
    assert tool.url == f"{world['cpu']}/noarch/tool-0.5-pyh0.conda"
    assert solve(world, "cpu", list(reversed(specs)), None) == records


def test_missing_package_names_the_channels(world: dict[str, object]) -> None:
    with pytest.raises(CondaSolveError) as caught:
        solve(world, "cpu", ["nothere"], None)
    assert caught.value.message.splitlines()[0] == (
        f"no package matches nothere * in {world['cpu']} (linux-64, noarch)"
    )


def test_locked_records_are_preferred_while_published(world: dict[str, object]) -> None:
    newest = by_name(solve(world, "cpu", ["foo"], None))["foo"]
    assert newest.version == "2.0"
    filename, data = FOO_1
    old = dataclasses.replace(
        newest,
        version="1.0",
        filename=filename,
        url=newest.url.replace("foo-2.0-0", "foo-1.0-0"),
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),
        size=len(data),
    )
    assert by_name(solve(world, "cpu", ["foo"], None, locked=(old,)))["foo"] == old
    withdrawn = dataclasses.replace(old, version="1.5", sha256="0" * 64, md5="0" * 32)
    assert by_name(solve(world, "cpu", ["foo"], None, locked=(withdrawn,)))["foo"] == newest


def world_archives(world: dict[str, object]) -> dict[str, bytes]:
    archives = world["archives"]
    assert isinstance(archives, dict)
    return archives


# ---------------------------------------------------------------------------------------------
# Installing


def install_into(world: dict[str, object], records: tuple[CondaRecord, ...], base: Path) -> Path:
    cache = base / "artifact-cache"
    cache.mkdir(parents=True)
    paths = {}
    for record in records:
        assert record.sha256 is not None
        path = cache / record.sha256
        path.write_bytes(world_archives(world)[record.sha256])
        paths[record.sha256] = path
    staging = base / "build" / "staging"
    install_conda(
        records,
        paths,
        staging,
        target_prefix=DEPLOY,
        platform="linux-64",
        reporter=MemoryReporter(),
    )
    return staging


@pytest.fixture(scope="module")
def installed(
    world: dict[str, object], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[tuple[CondaRecord, ...], Path, Path]]:
    records = solve(world, "cpu", ["python 3.11.*", "fastmath", "tool", "app"], None)
    first = install_into(world, records, tmp_path_factory.mktemp("first"))
    second = install_into(world, records, tmp_path_factory.mktemp("second-longer-path"))
    yield records, first, second


def tree(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Every entry: kind, mode and content (or link target), by relative path."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            entry = ("link", 0, str(path.readlink()).encode())
        elif path.is_dir():
            entry = ("dir", info.st_mode & 0o7777, b"")
        else:
            entry = ("file", info.st_mode & 0o7777, path.read_bytes())
        found[path.relative_to(root).as_posix()] = entry
    return found


def test_install_writes_the_deploy_prefix(installed: tuple[object, Path, Path]) -> None:
    _, staging, _ = installed
    assert (staging / "bin/app").read_text() == f"#!{DEPLOY}/bin/python3.11\nprint('app')\n"
    assert (staging / "etc/app.conf").read_text() == f"home = {DEPLOY}/share/app\n"
    assert (staging / "lib/python3.11/_sysconfigdata.py").read_text() == f"PREFIX = '{DEPLOY}'\n"
    assert (staging / "bin/tool").read_text().startswith(f"#!{DEPLOY}/bin/python3.11\n")
    assert (staging / "lib/python3.11/site-packages/tool/cli.py").exists()
    assert (staging / "share/app/data.bin").read_bytes() == bytes(range(256))


def test_install_leaves_no_trace_of_the_build_machine(
    installed: tuple[tuple[CondaRecord, ...], Path, Path],
) -> None:
    records, staging, _ = installed
    assert not (staging / "CACHEDIR.TAG").exists()
    assert (staging / "conda-meta/history").read_bytes() == b""
    assert sorted(path.name for path in staging.parent.iterdir()) == ["staging"]
    base = staging.parent.parent
    needles = [str(base).encode(), b".mlenv-conda-", b"artifact-cache"]
    for relative, (_, mode, content) in tree(staging).items():
        assert mode in (0o644, 0o755), relative
        for needle in needles:
            assert needle not in content, (relative, needle)
    for record in records:
        meta = json.loads((staging / "conda-meta" / f"{record.stem}.json").read_bytes())
        assert not {"extracted_package_dir", "link", "package_tarball_full_path"} & set(meta)
        assert "indexed_timestamp" not in meta
        # a local channel's path is this machine's: conda's "<unknown>", no url
        assert record.url.startswith("file://")
        assert "url" not in meta
        assert (meta["channel"], meta["sha256"]) == ("<unknown>", record.sha256)


def test_two_installs_are_byte_identical(installed: tuple[object, Path, Path]) -> None:
    _, first, second = installed
    assert tree(first) == tree(second)
    assert len(tree(first)) > 20


# ---------------------------------------------------------------------------------------------
# Exports read by other tools


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::PendingDeprecationWarning")
def test_conda_lock_reads_the_conda_lock_yml(
    installed: tuple[tuple[CondaRecord, ...], Path, Path], tmp_path: Path
) -> None:
    import conda_lock  # noqa: F401  (the package must load before its lockfile module)
    from conda_lock.lockfile import parse_conda_lock_file

    records, _, _ = installed
    path = tmp_path / "conda-lock.yml"
    path.write_text(conda_lock_yml({"linux-64": records}, ["file:///ch"], "h1"))
    lockfile = parse_conda_lock_file(path)
    parsed = {package.name: package for package in lockfile.package}
    assert sorted(parsed) == [record.name for record in records]
    for record in records:
        package = parsed[record.name]
        assert (package.version, package.url, package.platform) == (
            record.version,
            record.url,
            "linux-64",
        )
        assert (package.hash.md5, package.hash.sha256) == (record.md5, record.sha256)
    assert parsed["fastmath"].dependencies == {"libzlib": ">=1.3", "python": ">=3.11,<3.12.0a0"}
    assert lockfile.metadata.content_hash == {"linux-64": "h1"}


def test_rattler_reads_the_explicit_spec(
    installed: tuple[tuple[CondaRecord, ...], Path, Path], tmp_path: Path
) -> None:
    records, _, _ = installed
    path = tmp_path / "explicit.txt"
    path.write_text(explicit_spec(records, "linux-64"))
    script = (
        "import json, os, sys\n"
        "from rattler.explicit_environment import ExplicitEnvironmentSpec\n"
        "spec = ExplicitEnvironmentSpec.from_path(sys.argv[1])\n"
        "print(json.dumps([str(spec.platform), [p.url for p in spec.packages]]), flush=True)\n"
        "os._exit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    platform, urls = json.loads(done.stdout)
    assert platform == "linux-64"
    assert sorted(urls) == sorted(f"{record.url}#{record.sha256}" for record in records)
