"""Attack 157: one rule for "could another user have written this" (``mlenv.trusted_path``),
applied by the parent-manifest walk, a local index's root and the cache's private entries, and
the walk's manifest read from the descriptor it judged.

Tests run as root: other users are made-up uids and gids given by ``os.chown``; a real other
user is a child under ``os.setuid``; a group database where gid 0 has another member is a
bind mount in a private mount namespace (``unshare --mount``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from mlenv.cache.files import open_plain
from mlenv.commands.session import open_session
from mlenv.discover import find_upward
from mlenv.errors import UsageError
from mlenv.limits import MAX_BODY_BYTES
from mlenv.net.origins import LocalRoots
from mlenv.trusted_path import NotYours, open_yours
from tests.support import walk_probe
from tests.support.cli import run_mlenv

HEAD = '[environment]\nname = "{name}"\npython = "3.11"\n[pypi]\ndependencies = []\n'
THEM = 4321  # a uid and gid no one on the machine has


def project(top: Path, name: str = "mine") -> Path:
    """``top/proj/mlenv.toml`` and a directory two levels below it to walk from."""
    below = top / "proj" / "a" / "b"
    below.mkdir(parents=True)
    (top / "proj" / "mlenv.toml").write_text(HEAD.format(name=name))
    return below


def refusal(below: Path) -> str:
    with pytest.raises(UsageError) as caught:
        find_upward(below)
    return str(caught.value)


# ---------------------------------------------------------------------------------------------
# The path from / down: every ancestor, not only the manifest and its directory


def test_a_world_writable_ancestor_above_the_manifest_directory_refuses_it(tmp_path: Path) -> None:
    """``shared`` (0777, not sticky) above the project: anyone may rename ``proj`` away and put
    their own there. The walk never reached ``shared`` (it found the manifest first), so the
    manifest was taken; the whole path is judged now."""
    below = project(tmp_path / "shared")
    (tmp_path / "shared").chmod(0o777)
    said = refusal(below)
    assert f"{tmp_path / 'shared'} is writable by everyone (777)" in said
    assert f"pass -m {tmp_path / 'shared' / 'proj' / 'mlenv.toml'}" in said


def test_an_ancestor_owned_by_another_user_refuses_the_manifest(tmp_path: Path) -> None:
    below = project(tmp_path / "theirs")
    os.chown(tmp_path / "theirs", THEM, THEM)
    assert f"{tmp_path / 'theirs'} belongs to another user (uid {THEM})" in refusal(below)


def test_a_sticky_world_writable_ancestor_passes_only_to_entries_that_are_yours(
    tmp_path: Path,
) -> None:
    """A /tmp-like directory (1777): others may add names but not rename yours, as ssh and
    sudo take it. ``proj`` yours: taken. ``proj`` another user's: refused, naming it."""
    shared = tmp_path / "tmp"
    below = project(shared)
    shared.chmod(0o1777)
    found = find_upward(below)
    assert found is not None and found.path == shared / "proj" / "mlenv.toml"
    os.chown(shared / "proj", THEM, THEM)
    assert f"{shared / 'proj'} belongs to another user (uid {THEM})" in refusal(below)


def test_the_walk_still_stops_at_a_sticky_directory_itself(tmp_path: Path) -> None:
    """The sticky exception is for passing through, never for what the walk takes: a
    /tmp/mlenv.toml of the user's own is not taken from /tmp/x/y (others may plant a lock or
    wheels beside it)."""
    shared = tmp_path / "tmp"
    (shared / "x" / "y").mkdir(parents=True)
    (shared / "mlenv.toml").write_text(HEAD.format(name="tmp"))
    shared.chmod(0o1777)
    assert find_upward(shared / "x" / "y") is None


@pytest.mark.parametrize("gid", [THEM, 1])  # a group no one can name; daemon's, with a member
def test_a_group_writable_ancestor_of_a_group_with_other_members_refuses(
    tmp_path: Path, gid: int
) -> None:
    below = project(tmp_path / "team")
    os.chown(tmp_path / "team", 0, gid)
    (tmp_path / "team").chmod(0o775)
    said = refusal(below)
    assert f"{tmp_path / 'team'} is writable by group {gid}, which has members other" in said


@pytest.mark.parametrize(("mode", "gid"), [(0o666, 0), (0o664, THEM), (0o646, 0)])
def test_the_manifest_itself_writable_by_others_is_refused(
    tmp_path: Path, mode: int, gid: int
) -> None:
    below = project(tmp_path)
    manifest = tmp_path / "proj" / "mlenv.toml"
    os.chown(manifest, 0, gid)
    manifest.chmod(mode)
    assert f"{manifest} is writable by" in refusal(below)


def test_a_link_in_the_chain_is_judged_and_so_is_what_it_names(tmp_path: Path) -> None:
    """A link of the user's to another user's file, and a link another user owns to the
    user's file: both refused, naming the component. Every link in between is walked the
    same way (a link to a directory holding the manifest)."""
    below = project(tmp_path / "p")
    manifest = tmp_path / "p" / "proj" / "mlenv.toml"
    theirs = tmp_path / "theirs.toml"
    theirs.write_text(HEAD.format(name="theirs"))
    os.chown(theirs, THEM, THEM)
    manifest.unlink()
    manifest.symlink_to(theirs)
    assert f"{theirs} belongs to another user (uid {THEM})" in refusal(below)
    (tmp_path / "mine.toml").write_text(HEAD.format(name="mine"))
    manifest.unlink()
    manifest.symlink_to("../../mine.toml")
    found = find_upward(below)
    assert found is not None and b'"mine"' in found.data
    os.chown(manifest, THEM, THEM, follow_symlinks=False)
    assert f"{manifest} belongs to another user (uid {THEM})" in refusal(below)
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "mlenv.toml").write_text(HEAD.format(name="via"))
    (tmp_path / "real").chmod(0o777)
    linked = tmp_path / "linked"
    linked.symlink_to(tmp_path / "real")
    with pytest.raises(NotYours, match=f"{tmp_path / 'real'} is writable by everyone"):
        open_yours(str(linked / "mlenv.toml"))


# ---------------------------------------------------------------------------------------------
# The bytes the session parses are the ones judged


def test_the_session_parses_the_bytes_read_from_the_judged_descriptor(tmp_path: Path) -> None:
    """Found, then swapped for another user's file (what a directory owner above could do
    between a check and a later read by path): the session's manifest is still the judged
    file's bytes, and ``info`` is that file's, not what the path names now."""
    below = project(tmp_path)
    manifest = tmp_path / "proj" / "mlenv.toml"
    found = find_upward(below)
    assert found is not None
    judged = manifest.stat()
    theirs = tmp_path / "proj" / "swap.toml"
    theirs.write_text(HEAD.format(name="planted"))
    os.chown(theirs, THEM, THEM)
    theirs.replace(manifest)  # the path now names another user's file
    assert (found.info.st_ino, found.info.st_uid) == (judged.st_ino, 0)
    assert manifest.stat().st_uid == THEM
    session = open_session(found.path, str(tmp_path / "cache"), 0, True, "human")
    session = replace(session, found=found)
    assert session.load_manifest().environment.name == "mine"
    assert b'"mine"' in session.manifest_bytes()


def test_the_descriptor_open_yours_returns_is_the_judged_file_whatever_the_path_becomes(
    tmp_path: Path,
) -> None:
    mine = tmp_path / "mlenv.toml"
    mine.write_text("judged\n")
    fd = open_yours(str(mine))
    try:
        judged = os.fstat(fd)
        (tmp_path / "other").write_text("planted\n")
        os.chown(tmp_path / "other", THEM, THEM)
        (tmp_path / "other").replace(mine)
        assert os.fstat(fd).st_uid == 0 and os.fstat(fd).st_ino == judged.st_ino
        assert os.read(fd, 100) == b"judged\n"
    finally:
        os.close(fd)


def test_a_fifo_found_upward_never_blocks_and_is_named(tmp_path: Path) -> None:
    below = project(tmp_path)
    manifest = tmp_path / "proj" / "mlenv.toml"
    manifest.unlink()
    os.mkfifo(manifest)
    with pytest.raises(UsageError, match="a FIFO"):
        find_upward(below)


def test_the_cli_says_the_component_and_keeps_its_hint(tmp_path: Path) -> None:
    below = project(tmp_path / "shared")
    (tmp_path / "shared").chmod(0o777)
    done = run_mlenv(["show"], below, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    found = tmp_path / "shared" / "proj" / "mlenv.toml"
    assert done.returncode == 1, done.stderr
    assert f"{found}: found in a parent directory" in done.stderr
    assert "writable by everyone" in done.stderr and f"pass -m {found}" in done.stderr
    taken = run_mlenv(["-m", str(found), "show"], below, {"MLENV_CACHE_DIR": str(tmp_path / "c")})
    assert taken.returncode == 0, taken.stderr


# ---------------------------------------------------------------------------------------------
# Another user, for real, and gid 0 with another member


@pytest.fixture
def open_tree() -> Iterator[Path]:
    with walk_probe.open_tree("mlenv-a157-") as tree:
        yield tree


def test_a_real_other_user_takes_their_tree_and_refuses_roots_group_writable_one(
    open_tree: Path,
) -> None:
    """As uid 4321: its own project is taken; below a directory group-writable by its own
    primary gid, which the group database cannot name (so its members cannot be known), the
    walk stops: the egid is no longer trusted by itself."""
    below = project(open_tree / "home")
    for path in (open_tree / "home", *(open_tree / "home").rglob("*")):
        os.chown(path, THEM, THEM)
    assert walk_probe.probe(below, uid=THEM) == "taken"
    (open_tree / "home" / "proj").chmod(0o775)
    assert walk_probe.probe(below, uid=THEM) == "none"
    assert (
        walk_probe.probe(below) == "none"
    )  # root sees the same group, with the same unknown members


def test_gid_0_is_a_group_like_any_other(open_tree: Path) -> None:
    """gid 0 was trusted outright. Where its group has another member (BSD's wheel, a distro
    adding admins to root), a directory it may write is one that member may write."""
    below = project(open_tree / "top")
    (open_tree / "top").chmod(0o775)
    os.chown(open_tree / "top", 0, 0)
    plain = open_tree / "group.plain"
    plain.write_text("root:x:0:\ndaemon:x:1:\n")
    wheel = open_tree / "group.wheel"
    wheel.write_text("root:x:0:daemon\ndaemon:x:1:\n")
    assert walk_probe.probe(below, binds={"/etc/group": plain}) == "taken"
    said = walk_probe.probe(below, binds={"/etc/group": wheel})
    assert said.startswith("refused:") and "writable by group 0, which has members" in said


# ---------------------------------------------------------------------------------------------
# The other two callers: a local index's root and the cache's private entries


@pytest.mark.parametrize(
    ("mode", "gid", "lends"),
    [
        (0o755, 0, True),
        (0o777, 0, False),
        (0o1777, 0, False),  # sticky: others still add files a page may then name
        (0o775, THEM, False),  # a team's tree: was taken (only S_IWOTH was looked at)
        (0o775, 0, True),  # root's group, whose only member is root here
    ],
)
def test_an_index_parent_others_may_write_is_no_root(
    tmp_path: Path, mode: int, gid: int, lends: bool
) -> None:
    parent = tmp_path / "mirror"
    (parent / "simple").mkdir(parents=True)
    os.chown(parent, 0, gid)
    parent.chmod(mode)
    roots = LocalRoots.of(indexes=[str(parent / "simple")])
    assert roots.roots == ((parent,) if lends else (parent / "simple",))


def test_an_index_parent_owned_by_another_user_still_lends(tmp_path: Path) -> None:
    """Its owner could replace the index the manifest named anyway: a service account's
    mirror keeps its ``../../packages``."""
    parent = tmp_path / "mirror"
    (parent / "simple").mkdir(parents=True)
    os.chown(parent, THEM, THEM)
    assert LocalRoots.of(indexes=[str(parent / "simple")]).roots == (parent,)


@pytest.mark.parametrize(
    ("gid", "mode", "refused"),
    [
        (0, 0o644, None),
        (0, 0o664, None),  # root's own group (umask 002 under a private group): refused before
        (THEM, 0o664, "writable by group 4321"),
        (0, 0o646, "writable by everyone"),
    ],
)
def test_the_cache_private_entries_use_the_same_rule(
    tmp_path: Path, gid: int, mode: int, refused: str | None
) -> None:
    (tmp_path / "bucket").mkdir()
    entry = tmp_path / "bucket" / "key"
    entry.write_bytes(b"verdict")
    os.chown(entry, 0, gid)
    entry.chmod(mode)
    if refused is None:
        with open_plain(tmp_path, "bucket/key", private=2) as handle:
            assert handle.read() == b"verdict"
        return
    with pytest.raises(OSError, match=refused):
        open_plain(tmp_path, "bucket/key", private=2)


def test_a_cache_entry_of_another_user_is_still_refused(tmp_path: Path) -> None:
    (tmp_path / "bucket").mkdir()
    (tmp_path / "bucket" / "key").write_bytes(b"planted")
    os.chown(tmp_path / "bucket", THEM, THEM)
    with pytest.raises(OSError, match=f"bucket belongs to another user \\(uid {THEM}\\)"):
        open_plain(tmp_path, "bucket/key", private=2)


def test_a_huge_manifest_found_upward_is_refused_when_read_never_before(tmp_path: Path) -> None:
    """The walk reads the manifest now: one over the size limit (sparse: nothing is written)
    is a refusal said by what reads a manifest, not a crash of every command below it."""
    below = project(tmp_path)
    manifest = tmp_path / "proj" / "mlenv.toml"
    with manifest.open("r+b") as handle:
        handle.truncate(MAX_BODY_BYTES + 1)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    helped = run_mlenv(["show", "--help"], below, env)
    assert helped.returncode == 0 and helped.stderr == "", helped.stderr
    shown = run_mlenv(["show"], below, env)
    assert shown.returncode == 1 and "Traceback" not in shown.stderr
    assert f"the manifest is over {MAX_BODY_BYTES:,} bytes" in shown.stderr
