"""Ninety-second adversary pass: the lock exports fed to the real tools that consume them.

requirements.txt goes through ``pip install --require-hashes --no-deps`` and ``uv pip install
--require-hashes``, pylock.toml through ``packaging.pylock`` and ``uv pip install -r
pylock.toml``, each into a fresh environment whose installed set must equal the lock's. The
world has extras, markers for other platforms and Pythons, a local version, a name needing
normalisation, two indexes, a find-links directory spelled relative with a blank, and a wheel
per architecture. The conda exports are checked against the formats' own rules.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.pylock import Pylock
from packaging.utils import canonicalize_name

from mlenv.conda.export import conda_lock_yml, explicit_spec
from mlenv.conda.records import CondaRecord
from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.hostile

FIND_LINKS = "wheels dir"  # relative to the manifest, with a blank
HOST = {"x86_64": "linux-64", "aarch64": "linux-aarch64"}[platform.machine()]
ENV = {"PIP_CONFIG_FILE": "/dev/null", "UV_NO_CONFIG": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _tool(name: str) -> str:
    """The consumer under test; its absence fails the test (a skip would hide the check)."""
    found = shutil.which(name)
    assert found is not None, f"{name} is needed on PATH for this differential test"
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A locked project for linux-64 and linux-aarch64: (project, env)."""
    root = tmp_path_factory.mktemp("attack92")
    first = [
        build_wheel(
            "app",
            "1.0",
            requires_dist=[
                "lib[fancy]>=1",
                "winonly; sys_platform == 'win32'",
                "oldpy; python_version < '3.10'",
                "Foo_Bar.baz",
                "local==2.0+cu130",
                "other",
                "flpkg",
                "fast",
            ],
        ),
        build_wheel(
            "lib", "1.0", requires_dist=["fancydep; extra == 'fancy'"], provides_extra=["fancy"]
        ),
        build_wheel("fancydep", "1.0"),
        build_wheel("winonly", "1.0"),
        build_wheel("oldpy", "1.0"),
        build_wheel("Foo_Bar.baz", "1.0"),
        build_wheel("local", "2.0+cu130", tag="cp311-cp311-manylinux_2_17_x86_64"),
        build_wheel("local", "2.0+cu130", tag="cp311-cp311-manylinux_2_17_aarch64"),
        build_wheel("fast", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64"),
        build_wheel("fast", "1.0", tag="cp311-cp311-manylinux_2_17_aarch64"),
    ]
    first_url = write_simple_index(root / "first", first)
    second_url = write_simple_index(root / "second", [build_wheel("other", "3.0")])
    project = root / "project"
    (project / FIND_LINKS).mkdir(parents=True)
    name, data = build_wheel("flpkg", "0.5")
    (project / FIND_LINKS / name).write_bytes(data)
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "t"\npython = "3.11"\nplatforms = ["linux-64", "linux-aarch64"]\n'
        f'[pypi]\nindex-url = "{first_url}"\nextra-index-urls = ["{second_url}"]\n'
        f'find-links = ["{FIND_LINKS}"]\nindex-strategy = "best-match"\n'
        'dependencies = ["app"]\n'
    )
    env = {**ENV, "MLENV_CACHE_DIR": str(root / "cache")}
    locked = run_mlenv(["lock"], project, env)
    assert locked.returncode == 0, locked.stderr
    (root / "elsewhere").mkdir()
    return project, env


def _locked_set(project: Path) -> dict[str, str]:
    lock = load_lock((project / "mlenv.lock").read_text())
    return {canonicalize_name(p.name): p.version for p in lock.platform(HOST).packages}


def _frozen(text: str) -> dict[str, str]:
    pins = (line.split("==", 1) for line in text.splitlines() if "==" in line)
    return {canonicalize_name(name): version for name, version in pins}


def _run(args: list[str], cwd: Path, **extra: str) -> str:
    done = subprocess.run(
        args,
        cwd=cwd,
        env={**os.environ, **ENV, **extra},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _uv_install(venv: Path, cwd: Path, *args: str) -> dict[str, str]:
    """``uv pip install ARGS`` into a fresh ``uv venv``, offline; the installed set."""
    uv = _tool("uv")
    _run([uv, "venv", "-q", "-p", sys.executable, str(venv)], cwd)
    _run([uv, "pip", "install", "--offline", "-q", *args], cwd, VIRTUAL_ENV=str(venv))
    return _frozen(_run([uv, "pip", "freeze"], cwd, VIRTUAL_ENV=str(venv)))


@pytest.mark.parametrize("output", ["requirements.txt", "out/sub/requirements.txt"])
def test_requirements_export_installs_the_locked_set_with_pip(
    world: tuple[Path, dict[str, str]], output: str
) -> None:
    """Extras resolved into their own pins, markers evaluated for the target (winonly and
    oldpy are not in the lock), the local version and ``Foo_Bar.baz`` pinned as pip matches
    them, both indexes and the relative find-links directory carried: rebased on the file's
    directory, where pip looks for it (``--find-links 'wheels dir'`` written to out/sub/ sent
    pip to out/sub/wheels dir, then to its working directory, and flpkg was not found)."""
    project, env = world
    (project / output).parent.mkdir(parents=True, exist_ok=True)
    out = run_mlenv(["export", "--format", "requirements", "-o", output], project, env)
    assert out.returncode == 0, out.stderr
    _tool("pip")
    venv = project.parent / f"pip-venv-{output.count('/')}"
    elsewhere = project.parent / "elsewhere"
    _run([sys.executable, "-m", "venv", str(venv)], elsewhere)
    python = str(venv / "bin" / "python")
    requirements = str(project / output)
    _run(
        [python, "-m", "pip", "install", "-q", "--require-hashes", "--no-deps", "-r", requirements],
        elsewhere,
    )
    installed = _frozen(_run([python, "-m", "pip", "freeze"], elsewhere))  # no pip/setuptools
    assert installed == _locked_set(project)
    assert {"fancydep", "foo-bar-baz", "other", "flpkg"} <= set(installed)
    assert installed["local"] == "2.0+cu130"


def test_requirements_export_installs_the_locked_set_with_uv(
    world: tuple[Path, dict[str, str]],
) -> None:
    project, env = world
    out = run_mlenv(["export", "--format", "requirements", "-o", "requirements.txt"], project, env)
    assert out.returncode == 0, out.stderr
    installed = _uv_install(
        project.parent / "uv-req",
        project.parent / "elsewhere",
        "--require-hashes",
        "-r",
        str(project / "requirements.txt"),
    )
    assert installed == _locked_set(project)


@pytest.mark.parametrize("output", ["pylock.toml", "out/sub/pylock.toml"])
def test_pylock_export_with_relative_find_links_installs_with_uv(
    world: tuple[Path, dict[str, str]], output: str
) -> None:
    """A wheel from a relative find-links directory was written as ``url = "wheels
    dir/flpkg-0.5-py3-none-any.whl"`` and ``index = "wheels dir"``: not URLs, and uv refused
    the whole file ("relative URL without a base"). PEP 751 has ``path``, relative to the
    lock file, and ``index`` is the base URL of a simple-API index, which a find-links
    directory is not."""
    project, env = world
    (project / output).parent.mkdir(parents=True, exist_ok=True)
    out = run_mlenv(["export", "--format", "pylock", "-o", output], project, env)
    assert out.returncode == 0, out.stderr
    text = (project / output).read_bytes()
    document = tomllib.loads(text.decode())
    Pylock.from_dict(document)
    for package in document["packages"]:
        assert "upload-time" not in package["wheels"][0]
        assert ("index" in package) == (package["name"] != "flpkg"), package
        for wheel in package["wheels"]:
            assert "://" in wheel.get("url", "://"), wheel
            if "path" in wheel:
                found = (project / output).parent / wheel["path"]
                assert hashlib.sha256(found.read_bytes()).hexdigest() == wheel["hashes"]["sha256"]
    again = run_mlenv(["export", "--format", "pylock", "-o", output], project, env)
    assert again.returncode == 0 and (project / output).read_bytes() == text
    venv = project.parent / f"uv-pylock-{output.count('/')}"
    installed = _uv_install(
        venv,
        project.parent / "elsewhere",
        "--preview-features",
        "pylock",
        "-r",
        str(project / output),
    )
    assert installed == _locked_set(project)


def test_pylock_to_stdout_is_relative_to_the_working_directory(
    world: tuple[Path, dict[str, str]],
) -> None:
    project, env = world
    args = ["-m", str(project / "mlenv.toml"), "export", "--format", "pylock"]
    out = run_mlenv(args, project / FIND_LINKS, env)
    assert out.returncode == 0, out.stderr
    wheels = [w for p in tomllib.loads(out.stdout)["packages"] for w in p["wheels"]]
    (wheel,) = {w["path"]: w for w in wheels if "path" in w}.values()
    found = project / FIND_LINKS / wheel["path"]  # the working directory, where > writes it
    assert hashlib.sha256(found.read_bytes()).hexdigest() == wheel["hashes"]["sha256"]


# CEP 23 (conda explicit input files): "whitespace-stripped lines SHOULD be parsable by this
# Python-style regex" (conda/ceps, cep-0023.md; conda's misc.py uses the same pattern).
CEP23_URL = re.compile(
    r"(?:(?P<url_p>.+)(?:[/\\]))?(?P<fn>[^/\\#]+(?:\.tar\.bz2|\.conda))"
    r"(?:#((?P<md5>[0-9a-f]{32})|((sha256:)?(?P<sha256>[0-9a-f]{64}))))?$"
)


def _record(name: str, depends: tuple[str, ...]) -> CondaRecord:
    filename = f"{name}-1.0-h0_0.conda"
    body = name.encode()
    return CondaRecord(
        name=name,
        version="1.0",
        build="h0_0",
        build_number=0,
        subdir="linux-64",
        channel="https://conda.anaconda.org/conda-forge",
        url=f"https://conda.anaconda.org/conda-forge/linux-64/{filename}",
        filename=filename,
        sha256=hashlib.sha256(body).hexdigest(),
        md5=hashlib.md5(body).hexdigest(),
        size=len(body),
        depends=depends,
    )


RECORDS = (
    _record("python", ("libzlib >=1.3,<2.0a0", "libzlib")),
    _record("libzlib", ()),
    _record("numpy", ("python >=3.11,<3.12.0a0 *_cpython", "libzlib")),
)


def test_explicit_lines_parse_as_cep23_with_the_locked_sha256() -> None:
    text = explicit_spec(RECORDS, "linux-64")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines.index("@EXPLICIT") < min(
        i for i, line in enumerate(lines) if not line.startswith(("#", "@"))
    )
    parsed = [CEP23_URL.match(line) for line in lines if not line.startswith(("#", "@"))]
    by_file = {r.filename: r for r in RECORDS}
    order = []
    for match in parsed:
        assert match is not None
        record = by_file[match["fn"]]
        assert match["sha256"] == record.sha256
        assert f"{match['url_p']}/{match['fn']}" == record.url
        order.append(record.name)
    assert order.index("libzlib") < order.index("python") < order.index("numpy")


def test_conda_lock_yml_has_the_v1_shape() -> None:
    document = yaml.safe_load(conda_lock_yml({"linux-64": RECORDS}, ["conda-forge"], "x" * 64))
    assert document["version"] == 1
    metadata = document["metadata"]
    assert metadata["platforms"] == ["linux-64"]
    assert metadata["channels"] == [{"url": "conda-forge", "used_env_vars": []}]
    assert set(metadata["content_hash"]) == {"linux-64"}
    keys = {
        "name",
        "version",
        "manager",
        "platform",
        "dependencies",
        "url",
        "hash",
        "category",
        "optional",
    }
    for entry, record in zip(
        document["package"], sorted(RECORDS, key=lambda r: r.name), strict=True
    ):
        assert set(entry) == keys
        assert entry["manager"] == "conda" and entry["platform"] == "linux-64"
        assert entry["hash"] == {"md5": record.md5, "sha256": record.sha256}
        assert entry["optional"] is False and entry["category"] == "main"
        assert all(isinstance(v, str) for v in entry["dependencies"].values())
    python = next(e for e in document["package"] if e["name"] == "python")
    assert python["dependencies"] == {"libzlib": ">=1.3,<2.0a0"}
