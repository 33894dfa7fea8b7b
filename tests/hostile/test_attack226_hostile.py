"""Pass 35, attack 226: resolver scenarios of other suites that mlenv answered otherwise.

poetry's ``test_with_yanked_package_in_lock`` (and uv's ``AllowedYanks``, which opts every
lockfile pin into its yanked release): a release locked before its index yanked it stays
locked when the manifest is locked again. mlenv moved it, unasked, to another release the
moment the index yanked it, so a relock that should change nothing changed the environment;
now it keeps the pin, warns that it is yanked and how to move off it, and ``--upgrade-package``
(or a manifest that no longer admits it) still moves it.

The wheel-tag scenarios: a wheel whose only tag is a manylinux level below the machine's oldest
(``manylinux_2_4_x86_64``, ``manylinux_2_12_aarch64``), which pip and uv never install, was
refused as "built for glibc 2.4, above [environment] glibc 2.28", sending the user to a floor
that cannot help; it is now "no wheel for the target's tags".
"""

from __future__ import annotations

import pytest

from mlenv.index import MemoryIndex
from mlenv.judge import verify_lock
from mlenv.lockfile import Lock
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from mlenv.upgrade import Upgrade
from tests.support.wheels import build_wheel

WHEELS = dict(
    [
        build_wheel("app", "1.0", requires_dist=["lib>=1"]),
        build_wheel("lib", "1.0"),
        build_wheel("lib", "2.0"),
        build_wheel("lib", "3.0"),
    ]
)
LIB_2 = "lib-2.0-py3-none-any.whl"
LIB_3 = "lib-3.0-py3-none-any.whl"


def _lock(
    dependency: str,
    yanked: dict[str, str],
    previous: Lock | None = None,
    upgrade: Upgrade | None = None,
    reporter: MemoryReporter | None = None,
    wheels: dict[str, bytes] = WHEELS,
    platform: str = "linux-64",
) -> Lock:
    manifest = loads(
        f'[environment]\nname = "x"\npython = "3.12"\nplatforms = ["{platform}"]\n'
        f'[pypi]\nindex-url = "https://a.invalid/simple"\ndependencies = ["{dependency}"]\n'
    )
    index = MemoryIndex("memory://a", wheels, yanked=yanked)
    return lock_manifest(
        manifest,
        Sources(index, ("memory://a",), ()),
        reporter=reporter or MemoryReporter(),
        previous=previous,
        upgrade=upgrade,
    )


def _pins(locked: Lock) -> dict[str, str]:
    return {p.name: p.version for _, p in locked.packages()}


def test_a_release_yanked_after_it_was_locked_stays_locked_with_a_warning() -> None:
    earlier = _lock("lib<3", {})
    assert _pins(earlier) == {"lib": "2.0"}
    reporter = MemoryReporter()
    again = _lock("lib<3", {LIB_2: "broken build"}, earlier, reporter=reporter)
    assert _pins(again) == {"lib": "2.0"}
    assert again.platform("linux-64").packages[0].yanked is True
    assert reporter.messages("warning") == [
        "lib 2.0 (linux-64) is yanked: broken build; locked only because the earlier lock "
        "pins it (--upgrade-package lib moves it)"
    ]
    (finding,) = verify_lock(again, again.inputs_hash, None).findings
    assert "a relock kept it" in finding.message
    assert "mlenv lock --upgrade-package lib" in finding.hint


def test_a_dependency_locked_before_its_yank_stays_locked() -> None:
    """Not only the manifest's own requirements: any pin of the earlier lock."""
    earlier = _lock("app", {LIB_3: ""})
    assert _pins(earlier) == {"app": "1.0", "lib": "2.0"}
    again = _lock("app", {LIB_2: "", LIB_3: ""}, earlier)
    assert _pins(again) == {"app": "1.0", "lib": "2.0"}


def test_the_kept_pin_opts_into_its_own_release_only() -> None:
    """The earlier pin is lib 2.0: lib 3.0, yanked too, is never taken, and when the pin no
    longer fits the manifest the resolver moves to an unyanked release."""
    earlier = _lock("lib<3", {})
    moved = _lock("lib!=2.0", {LIB_2: "", LIB_3: ""}, earlier)
    assert _pins(moved) == {"lib": "1.0"}


def test_upgrade_package_moves_off_the_yanked_pin() -> None:
    earlier = _lock("lib<3", {})
    reporter = MemoryReporter()
    moved = _lock("lib<3", {LIB_2: ""}, earlier, Upgrade.of(False, ["lib"]), reporter)
    assert _pins(moved) == {"lib": "1.0"}
    assert reporter.messages("warning") == []
    assert _pins(_lock("lib<3", {LIB_2: ""}, earlier, Upgrade.of(True, []))) == {"lib": "1.0"}


@pytest.mark.parametrize(
    ("platform", "tag"),
    [
        ("linux-64", "cp312-cp312-manylinux_2_4_x86_64"),
        ("linux-aarch64", "cp312-cp312-manylinux_2_12_aarch64"),
        ("linux-aarch64", "py3-none-manylinux_2_16_aarch64"),
    ],
)
def test_a_manylinux_level_below_the_machines_oldest_is_not_above_the_floor(
    platform: str, tag: str
) -> None:
    with pytest.raises(ResolutionError) as refused:
        _lock("old", {}, wheels=dict([build_wheel("old", "1.0", tag=tag)]), platform=platform)
    message = str(refused.value)
    assert "refused: 1.0: no wheel for the target's tags" in message
    assert "above [environment] glibc" not in message
