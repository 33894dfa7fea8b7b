"""Two-hundredth adversary pass, the other side of passes 194-199: real-world inputs the new
refusals must still take, built as their tools write them.

- conda: conda-forge packages as conda-build 3 writes them (a 255-byte
  ``/home/conda/feedstock_root/build_artifacts/..._placehold_pl...`` placeholder in text and
  binary mode, hundreds of occurrences in python's ``_sysconfigdata`` and ``Makefile``,
  symlinks, tar hardlinks, ``info/licenses``), ncurses' ``terminfo/E`` and ``e``,
  ``_libgcc_mutex`` and ``_openmp_mutex`` (a leading underscore, a link into another
  package), noarch python and generic, versions with an epoch and a local part, an old
  package's quoted ``info/has_prefix``, two outputs of one feedstock sharing a file rewritten
  alike; vetted and installed by rattler at a long prefix.
- OCI base configs as Docker Hub, buildah, ko/apko and rules_oci write them.
- PEP 639 License-Expressions as PyPI projects write them; conda specs users write;
  ``init --from`` files naming the project's own wheel directories and local channel.

All held: none was refused or changed, so they stay as regressions. A 255-byte placeholder
adds nothing at any deploy prefix it has room for; the legacy 32-byte default bounds a text
file's growth at ``size // 32 * (len(prefix) - 32)``, a third of it for a 43-byte prefix.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from mlenv.conda.install import install
from mlenv.conda.solve import from_repodata
from mlenv.install.conda_packages import check_conda_packages
from mlenv.manifest_read import loads
from mlenv.oci.base_config import config_problem
from mlenv.oci.model import parse_json
from mlenv.report import MemoryReporter
from mlenv.sbom import _spdx
from mlenv.spelled import conda_line
from tests.support.cli import run_in_process
from tests.support.conda_channel import build_conda_package, repodata_record

SITE = "lib/python3.11/site-packages"
# conda-build 3's host prefix, padded to 255 bytes as conda-forge's feedstocks build it
_FEEDSTOCK = "/home/conda/feedstock_root/build_artifacts/python-split_1713204800000/_h_env"
FORGE = (_FEEDSTOCK + "_placehold" * 30)[:255]
LONG = "/opt/conda/envs/some-long-name"
# The longest deploy prefix a 255-byte binary placeholder takes.
LONGEST = "/opt/mlenv/" + "p" * 244


def _entry(path: str, data: bytes, mode: str = "", kind: str = "hardlink") -> dict[str, Any]:
    entry: dict[str, Any] = {
        "_path": path,
        "path_type": kind,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_in_bytes": len(data),
    }
    if mode:
        entry.update(file_mode=mode, prefix_placeholder=FORGE)
    return entry


def _python() -> tuple[str, bytes]:
    """conda-forge's python as conda-build 3 writes it: the prefix hundreds of times in text
    files, in C strings of the interpreter, links to it, and a tar hardlink."""
    prefix = FORGE.encode()
    sysconfig = b"build_time_vars = {\n" + b"".join(
        b"'VAR%d': '-I%s/include -L%s/lib',\n" % (n, prefix, prefix) for n in range(400)
    )
    makefile = b"".join(b"prefix%d=\t%s/lib/python3.11\n" % (n, prefix) for n in range(300))
    binary = b"\x7fELF" + b"\x00" * 60 + prefix + b"/lib\x00" + b"\x00" * 40 + b"code" * 2000
    text = {
        "lib/python3.11/_sysconfigdata__linux_x86_64-linux-gnu.py": sysconfig,
        "lib/python3.11/config-3.11-x86_64-linux-gnu/Makefile": makefile,
        "lib/pkgconfig/python-3.11.pc": b"prefix=%s\nlibdir=${prefix}/lib\n" % prefix,
        "bin/python3.11-config": b"#!/bin/sh\nprefix_real=%s\n" % prefix,
    }
    plain = {f"{SITE}/README.txt": b"site\n", "info/licenses/LICENSE": b"PSF\n"}
    paths = [
        *(_entry(path, data, "text") for path, data in text.items()),
        _entry("bin/python3.11", binary, "binary"),
        _entry("lib/libpython3.11.so.1.0", binary, "binary"),
        _entry("bin/python", binary, kind="softlink"),  # conda-build hashes the target
        _entry("bin/python3", binary, kind="softlink"),
        _entry(f"{SITE}/README.txt", plain[f"{SITE}/README.txt"]),
    ]
    hardlink = tarfile.TarInfo("lib/libpython3.11.so.1.0")
    hardlink.type, hardlink.linkname = tarfile.LNKTYPE, "bin/python3.11"
    return build_conda_package(
        "python",
        "3.11.9",
        "hb806964_0_cpython",
        fmt="conda",
        files={
            **plain,
            "info/paths.json": json.dumps({"paths": paths, "paths_version": 1}).encode(),
        },
        prefix_files=text,
        binary_prefix_files={"bin/python3.11": binary},
        placeholder=FORGE,
        symlinks={"bin/python": "python3.11", "bin/python3": "python3.11"},
        raw=[(hardlink, b"")],
    )


_NOARCH = (
    (
        "python-dateutil",
        "2.9.0",
        "pyhd8ed1ab_0",
        "python",
        "site-packages/dateutil/__init__.py",
        b"",
    ),
    ("tzdata", "2024a", "h0c530f3_0", "generic", "share/zoneinfo/UTC", b"TZif2"),
)


def _forge() -> list[tuple[str, bytes]]:
    """An environment's worth of conda-forge shapes around ``_python``."""
    pc = b"prefix=%s\n" % FORGE.encode()
    return [
        build_conda_package("_libgcc_mutex", "0.1", "conda_forge"),
        build_conda_package(
            "_openmp_mutex", "4.5", "2_gnu", symlinks={"lib/libgomp.so.1": "libgomp.so.1.0.0"}
        ),
        build_conda_package(
            "libgomp", "13.2.0", "h807b86a_5", files={"lib/libgomp.so.1.0.0": b"\x7fELF gomp"}
        ),
        _python(),
        *(
            build_conda_package(
                name,
                version,
                build,
                noarch=kind,
                files={path: data, "info/licenses/LICENSE": b"BSD\n"},
            )
            for name, version, build, kind, path, data in _NOARCH
        ),
        build_conda_package("libfoo", "1!2.0.1+local", "h_0", files={"lib/libfoo.so": b"x"}),
        # terminfo/E and terminfo/e, and a link to a directory of the package
        build_conda_package(
            "ncurses",
            "6.5",
            "h59595ed_0",
            files={"share/terminfo/E/Eterm": b"E", "share/terminfo/e/eterm": b"e"},
            symlinks={"lib/terminfo": "../share/terminfo"},
        ),
        # two outputs of one feedstock ship one .pc file, rewritten alike
        *(
            build_conda_package(
                name,
                "3.9.0",
                "22_linux64_openblas",
                prefix_files={"lib/pkgconfig/blas.pc": pc},
                placeholder=FORGE,
            )
            for name in ("libblas", "libcblas")
        ),
    ]


def _old() -> tuple[str, bytes]:
    """A pre-2017 package: no info/paths.json, has_prefix with conda's default placeholder,
    quoted, bare, and a path with a blank."""
    placeholder = b"/opt/anaconda1anaconda2anaconda3"
    files = {
        "bin/easy_install": b"#!%s/bin/python\n" % placeholder,
        "lib/python2.7/site-packages/with space.py": b"P = '%s'\n" % placeholder * 50,
        "lib/python2.7/site-packages/bare.py": b"P = '%s'\n" % placeholder,
    }
    has_prefix = (
        b"/opt/anaconda1anaconda2anaconda3 text bin/easy_install\n"
        b'"/opt/anaconda1anaconda2anaconda3" text "lib/python2.7/site-packages/with space.py"\n'
        b"lib/python2.7/site-packages/bare.py\n"
    )
    return build_conda_package(
        "setuptools", "27.2.0", "py27_0", legacy=True,
        files={**files, "info/has_prefix": has_prefix},
    )  # fmt: skip


def _write(root: Path, packages: list[tuple[str, bytes]]) -> list[tuple[str, Path]]:
    root.mkdir(parents=True, exist_ok=True)
    for filename, data in packages:
        (root / filename).write_bytes(data)
    return [(filename, root / filename) for filename, _ in packages]


@pytest.mark.parametrize("prefix", [LONG, LONGEST])
def test_conda_forge_shapes_pass_the_vetting(tmp_path: Path, prefix: str) -> None:
    packages = _forge()
    noarch = ["python-dateutil-2.9.0-pyhd8ed1ab_0.tar.bz2"]
    assert (
        check_conda_packages(
            _write(tmp_path, packages), target_prefix=prefix, noarch_python=noarch, python_site=SITE
        )
        == {}
    )


def test_an_old_has_prefix_package_passes_at_a_longer_prefix(tmp_path: Path) -> None:
    check_conda_packages(_write(tmp_path, [_old()]), target_prefix=LONG + "-for-training")


def test_conda_forge_shapes_install_through_rattler(tmp_path: Path) -> None:
    """Vetted, then installed by rattler: every placeholder becomes the deploy prefix."""
    records, paths = [], {}
    for filename, path in _write(tmp_path / "pkgs", [*_forge(), _old()]):
        entry = repodata_record(filename, path.read_bytes())
        record = from_repodata(entry, channel=path.parent.as_uri(), filename=filename,
                               url=path.as_uri())  # fmt: skip
        records.append(record)
        paths[record.sha256] = path
    stage = tmp_path / "stage"
    install(records, paths, stage, target_prefix=LONG, platform="linux-64",
            reporter=MemoryReporter())  # fmt: skip
    sysconfig = (stage / "lib/python3.11/_sysconfigdata__linux_x86_64-linux-gnu.py").read_text()
    assert sysconfig.count(f"-I{LONG}/include") == 400 and FORGE not in sysconfig
    assert (stage / "lib/python3.11/site-packages/dateutil/__init__.py").is_file()
    assert (stage / "lib/libgomp.so.1").resolve() == (stage / "lib/libgomp.so.1.0.0").resolve()
    assert (stage / "lib/pkgconfig/blas.pc").read_text() == f"prefix={LONG}\n"
    spaced = (stage / "lib/python2.7/site-packages/with space.py").read_text()
    assert spaced == f"P = '{LONG}'\n" * 50
    assert f"{LONG}/lib\x00".encode() in (stage / "bin/python3.11").read_bytes()
    assert (stage / "lib/terminfo/e/eterm").read_bytes() == b"e"


# --- OCI base configs as registries serve them ---------------------------------------------

_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ROOTFS = {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]}
_CONFIGS: dict[str, dict[str, Any]] = {
    "nvidia/cuda:12.4.1-runtime (buildkit)": {
        "architecture": "amd64", "os": "linux", "created": "2024-04-16T23:11:47.123456789Z",
        "config": {
            "Env": [_PATH, "NVARCH=x86_64", "NVIDIA_REQUIRE_CUDA=cuda>=12.4 brand=tesla,"
                    "driver>=470,driver<471", "NVIDIA_VISIBLE_DEVICES=all"],
            "Entrypoint": ["/opt/nvidia/nvidia_entrypoint.sh"], "ArgsEscaped": True,
            "Labels": {"maintainer": "NVIDIA CORPORATION <cudatools@nvidia.com>"},
            "OnBuild": None, "Cmd": None, "Volumes": None, "Shell": None, "Healthcheck": None,
        },
        "history": [
            {"created": "2024-04-11T16:53:54Z", "created_by": "/bin/sh -c #(nop)  ARG "
             "RELEASE", "empty_layer": True},
            {"created": "2024-04-11T16:53:56Z", "created_by": "/bin/sh -c #(nop) ADD file:ab in /"},
            {"created": "2024-04-16T23:11:47Z", "created_by": "ENV NVARCH=x86_64",
             "comment": "buildkit.dockerfile.v0", "empty_layer": True},
            {"created": "2024-04-16T23:11:47Z", "created_by": "RUN |1 TARGETARCH=amd64 /bin/sh "
             "-c apt-get update # buildkit", "comment": "buildkit.dockerfile.v0"},
        ],
        "rootfs": _ROOTFS, "moby.buildkit.buildinfo.v1": "eyJmcm9udGVuZCI6ImRvY2tlcmZpbGUifQ==",
    },
    "python:3.11-slim (classic docker)": {
        "architecture": "amd64", "os": "linux", "created": "2024-04-10T00:00:00Z",
        "docker_version": "20.10.23", "container": "4f7b",
        "config": {"Hostname": "", "User": "", "AttachStdin": False, "Tty": False,
                   "Env": [_PATH, "LANG=C.UTF-8", "PYTHON_VERSION=3.11.9"], "Cmd": ["python3"],
                   "Image": "sha256:" + "b" * 64, "Volumes": None, "WorkingDir": "",
                   "Entrypoint": None, "OnBuild": None, "Labels": None},
        "container_config": {"Hostname": "4f7b", "Env": [_PATH], "Labels": {}},
        "history": [{"created": "2024-04-10T00:00:00Z", "created_by": "/bin/sh -c #(nop)  CMD "
                     "[\"python3\"]", "empty_layer": True}],
        "rootfs": _ROOTFS,
    },
    "ubi9 (buildah)": {
        "created": "2024-03-01T10:00:00.123456789Z", "architecture": "amd64", "os": "linux",
        "config": {"Env": [_PATH, "container=oci"], "Cmd": ["/bin/bash"],
                   "Labels": {"io.buildah.version": "1.33.5"}},
        "history": [{"created": "2024-03-01T10:00:01Z", "created_by": "/bin/sh -c rm -rf "
                     "/var/log/*", "comment": "FROM registry.access.redhat.com/ubi9:latest"}],
        "rootfs": _ROOTFS,
    },
    "ko on apko": {
        "architecture": "amd64", "os": "linux", "author": "github.com/ko-build/ko",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"author": "apko", "created": "2024-01-01T00:00:00Z", "created_by": "apko",
                     "comment": "This is an apko single-layer image"}],
        "config": {"Entrypoint": ["/ko-app/x"], "Env": [_PATH, "KO_DATA_PATH=/var/run/ko"],
                   "User": "65532", "WorkingDir": "/home/nonroot"},
        "rootfs": _ROOTFS,
    },
    "rules_oci (no history, no config)": {"architecture": "amd64", "os": "linux",
                                          "rootfs": _ROOTFS},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(_CONFIGS))
def test_real_base_configs_are_taken(name: str) -> None:
    """Served as Go writes JSON (``\\u003c`` for ``<``, a surrogate pair for an emoji)."""
    config = {**_CONFIGS[name], "labelled": "\U0001f600 <x>"}
    raw = json.dumps(config).replace("<", "\\u003c").encode()
    assert config_problem(parse_json(raw, name)) is None


# --- SBOM licences and conda specs as projects write them -----------------------------------


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("Apache-2.0 OR BSD-3-Clause", "Apache-2.0 OR BSD-3-Clause"),
        ("LicenseRef-Proprietary", "LicenseRef-Proprietary"),
        ("MIT AND (Apache-2.0 OR BSD-2-Clause)", "MIT AND (Apache-2.0 OR BSD-2-Clause)"),
        ("GPL-2.0-or-later WITH Classpath-exception-2.0",) * 2,
        ("mit", "MIT"),
        ("BSD-3-Clause AND PSF-2.0",) * 2,
        ("Apache-2.0 WITH LLVM-exception",) * 2,
        ("bsd-3-clause or apache-2.0", "BSD-3-Clause OR Apache-2.0"),
    ],
)
def test_licence_expressions_as_pypi_writes_them(written: str, canonical: str) -> None:
    assert _spdx(written) == canonical


@pytest.mark.parametrize(
    "spec",
    [
        "pytorch::pytorch", "conda-forge/label/rc::numpy", "numpy[version='>=1.20',build=py*]",
        "python=3.11.*=*_cpython", "cuda-version 12.*", "libblas=*=*mkl",
        "https://conda.anaconda.org/conda-forge::numpy", "_openmp_mutex=*=*_llvm",
        "ruamel.yaml >=0.17", "conda-forge::conda >=23", "conda-package-handling",
        "python_abi 3.11.* *_cp311", "py-opencv[build=*cuda*]", "numpy[subdir=linux-64]",
    ],
)  # fmt: skip
def test_conda_specs_as_users_write_them(spec: str) -> None:
    assert conda_line(spec) is None


# --- init --from: a project's own places ------------------------------------------------------

_IMPORTS = {
    "requirements.txt": (
        "--extra-index-url https://download.pytorch.org/whl/cu121\n-f ./wheels\n"
        "--find-links https://download.pytorch.org/whl/torch_stable.html\n-f ./dist\n"
        "--find-links=wheels/\ntorch==2.3.0+cu121\nnumpy>=1.26\n"
    ),
    "environment.yml": (
        "name: research\nchannels:\n  - ./local_channel\n  - pytorch\n  - nvidia\n"
        "  - conda-forge\n  - https://conda.anaconda.org/conda-forge/label/rc\n"
        "dependencies:\n  - python=3.11\n  - pytorch::pytorch=2.3\n  - pytorch-cuda=12.1\n"
        "  - numpy[version='>=1.20',build=py*]\n  - libblas=*=*mkl\n  - cuda-version 12.*\n"
        "  - pip\n  - pip:\n    - -f ./wheels\n    - requests>=2\n"
    ),
    "pixi.toml": (
        '[project]\nname = "demo"\nplatforms = ["linux-64"]\n'
        'channels = ["conda-forge", "https://prefix.dev/conda-forge", "./local_channel"]\n'
        '[dependencies]\npython = "3.11.*"\nnumpy = { version = ">=1.26", build = "py311*" }\n'
        '[pypi-dependencies]\nrequests = ">=2"\n'
    ),
}
_TORCH = "https://download.pytorch.org/whl/torch_stable.html"
_PLACES = {
    "requirements.txt": ("wheels", _TORCH, "dist"),  # file:./dist: attack 203 refuses it
    "environment.yml": ("./local_channel", "https://conda.anaconda.org/conda-forge/label/rc"),
    "pixi.toml": ("https://prefix.dev/conda-forge", "./local_channel"),
}


@pytest.mark.parametrize("name", sorted(_IMPORTS))
def test_init_from_keeps_the_projects_own_places(tmp_path: Path, name: str) -> None:
    project = tmp_path / "proj"
    for place in ("wheels", "dist", "local_channel"):
        (project / place).mkdir(parents=True)
    (project / name).write_text(_IMPORTS[name])
    code, _, err = run_in_process(["init", "--from", str(project / name)], cwd=project)
    assert code == 0, err
    manifest = loads((project / "mlenv.toml").read_text())
    places = [*manifest.pypi.find_links, *manifest.conda.channels]
    assert all(place in places for place in _PLACES[name]), places
