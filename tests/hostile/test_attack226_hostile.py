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

from mlenv.judge import verify_lock
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from mlenv.upgrade import Upgrade
from tests.support.relocks import LIB_2, LIB_3, lock_one, pins
from tests.support.wheels import build_wheel


def test_a_release_yanked_after_it_was_locked_stays_locked_with_a_warning() -> None:
    earlier = lock_one("lib<3", {})
    assert pins(earlier) == {"lib": "2.0"}
    reporter = MemoryReporter()
    again = lock_one("lib<3", {LIB_2: "broken build"}, earlier, reporter=reporter)
    assert pins(again) == {"lib": "2.0"}
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
    earlier = lock_one("app", {LIB_3: ""})
    assert pins(earlier) == {"app": "1.0", "lib": "2.0"}
    again = lock_one("app", {LIB_2: "", LIB_3: ""}, earlier)
    assert pins(again) == {"app": "1.0", "lib": "2.0"}


def test_the_kept_pin_opts_into_its_own_release_only() -> None:
    """The earlier pin is lib 2.0: lib 3.0, yanked too, is never taken, and when the pin no
    longer fits the manifest the resolver moves to an unyanked release."""
    earlier = lock_one("lib<3", {})
    moved = lock_one("lib!=2.0", {LIB_2: "", LIB_3: ""}, earlier)
    assert pins(moved) == {"lib": "1.0"}


def test_upgrade_package_moves_off_the_yanked_pin() -> None:
    earlier = lock_one("lib<3", {})
    reporter = MemoryReporter()
    moved = lock_one("lib<3", {LIB_2: ""}, earlier, Upgrade.of(False, ["lib"]), reporter)
    assert pins(moved) == {"lib": "1.0"}
    assert reporter.messages("warning") == []
    assert pins(lock_one("lib<3", {LIB_2: ""}, earlier, Upgrade.of(True, []))) == {"lib": "1.0"}


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
        lock_one("old", {}, wheels=dict([build_wheel("old", "1.0", tag=tag)]), platforms=[platform])
    message = str(refused.value)
    assert "refused: 1.0: no wheel for the target's tags" in message
    assert "above [environment] glibc" not in message
