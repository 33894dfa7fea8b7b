"""Attack 198: pass 190 refused a pylock.toml whose wheels sit in ``/tmp``, but the same place
came in through every other importer: a requirements.txt's ``-f /tmp`` or ``--index-url
file:///tmp/idx/simple``, uv's ``find-links`` and ``[[tool.uv.index]]``, pixi's
``find-links``, an environment.yml's local channel. ``init --from`` wrote each into mlenv.toml,
whose places ``mlenv lock`` trusts, so any user's planted wheel became a candidate for every
project. Now every local place any importer yields is judged at one place
(``importers.files.import_file`` by ``importers.places.not_yours``): an existing directory that
is yours and closed to others, or a missing one nobody else can create."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.importers.core import ImportFileError
from mlenv.importers.files import import_file
from mlenv.importers.places import not_yours
from tests.support.cli import run_in_process

pytestmark = pytest.mark.hostile


def _shared(tmp_path: Path, mode: int) -> str:
    drop = tmp_path / "drop"
    drop.mkdir(exist_ok=True)
    drop.chmod(mode)
    return str(drop)


def _link_to_tmp(tmp_path: Path) -> str:
    link = tmp_path / "wheels"
    if not link.is_symlink():
        link.symlink_to("/tmp")
    return str(link)


# each: a local place, as a file may spell it, that nobody should trust
PLACES: dict[str, Callable[[Path], str]] = {
    "tmp": lambda _: "/tmp",
    "tmp-url": lambda _: "file:///tmp",
    "dev-shm": lambda _: "/dev/shm",
    "root": lambda _: "/",
    "root-url": lambda _: "file:///",
    "missing-under-tmp": lambda _: "/tmp/mlenv-attack198-absent/simple",
    "dotdot": lambda _: "../" * 30 + "tmp",
    "percent-dotdot": lambda _: "file:///%2e%2e/tmp",
    "dotdot-after-missing": lambda _: "/mlenv-attack198-absent/../tmp",
    "symlink-to-tmp": _link_to_tmp,
    "world-writable": lambda tmp: _shared(tmp, 0o777),
    "sticky-world-writable": lambda tmp: _shared(tmp, 0o1777),
    "missing-under-world-writable": lambda tmp: _shared(tmp, 0o777) + "/later",
    "a-device": lambda _: "/dev/null/x",
    "other-host": lambda _: "file://server/share",
}


def _requirements(tmp_path: Path, option: str) -> Path:
    path = tmp_path / "project" / "requirements.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"{option}\nnumpy==2.1.0\n")
    return path


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "project" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def _as_url(place: str) -> str:
    return place if "://" in place else "file://" + quote(str(Path(place).absolute()))


# each importer's way of naming a local place, given the place
IMPORTERS: dict[str, Callable[[Path, str], Path]] = {
    "requirements -f": lambda tmp, p: _requirements(tmp, f"-f {p}"),
    "requirements --find-links=": lambda tmp, p: _requirements(tmp, f"--find-links={p}"),
    "requirements --index-url": lambda tmp, p: _requirements(tmp, f"--index-url {_as_url(p)}"),
    "requirements --extra-index-url": lambda tmp, p: _requirements(
        tmp, f"--extra-index-url {_as_url(p)}"
    ),
    "uv find-links": lambda tmp, p: _write(
        tmp,
        "pyproject.toml",
        f'[project]\nname = "x"\nversion = "1"\ndependencies = ["numpy"]\n'
        f'[tool.uv]\nfind-links = ["{p}"]\n',
    ),
    "uv index": lambda tmp, p: _write(
        tmp,
        "pyproject.toml",
        f'[project]\nname = "x"\nversion = "1"\ndependencies = ["numpy"]\n'
        f'[[tool.uv.index]]\nname = "mine"\nurl = "{_as_url(p)}"\n',
    ),
    "pixi find-links": lambda tmp, p: _write(
        tmp,
        "pixi.toml",
        f'[workspace]\nname = "x"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        f'[pypi-options]\nfind-links = [{{ path = "{p}" }}]\n'
        '[pypi-dependencies]\nnumpy = "*"\n',
    ),
    "environment.yml channel": lambda tmp, p: _write(
        tmp,
        "environment.yml",
        f"channels:\n  - {_as_url(p) if p.startswith('../') else p}\n"
        "dependencies:\n  - python=3.11\n  - numpy\n",
    ),
}


@pytest.mark.parametrize("importer", IMPORTERS)
@pytest.mark.parametrize("shape", PLACES)
def test_no_importer_hands_the_manifest_a_place_others_choose(
    tmp_path: Path, importer: str, shape: str
) -> None:
    path = IMPORTERS[importer](tmp_path, PLACES[shape](tmp_path))
    with pytest.raises(ImportFileError) as refused:
        import_file(path, project=path.parent)
    assert "local place(s) mlenv cannot trust" in refused.value.message
    [problem] = refused.value.problems
    assert problem.where.startswith(f"{path}: ")
    assert "directory" in problem.message or "names the host 'server'" in problem.message
    assert problem.hint is not None and "directory of your own" in problem.hint


def test_init_writes_nothing_and_says_where(tmp_path: Path) -> None:
    path = _requirements(tmp_path, "--find-links /tmp\n--index-url file:///tmp/absent/simple")
    code, _, err = run_in_process(["init", "--from", str(path)], cwd=path.parent)
    assert code == 1, err
    assert "find-links /tmp: the directory /tmp is writable by everyone" in err
    assert "/tmp/absent/simple is missing, and /tmp, where anyone may make it" in err
    assert "Traceback" not in err
    assert not (path.parent / "mlenv.toml").exists()


def test_places_only_you_control_still_import(tmp_path: Path) -> None:
    """Your own directory by any spelling, a missing one under it or under ``/`` (nobody else
    can create it), remote URLs and channel names: imported as before."""
    project = tmp_path / "project"
    (project / "wheels").mkdir(parents=True)
    (tmp_path / "link").symlink_to(project / "wheels")
    kept = [
        "./wheels",
        "wheels",
        str(project / "wheels"),
        (project / "wheels").as_uri(),
        str(tmp_path / "link"),
        "./not-built-yet",
        "file:///nonexistent-mlenv-index/simple",
        "https://download.pytorch.org/whl/cu130",
    ]
    for place in kept:
        assert not_yours(place, project) is None, place
    path = _requirements(tmp_path, "-f ./wheels\n-f ./not-built-yet")
    code, _, err = run_in_process(["init", "--from", str(path)], cwd=project)
    assert code == 0, err
    assert 'find-links = ["wheels", "./not-built-yet"]' in (project / "mlenv.toml").read_text()
    yml = _write(tmp_path, "environment.yml", "channels:\n  - conda-forge\n  - nvidia\n"
                 "dependencies:\n  - python=3.11\n")  # fmt: skip
    assert import_file(yml, project=project).channels == ("conda-forge", "nvidia")


_SEGMENT = st.sampled_from(["", ".", "..", "tmp", "%2e%2e", "%74mp", "dev", "shm"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_SEGMENT, min_size=1, max_size=8), st.booleans(), st.booleans())
def test_every_spelling_that_reaches_a_shared_directory_is_refused(
    segments: list[str], as_url: bool, trailing: bool
) -> None:
    """Any spelling (``..``, ``.``, ``//``, percent-escapes in a URL) is judged where it lands:
    it lands in ``/``, ``/tmp``, ``/dev/shm`` or below a place others write, never passes."""
    path = "/" + "/".join(segments) + ("/" if trailing else "")
    location = "file://" + path if as_url else path.replace("%2e", ".").replace("%74", "t")
    landed = os.path.realpath("/" + "/".join(s.replace("%2e", ".").replace("%74", "t")
                                             for s in segments))  # fmt: skip
    why = not_yours(location, Path("/"))
    shared = landed in ("/", "/tmp", "/dev/shm") or landed.startswith(("/tmp/", "/dev/shm/"))
    if shared:
        assert why is not None, (location, landed)


def _pylock(tmp_path: Path, entries: list[tuple[str, str]]) -> Path:
    """A pylock.toml of numpy entries, each ``(version, marker)`` from PyPI."""
    text = 'lock-version = "1.0"\ncreated-by = "pip"\nextras = ["gpu"]\n'
    for version, marker in entries:
        wheel = f"numpy-{version}-py3-none-any.whl"
        text += (
            f'[[packages]]\nname = "numpy"\nversion = "{version}"\n'
            + (f"marker = '{marker}'\n" if marker else "")
            + f'index = "https://pypi.org/simple"\n[[packages.wheels]]\nname = "{wheel}"\n'
            f'url = "https://files.pythonhosted.org/packages/x/{wheel}"\n'
            f'hashes = {{sha256 = "{"0" * 64}"}}\n'
        )
    return _write(tmp_path, "pylock.toml", text)


@pytest.mark.parametrize(
    "entries",
    [
        [("2.1.0", ""), ("1.26.4", "")],
        [("2.1.0", 'sys_platform == "linux"'), ("1.26.4", 'sys_platform == "linux"')],
        [("2.1.0", '"gpu" in extras'), ("1.26.4", "")],
    ],
)
def test_a_pylock_naming_one_project_twice_for_one_target_is_refused(
    tmp_path: Path, entries: list[tuple[str, str]]
) -> None:
    """uv refuses such a lock ("Multiple active package entries"); imported, it became two ==
    pins no lock could meet. The ``gpu`` extra is chosen below, so both entries install."""
    with pytest.raises(ImportFileError) as refused:
        import_file(_pylock(tmp_path, entries), groups=["gpu"])
    [problem] = refused.value.problems
    assert problem.where.endswith("package numpy")
    assert "locked twice, 2.1.0 and 1.26.4" in problem.message


def test_entries_a_marker_tells_apart_still_import(tmp_path: Path) -> None:
    entries = [
        ("2.1.0", 'python_version >= "3.12"'),
        ("1.26.4", 'python_version < "3.12"'),
        ("2.1.0", 'python_version >= "3.12"'),  # the same pin twice is one pin
        ("2.0.0", '"gpu" in extras'),  # not chosen: not installed
    ]
    imported = import_file(_pylock(tmp_path, entries))
    assert sorted(set(imported.pypi)) == [
        'numpy==1.26.4; python_version < "3.12"',
        'numpy==2.1.0; python_version >= "3.12"',
    ]
