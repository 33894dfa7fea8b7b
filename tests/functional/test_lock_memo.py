"""The lock memo (``mlenv.cache.memo``): a first lock from inputs a full run already resolved
is written from the memo, and its bytes and lines are those a full run gives; any change to
what that run read makes the next first lock a full run again.

Each test compares the memo's answer with a full run from an empty cache on the same inputs
(the invariant), and checks that the memo answered where it should (the resolver was never
imported: ``-X importtime``) and did not where it must not.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mlenv.cache import MEMO
from tests.support.cli import run_mlenv
from tests.support.fetch_project import index_and_links
from tests.support.httpserver import IndexServer
from tests.support.memo import Run
from tests.support.memo import first_lock as shared_first_lock
from tests.support.wheels import build_wheel, write_simple_index

WHEELS = [
    build_wheel("app", "1.0", requires_dist=["lib>=1"]),
    build_wheel("lib", "1.0"),
    build_wheel("lib", "2.0"),
]
OTHER = build_wheel("other", "1.0")


def first_lock(
    project: Path,
    cache: Path,
    *args: str,
    after: str = "",
    lock_dir: Path | None = None,
    **env: str,
) -> Run:
    """``tests.support.memo.first_lock``, which must succeed and write a lock."""
    run = shared_first_lock(project, cache, *after.split(), before=args, env=env, lock_dir=lock_dir)
    assert run.status == 0 and run.lock is not None, run.said
    return run


def project_with(tmp_path: Path, index: str, *, deps: tuple[str, ...] = ("app",)) -> Path:
    extra = [build_wheel("extra", "1.0")]
    return index_and_links(tmp_path / "project", index, extra, [*deps, "extra"], name="memo")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return project_with(tmp_path, write_simple_index(tmp_path / "index", WHEELS))


def fresh_run(project: Path, tmp_path: Path) -> Run:
    """A full run from an empty cache: what the memo's answer must equal."""
    cold = tmp_path / f"cold-{len(list(tmp_path.glob('cold-*')))}"
    run = first_lock(project, cold)
    assert not run.recalled
    return run


def test_a_first_lock_is_remembered_and_written_again_byte_for_byte(
    project: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    full = first_lock(project, cache)
    again = first_lock(project, cache)
    assert not full.recalled and again.recalled
    assert again.lock == full.lock and again.said == full.said
    assert any(line.startswith("+ lib 2.0") for line in again.said)
    quiet = first_lock(project, cache, "-q")  # -q is another command line, the same answer
    warned = [line for line in full.said if line.startswith("warning:")]  # -q keeps warnings
    assert quiet.recalled and quiet.lock == full.lock and quiet.said == warned


def _page(index: Path, project: str) -> Path:
    return index / "simple" / project / "index.html"


def _rewrite_keeping_times(path: Path, text: str) -> None:
    info = path.stat()
    path.write_text(text)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def _drop_lib_2_same_size(index: Path, project: Path) -> None:
    """The page keeps its size and modification time; only its change time tells."""
    page = _page(index, "lib")
    text = page.read_text()
    _rewrite_keeping_times(page, text.replace("lib-2.0-py3", "lib-2.0-py9"))
    assert len(page.read_text()) == len(text)


def _json_page_beside_html(index: Path, project: Path) -> None:
    """A JSON page is read first: this one lists lib 1.0 alone."""
    name, data = build_wheel("lib", "1.0")
    entry = {"filename": name, "url": f"../../files/{name}",
             "hashes": {"sha256": hashlib.sha256(data).hexdigest()}}  # fmt: skip
    document = {"meta": {"api-version": "1.1"}, "name": "lib", "files": [entry]}
    (index / "simple" / "lib" / "index.json").write_text(json.dumps(document))


def _newer_wheel_in_find_links(index: Path, project: Path) -> None:
    name, data = build_wheel("extra", "2.0")
    (project / "wheels" / name).write_bytes(data)


def _find_links_wheel_replaced(index: Path, project: Path) -> None:
    name, data = build_wheel("extra", "1.0", extra_metadata=["Summary: other bytes"])
    (project / "wheels" / name).write_bytes(data)


def _metadata_changed(index: Path, project: Path) -> None:
    """lib 2.0's wheel and .metadata now need a project the index lacks at that version."""
    name, data = build_wheel("lib", "2.0", requires_dist=["app<1"])
    write_simple_index(index, [*WHEELS[:2], (name, data)])


def _wheel_replaced_in_place(index: Path, project: Path) -> None:
    """lib 2.0's wheel (no .metadata beside it) now needs ``other``; the page is unchanged."""
    name, data = build_wheel("lib", "2.0", requires_dist=["other"])
    (index / "files" / name).write_bytes(data)


def remembered_by(kept_by: str, project: Path, cache: Path) -> Run:
    """A remembered first lock, kept by a cold run, or by a warm one (whose metadata and
    hashes come from the cache, so it opens fewer files)."""
    before = first_lock(project, cache)
    if kept_by == "warm":
        shutil.rmtree(cache / MEMO)
        assert first_lock(project, cache).lock == before.lock
    assert first_lock(project, cache).recalled
    return before


@pytest.mark.parametrize("kept_by", ["cold", "warm"])
@pytest.mark.parametrize(
    "change",
    [_drop_lib_2_same_size, _json_page_beside_html, _newer_wheel_in_find_links,
     _find_links_wheel_replaced, _metadata_changed],
)  # fmt: skip
def test_any_change_to_what_the_run_read_is_a_full_run_again(
    project: Path, tmp_path: Path, change: Callable[[Path, Path], None], kept_by: str
) -> None:
    cache = tmp_path / "cache"
    before = remembered_by(kept_by, project, cache)
    change(tmp_path / "index", project)
    after = fresh_run(project, tmp_path)
    assert after.lock != before.lock  # the change matters to the answer
    again = first_lock(project, cache)
    assert not again.recalled
    assert again.lock == after.lock and again.said == after.said
    assert first_lock(project, cache).recalled  # and the new answer is remembered


@pytest.mark.parametrize("kept_by", ["cold", "warm"])
def test_a_wheel_whose_metadata_was_read_from_it_is_an_input(tmp_path: Path, kept_by: str) -> None:
    index = write_simple_index(tmp_path / "index", [*WHEELS, OTHER], metadata_files=False)
    project = project_with(tmp_path, index)
    cache = tmp_path / "cache"
    before = remembered_by(kept_by, project, cache)
    _wheel_replaced_in_place(tmp_path / "index", project)
    again = first_lock(project, cache)
    assert not again.recalled and again.lock != before.lock and b"other" in (again.lock or b"")
    assert again.lock == fresh_run(project, tmp_path).lock


def test_a_manifest_named_by_its_absolute_path(project: Path, tmp_path: Path) -> None:
    """Its read is stamped like any user's file, whatever the working directory."""
    cache = tmp_path / "cache"
    manifest = str(project / "mlenv.toml")
    full = first_lock(tmp_path, cache, "--manifest", manifest, lock_dir=project)
    again = first_lock(tmp_path, cache, "--manifest", manifest, lock_dir=project)
    assert again.recalled and again.lock == full.lock and again.said == full.said


def test_a_retargeted_index_symlink_is_another_input(tmp_path: Path) -> None:
    old = write_simple_index(tmp_path / "a", WHEELS)
    write_simple_index(tmp_path / "b", WHEELS[:2])
    (tmp_path / "index").symlink_to(tmp_path / "a")
    project = project_with(tmp_path, old.replace(str(tmp_path / "a"), str(tmp_path / "index")))
    cache = tmp_path / "cache"
    before = first_lock(project, cache)
    assert first_lock(project, cache).recalled
    (tmp_path / "index").unlink()
    (tmp_path / "index").symlink_to(tmp_path / "b")
    again = first_lock(project, cache)
    assert not again.recalled and again.lock != before.lock
    assert again.lock == fresh_run(project, tmp_path).lock


def test_the_same_manifest_elsewhere_is_another_key(project: Path, tmp_path: Path) -> None:
    """A relative find-links directory is found beside the manifest."""
    cache = tmp_path / "cache"
    first_lock(project, cache)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(project, elsewhere)
    _newer_wheel_in_find_links(tmp_path / "index", elsewhere)
    run = first_lock(elsewhere, cache)
    assert not run.recalled and b"extra-2.0" in (run.lock or b"")


def test_mlenv_settings_and_offline_are_in_the_key(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first_lock(project, cache)
    assert not first_lock(project, cache, MLENV_SOMETHING="1").recalled
    assert not first_lock(project, cache, after="--offline").recalled
    assert first_lock(project, cache).recalled


def test_a_remote_index_is_never_remembered(tmp_path: Path) -> None:
    write_simple_index(tmp_path / "www", WHEELS)
    with IndexServer(tmp_path / "www") as server:
        project = project_with(tmp_path, f"{server.url}/simple")
        cache = tmp_path / "cache"
        first_lock(project, cache)
        assert not first_lock(project, cache).recalled
    assert not list((cache / MEMO).glob("*")) if (cache / MEMO).exists() else True


def test_warnings_are_said_again_even_when_quiet(tmp_path: Path) -> None:
    index = write_simple_index(
        tmp_path / "index", WHEELS, yanked={"lib-2.0-py3-none-any.whl": "bad"}
    )
    project = project_with(tmp_path, index, deps=("app", "lib==2.0"))
    cache = tmp_path / "cache"
    full = first_lock(project, cache, "-q")
    again = first_lock(project, cache, "-q")
    assert any("warning" in line and "yanked" in line for line in full.said), full.said
    assert again.recalled and again.said == full.said and again.lock == full.lock


def test_warnings_said_again_load_neither_the_error_classes_nor_the_reporter_interface(
    tmp_path: Path,
) -> None:
    """Protects a remembered lock's speed: its warning is said again through the human and
    quiet reporters and the redactor alone, without ``mlenv.report`` or ``mlenv.errors`` and
    what they import (``dataclasses``, ``json``; ``hashlib``'s OpenSSL for the memo's key):
    a third of such a run's time."""
    index = write_simple_index(
        tmp_path / "index", WHEELS, yanked={"lib-2.0-py3-none-any.whl": "bad"}
    )
    project = project_with(tmp_path, index, deps=("app", "lib==2.0"))
    cache = tmp_path / "cache"
    full = first_lock(project, cache)
    assert "mlenv.errors" in full.loaded  # the full run does load them
    for args in ((), ("-q",)):
        again = first_lock(project, cache, *args)
        assert again.recalled and any("yanked" in line for line in again.said), again.said
        heavy = {"mlenv.report", "mlenv.errors", "dataclasses", "json", "hashlib"}
        assert not again.loaded & heavy, args


def test_what_refuses_the_lock_path_is_said_by_the_full_run(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first_lock(project, cache)
    (project / "mlenv.lock").symlink_to(tmp_path / "nowhere")
    result = run_mlenv(["lock"], project, env={"MLENV_CACHE_DIR": str(cache)})
    assert result.returncode == 1 and "symlink" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_a_damaged_entry_is_a_full_run(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    full = first_lock(project, cache)
    (entry,) = (cache / MEMO).iterdir()
    data = entry.read_bytes()
    code = data[: data.index(b"\nlock\t") + 1]
    for damaged in (
        data.replace(b"\ninfo\t", b"\ntask\t", 1),  # an event of another shape
        data.replace(b"\nread\t", b"\nrade\t", 1),  # an unknown line
        data[:-1],  # the lock's last byte torn off
        code + b"\n",  # nothing after the code: no digest, no lock
        code + b"lock\t" + b"0" * 64 + b"\n\n",  # an empty lock under a digest
    ):
        entry.write_bytes(damaged)
        run = first_lock(project, cache)
        assert run.lock == full.lock and run.said == full.said
        assert not run.recalled
