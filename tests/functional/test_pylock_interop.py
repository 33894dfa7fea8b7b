"""PEP 751 both ways with the real tools: pylock.toml files written by ``uv export`` (uv 0.13)
and ``pip lock`` (pip 26) imported by ``mlenv init --from`` and locked again to the same wheels,
and mlenv's own export installed by ``pip install -r`` and ``uv pip sync``. The samples under
tests/support/data/pylock/ are what the tools wrote (README.md there: the commands)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.pylock import Pylock
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.peers import clean_env, tool
from tests.support.pylock_world import git_repo, interop_index, source_tree, write_tree
from tests.support.wheels import build_wheel

SAMPLES = Path(__file__).parents[1] / "support" / "data" / "pylock"
PLACEHOLDER = "file:///ROOT"  # the samples' test directory; each test builds the index anew


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """(tmp_path, the environment for mlenv, uv and pip): the index under tmp_path/index."""
    interop_index(tmp_path / "index")
    env = clean_env(UV_CACHE_DIR=str(tmp_path / "uv-cache"), PIP_CACHE_DIR=str(tmp_path / "pc"),
                    MLENV_CACHE_DIR=str(tmp_path / "cache"), PIP_DISABLE_PIP_VERSION_CHECK="1",
                    HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")  # fmt: skip
    return tmp_path, env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _uv_export(
    root: Path, env: dict[str, str], dependencies: str, sources: str = "", *options: str
) -> Path:
    """``uv lock`` and ``uv export --format pylock.toml`` of a project, offline, with the
    index options ``options`` too."""
    project = root / "uv"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n'
        f"dependencies = [{dependencies}]\n{sources}"
    )
    index = ["--offline", "--default-index", (root / "index" / "simple").as_uri(), *options]
    _run([tool("uv"), "lock", *index], project, env)
    export = ["export", "--format", "pylock.toml", "--no-emit-project", "-o", "pylock.toml"]
    _run([tool("uv"), *export, *index], project, env)
    return project / "pylock.toml"


def _pip_lock(root: Path, env: dict[str, str], requirements: str) -> Path:
    """``pip lock -r req.txt`` from the index; a directory entry must sit under the output's."""
    project = root / "pip"
    project.mkdir(exist_ok=True)
    (project / "req.txt").write_text(requirements)
    index = ["--index-url", (root / "index" / "simple").as_uri()]
    _run([tool("pip"), "lock", "-q", "-r", "req.txt", "-o", "pylock.toml", *index], project, env)
    return project / "pylock.toml"


def _as_sample(path: Path, root: Path) -> str:
    return path.read_text().replace(root.as_uri(), PLACEHOLDER)


def _import_and_lock(path: Path, env: dict[str, str], *lock: str) -> dict[str, str]:
    """init --from the file, lock: each locked linux-64 package's sha256."""
    made = run_mlenv(["init", "--from", "pylock.toml", "--name", "t"], path.parent, env)
    assert made.returncode == 0, made.stderr
    locked = run_mlenv(["lock", *lock], path.parent, env)
    assert locked.returncode == 0, locked.stderr
    packages = load_lock((path.parent / "mlenv.lock").read_text()).platform("linux-64").packages
    return {p.name: p.sha256 for p in packages}


def _hashes(path: Path) -> dict[str, set[str]]:
    """Each entry's wheel hashes: the files a lock of the same input must pick among."""
    found: dict[str, set[str]] = {}
    for package in Pylock.from_dict(tomllib.loads(path.read_text())).packages:
        found.setdefault(package.name, set()).update(
            w.hashes["sha256"] for w in package.wheels or ()
        )
    return found


@pytest.mark.parametrize("sample", ["uv-wheels", "pip-wheels"])
def test_a_real_tools_pylock_locks_the_same_wheels(
    world: tuple[Path, dict[str, str]], sample: str
) -> None:
    """uv's entries name their index, pip's only each wheel's file: URL (pip's import took
    PyPI as the index, where these wheels are not): both lock again to the very files, and
    uv's markers (oldpy, winonly) are kept."""
    root, env = world
    if sample.startswith("uv"):
        path = _uv_export(root, env, '"app", "both"')
        lock: tuple[str, ...] = ()
    else:
        path = _pip_lock(root, env, "app\nboth\n")
        lock = ("--no-index",)
    assert _as_sample(path, root) == (SAMPLES / f"{sample}.toml").read_text()
    hashes = _hashes(path)
    locked = _import_and_lock(path, env, *lock)
    assert set(locked) == set(hashes) - {"oldpy", "winonly"}  # pip lock left both out
    assert all(sha in hashes[name] for name, sha in locked.items()), (locked, hashes)
    pypi = tomllib.loads((path.parent / "mlenv.toml").read_text())["pypi"]
    if sample.startswith("uv"):
        assert pypi["index-url"] == (root / "index" / "simple").as_uri()
        assert 'oldpy==1.0; python_full_version < "3.10"' in pypi["dependencies"]
        assert 'winonly==1.0; sys_platform == "win32"' in pypi["dependencies"]
        assert len(hashes["multi"]) == 3  # a wheel per platform, one locked for linux-64
    else:
        assert pypi["find-links"] == ["../index/files"]  # the wheels' directory


def test_a_uv_find_links_directory_imports_as_find_links(
    world: tuple[Path, dict[str, str]],
) -> None:
    """uv writes a ``--find-links`` directory as the ``index`` its wheels sit in; imported as
    the index URL, ``mlenv lock`` found no flpkg there ("does not exist on file:///…/fl")."""
    root, env = world
    write_tree(root / "fl", dict([build_wheel("flpkg", "0.5")]))
    path = _uv_export(root, env, '"flpkg", "speedy"', "", "--find-links", "../fl")
    assert _as_sample(path, root) == (SAMPLES / "uv-find-links.toml").read_text()
    hashes = _hashes(path)
    assert _import_and_lock(path, env) == {n: sha for n, [sha] in hashes.items()}
    pypi = tomllib.loads((path.parent / "mlenv.toml").read_text())["pypi"]
    assert pypi["find-links"] == ["../fl"] and pypi["extra-index-urls"] == []
    assert pypi["index-url"] == (root / "index" / "simple").as_uri()


def test_sources_and_sdists_are_refused_by_name(world: tuple[Path, dict[str, str]]) -> None:
    """A VCS checkout, a local directory and an sdist-only release in uv's and pip's locks:
    each refused, naming the package and the file (srconly was pinned, and ``mlenv lock``
    failed later with no word of the pylock)."""
    root, env = world
    _, commit = git_repo(root / "gitpkg", "gitpkg", "0.5")
    write_tree(root / "pip" / "dirpkg", source_tree("dirpkg", "0.7"))
    git = f"gitpkg @ git+{(root / 'gitpkg').as_uri()}"
    uv = _uv_export(root, env, f'"srconly", "{git}", "dirpkg"',
                    '[tool.uv.sources]\ndirpkg = { path = "../pip/dirpkg" }\n')  # fmt: skip
    pip = _pip_lock(root, env, f"srconly\n{git}\n./dirpkg\n")
    for path in (uv, pip):
        text = path.read_text()
        assert commit in text and "dirpkg" in text and "srconly-1.0.tar.gz" in text
        made = run_mlenv(["init", "--from", "pylock.toml"], path.parent, env)
        assert made.returncode == 1 and not (path.parent / "mlenv.toml").exists()
        for name, kind in [("dirpkg", "a local directory"), ("gitpkg", "a VCS checkout"),
                           ("srconly", "an sdist only")]:  # fmt: skip
            assert f"pylock.toml: package {name}: locked as {kind}" in made.stderr, made.stderr
        assert "pip wheel --no-deps" in made.stderr


def _mlenv_export(root: Path, env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """A two-platform lock of app and both from the index and flpkg from a find-links
    directory with a blank, exported to out/: (pylock, linux-64 set)."""
    project = root / "m"
    write_tree(project / "wheels dir", dict([build_wheel("flpkg", "0.5")]))
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "t"\npython = "3.11"\nplatforms = ["linux-64", "linux-aarch64"]\n'
        f'[pypi]\nindex-url = "{(root / "index" / "simple").as_uri()}"\n'
        'find-links = ["wheels dir"]\ndependencies = ["app", "both", "flpkg"]\n'
    )
    assert run_mlenv(["lock"], project, env).returncode == 0
    (project / "out").mkdir()
    out = run_mlenv(["export", "--format", "pylock", "-o", "out/pylock.toml"], project, env)
    assert out.returncode == 0, out.stderr
    lock = load_lock((project / "mlenv.lock").read_text())
    return project / "out" / "pylock.toml", {
        p.name: p.version for p in lock.platform("linux-64").packages
    }


def _frozen(text: str) -> dict[str, str]:
    pins = (line.split("==", 1) for line in text.splitlines() if "==" in line)
    return {canonicalize_name(name): version for name, version in pins}


def test_mlenv_pylock_installs_with_pip_and_uv(world: tuple[Path, dict[str, str]]) -> None:
    """pip 26 reads a pylock.toml given to ``-r`` (its name must match pylock.*toml); uv
    takes it in ``pip sync``. Each installs exactly the linux-64 set, from the markers, and
    flpkg from its ``path`` relative to the lock file, run from elsewhere."""
    root, env = world
    path, expected = _mlenv_export(root, env)
    assert len(expected) == 6 and expected["flpkg"] == "0.5"
    python = root / "pip-venv" / "bin" / "python"
    _run([sys.executable, "-m", "venv", "--without-pip", str(python.parents[1])], root, env)
    pip = [tool("pip"), "--python", str(python)]
    _run([*pip, "install", "-q", "--no-index", "-r", str(path)], root, env)
    assert _frozen(_run([*pip, "freeze"], root, env)) == expected
    venv = {**env, "VIRTUAL_ENV": str(root / "uv-venv")}
    _run([tool("uv"), "venv", "-q", "-p", sys.executable, str(root / "uv-venv")], root, env)
    _run([tool("uv"), "pip", "sync", "--offline", "-q", str(path)], root, venv)
    assert _frozen(_run([tool("uv"), "pip", "freeze"], root, venv)) == expected


def test_mlenv_pylock_holds_pep_751_fields(world: tuple[Path, dict[str, str]]) -> None:
    """The keys PEP 751 defines, each of the type it says: a marker for each environment and
    entry, a PEP 440 specifier, a wheel with its name, URL, size and sha256."""
    root, env = world
    path, _ = _mlenv_export(root, env)
    document = tomllib.loads(path.read_text())
    assert document["lock-version"] == "1.0" and document["created-by"] == "mlenv"
    assert SpecifierSet(document["requires-python"]).contains("3.11.7")
    assert len([Marker(m) for m in document["environments"]]) == 2
    for package in document["packages"]:
        assert package["name"] == canonicalize_name(package["name"])
        Marker(package["marker"])
        assert set(package) <= {"name", "version", "marker", "requires-python", "index",
                                "wheels", "tool"}  # fmt: skip
        assert ("index" in package) == (package["name"] != "flpkg")  # find-links is no index
        for wheel in package["wheels"]:
            where = "path" if package["name"] == "flpkg" else "url"  # a file, from the lock's
            assert set(wheel) == {"name", where, "size", "hashes"}
            assert wheel[where].endswith("/" + wheel["name"]) and wheel["size"] > 0
            assert len(wheel["hashes"]["sha256"]) == 64


def test_a_name_pip_and_uv_do_not_read_as_a_lock_is_warned_of(
    world: tuple[Path, dict[str, str]],
) -> None:
    """PEP 751: the file MUST be named pylock.toml or pylock.<name>.toml, and pip and uv go by
    the name: ``-o mylock.toml`` was written without a word, and neither tool read it."""
    root, env = world
    path, _ = _mlenv_export(root, env)
    for name, warned in [("mylock.toml", True), ("pylock.gpu.toml", False)]:
        out = run_mlenv(["export", "--format", "pylock", "-o", name], path.parent, env)
        assert out.returncode == 0, out.stderr
        assert ("is not a PEP 751 file name" in out.stderr) == warned, out.stderr
        venv = {**env, "VIRTUAL_ENV": str(root / "uv-venv")}
        uv_venv = [tool("uv"), "venv", "-q", "--allow-existing", "-p", sys.executable]
        _run([*uv_venv, str(root / "uv-venv")], root, env)
        dry = [tool("uv"), "pip", "install", "--dry-run", "--offline", "-r", name]
        done = subprocess.run(dry, cwd=path.parent, env=venv, capture_output=True, check=False)
        assert (done.returncode != 0) == warned, done.stderr
        pip = [tool("pip"), "install", "--dry-run", "--no-index", "--ignore-installed", "-r", name]
        done = subprocess.run(pip, cwd=path.parent, env=env, capture_output=True, check=False)
        assert (done.returncode != 0) == warned, done.stderr
