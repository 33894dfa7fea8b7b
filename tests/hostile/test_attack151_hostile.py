"""Attack 151: ``--frozen`` on a lock that is not stale but edited, and the parent-directory
manifest walk, the ``-q``/``-v`` fast path after ``lock`` and the published outputs.

``--frozen`` is uv's: the manifest is not compared with the lock. It must not turn a lock
``mlenv lock`` could never have written (an entry nothing in its own [target] reaches, an
entry from an index its own [target] does not name, a mark the manifest does not allow) into
a warning: those are the lock reader's integrity rules, not its freshness."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

HEAD = '[environment]\nname = "frozen"\npython = "3.11"\n'
HASH = re.compile(r'inputs-hash = "[^"]*"')


def two_locks(tmp_path: Path) -> tuple[Path, str, dict[str, str], str]:
    """``one`` locking app, and the lock of app and bar from the same index (its text); the
    environment and a second index serving app."""
    index = write_simple_index(
        tmp_path / "index", [build_wheel("app", "1.0"), build_wheel("bar", "1.0")]
    )
    other = write_simple_index(tmp_path / "other", [build_wheel("app", "1.0")])
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    texts = {}
    for name, deps in (("one", '["app"]'), ("two", '["app", "bar"]')):
        root = tmp_path / name
        root.mkdir()
        (root / "mlenv.toml").write_text(
            f'{HEAD}[pypi]\nindex-url = "{index}"\ndependencies = {deps}\n'
        )
        for args in (["lock"], ["fetch"]):  # every artifact in the cache: build needs them
            done = run_mlenv(args, root, env)
            assert done.returncode == 0, done.stderr
        texts[name] = (root / "mlenv.lock").read_text()
    return tmp_path / "one", texts["two"], env, other


def _added(one: str, two: str, other: str) -> str:
    """bar's entry spliced in, the hash and [target] left as the manifest's: nothing needs it."""
    found = HASH.search(one)
    assert found is not None
    text = HASH.sub(found.group(0), two)
    return text.replace('requirements = ["app", "bar"]', 'requirements = ["app"]')


def _index_moved(one: str, two: str, other: str) -> str:
    """app's entry says another index than any [target] names (its URL under it)."""
    index = re.search(r'index = "(file://[^"]*)"', one)
    assert index is not None
    base = index.group(1).rsplit("/", 1)[0]
    return one.replace(f'index = "{index.group(1)}"', f'index = "{other}"').replace(
        f'url = "{base}/files/', f'url = "{other.rsplit("/", 1)[0]}/files/'
    )


def _unverified(one: str, two: str, other: str) -> str:
    return one.replace('source = "pypi"', 'source = "pypi"\ncuda = "unverified"', 1)


EDITED = [("package-added", _added), ("index-moved", _index_moved), ("unverified", _unverified)]
COMMANDS = [
    ["fetch"],
    ["fetch", "--offline"],
    ["export", "--format", "requirements"],
    ["build"],
    ["build", "--check"],
]


@pytest.mark.parametrize(("name", "edit"), EDITED, ids=[e[0] for e in EDITED])
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_frozen_refuses_an_edited_lock_as_the_default_does(
    tmp_path: Path, name: str, edit: object, command: list[str]
) -> None:
    """Fresh for its manifest by the inputs hash, yet edited: refused with and without
    ``--frozen``, naming the lock and the entry; nothing written to stdout."""
    root, two, env, other = two_locks(tmp_path)
    assert callable(edit)
    lock = root / "mlenv.lock"
    lock.write_text(edit(lock.read_text(), two, other))
    for args in (command, [*command, "--frozen"]):
        done = run_mlenv(args, root, env)
        assert done.returncode == 1, (args, done.stderr)
        assert "mlenv.lock" in done.stderr and "platform.linux-64.package[" in done.stderr
        assert "Traceback" not in done.stderr
        assert done.stdout == ""
    assert not (root / "dist").exists()


def test_frozen_still_takes_a_stale_lock_whose_entries_its_target_explains(
    tmp_path: Path,
) -> None:
    """The stale lock --frozen is for: the manifest dropped bar; the lock of app and bar is
    used as it is, said on stderr."""
    root, two, env, _ = two_locks(tmp_path)
    (root / "mlenv.lock").write_text(two)
    done = run_mlenv(["export", "--format", "requirements", "--frozen"], root, env)
    assert done.returncode == 0, done.stderr
    assert "--frozen" in done.stderr and "bar==1.0" in done.stdout


def test_frozen_refuses_an_edited_entry_in_a_stale_lock_too(tmp_path: Path) -> None:
    """Stale (the manifest added bar) and edited (app from an index the lock's own [target]
    does not name): the staleness is what --frozen forgives, the edit is refused."""
    root, two, env, other = two_locks(tmp_path)
    lock = root / "mlenv.lock"
    lock.write_text(_index_moved(lock.read_text(), two, other))
    manifest = root / "mlenv.toml"
    manifest.write_text(manifest.read_text().replace('["app"]', '["app", "bar"]'))
    done = run_mlenv(["fetch", "--frozen"], root, env)
    assert done.returncode == 1, done.stderr
    assert "package[0] (app 1.0).index" in done.stderr and other in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("bundle", ["dir", "oci://127.0.0.1:9/mlenv/bundle:x"])
def test_frozen_never_writes_a_bundle_whose_manifest_and_lock_disagree(
    tmp_path: Path, bundle: str
) -> None:
    """A bundle carries the manifest and its lock, and `verify --bundle` and the air-gapped
    `lock --check` judge them together: ``fetch --frozen --bundle`` on a stale lock would carry
    a pair the other side refuses. Refused before any download or connection; fetch --frozen
    without --bundle still takes the lock."""
    root, two, env, _ = two_locks(tmp_path)
    (root / "mlenv.lock").write_text(two)  # the manifest asks for app alone: stale
    target = str(tmp_path / "bundle") if bundle == "dir" else bundle
    done = run_mlenv(["fetch", "--frozen", "--bundle", target], root, env)
    assert done.returncode == 1, done.stderr
    assert "--bundle" in done.stderr and "stale" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "bundle").exists()
    plain = run_mlenv(["fetch", "--frozen"], root, env)
    assert plain.returncode == 0, plain.stderr


# ---------------------------------------------------------------------------------------------
# The manifest found in a parent directory

PLAIN = HEAD + "[pypi]\ndependencies = []\n"


@pytest.mark.parametrize(
    ("mode", "gid", "taken"),
    [
        (0o775, 4321, False),  # a team's directory: every member may plant a lock or a manifest
        (0o2775, 4321, False),
        (0o1775, 4321, False),  # sticky: a member cannot replace, but can add mlenv.lock
        (0o775, None, True),  # the user's own group (a user private group, umask 002)
        (0o755, 4321, True),  # the group may only read
    ],
)
def test_a_manifest_in_a_directory_another_group_may_write_is_never_reached(
    tmp_path: Path, mode: int, gid: int | None, taken: bool
) -> None:
    """A root-owned manifest in a directory a group other than the user's may write: any
    member can put mlenv.lock (a lock fresh for the manifest, pinning their wheels) or a
    find-links directory beside it, which the parent walk would take as this user's. The walk
    stops there as at a world-writable directory."""
    top = tmp_path / "team"
    below = top / "a" / "b"
    below.mkdir(parents=True)
    (top / "mlenv.toml").write_text(PLAIN)
    os.chown(top, 0, os.getegid() if gid is None else gid)
    top.chmod(mode)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    done = run_mlenv(["show"], below, env)
    if taken:
        assert done.returncode == 0, done.stderr
        assert "found in a parent directory" in done.stderr
    else:
        assert done.returncode == 1, done.stderr
        assert "no manifest here" in done.stderr and "found in a parent" not in done.stderr
        locked = run_mlenv(["lock"], below, env)
        assert locked.returncode == 1 and not (top / "mlenv.lock").exists()


def _below_a_refused_manifest(tmp_path: Path, shape: str) -> Path:
    """A directory whose parent holds an mlenv.toml the walk refuses: another user's file, or
    a link to nothing."""
    top = tmp_path / "top"
    below = top / "a"
    below.mkdir(parents=True)
    found = top / "mlenv.toml"
    if shape == "theirs":
        found.write_text(PLAIN)
        os.chown(found, 4321, 4321)
    else:
        found.symlink_to(tmp_path / "nothing.toml")
    return below


@pytest.mark.parametrize("shape", ["theirs", "dangling-link"])
@pytest.mark.parametrize(
    "args", [["show", "--help"], ["lock", "-h"], ["fetch", "--locked", "--help"]]
)
def test_help_never_walks_to_a_parent_manifest(tmp_path: Path, shape: str, args: list[str]) -> None:
    """A command's --help reads no manifest: below one the walk refuses (another user's, a
    link to nothing) it printed an error and exit 1 instead of the help."""
    below = _below_a_refused_manifest(tmp_path, shape)
    done = run_mlenv(args, below, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Usage: mlenv {args[0]} ")
    assert done.stderr == ""


@pytest.mark.parametrize("shape", ["theirs", "dangling-link"])
def test_a_refused_parent_manifest_stops_only_what_reads_a_manifest(
    tmp_path: Path, shape: str
) -> None:
    """``diff A B`` and ``inspect LOCK`` name everything they read, and worked in any
    directory before the walk: below a parent manifest the walk refuses they failed with
    that refusal. The refusal is said when a command reads the manifest or the lock beside it
    (``show``, ``lock``, ``-q`` after the command too), never before."""
    root, _two, env, _ = two_locks(tmp_path)
    below = _below_a_refused_manifest(tmp_path, shape)
    top = below.parent
    found = top / "mlenv.toml"
    lock = str(root / "mlenv.lock")
    for args in (["diff", lock, str(tmp_path / "two" / "mlenv.lock")], ["inspect", lock]):
        done = run_mlenv(args, below, env)
        assert done.returncode == 0, (args, done.stderr)
        assert "found in a parent" not in done.stderr
    for args in (["show"], ["lock"], ["show", "-q"], ["lock", "-v", "--check"], ["fetch"]):
        done = run_mlenv(args, below, env)
        assert done.returncode == 1, (args, done.stderr)
        assert f"{found}: found in a parent directory" in done.stderr, args
        assert (f"pass -m {found}" if shape == "theirs" else "links to nothing") in done.stderr
    assert not (top / "mlenv.lock").exists() and not (below / "mlenv.lock").exists()


def test_a_dangling_link_above_is_said_as_one(tmp_path: Path) -> None:
    """A parent's mlenv.toml linking to nothing was refused as "not owned by you or root",
    with ``-m`` on it as the way out, which reads nothing either."""
    below = _below_a_refused_manifest(tmp_path, "dangling-link")
    top = below.parent
    done = run_mlenv(["show"], below, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 1, done.stderr
    assert f"{top / 'mlenv.toml'}: found in a parent directory" in done.stderr
    assert "links to nothing" in done.stderr and "not owned" not in done.stderr
    assert "Traceback" not in done.stderr
