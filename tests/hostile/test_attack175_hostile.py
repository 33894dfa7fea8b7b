"""Attack 175: no silent walk back past an unread GPU release, in shapes the held-back tests
left out.

Found: a package asked for with an extra (``bitsandbytes[gpu]``, by the manifest or by another
package) locked 0.50.2 past the unread 0.51.0 with no warning: the extra's own pin of its base
(``===0.50.2``) was counted as a requirement, so no newer release looked allowed. Now the
walk back is said, as it is for plain ``bitsandbytes``, and the advice it gives locks 0.51.0."""

from __future__ import annotations

from tests.support.gpu_locks import MACHINES, lock, versions
from tests.support.wheels import build_wheel

# the fixture's bitsandbytes wheels again (same names, so they replace them), with an extra
WITH_EXTRA = [
    build_wheel(
        "bitsandbytes",
        version,
        tag=f"py3-none-manylinux_2_24_{machine}",
        requires_dist=["torch>=2.3,<4", "torch>=2.3; extra == 'gpu'"],
        provides_extra=["gpu"],
    )
    for version in ("0.50.2", "0.51.0")
    for machine in MACHINES
]
PEFT = build_wheel("peft", "0.17.0", requires_dist=["bitsandbytes[gpu]"])
WALKED_BACK = "bitsandbytes 0.50.2 is locked (linux-64), not the newer 0.51.0: "


def test_an_extra_asked_by_the_manifest_still_says_the_walk_back() -> None:
    locked, warned = lock('"bitsandbytes[gpu]", "torch"', extra=WITH_EXTRA)
    assert versions(locked)["bitsandbytes"] == "0.50.2"
    assert WALKED_BACK in warned
    assert 'add "bitsandbytes" to [cuda] unverified' in warned


def test_an_extra_asked_by_a_dependency_still_says_the_walk_back() -> None:
    locked, warned = lock('"peft", "torch"', extra=[*WITH_EXTRA, PEFT])
    assert versions(locked)["bitsandbytes"] == "0.50.2"
    assert WALKED_BACK in warned


def test_the_advice_given_for_an_extra_locks_the_newer_release() -> None:
    locked, warned = lock(
        '"bitsandbytes[gpu]", "torch"', unverified='"bitsandbytes"', extra=WITH_EXTRA
    )
    assert versions(locked)["bitsandbytes"] == "0.51.0"
    assert "not the newer" not in warned


def test_an_extra_whose_requirement_leaves_the_newer_out_names_nothing() -> None:
    locked, warned = lock('"bitsandbytes[gpu]<0.51", "torch"', extra=WITH_EXTRA)
    assert versions(locked)["bitsandbytes"] == "0.50.2"
    assert "not the newer" not in warned
