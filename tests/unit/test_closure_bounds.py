"""A pin outside a bound [target] records makes the lock stale (``closure.outside`` through
``drift.lock_drift``): the inputs hash covers the manifest, not the pins, so a pin edited past
``numpy<2``, an override or a constraint used to pass `verify` and reach `build`."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from mlenv.closure import outside
from mlenv.lockfile import LockedPlatform, LockTarget
from tests.support.locks import locked, make_lock

VERSIONS = st.builds(
    lambda parts, pre, post, dev, local: ".".join(map(str, parts)) + pre + post + dev + local,
    st.lists(st.integers(0, 12), min_size=1, max_size=3),
    st.sampled_from(["", "a1", "rc2"]),
    st.sampled_from(["", ".post1"]),
    st.sampled_from(["", ".dev0"]),
    st.sampled_from(["", "+cu128"]),
)
OPERATORS = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "~=", "==="])


BASE = make_lock([], cuda=None, floor=None)


def _platform(*pins: tuple[str, str]) -> tuple[LockTarget, LockedPlatform]:
    entries = tuple(locked(name, version) for name, version in pins)
    return BASE.target, LockedPlatform("linux-64", entries)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(VERSIONS, OPERATORS, VERSIONS, st.sampled_from(["requirements", "constraints"]))
def test_a_pin_is_outside_exactly_when_packaging_excludes_it(
    pinned: str, operator: str, bound: str, key: str
) -> None:
    try:
        specifier = SpecifierSet(f"{operator}{bound}")
    except InvalidSpecifier:  # '~=1', '<1+cu128': no bound a manifest can hold
        assume(False)
    text = f"numpy{operator}{bound}"
    target, platform = _platform(("numpy", pinned))
    if key == "requirements":
        target = replace(target, requirements=(text,))
    else:
        target = replace(target, constraints=(text,))
    excluded = not specifier.contains(Version(pinned), prereleases=True)
    found = outside(target, platform)
    assert bool(found) == excluded, (text, pinned, found)
    if excluded:
        assert found == [(f".package[0] (numpy {pinned})", pinned, f"{text!r} of [target].{key}")]


def test_an_override_replaces_the_requirements_bound() -> None:
    target, platform = _platform(("numpy", "2.1.0"))
    target = replace(target, requirements=("numpy<2",), overrides=("numpy>=2",))
    assert outside(target, platform) == []
    target = replace(target, overrides=("numpy>=3",))
    assert [bound for *_, bound in outside(target, platform)] == [
        "'numpy>=3' of [target].overrides"
    ]


def test_a_bound_whose_marker_does_not_hold_on_the_platform_is_not_applied() -> None:
    target, platform = _platform(("numpy", "2.1.0"))
    target = replace(target, requirements=("numpy<2; sys_platform == 'win32'",))
    assert outside(target, platform) == []
    target = replace(target, constraints=("numpy<2; sys_platform == 'linux'",))
    assert len(outside(target, platform)) == 1


def test_a_pre_release_pin_under_disallow_is_outside() -> None:
    target, platform = _platform(("numpy", "2.1.0rc1"), ("scipy", "1.0"))
    assert outside(target, platform) == []
    found = outside(replace(target, prerelease="disallow"), platform)
    assert found == [
        (".package[0] (numpy 2.1.0rc1)", "2.1.0rc1", '[target].prerelease = "disallow"')
    ]
