"""The conda building blocks that need no rattler: channels built in code, records, exports."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Literal

import pytest
import zstandard

from mlenv.conda.explain import CondaSolveError, solve_error
from mlenv.conda.export import conda_lock_yml, explicit_spec
from mlenv.conda.install import install as install_conda
from mlenv.conda.records import CondaError, CondaRecord
from mlenv.conda.solve import from_repodata
from mlenv.conda.virtual import cuda_version_constraint, virtual_packages
from mlenv.conda.worker import ChildFailure, CondaWorkerError, run_child
from mlenv.report import MemoryReporter
from tests.support.conda_channel import (
    PLACEHOLDER,
    PackageFormat,
    build_conda_package,
    write_channel,
)

SCRIPT = f"#!{PLACEHOLDER}/bin/python\nprint('hi')\n".encode()


TarMode = Literal["r:bz2", "r:"]


def tar_members(data: bytes, mode: TarMode = "r:bz2") -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode=mode) as tar:
        return {member.name: member for member in tar.getmembers()}


def tar_file(data: bytes, name: str, mode: TarMode = "r:bz2") -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data), mode=mode) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


# ---------------------------------------------------------------------------------------------
# The channel builder


@pytest.mark.parametrize("fmt", ["tar.bz2", "conda"])
def test_packages_are_byte_deterministic(fmt: PackageFormat) -> None:
    def make() -> tuple[str, bytes]:
        files = {"bin/app": SCRIPT}
        return build_conda_package("app", "1.0", "h0_1", prefix_files=files, fmt=fmt)

    assert make() == make()
    assert make()[0] == f"app-1.0-h0_1.{fmt}"


def test_tar_bz2_layout() -> None:
    name, data = build_conda_package(
        "app",
        "1.0",
        "0",
        depends=["libfoo >=1"],
        constrains=["__cuda >=12"],
        files={"share/app/data.txt": b"data"},
        prefix_files={"bin/app": SCRIPT},
    )
    members = tar_members(data)
    assert sorted(members) == [
        "bin/app",
        "info/files",
        "info/has_prefix",
        "info/index.json",
        "info/paths.json",
        "share/app/data.txt",
    ]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {
        (0, 0, 0, "", "")
    }
    assert members["bin/app"].mode == 0o755
    assert members["share/app/data.txt"].mode == 0o644
    index = json.loads(tar_file(data, "info/index.json"))
    assert index == {
        "arch": "x86_64",
        "build": "0",
        "build_number": 0,
        "constrains": ["__cuda >=12"],
        "depends": ["libfoo >=1"],
        "name": "app",
        "platform": "linux",
        "subdir": "linux-64",
        "version": "1.0",
    }
    paths = json.loads(tar_file(data, "info/paths.json"))
    assert paths == {
        "paths": [
            {
                "_path": "bin/app",
                "file_mode": "text",
                "path_type": "hardlink",
                "prefix_placeholder": PLACEHOLDER,
                "sha256": hashlib.sha256(SCRIPT).hexdigest(),
                "size_in_bytes": len(SCRIPT),
            },
            {
                "_path": "share/app/data.txt",
                "path_type": "hardlink",
                "sha256": hashlib.sha256(b"data").hexdigest(),
                "size_in_bytes": 4,
            },
        ],
        "paths_version": 1,
    }
    assert tar_file(data, "info/files") == b"bin/app\nshare/app/data.txt\n"
    assert tar_file(data, "bin/app") == SCRIPT
    assert name == "app-1.0-0.tar.bz2"


def test_conda_format_layout() -> None:
    name, data = build_conda_package(
        "tool",
        "2.0",
        "pyh0",
        noarch="python",
        fmt="conda",
        files={"site-packages/tool/__init__.py": b"x = 1\n", "info/link.json": b"{}"},
    )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        assert [info.filename for info in infos] == [
            "metadata.json",
            "info-tool-2.0-pyh0.tar.zst",
            "pkg-tool-2.0-pyh0.tar.zst",
        ]
        assert {info.compress_type for info in infos} == {zipfile.ZIP_STORED}
        assert json.loads(archive.read("metadata.json")) == {"conda_pkg_format_version": 2}
        unzstd = zstandard.ZstdDecompressor()
        info_tar = unzstd.decompress(archive.read("info-tool-2.0-pyh0.tar.zst"))
        pkg_tar = unzstd.decompress(archive.read("pkg-tool-2.0-pyh0.tar.zst"))
    assert sorted(tar_members(info_tar, "r:")) == [
        "info/files",
        "info/index.json",
        "info/link.json",
        "info/paths.json",
    ]
    assert sorted(tar_members(pkg_tar, "r:")) == ["site-packages/tool/__init__.py"]
    index = json.loads(tar_file(info_tar, "info/index.json", "r:"))
    assert index["noarch"] == "python"
    assert index["subdir"] == "noarch"
    assert "arch" not in index
    assert name == "tool-2.0-pyh0.conda"


def test_channel_repodata(tmp_path: Path) -> None:
    bz = build_conda_package("libfoo", "1.0", "cuda124_0", depends=["__cuda >=12.4"])
    zst = build_conda_package(
        "cuda-version", "12.4", "h0", constrains=["__cuda >=12"], noarch="generic", fmt="conda"
    )
    url = write_channel(tmp_path / "channel", [bz, zst])
    assert url == (tmp_path / "channel").resolve().as_uri()
    linux = json.loads((tmp_path / "channel/linux-64/repodata.json").read_bytes())
    noarch = json.loads((tmp_path / "channel/noarch/repodata.json").read_bytes())
    assert linux["info"] == {"subdir": "linux-64"}
    assert linux["packages.conda"] == {}
    entry = linux["packages"]["libfoo-1.0-cuda124_0.tar.bz2"]
    assert entry["depends"] == ["__cuda >=12.4"]
    assert entry["size"] == len(bz[1])
    assert entry["md5"] == hashlib.md5(bz[1]).hexdigest()
    assert entry["sha256"] == hashlib.sha256(bz[1]).hexdigest()
    assert noarch["packages"] == {}
    conda_entry = noarch["packages.conda"]["cuda-version-12.4-h0.conda"]
    assert conda_entry["constrains"] == ["__cuda >=12"]
    assert conda_entry["noarch"] == "generic"
    assert (tmp_path / "channel/noarch/cuda-version-12.4-h0.conda").read_bytes() == zst[1]


def test_channel_bytes_do_not_depend_on_place_or_order(tmp_path: Path) -> None:
    packages = [build_conda_package(name, "1", "0") for name in ("b", "a")]
    write_channel(tmp_path / "one", packages)
    write_channel(tmp_path / "two", reversed(packages))
    for subdir in ("linux-64", "noarch"):
        one = (tmp_path / "one" / subdir / "repodata.json").read_bytes()
        assert one == (tmp_path / "two" / subdir / "repodata.json").read_bytes()


def test_empty_channel_still_has_noarch(tmp_path: Path) -> None:
    write_channel(tmp_path, [])
    assert json.loads((tmp_path / "noarch/repodata.json").read_bytes())["packages"] == {}


# ---------------------------------------------------------------------------------------------
# Records


def record(
    name: str,
    build: str = "0",
    *,
    depends: tuple[str, ...] = (),
    constrains: tuple[str, ...] = (),
    version: str = "1.0",
) -> CondaRecord:
    filename = f"{name}-{version}-{build}.conda"
    entry = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "subdir": "linux-64",
        "depends": list(depends),
        "constrains": list(constrains),
        "md5": hashlib.md5(filename.encode()).hexdigest(),
        "sha256": hashlib.sha256(filename.encode()).hexdigest(),
        "size": 100,
    }
    channel = "https://conda.example/forge"
    return from_repodata(
        entry, channel=channel, filename=filename, url=f"{channel}/linux-64/{filename}"
    )


def test_record_from_channel_repodata(tmp_path: Path) -> None:
    filename, data = build_conda_package(
        "libfoo", "1.0", "cuda124_0", build_number=3, depends=["__cuda >=12.4", "libbar"]
    )
    url = write_channel(tmp_path / "channel", [(filename, data)])
    repodata = json.loads((tmp_path / "channel/linux-64/repodata.json").read_bytes())
    entry = repodata["packages"][filename]
    found = from_repodata(
        entry, channel=url + "/", filename=filename, url=f"{url}/linux-64/{filename}"
    )
    assert found == CondaRecord(
        name="libfoo",
        version="1.0",
        build="cuda124_0",
        build_number=3,
        subdir="linux-64",
        channel=url,
        url=f"{url}/linux-64/{filename}",
        filename=filename,
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),
        size=len(data),
        depends=("__cuda >=12.4", "libbar"),
        constrains=(),
        noarch=None,
        cuda="12.4",
    )
    assert found.stem == "libfoo-1.0-cuda124_0"


@pytest.mark.parametrize(
    ("name", "version", "build", "depends", "label"),
    [
        ("libfoo", "1.0", "cuda124_0", (), "12.4"),
        ("libfoo", "1.0", "h0", ("__cuda >=12.6",), "12.6"),
        ("cupy", "1.0", "h0", ("__cuda >=12",), "12.x"),
        ("cuda-version", "12.4", "h0", (), "12.4"),
        ("zlib", "1.3", "h0", ("libgcc >=13",), None),
    ],
)
def test_record_cuda_label(
    name: str, version: str, build: str, depends: tuple[str, ...], label: str | None
) -> None:
    found = record(name, build, depends=depends, version=version)
    assert found.cuda == label


def test_record_strips_credentials() -> None:
    entry: dict[str, object] = {"name": "a", "version": "1", "build": "0", "subdir": "noarch"}
    entry |= {"md5": "0" * 32, "size": 1, "sha256": "0" * 64}
    found = from_repodata(
        entry,
        channel="https://user:secret@conda.example:8443/t/tk-123/private/",
        filename="a-1-0.conda",
        url="https://user:secret@conda.example:8443/t/tk-123/private/noarch/a-1-0.conda",
    )
    assert found.channel == "https://conda.example:8443/private"
    assert found.url == "https://conda.example:8443/private/noarch/a-1-0.conda"
    assert found.sha256 == "0" * 64
    assert found.build_number == 0


def test_record_without_sha256_is_refused() -> None:
    """mlenv locks only what it can verify: a channel without sha256 fails the solve, before
    any record could reach a lock."""
    entry = {"name": "a", "version": "1", "build": "0", "subdir": "noarch", "size": 1}
    entry |= {"md5": "0" * 32}
    with pytest.raises(CondaError, match=r"publishes no sha256 for a-1-0\.conda") as caught:
        from_repodata(
            entry,
            channel="https://u:p@conda.example/c",
            filename="a-1-0.conda",
            url="https://u:p@conda.example/c/noarch/a-1-0.conda",
        )
    assert caught.value.where == "https://conda.example/c/noarch/a-1-0.conda"


def test_record_without_md5_is_refused() -> None:
    entry = {"name": "a", "version": "1", "build": "0", "subdir": "noarch", "size": 1}
    with pytest.raises(CondaError, match=r"gives no md5 for a-1-0\.conda"):
        from_repodata(entry, channel="file:///c", filename="a-1-0.conda", url="x")


# ---------------------------------------------------------------------------------------------
# Virtual packages


def test_virtual_packages_come_from_the_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDA_OVERRIDE_CUDA", "9.0")
    monkeypatch.setenv("CONDA_OVERRIDE_GLIBC", "2.5")
    found = virtual_packages("linux-64", cuda="12.4", glibc="2.28")
    assert [str(package) for package in found] == [
        "__archspec=1=x86_64",
        "__cuda=12.4=0",
        "__glibc=2.28=0",
        "__linux=5.10=0",
        "__unix=0=0",
    ]


def test_virtual_packages_without_cuda_on_aarch64() -> None:
    found = virtual_packages("linux-aarch64", cuda=None, glibc="2.17")
    assert [str(package) for package in found] == [
        "__archspec=1=aarch64",
        "__glibc=2.17=0",
        "__linux=5.10=0",
        "__unix=0=0",
    ]


def test_virtual_packages_refuse_other_platforms() -> None:
    with pytest.raises(CondaError, match="'osx-arm64'") as caught:
        virtual_packages("osx-arm64", cuda=None, glibc="2.28")
    assert caught.value.hint == "supported platforms: linux-64, linux-aarch64"


def test_cuda_version_constraint_pins_the_minor() -> None:
    assert cuda_version_constraint("12.4") == "cuda-version 12.4.*"


# ---------------------------------------------------------------------------------------------
# Solver explanations (trees verbatim from py-rattler 0.28.0)

TWO_BUILDS = """\
Cannot solve the request because of: top * cannot be installed because there are no viable options:
└─ top 1.0 would require
   └─ g *, which cannot be installed because there are no viable options:
      ├─ g 1.0 would require
      │  └─ __glibc >=2.34, for which no candidates were found.
      └─ g 0.9 would require
         └─ __glibc >=2.35, for which no candidates were found.
"""

CONSTRAINED = """\
Cannot solve the request because of: The following packages are incompatible
├─ __cuda * can be installed with any of the following options:
│  └─ __cuda 12.4
└─ old * cannot be installed because there are no viable options:
   └─ old 1.0 would constrain
      └─ __cuda <12, which conflicts with any installable versions previously reported
"""


def explain(tree: str, *, cuda: str | None = "12.4") -> CondaError:
    failure = ChildFailure("SolverError", tree)
    return solve_error(failure, ["file:///ch"], "linux-64", cuda=cuda, glibc="2.28")


def test_explanation_names_every_build_and_the_manifest_value() -> None:
    error = explain(TWO_BUILDS)
    assert isinstance(error, CondaSolveError)
    first = error.message.splitlines()[0]
    assert first == (
        "top 1.0 -> g 1.0 needs __glibc >=2.34, the manifest targets glibc 2.28; "
        "top 1.0 -> g 0.9 needs __glibc >=2.35, the manifest targets glibc 2.28"
    )
    assert "  └─ top 1.0 would require" in error.message
    assert "Cannot solve the request" not in error.message
    assert error.where == "conda.dependencies (linux-64)"
    assert error.hint is not None
    assert error.hint.startswith("raise [environment] glibc")


def test_explanation_of_a_constraint_on_cuda() -> None:
    error = explain(CONSTRAINED)
    assert error.message.startswith(
        "old 1.0 constrains __cuda <12, the manifest targets CUDA 12.4\n"
    )
    assert error.hint is not None
    # a cap on the driver's CUDA: a lower [cuda] version leaves the fleet's drivers (and so
    # __cuda, offered_cuda) as they are, so only another build meets it (attack 132)
    assert error.hint.startswith("__cuda <12 admits no driver that supports CUDA 12.4")
    assert error.hint.endswith("require another build of old")


def test_explanation_without_a_cuda_target() -> None:
    tree = TWO_BUILDS.replace("__glibc >=2.34", "__cuda >=12.4")
    error = explain(tree, cuda=None)
    assert "g 1.0 needs __cuda >=12.4, the manifest names no CUDA target" in error.message
    assert error.hint is not None
    assert "add a [cuda] table" in error.hint


def test_channel_and_spec_failures_are_user_errors() -> None:
    failure = ChildFailure("GatewayError", "could not find subdir 'noarch'")
    error = solve_error(failure, ["x"], "linux-64", cuda=None, glibc="2.28")
    assert not isinstance(error, CondaSolveError)
    assert error.where == "conda.channels"
    spec = ChildFailure("spec", "'a 1.0' is not a valid conda MatchSpec")
    error = solve_error(spec, ["x"], "linux-64", cuda=None, glibc="2.28")
    assert error.where == "conda.dependencies"


def test_child_without_a_reply_is_an_internal_error() -> None:
    with pytest.raises(CondaWorkerError, match="KeyError: 'no-such-operation'"):
        run_child("no-such-operation", {})


# ---------------------------------------------------------------------------------------------
# Exports

PYTHON = record("python", "h0_cpython", depends=("libzlib >=1.3,<2.0a0", "__glibc >=2.17"))
ZLIB = record("libzlib", "h1")
NUMPY = record(
    "numpy", "py311_0", depends=("python >=3.11,<3.12.0a0", "libzlib", "python_abi 3.11.* *_cp311")
)


def test_explicit_spec_lists_dependencies_first() -> None:
    text = explicit_spec([NUMPY, PYTHON, ZLIB], "linux-64")
    base = "https://conda.example/forge/linux-64"
    assert text == (
        "# Generated by mlenv from mlenv.lock; do not edit.\n"
        "# platform: linux-64\n"
        "@EXPLICIT\n"
        f"{base}/libzlib-1.0-h1.conda#{ZLIB.sha256}\n"
        f"{base}/python-1.0-h0_cpython.conda#{PYTHON.sha256}\n"
        f"{base}/numpy-1.0-py311_0.conda#{NUMPY.sha256}\n"
    )


def test_explicit_spec_survives_a_dependency_cycle() -> None:
    a = record("a", depends=("b",))
    b = record("b", depends=("a",))
    text = explicit_spec([b, a, ZLIB], "linux-64")
    assert [line.split("/")[-1].split("-")[0] for line in text.splitlines()[3:]] == [
        "libzlib",
        "a",
        "b",
    ]


def test_conda_lock_yml_text() -> None:
    text = conda_lock_yml({"linux-64": [NUMPY, ZLIB]}, ["https://conda.example/forge"], "abc123")
    base = "https://conda.example/forge/linux-64"
    assert text == (
        "# Generated by mlenv from mlenv.lock; do not edit.\n"
        "version: 1\n"
        "metadata:\n"
        "  content_hash:\n"
        '    "linux-64": "abc123"\n'
        "  channels:\n"
        '  - url: "https://conda.example/forge"\n'
        "    used_env_vars: []\n"
        "  platforms:\n"
        '  - "linux-64"\n'
        "  sources:\n"
        '  - "mlenv.toml"\n'
        "package:\n"
        '- name: "libzlib"\n'
        '  version: "1.0"\n'
        '  manager: "conda"\n'
        '  platform: "linux-64"\n'
        "  dependencies: {}\n"
        f'  url: "{base}/libzlib-1.0-h1.conda"\n'
        "  hash:\n"
        f'    md5: "{ZLIB.md5}"\n'
        f'    sha256: "{ZLIB.sha256}"\n'
        '  category: "main"\n'
        "  optional: false\n"
        '- name: "numpy"\n'
        '  version: "1.0"\n'
        '  manager: "conda"\n'
        '  platform: "linux-64"\n'
        "  dependencies:\n"
        '    "libzlib": ""\n'
        '    "python": ">=3.11,<3.12.0a0"\n'
        '    "python_abi": "3.11.*"\n'
        f'  url: "{base}/numpy-1.0-py311_0.conda"\n'
        "  hash:\n"
        f'    md5: "{NUMPY.md5}"\n'
        f'    sha256: "{NUMPY.sha256}"\n'
        '  category: "main"\n'
        "  optional: false\n"
    )


def test_conda_lock_yml_without_packages() -> None:
    text = conda_lock_yml({"linux-64": []}, [], "h")
    assert text.endswith('  - "mlenv.toml"\npackage: []\n')


# ---------------------------------------------------------------------------------------------
# Install preconditions (checked before any child starts)

REPORTER = MemoryReporter()


def test_install_refuses_archives_missing_from_the_cache(tmp_path: Path) -> None:
    with pytest.raises(CondaError, match=r"not in the artifact cache: libzlib-1\.0-h1\.conda"):
        install_conda(
            [ZLIB], {}, tmp_path, target_prefix="/opt/env", platform="linux-64", reporter=REPORTER
        )


def test_install_refuses_a_relative_prefix_and_a_used_staging_dir(tmp_path: Path) -> None:
    cache = {str(ZLIB.sha256): tmp_path / "zlib"}
    staging = tmp_path / "staging"
    with pytest.raises(CondaError, match="not an absolute path"):
        install_conda(
            [ZLIB], cache, staging, target_prefix="opt/env", platform="linux-64", reporter=REPORTER
        )
    staging.mkdir()
    (staging / "leftover").write_text("x")
    with pytest.raises(CondaError, match="is not empty"):
        install_conda(
            [ZLIB], cache, staging, target_prefix="/opt/env", platform="linux-64", reporter=REPORTER
        )


@pytest.mark.parametrize(
    ("given", "locked"),
    [(None, None), (False, None), (True, "generic"), ("python", "python"), ("generic", "generic")],
)
def test_a_repodata_noarch_is_locked_as_the_kind_conda_reads(
    given: object, locked: str | None
) -> None:
    """conda-build's legacy ``noarch: true`` is a generic noarch package to conda and rattler;
    locked as 'True' it would be a kind the lock reader refuses."""
    filename = "tzdata-1.0-0.conda"
    entry = {"name": "tzdata", "version": "1.0", "build": "0", "subdir": "noarch", "noarch": given,
             "md5": "0" * 32, "sha256": "1" * 64, "size": 1}  # fmt: skip
    channel = "https://conda.example/forge"
    found = from_repodata(
        entry, channel=channel, filename=filename, url=f"{channel}/noarch/{filename}"
    )
    assert found.noarch == locked
