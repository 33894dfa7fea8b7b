"""The lock workflow as a uv or pixi user types it, attacked: ``--locked``/``--frozen`` on a lock
the manifest moved past in several ways, ``lock --no-index`` with nothing left to resolve
from, and the manifest found in a parent directory (a planted one refused)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.golden import build, digests, fetched_golden
from tests.support.wheels import build_wheel, write_simple_index

HEAD = '[environment]\nname = "walk"\npython = "3.11"\n'


def locked_project(tmp_path: Path, extra: str = "") -> tuple[Path, dict[str, str], str]:
    """A project locking ``app`` from a file:// index, locked; its environment and index."""
    index = write_simple_index(
        tmp_path / "index",
        [build_wheel("app", "1.0"), build_wheel("bar", "1.0")],
    )
    other = write_simple_index(tmp_path / "other", [build_wheel("app", "1.0")])
    root = tmp_path / "project"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        f'{HEAD}{extra}[pypi]\nindex-url = "{index}"\ndependencies = ["app"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    done = run_mlenv(["lock"], root, env)
    assert done.returncode == 0, done.stderr
    return root, env, other


CUDA = '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n'


def _add_bar(text: str, other: str) -> str:
    return text.replace('["app"]', '["app", "bar"]')


def _cuda_moved(text: str, other: str) -> str:
    return text.replace('"12.4"', '"12.1"').replace('"550.54.14"', '"530.30.02"')


def _index_moved(text: str, other: str) -> str:
    start = text.index('index-url = "') + len('index-url = "')
    return text[:start] + other + text[text.index('"', start) :]


STALE = [
    ("dependency-added", "", _add_bar, "+bar"),
    ("cuda-changed", CUDA, _cuda_moved, "cuda"),
    ("index-changed", "", _index_moved, "index"),
]


@pytest.mark.parametrize(("name", "extra", "edit", "said"), STALE, ids=[s[0] for s in STALE])
def test_a_stale_lock_is_refused_by_locked_and_said_by_frozen(
    tmp_path: Path, name: str, extra: str, edit: object, said: str
) -> None:
    """``lock --locked`` answers as ``--check``; fetch, export and build refuse the stale lock
    with and without ``--locked`` (naming the file and what changed) and take it as it is with
    ``--frozen``, saying so; the lock's bytes never move."""
    root, env, other = locked_project(tmp_path, extra)
    manifest = root / "mlenv.toml"
    assert callable(edit)
    assert run_mlenv(["lock", "--locked"], root, env).returncode == 0
    lock_bytes = (root / "mlenv.lock").read_bytes()
    manifest.write_text(edit(manifest.read_text(), other))
    for args in (["lock", "--locked"], ["lock", "--check"]):
        done = run_mlenv(args, root, env)
        assert done.returncode == 1, done.stderr
        assert "mlenv.lock" in done.stderr and "stale" in done.stderr
        assert said in done.stderr
    export = ["export", "--format", "requirements"]
    for args in ([*export], [*export, "--locked"], ["fetch", "--locked"], ["build", "--locked"]):
        done = run_mlenv(args, root, env)
        assert done.returncode == 1, (args, done.stderr)
        assert "mlenv.lock" in done.stderr and said in done.stderr, (args, done.stderr)
        assert done.stdout == ""
    frozen = run_mlenv([*export, "--frozen"], root, env)
    assert frozen.returncode == 0, frozen.stderr
    assert "app==1.0" in frozen.stdout and "bar" not in frozen.stdout
    assert "--frozen" in frozen.stderr and "mlenv.lock" in frozen.stderr and said in frozen.stderr
    fetched = run_mlenv(["fetch", "--frozen"], root, env)
    assert "--frozen" in fetched.stderr
    if name == "index-changed":
        # --frozen takes the lock's pins, not its reach: a file:// artifact outside every
        # directory the manifest now names is still refused (security invariant: local files
        # only from the manifest's directories)
        assert fetched.returncode == 1 and "refusing to follow" in fetched.stderr
    else:
        assert fetched.returncode == 0, fetched.stderr
    assert (root / "mlenv.lock").read_bytes() == lock_bytes


@pytest.mark.parametrize("command", [["fetch"], ["build"], ["export", "--format", "pylock"]])
def test_locked_and_frozen_together_is_a_usage_error(tmp_path: Path, command: list[str]) -> None:
    root, env, _ = locked_project(tmp_path)
    done = run_mlenv([*command, "--locked", "--frozen"], root, env)
    assert done.returncode == 1
    assert "--locked and --frozen exclude each other" in done.stderr
    assert done.stdout == ""


def test_lock_locked_refuses_a_missing_lock_and_an_upgrade(tmp_path: Path) -> None:
    root, env, _ = locked_project(tmp_path)
    upgraded = run_mlenv(["lock", "--locked", "--upgrade"], root, env)
    assert upgraded.returncode == 1
    assert "--locked and --upgrade exclude each other" in upgraded.stderr
    (root / "mlenv.lock").unlink()
    missing = run_mlenv(["lock", "--locked"], root, env)
    assert missing.returncode == 1
    assert "no lock here" in missing.stderr
    assert not (root / "mlenv.lock").exists()  # --locked never writes one


def test_frozen_builds_the_lock_as_it_is(tmp_path: Path) -> None:
    """A manifest that moved past its lock (a dependency added) builds with ``--frozen`` the
    very bytes the lock built before the edit, and is refused without it."""
    project, env = fetched_golden(tmp_path)
    cache = Path(env["MLENV_CACHE_DIR"])
    first = build(project, cache, env=env)
    assert first.returncode == 0, first.stderr
    before = digests(project / "dist")
    manifest = project / "mlenv.toml"
    manifest.write_text(manifest.read_text().replace('["hello"]', '["hello", "numpy"]'))
    refused = build(project, cache, env=env)
    assert refused.returncode == 1 and "+numpy" in refused.stderr
    assert digests(project / "dist") == before  # the refused build touched nothing
    again = build(project, cache, "--frozen", env=env)
    assert again.returncode == 0, again.stderr
    assert "--frozen" in again.stderr and "+numpy" in again.stderr
    assert digests(project / "dist") == before


# ---------------------------------------------------------------------------------------------
# The manifest found in a parent directory


def golden_below(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """The golden project (find-links = ["wheels"], relative) unlocked, and a directory two
    levels below it to run in, which holds no wheels/ of its own."""
    project, env = fetched_golden(tmp_path)
    (project / "mlenv.lock").unlink()
    below = project / "src" / "pkg"
    below.mkdir(parents=True)
    return project, below, env


def test_a_manifest_above_is_found_and_its_paths_stay_its_own(tmp_path: Path) -> None:
    """From a subdirectory: the parent's manifest is said on stderr; its relative find-links
    are read from its own directory; the lock and dist/ go beside it; ``lock --locked`` and
    the no-op ``lock`` (the entry point's fast path) find it too."""
    project, below, env = golden_below(tmp_path)
    done = run_mlenv(["lock"], below, env)
    assert done.returncode == 0, done.stderr
    manifest = project / "mlenv.toml"
    assert f"using {manifest} (found in a parent directory)" in done.stderr
    assert (project / "mlenv.lock").is_file() and not (below / "mlenv.lock").exists()
    from_below = (project / "mlenv.lock").read_bytes()
    (project / "mlenv.lock").unlink()
    here = run_mlenv(["lock"], project, env)
    assert here.returncode == 0, here.stderr
    assert "found in a parent" not in here.stderr
    assert (project / "mlenv.lock").read_bytes() == from_below  # same paths, same lock
    assert b"wheels/hello" in from_below and str(project).encode() not in from_below
    for args in (["lock"], ["lock", "--locked"], ["lock", "--check"], ["lock", "-v"]):
        again = run_mlenv(args, below, env)  # -v after the command opens the session again
        assert again.returncode == 0, again.stderr
        assert f"{project / 'mlenv.lock'} is up to date" in again.stderr
    built = build(below, Path(env["MLENV_CACHE_DIR"]), env=env)
    assert built.returncode == 0, built.stderr
    assert (project / "dist" / "build.json").is_file() and not (below / "dist").exists()
    assert sorted(p.name for p in below.iterdir()) == []


def test_the_working_directory_and_explicit_manifests_are_never_walked_past(
    tmp_path: Path,
) -> None:
    """A manifest here wins without a word; -m and $MLENV_MANIFEST name exactly one file;
    `init` writes here, never the parent's."""
    project, below, env = golden_below(tmp_path)
    for explicit in (["-m", "mlenv.toml", "show"],):
        done = run_mlenv(explicit, below, env)
        assert done.returncode == 1 and "no manifest here" in done.stderr
    done = run_mlenv(["show"], below, {**env, "MLENV_MANIFEST": "mlenv.toml"})
    assert done.returncode == 1 and "no manifest here" in done.stderr
    parent_text = (project / "mlenv.toml").read_text()
    init = run_mlenv(["init", "--name", "inner"], below, env)
    assert init.returncode == 0, init.stderr
    assert "found in a parent" not in init.stderr
    assert 'name = "inner"' in (below / "mlenv.toml").read_text()
    assert (project / "mlenv.toml").read_text() == parent_text
    shown = run_mlenv(["show"], below, env)
    assert shown.returncode == 0 and "inner" in shown.stdout
    assert "found in a parent" not in shown.stderr


def test_a_manifest_planted_above_a_world_writable_directory_is_never_reached(
    tmp_path: Path,
) -> None:
    """/tmp/mlenv.toml planted by another user, run from /tmp/x/y: the walk stops at the
    world-writable directory, so nothing is found, nothing is written there."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    planted = shared / "mlenv.toml"
    planted.write_text(HEAD + '[pypi]\ndependencies = ["evil"]\n')
    below = shared / "x" / "y"
    below.mkdir(parents=True)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    for args in (["show"], ["lock"], ["lock", "--locked"], ["export", "--format", "pylock"]):
        done = run_mlenv(args, below, env)
        assert done.returncode == 1, (args, done.stderr)
        assert "no manifest here" in done.stderr and str(planted) not in done.stderr
    assert sorted(p.name for p in shared.iterdir()) == ["mlenv.toml", "x"]


@pytest.mark.parametrize("shape", ["file", "link-target", "directory"])
def test_a_manifest_above_owned_by_another_user_is_refused(tmp_path: Path, shape: str) -> None:
    """A parent's manifest another user owns (the file, what its link names, or the directory
    it is in) is named and refused, with -m as the way to take it on purpose."""
    top = tmp_path / "top"
    below = top / "a" / "b"
    below.mkdir(parents=True)
    text = HEAD + "[pypi]\ndependencies = []\n"
    found = top / "mlenv.toml"
    if shape == "link-target":
        (tmp_path / "theirs.toml").write_text(text)
        os.chown(tmp_path / "theirs.toml", 4321, 4321)
        found.symlink_to(tmp_path / "theirs.toml")
    else:
        found.write_text(text)
        os.chown(top if shape == "directory" else found, 4321, 4321)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    for args in (["show"], ["lock"]):
        done = run_mlenv(args, below, env)
        assert done.returncode == 1, done.stderr
        assert f"{found}: found in a parent directory" in done.stderr
        assert f"pass -m {found}" in done.stderr
    assert not (top / "mlenv.lock").exists()
    taken = run_mlenv(["-m", str(found), "show"], below, env)
    assert taken.returncode == 0, taken.stderr


def test_a_symlinked_manifest_above_is_taken_and_its_lock_goes_beside_the_link(
    tmp_path: Path,
) -> None:
    project, below, env = golden_below(tmp_path)
    real = tmp_path / "real.toml"
    (project / "mlenv.toml").rename(real)
    real.write_text(real.read_text().replace('"wheels"', f'"{project / "wheels"}"'))
    (project / "mlenv.toml").symlink_to(real)
    done = run_mlenv(["lock"], below, env)
    assert done.returncode == 0, done.stderr
    assert (project / "mlenv.lock").is_file() and not (tmp_path / "mlenv.lock").exists()


def test_the_walk_stops_at_a_mount_point(tmp_path: Path) -> None:
    """A manifest above the mount the working directory is on is not taken (as git's discovery
    stops at a filesystem boundary); one on the same mount is."""
    project, _, env = golden_below(tmp_path)
    mounted = project / "mnt"
    mounted.mkdir()
    script = (
        f"mount -t tmpfs -o mode=0755 none {mounted} && mkdir -p {mounted}/x && cd {mounted}/x"
        f" && {sys.executable} -m mlenv show; echo status=$?"
    )
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script],
        env={**os.environ, **env, "PIP_CONFIG_FILE": "/dev/null"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "status=1" in done.stdout, done.stderr
    assert "no manifest here" in done.stderr and "found in a parent" not in done.stderr


# ---------------------------------------------------------------------------------------------
# lock --no-index


def links_project(tmp_path: Path, index: str, extra: str = "") -> tuple[Path, dict[str, str]]:
    """A project whose manifest names ``index`` and the relative find-links ``wheels``, which
    holds app 1.0 alone."""
    root = tmp_path / "project"
    (root / "wheels").mkdir(parents=True)
    name, data = build_wheel("app", "1.0")
    (root / "wheels" / name).write_bytes(data)
    (root / "mlenv.toml").write_text(
        f'{HEAD}[pypi]\nindex-url = "{index}"\nfind-links = ["wheels"]\n{extra}'
        'dependencies = ["app"]\n'
    )
    return root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")}


def test_no_index_never_asks_the_index_and_its_lock_is_fresh(tmp_path: Path) -> None:
    """An index no one answers at: ``lock --no-index`` locks from find-links alone, and the
    lock is fresh for the manifest (its [target] names the index it was not asked)."""
    root, env = links_project(tmp_path, "http://127.0.0.1:9/simple")
    done = run_mlenv(["lock", "--no-index"], root, env)
    assert done.returncode == 0, done.stderr
    text = (root / "mlenv.lock").read_text()
    assert 'url = "wheels/app-1.0-py3-none-any.whl"' in text
    assert "http://127.0.0.1:9/simple" in text  # the manifest's index, recorded
    assert run_mlenv(["lock", "--locked"], root, env).returncode == 0
    assert "up to date" in run_mlenv(["lock", "--no-index"], root, env).stderr


def test_no_index_takes_the_find_links_over_a_newer_index_release(tmp_path: Path) -> None:
    index = write_simple_index(tmp_path / "index", [build_wheel("app", "2.0")])
    root, env = links_project(tmp_path, index)
    plain = run_mlenv(["lock"], root, env)
    assert plain.returncode == 0, plain.stderr
    assert 'version = "2.0"' in (root / "mlenv.lock").read_text()
    moved = run_mlenv(["lock", "--no-index", "--upgrade"], root, env)
    assert moved.returncode == 0, moved.stderr
    text = (root / "mlenv.lock").read_text()
    assert 'version = "1.0"' in text and 'version = "2.0"' not in text


@pytest.mark.parametrize("shape", ["no-find-links", "sources"])
def test_no_index_with_nothing_left_to_resolve_from_is_refused(tmp_path: Path, shape: str) -> None:
    """Nothing written, the manifest and the key named; the index is never asked."""
    root, env = links_project(
        tmp_path,
        "http://127.0.0.1:9/simple",
        'sources = { app = "http://127.0.0.1:9/other" }\n' if shape == "sources" else "",
    )
    manifest = root / "mlenv.toml"
    if shape == "no-find-links":
        manifest.write_text(manifest.read_text().replace('find-links = ["wheels"]\n', ""))
    done = run_mlenv(["lock", "--no-index"], root, env)
    assert done.returncode == 1, done.stderr
    assert "--no-index" in done.stderr and "mlenv.toml: [pypi]" in done.stderr
    assert ("find-links" if shape == "no-find-links" else "app (") in done.stderr
    assert "Traceback" not in done.stderr
    assert not (root / "mlenv.lock").exists()


def test_a_symlinked_manifest_edited_through_its_target_is_stale(tmp_path: Path) -> None:
    """mlenv.toml a link to a shared file: an edit to the shared file makes the lock beside
    the link stale for ``lock --locked`` and ``fetch --locked``; ``--frozen`` says so."""
    root, env, _ = locked_project(tmp_path)
    shared = tmp_path / "shared.toml"
    (root / "mlenv.toml").rename(shared)
    (root / "mlenv.toml").symlink_to(shared)
    assert run_mlenv(["lock", "--locked"], root, env).returncode == 0
    shared.write_text(_add_bar(shared.read_text(), ""))
    for args in (["lock", "--locked"], ["fetch", "--locked"]):
        done = run_mlenv(args, root, env)
        assert done.returncode == 1 and "+bar" in done.stderr, (args, done.stderr)
    frozen = run_mlenv(["export", "--format", "requirements", "--frozen"], root, env)
    assert frozen.returncode == 0 and "+bar" in frozen.stderr, frozen.stderr
    assert not (tmp_path / "mlenv.lock").exists()
