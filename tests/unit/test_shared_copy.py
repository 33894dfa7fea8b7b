"""Invariant 1 with ``share``: a build's "copy" of an artifact may be a hard link to the very
inode that was hashed, but only when nobody but this user could change that inode and it lives
on the build's own file system. Every other shape (another owner, group- or world-writable, a
swap between open and link, another device, a bad hash, a failing read) must end as a real
copy of the good bytes, or as an error that leaves nothing behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.cache import held as held_module
from mlenv.cache.artifacts import CacheError, IntegrityError
from mlenv.cache.lock_artifacts import check_cache
from mlenv.trusted_path import others_write
from tests.support.artifacts import ARTIFACTS, EVIL, GOOD, PAYLOADS, swapping
from tests.support.artifacts import filled_cache as filled
from tests.support.mounts import other_file_system

NOBODY = 65534


def _same_inode(a: Path, b: Path) -> bool:
    x, y = a.stat(), b.stat()
    return (x.st_dev, x.st_ino) == (y.st_dev, y.st_ino)


def test_a_private_entry_is_linked_not_copied(tmp_path: Path) -> None:
    """The saving itself: this user's read-only-to-others entry on the same disk is linked."""
    cache = filled(tmp_path / "cache")
    measured = cache.copy_verified(GOOD, tmp_path / "copy", share=True)
    assert (measured.sha256, measured.size) == (GOOD.sha256, GOOD.size)
    assert _same_inode(tmp_path / "copy", cache.path(GOOD.sha256))
    assert (tmp_path / "copy").read_bytes() == PAYLOADS[GOOD.url]


def test_check_cache_shares_only_when_asked(tmp_path: Path) -> None:
    """The build asks (``share=True``); every other caller, a bundle first of all, copies."""
    cache = filled(tmp_path / "cache")
    (tmp_path / "shared").mkdir()
    (tmp_path / "copied").mkdir()
    assert check_cache(cache, ARTIFACTS, copy_to=tmp_path / "shared", share=True) == []
    assert check_cache(cache, ARTIFACTS, copy_to=tmp_path / "copied") == []
    for artifact in ARTIFACTS:
        entry = cache.path(artifact.sha256)
        assert _same_inode(tmp_path / "shared" / artifact.sha256, entry)
        assert not _same_inode(tmp_path / "copied" / artifact.sha256, entry)


@pytest.mark.parametrize("shape", ["group-writable", "world-writable", "another-owner"])
def test_an_entry_others_could_change_is_copied(tmp_path: Path, shape: str) -> None:
    """A file another user could write in place after the hash would change what a link
    shows; such an entry is copied by the hashing read, as without ``share``."""
    cache = filled(tmp_path / "cache")
    entry = cache.path(GOOD.sha256)
    if shape == "group-writable":  # by a group others are in (one no one can name: attack 157)
        entry.chmod(0o664)
        os.chown(entry, -1, 4321)
    elif shape == "world-writable":
        entry.chmod(0o646)
    else:
        os.chown(entry, NOBODY, NOBODY)
    cache.copy_verified(GOOD, tmp_path / "copy", share=True)
    assert not _same_inode(tmp_path / "copy", entry)
    assert (tmp_path / "copy").read_bytes() == PAYLOADS[GOOD.url]


def test_an_entry_on_another_file_system_is_copied(tmp_path: Path) -> None:
    """A cache on another device (a carried disk, a bundle on a stick) may answer a second
    read otherwise: the bytes used are those written to the build's own disk."""
    with other_file_system(tmp_path) as elsewhere:
        cache = filled(elsewhere / "cache")
        cache.copy_verified(GOOD, tmp_path / "copy", share=True)
        assert (tmp_path / "copy").stat().st_dev != cache.path(GOOD.sha256).stat().st_dev
        assert (tmp_path / "copy").read_bytes() == PAYLOADS[GOOD.url]


def test_a_swap_between_open_and_link_never_keeps_the_wrong_inode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link is made by path; if the path names another file by then (here: the tampered
    file swapped in just before ``link``), that link is removed and the held, good file is
    copied instead."""
    cache = filled(tmp_path / "cache")
    entry = cache.path(GOOD.sha256)
    real_link = os.link

    def swap_then_link(src: Path, dst: Path, **kwargs: bool) -> None:
        evil = entry.with_name("evil")
        evil.write_bytes(EVIL)
        evil.replace(entry)
        real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", swap_then_link)
    measured = cache.copy_verified(GOOD, tmp_path / "copy", share=True)
    assert measured.sha256 == GOOD.sha256
    assert (tmp_path / "copy").read_bytes() == PAYLOADS[GOOD.url]
    assert not _same_inode(tmp_path / "copy", entry)


def test_a_symlink_swapped_in_before_the_link_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another shape of the swap: the entry becomes a symlink to a good-looking file."""
    cache = filled(tmp_path / "cache")
    entry = cache.path(GOOD.sha256)
    lure = tmp_path / "lure"
    lure.write_bytes(PAYLOADS[GOOD.url])
    real_link = os.link

    def swap_then_link(src: Path, dst: Path, **kwargs: bool) -> None:
        entry.unlink()
        entry.symlink_to(lure)
        real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", swap_then_link)
    cache.copy_verified(GOOD, tmp_path / "copy", share=True)
    copy = tmp_path / "copy"
    assert not copy.is_symlink()
    assert not _same_inode(copy, lure)
    assert copy.read_bytes() == PAYLOADS[GOOD.url]


@pytest.mark.parametrize("failure", ["tampered", "read-error"])
def test_a_link_that_fails_its_check_is_removed_and_the_entry_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """A linked entry with other bytes, or a read failing half way, leaves no link behind;
    removing the link never removes the cache's file."""
    cache = filled(tmp_path / "cache")
    entry = cache.path(GOOD.sha256)
    if failure == "tampered":
        entry.write_bytes(EVIL)
        expected: type[Exception] = IntegrityError
    else:

        def broken(*_args: object, **_kwargs: object) -> None:
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(held_module, "measure", broken)
        expected = OSError
    with pytest.raises(expected):
        cache.copy_verified(GOOD, tmp_path / "copy", share=True)
    assert not (tmp_path / "copy").exists()
    assert entry.is_file()


def test_an_existing_destination_is_neither_replaced_nor_removed(tmp_path: Path) -> None:
    """The link, like the copy, only ever makes a new name: a file already at ``dest`` stays."""
    cache = filled(tmp_path / "cache")
    (tmp_path / "copy").write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        cache.copy_verified(GOOD, tmp_path / "copy", share=True)
    assert (tmp_path / "copy").read_bytes() == b"mine"


@settings(max_examples=25, deadline=None)
@given(modes=st.lists(st.sampled_from([0o444, 0o644, 0o664, 0o666, 0o600, 0o646]), min_size=1))
def test_racing_swaps_and_mode_changes_never_yield_other_bytes(
    tmp_path_factory: pytest.TempPathFactory, modes: list[int]
) -> None:
    """A swapper flips the entry between tampered and good files of assorted modes while
    shared copies are made: every copy that succeeds holds the good bytes, and is a link only
    to an inode nobody else may write."""
    root = tmp_path_factory.mktemp("race")
    cache = filled(root / "cache")
    versions = [(EVIL if n % 2 else PAYLOADS[GOOD.url], mode) for n, mode in enumerate(modes * 2)]
    with swapping(cache.path(GOOD.sha256), versions):
        for number in range(40):
            copy = root / f"copy-{number}"
            try:
                cache.copy_verified(GOOD, copy, share=True)
            except CacheError:
                assert not copy.exists()
            else:
                assert copy.read_bytes() == PAYLOADS[GOOD.url]
                # a copy (0644) or a link to a file nobody else may write (gid 0: root alone)
                assert others_write(copy.stat()) is None
