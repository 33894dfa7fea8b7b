"""Attack 214: mlenv's resolver against ``uv pip compile`` on shapes the random worlds of
``tests/support/uv_worlds`` do not generate: constraints and overrides (markers, names spelt
``_``/``.``/case, yanked pins), exclude-newer at and around the cutoff, pre-release modes,
several indexes, local versions under every operator, post/dev ordering, ``===``, wildcards,
extras under markers and self-referential extras, Requires-Python bounds, cycles, and wheel
tags (abi3, the legacy manylinux aliases, musllinux). 150 hand worlds agreed with uv but one
family: an aarch64 target took wheels tagged below glibc 2.17 (``manylinux1_aarch64``,
``manylinux2010_aarch64``, ``manylinux_2_12_aarch64``), which no manylinux standard defines for
aarch64 and which pip (packaging.tags) and uv never install there.
"""

from __future__ import annotations

import pytest
from packaging.tags import Tag
from packaging.version import Version

from mlenv.target import Target
from tests.support.uv_worlds import Release, World, mlenv_pins, uv_pins


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
