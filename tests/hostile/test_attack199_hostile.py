"""Attack 199: pass 198 judged every local place an imported file names, but not always as
mlenv.toml's readers read it. rattler cuts a channel's platform list (``/tmp[linux-64]`` is
``/tmp``), takes ``..`` by name (``./link/../../drop`` whatever ``link`` points at) and reads
``\\\\x\\y`` as the path ``./x/y``; mlenv.toml reads ``~/x`` as a directory named ``~``, which
the judge had expanded to your home. Each let a place others choose into the manifest. A NUL
in a path (``"/tmp\\u0000x"`` in TOML) and a ``-f`` path too long for the file system ended
``init --from`` in a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlenv.errors import ManifestError
from mlenv.importers.core import ImportFileError
from mlenv.importers.files import import_file
from mlenv.manifest_read import loads
from tests.support.cli import run_in_process, run_mlenv
from tests.support.conda_channel import build_conda_package, write_channel

pytestmark = pytest.mark.hostile


def _write(project: Path, name: str, text: str) -> Path:
    project.mkdir(exist_ok=True)
    path = project / name
    path.write_text(text)
    return path


def _environment_yml(project: Path, channel: str) -> Path:
    return _write(project, "environment.yml", f"channels:\n  - '{channel}'\n"
                  "dependencies:\n  - python=3.11\n  - numpy\n")  # fmt: skip


def _pixi(project: Path, channel: str) -> Path:
    text = (
        f'[workspace]\nname = "x"\nchannels = [{_toml(channel)}]\nplatforms = ["linux-64"]\n'
        '[dependencies]\nnumpy = "*"\n'
    )
    return _write(project, "pixi.toml", text)


def _toml(value: str) -> str:
    return "'" + value + "'"


CHANNEL_FILES: dict[str, Callable[[Path, str], Path]] = {
    "environment.yml": _environment_yml,
    "pixi.toml": _pixi,
}


def _drop(tmp_path: Path) -> Path:
    """A directory any user may add files (a channel's subdirs) to."""
    drop = tmp_path / "drop"
    drop.mkdir(exist_ok=True)
    drop.chmod(0o777)
    return drop


def _refused(path: Path, project: Path) -> str:
    with pytest.raises(ImportFileError) as refused:
        import_file(path, project=project)
    [problem] = refused.value.problems
    assert problem.where.startswith(f"{path}: ")
    return f"{problem.where}: {problem.message}"


@pytest.mark.parametrize("kind", CHANNEL_FILES)
@pytest.mark.parametrize(
    "channel", ["/tmp[linux-64]", "file:///tmp[linux-64,noarch]", "{drop}[noarch]"]
)
def test_a_channel_is_judged_without_its_platform_list(
    tmp_path: Path, kind: str, channel: str
) -> None:
    """rattler's ``Channel.from_str`` cuts ``[platforms]`` off before it reads the path: the
    judge saw a missing ``/tmp[linux-64]`` under ``/`` and passed it."""
    channel = channel.format(drop=_drop(tmp_path))
    project = tmp_path / "project"
    said = _refused(CHANNEL_FILES[kind](project, channel), project)
    assert f"channel {channel}: the directory " in said
    assert "writable by everyone" in said


@pytest.mark.parametrize("kind", CHANNEL_FILES)
def test_a_channel_is_judged_with_dotdot_taken_by_name(tmp_path: Path, kind: str) -> None:
    """rattler normalises ``..`` by name: ``./deep/../../drop`` is the shared ``drop`` beside
    the project whatever ``deep`` links to; the judge followed the link into your own tree."""
    _drop(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    below = tmp_path / "mine" / "a" / "b"
    below.mkdir(parents=True)
    (project / "deep").symlink_to(below)
    said = _refused(CHANNEL_FILES[kind](project, "./deep/../../drop"), project)
    assert f"{tmp_path / 'drop'} is writable by everyone" in said


@pytest.mark.parametrize("kind", CHANNEL_FILES)
def test_a_backslash_channel_is_the_relative_path_rattler_reads(tmp_path: Path, kind: str) -> None:
    """``\\\\drop\\x`` is a path to rattler (``./drop/x``), not a channel name: it was not
    judged at all."""
    project = tmp_path / "project"
    project.mkdir()
    _drop(project)
    said = _refused(CHANNEL_FILES[kind](project, "\\\\drop\\x"), project)
    assert f"{project / 'drop' / 'x'} cannot be trusted: {project / 'drop'} is writable" in said


def _shared_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory others may write (a team's checkout), and a home of your own."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    project = tmp_path / "project"
    project.mkdir()
    project.chmod(0o777)
    return project


TILDE_FILES: dict[str, Callable[[Path], Path]] = {
    "requirements -f": lambda p: _write(p, "requirements.txt", "-f ~/wheels\nnumpy==2.1.0\n"),
    "uv find-links": lambda p: _write(
        p,
        "pyproject.toml",
        '[project]\nname = "x"\nversion = "1"\ndependencies = ["numpy"]\n'
        '[tool.uv]\nfind-links = ["~/wheels"]\n',
    ),
}


@pytest.mark.parametrize("kind", TILDE_FILES)
def test_tilde_is_judged_where_the_manifest_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """mlenv.toml's ``find-links = ["~/wheels"]`` is ``<project>/~/wheels``, which anyone may
    make here; the judge had expanded it to ``$HOME/wheels`` (yours) and passed it."""
    project = _shared_project(tmp_path, monkeypatch)
    said = _refused(TILDE_FILES[kind](project), project)
    assert f"{project / '~' / 'wheels'} cannot be trusted: {project} is writable by" in said


def test_a_requirements_tilde_is_your_home_as_pip_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip expands ``-f ~/wheels`` when that exists: the manifest names that directory, which
    the judge passed, not ``<project>/~/wheels``."""
    project = _shared_project(tmp_path, monkeypatch)
    project.chmod(0o700)
    (tmp_path / "home" / "wheels").mkdir()
    path = TILDE_FILES["requirements -f"](project)
    code, _, err = run_in_process(["init", "--from", str(path)], cwd=project)
    assert code == 0, err
    assert 'find-links = ["../home/wheels"]' in (project / "mlenv.toml").read_text()


NUL_FILES: dict[str, Callable[[Path], Path]] = {
    "uv find-links": lambda p: _write(
        p,
        "pyproject.toml",
        '[project]\nname = "x"\nversion = "1"\ndependencies = ["numpy"]\n'
        '[tool.uv]\nfind-links = ["/tmp\\u0000x"]\n',
    ),
    "uv index": lambda p: _write(
        p,
        "pyproject.toml",
        '[project]\nname = "x"\nversion = "1"\ndependencies = ["numpy"]\n'
        '[[tool.uv.index]]\nname = "a"\nurl = "file:///home/\\u0000"\n',
    ),
    "pixi channel": lambda p: _write(
        p,
        "pixi.toml",
        '[workspace]\nname = "x"\nchannels = ["/home/\\u0000x"]\nplatforms = ["linux-64"]\n'
        '[dependencies]\nnumpy = "*"\n',
    ),
}


@pytest.mark.parametrize("kind", NUL_FILES)
def test_a_nul_in_a_place_is_refused_not_a_traceback(tmp_path: Path, kind: str) -> None:
    project = tmp_path / "project"
    said = _refused(NUL_FILES[kind](project), project)
    assert "holds a NUL byte, which no directory name can" in said


def test_a_find_links_path_too_long_for_the_file_system_is_no_traceback(tmp_path: Path) -> None:
    project = tmp_path / "project"
    path = _write(project, "requirements.txt", "-f /tmp/" + "a/" * 2100 + "\nnumpy==2.1.0\n")
    code, _, err = run_in_process(["init", "--from", str(path)], cwd=project)
    assert code == 1, err
    assert "Traceback" not in err and "File name too long" not in err
    assert "1 local place(s) mlenv cannot trust; nothing was written" in err


def test_channels_only_you_control_and_names_still_import(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "chan").mkdir(parents=True)
    channels = ["./chan[linux-64]", "conda-forge", "pytorch/label/nightly", "~", ".chan"]
    path = _write(project, "environment.yml", "channels:\n"
                  + "".join(f"  - '{c}'\n" for c in channels)
                  + "dependencies:\n  - python=3.11\n")  # fmt: skip
    assert import_file(path, project=project).channels == tuple(channels)


@pytest.mark.parametrize(
    "spec",
    [
        "/tmp/evil-1.0-0.conda",
        "file:///tmp/evil-1.0-0.tar.bz2",
        "file:///tmp/evil-1.0-0.conda#d41d8cd98f00b204e9800998ecf8427e",
        "file:///tmp/evil-1.0-0.conda?x=1",
        "https://127.0.0.1:9/evil-1.0-0.conda",
        "numpy[url=file:///tmp/x.conda]",
        "numpy[ url = 'file:///tmp/e-1-0.conda' ]",
        "numpy[version='1.*', url='https://h/x.conda']",
    ],
)
def test_a_conda_package_named_by_its_file_is_refused(tmp_path: Path, spec: str) -> None:
    """rattler reads a MatchSpec naming a package file or URL from that place itself (its
    "direct url query"): a file anyone planted in ``/tmp``, or any host by rattler's own client,
    with no channel rule or ``origins`` judging it. The manifest refuses it, so no import
    writes it and no hand-written manifest locks it."""
    project = tmp_path / "project"
    path = _write(project, "environment.yml", "channels:\n  - conda-forge\n"
                  f"dependencies:\n  - python=3.11\n  - \"{spec}\"\n")  # fmt: skip
    code, _, err = run_in_process(["init", "--from", str(path)], cwd=project)
    assert code == 1, err
    assert "[conda].dependencies[1]" in err and "imported from" in err
    assert "names a package file or URL" in err
    assert not (project / "mlenv.toml").exists()
    with pytest.raises(ManifestError):
        loads(
            '[environment]\nname = "x"\npython = "3.11"\n'
            f'[conda]\nchannels = ["conda-forge"]\ndependencies = ["{spec}"]\n',
            "mlenv.toml",
        )
    assert loads(  # a channel filter is no direct URL: rattler asks only the listed channels
        '[environment]\nname = "x"\npython = "3.11"\n'
        '[conda]\nchannels = ["conda-forge"]\ndependencies = ["conda-forge::numpy 1.26.*"]\n',
        "mlenv.toml",
    ).conda.dependencies == ("conda-forge::numpy 1.26.*",)


@pytest.mark.parametrize("spelled", ["./chan", "\\\\chan", "./chan[linux-64,noarch]"])
def test_a_relative_channel_is_read_from_the_manifests_directory(
    tmp_path: Path, spelled: str
) -> None:
    """``init --from`` judged ``./chan`` in the project; rattler read it from wherever lock
    ran, so ``mlenv --manifest proj/mlenv.toml lock`` from a shared directory locked the
    ``purepkg 6.6`` another user put in its ``chan``. It is read from the manifest's now, in
    every spelling rattler reads as relative (``\\\\chan`` too, which ``places`` judged in the
    project while the lock still handed it to rattler as it was)."""
    project, shared = tmp_path / "proj", tmp_path / "shared"
    for directory, version in ((project / "chan", "1.0"), (shared / "chan", "6.6")):
        directory.mkdir(parents=True)
        write_channel(directory, [build_conda_package("purepkg", version, "0")])
    path = _environment_yml(project, spelled)
    path.write_text(path.read_text().replace("  - python=3.11\n  - numpy\n", "  - purepkg\n"))
    code, _, err = run_in_process(["init", "--from", str(path)], cwd=project)
    assert code == 0, err
    manifest = str(project / "mlenv.toml")
    locked = run_mlenv(["--manifest", manifest, "lock"], shared,
                       {"MLENV_CACHE_DIR": str(tmp_path / "cache")})  # fmt: skip
    assert locked.returncode == 0, locked.stderr
    text = (project / "mlenv.lock").read_text()
    assert f'channel = "{(project / "chan").as_uri()}"' in text
    assert 'version = "1.0"' in text and "6.6" not in text


def _pylock(project: Path, where: str) -> Path:
    wheel = "numpy-2.1.0-py3-none-any.whl"
    return _write(project, "pylock.toml", 'lock-version = "1.0"\ncreated-by = "pip"\n'
                  f'[[packages]]\nname = "numpy"\nversion = "2.1.0"\n{where}\n'
                  f'[[packages.wheels]]\nname = "{wheel}"\npath = "wheels/{wheel}"\n'
                  f'hashes = {{sha256 = "{"0" * 64}"}}\n')  # fmt: skip


@pytest.mark.parametrize(
    "where",
    ['index = "' + "a/" * 2100 + '"', 'index = "/tmp/' + "a/" * 2100 + '"'],
)
def test_a_pylock_place_no_file_system_holds_is_refused_not_a_traceback(
    tmp_path: Path, where: str
) -> None:
    project = tmp_path / "project"
    said = _refused(_pylock(project, where), project)
    assert "its wheels' directory" in said


def test_a_pylock_wheel_path_with_a_nul_is_refused_not_a_traceback(tmp_path: Path) -> None:
    project = tmp_path / "project"
    path = _pylock(project, "")
    path.write_text(path.read_text().replace('path = "wheels/', 'path = "wheels\\u0000/'))
    said = _refused(path, project)
    assert "is not a directory on this machine" in said


def test_a_line_break_in_a_refused_place_forges_no_line(tmp_path: Path) -> None:
    """The refusal echoed the place whole: ``/tmp/x\\nerror: ...`` printed a second line that
    read as mlenv's own error."""
    project = tmp_path / "project"
    path = _write(project, "pyproject.toml", '[project]\nname = "x"\nversion = "1"\n'
                  '[tool.uv]\nfind-links = ["/tmp/x\\nerror: all good"]\n')  # fmt: skip
    code, _, err = run_in_process(["init", "--from", str(path)], cwd=project)
    assert code == 1, err
    assert "\nerror: all good" not in err
    assert "the directory /tmp/x\\nerror: all good is missing" in err
