"""Attack 214: mlenv's resolver against ``uv pip compile`` on shapes the random worlds of
``tests/support/uv_worlds`` do not generate: constraints and overrides (markers, extras, names
spelt ``_``/``.``/case, yanked pins), exclude-newer at and around the cutoff (offsets,
fractions, undated files), the three pre-release modes, several indexes, local versions under
every operator, post/dev ordering, ``===``, wildcards, extras under markers, self-referential
extras, Requires-Python bounds, cycles and wheel tags (abi3, legacy manylinux aliases, musl).

About 260 hand worlds (against uv 0.13.9) agreed but for three rules where mlenv was wrong:
an aarch64 target took wheels tagged below glibc 2.17 (``manylinux1_aarch64``,
``manylinux2010_aarch64``, ``manylinux_2_12_aarch64``), which no manylinux standard defines
for aarch64 and which pip (packaging.tags) and uv never install there; a requirement on
``numpy_`` (packaging parses it, PEP 508 and uv do not) was taken and failed the lock on a
project ``numpy-``; and an upload time in a leap second (``23:59:60Z``, RFC 3339) read as
undated. The random settings of ``tests/support/uv_world_settings`` (constraints, overrides,
pre-release mode, cutoff, an extra index under either strategy) over 1,600 worlds (seeds
2000-2399, 5000-5299, 7000-7299, 9000-9299, 11000-11299) gave no world mlenv refused that uv
solved and no pins that broke anything; in one (seed 5113) uv was wrong (below). The other
differences were documented ones (``===1.0.0``; ``[pypi] sources`` holding dependencies too,
where uv's sources hold direct requirements only) or uv reading PEP 700 upload times mlenv's
RFC 3339 grammar leaves undated (``T00:00Z``, ``+0000``, ``,5``: not RFC 3339).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.tags import Tag
from packaging.version import Version

from mlenv.errors import ManifestError
from mlenv.instants import instant
from mlenv.manifest_read import loads
from mlenv.target import Target
from tests.support.uv_world_settings import (
    Settings,
    mlenv_settled_pins,
    settings_of,
    settled_problems,
    uv_settled_pins,
)
from tests.support.uv_worlds import Release, World, mlenv_pins, uv_pins, world_of


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_under_constraints_overrides_and_cutoffs_mlenv_refuses_only_what_has_no_solution(
    seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Protects constraints, overrides, the pre-release modes, exclude-newer and the index
    strategies over the random worlds: mlenv's pins meet every requirement (overrides
    applied), constraint and cutoff, from the index that owns the project, and it refuses a
    world only where uv finds no solution either, or uv's pins (a package nothing requires
    aside) break one (uv 0.13.9 lets an override of a line under an extra require the project
    without the extra: seed 5113)."""
    world = world_of(seed)
    chosen = settings_of(seed, world)
    work = tmp_path_factory.mktemp("settled")
    pins = mlenv_settled_pins(world, chosen, work / "mlenv")
    if pins is not None:
        assert settled_problems(world, chosen, pins) == []
        return
    reference = uv_settled_pins(world, chosen, work / "uv")
    if reference is not None:
        found = settled_problems(world, chosen, reference)
        assert [p for p in found if "not required" not in p], f"{chosen}: uv found {reference}"


def _tagged(tag: str, platform: str) -> World:
    def release(tags: tuple[str, ...]) -> Release:
        return Release((), {}, None, tags, False)

    releases = {"1.0": release(("py3-none-any",)), "2.0": release((tag,))}
    return World({"a": releases}, ("a",), "3.11", platform)


@pytest.mark.parametrize(
    ("tag", "platform", "pinned"),
    [
        ("cp311-cp311-manylinux1_aarch64", "linux-aarch64", "1.0"),
        ("cp311-cp311-manylinux2010_aarch64", "linux-aarch64", "1.0"),
        ("cp311-cp311-manylinux_2_16_aarch64", "linux-aarch64", "1.0"),
        ("cp311-cp311-manylinux_2_5_aarch64", "linux-aarch64", "1.0"),
        ("cp311-cp311-manylinux2014_aarch64", "linux-aarch64", "2.0"),
        ("cp311-cp311-manylinux_2_17_aarch64", "linux-aarch64", "2.0"),
        ("cp311-cp311-manylinux1_x86_64", "linux-64", "2.0"),
        ("cp311-cp311-manylinux2010_x86_64", "linux-64", "2.0"),
        ("cp311-cp311-manylinux_2_5_x86_64", "linux-64", "2.0"),
        ("cp311-cp311-manylinux_2_4_x86_64", "linux-64", "1.0"),
    ],
)
def test_a_manylinux_level_counts_only_where_a_standard_defines_it_for_the_machine(
    tag: str, platform: str, pinned: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Before: an aarch64 target offered every manylinux level down to glibc 2.5, so a wheel
    tagged ``manylinux1_aarch64`` (no such platform: PEP 513 and 571 define x86_64 and i686
    only, aarch64 starts at manylinux2014's 2.17) was locked where uv (run here too) and pip
    take the pure wheel of 1.0."""
    world = _tagged(tag, platform)
    assert mlenv_pins(world) == {"a": Version(pinned)}
    assert uv_pins(world, tmp_path_factory.mktemp("uv")) == {"a": Version(pinned)}


def test_an_aarch64_target_offers_no_manylinux_tag_below_2_17() -> None:
    """The tag list itself: x86_64 keeps manylinux1 (glibc 2.5), aarch64 stops at 2.17."""
    arm = Target("linux-aarch64", "3.11", "2.28").tag_priority
    x86 = Target("linux-64", "3.11", "2.28").tag_priority
    assert Tag("cp311", "cp311", "manylinux2014_aarch64") in arm
    levels = {t.platform for t in arm if t.platform.startswith("manylinux")}
    assert min(levels) == "manylinux2014_aarch64"
    assert levels.isdisjoint(
        {"manylinux1_aarch64", "manylinux2010_aarch64", "manylinux_2_16_aarch64"}
    )
    assert Tag("cp311", "cp311", "manylinux1_x86_64") in x86


def test_an_override_of_a_line_under_an_extra_keeps_the_extra_when_its_marker_never_holds(
    tmp_path: Path,
) -> None:
    """Seed 5113 of the settings differential: ``d; platform_system == "Linux" and os_name ==
    "nt" and extra == "y"`` overridden by ``d<2`` still needs the extra ``y``, which nothing
    asks for; mlenv takes ``c`` alone (README, overrides: the extra stays). uv 0.13.9 reads the
    impossible marker as false, loses the extra with it and requires ``d`` everywhere."""
    line = 'd; platform_system == "Linux" and os_name == "nt"'
    world = World(
        {
            "c": {"1.0": Release((), {"y": (line,)}, None, ("py3-none-any",), False)},
            "d": {"1.0": Release((), {}, None, ("py3-none-any",), False)},
        },
        ("c",),
        "3.11",
        "linux-64",
    )
    chosen = Settings((), ("d<2",), "fallback", None, {})
    assert mlenv_settled_pins(world, chosen, tmp_path) == {"c": Version("1.0")}


@pytest.mark.parametrize("key", ["dependencies", "constraints", "overrides"])
def test_a_name_ending_in_an_underscore_is_no_requirement(key: str) -> None:
    """Before: packaging parses ``numpy_`` (its name pattern ends at a word boundary), so the
    manifest took it and the lock failed on a project ``numpy-`` no index has; PEP 508 names
    end with a letter or digit, and uv refuses the line so ("must end with an alphanumeric")."""
    text = (
        '[environment]\nname = "w"\npython = "3.11"\n[pypi]\n'
        f'index-url = "https://pypi.org/simple"\n{key} = ["numpy_>=1"]\n'
    )
    with pytest.raises(ManifestError, match=r"numpy_>=1.*a name ends with a letter or digit"):
        loads(text)


def test_an_upload_in_a_leap_second_is_dated(tmp_path: Path) -> None:
    """Before: RFC 3339 allows second 60, which datetime cannot hold, so ``23:59:60Z`` read
    as undated and the release was excluded by any cutoff; uv (jiff) holds it at :59 and takes
    it. Now read as uv reads it, as a cutoff too."""
    plain = Release((), {}, None, ("py3-none-any",), False)
    world = World({"a": {"1.0": plain, "2.0": plain}}, ("a",), "3.11", "linux-64")
    uploaded = {"a-1.0-py3-none-any.whl": "2016-01-01T00:00:00Z",
                "a-2.0-py3-none-any.whl": "2016-12-31T23:59:60Z"}  # fmt: skip
    chosen = Settings((), (), "fallback", "2017-01-01T00:00:00Z", uploaded)
    assert mlenv_settled_pins(world, chosen, tmp_path / "mlenv") == {"a": Version("2.0")}
    assert uv_settled_pins(world, chosen, tmp_path / "uv") == {"a": Version("2.0")}
    assert instant("2016-12-31T23:59:60Z") == datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)
