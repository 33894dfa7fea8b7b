"""A lock's CUDA judgement: the target the manifest's [cuda] names, what each pinned file needs,
the GPU packages whose CUDA cannot be read, silent CPU fallbacks, and the driver the whole
environment needs, or a ``CudaLockError`` when the fleet cannot run it.

It lives apart from the lock use case so that use case reads as the steps of a lock; a lock
without a CUDA target or CUDA builds still imports none of the CUDA rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from packaging.utils import canonicalize_name

from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.errors import Problem, ProblemsError
from mlenv.index import Index
from mlenv.manifest import Manifest
from mlenv.platforms import NAMES, by_name
from mlenv.report import Reporter
from mlenv.resolver.model import Resolution

TYPE_CHECKING = False
if TYPE_CHECKING:
    # a lock without a CUDA target or CUDA builds (a data stack) never imports the rules
    from mlenv.cuda.policy import Unread
    from mlenv.cuda.rules import CudaTarget, Finding, PackageNeed, Together


class CudaLockError(ProblemsError):
    """The resolved environment breaks the CUDA rules for the fleet in the manifest."""


def cuda_target(manifest: Manifest) -> CudaTarget | None:
    cuda = manifest.cuda
    if cuda is None:
        return None
    machines = tuple(by_name(p).machine for p in manifest.environment.platforms if p in NAMES)
    from mlenv.cuda.rules import CudaTarget

    return CudaTarget(
        CudaVersion.parse(cuda.version),
        DriverVersion.parse(cuda.driver_floor),
        cuda.archs,
        machines=machines,
    )


def _cuda_needs(
    index: Index, resolution: Resolution, target: CudaTarget | None
) -> tuple[dict[str, PackageNeed], dict[str, Unread]]:
    """What CUDA each file pinned on one platform needs there, from its tags, the GPU package
    table (with the index that served it) and its Requires-Dist under the platform's markers;
    and, for a CUDA target, the GPU packages it cannot be read for (by URL)."""
    needs: dict[str, PackageNeed] = {}
    unread: dict[str, Unread] = {}
    markers = resolution.target.markers  # x86_64-only lines are no aarch64 need
    for pin in resolution.pins:
        file = pin.file
        requires = index.metadata(file).requires_dist
        version = str(pin.version)
        need = extract(pin.name, version, file.filename, requires, file.index_url, markers)
        if need is not None:  # a CUDA build: only then are the rules loaded
            from mlenv.cuda.rules import PackageNeed

            needs[file.url] = PackageNeed.of_wheel(pin.name, version, need, file.filename)
        elif target is not None:
            from mlenv.cuda import packages as cudapkg
            from mlenv.cuda.policy import Unread

            if (what := cudapkg.undetermined(pin.name, version, file.index_url)) is not None:
                unread[file.url] = Unread(pin.name, version, what)
    return needs, unread


def _judge_cuda(
    target: CudaTarget | None,
    needs: Sequence[PackageNeed],
    unread: Sequence[Unread],
    unverified: Sequence[str],
    reporter: Reporter,
    together: Together | None = None,
) -> tuple[str | None, str | None]:
    """Refuse a lock the fleet cannot run; return the driver it needs and why (each need and
    unread package once, however many platforms share it; ``together``: each platform's)."""
    items = sorted(dict.fromkeys(needs), key=lambda n: (n.name, n.version))
    unread = tuple(dict.fromkeys(unread))
    if target is None:
        if items:
            names = ", ".join(f"{n.name} (CUDA {n.need.label})" for n in items[:3])
            reporter.warning(
                f"the environment holds CUDA builds ({names}) but the manifest has no [cuda] "
                "table: add one so mlenv can check them against the fleet's driver"
            )
        return None, None
    from mlenv.cuda import packages as cudapkg
    from mlenv.cuda.grouping import grouped
    from mlenv.cuda.required import required_driver
    from mlenv.cuda.rules import judge

    findings = judge(target, items, together)
    findings += tuple(
        cudapkg.finding(u.name, u.version, u.what, unverified, target.cuda)
        for u in sorted(unread, key=lambda u: (u.name, u.version))
    )
    unread_names = {canonicalize_name(u.name) for u in unread}
    for name in unverified:
        if name not in unread_names:
            reporter.warning(
                f"[cuda] unverified lists {name}, but no locked package of that name has a CUDA "
                "mlenv cannot read: remove it"
            )
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise CudaLockError(
            f"the locked environment breaks the CUDA rules for CUDA {target.cuda} with "
            f"driver floor {target.driver_floor} ({len(errors)} problem(s))",
            [_problem(f) for f in errors],
        )
    for finding in grouped(findings):  # one warning per driver a later CUDA update needs
        reporter.warning(f"{finding.message} (hint: {finding.hint})")
    driver, because = required_driver(target, items)
    return str(driver), because


def _problem(finding: Finding) -> Problem:
    return Problem(finding.package or "[cuda]", finding.message, finding.hint)


def _cpu_builds(
    manifest: Manifest,
    index: Index,
    resolutions: Sequence[Resolution],
    read: Mapping[str, tuple[Mapping[str, PackageNeed], Mapping[str, Unread]]],
    reporter: Reporter,
) -> frozenset[str]:
    """No silent CPU fallback for a CUDA target; the URLs of the CPU builds cpu-ok allowed."""
    cuda = manifest.cuda
    if cuda is None:
        return frozenset()
    from mlenv.cuda.cpufallback import check_fallbacks, describe, find_fallbacks, machine_gated

    names = frozenset(canonicalize_name(name) for name in cuda.cpu_ok)
    fallbacks = []
    for resolution in resolutions:
        needs, unread = read[resolution.target.platform]
        gated = machine_gated(index, resolution, needs)
        fallbacks += find_fallbacks(resolution, needs, names, unread, gated)
    target = CudaVersion.parse(cuda.version)
    check_fallbacks(fallbacks, target)
    for fallback in fallbacks:
        first = describe(fallback, target).splitlines()[0]
        reporter.warning(f"{first}; allowed by [cuda] cpu-ok")
    return frozenset(f.pin.file.url for f in fallbacks)
