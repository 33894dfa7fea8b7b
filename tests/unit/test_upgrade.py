"""`mlenv lock --upgrade-package` names a project: ``-P torch[cuda]`` moves torch's pin (as
pip-tools' test_upgrade_package_with_extra reads it), and ``-P 'iniconfig<2'`` (uv's bounded
upgrade) is refused rather than silently moving nothing."""

from __future__ import annotations

import pytest

from mlenv.errors import UsageError
from mlenv.index import MemoryIndex
from mlenv.lockfile import Lock
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.upgrade import Upgrade
from tests.support.wheels import build_wheel


def _lock(versions: tuple[str, ...], previous: Lock | None, upgrade: Upgrade) -> Lock:
    wheels = [
        build_wheel("pkg", v, requires_dist=['dep; extra == "more"'], provides_extra=["more"])
        for v in versions
    ]
    index = MemoryIndex("memory://a", dict([*wheels, build_wheel("dep", "1.0")]))
    manifest = loads(
        '[environment]\nname = "x"\npython = "3.12"\nplatforms = ["linux-64"]\n'
        '[pypi]\nindex-url = "https://a.invalid/simple"\ndependencies = ["pkg[more]"]\n'
    )
    sources = Sources(index, ("memory://a",), ())
    return lock_manifest(
        manifest, sources, reporter=MemoryReporter(), previous=previous, upgrade=upgrade
    )


def _pins(locked: Lock) -> dict[str, str]:
    return {p.name: p.version for _, p in locked.packages()}


def test_a_name_with_extras_moves_that_projects_pin() -> None:
    earlier = _lock(("0.1",), None, Upgrade())
    assert _pins(_lock(("0.1", "0.2"), earlier, Upgrade())) == {"pkg": "0.1", "dep": "1.0"}
    moved = _lock(("0.1", "0.2"), earlier, Upgrade.of(False, ["PKG[more]"]))
    assert _pins(moved) == {"pkg": "0.2", "dep": "1.0"}


@pytest.mark.parametrize(
    "text",
    ["iniconfig<2", "torch==2.7.0", "a; sys_platform == 'linux'", "x y", "_", "_-", "_..", "_x>=1"],
)
def test_anything_but_a_name_is_refused_with_the_way_to_bound_a_move(text: str) -> None:
    with pytest.raises(UsageError, match="expected a package name") as refused:
        Upgrade.of(False, [text])
    assert refused.value.hint is not None and "[pypi] constraints" in refused.value.hint


def test_a_conda_name_pep_508_cannot_spell_moves_that_conda_package_only() -> None:
    """``_openmp_mutex`` (conda-forge's) was refused as no package name."""
    moves = Upgrade.of(False, ["_openmp_mutex"])
    assert not moves.packages
    assert moves.conda == {"_openmp_mutex"}
