"""Why a version just past an exclusive bound is not taken: PEP 440's ``<V`` leaves out V's
own pre-releases and ``>V`` its post-releases and local builds, which users do not expect
("2.0rc1 is below 2.0"). The resolver's error says so (``nearest.exclusive_misses``), and only
for versions that rule alone left out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.specifiers import Specifier, SpecifierSet
from packaging.version import Version

from mlenv.index import MemoryIndex
from mlenv.nearest import Pinned, exclusive_misses
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.wheels import build_wheel


def _pinned(text: str) -> list[Pinned]:
    return [Pinned("a", SpecifierSet(text))]


def test_a_prerelease_of_the_upper_bound_is_explained_with_the_fix() -> None:
    lines = exclusive_misses(_pinned("<2.0"), {Version("2.0rc1"), Version("1.0")})
    assert lines == ["  refused: 2.0rc1: <2.0 leaves out 2.0's own pre-releases (PEP 440); "
                     "<=2.0rc1 admits it"]  # fmt: skip


def test_a_post_release_and_a_local_build_of_the_lower_bound_are_explained() -> None:
    lines = exclusive_misses(_pinned(">1.0"), {Version("1.0.post1"), Version("1.0+cu124")})
    assert any("1.0.post1" in line and ">=1.0.post1 admits it" in line for line in lines)
    assert any("1.0+cu124" in line and "==1.0+cu124 admits it" in line for line in lines)
    for line in lines:  # every suggested fix is a specifier packaging accepts, admitting it
        fix, version = line.split("; ")[1].removesuffix(" admits it"), line.split(": ")[1]
        assert Specifier(fix).contains(Version(version), prereleases=True)


def test_versions_another_requirement_also_refuses_are_not_blamed_on_the_bound() -> None:
    assert exclusive_misses(_pinned("<2.0,!=2.0rc1"), {Version("2.0rc1")}) == []
    assert exclusive_misses(_pinned("<2.0rc2"), {Version("2.0rc1"), Version("2.0rc3")}) == []


@settings(max_examples=200)
@given(
    edge=st.sampled_from(["1.0", "2.0", "2.0.0", "1!2.0", "3.1"]),
    suffix=st.sampled_from(["rc1", "a1", "b2", ".dev0", ".post1", "+cu124", ".post1+local", ""]),
    op=st.sampled_from(["<", ">"]),
)
def test_hypothesis_a_line_only_for_what_the_exclusive_rule_alone_refuses(
    edge: str, suffix: str, op: str
) -> None:
    """Invariant: a line names a version exactly when the inclusive twin of the bound (``<=``
    or ``>=``) would admit it, the bound refuses it, and it is V itself's variant."""
    version = Version(edge + suffix)
    lines = exclusive_misses(_pinned(f"{op}{edge}"), {version})
    spec = Specifier(f"{op}{edge}")
    inclusive = Specifier(f"{op}={edge}")
    refused_only_by_exclusivity = (
        not spec.contains(version, prereleases=True)
        and version != Version(edge)
        and (op == "<" or inclusive.contains(version, prereleases=True))
        and version.release == Version(edge).release
        and version.epoch == Version(edge).epoch
        and (version.is_prerelease if op == "<" else version > Version(edge))
    )
    assert bool(lines) is refused_only_by_exclusivity, (version, lines)


def test_the_resolver_error_carries_the_line() -> None:
    index = MemoryIndex("memory://a", dict([build_wheel("a", "2.0rc1")]))
    target = Target("linux-64", "3.11", "2.28")

    def lock(text: str) -> list[str]:
        found = resolve([Requirement(text)], target, index, reporter=MemoryReporter())
        return [str(pin.version) for pin in found.pins]

    with pytest.raises(ResolutionError, match=r"<2\.0 leaves out 2\.0's own pre-releases"):
        lock("a<2.0")
    assert lock("a<=2.0rc1") == ["2.0rc1"]  # the fix the line gives works
