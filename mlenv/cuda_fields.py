"""The CUDA fields a lock derives from its pins, written again as this mlenv's CUDA rules write
them, moving no pin.

A lock keeps its pins while the manifest's inputs are unchanged, but its ``cuda`` and
``requires-driver`` fields (per entry, and [target]'s ``requires-driver`` with what sets it) are
read from each entry's own facts by the CUDA rules of the mlenv that wrote it. When the rules
read a package otherwise (conda's ``cuda-cudart 12.6.77`` traced to CUDA 12.6 Update 2, where an
older mlenv took the 12.6 GA driver), `verify` holds the lock to the new reading
(``lock-driver-mismatch``), so `mlenv lock` must write it: a lock fresh by its inputs hash whose
fields differ is rewritten in place, and `lock --check` calls it stale. Only fields `verify`
re-derives are touched: a conda record's (read from the record alone), a wheel's
``requires-driver`` that `verify` refuses, and [target]'s when `verify` needs another.
"""

from __future__ import annotations

from dataclasses import replace

from mlenv.conda.records import CondaRecord
from mlenv.cuda.needs import conda_need
from mlenv.cuda.required import required_driver
from mlenv.cuda.rules import CudaTarget
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.entry_needs import (
    because_holds,
    conda_entry_driver,
    entry_driver,
    entry_needs,
    package_driver_findings,
)
from mlenv.lockfile import Lock, LockedPackage


def rederived(lock: Lock) -> Lock:
    """``lock`` with the CUDA fields `mlenv lock` would write for its pins; ``lock`` itself
    (equal) when they are all as written."""
    platforms = tuple(
        replace(
            platform,
            packages=tuple(map(_wheel, platform.packages)),
            conda=tuple(map(_conda, platform.conda)),
        )
        for platform in lock.platforms
    )
    new = _target(replace(lock, platforms=platforms))
    return lock if new == lock else new


def _conda(record: CondaRecord) -> CondaRecord:
    """A conda record's ``cuda`` and ``requires-driver`` as the solve and ``_locked_conda``
    write them; an unreadable record is left as it is (verify reports it)."""
    try:
        item = conda_need(record)
    except CudaError:
        return record
    cuda = None if item is None else item.need.label
    return replace(record, cuda=cuda, requires_driver=conda_entry_driver(record))


def _wheel(package: LockedPackage) -> LockedPackage:
    """A wheel entry's ``cuda`` when its file, name and index read another (one read only
    from Requires-Dist, which verify cannot re-read offline, is kept), and its
    ``requires-driver`` when verify refuses the recorded one (an update's driver its METADATA
    pinned is kept)."""
    try:
        need = extract(package.name, package.version, package.filename, index=package.index)
    except CudaError:
        need = None
    if need is not None and need.label != package.cuda:
        package = replace(package, cuda=need.label)
    if not package_driver_findings(package):
        return package
    return replace(package, requires_driver=entry_driver(package))


def _needed(lock: Lock) -> tuple[str, str, bool] | None:
    """The driver [target] must record, what sets it and whether the recorded reason names it
    as verify accepts (``because_holds``); None without a CUDA target or when a package's
    driver is unknown (verify reports that)."""
    target = lock.target
    if target.cuda is None or target.driver_floor is None:
        return None
    try:
        floor = DriverVersion.parse(target.driver_floor)
        cuda_target = CudaTarget(CudaVersion.parse(target.cuda), floor)
        needs = entry_needs(lock)[0]
        driver, because = required_driver(cuda_target, needs)
        holds = because_holds(target.requires_driver_because, cuda_target, needs)
    except CudaError:
        return None
    return str(driver), because, holds


def _target(lock: Lock) -> Lock:
    """[target] with the driver verify needs and what sets it, when it records another (or
    none): an edited ``requires-driver-because`` is written again as a lowered driver is."""
    needed = _needed(lock)
    recorded = lock.target.requires_driver
    if needed is None:
        return lock
    try:
        if (
            recorded is not None
            and DriverVersion.parse(recorded) == DriverVersion.parse(needed[0])
            and needed[2]
        ):
            return lock
    except CudaError:
        pass  # an unreadable recorded driver: written again
    driver, because, _ = needed
    target = replace(lock.target, requires_driver=driver, requires_driver_because=because)
    return replace(lock, target=target)
