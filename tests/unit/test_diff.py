"""`mlenv.diff.compare`: every package change is found once, of the right kind, both ways."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.conda.records import CondaRecord
from mlenv.diff import compare, render_markdown, render_text
from mlenv.lockfile import Lock, LockedPackage, LockedPlatform, LockTarget

OPPOSITE = {
    "added": "removed",
    "removed": "added",
    "upgraded": "downgraded",
    "downgraded": "upgraded",
    "rebuilt": "rebuilt",
    "changed": "changed",
}
TARGET = LockTarget("3.11", "2.28", ("linux-64",), "first-index", (), (), ())


def package(name: str, version: str, size: int, build: int) -> LockedPackage:
    digest = hashlib.sha256(f"{name}{version}{build}".encode()).hexdigest()
    return LockedPackage(name, version, f"{name}-{version}.whl", "u", digest, size, "i")


def lock(packages: dict[str, tuple[str, int, int]], conda: tuple[CondaRecord, ...] = ()) -> Lock:
    entries = tuple(package(n, v, s, b) for n, (v, s, b) in sorted(packages.items()))
    return Lock("sha256:" + "0" * 64, TARGET, (LockedPlatform("linux-64", entries, conda),))


_SIDE = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d", "e"]),
    st.tuples(
        st.sampled_from(["1.0", "1.1", "2.0", "2.0.post1"]),
        st.integers(0, 10**9),
        st.integers(0, 1),
    ),
)


@settings(max_examples=200, deadline=None)
@given(old=_SIDE, new=_SIDE)
def test_changes_are_complete_and_reverse_exactly(
    old: dict[str, tuple[str, int, int]], new: dict[str, tuple[str, int, int]]
) -> None:
    """A name is reported iff its artifact differs; swapping the sides swaps the kinds and
    negates the size change; the download totals are the sums of sizes."""
    forward = compare(lock(old), lock(new), "old", "new")
    backward = compare(lock(new), lock(old), "new", "old")
    (fp,), (bp,) = forward.platforms, backward.platforms
    expected = {n for n in old.keys() | new.keys() if old.get(n) != new.get(n)}
    assert {c.name for c in fp.changes} == expected
    reverse = {c.name: c for c in bp.changes}
    for change in fp.changes:
        assert reverse[change.name].kind == OPPOSITE[change.kind]
        assert reverse[change.name].size_delta == -change.size_delta
    assert fp.new_size - fp.old_size == sum(c.size_delta for c in fp.changes)
    assert fp.old_size == sum(s for _, s, _ in old.values())
    assert forward.changed == bool(fp.changes)
    text, markdown = render_text(forward), render_markdown(forward)
    assert all(c.name in text and f"`{c.name}`" in markdown for c in fp.changes)


def test_conda_build_change_is_a_rebuild_and_sources_stay_apart() -> None:
    """A new conda build of one version is "rebuilt"; a PyPI and a conda package of one name
    are two packages."""
    gomp = CondaRecord("numpy", "1.26.4", "py311h1", 1, "linux-64", "c", "u", "f.conda",
                       "a" * 64, "b" * 32, 10)  # fmt: skip
    rebuilt = CondaRecord("numpy", "1.26.4", "py311h2", 2, "linux-64", "c", "u", "g.conda",
                          "c" * 64, "b" * 32, 12)  # fmt: skip
    old = lock({"numpy": ("1.26.4", 5, 0)}, (gomp,))
    new = lock({"numpy": ("2.0", 5, 0)}, (rebuilt,))
    (platform,) = compare(old, new, "o", "n").platforms
    assert [(c.source, c.kind) for c in platform.changes] == [
        ("conda", "rebuilt"),
        ("pypi", "upgraded"),
    ]
