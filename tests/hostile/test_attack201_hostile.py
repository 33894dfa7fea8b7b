"""Attack 201: the freshness verdict of ``lock --check``, the no-op ``lock`` and ``verify``
(``drift``) against channel spellings. ``drift`` read a manifest's conda channel itself, not as
the lock reads it (``conda.channel_paths``): a lock of ``./chan[linux-64,noarch]``, ``\\\\chan``
or ``~/chan`` was called stale as soon as it was written, and every no-op ``lock`` locked again.
``channel_path`` cut a platform list at the first ``[``, so an IPv6 channel
``http://[::1]:8000/chan`` read as ``http://``."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv import lockfile_fresh
from mlenv.conda.channel_paths import channel_path, from_directory, split_platforms
from mlenv.drift import lock_drift
from mlenv.manifest_read import loads as load_manifest
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package, write_channel
from tests.support.httpserver import IndexServer
from tests.support.locks import channel_lock

pytestmark = pytest.mark.hostile


def _manifest(channel: str) -> str:
    return (
        '[environment]\nname = "e"\npython = "3.11"\nplatforms = ["linux-64"]\n[pypi]\n'
        f"[conda]\nchannels = ['{channel}']\ndependencies = [\"libgomp\"]\n"
    )


def _drift(channel: str, locked: str, base: Path) -> tuple[str, object, object] | None:
    manifest = _manifest(channel)
    made = lockfile_fresh.resolution_inputs(load_manifest(manifest))
    return lock_drift(channel_lock(manifest, locked), made, str(base))


@pytest.mark.parametrize(
    "spelled", ["./chan[linux-64,noarch]", "\\\\chan", "{project}/chan[linux-64]", "~/chan"]
)
def test_a_channel_rattler_reads_as_a_place_locks_fresh(tmp_path: Path, spelled: str) -> None:
    """Each spelling locked, then ``lock --check`` and ``verify`` called the lock stale and a
    second ``lock`` solved again: ``drift`` compared ``./chan[linux-64,noarch]`` (platform list
    kept), ``\\\\chan`` and ``~/chan`` (names below anaconda.org to it) with the record's
    file: URL, and ``fetch`` refused the ``\\\\chan`` and ``~/chan`` records as outside every
    directory the manifest names (``locking_sources.local_roots``). ``~/chan`` is the home
    directory's:
    with another HOME, the lock is stale."""
    project, home = tmp_path / "project", tmp_path / "home"
    home.mkdir()
    project.mkdir()
    where = home if spelled.startswith("~") else project
    (where / "chan").mkdir()
    write_channel(where / "chan", [build_conda_package("libgomp", "1.0", "0")])
    manifest = _manifest(spelled.format(project=project))
    (project / "mlenv.toml").write_text(manifest)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache"), "HOME": str(home)}
    locked = run_mlenv(["lock"], project, env)
    assert locked.returncode == 0, locked.stderr
    assert f'channel = "{(where / "chan").as_uri()}"' in (project / "mlenv.lock").read_text()
    for args in (["lock", "--check"], ["lock"]):
        again = run_mlenv(args, project, env)
        assert again.returncode == 0 and "mlenv.lock is up to date" in again.stderr, again.stderr
    for args in (["verify"], ["fetch"]):  # fetch held file: URLs to ./ and / spellings only
        done = run_mlenv(args, project, env)
        assert done.returncode == 0, (args, done.stdout + done.stderr)
    if spelled.startswith("~"):
        (tmp_path / "other" / "chan").mkdir(parents=True)
        moved = run_mlenv(["lock", "--check"], project, {**env, "HOME": str(tmp_path / "other")})
        assert moved.returncode == 1 and ".channel: the lock's platform." in moved.stderr


@pytest.mark.parametrize(
    ("spelled", "place"),
    [
        ("https://[::1]:8000/chan", "https://[::1]:8000/chan"),
        ("http://[::1]:8000/chan[linux-64]", "http://[::1]:8000/chan"),
        ("http://[fe80::1%25eth0]/c[linux-64, noarch]", "http://[fe80::1%25eth0]/c"),
        ("/srv/chan[linux-64]", "/srv/chan"),
    ],
)
def test_a_platform_list_is_a_trailing_list_only(spelled: str, place: str) -> None:
    """``channel_path`` cut at the first ``[``: ``https://[::1]:8000/chan`` was ``https://``,
    which ``drift`` then held a lock of that channel to."""
    assert channel_path(spelled) == place
    kept = spelled[len(place) :]
    assert from_directory(spelled, Path("/base")).endswith(place.lstrip(".") + kept)


@pytest.mark.parametrize(
    ("spelled", "locked"),
    [
        ("https://[::1]:8000/chan", "https://[::1]:8000/chan"),
        ("http://[::1]:8000/chan[linux-64]", "http://[::1]:8000/chan"),
        ("https://u:p@[::1]/t/tok/chan/", "https://[::1]/chan"),
    ],
)
def test_an_ipv6_channel_is_fresh_and_held(tmp_path: Path, spelled: str, locked: str) -> None:
    assert _drift(spelled, locked, tmp_path) is None
    for other in ("https://[::2]:8000/chan", "https://[::1]/chan", "http://[::1]:8000/chan"):
        if other != locked:
            drift = _drift(spelled, other, tmp_path)
            assert drift is not None and drift[0].endswith(".channel"), (other, drift)


@pytest.mark.parametrize("listed", ["", "[linux-64,noarch]"])
def test_an_ipv6_channel_locks_and_stays_fresh(tmp_path: Path, listed: str) -> None:
    """``mirror`` fetched ``<channel>[linux-64,noarch]/linux-64/repodata.json``, the list
    read as part of the URL (rattler's to read, on the copy it is handed), and no lock was
    made; the IPv6 host's brackets must not be read as a list either."""
    write_channel(tmp_path / "srv" / "chan", [build_conda_package("libgomp", "1.0", "0")])
    (tmp_path / "project").mkdir()
    with IndexServer(tmp_path / "srv", bind="::", hostname="[::1]") as server:
        channel = f"{server.url}/chan{listed}"
        (tmp_path / "project" / "mlenv.toml").write_text(_manifest(channel))
        env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
        locked = run_mlenv(["lock"], tmp_path / "project", env)
        assert locked.returncode == 0, locked.stderr
        assert f'channel = "{server.url}/chan"' in (tmp_path / "project" / "mlenv.lock").read_text()
        for args in (["lock", "--check"], ["verify"]):
            again = run_mlenv(args, tmp_path / "project", env)
            assert again.returncode == 0, again.stdout + again.stderr


_NAME = st.text(string.ascii_letters + string.digits + "_- ", min_size=1, max_size=8).filter(
    lambda name: name.strip(" ") == name and name not in (".", "..")
)
_PLATFORMS = st.sampled_from(["", "[linux-64]", "[linux-64,noarch]", "[noarch]"])


@st.composite
def _relative(draw: st.DrawFn) -> tuple[str, str]:
    """A relative channel spelling and the directory (below the manifest's) it names."""
    name = draw(_NAME)
    form = draw(st.sampled_from(["./{n}", "\\\\{n}", "./x/../{n}", "../project/{n}", ".//{n}"]))
    return form.format(n=name) + draw(_PLATFORMS), name


@settings(max_examples=150, deadline=None)
@given(_relative())
def test_every_relative_spelling_is_fresh_from_its_directory_only(
    tmp_path_factory: pytest.TempPathFactory, spelled_name: tuple[str, str]
) -> None:
    """The lock records the channel's directory from the manifest's (``from_directory``);
    ``drift`` takes that record and no other directory of the same name."""
    spelled, name = spelled_name
    root = tmp_path_factory.mktemp("h")
    project, other = root / "project", root / "other"
    (project / "x").mkdir(parents=True)
    (project / name).mkdir()
    (other / name).mkdir(parents=True)
    read = Path(split_platforms(from_directory(spelled, project))[0])
    assert read.resolve() == (project / name).resolve(), spelled
    assert _drift(spelled, (project / name).as_uri(), project) is None, spelled
    drift = _drift(spelled, (other / name).as_uri(), project)
    assert drift is not None and drift[0].endswith(".channel"), spelled


def test_a_lock_copied_to_another_project_is_judged_there(tmp_path: Path) -> None:
    """A fresh verdict was kept by the two files' bytes (``cache.fresh``), though ``drift``
    judges ``./chan`` by the lock's directory: the lock of project a, copied beside b's
    identical manifest, was "up to date" there while ``verify`` called it stale (its records
    name a's channel; ``lock`` in b takes b's)."""
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    for name in ("a", "b"):
        (tmp_path / name / "chan").mkdir(parents=True)
        write_channel(tmp_path / name / "chan", [build_conda_package("libgomp", "1.0", "0")])
        (tmp_path / name / "mlenv.toml").write_text(_manifest("./chan"))
    assert run_mlenv(["lock"], tmp_path / "a", env).returncode == 0
    fresh = run_mlenv(["lock", "--check"], tmp_path / "a", env)
    assert fresh.returncode == 0 and "up to date" in fresh.stderr, fresh.stderr
    (tmp_path / "b" / "mlenv.lock").write_bytes((tmp_path / "a" / "mlenv.lock").read_bytes())
    for args in (["lock", "--check"], ["lock", "--check"]):  # the second after a verdict kept
        copied = run_mlenv(args, tmp_path / "b", env)
        assert copied.returncode == 1, copied.stderr
        assert f"is {(tmp_path / 'a' / 'chan').as_uri()}, the manifest says" in copied.stderr
    assert run_mlenv(["lock", "--check"], tmp_path / "a", env).returncode == 0


@pytest.mark.parametrize("name", ["~", ".chan"])
def test_a_channel_name_rattler_reads_is_fetched_by_mlenv(tmp_path: Path, name: str) -> None:
    """``mirror.channel_url`` took any spelling starting with '.' or '~' for a place and handed
    it to rattler as it was; rattler reads ``~`` and ``.chan`` as anaconda.org names and
    fetched them with its own client: ``lock --offline`` looked the host up, past mlenv's
    proxy, TLS and origin rules. They are names to mlenv's client now."""
    (tmp_path / "mlenv.toml").write_text(_manifest(name))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    offline = run_mlenv(["lock", "--offline"], tmp_path, env)
    assert offline.returncode == 1
    assert f"conda channel https://conda.anaconda.org/{name} is not cached" in offline.stderr
    assert "Caused by" not in offline.stderr, offline.stderr


_SEGMENT = st.text(string.ascii_lowercase + string.digits + "-_.", min_size=1, max_size=6).filter(
    lambda segment: segment not in (".", "..")
)


@st.composite
def _url_channel(draw: st.DrawFn) -> tuple[str, str]:
    """A URL channel spelling and the channel the lock's records name for it (the mirror's
    URL without its platform list, credentials, ``/t/<token>`` or trailing slash)."""
    host = draw(st.sampled_from(["conda.internal", "[::1]", "[fd00::2]", "10.0.0.2"]))
    port = draw(st.sampled_from(["", ":8000"]))
    # a first segment ``t`` reads ``/t/x`` as an anaconda.org token, which the lock never names
    segments = draw(st.lists(_SEGMENT, min_size=1, max_size=3).filter(lambda s: s[0] != "t"))
    path = "/".join(segments)
    user = draw(st.sampled_from(["", "u:p@", "u@"]))
    token = draw(st.sampled_from(["", "/t/tk-1"]))
    slash = draw(st.sampled_from(["", "/"]))
    scheme = draw(st.sampled_from(["https://", "http://"]))
    spelled = f"{scheme}{user}{host}{port}{token}/{path}{slash}" + draw(_PLATFORMS)
    return spelled, f"{scheme}{host}{port}/{path}"


@settings(max_examples=150, deadline=None)
@given(_url_channel())
def test_every_url_spelling_is_fresh_for_its_channel_only(
    tmp_path_factory: pytest.TempPathFactory, spelled_locked: tuple[str, str]
) -> None:
    spelled, locked = spelled_locked
    base = tmp_path_factory.mktemp("u")
    assert _drift(spelled, locked, base) is None, spelled
    for other in (locked + "x", locked.replace("://", "://x"), locked.rpartition("/")[0]):
        drift = _drift(spelled, other, base)
        assert drift is not None and drift[0].endswith(".channel"), (spelled, other)


def test_a_lock_made_through_a_symlinked_path_is_fresh_from_the_project(tmp_path: Path) -> None:
    """``mlenv --manifest home/proj/mlenv.toml lock`` (``home/proj`` a symlink to the project)
    records ``file://.../home/proj/chan``: from the project itself, ``lock --check``, ``verify``
    and ``fetch`` called that lock stale, though locking from there is as allowed. A path
    through a link to another directory stays stale."""
    project, other = tmp_path / "data" / "proj", tmp_path / "data" / "other"
    for directory in (project, other):
        (directory / "chan").mkdir(parents=True)
        write_channel(directory / "chan", [build_conda_package("libgomp", "1.0", "0")])
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "proj").symlink_to(project)
    (tmp_path / "home" / "other").symlink_to(other)
    (project / "mlenv.toml").write_text(_manifest("./chan"))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    locked = run_mlenv(["--manifest", "home/proj/mlenv.toml", "lock"], tmp_path, env)
    assert locked.returncode == 0, locked.stderr
    linked = (tmp_path / "home" / "proj" / "chan").as_uri()
    assert f'channel = "{linked}"' in (project / "mlenv.lock").read_text()
    for args in (["lock", "--check"], ["verify"], ["fetch"]):
        done = run_mlenv(args, project, env)
        assert done.returncode == 0, (args, done.stdout + done.stderr)
    drift = _drift("./chan", (tmp_path / "home" / "other" / "chan").as_uri(), project)
    assert drift is not None and drift[0].endswith(".channel"), drift
