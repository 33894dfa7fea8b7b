"""From a manifest to a lock: one resolution per platform, every artifact hashed, the pins
that still fit kept.

This is the use case at the seam between the pure core (``resolve``, ``lockfile``) and the index
edge; it takes ``Sources`` (``locking_sources``) so tests hand it an in-memory index. The CUDA
judgement of what it resolved (``locking_cuda``), the conda solve (``locking_conda``), the
artifacts' hashes and sizes (``locking_facts``) and the rules a relock keeps of the earlier lock
(``locking_earlier``) live beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from packaging.utils import NormalizedName
from packaging.version import Version

from mlenv.conda.records import CondaRecord
from mlenv.cuda.held_back import held_back
from mlenv.cuda.versions import CudaError
from mlenv.drift import recorded_channel, recorded_location, recorded_sources
from mlenv.index import IndexFile
from mlenv.index.urls import recordable
from mlenv.inputs import DEFAULT_PRERELEASE
from mlenv.lockfile import Lock, LockedPackage, LockedPlatform, LockTarget
from mlenv.lockfile_fresh import inputs_hash
from mlenv.locking_conda import _solve_conda, provided_by_conda
from mlenv.locking_cuda import _cpu_builds, _cuda_needs, _judge_cuda, cuda_target
from mlenv.locking_earlier import earlier_files, kept_pins, relock_error, yank_warnings
from mlenv.locking_facts import artifact_facts
from mlenv.locking_sources import Sources
from mlenv.manifest import Manifest
from mlenv.report import Reporter
from mlenv.resolver.candidates import PREFETCH_WORKERS
from mlenv.resolver.model import Resolution
from mlenv.resolver.policy import CandidatePolicy
from mlenv.resolver.resolve import resolve
from mlenv.target import Target

TYPE_CHECKING = False
if TYPE_CHECKING:  # a lock without --upgrade or -P has none: moves no pin, imports nothing
    # a lock without a CUDA target or CUDA builds (a data stack) never imports the rules
    from mlenv.cuda.policy import Unread
    from mlenv.cuda.rules import PackageNeed
    from mlenv.upgrade import Upgrade


def lock_manifest(
    manifest: Manifest,
    sources: Sources,
    *,
    reporter: Reporter,
    previous: Lock | None = None,
    upgrade: Upgrade | None = None,
    policy: CandidatePolicy | None = None,
) -> Lock:
    """Resolve every platform; keep previous pins that still fit unless asked to upgrade."""
    everything, moving = (upgrade.everything, upgrade.packages) if upgrade else (False, frozenset())
    conda_moving = upgrade.conda if upgrade else frozenset()
    new_bytes = upgrade is None or upgrade.new_bytes
    rehashed = moving if new_bytes else frozenset()
    conda_rehashed = conda_moving if new_bytes else frozenset()
    target_cuda = cuda_target(manifest)
    requirements = manifest.pypi.requirements()
    resolutions = []
    kept: dict[str, Mapping[NormalizedName, LockedPackage]] = {}  # each platform's earlier pins
    unread_files: set[IndexFile] = set()
    conda: dict[str, tuple[CondaRecord, ...]] = {}
    for target in Target.for_environment(manifest.environment):
        judge = policy
        if judge is None and target_cuda is not None:  # one a platform: markers differ
            from mlenv.cuda.policy import CudaPolicy

            judge = CudaPolicy(
                target_cuda,
                manifest.cuda.unverified if manifest.cuda else (),
                target.markers,
                reads_metadata=True,
            )
        records = _solve_conda(
            manifest, target, previous, everything, conda_moving, reporter, sources
        )
        conda[target.platform] = records
        kept[target.platform] = kept_pins(previous, target.platform, everything, moving)
        preferences = {name: Version(p.version) for name, p in kept[target.platform].items()}
        resolutions.append(
            resolve(
                requirements,
                target,
                sources.index,
                reporter=reporter,
                policy=judge,
                preferences=preferences,
                prerelease=manifest.pypi.prerelease,
                constraints=manifest.pypi.constraint_requirements(),
                overrides=manifest.pypi.override_requirements(),
                exclude_newer=manifest.pypi.exclude_newer,
                provided=provided_by_conda(records, manifest.source),
                indexes_searched=sources.searched,
                workers=0 if sources.local else PREFETCH_WORKERS,
            )
        )
        if judge is not None:  # without one (no [cuda] table) no CUDA rules are loaded
            from mlenv.cuda.policy import CudaPolicy

            if isinstance(judge, CudaPolicy):
                unread_files |= judge.unread_files
    facts = artifact_facts(
        sources.index, [pin.file for r in resolutions for pin in r.pins], reporter
    )
    # each platform's own reading: one py3-none-any file may be CUDA by a line whose marker
    # holds on x86_64 only; unread GPU packages need a target to be judged against
    read = {r.target.platform: _cuda_needs(sources.index, r, target_cuda) for r in resolutions}
    cpu_builds = _cpu_builds(manifest, sources.index, resolutions, read, reporter)
    conda_records = [r for records in conda.values() for r in records]
    conda_items: dict[str, PackageNeed] = {}
    if conda_records:  # a PyPI-only lock loads no CUDA rules for conda packages
        from mlenv.cuda.needs import conda_needs

        conda_items = conda_needs(conda_records)
    items = [*(n for needs, _ in read.values() for n in needs.values()), *conda_items.values()]
    unread = [u for _, found in read.values() for u in found.values()]
    broken = relock_error(
        earlier_files(previous, everything, rehashed, conda_rehashed),
        kept,
        resolutions,
        facts,
        conda,
    )
    if broken is not None:
        raise broken
    for line in (*yank_warnings(resolutions), *held_back(resolutions, unread_files)):
        reporter.warning(line)
    cuda = manifest.cuda
    unverified = cuda.unverified if cuda else ()
    together = {  # each platform's packages, installed side by side (bitsandbytes' torch)
        p: [*needs.values(), *(conda_items[c.url] for c in conda[p] if c.url in conda_items)]
        for p, (needs, _) in read.items()
    }
    driver, because = _judge_cuda(target_cuda, items, unread, unverified, reporter, together)
    head = lock_target(manifest, sources, driver, because)
    return Lock(inputs_hash(manifest), head).with_platforms(
        [
            replace(
                _locked_platform(r, facts, *read[r.target.platform], sources, cpu_builds),
                conda=tuple(_locked_conda(c, conda_items) for c in conda[r.target.platform]),
            )
            for r in resolutions
        ]
    )


def lock_target(
    manifest: Manifest, sources: Sources, driver: str | None, because: str | None
) -> LockTarget:
    """The [target] a lock records: the manifest's resolution inputs, locations spelt as
    ``drift`` expects them, and the driver the entries need (and which sets it)."""
    cuda = manifest.cuda
    return LockTarget(
        python=manifest.environment.python,
        glibc=manifest.environment.glibc,
        platforms=manifest.environment.platforms,
        index_strategy=manifest.pypi.index_strategy,
        indexes=tuple(map(recorded_location, sources.index_urls)),
        find_links=tuple(map(recorded_location, sources.find_links)),
        sources=recorded_sources(manifest.pypi.sources) or None,
        prerelease=None
        if manifest.pypi.prerelease == DEFAULT_PRERELEASE
        else manifest.pypi.prerelease,
        constraints=tuple(sorted(manifest.pypi.constraints)) or None,
        overrides=tuple(sorted(manifest.pypi.overrides)) or None,
        requirements=manifest.pypi.dependencies,
        cuda=cuda.version if cuda else None,
        driver_floor=cuda.driver_floor if cuda else None,
        requires_driver=driver,
        requires_driver_because=because,
        conda_channels=tuple(map(recorded_channel, manifest.conda.channels)),
        conda_requirements=manifest.conda.dependencies,
    )


def _locked_conda(record: CondaRecord, needs: Mapping[str, PackageNeed]) -> CondaRecord:
    """The solved record with the driver floor its CUDA need sets (none when the release's
    driver is not known, as for a wheel: ``_entry_driver``)."""
    return replace(record, requires_driver=_entry_driver(needs.get(record.url)))


def _locked_platform(
    resolution: Resolution,
    facts: Mapping[str, tuple[str, int]],
    needs: Mapping[str, PackageNeed],
    unread: Mapping[str, Unread],
    sources: Sources,
    cpu_builds: frozenset[str],
) -> LockedPlatform:
    packages = []
    for pin in resolution.pins:
        sha256, size = facts[pin.file.url]
        item = needs.get(pin.file.url)
        driver = _entry_driver(item)
        cuda = item.need.label if item is not None else None
        if pin.file.url in unread:
            from mlenv.cuda.packages import UNVERIFIED

            cuda = UNVERIFIED  # judged before: an unread package not listed is an error
        packages.append(
            LockedPackage(
                name=pin.name,
                version=str(pin.version),
                filename=pin.file.filename,
                url=sources.portable(recordable(pin.file.url)),
                sha256=sha256,
                size=size,
                index=sources.portable(recordable(pin.file.index_url)),
                requires_python=pin.file.requires_python,
                dependencies=pin.dependencies,
                cuda=cuda,
                requires_driver=driver,
                yanked=pin.file.yanked is not None,
                cpu_ok=pin.file.url in cpu_builds,
            )
        )
    return LockedPlatform(resolution.target.platform, tuple(packages))


def _entry_driver(item: PackageNeed | None) -> str | None:
    """An entry's ``requires-driver``, as verify re-reads it (``entry_driver``): none for a
    release whose driver is not known (CUDA 13.5's cccl), which only a lock without a CUDA
    target reaches; with one, ``_judge_cuda`` has refused it already."""
    if item is None:
        return None
    from mlenv.cuda.required import package_driver

    try:
        driver = package_driver(item)
    except CudaError:
        return None
    return str(driver[0]) if driver is not None else None
