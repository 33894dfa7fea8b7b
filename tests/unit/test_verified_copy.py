"""Invariant 1: what is installed is what was hashed. ``ArtifactCache.copy_verified`` (over
``mlenv.cache.artifacts.open_plain``) is the only way bytes leave the cache or a bundle;
``check_bundle`` judges a bundle by what it holds. Symlinks, FIFOs, directories and swapped
files are attacked here in several shapes."""

from __future__ import annotations

import hashlib
import json
import os
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.cache.artifacts import Artifact, ArtifactCache, CacheError, IntegrityError
from mlenv.cache.bundle import check_bundle, write_bundle
from mlenv.cache.download import fetch
from mlenv.cache.files import open_plain
from mlenv.cache.lock_artifacts import check_cache
from mlenv.report import MemoryReporter
from tests.support.artifacts import ARTIFACTS, EVIL, GOOD, PAYLOADS, FakeOpener, swapping
from tests.support.artifacts import filled_cache as filled


def test_the_copy_is_the_bytes_that_were_hashed(tmp_path: Path) -> None:
    """A verified copy holds exactly the locked bytes, measured by the read that made it."""
    cache = filled(tmp_path / "cache")
    measured = cache.copy_verified(GOOD, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == PAYLOADS[GOOD.url]
    assert (measured.sha256, measured.size) == (GOOD.sha256, GOOD.size)
    assert (tmp_path / "copy").stat().st_ino != cache.path(GOOD.sha256).stat().st_ino


def test_a_tampered_entry_leaves_no_copy(tmp_path: Path) -> None:
    """Same size, other bytes: refused, and the half-made copy is removed."""
    cache = filled(tmp_path / "cache")
    cache.path(GOOD.sha256).write_bytes(EVIL)
    with pytest.raises(IntegrityError, match="cached file has sha256"):
        cache.copy_verified(GOOD, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


def test_a_file_swapped_after_opening_is_not_what_is_copied(tmp_path: Path) -> None:
    """The check and the use are one read: a swap of the cache path once it is open (the
    window between `verify` and `install` in the old code) cannot change the copy."""
    cache = filled(tmp_path / "cache")
    path = cache.path(GOOD.sha256)
    with cache.open(GOOD) as handle:
        evil = path.with_name("evil")
        evil.write_bytes(EVIL)
        evil.replace(path)  # the swap, between open and read
        assert handle.read() == PAYLOADS[GOOD.url]
    with pytest.raises(IntegrityError):  # the next user sees the swap and refuses it
        cache.copy_verified(GOOD, tmp_path / "copy")


def test_a_file_growing_while_read_is_bounded(tmp_path: Path) -> None:
    """A writer appending to a FIFO-like endless file cannot make the read endless."""
    cache = filled(tmp_path / "cache")
    path = cache.path(GOOD.sha256)
    with path.open("ab") as handle:
        handle.write(b"x" * (3 << 20))
    with pytest.raises(IntegrityError, match="bytes, the lock says"):
        cache.copy_verified(GOOD, None)


def _link_entry(cache: ArtifactCache, target: Path) -> None:
    entry = cache.path(GOOD.sha256)
    entry.unlink()
    entry.symlink_to(target)


@pytest.mark.parametrize(
    "shape", ["symlink-to-good-copy", "symlinked-directory", "fifo", "directory", "dotdot"]
)
def test_an_entry_that_is_not_a_plain_file_is_refused_never_followed(
    tmp_path: Path, shape: str
) -> None:
    """Protects against a cache that points elsewhere: the right bytes behind a symlink are
    still refused (they can be swapped behind mlenv's back), a FIFO does not hang."""
    cache = filled(tmp_path / "cache")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "good").write_bytes(PAYLOADS[GOOD.url])
    entry = cache.path(GOOD.sha256)
    if shape == "symlink-to-good-copy":
        _link_entry(cache, outside / "good")
    elif shape == "symlinked-directory":
        moved = outside / "ab"
        entry.parent.rename(moved)
        entry.parent.symlink_to(moved)
    elif shape == "fifo":
        entry.unlink()
        os.mkfifo(entry)
    elif shape == "directory":
        entry.unlink()
        entry.mkdir()
    if shape == "dotdot":
        with pytest.raises(OSError, match="not a normalised relative path"):
            open_plain(cache.root, f"../outside/{GOOD.sha256}")
        return
    with pytest.raises(IntegrityError, match="cannot be used") as info:
        cache.copy_verified(GOOD, tmp_path / "copy")
    assert (
        "symlink" in info.value.message
        or "FIFO" in info.value.message
        or ("directory" in info.value.message)
    )
    assert not (tmp_path / "copy").exists()
    assert not cache.has(GOOD)
    assert [p.where for p in check_cache(cache, [GOOD])] == [str(cache.path(GOOD.sha256))]


def test_fetch_replaces_a_symlinked_entry_and_leaves_its_target_alone(tmp_path: Path) -> None:
    """A symlink is not an entry: fetch downloads the file again, over the link, not through it."""
    cache = filled(tmp_path / "cache")
    victim = tmp_path / "victim"
    victim.write_bytes(b"user data")
    _link_entry(cache, victim)
    fetch([GOOD], cache, FakeOpener(), reporter=MemoryReporter())
    assert victim.read_bytes() == b"user data"
    assert not cache.path(GOOD.sha256).is_symlink()
    assert cache.copy_verified(GOOD, None).sha256 == GOOD.sha256


def test_the_cache_is_never_written_through_a_symlinked_directory(tmp_path: Path) -> None:
    """A planted `artifacts-v1/sha256/ab -> elsewhere` would put files wherever it points."""
    cache = ArtifactCache(tmp_path / "cache")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cache.path(GOOD.sha256).parent.parent.mkdir(parents=True)
    cache.path(GOOD.sha256).parent.symlink_to(elsewhere)
    with pytest.raises(CacheError, match="is a symlink"):
        fetch([GOOD], cache, FakeOpener(), reporter=MemoryReporter())
    assert list(elsewhere.iterdir()) == []


def test_a_planted_lock_file_symlink_is_not_written_through(tmp_path: Path) -> None:
    """A shared cache's `locks-v1/<sha>.lock -> ~/.bashrc` must not create or touch the target."""
    cache = ArtifactCache(tmp_path / "cache")
    (tmp_path / "cache" / "locks-v1").mkdir(parents=True)
    (tmp_path / "cache" / "locks-v1" / f"{GOOD.sha256}.lock").symlink_to(tmp_path / "bashrc")
    with pytest.raises(CacheError, match="cannot write to the cache"):
        fetch([GOOD], cache, FakeOpener(), reporter=MemoryReporter())
    assert not (tmp_path / "bashrc").exists()


def test_a_cache_entry_swapped_for_another_process_file_is_not_read_as_it_changes(
    tmp_path: Path,
) -> None:
    """Many swaps racing many verified copies: every copy that succeeds holds the good bytes."""
    cache = filled(tmp_path / "cache")
    with swapping(cache.path(GOOD.sha256), [(EVIL, 0o644), (PAYLOADS[GOOD.url], 0o644)]):
        for number in range(200):
            copy = tmp_path / f"copy-{number}"
            try:
                cache.copy_verified(GOOD, copy)
            except CacheError:
                assert not copy.exists()
            else:
                assert copy.read_bytes() == PAYLOADS[GOOD.url]


# ---------------------------------------------------------------------------------------------
# Bundles


def make_bundle(tmp_path: Path) -> Path:
    cache = filled(tmp_path / "cache")
    (tmp_path / "mlenv.toml").write_text("# manifest\n")
    (tmp_path / "mlenv.lock").write_text("# lock\n")
    return write_bundle(
        tmp_path / "bundle", tmp_path / "mlenv.toml", tmp_path / "mlenv.lock", ARTIFACTS, cache
    )


def test_a_bundle_holds_copies_and_states_what_it_measured(tmp_path: Path) -> None:
    """bundle.json states the hash of each file it holds; no file shares the cache's inode,
    so a later write to the cache cannot change a bundle already written."""
    bundle = make_bundle(tmp_path)
    cache = ArtifactCache(tmp_path / "cache")
    for entry in json.loads((bundle / "bundle.json").read_bytes())["files"]:
        data = (bundle / entry["path"]).read_bytes()
        assert (entry["sha256"], entry["size"]) == (hashlib.sha256(data).hexdigest(), len(data))
    for artifact in ARTIFACTS:
        held = ArtifactCache(bundle).path(artifact.sha256).stat()
        assert held.st_ino != cache.path(artifact.sha256).stat().st_ino


def test_a_bundle_is_never_made_from_a_tampered_cache(tmp_path: Path) -> None:
    """The old writer linked the cache file in and copied the lock's hash into bundle.json:
    a same-size tampered file shipped with a bundle.json vouching for it."""
    cache = filled(tmp_path / "cache")
    cache.path(ARTIFACTS[2].sha256).write_bytes(b"\0" * ARTIFACTS[2].size)
    (tmp_path / "mlenv.toml").write_text("")
    (tmp_path / "mlenv.lock").write_text("")
    with pytest.raises(IntegrityError, match=r"pkg2\.whl"):
        write_bundle(
            tmp_path / "bundle", tmp_path / "mlenv.toml", tmp_path / "mlenv.lock", ARTIFACTS, cache
        )
    assert not (tmp_path / "bundle").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bundle")] == []


def _entry(bundle: Path, artifact: Artifact) -> Path:
    return ArtifactCache(bundle).path(artifact.sha256)


def test_every_entry_that_is_not_a_plain_file_is_reported(tmp_path: Path) -> None:
    """A bundle is judged by what it holds: symlinks (even to the right bytes), FIFOs and
    directories where files are listed, and every such extra entry, are all named."""
    bundle = make_bundle(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    for number, artifact in enumerate(ARTIFACTS[:3]):
        (outside / str(number)).write_bytes(PAYLOADS[artifact.url])
    _entry(bundle, ARTIFACTS[0]).unlink()
    _entry(bundle, ARTIFACTS[0]).symlink_to(outside / "0")
    _entry(bundle, ARTIFACTS[1]).unlink()
    os.mkfifo(_entry(bundle, ARTIFACTS[1]))
    _entry(bundle, ARTIFACTS[2]).unlink()
    _entry(bundle, ARTIFACTS[2]).mkdir()
    moved = outside / "dir3"
    _entry(bundle, ARTIFACTS[3]).parent.rename(moved)
    _entry(bundle, ARTIFACTS[3]).parent.symlink_to(moved)
    (bundle / "link-to-etc").symlink_to("/etc")
    os.mkfifo(bundle / "pipe")
    (bundle / "stray-dir").mkdir()
    found = {(p.kind, p.path): p.detail for p in check_bundle(bundle)}
    sha = [a.sha256 for a in ARTIFACTS]
    path = [f"artifacts-v1/sha256/{s[:2]}/{s}" for s in sha]
    assert found[("not-a-file", path[0])].startswith("is a symlink")
    assert found[("not-a-file", path[1])].startswith("is a FIFO")
    assert found[("not-a-file", path[2])].startswith("is a directory")
    assert "is a symlink" in found[("not-a-file", path[3])]
    for extra in ("link-to-etc", "pipe", "stray-dir", f"artifacts-v1/sha256/{sha[3][:2]}"):
        assert ("extra", extra) in found, extra
    assert ("missing", path[4]) not in found


def test_a_symlinked_bundle_index_is_not_read(tmp_path: Path) -> None:
    """bundle.json itself is judged like any entry: a symlink to a valid index is refused."""
    bundle = make_bundle(tmp_path)
    (bundle / "bundle.json").rename(tmp_path / "index.json")
    (bundle / "bundle.json").symlink_to(tmp_path / "index.json")
    problems = check_bundle(bundle)
    assert [(p.kind, p.path) for p in problems] == [("index", "bundle.json")]
    assert "symlink" in problems[0].detail


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("../outside/0", "outside the bundle"),
        ("/etc/passwd", "outside the bundle"),
        ("artifacts-v1//x", "not normalised"),
        ("./mlenv.lock", "not normalised"),
        ("bundle.json", "outside the bundle"),
    ],
)
def test_bundle_index_entries_cannot_point_outside(tmp_path: Path, path: str, says: str) -> None:
    """A listed path is never joined to the bundle unless it is a normalised path inside it."""
    bundle = make_bundle(tmp_path)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "0").write_bytes(b"secret")
    index = json.loads((bundle / "bundle.json").read_bytes())
    index["files"].append({"path": path, "sha256": "0" * 64, "size": 6})
    (bundle / "bundle.json").write_text(json.dumps(index))
    found = [(p.kind, p.path, p.detail) for p in check_bundle(bundle)]
    assert [(k, p) for k, p, _ in found] == [("index", path)]
    assert says in found[0][2]


def test_bundle_index_duplicates_and_lies_about_names_are_reported(tmp_path: Path) -> None:
    """One path listed twice, or an artifact listed under another's sha256, is a damaged index."""
    bundle = make_bundle(tmp_path)
    index = json.loads((bundle / "bundle.json").read_bytes())
    index["files"].append(dict(index["files"][-1]))
    lie = next(e for e in index["files"] if e["path"].startswith("artifacts-v1/"))
    lie["sha256"] = "f" * 64
    (bundle / "bundle.json").write_text(json.dumps(index))
    kinds = sorted((p.kind, p.detail.split(" ")[2]) for p in check_bundle(bundle))
    assert ("index", "is") in kinds  # "... entry is listed twice"
    assert ("index", "says") in kinds
    assert all(kind != "corrupted" for kind, _ in kinds)


_SEGMENTS = st.sampled_from(["..", ".", "", "artifacts-v1", "x", "mlenv.lock", "/", "\x00"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.lists(_SEGMENTS, min_size=1, max_size=5).map("/".join),
            st.text(string.printable, max_size=20),
        ),
        max_size=5,
    )
)
def test_no_listed_path_is_read_outside_the_bundle(paths: list[str]) -> None:
    """Whatever bundle.json lists, check_bundle never reports on (so never opened) a path that
    is not a normalised relative path inside the bundle."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        bundle = Path(scratch) / "bundle"
        bundle.mkdir()
        (Path(scratch) / "secret").write_bytes(b"s")
        (bundle / "x").write_bytes(b"s")
        files = [{"path": p, "sha256": "0" * 64, "size": 1} for p in paths]
        (bundle / "bundle.json").write_text(json.dumps({"bundle-version": 1, "files": files}))
        for problem in check_bundle(bundle):
            if problem.kind == "index":
                continue
            parts = problem.path.split("/")
            assert not problem.path.startswith("/"), problem
            assert not set(parts) & {"..", ".", ""}, problem
            assert "\x00" not in problem.path
