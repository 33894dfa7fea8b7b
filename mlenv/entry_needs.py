"""What CUDA each entry of a lock needs, re-read from its own facts, and whether what the
entry records (``cuda``, ``requires-driver``) agrees: `mlenv lock` writes both from those facts,
so a value that does not follow from them was edited. Pure; ``judge.verify_lock`` calls it.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace

from mlenv.conda.records import CondaRecord
from mlenv.cuda import packages as cudapkg
from mlenv.cuda.matrix import driver_release, facts, release_drivers, table3_driver
from mlenv.cuda.needs import conda_need
from mlenv.cuda.required import package_driver, required_driver
from mlenv.cuda.rules import CudaTarget, Finding, PackageNeed, Together
from mlenv.cuda.tags import CudaNeed, extract
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.lockfile import Lock, LockedPackage

EDITED = (
    "the lock was edited by hand, or written by an mlenv whose CUDA rules differ from this "
    "one's; run `mlenv lock`, which writes its CUDA fields again and moves no pin"
)
REBUILD = "the lock was edited by hand; run `mlenv lock --upgrade` to rebuild it"

Unread = tuple[str, str, str, tuple[str, ...]]


def entry_needs(lock: Lock) -> tuple[list[PackageNeed], list[Finding], list[Unread], Together]:
    """What CUDA each package needs, re-derived from its name, file and index; the lock's own
    ``cuda`` field (which may come from Requires-Dist) must agree with them. GPU packages whose
    CUDA cannot be read come back apart, with the lock's ``unverified`` mark. Conda packages
    are read by ``needs.conda_need``, exactly as ``lock`` reads them. Every entry's recorded
    ``requires-driver`` is held to its need (``_recorded_driver``). A wheel is judged by its
    file and what its platform recorded, as `mlenv lock` judges it: one release (one
    py3-none-any file) may be CUDA on x86_64 and CPU on aarch64 (Requires-Dist lines'
    markers, torch 1.12's x86_64 file name). Last, each platform's needs: the packages
    installed side by side (a bitsandbytes loads the CUDA of its own platform's torch)."""
    needs: dict[tuple[str, ...], PackageNeed] = {}
    findings: list[Finding] = []
    unread: dict[tuple[str, str], Unread] = {}
    judged: dict[tuple[str, ...], PackageNeed | None] = {}  # None: no CUDA build
    releases = _releases(lock)
    keys: dict[str, list[tuple[str, ...]]] = {}
    for platform, package in lock.packages():
        key = (package.name, package.version, package.filename, package.index, package.cuda or "")
        if key not in judged:
            judged[key] = _package_need(package, findings, unread)
            if (item := judged[key]) is not None:
                needs[key] = item
        keys.setdefault(platform, []).append(key)
        who = f"{package.name} {package.version}"
        found = _recorded_driver(who, judged[key], package.requires_driver)
        findings += found
        if key in needs and not found and package.requires_driver is not None:
            named = [releases.get((platform, name)) for name in package.dependencies]
            recorded = DriverVersion.parse(package.requires_driver)
            needs[key] = _pinned(needs[key], recorded, [r for r in named if r is not None])
    for platform, conda in lock.conda_packages():
        conda_key = (conda.name, f"{conda.version} {conda.build}")
        if conda_key not in judged:
            judged[conda_key] = _conda_item(conda, findings)
            if (item := judged[conda_key]) is not None:
                needs[conda_key] = item
        keys.setdefault(platform, []).append(conda_key)
        who = f"{conda.name} {conda.version}"
        findings += _recorded_driver(who, judged[conda_key], conda.requires_driver, exact=True)
    together = {
        p: [needs[k] for k in dict.fromkeys(found) if k in needs] for p, found in keys.items()
    }
    return list(dict.fromkeys(needs.values())), findings, list(unread.values()), together


def _releases(lock: Lock) -> dict[tuple[str, str], str]:
    """The toolkit update each wheel entry's own file names (cuda-toolkit 13.0.3.0: 13.0.3), by
    platform and name: what a dependent's Requires-Dist pin named when `mlenv lock` read it."""
    found = {}
    for platform, package in lock.packages():
        with contextlib.suppress(CudaError):
            need = extract(package.name, package.version, package.filename, index=package.index)
            if need is not None and need.release is not None:
                found[(platform, package.name)] = need.release
    return found


def _pinned(item: PackageNeed, recorded: DriverVersion, named: list[str]) -> PackageNeed:
    """``item`` raised to the update release its recorded ``requires-driver`` names. `mlenv lock`
    records an update's driver when the wheel's METADATA pins that update's components, which
    verify cannot re-read offline; once ``_recorded_driver`` has held the value to the releases
    of the entry's CUDA minor, it is the entry's floor, as it was the lock's (an override may
    have dropped the pinned components, whose own entries would otherwise carry it). The
    release is the one its locked dependencies (``named``) give that driver, as the pin named
    it (torch 2.14.1's cuda-toolkit==13.0.3, which has 13.0.2's driver), else Table 3's first
    with that driver: a driver alone cannot tell 13.0.3 from 13.0.2."""
    current = package_driver(item)
    cuda = item.need.cuda
    pinned = [
        release
        for release in named
        if (found := _release_driver(cuda, release)) is not None and found == recorded
    ]
    release = max(pinned, key=_numbers) if pinned else driver_release(cuda, recorded)
    if release is None or (current is not None and current[0] >= recorded):
        return item
    evidence = f"mlenv.lock: {item.name} requires-driver = {str(recorded)!r}"
    return replace(item, need=replace(item.need, release=release, evidence=evidence))


def _release_driver(cuda: CudaVersion, release: str) -> DriverVersion | None:
    """Table 3's driver for ``release`` when it is an update of X.Y, else None."""
    if tuple(_numbers(release)[:2]) != (cuda.major, cuda.minor):
        return None
    found = table3_driver(cuda, release)
    return found[0] if found is not None else None


def _numbers(release: str) -> tuple[int, ...]:
    return tuple(int(part) for part in release.split(".") if part.isdigit())


def package_driver_findings(package: LockedPackage) -> list[Finding]:
    """verify's findings on a wheel entry's recorded ``requires-driver`` (``_recorded_driver``)."""
    need = _package_need(package, [], {})
    return _recorded_driver(f"{package.name} {package.version}", need, package.requires_driver)


def _package_need(
    package: LockedPackage, findings: list[Finding], unread: dict[tuple[str, str], Unread]
) -> PackageNeed | None:
    """The need of one wheel entry (None for no CUDA build, an unread or unreadable one)."""
    key = (package.name, package.version)
    try:
        need = extract(package.name, package.version, package.filename, index=package.index)
    except CudaError as exc:
        findings.append(
            Finding.error("cuda-unreadable", package.name, "", "", exc.message, exc.hint or "")
        )
        return None
    recorded = package.cuda
    if need is None and (
        recorded == cudapkg.UNVERIFIED
        or (recorded is None and cudapkg.undetermined(*key, package.index) is not None)
    ):
        what = cudapkg.undetermined(*key, package.index) or "the lock records it unverified"
        listed = (package.name,) if recorded == cudapkg.UNVERIFIED else ()
        unread[key] = (package.name, package.version, what, listed)
        return None
    if need is not None and recorded == cudapkg.UNVERIFIED:
        recorded = None  # readable now (a newer table): judged, the old mark is moot
    if need is not None and recorded is not None and need.label != recorded:
        findings.append(_mismatch(package.name, package.version, need, recorded))
    if need is None and recorded is not None:
        need = _recorded_need(recorded, package)
        if need is None:
            findings.append(
                Finding.error(
                    "lock-cuda-unreadable",
                    package.name,
                    "a CUDA label like 12.4 or 12.x",
                    recorded,
                    f"{package.name} {package.version} records CUDA {recorded!r}, which is "
                    "not a CUDA version",
                    REBUILD,
                )
            )
    if need is None:
        return None
    return PackageNeed.of_wheel(package.name, package.version, need, package.filename)


def _conda_item(conda: CondaRecord, findings: list[Finding]) -> PackageNeed | None:
    try:
        item = conda_need(conda)
    except CudaError as exc:
        findings.append(
            Finding.error("cuda-unreadable", conda.name, "", "", exc.message, exc.hint or "")
        )
        return None
    if item is not None and conda.cuda is not None and item.need.label != conda.cuda:
        findings.append(_mismatch(conda.name, conda.version, item.need, conda.cuda))
    if item is None and conda.cuda is not None:  # lock writes a conda cuda only from a need
        findings.append(
            Finding.error(
                "lock-cuda-mismatch",
                conda.name,
                "no CUDA build",
                f"lock says CUDA {conda.cuda}",
                f"{conda.name} {conda.version} ({conda.build}) is no CUDA build: neither its "
                f"build string nor its depends or constrains name a CUDA, but the lock records "
                f"CUDA {conda.cuda}",
                EDITED,
            )
        )
    return item


def _recorded_driver(
    who: str, item: PackageNeed | None, recorded: str | None, *, exact: bool = False
) -> list[Finding]:
    """An entry's recorded ``requires-driver`` against the one `mlenv lock` writes from its own
    facts: the floor its CUDA build sets (``package_driver``), absent when it sets none (no CUDA
    build, a build that fixes only the major, a placeholder). A wheel's METADATA may pin an
    update release, so a wheel may record the driver of any release of its CUDA minor at or
    above that floor; a conda record's need is read whole from the lock, so it records exactly
    its floor. The SBOM and the lock diff show the recorded value."""
    try:
        needed = package_driver(item) if item is not None else None
    except CudaError:  # judge() reports a need whose driver is unknown
        return []
    name = who.partition(" ")[0]
    what = f"its CUDA {item.need.label} build" if item is not None else "it is no CUDA build"
    if needed is None or item is None:
        if recorded is None:
            return []
        sets = f"{what} sets none" if item is not None else what
        message = f"{who} records requires-driver {recorded}, but {sets}"
        return [Finding.error("lock-driver-mismatch", name, "no requires-driver", recorded,
                              message, EDITED)]  # fmt: skip
    floor = needed[0]
    if recorded is None:
        message = f"{who} records no requires-driver, but {what} needs driver {floor}"
        return [Finding.error("lock-driver-mismatch", name, f"driver {floor}", "none",
                              message, EDITED)]  # fmt: skip
    allowed = {floor} if exact else {d for d in release_drivers(item.need.cuda) if d >= floor}
    parsed: DriverVersion | None = None
    with contextlib.suppress(CudaError):  # no driver version at all matches none
        parsed = DriverVersion.parse(recorded)
    if parsed in allowed | {floor}:
        return []
    if parsed is None or parsed < floor:
        message = f"{who} records requires-driver {recorded}, below {floor}, which {what} needs"
    elif exact:
        message = f"{who} records requires-driver {recorded}, but {what} needs {floor}"
    else:
        message = (
            f"{who} records requires-driver {recorded}, which no CUDA {item.need.cuda} release "
            f"sets (its floor is {floor}; an update release pinned by METADATA may raise it)"
        )
    expected = f"driver {floor}" if exact else f"a CUDA {item.need.cuda} driver >= {floor}"
    return [Finding.error("lock-driver-mismatch", name, expected, recorded, message, EDITED)]


def _mismatch(name: str, version: str, need: CudaNeed, recorded: str) -> Finding:
    return Finding.error(
        "lock-cuda-mismatch",
        name,
        f"CUDA {need.label}",
        f"lock says CUDA {recorded}",
        f"{name} {version} is a CUDA {need.label} build ({need.evidence!r}), but the lock "
        f"records CUDA {recorded}",
        EDITED,
    )


_LABEL = re.compile(r"(\d{1,2})\.(\d{1,2}|x)")


def _recorded_need(label: str, package: LockedPackage) -> CudaNeed | None:
    """A need the lock recorded from Requires-Dist, which verify cannot re-read offline."""
    match = _LABEL.fullmatch(label)
    if match is None:
        return None
    major_only = match[2] == "x"
    cuda = CudaVersion(int(match[1]), 0 if major_only else int(match[2]))
    evidence = f"mlenv.lock: {package.name} cuda = {label!r}"
    return CudaNeed(cuda, major_only, "lock", evidence, "mlenv.lock")


def entry_driver(package: LockedPackage) -> str | None:
    """The ``requires-driver`` `mlenv lock` writes for a wheel entry whose METADATA pins no
    update release: the floor its CUDA build sets, as verify re-reads it; None when it sets none
    or its CUDA cannot be read."""
    item = _package_need(package, [], {})
    try:
        floor = package_driver(item) if item is not None else None
    except CudaError:
        return None
    return None if floor is None else str(floor[0])


def conda_entry_driver(record: CondaRecord) -> str | None:
    """The ``requires-driver`` `mlenv lock` writes for a conda record (``locking``'s
    ``_locked_conda``): the floor its CUDA need sets; None when it sets none or is unreadable."""
    try:
        item = conda_need(record)
        floor = package_driver(item) if item is not None else None
    except CudaError:
        return None
    return None if floor is None else str(floor[0])


def because_holds(recorded: str | None, target: CudaTarget, needs: list[PackageNeed]) -> bool:
    """Whether a lock's [target] ``requires-driver-because`` names what sets the driver its
    packages need (``required_driver``): the target's CUDA when no package raises it, else a
    package that does, with a Table 3 release of that driver (the update `mlenv lock` read from
    METADATA may be another release of the same driver). None names nothing a reader could be
    misled by. Raises CudaError as ``required_driver`` does."""
    best, why = required_driver(target, needs)
    if recorded is None or recorded == why:
        return True
    labels = {row.label for row in facts().releases if row.linux == best}
    for item in needs:
        if item.need.cuda.major != target.cuda.major and not item.need.driver_only:
            continue
        found = package_driver(item)
        named = {f"{item.name} {item.version} ({label})" for label in labels}
        if found is not None and found[0] == best and recorded in named:
            return True
    return False


def recorded_only(lock: Lock) -> list[str]:
    """The wheel entries whose CUDA the lock took from METADATA (Requires-Dist), which verify
    re-reads from no file name and no index: held to their recorded label, a label removed by
    hand reads as no CUDA build, so verify says which it took on trust."""
    found = []
    for platform, package in lock.packages():
        if package.cuda is None or package.cuda == cudapkg.UNVERIFIED:
            continue
        try:
            need = extract(package.name, package.version, package.filename, index=package.index)
        except CudaError:
            continue
        if need is None:
            found.append(f"{package.name} {package.version} ({platform}): CUDA {package.cuda}")
    return found
