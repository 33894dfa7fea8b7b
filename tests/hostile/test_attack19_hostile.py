"""The lock memo attacked: inputs a full run depends on that no stamp covered.

Each test keeps a first lock in the memo, changes something the resolution depends on that
the stamps of the first run did not cover, and requires the next first lock to be what a full
run from an empty cache gives (the memo's invariant): same bytes, same exit status.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.support.cli import run_mlenv
from tests.support.httpserver import IndexServer
from tests.support.memo import Run, first_lock
from tests.support.wheels import build_wheel, write_simple_index


def full_run(project: Path, tmp_path: Path, *after: str) -> Run:
    """What the memo must answer: a run from an empty cache."""
    return first_lock(project, tmp_path / f"cold-{time.time_ns()}", *after)


def write_manifest(project: Path, index: str, deps: str, extra: str = "") -> None:
    project.mkdir(parents=True, exist_ok=True)
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "attack"\npython = "3.11"\n[pypi]\n'
        f'index-url = "{index}"\n{extra}dependencies = [{deps}]\n'
    )


def remembered(project: Path, cache: Path, *after: str) -> Run:
    """A first lock, kept by the memo (the next one is answered from it)."""
    first = first_lock(project, cache, *after)
    assert first.status == 0, first.said
    again = first_lock(project, cache, *after)
    assert again.recalled and again.lock == first.lock
    return first


def same_as_a_full_run(project: Path, cache: Path, tmp_path: Path, *after: str) -> Run:
    answered = first_lock(project, cache, *after)
    full = full_run(project, tmp_path, *after)
    assert (answered.status, answered.lock) == (full.status, full.lock), answered.said
    assert answered.said == full.said
    return answered


def test_a_find_links_symlink_whose_target_appears_in_a_subdirectory(tmp_path: Path) -> None:
    """The directory's stamp shows its own entries, not a file created below it that one of
    them links to: each entry's target is part of the listing."""
    index = write_simple_index(tmp_path / "index", [build_wheel("app", "1.0")])
    project = tmp_path / "project"
    (project / "wheels" / "store").mkdir(parents=True)
    old, old_data = build_wheel("bar", "0.5")
    (project / "wheels" / old).write_bytes(old_data)
    new, new_data = build_wheel("bar", "1.0")
    (project / "wheels" / new).symlink_to(project / "wheels" / "store" / "bar.whl")
    write_manifest(project, index, '"bar"', 'find-links = ["wheels"]\n')
    cache = tmp_path / "cache"
    before = remembered(project, cache)
    (project / "wheels" / "store" / "bar.whl").write_bytes(new_data)
    after = same_as_a_full_run(project, cache, tmp_path)
    assert not after.recalled and after.lock != before.lock


def test_a_relative_find_links_symlink_retargeted(tmp_path: Path) -> None:
    """A relative find-links directory is resolved before it is read: the symlink naming it
    is an input too."""
    index = write_simple_index(tmp_path / "index", [build_wheel("app", "1.0")])
    for where, version in (("w1", "0.5"), ("w2", "1.0")):
        name, data = build_wheel("bar", version)
        (tmp_path / where).mkdir()
        (tmp_path / where / name).write_bytes(data)
    project = tmp_path / "project"
    project.mkdir()
    (project / "wheels").symlink_to(tmp_path / "w1")
    write_manifest(project, index, '"bar"', 'find-links = ["wheels"]\n')
    cache = tmp_path / "cache"
    before = remembered(project, cache)
    (project / "wheels").unlink()
    (project / "wheels").symlink_to(tmp_path / "w2")
    after = same_as_a_full_run(project, cache, tmp_path)
    assert not after.recalled and after.lock != before.lock


def test_a_local_wheel_whose_size_alone_was_read(tmp_path: Path) -> None:
    """An HTML page gives a hash and no size, and the .metadata file the dependencies: the
    wheel itself is only stat'ed for its size, which the lock records."""
    index = write_simple_index(tmp_path / "index", [build_wheel("app", "1.0")])
    project = tmp_path / "project"
    write_manifest(project, index, '"app"')
    cache = tmp_path / "cache"
    before = remembered(project, cache)
    with (tmp_path / "index" / "files" / "app-1.0-py3-none-any.whl").open("ab") as wheel:
        wheel.write(b"grown")
    after = same_as_a_full_run(project, cache, tmp_path)
    assert not after.recalled and after.lock != before.lock


def test_an_http_index_answered_from_the_page_cache_is_never_remembered(tmp_path: Path) -> None:
    """Offline (or while a page is fresh) no connection is made: the answer is the cache's
    copy of a remote index, which may be renewed by any other run."""
    write_simple_index(tmp_path / "www", [build_wheel("app", "1.0")], json=True)
    project = tmp_path / "project"
    cache = tmp_path / "cache"
    with IndexServer(tmp_path / "www") as server:
        write_manifest(project, f"{server.url}/simple", '"app"')
        assert first_lock(project, cache).status == 0  # the pages cached
        assert first_lock(project, cache, "--offline").status == 0
        assert not first_lock(project, cache, "--offline").recalled
        newer = [build_wheel("app", "1.0"), build_wheel("app", "2.0")]
        write_simple_index(tmp_path / "www", newer, json=True)
        assert b"2.0" in (first_lock(project, cache).lock or b"")  # the cache renewed
        offline = first_lock(project, cache, "--offline")
    assert not offline.recalled and b'version = "2.0"' in (offline.lock or b"")


def test_a_symlink_along_a_followed_path_retargeted_to_the_same_files(tmp_path: Path) -> None:
    """The files directory of an index moved out of it, and its old name made a symlink to
    the new place: every file keeps its stamp (a directory's rename leaves its entries' change
    times alone), but a full run refuses to follow a link out of the manifest's directories."""
    index = write_simple_index(tmp_path / "x", [build_wheel("app", "1.0")])
    files = tmp_path / "x" / "files"
    files.rename(tmp_path / "x" / "store")
    files.symlink_to(tmp_path / "x" / "store")
    project = tmp_path / "project"
    write_manifest(project, index, '"app"')
    cache = tmp_path / "cache"
    remembered(project, cache)
    (tmp_path / "out").mkdir()
    (tmp_path / "x" / "store").rename(tmp_path / "out" / "store")
    files.unlink()
    files.symlink_to(tmp_path / "out" / "store")
    after = same_as_a_full_run(project, cache, tmp_path)
    assert after.status == 1 and not after.recalled
    assert any("outside the local directories" in line for line in after.said)


def test_an_empty_index_directory_that_vanishes_takes_its_root_with_it(tmp_path: Path) -> None:
    """An index with no page for any project still makes its directory a root, where another
    index's links may lead; without it they are refused."""
    (tmp_path / "x" / "simple").mkdir(parents=True)
    name, data = build_wheel("app", "1.0")
    (tmp_path / "x" / "files").mkdir()
    (tmp_path / "x" / "files" / name).write_bytes(data)
    page = tmp_path / "y" / "simple" / "app" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(f'<a href="../../../x/files/{name}">{name}</a>\n')
    project = tmp_path / "project"
    extra = f'extra-index-urls = ["{(tmp_path / "y" / "simple").as_uri()}"]\n'
    write_manifest(project, (tmp_path / "x" / "simple").as_uri(), '"app"', extra)
    cache = tmp_path / "cache"
    remembered(project, cache)
    (tmp_path / "x" / "simple").rmdir()
    after = same_as_a_full_run(project, cache, tmp_path)
    assert after.status == 1 and not after.recalled


def test_a_wheel_rewritten_in_place_is_not_answered_by_cached_metadata(tmp_path: Path) -> None:
    """Same size, same inode, the modification time put back: only the change time tells. The
    memo misses, and the warm full run it then keeps must not take the old metadata from the
    metadata cache (keyed by the wheel's stamp) either."""
    wheels = [build_wheel("app", "1.0", requires_dist=["dep1"]), build_wheel("dep1", "1.0"),
              build_wheel("dep2", "1.0")]  # fmt: skip
    index = write_simple_index(tmp_path / "index", wheels, metadata_files=False)
    project = tmp_path / "project"
    write_manifest(project, index, '"app"')
    cache = tmp_path / "cache"
    before = remembered(project, cache)
    _, data = build_wheel("app", "1.0", requires_dist=["dep2"])
    wheel = tmp_path / "index" / "files" / wheels[0][0]
    assert len(data) == wheel.stat().st_size
    info = wheel.stat()
    with wheel.open("r+b") as handle:
        handle.write(data)
    os.utime(wheel, ns=(info.st_atime_ns, info.st_mtime_ns))
    after = same_as_a_full_run(project, cache, tmp_path)
    assert not after.recalled and after.lock != before.lock and b"dep2" in (after.lock or b"")
    assert same_as_a_full_run(project, cache, tmp_path).recalled


def test_the_lines_said_name_the_lock_as_the_manifest_was_named(tmp_path: Path) -> None:
    """The same manifest named from its parent (``--manifest project/mlenv.toml``), then
    from its own directory: a full run says ``wrote mlenv.lock``, not the first run's path."""
    index = write_simple_index(tmp_path / "index", [build_wheel("app", "1.0")])
    project = tmp_path / "project"
    write_manifest(project, index, '"app"')
    cache = tmp_path / "cache"
    env = {"MLENV_CACHE_DIR": str(cache)}
    time.sleep(0.05)
    named = run_mlenv(["--manifest", "project/mlenv.toml", "lock"], tmp_path, env=env)
    assert named.returncode == 0 and "wrote project/mlenv.lock" in named.stderr
    (project / "mlenv.lock").unlink()
    here = same_as_a_full_run(project, cache, tmp_path)
    assert any(line.startswith("wrote mlenv.lock:") for line in here.said), here.said
