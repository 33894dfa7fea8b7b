"""A failed resolution's account says why the packages on the chain to the conflict were taken
at older releases (the PubGrub article's menu/dropdown/icons/intl, prefix-dev/resolvo's
``test_unsat_pubgrub_article``), names each chain by the asker whose range holds the release,
and stays short when a thousand releases each pin another version (uv's issue 19672)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from mlenv.index import MemoryIndex
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from mlenv.went_back import Step, went_back, within
from tests.support.dead_worlds import world as _world
from tests.support.wheels import build_wheel

ARTICLE: Mapping[str, Mapping[str, Sequence[str]]] = {
    "menu": {"15": ["dropdown>=2,<3"], "10": ["dropdown>=1,<2"]},
    "dropdown": {"2": ["icons==2"], "1": ["intl==3"]},
    "icons": {"2": [], "1": []},
    "intl": {"5": [], "3": []},
}
MANIFEST = ["menu", "icons==1", "intl==5"]


def _limits(requirements: Sequence[str]) -> list[tuple[NormalizedName, SpecifierSet]]:
    parsed = [Requirement(r) for r in requirements]
    return [(canonicalize_name(r.name), r.specifier) for r in parsed]


def _failure(releases: Mapping[str, Mapping[str, Sequence[str]]], manifest: Sequence[str]) -> str:
    files = dict(
        build_wheel(name, version, requires_dist=list(needs))
        for name, versions in releases.items()
        for version, needs in versions.items()
    )
    with pytest.raises(ResolutionError) as failure:
        resolve(
            [Requirement(r) for r in manifest],
            Target("linux-64", "3.12", "2.28"),
            MemoryIndex("memory://a", files),
            reporter=MemoryReporter(),
        )
    return str(failure.value)


def test_the_newer_release_given_up_is_explained_down_to_the_manifest_pin() -> None:
    step = Step(canonicalize_name("menu"), Version("10"), (SpecifierSet(),))
    lines = went_back([step], within(_world(ARTICLE), _limits(MANIFEST)))
    assert lines == [
        "menu: the resolver went back to menu 10, as no newer release it may take fits the "
        "manifest",
        "  menu 15 needs dropdown<3,>=2",
        "  dropdown 2 needs icons==2",
        "  icons==2: no release matches (versions available: 1; the manifest asks icons==1)",
    ]


def test_a_newer_release_that_fits_leaves_nothing_to_explain() -> None:
    step = Step(canonicalize_name("menu"), Version("10"), (SpecifierSet(),))
    assert went_back([step], within(_world(ARTICLE), _limits(["menu", "intl==5"]))) == []


def test_newer_releases_outside_the_askers_range_are_not_blamed() -> None:
    step = Step(canonicalize_name("dropdown"), Version("1"), (SpecifierSet("<2"),))
    assert went_back([step], within(_world(ARTICLE), _limits(MANIFEST))) == []


def test_the_lock_error_names_every_package_at_fault_and_the_right_asker() -> None:
    message = _failure(ARTICLE, MANIFEST)
    assert "intl==3 (from dropdown 1 <- menu 10 <- the manifest)" in message  # not menu 15
    assert "menu 15 needs dropdown<3,>=2" in message
    assert "icons==2: no release matches" in message


def test_a_thousand_releases_pinning_missing_versions_make_a_short_error() -> None:
    releases = {"package": {f"1.0.{p}": [f"dependency==1.0.{p}"] for p in range(1000)}}
    message = _failure({**releases, "dependency": {"2.0.0": []}}, ["package<2"])
    assert "and 995 more from other releases of package" in message
    assert "and 995 more pinned versions that do not exist" in message
    assert message.count("\n") < 20


def test_newer_releases_already_in_the_conflict_are_not_explained_again() -> None:
    step = Step(canonicalize_name("menu"), Version("10"), (SpecifierSet(),))
    reported = [(canonicalize_name("menu"), Version("15"))]
    assert went_back([step], within(_world(ARTICLE), _limits(MANIFEST)), reported) == []
