"""The resolver over an in-memory index: every rule that decides which wheel is picked."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from mlenv.index import IndexFile, IndexGroup, MemoryIndex, MetadataError
from mlenv.report import MemoryReporter
from mlenv.requires_python import python_floor
from mlenv.resolver.model import Resolution, ResolutionError
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.wheels import build_wheel

X86_311 = Target("linux-64", "3.11", "2.28")


def index(*wheels: tuple[str, bytes], url: str = "memory://a", **kw: object) -> MemoryIndex:
    return MemoryIndex(url, dict(wheels), **kw)  # type: ignore[arg-type]


def pins(resolution: Resolution) -> dict[str, str]:
    return {pin.name: str(pin.version) for pin in resolution.pins}


def lock(reqs: Iterable[str], idx: object, target: Target = X86_311, **kw: object) -> Resolution:
    return resolve(
        [Requirement(r) for r in reqs],
        target,
        idx,  # type: ignore[arg-type]
        reporter=MemoryReporter(),
        **kw,  # type: ignore[arg-type]
    )


def test_picks_newest_versions_and_records_dependencies() -> None:
    idx = index(
        build_wheel("app", "1.0", requires_dist=["lib>=1"]),
        build_wheel("lib", "1.0"),
        build_wheel("lib", "2.0"),
    )
    result = lock(["app"], idx)
    assert pins(result) == {"app": "1.0", "lib": "2.0"}
    assert result.by_name()[canonicalize_name("app")].dependencies == ("lib",)


def test_markers_are_evaluated_for_the_target_not_the_host() -> None:
    idx = index(
        build_wheel(
            "app",
            "1.0",
            requires_dist=[
                "armonly; platform_machine == 'aarch64'",
                "x86only; platform_machine == 'x86_64'",
                "new-py; python_version >= '3.12'",
            ],
        ),
        build_wheel("armonly", "1.0"),
        build_wheel("x86only", "1.0"),
        build_wheel("new-py", "1.0"),
    )
    assert pins(lock(["app"], idx)) == {"app": "1.0", "x86only": "1.0"}
    arm312 = Target("linux-aarch64", "3.12", "2.28")
    assert pins(lock(["app"], idx, arm312)) == {"app": "1.0", "armonly": "1.0", "new-py": "1.0"}


def test_root_requirement_markers_apply_too() -> None:
    idx = index(build_wheel("a", "1.0"), build_wheel("b", "1.0"))
    result = lock(["a", "b; python_version < '3.11'"], idx)
    assert pins(result) == {"a": "1.0"}


def test_platform_tags_choose_the_wheel_for_the_target() -> None:
    idx = index(
        build_wheel("fast", "2.0", tag="cp311-cp311-manylinux_2_17_x86_64"),
        build_wheel("fast", "2.0", tag="cp311-cp311-manylinux_2_28_aarch64"),
        build_wheel("fast", "2.0", tag="cp312-cp312-manylinux_2_17_x86_64"),
        build_wheel("fast", "3.0", tag="cp311-cp311-manylinux_2_34_x86_64"),
    )
    result = lock(["fast"], idx)
    (pin,) = result.pins
    assert str(pin.version) == "2.0"  # 3.0 needs glibc 2.34, above the target's 2.28
    assert pin.file.filename == "fast-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    arm = lock(["fast"], idx, Target("linux-aarch64", "3.11", "2.28"))
    assert arm.pins[0].file.filename.endswith("manylinux_2_28_aarch64.whl")
    py312 = lock(["fast"], idx, Target("linux-64", "3.12", "2.28"))
    assert py312.pins[0].file.filename.startswith("fast-2.0-cp312")


def test_most_specific_tag_wins_over_pure_python() -> None:
    idx = index(
        build_wheel("dual", "1.0"),
        build_wheel("dual", "1.0", tag="cp311-abi3-manylinux_2_17_x86_64"),
    )
    assert lock(["dual"], idx).pins[0].file.filename.endswith("abi3-manylinux_2_17_x86_64.whl")


def test_requires_python_excludes_releases() -> None:
    idx = index(
        build_wheel("lib", "1.0", requires_python=">=3.9"),
        build_wheel("lib", "2.0", requires_python=">=3.12"),
    )
    assert pins(lock(["lib"], idx)) == {"lib": "1.0"}
    assert pins(lock(["lib"], idx, Target("linux-64", "3.12"))) == {"lib": "2.0"}


def test_extras_pull_their_dependencies_and_share_the_version() -> None:
    idx = index(
        build_wheel(
            "web",
            "1.0",
            provides_extra=["socks"],
            requires_dist=["core", "pysocks; extra == 'socks'"],
        ),
        build_wheel("core", "1.0"),
        build_wheel("pysocks", "1.7"),
    )
    assert pins(lock(["web"], idx)) == {"web": "1.0", "core": "1.0"}
    result = lock(["web[socks]"], idx)
    assert pins(result) == {"web": "1.0", "core": "1.0", "pysocks": "1.7"}
    assert result.by_name()[canonicalize_name("web")].dependencies == ("core", "pysocks")


@pytest.mark.parametrize(
    ("roots", "expected"),
    [
        (
            ["web[socks]!=1.0+cu1"],
            "1.0",
        ),  # the extra's 1.0 tied the base to ==1.0, which 1.0+cu1 met
        (["web[socks]==1.0"], "1.0+cu1"),  # == without a local label admits the local build
        (["web[socks]", "web!=1.0+cu1"], "1.0"),
        (["web[socks]===1.0"], "1.0"),
    ],
)
def test_an_extra_and_its_base_are_the_same_version_local_label_included(
    roots: list[str], expected: str
) -> None:
    """An extra's candidate is tied to its base by exact version: 1.0 and 1.0+cu1 are two
    releases, and a lock pinned the base at 1.0+cu1 for ``web[socks]!=1.0+cu1`` (random worlds
    against uv found it)."""
    idx = index(
        build_wheel(
            "web", "1.0", provides_extra=["socks"], requires_dist=["pysocks; extra == 'socks'"]
        ),
        build_wheel("web", "1.0+cu1", provides_extra=["socks"]),
        build_wheel("pysocks", "1.7"),
    )
    found = pins(lock(roots, idx))
    assert found["web"] == expected
    assert ("pysocks" in found) == (expected == "1.0")


def test_prereleases_only_when_asked_or_nothing_else_fits() -> None:
    idx = index(
        build_wheel("lib", "1.0"), build_wheel("lib", "2.0b1"), build_wheel("only", "1.0rc1")
    )
    assert pins(lock(["lib"], idx)) == {"lib": "1.0"}
    assert pins(lock(["lib>=2.0b1"], idx)) == {"lib": "2.0b1"}
    assert pins(lock(["only"], idx)) == {"only": "1.0rc1"}


def test_yanked_files_are_avoided_unless_pinned_exactly() -> None:
    good = build_wheel("lib", "1.0")
    bad = build_wheel("lib", "1.1")
    idx = index(good, bad, yanked={bad[0]: "broken build"})
    assert pins(lock(["lib"], idx)) == {"lib": "1.0"}
    assert pins(lock(["lib==1.1"], idx)) == {"lib": "1.1"}
    assert pins(lock(["lib>=1.0"], idx)) == {"lib": "1.0"}


def test_a_dependency_may_need_a_prerelease_but_only_the_manifest_takes_a_yanked_file() -> None:
    """uv 0.12's rule: a dependency pinning ``c==2.0b1`` gets it (no final release meets the
    pin), as the same pin in the manifest does; a range with a final release in it takes the
    final. A yanked ``y==2.0`` still needs the manifest's own exact pin (PEP 592, as uv)."""
    idx = index(
        build_wheel("app", "1.0", requires_dist=["c==2.0b1"]),
        build_wheel("c", "1.0"),
        build_wheel("c", "2.0b1"),
    )
    assert pins(lock(["app"], idx)) == {"app": "1.0", "c": "2.0b1"}
    assert pins(lock(["app", "c>=2.0a1"], idx)) == {"app": "1.0", "c": "2.0b1"}
    assert pins(lock(["c>=1.0a1"], idx)) == {"c": "1.0"}  # a final release in range comes first
    old, bad = build_wheel("y", "1.0"), build_wheel("y", "2.0")
    idx = index(build_wheel("app", "1.0", requires_dist=["y==2.0"]), old, bad, yanked={bad[0]: ""})
    with pytest.raises(ResolutionError, match=r"2\.0 is yanked"):
        lock(["app"], idx)
    assert pins(lock(["app", "y==2.0"], idx)) == {"app": "1.0", "y": "2.0"}
    idx = index(build_wheel("lib", "0.1"), build_wheel("lib", "1.0a1"))
    assert pins(lock(["lib>0.1"], idx)) == {"lib": "1.0a1"}  # nothing final in range
    assert pins(lock(["lib"], idx)) == {"lib": "0.1"}


def test_a_prerelease_is_a_fallback_after_every_final_release_is_rejected() -> None:
    """The resolution itself can rule out every final release (``app`` needs ``c>=2.0a1``):
    the pre-release is then taken; an exclusion (``c!=2.0a1``) only removes what it names."""
    idx = index(build_wheel("c", "1.0"), build_wheel("c", "2.0a1"), build_wheel("c", "2.0b1"))
    assert pins(lock(["c!=2.0a1"], idx)) == {"c": "1.0"}
    assert pins(lock(["c!=2.0a1,!=3.0.*"], idx)) == {"c": "1.0"}
    assert pins(lock(["c~=2.0a1"], idx)) == {"c": "2.0b1"}
    assert pins(lock(["c>=1.0,!=2.0b1,!=2.0a2"], idx)) == {"c": "1.0"}
    assert pins(lock(["c!=1.0"], idx)) == {"c": "2.0b1"}
    with_app = index(
        build_wheel("app", "1.0", requires_dist=["c>=2.0a1"]),
        build_wheel("c", "1.0"),
        build_wheel("c", "2.0a1"),
        build_wheel("c", "2.0b1"),
    )
    assert pins(lock(["app", "c!=2.0b1"], with_app)) == {"app": "1.0", "c": "2.0a1"}


def test_a_locked_prerelease_stays_locked_while_its_range_still_admits_it() -> None:
    """A lock made when ``c>=0.5a1`` took the pre-release keeps it on re-lock (the previous
    lock's pins are preferred), so upgrading mlenv does not move a user's pins by itself."""
    idx = index(build_wheel("c", "1.0.0"), build_wheel("c", "2.0.0a1"))
    assert pins(lock(["c>=0.5a1"], idx)) == {"c": "1.0.0"}
    kept = lock(["c>=0.5a1"], idx, preferences={canonicalize_name("c"): Version("2.0.0a1")})
    assert pins(kept) == {"c": "2.0.0a1"}


@pytest.mark.parametrize(
    ("requires_python", "fits"),
    [
        ("<=3.10", True),  # upper bounds are ignored, as uv does
        (">=3.8,<3.11", True),
        ("!=3.11.*", True),
        ("==3.10.*", True),
        ("~=3.12", False),
        (">=3.11.1", False),  # the target is the oldest patch of its minor
        (">3.11", False),  # 3.11.0 is not above 3.11
        (">=3.12,<4", False),
    ],
)
def test_requires_python_judges_lower_bounds_only(requires_python: str, fits: bool) -> None:
    """Only a lower bound of Requires-Python refuses a wheel for the target CPython."""
    idx = index(build_wheel("lib", "1.0", requires_python=requires_python))
    if fits:
        assert pins(lock(["lib"], idx)) == {"lib": "1.0"}
    else:
        with pytest.raises(ResolutionError, match="requires Python"):
            lock(["lib"], idx)


def test_preferences_keep_existing_pins_that_still_fit() -> None:
    idx = index(build_wheel("lib", "1.0"), build_wheel("lib", "1.5"), build_wheel("lib", "2.0"))
    assert pins(lock(["lib"], idx, preferences={"lib": Version("1.5")})) == {"lib": "1.5"}
    assert pins(lock(["lib>=2"], idx, preferences={"lib": Version("1.5")})) == {"lib": "2.0"}


def backtracking_index() -> MemoryIndex:
    """app 2.0 needs lib<2 and other>=2, which needs lib>=2: the resolver must go back to 1.0."""
    return index(
        build_wheel("app", "2.0", requires_dist=["lib<2", "other>=2"]),
        build_wheel("app", "1.0", requires_dist=["lib<2"]),
        build_wheel("other", "2.0", requires_dist=["lib>=2"]),
        build_wheel("lib", "1.0"),
        build_wheel("lib", "2.0"),
    )


def test_backtracks_to_a_compatible_set() -> None:
    idx = backtracking_index()
    assert pins(lock(["app"], idx)) == {"app": "1.0", "lib": "1.0"}


def test_conflict_is_explained_as_chains() -> None:
    idx = index(
        build_wheel("frame", "1.0", requires_dist=["numlib<2"]),
        build_wheel("tool", "3.0", requires_dist=["frame"]),
        build_wheel("numlib", "1.0"),
        build_wheel("numlib", "2.0"),
    )
    with pytest.raises(ResolutionError) as info:
        lock(["tool", "numlib>=2"], idx)
    text = info.value.message
    assert text.splitlines() == [
        "cannot resolve the PyPI requirements for linux-64, CPython 3.11, glibc 2.28:",
        "numlib: no version satisfies all of",
        "  numlib>=2 (from the manifest)",
        "  numlib<2 (from frame 1.0 <- tool 3.0 <- the manifest)",
        "  versions available for the target: 2.0, 1.0",
    ]
    assert info.value.hint is not None and "relax one" in info.value.hint


def test_missing_package_names_the_indexes_searched() -> None:
    idx = index(build_wheel("a", "1.0"))
    with pytest.raises(ResolutionError) as info:
        lock(["ghost>=1"], idx, indexes_searched=("https://idx.example/simple",))
    assert "ghost: not found on https://idx.example/simple" in info.value.message
    assert "  ghost>=1 (from the manifest)" in info.value.message


def test_sdist_only_package_is_named_with_the_reason() -> None:
    idx = MemoryIndex("memory://a", {"oldpkg-1.0.tar.gz": b"not really"})
    with pytest.raises(ResolutionError) as info:
        lock(["oldpkg"], idx, indexes_searched=("memory://a",))
    assert (
        "oldpkg: no installable file on memory://a (versions seen: 1.0; "
        "1 file(s): only an sdist (mlenv locks wheels only))"
    ) in info.value.message
    # the hint says what to do (tensorrt-cu12 on PyPI: wrapper sdists only), not "relax"
    assert (info.value.hint or "").startswith(
        "oldpkg: every release that fits is an sdist here, and mlenv locks wheels only"
    )
    assert "[pypi] extra-index-urls" in (info.value.hint or "")
    assert "find-links" in (info.value.hint or "")


def test_a_pin_whose_release_is_only_an_sdist_gets_the_sdist_hint() -> None:
    """tensorflow 2.15.0 pins tensorrt==8.6.1.post1, an sdist; tensorrt 10.0.0b6 has wheels."""
    idx = MemoryIndex(
        "memory://a",
        {
            "trt-8.6.1.post1.tar.gz": b"not really",
            **dict([build_wheel("trt", "10.0.0b6")]),
            **dict([build_wheel("tf", "2.15.0", requires_dist=["trt==8.6.1.post1"])]),
        },
    )
    with pytest.raises(ResolutionError) as info:
        lock(["tf"], idx, indexes_searched=("memory://a",))
    assert (info.value.hint or "").startswith("trt: every release that fits is an sdist here")


def test_an_sdist_beside_a_wheel_for_another_machine_keeps_the_plain_hint() -> None:
    idx = MemoryIndex(
        "memory://a",
        {
            "mixed-1.0.tar.gz": b"not really",
            **dict([build_wheel("mixed", "1.0", tag="cp311-cp311-macosx_11_0_arm64")]),
        },
    )
    with pytest.raises(ResolutionError) as info:
        lock(["mixed"], idx, indexes_searched=("memory://a",))
    assert "is an sdist here" not in (info.value.hint or "")


def test_a_release_with_wheels_for_older_pythons_only_says_so_and_names_the_fix() -> None:
    """numpy<1.24 for CPython 3.12 (round 2 against PyPI): 1.23.5 has cp38-cp311 wheels and an
    sdist; the lock said "no wheel for the target's tags" and hinted "relax one of the
    conflicting requirements"."""
    files = {"old-1.23.5.tar.gz": b"not really", "old-0.1.tar.gz": b"only an sdist"}
    files.update([build_wheel("old", "1.10.0", tag="cp27-cp27m-win_amd64")])
    for python in ("cp310", "cp311"):
        files.update([build_wheel("old", "1.23.5", tag=f"{python}-{python}-manylinux_2_17_x86_64")])
        files.update([build_wheel("old", "1.23.5", tag=f"{python}-{python}-macosx_11_0_arm64")])
    files.update([build_wheel("old", "2.0", tag="cp312-cp312-manylinux_2_17_x86_64")])
    with pytest.raises(ResolutionError) as info:
        lock(["old<2"], MemoryIndex("memory://a", files), Target("linux-64", "3.12", "2.28"))
    assert (
        "refused: 1.23.5: no wheel for the target's tags: built for another Python (cp311), "
        "not CPython 3.12" in str(info.value.message)
    )
    assert (info.value.hint or "").startswith(
        "old: no release that fits has a wheel for CPython 3.12"
    )


def test_no_wheel_for_the_target_says_so() -> None:
    idx = index(build_wheel("macos", "1.0", tag="cp311-cp311-macosx_11_0_arm64"))
    with pytest.raises(ResolutionError) as info:
        lock(["macos"], idx, indexes_searched=("memory://a",))
    assert "1 file(s): no wheel for the target's tags" in info.value.message


def test_index_strategy_changes_the_result() -> None:
    internal = index(build_wheel("corp-utils", "1.0"), url="memory://internal")
    public = index(build_wheel("corp-utils", "99.0"), url="memory://public")
    first = IndexGroup([internal, public], "first-index")
    best = IndexGroup([internal, public], "best-match")
    assert pins(lock(["corp-utils"], first)) == {"corp-utils": "1.0"}
    assert pins(lock(["corp-utils"], best)) == {"corp-utils": "99.0"}


def test_mislabelled_metadata_is_refused() -> None:
    _, data = build_wheel("real", "1.0")
    idx = index(("fake-1.0-py3-none-any.whl", data))
    with pytest.raises(MetadataError) as info:
        lock(["fake"], idx)
    assert "metadata says real 1.0 but the file is fake 1.0" in info.value.message


def test_the_resolvers_steps_reach_the_reporter_as_debug_detail() -> None:
    """Protects `-v`: what was pinned and backtracked on is reported, never printed."""
    idx = backtracking_index()
    reporter = MemoryReporter()
    resolve([Requirement("app")], X86_311, idx, reporter=reporter)
    debug = reporter.messages("debug")
    assert any(line.startswith("pinned app 1.0") for line in debug), debug
    assert any(line.startswith("backtracking over") for line in debug), debug


_CLAUSES = st.tuples(
    st.sampled_from([">=", ">", "<", "<=", "==", "!=", "~="]),
    st.integers(7, 14),
    st.integers(0, 3),
    st.booleans(),
)


@given(st.lists(_CLAUSES, min_size=1, max_size=4), st.integers(7, 14), st.integers(0, 3))
def test_python_floor_only_relaxes_and_keeps_every_lower_bound(
    clauses: list[tuple[str, int, int, bool]], minor: int, patch: int
) -> None:
    """Reading only the lower bounds never refuses a Python the full Requires-Python accepts,
    and never accepts one below a lower bound it states."""
    texts = []
    for op, c_minor, c_patch, wildcard in clauses:
        wild = wildcard and op in ("==", "!=")
        texts.append(f"{op}3.{c_minor}{'.*' if wild else f'.{c_patch}'}")
    full = SpecifierSet(",".join(texts))
    floor = python_floor(full)
    python = Version(f"3.{minor}.{patch}")
    if full.contains(python, prereleases=True):
        assert floor.contains(python, prereleases=True)
    for spec in full:
        if spec.operator in (">=", ">") and not spec.contains(python, prereleases=True):
            assert not floor.contains(python, prereleases=True)


def test_inline_reading_resolves_the_same_without_a_prefetch_thread() -> None:
    """Protects workers=0 (local indexes): the same pins and dependencies as the thread pool,
    no thread started, and an index error still surfaces from the project that raised it."""
    threads: set[str] = set()

    class Watched(MemoryIndex):
        def files(self, project: NormalizedName) -> tuple[IndexFile, ...]:
            threads.add(threading.current_thread().name)
            return super().files(project)

    wheels = [
        build_wheel("app", "1.0", requires_dist=["lib>=1", "tool"]),
        build_wheel("lib", "1.0"),
        build_wheel("lib", "2.0", requires_dist=["tool<2"]),
        build_wheel("tool", "1.5"),
        build_wheel("tool", "2.0"),
    ]
    pooled = lock(["app"], index(*wheels))
    inline = lock(["app"], Watched("memory://a", dict(wheels)), workers=0)
    assert inline.pins == pooled.pins
    assert pins(inline) == {"app": "1.0", "lib": "2.0", "tool": "1.5"}
    assert threads == {threading.current_thread().name}
    _, data = build_wheel("real", "1.0")
    with pytest.raises(MetadataError, match=r"metadata says real 1\.0"):
        lock(["fake"], index(("fake-1.0-py3-none-any.whl", data)), workers=0)


def test_only_sources_all_on_this_machine_are_read_inline() -> None:
    """Protects the choice lock_manifest makes: threads stay for any index over the network."""
    from mlenv.locking_sources import Sources

    local = Sources(index(), ("file:///srv/simple",), ("wheels", "file:///srv/links"))
    assert local.local
    assert not Sources(index(), ("file:///srv/simple", "https://pypi.org/simple"), ()).local
    assert not Sources(index(), ("file:///srv/simple",), ("http://host/links/",)).local
