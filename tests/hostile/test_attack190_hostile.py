"""Attack 190: the directory of a pylock.toml's ``file:`` wheels becomes a find-links one (a
pip lock's index-less wheels, uv's find-links written as an ``index``). A lock from an
untrusted repository named ``/`` (every file on the machine a root of the lock's ``file:``
URLs), ``/tmp`` or ``/dev/shm`` (any user's planted ``numpy-….whl`` a candidate for every
project), by ``..``, percent-escapes or a symlink too, or ``file://server/share`` (read as this
machine's ``/share``), and ``init --from`` wrote it into mlenv.toml for ``mlenv lock`` to
trust. Now such a directory is refused, naming the package: only an existing directory that
is yours (docs/security.md invariant 11) on this machine becomes the manifest's. And
``export --format pylock -o $'pylock.toml\n'`` passed the PEP 751 name check unwarned."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlenv.importers.core import ImportFileError
from mlenv.importers.files import import_file
from mlenv.limits import MAX_IMPORTED_REQUIREMENTS, LimitError
from tests.support.cli import run_in_process
from tests.support.golden import golden_project

pytestmark = pytest.mark.hostile

SHA = "0" * 64
WHEEL = "internal-1.0-py3-none-any.whl"


def _lock(tmp_path: Path, wheel: str, index: str = "") -> Path:
    """A one-package pylock.toml whose wheel is ``wheel`` (a ``url = …`` or ``path = …``)."""
    path = tmp_path / "project" / "pylock.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        'lock-version = "1.0"\ncreated-by = "pip"\n[[packages]]\nname = "internal"\n'
        f'version = "1.0"\n{index}[[packages.wheels]]\nname = "{WHEEL}"\n{wheel}\n'
        f'[packages.wheels.hashes]\nsha256 = "{SHA}"\n'
    )
    return path


def _shared(tmp_path: Path, mode: int) -> str:
    drop = tmp_path / "drop"
    drop.mkdir()
    drop.chmod(mode)  # a team's drop others may add files to, sticky or not
    return f'url = "{drop.as_uri()}/{WHEEL}"'


def _link_to_tmp(tmp_path: Path) -> str:
    (tmp_path / "wheels").symlink_to("/tmp")
    return f'url = "{(tmp_path / "wheels").as_uri()}/{WHEEL}"'


HOSTILE: dict[str, Callable[[Path], str]] = {
    "root": lambda _: f'url = "file:///{WHEEL}"',
    "tmp": lambda _: f'url = "file:///tmp/{WHEEL}"',
    "dev-shm": lambda _: f'url = "file:///dev/shm/{WHEEL}"',
    "percent-dotdot": lambda _: f'url = "file:///%2e%2e/tmp/{WHEEL}"',
    "relative-path-key": lambda _: f'path = "{"../" * 40}tmp/{WHEEL}"',
    "symlink-to-tmp": _link_to_tmp,
    "world-writable": lambda tmp: _shared(tmp, 0o777),
    "sticky-world-writable": lambda tmp: _shared(tmp, 0o1777),
    "a-device": lambda _: f'url = "file:///dev/null/{WHEEL}"',
    "missing": lambda tmp: f'url = "{tmp.as_uri()}/absent/{WHEEL}"',
    "other-host": lambda _: f'url = "file://server/share/{WHEEL}"',
}


@pytest.mark.parametrize("shape", HOSTILE)
def test_a_wheel_directory_that_is_not_yours_never_becomes_find_links(
    tmp_path: Path, shape: str
) -> None:
    path = _lock(tmp_path, HOSTILE[shape](tmp_path))
    with pytest.raises(ImportFileError) as refused:
        import_file(path)
    [problem] = refused.value.problems
    assert problem.where == f"{path}: package internal"
    assert "directory" in problem.message or "names the host 'server'" in problem.message
    assert problem.hint is not None and "directory of your own" in problem.hint


def test_uvs_find_links_index_at_tmp_is_refused(tmp_path: Path) -> None:
    """uv writes a find-links directory as the ``index`` its wheels sit in."""
    path = _lock(tmp_path, f'url = "file:///tmp/{WHEEL}"', 'index = "file:///tmp"\n')
    with pytest.raises(ImportFileError, match="1 requirement"):
        import_file(path)


def test_init_writes_no_manifest_naming_tmp(tmp_path: Path) -> None:
    path = _lock(tmp_path, f'url = "file:///tmp/{WHEEL}"')
    code, _, err = run_in_process(["init", "--from", str(path)], cwd=path.parent)
    assert code == 1 and "/tmp is writable by everyone" in err
    assert not (path.parent / "mlenv.toml").exists()


def test_your_own_directory_by_any_spelling_still_imports(tmp_path: Path) -> None:
    wheels = tmp_path / "my wheels"
    wheels.mkdir()
    (tmp_path / "link").symlink_to(wheels)
    spellings = [
        f'url = "{wheels.as_uri()}/{WHEEL}"',
        f'url = "file://localhost{wheels.as_uri()[len("file://") :]}/{WHEEL}"',
        f'url = "{(tmp_path / "link").as_uri()}/{WHEEL}"',
        f'path = "../my wheels/{WHEEL}"',
    ]
    for wheel in spellings:
        imported = import_file(_lock(tmp_path, wheel))
        assert imported.find_links == (str(wheels),), wheel
    code, _, err = run_in_process(["init", "--from", "pylock.toml"], cwd=tmp_path / "project")
    assert code == 0, err
    assert 'find-links = ["../my wheels"]' in (tmp_path / "project" / "mlenv.toml").read_text()


def test_an_output_name_ending_in_a_newline_is_warned_of(tmp_path: Path) -> None:
    """``-o $'pylock.toml\\n'``: the name check's ``$`` matched before the newline, so the file
    was written as a lock pip and uv never find, with no warning (``wrote pylock.toml``)."""
    project = golden_project(tmp_path / "project")
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    for name, warned in [("pylock.toml\n", True), ("pylock.toml", False)]:
        code, _, err = run_in_process(["export", "--format", "pylock", "-o", name], project, env)
        assert code == 0 and (project / name).is_file(), err
        assert ("is not a PEP 751 file name" in err) == warned, err


def test_a_lock_of_more_packages_than_any_import_holds_is_refused_when_read(
    tmp_path: Path,
) -> None:
    """The pins were bounded only by the manifest check, after tomlkit wrote them all: 20,000
    packages took 86 s to refuse. Now read_pylock counts them, as the requirements reader does."""
    entry = (
        '[[packages]]\nname = "p{0}"\nversion = "1.0"\n[[packages.wheels]]\n'
        'url = "https://files.pythonhosted.org/packages/x/p{0}-1.0-py3-none-any.whl"\n'
        f'[packages.wheels.hashes]\nsha256 = "{SHA}"\n'
    )
    path = tmp_path / "pylock.toml"
    count = MAX_IMPORTED_REQUIREMENTS + 1
    body = "".join(entry.format(i) for i in range(count))
    path.write_text(f'lock-version = "1.0"\ncreated-by = "x"\n{body}')
    with pytest.raises(LimitError, match=f"packages: more than {MAX_IMPORTED_REQUIREMENTS:,}"):
        import_file(path)


def test_an_index_named_through_a_link_others_could_repoint_is_refused(tmp_path: Path) -> None:
    """An ``index`` is written as the lock spells it: a link in a directory others may write,
    naming a directory of yours, passed when only its target was judged, and whoever can
    replace the link chose the manifest's index later. Every component is judged now."""
    mine = tmp_path / "mine"
    mine.mkdir()
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "index").symlink_to(mine)
    drop.chmod(0o777)
    wheel = f'url = "https://pkgs.corp.invalid/{WHEEL}"'
    path = _lock(tmp_path, wheel, f'index = "{(drop / "index").as_uri()}"\n')
    with pytest.raises(ImportFileError) as refused:
        import_file(path)
    [problem] = refused.value.problems
    assert f"{drop} is writable by everyone" in problem.message
    imported = import_file(_lock(tmp_path, wheel, f'index = "{mine.as_uri()}"\n'))
    assert imported.index_url == mine.as_uri()


@pytest.mark.parametrize("url", [f"file://[::g]/{WHEEL}", f"https://[::g]/{WHEEL}"])
def test_a_wheel_url_that_is_no_url_is_refused_not_an_internal_error(
    tmp_path: Path, url: str
) -> None:
    """urlsplit raises on a bracketed host it cannot read: init ended in exit 2."""
    path = _lock(tmp_path, f'url = "{url}"')
    code, _, err = run_in_process(["init", "--from", str(path)], cwd=path.parent)
    assert code == 1 and f"{url} is not a URL" in err, err
