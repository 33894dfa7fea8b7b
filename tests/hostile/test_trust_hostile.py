"""Invariants 1, 4 and 8 of docs/security.md through the real CLI: what ships is what was
hashed, mlenv replaces only what it wrote, and an inconsistent lock is refused by every command.
Each test runs `mlenv` as a user would and compares whole trees before and after."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from mlenv.cache.artifacts import ArtifactCache
from mlenv.commands.build import output_digests
from tests.support.cli import run_mlenv
from tests.support.golden import golden_project
from tests.support.swapper import SWAPPER
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.hostile

GOLDEN_SHA = "d6603329e15dd9d2003ea83e9c0defdd99bbfa33570d4a385240a7083da30edc"


def tree(root: Path) -> dict[str, str]:
    """Every entry below ``root`` (never followed): kind and content hash or link target."""
    found = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(directory, name)
            key = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[key] = f"link {path.readlink()}"
            elif path.is_dir():
                found[key] = "dir"
            elif path.is_file():
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[key] = "special"
    return found


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake home holding the golden project, fetched and built once, and its cache."""
    home = tmp_path_factory.mktemp("template") / "home"
    project = golden_project(home / "project")
    for args in (["fetch"], ["build", "--offline"]):
        result = run_mlenv(args, project, environment(home))
        assert result.returncode == 0, result.stderr
    return home


def environment(home: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "MLENV_CACHE_DIR": str(home / ".cache" / "mlenv"),
        "SOURCE_DATE_EPOCH": "",
    }


@pytest.fixture
def home(tmp_path: Path, template: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return Path(shutil.copytree(template, tmp_path / "home", symlinks=True))


def refused(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode == 1, result.stderr
    assert says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------------
# Invariant 4: mlenv replaces only what it wrote


def test_build_dist_dot_in_the_project_changes_nothing(home: Path) -> None:
    """`mlenv build --offline --dist .` would swap the whole project for dist/: refused before
    any work, every file of the project and the cache in place."""
    project = home / "project"
    before = tree(home)
    refused(
        run_mlenv(["build", "--offline", "--dist", "."], project, environment(home)),
        "is the project directory",
    )
    assert tree(home) == before


def test_fetch_bundle_home_changes_nothing(home: Path) -> None:
    """`mlenv fetch --bundle ~` (the shell expands ~) would replace the home directory;
    refused before anything is downloaded: the empty cache stays empty."""
    shutil.rmtree(home / ".cache")
    before = tree(home)
    refused(
        run_mlenv(["fetch", "--bundle", str(home)], home / "project", environment(home)),
        "is the home directory",
    )
    assert tree(home) == before
    assert not (home / ".cache").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["build", "--offline", "--dist", "{home}"], "is the home directory"),
        (["build", "--offline", "--dist", "{home}/.cache/mlenv"], "is the cache"),
        (["build", "--offline", "--dist", "{home}/.cache"], "holds the cache"),
        (["build", "--offline", "--dist", "/"], "is the root directory"),
        (["build", "--offline", "--dist", "dist/../.."], "is the home directory"),
        (["build", "--offline", "--dist", "link"], "is a symlink"),
        (["build", "--offline", "--dist", "mlenv.toml"], "is a file"),
        (["build", "--offline", "--dist", "wheels"], "no valid build.json"),
        (["build", "--offline", "--dist", "forged"], "no valid build.json"),
        (["build", "--offline", "--dist", "dist-with-notes"], "holds notes.txt"),
        (["fetch", "--bundle", "."], "is the project directory"),
        (["fetch", "--bundle", "dist"], "no valid bundle.json"),
        (["fetch", "--bundle", "{home}/.cache/mlenv"], "is the cache"),
        (["export", "--format", "requirements", "-o", "mlenv.lock"], "is the lock"),
        (["export", "--format", "requirements", "-o", "mlenv.toml"], "is the manifest"),
        (["export", "--format", "requirements", "-o", "filelink"], "is a symlink"),
        (["export", "--format", "requirements", "-o", "fifo"], "is not a plain file"),
    ],
)
def test_every_output_option_refuses_what_mlenv_did_not_write(
    home: Path, args: list[str], says: str
) -> None:
    """Each output option, in each shape of the attack: exit 1 naming why, nothing changed."""
    project = home / "project"
    (project / "link").symlink_to(home.parent / "empty")
    (home.parent / "target.txt").write_text("mine")
    (project / "filelink").symlink_to(home.parent / "target.txt")
    (project / "forged").mkdir()
    (project / "forged" / "build.json").write_text("{}")
    shutil.copytree(project / "dist", project / "dist-with-notes")
    (project / "dist-with-notes" / "notes.txt").write_text("mine")
    os.mkfifo(project / "fifo")
    before = tree(home.parent)
    argv = [arg.format(home=home) for arg in args]
    refused(run_mlenv(argv, project, environment(home)), says)
    assert tree(home.parent) == before


# ---------------------------------------------------------------------------------------------
# Invariant 1: what is installed is what was hashed


@pytest.mark.parametrize("after", [1, 2, 3])
def test_an_artifact_swapped_after_its_check_never_ships(
    home: Path, tmp_path: Path, after: int
) -> None:
    """The cache file is replaced by a valid wheel of the same name with other code right
    after mlenv opened it for reading the 1st, 2nd or 3rd time. The old build hashed the path,
    then installed the path again: after the 1st open, the swapped code reached the image.
    Now, whenever the swap happens, the build ships exactly the locked bytes or refuses."""
    project = home / "project"
    reference = output_digests(project / "dist")
    shutil.rmtree(project / "dist")
    _, evil = build_wheel("hello", "1.0", files={"hello.py": b"print('EVIL')\n"})
    (tmp_path / "evil.whl").write_bytes(evil)
    cache_file = ArtifactCache(home / ".cache" / "mlenv").path(GOLDEN_SHA)
    result = subprocess.run(
        [sys.executable, "-c", SWAPPER, GOLDEN_SHA, str(cache_file), str(tmp_path / "evil.whl"),
         str(after), "build", "--offline"],
        cwd=project, env={**os.environ, **environment(home)}, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert cache_file.read_bytes() == evil, "the swap must have happened"
    assert "Traceback" not in result.stderr
    if result.returncode != 0:
        refused(result, "hello 1.0: cached file has")
        assert not (project / "dist").exists()
        return
    assert output_digests(project / "dist") == reference
    with tarfile.open(project / "dist" / "golden.tar.gz") as archive:
        for member in archive.getmembers():
            handle = archive.extractfile(member) if member.isfile() else None
            assert handle is None or b"EVIL" not in handle.read(), member.name


def test_a_bundle_is_never_made_from_a_tampered_cache(home: Path) -> None:
    """A same-size tampered cache file used to be linked into the bundle, with bundle.json
    vouching for it with the lock's hash; now fetch hashes what it copies and refuses."""
    project = home / "project"
    cache_file = ArtifactCache(home / ".cache" / "mlenv").path(GOLDEN_SHA)
    size = cache_file.stat().st_size
    cache_file.write_bytes(b"\0" * size)
    result = run_mlenv(["fetch", "--bundle", "../bundle"], project, environment(home))
    refused(result, "cached file has sha256")
    assert not (home / "bundle").exists()


@pytest.mark.parametrize("shape", ["symlink", "fifo", "directory"])
def test_a_bundle_entry_that_is_not_a_plain_file_is_reported_and_never_used(
    home: Path, tmp_path: Path, shape: str
) -> None:
    """verify --bundle names the entry, and a build using the bundle as its cache refuses it,
    even when the symlink points at the right bytes (they could change under the build)."""
    project = home / "project"
    assert run_mlenv(["fetch", "--bundle", "../bundle"], project, environment(home)).returncode == 0
    entry = ArtifactCache(home / "bundle").path(GOLDEN_SHA)
    good = tmp_path / "good.whl"
    shutil.copyfile(entry, good)
    entry.unlink()
    if shape == "symlink":
        entry.symlink_to(good)
    elif shape == "fifo":
        os.mkfifo(entry)
    else:
        entry.mkdir()
    result = run_mlenv(["verify", "--bundle", str(home / "bundle")], project, environment(home))
    assert result.returncode == 1
    assert "NOT-A-FILE" in result.stdout and GOLDEN_SHA in result.stdout, result.stdout
    shutil.rmtree(project / "dist")
    built = run_mlenv(
        ["--cache", str(home / "bundle"), "build", "--offline"], project, environment(home)
    )
    assert built.returncode == 1
    assert "Traceback" not in built.stderr
    assert not (project / "dist").exists()


# ---------------------------------------------------------------------------------------------
# Invariant 8: a lock is consistent or refused


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (
            lambda text: text.replace('version = "1.0"', 'version = "1.1"'),
            "package[0] (hello 1.1): version '1.1' is not the version of its file",
        ),
        (
            lambda text: text.replace('name = "hello"', 'name = "evil"'),
            "package[0] (evil 1.0): name 'evil' is not the name of its file",
        ),
        (lambda text: text.replace('url = "wheels/hello', 'url = "wheels/other/hello'), None),
        (
            lambda text: text.replace('url = "wheels/hello-1.0', 'url = "wheels/evil-1.0'),
            "url names the file 'evil-1.0-py3-none-any.whl'",
        ),
        (
            lambda text: text + text[text.index("[[platform") :].replace(GOLDEN_SHA, "e" * 64),
            "package[1] (hello 1.0): names the package of platform.linux-64.package[0] again",
        ),
    ],
    ids=["version", "name", "url-directory-is-fine", "url-file", "duplicate"],
)
@pytest.mark.parametrize(
    "args",
    [
        ["lock", "--check"],
        ["build", "--offline"],
        ["export", "--format", "requirements", "-o", "requirements.txt"],
        ["fetch", "--offline"],
        ["verify"],
    ],
    ids=lambda args: args[0],
)
def test_an_inconsistent_lock_is_refused_by_every_command(
    home: Path, edit: object, says: str | None, args: list[str]
) -> None:
    """Every command reading the lock refuses one whose entries contradict their files, with
    the entry named; nothing is written. (A URL in another directory is not a contradiction.)"""
    project = home / "project"
    lock = project / "mlenv.lock"
    assert callable(edit)
    lock.write_text(edit(lock.read_text()))
    before = tree(home)
    result = run_mlenv(args, project, environment(home))
    if says is None:
        assert "mlenv.lock: platform" not in result.stderr
        return
    refused(result, says)
    assert tree(home) == before
