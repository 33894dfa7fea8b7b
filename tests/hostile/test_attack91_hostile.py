"""The lock fast paths attacked (pass 91): the lock memo and the kept "fresh" verdicts.

Each answer given without resolving must equal the answer of a full run from an empty cache:
index and find-links changes that keep a file's size and modification time (restored by
``os.utime``, as ``cp -p`` and ``rsync -t`` do), or a directory's, and a lock edited by hand
while a "fresh" verdict for its previous bytes is kept.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlenv.cache import FRESH
from tests.support.cli import run_mlenv
from tests.support.fetch_project import index_and_links
from tests.support.memo import first_lock
from tests.support.wheels import build_wheel, write_simple_index

WHEELS = [
    build_wheel("app", "1.0", requires_dist=["lib>=1"]),
    build_wheel("lib", "1.0"),
    build_wheel("lib", "2.0"),
]


def project_with(tmp_path: Path) -> Path:
    index = write_simple_index(tmp_path / "index", WHEELS)
    extra = [build_wheel("extra", "1.0")]
    return index_and_links(tmp_path / "project", index, extra, ["app", "extra"], name="attack")


def keeping_times(path: Path, change: Callable[[], object]) -> None:
    """``change``, then ``path``'s access and modification times as they were."""
    info = path.stat()
    change()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def lib_page(tmp_path: Path) -> Path:
    return tmp_path / "index" / "simple" / "lib" / "index.html"


def _edit_page(tmp_path: Path, old: str, new: str) -> None:
    page = lib_page(tmp_path)
    text = page.read_text()
    assert old in text
    keeping_times(page, lambda: page.write_text(text.replace(old, new)))


def _wheel_added_to_find_links_mtime_restored(tmp_path: Path, project: Path) -> None:
    name, data = build_wheel("extra", "2.0")
    keeping_times(project / "wheels", lambda: (project / "wheels" / name).write_bytes(data))


def _lib_2_yanked(tmp_path: Path, project: Path) -> None:
    _edit_page(tmp_path, '">lib-2.0', '" data-yanked="">lib-2.0')


def _lib_2_requires_newer_python(tmp_path: Path, project: Path) -> None:
    old = '<a href="../../files/lib-2.0'
    _edit_page(tmp_path, old, f'<a data-requires-python="&gt;=3.12" {old[3:]}')


def _page_replaced_by_rename(tmp_path: Path, project: Path) -> None:
    """A new inode with the old page's size and modification time."""
    page = lib_page(tmp_path)
    text, info = page.read_text(), page.stat()
    new = page.with_name("new.html")
    new.write_text(text.replace("lib-2.0-py3", "lib-2.0-py9"))
    os.utime(new, ns=(info.st_atime_ns, info.st_mtime_ns))
    new.rename(page)


def _index_copied_over_with_times(tmp_path: Path, project: Path) -> None:
    """Another index (lib 2.0 needs a project it lacks) copied in place, times kept."""
    name, data = build_wheel("lib", "2.0", requires_dist=["absent"])
    write_simple_index(tmp_path / "other", [*WHEELS[:2], (name, data)])
    shutil.rmtree(tmp_path / "index")
    shutil.copytree(tmp_path / "other", tmp_path / "index", copy_function=shutil.copy2)


@pytest.mark.parametrize(
    "change",
    [_wheel_added_to_find_links_mtime_restored, _lib_2_yanked, _lib_2_requires_newer_python,
     _page_replaced_by_rename,
     _index_copied_over_with_times],
)  # fmt: skip
def test_a_change_that_keeps_times_is_not_answered_by_the_memo(
    tmp_path: Path, change: Callable[[Path, Path], None]
) -> None:
    project = project_with(tmp_path)
    cache = tmp_path / "cache"
    before = first_lock(project, cache)
    assert before.status == 0 and first_lock(project, cache).recalled
    change(tmp_path, project)
    again = first_lock(project, cache)
    cold = first_lock(project, tmp_path / f"cold-{time.time_ns()}")
    assert cold.lock != before.lock  # the change matters to the answer
    assert not again.recalled
    assert (again.status, again.lock, again.said) == (cold.status, cold.lock, cold.said)


def test_a_tampered_metadata_file_beside_an_unchanged_page(tmp_path: Path) -> None:
    """A ``.metadata`` rewritten (times kept) while the page still publishes the old sha256:
    a cold run refuses it; a warm one takes the parsed metadata filed under that sha256
    (``docs/security.md``: shared by hash), which is what the page vouches for, so its lock
    is the one the untampered index gives, never one from the tampered file."""
    project = project_with(tmp_path)
    cache = tmp_path / "cache"
    before = first_lock(project, cache)
    assert before.status == 0 and first_lock(project, cache).recalled
    sidecar = tmp_path / "index" / "files" / "lib-2.0-py3-none-any.whl.metadata"
    text = sidecar.read_bytes()
    keeping_times(sidecar, lambda: sidecar.write_bytes(text + b"Requires-Dist: absent\n"))
    again = first_lock(project, cache)
    cold = first_lock(project, tmp_path / "cold")
    assert not again.recalled and (again.status, again.lock) == (0, before.lock)
    assert cold.status == 1 and cold.lock is None
    assert any("does not match the sha256" in line for line in cold.said)


def _check(project: Path, cache: Path, *args: str) -> tuple[int, str]:
    result = run_mlenv(["lock", *args], project, env={"MLENV_CACHE_DIR": str(cache)})
    return result.returncode, result.stderr.replace(str(cache), "CACHE")


def _pin_moved(lock: bytes) -> bytes:
    """lib's pin says 1.0 while its file stays 2.0's; the inputs hash is untouched."""
    return lock.replace(b'version = "2.0"', b'version = "1.0"', 1)


def _byte_order_mark(lock: bytes) -> bytes:
    return b"\xef\xbb\xbf" + lock


def _package_added(lock: bytes) -> bytes:
    """A second copy of lib's pin, under another name."""
    block = lock[lock.index(b'[[platform.linux-64.package]]\nname = "lib"') :]
    return lock + b"\n" + block.replace(b'name = "lib"', b'name = "lib2"')


def _inputs_hash_changed(lock: bytes) -> bytes:
    head, _, tail = lock.partition(b'inputs-hash = "sha256:')
    return head + b'inputs-hash = "sha256:' + (b"1" if tail[:1] == b"0" else b"0") + tail[1:]


@pytest.mark.parametrize(
    "edit", [_pin_moved, _byte_order_mark, _package_added, _inputs_hash_changed]
)
@pytest.mark.parametrize("args", [("--check",), ()])
def test_a_lock_edited_by_hand_is_judged_as_by_an_empty_cache(
    tmp_path: Path, edit: Callable[[bytes], bytes], args: tuple[str, ...]
) -> None:
    """A verdict kept for the lock's previous bytes says nothing about the edited lock."""
    project = project_with(tmp_path)
    cache = tmp_path / "cache"
    assert _check(project, cache)[0] == 0
    assert _check(project, cache, "--check")[0] == 0
    assert any((cache / FRESH).iterdir())  # a verdict for the unedited bytes is kept
    lock = project / "mlenv.lock"
    edited = edit(lock.read_bytes())
    assert edited != lock.read_bytes()
    lock.write_bytes(edited)
    warm = _check(project, cache, *args)
    lock.write_bytes(edited)
    cold = _check(project, tmp_path / "cold", *args)
    assert warm == cold
    assert warm[0] == (0 if edit is _inputs_hash_changed and not args else 1), warm[1]
