"""`mlenv lock` on resolver scenarios in the style of astral-sh/packse, the suite uv is tested with.

Each scenario in ``fixtures/scenarios/*.json`` names its source, the packages of its small world
(versions, Requires-Dist, extras, Requires-Python, wheel tags, sdists, yanked files), the root
requirements and the outcome: the exact pins, or that no resolution exists. Where mlenv
deliberately differs from uv (it locks wheels only, so an sdist-only release is never a
candidate), the scenario says so in ``mlenv`` and expects mlenv's documented behaviour.

Every scenario runs through ``locker.lock_manifest`` over an in-memory index; a sample also runs
through the ``mlenv lock`` command over a file:// simple index, so both index paths are covered.
An unsatisfiable scenario must fail with a ``ResolutionError`` that names the packages at fault
(or, with ``"error": "metadata"``, a ``MetadataError`` naming a file whose name and METADATA
disagree: a release's ``file_version`` is the version its wheel's filename states).

A scenario with ``previous`` relocks (pip-tools' and uv's existing requirements.txt): it first
locks those requirements, then locks ``requires`` keeping that lock's pins, except the packages
named in ``upgrade`` (``"*"``: all of them), as `mlenv lock --upgrade-package` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.index import MemoryIndex, MetadataError
from mlenv.lockfile_read import loads as load_lock
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from mlenv.upgrade import Upgrade
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, requirement_for_extra, write_simple_index

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"
INDEX_URL = "https://scenarios.invalid/simple"


@dataclass(frozen=True)
class Scenario:
    name: str
    source: str
    python: str
    platform: str
    glibc: str
    requires: tuple[str, ...]
    packages: Mapping[str, Mapping[str, Mapping[str, Any]]]
    satisfiable: bool
    pins: Mapping[str, str]
    mentions: tuple[str, ...]  # names an unsatisfiable scenario's error must contain
    differs: str  # why mlenv's expectation differs from the source's, or ""
    prerelease: str  # [pypi] prerelease (the source's global opt-in is "allow")
    constraints: tuple[str, ...]  # [pypi] constraints (pip's -c)
    overrides: tuple[str, ...]  # [pypi] overrides (uv's override-dependencies)
    error: str  # what an unsatisfiable scenario raises: "resolution", or "metadata" (a bad file)
    previous: tuple[str, ...]  # requirements of an earlier lock whose pins are kept
    upgrade: tuple[str, ...]  # the earlier pins that may move ("*": all)

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Scenario:
        return cls(
            name=data["name"],
            source=data["source"],
            python=data["python"],
            platform=data.get("platform", "linux-64"),
            glibc=data.get("glibc", "2.28"),
            requires=tuple(data["requires"]),
            packages=data["packages"],
            satisfiable=data["satisfiable"],
            pins=data.get("pins", {}),
            mentions=tuple(data.get("mentions", ())),
            differs=data.get("mlenv", ""),
            prerelease=data.get("prerelease", "fallback"),
            constraints=tuple(data.get("constraints", ())),
            overrides=tuple(data.get("overrides", ())),
            error=data.get("error", "resolution"),
            previous=tuple(data.get("previous", ())),
            upgrade=tuple(data.get("upgrade", ())),
        )

    def files(self) -> Iterator[tuple[str, bytes, bool]]:
        """(filename, bytes, yanked) of every file the scenario's index serves."""
        for name, versions in sorted(self.packages.items()):
            for version, release in sorted(versions.items()):
                extras: Mapping[str, Sequence[str]] = release.get("extras", {})
                requires = list(release.get("requires", ()))
                requires += [
                    requirement_for_extra(r, e) for e, reqs in extras.items() for r in reqs
                ]
                yanked = bool(release.get("yanked", False))
                for tag in release.get("tags", ["py3-none-any"]):
                    filename, data = build_wheel(
                        name,
                        version,
                        requires_dist=requires,
                        requires_python=release.get("requires_python"),
                        provides_extra=extras,
                        tag=tag,
                    )
                    # a file whose name states another version than its METADATA (pip's tests)
                    stated = release.get("file_version")
                    if stated is not None:
                        dist, _, rest = filename.partition(f"-{Version(version)}-")
                        filename = f"{dist}-{stated}-{rest}"
                    yield filename, data, yanked
                if release.get("sdist", True):
                    yield f"{name}-{Version(version)}.tar.gz", b"sdist", yanked

    def manifest(self, index_url: str, earlier: bool = False) -> str:
        """The manifest locked; ``earlier``: the one of the previous lock (no -c, no overrides)."""
        deps = ", ".join(json.dumps(r) for r in (self.previous if earlier else self.requires))
        constraints, overrides = ((), ()) if earlier else (self.constraints, self.overrides)
        return (
            f'[environment]\nname = "s"\npython = "{self.python}"\nglibc = "{self.glibc}"\n'
            f'platforms = ["{self.platform}"]\n'
            f'[pypi]\nindex-url = "{index_url}"\ndependencies = [{deps}]\n'
            f'prerelease = "{self.prerelease}"\nconstraints = {json.dumps(constraints)}\n'
            f"overrides = {json.dumps(overrides)}\n"
        )


def _load() -> list[Scenario]:
    scenarios = []
    for path in sorted(FIXTURES.glob("*.json")):
        scenarios += [Scenario.of(s) for s in json.loads(path.read_text())["scenarios"]]
    return scenarios


SCENARIOS = _load()


def _lock(scenario: Scenario) -> dict[str, Version]:
    files = list(scenario.files())
    index = MemoryIndex(
        INDEX_URL,
        {filename: data for filename, data, _ in files},
        yanked={filename: "" for filename, _, yanked in files if yanked},
    )
    sources = Sources(index, (INDEX_URL,), ())
    previous = None
    if scenario.previous:
        earlier = loads(scenario.manifest(INDEX_URL, earlier=True))
        previous = lock_manifest(earlier, sources, reporter=MemoryReporter())
    locked = lock_manifest(
        loads(scenario.manifest(INDEX_URL)),
        sources,
        reporter=MemoryReporter(),
        previous=previous,
        upgrade=Upgrade.of("*" in scenario.upgrade, (p for p in scenario.upgrade if p != "*")),
    )
    return {pkg.name: Version(pkg.version) for _, pkg in locked.packages()}


def _expected(scenario: Scenario) -> dict[str, Version]:
    return {canonicalize_name(n): Version(v) for n, v in scenario.pins.items()}


def test_the_suite_is_large_and_every_scenario_names_its_source() -> None:
    """The held-out suite is broad: keep ours broad too, and traceable to where it came from."""
    assert len(SCENARIOS) >= 80
    assert len({s.name for s in SCENARIOS}) == len(SCENARIOS)
    assert all(s.source for s in SCENARIOS)
    assert all(s.mentions for s in SCENARIOS if not s.satisfiable)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario) -> None:
    """The lock has exactly the expected pins, or fails naming the conflicting packages."""
    if scenario.satisfiable:
        assert _lock(scenario) == _expected(scenario), scenario.differs
        return
    raised = MetadataError if scenario.error == "metadata" else ResolutionError
    with pytest.raises(raised) as failure:
        _lock(scenario)
    message = str(failure.value)
    for name in scenario.mentions:
        assert name in message, f"{name!r} not named in: {message}"


# The first scenario of each family (a source folder, or the rule one of ours tests):
# every family also goes through the CLI, HTML and JSON index pages.
_FAMILIES: dict[str, list[Scenario]] = {}
for _scenario in SCENARIOS:
    _FAMILIES.setdefault(_scenario.source.rsplit("/", 1)[0].split(":")[0], []).append(_scenario)
CLI_SAMPLE = [s for family in _FAMILIES.values() for s in [f for f in family if not f.previous][:1]]


@pytest.mark.parametrize("scenario", CLI_SAMPLE, ids=[s.name for s in CLI_SAMPLE])
def test_scenario_through_the_cli(scenario: Scenario, tmp_path: Path) -> None:
    """The same outcome from `mlenv lock` over a file:// simple index (HTML pages or, for every
    other scenario, PEP 691 JSON; PEP 658 metadata files; yanked marks), exit 1 and the names
    on stderr when unsatisfiable."""
    files = list(scenario.files())
    url = write_simple_index(
        tmp_path / "index",
        [(filename, data) for filename, data, _ in files],
        json=CLI_SAMPLE.index(scenario) % 2 == 1,
        yanked={filename: "" for filename, _, yanked in files if yanked},
    )
    root = tmp_path / "project"
    root.mkdir()
    (root / "mlenv.toml").write_text(scenario.manifest(url))
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    if not scenario.satisfiable:
        assert result.returncode == 1, result.stderr
        assert all(name in result.stderr for name in scenario.mentions), result.stderr
        return
    assert result.returncode == 0, result.stderr
    locked = load_lock((root / "mlenv.lock").read_text())
    assert {p.name: Version(p.version) for _, p in locked.packages()} == _expected(scenario)
