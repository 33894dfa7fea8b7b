"""Attack 209: conda channel spellings and import places read otherwise by mlenv and by the
tools that open them. A ``~/chan`` channel with no home directory ended ``lock`` in an internal
error, and with an empty or relative HOME mlenv and rattler read different directories; a
``//srv/chan`` channel was judged as ``/srv/chan`` but opened by rattler as the host ``srv``'s,
a name relative to the working directory; a pylock.toml wheel URL ``file:x/w.whl`` was read
from ``init``'s working directory; and a spelling refused by the import's judge was summed up
as a place mlenv cannot trust."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlenv.importers.core import ImportFileError
from mlenv.importers.files import import_file
from tests.support.channel_projects import libgomp_channel as _channel
from tests.support.channel_projects import libgomp_manifest as _manifest
from tests.support.channel_projects import refused_channel_import
from tests.support.cli import run_mlenv
from tests.support.passwd_db import under_passwd

pytestmark = pytest.mark.hostile


# --- ~/chan with no home -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("home_of_root", "home", "why"),
    [
        (None, None, "HOME is unset or empty and user id 0 has no home"),
        (None, "", "HOME is unset or empty and user id 0 has no home"),
        ("/root", "rel", "HOME is 'rel', not an absolute path"),
    ],
)
def test_a_home_channel_with_no_home_is_refused_at_its_key(
    tmp_path: Path, home_of_root: str | None, home: str | None, why: str
) -> None:
    """A container started as a uid the image's passwd does not list, HOME unset: lock ended
    in "internal error" (``Path.expanduser``'s RuntimeError). With an empty HOME mlenv read
    ``/chan`` and rattler refused the channel; with HOME=rel mlenv read ``<project>/rel/chan``
    and locked from it, though rattler refuses a relative home."""
    project = tmp_path / "project"
    _channel(project / "rel" / "chan")
    (project / "mlenv.toml").write_text(_manifest("~/chan"))
    prefix = under_passwd(tmp_path / "etc", home_of_root, home)
    done = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "c")}, prefix=prefix)
    assert done.returncode == 1, done.stderr
    assert f"conda.channels: the channel ~/chan is in your home directory, and {why}" in (
        done.stderr
    )
    assert "hint: set HOME" in done.stderr and not (project / "mlenv.lock").exists()


def test_an_empty_home_is_the_passwd_home_as_rattler_reads_it(tmp_path: Path) -> None:
    """rattler takes an empty HOME as unset (the passwd entry's home), Python's expanduser as
    ``/``: the lock read the passwd home's channel while ``lock --check`` and fetch held it
    to ``/chan``."""
    home = tmp_path / "home"
    _channel(home / "chan")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "mlenv.toml").write_text(_manifest("~/chan"))
    prefix = under_passwd(tmp_path / "etc", str(home), "")
    env = {"MLENV_CACHE_DIR": str(tmp_path / "c")}
    for args in (["lock"], ["lock", "--check"], ["verify"], ["fetch"]):
        done = run_mlenv(args, tmp_path / "project", env, prefix=prefix)
        assert done.returncode == 0, (args, done.stdout + done.stderr)
    locked = (tmp_path / "project" / "mlenv.lock").read_text()
    assert f'channel = "{(home / "chan").as_uri()}"' in locked


@pytest.mark.parametrize("args", [["lock", "--check"], ["lock"]])
def test_a_home_channel_checked_under_a_relative_home_is_a_clear_error(
    tmp_path: Path, args: list[str]
) -> None:
    """A lock of ``~/chan`` made with HOME set, then checked with HOME=rel: the no-op fast
    path read the channel through ``in_home`` outside any guard, and ``lock --check`` ended in
    a traceback. The fast path now leaves it to the full CLI, which names the key; no fresh
    verdict is kept for it either (``drift.reads_places``)."""
    home = tmp_path / "home"
    _channel(home / "chan")
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(_manifest("~/chan"))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "c"), "HOME": str(home)}
    assert run_mlenv(["lock"], project, env).returncode == 0
    assert run_mlenv(["lock", "--check"], project, env).returncode == 0
    done = run_mlenv(args, project, {**env, "HOME": "rel"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "the channel ~/chan is in your home directory, and HOME is 'rel'" in done.stderr


# --- //srv/chan ----------------------------------------------------------------------------------


@pytest.mark.parametrize("listed", ["", "[linux-64]"])
def test_a_double_slash_channel_is_refused_with_a_hint(tmp_path: Path, listed: str) -> None:
    """rattler reads ``//srv/chan`` as ``file://srv/chan/`` and opens
    ``\\\\srv\\chan\\noarch\\/repodata.json`` in the working directory: lock failed naming
    that file. mlenv.toml refuses the spelling now, as the host rattler makes of it."""
    _channel(tmp_path / "chan")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "mlenv.toml").write_text(_manifest(f"/{tmp_path}/chan{listed}"))
    done = run_mlenv(["lock"], tmp_path / "project", {"MLENV_CACHE_DIR": str(tmp_path / "c")})
    assert done.returncode == 1
    assert (
        f"starts with '//', which rattler reads as a file: URL of the host '{tmp_path.parts[1]}'"
        in done.stderr
    )
    assert "hint: write the channel's directory with one leading slash" in done.stderr


def test_a_triple_slash_channel_is_the_absolute_directory(tmp_path: Path) -> None:
    """``///srv/chan`` is ``/srv/chan`` to rattler and to mlenv: it locks, stays fresh, and
    fetch reads it."""
    _channel(tmp_path / "chan")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "mlenv.toml").write_text(_manifest(f"//{tmp_path}/chan"))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "c")}
    for args in (["lock"], ["lock", "--check"], ["fetch"]):
        done = run_mlenv(args, tmp_path / "project", env)
        assert done.returncode == 0, (args, done.stdout + done.stderr)
    assert "up to date" in run_mlenv(["lock", "--check"], tmp_path / "project", env).stderr


def test_init_from_refuses_a_double_slash_channel(tmp_path: Path) -> None:
    """The judge read ``//<project>/chan`` as ``<project>/chan`` (yours) and wrote it; rattler
    would then have opened a file named ``\\\\...`` in lock's working directory."""
    project = tmp_path / "project"
    _channel(project / "chan")
    path, refused = refused_channel_import(project, f"/{project}/chan")
    [problem] = refused.problems
    assert problem.where == f"{path}: channel /{project}/chan"
    assert "starts with '//'" in problem.message and "one leading slash" in str(problem.hint)
    assert refused.message == (
        f"{path}: 1 place(s) that cannot be read as written; nothing was written"
    )


# --- pylock.toml file:x wheel URLs ---------------------------------------------------------------


def _pylock(url: str) -> str:
    wheel = "numpy-2.1.0-py3-none-any.whl"
    return (
        'lock-version = "1.0"\ncreated-by = "pip"\n[[packages]]\nname = "numpy"\n'
        f'version = "2.1.0"\n[[packages.wheels]]\nname = "{wheel}"\nurl = "{url}/{wheel}"\n'
        f'hashes = {{sha256 = "{"0" * 64}"}}\n'
    )


@pytest.mark.parametrize("url", ["file:wheels", "file:./wheels", "FILE:wheels"])
def test_init_from_pylock_refuses_a_wheel_url_without_slashes(tmp_path: Path, url: str) -> None:
    """``file:wheels/numpy-...whl`` was read from init's working directory (``_local``): run
    from a directory holding ``wheels``, that directory became the manifest's find-links, not
    one beside the lock; pip reads it so too, uv as ``/wheels``."""
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    (elsewhere / "wheels").mkdir(parents=True)
    (project / "pylock.toml").write_text(_pylock(url))
    done = run_mlenv(["--manifest", str(project / "mlenv.toml"), "init", "--from",
                      str(project / "pylock.toml")], elsewhere)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"{url}/numpy-2.1.0-py3-none-any.whl is a file: URL without '//'" in done.stderr
    assert "hint: write each wheel's url as file:///ABSOLUTE/PATH" in done.stderr
    assert not (project / "mlenv.toml").exists()


def test_init_from_pylock_keeps_a_file_url_with_slashes(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "wheels").mkdir(parents=True)
    (project / "pylock.toml").write_text(_pylock((project / "wheels").as_uri()))
    done = run_mlenv(["init", "--from", "pylock.toml"], project)
    assert done.returncode == 0, done.stderr
    assert 'find-links = ["wheels"]' in (project / "mlenv.toml").read_text()


# --- the import's summary ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("links", "summary"),
    [
        (["file:wh"], "1 place(s) that cannot be read as written"),
        (["/tmp"], "1 local place(s) mlenv cannot trust"),
        (
            ["file:wh", "/tmp"],
            "1 local place(s) mlenv cannot trust and 1 place(s) that cannot be read as written",
        ),
    ],
)
def test_the_summary_says_what_was_refused(tmp_path: Path, links: list[str], summary: str) -> None:
    """A ``file:`` without ``//`` is a spelling no two readers read alike, not a place mlenv
    cannot trust, which the summary said of it."""
    project = tmp_path / "project"
    (project / "wh").mkdir(parents=True)
    path = project / "requirements.txt"
    path.write_text("".join(f"-f {link}\n" for link in links) + "numpy\n")
    with pytest.raises(ImportFileError) as refused:
        import_file(path, project=project)
    assert refused.value.message == f"{path}: {summary}; nothing was written"


# --- a relative channel missing here -------------------------------------------------------------


def _relative_channel_project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    project = tmp_path / "proj"
    _channel(project / "chan")
    (project / "mlenv.toml").write_text(_manifest("./chan"))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["lock"], project, env).returncode == 0
    return project, env


def test_a_bundle_of_a_relative_channel_is_fresh_where_it_is_carried(tmp_path: Path) -> None:
    """Why ``drift`` holds a relative channel missing here by its tail: a bundle carries the
    manifest and the lock as made, never the channel, and the air gap judges the pair from
    the bundle's directory. Stale there, no bundle of a ``./chan`` project could be used."""
    project, env = _relative_channel_project(tmp_path)
    bundle = tmp_path / "bundle"
    assert run_mlenv(["fetch", "--bundle", str(bundle)], project, env).returncode == 0
    assert not (bundle / "chan").exists()
    air_gap = {"MLENV_CACHE_DIR": str(bundle)}
    for args in (["verify", "--bundle", str(bundle)], ["lock", "--check"], ["fetch", "--offline"]):
        done = run_mlenv(args, bundle, air_gap)
        assert done.returncode == 0, (args, done.stdout + done.stderr)


def test_export_names_no_other_directory_for_a_relative_channel_missing_here(
    tmp_path: Path,
) -> None:
    """The lock edited to read ``./chan``'s package from another directory ``chan``, the
    project's own ``chan`` not here (built by a script, not committed): ``lock --check`` holds
    the record by its tail (the bundle's case), and ``export --format explicit`` and
    ``conda-lock`` handed conda the other directory's package; fetch alone refused it."""
    project, env = _relative_channel_project(tmp_path)
    other = tmp_path / "elsewhere" / "chan"
    _channel(other)
    text = (project / "mlenv.lock").read_text()
    (project / "mlenv.lock").write_text(text.replace((project / "chan").as_uri(), other.as_uri()))
    shutil.rmtree(project / "chan")
    assert run_mlenv(["lock", "--check"], project, env).returncode == 0
    for args in (["export", "--format", "explicit"], ["export", "--format", "conda-lock"]):
        done = run_mlenv(args, project, env)
        assert done.returncode == 1 and done.stdout == "", (args, done.stdout)
        assert f"{other.as_uri()}/linux-64/" in done.stderr
        assert "is outside the local directories the manifest names" in done.stderr
    assert run_mlenv(["fetch"], project, env).returncode == 1


def test_export_of_an_absolute_channel_missing_here_is_written(tmp_path: Path) -> None:
    """A lock of ``/srv/chan`` exported where ``/srv/chan`` is not: ``drift`` held each record
    to that very directory, so the explicit spec is written for the machines that have it."""
    channel = tmp_path / "srv" / "chan"
    _channel(channel)
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "mlenv.toml").write_text(_manifest(str(channel)))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["lock"], tmp_path / "proj", env).returncode == 0
    shutil.rmtree(channel)
    done = run_mlenv(["export", "--format", "explicit"], tmp_path / "proj", env)
    assert done.returncode == 0, done.stderr
    assert f"{channel.as_uri()}/linux-64/libgomp-1.0-0" in done.stdout
