"""From a manifest to a lock: the indexes it names, one resolution per platform, every artifact
hashed.

This is the seam between the pure core (``resolve``, ``lockfile``) and the index edge; it takes an
``Index`` so tests hand it an in-memory one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# imported here, not where a local lock first hashes: a module imported for the first time
# while a first lock is recorded lists sys.path's directories, and a listing the recording
# cannot place (a working directory the run wrote into) keeps that lock from the memo
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from mlenv import watch
from mlenv.cache.held import measure
from mlenv.conda.records import CondaRecord, other_abi
from mlenv.cuda.held_back import held_back
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.drift import escaped_directory, recorded_channel, recorded_location, recorded_sources
from mlenv.errors import MlenvError, Problem, ProblemsError
from mlenv.index import (
    FindLinks,
    HttpClient,
    Index,
    IndexFile,
    IndexGroup,
    MetadataCache,
    PackageIndexError,
    SimpleIndex,
)
from mlenv.index.declared import DigestCheck
from mlenv.index.urls import file_url_to_path, is_file_url, recordable
from mlenv.inputs import DEFAULT_PRERELEASE, index_order
from mlenv.limits import MAX_WHEEL_BYTES
from mlenv.lockfile import Lock, LockedPackage, LockedPlatform, LockTarget
from mlenv.lockfile_fresh import inputs_hash
from mlenv.manifest import Manifest
from mlenv.net.origins import LocalRoots
from mlenv.platforms import NAMES, by_name
from mlenv.pypi_sources import source_urls
from mlenv.report import Reporter
from mlenv.resolve import PREFETCH_WORKERS, CandidatePolicy, Resolution, resolve
from mlenv.target import Target

TYPE_CHECKING = False
if TYPE_CHECKING:  # a lock without --upgrade or -P has none: moves no pin, imports nothing
    # a lock without a CUDA target or CUDA builds (a data stack) never imports the rules
    from mlenv.cuda.policy import Unread
    from mlenv.cuda.rules import CudaTarget, Finding, PackageNeed, Together
    from mlenv.upgrade import Upgrade

HASH_WORKERS = 4


class CudaLockError(ProblemsError):
    """The resolved environment breaks the CUDA rules for the fleet in the manifest."""


@dataclass(frozen=True)
class Sources:
    """The indexes of a manifest, in the order the strategy consults them."""

    index: Index
    index_urls: tuple[str, ...]
    find_links: tuple[str, ...]
    # file:// prefixes of relative find-links directories -> the manifest's spelling, so the
    # lock names "wheels/x.whl" rather than this checkout's absolute path
    relative: Mapping[str, str] = field(default_factory=dict)
    http: HttpClient | None = None  # fetches http(s) conda channels' repodata (conda.mirror)
    no_index: bool = False  # lock --no-index: index_urls recorded, never asked (mlenv.no_index)
    base_dir: Path = Path()  # the manifest's directory: relative channels are read from it

    @property
    def searched(self) -> tuple[str, ...]:
        return self.find_links if self.no_index else (*self.index_urls, *self.find_links)

    @property
    def local(self) -> bool:
        """Every source is a directory or file:// page on this machine: reading it is CPU
        work, which prefetch threads (one GIL) only slow down, so the resolver reads inline."""
        return all("://" not in url or is_file_url(url) for url in self.searched)

    def portable(self, url: str) -> str:
        """``url`` under a relative find-links directory spelt as the manifest does, as a
        relative URL (``drift.escaped_directory``)."""
        for prefix, spelling in self.relative.items():
            if url == prefix or url.startswith(prefix + "/"):
                return escaped_directory(spelling) + url[len(prefix) :]
        return url


def open_sources(
    manifest: Manifest,
    http: HttpClient,
    cache: MetadataCache | None,
    base_dir: Path,
    *,
    no_index: bool = False,
) -> Sources:
    """The indexes in the order first-index asks them (``inputs.index_order``), then
    find-links in manifest order; with ``no_index``, find-links alone are asked."""
    pypi = manifest.pypi
    local = local_roots(manifest, base_dir)
    simple = [
        SimpleIndex(url, http=http, cache=cache, local=local)
        for url in index_order(pypi.index_url, pypi.extra_index_urls)
    ]
    links = []
    spelled = []  # each as the manifest spells it when relative (two may name one directory)
    relative = {}
    for location in pypi.find_links:
        spelling = None
        if "://" not in location and not Path(location).is_absolute():
            watch.probed(base_dir / location)  # a symlink here is resolved, then read there
            directory = (base_dir / location).resolve()
            spelling = relative[directory.as_uri()] = location.rstrip("/")
            location = str(directory)
        links.append(FindLinks(location, http=http, cache=cache, local=local))
        spelled.append(spelling)
    pinned = {url: SimpleIndex(url, http=http, cache=cache, local=local)
              for url in source_urls(pypi.sources)}  # fmt: skip
    group = IndexGroup([] if no_index else simple, pypi.index_strategy, find_links=links,
                       sources={name: pinned[url] for name, url in pypi.sources})  # fmt: skip
    return Sources(
        group,
        tuple(i.url for i in simple),
        tuple(s if s is not None else i.url for s, i in zip(spelled, links, strict=True)),
        relative,
        http,
        no_index,
        base_dir,
    )


def local_roots(manifest: Manifest, base_dir: Path) -> LocalRoots:
    """The local directories the manifest names: the only places file: URLs may lead. A
    channel's as rattler reads it (``channel_path``: ``\\\\chan``, ``~/chan``, a platform
    list cut), so fetch reads the directory the lock was solved from."""
    from mlenv.conda.channel_paths import channel_path

    channels = [p for p in map(channel_path, manifest.conda.channels) if p is not None]
    return LocalRoots.of(
        indexes=(
            manifest.pypi.index_url,
            *manifest.pypi.extra_index_urls,
            *source_urls(manifest.pypi.sources),
        ),
        find_links=(*manifest.pypi.find_links, *channels),
        base_dir=base_dir,
    )


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
    target_cuda = cuda_target(manifest)
    requirements = manifest.pypi.requirements()
    resolutions = []
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
        records = _solve_conda(manifest, target, previous, everything, moving, reporter, sources)
        conda[target.platform] = records
        preferences = _preferences(previous, target.platform, everything, moving)
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
    _warn_yanked(resolutions, reporter)
    for line in held_back(resolutions, unread_files):
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


def _solve_conda(
    manifest: Manifest,
    target: Target,
    previous: Lock | None,
    everything: bool,
    moving: frozenset[NormalizedName],
    reporter: Reporter,
    sources: Sources,
) -> tuple[CondaRecord, ...]:
    """The conda part of one platform; its Python must be the manifest's. A relative channel
    is read from the manifest's directory (where ``places`` judged it at ``init --from``), not
    from wherever lock runs: rattler would read ``./chan`` from the working directory."""
    if not manifest.conda.dependencies:
        return ()
    from mlenv.conda.channel_paths import from_directory
    from mlenv.conda.solve import solve

    locked = () if previous is None or everything else tuple(
        c
        for platform, c in previous.conda_packages()
        if platform == target.platform and canonicalize_name(c.name) not in moving
    )  # fmt: skip
    records = solve(
        [from_directory(channel, sources.base_dir) for channel in manifest.conda.channels],
        manifest.conda.dependencies,
        target.platform,
        cuda=manifest.cuda.version if manifest.cuda else None,
        glibc=target.glibc,
        reporter=reporter,
        locked=locked,
        driver_floor=manifest.cuda.driver_floor if manifest.cuda else "",
        http=sources.http,
    )
    for record in records:
        if record.name == "python" and not record.version.startswith(f"{target.python}."):
            raise MlenvError(
                f"the conda solve for {target.platform} chose python {record.version}, but "
                f"the manifest targets Python {target.python}",
                where=f"{manifest.source}: [conda].dependencies",
                hint=f'pin it: add "python {target.python}.*" to [conda].dependencies, or '
                "change [environment].python",
            )
        if record.name == "python" and (abi := other_abi(record)):
            # a free-threaded python's noarch packages go below its python_site_packages_path
            # (lib/python3.13t) and its wheels need the cp313t ABI; PyPy loads no cp310 wheel:
            # mlenv targets the default CPython ABI only
            pypy = abi.startswith("pypy")
            # conda-forge's default builds end in _cpython up to 3.12, in _cp313 from 3.13 on
            minor = int([*target.python.split("."), "0"][1])
            default = f"cp3{minor}" if minor >= 13 else "cpython"
            raise MlenvError(
                f"the conda solve for {target.platform} chose python {record.version} "
                f"{record.build}, {'a PyPy' if pypy else 'a free-threaded'} build ({abi}); mlenv "
                f"builds for the default CPython {target.python} ABI (its site-packages and its "
                "wheels)",
                where=f"{manifest.source}: [conda].dependencies",
                hint=f'ask for the default build: write "python {target.python}.* *_{default}" '
                "in [conda].dependencies",
            )
    return records


def provided_by_conda(records: Sequence[CondaRecord], source: str) -> dict[NormalizedName, Version]:
    """PyPI distributions the conda part already installs: same name (PEP 503 normalised) as a
    conda package. PyPI must accept that version and never installs a second copy."""
    provided = {}
    for record in records:
        if record.name == "python":
            continue
        try:
            provided[canonicalize_name(record.name)] = Version(record.version)
        except InvalidVersion:
            continue  # not a PEP 440 version: no PyPI requirement could name it anyway
    return provided


def _locked_conda(record: CondaRecord, needs: Mapping[str, PackageNeed]) -> CondaRecord:
    """The solved record with the driver floor its CUDA need sets (none when the release's
    driver is not known, as for a wheel: ``_entry_driver``)."""
    return replace(record, requires_driver=_entry_driver(needs.get(record.url)))


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


def _preferences(
    previous: Lock | None, platform: str, everything: bool, moving: frozenset[NormalizedName]
) -> dict[NormalizedName, Version]:
    if previous is None or everything:
        return {}
    for locked in previous.platforms:
        if locked.platform == platform:
            return {
                canonicalize_name(p.name): Version(p.version)
                for p in locked.packages
                if canonicalize_name(p.name) not in moving
            }
    return {}


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


def _warn_yanked(resolutions: Sequence[Resolution], reporter: Reporter) -> None:
    """PEP 592: pip warns when an == pin takes a yanked file; so does mlenv (the lock marks it)."""
    for resolution in resolutions:
        for pin in resolution.pins:
            if pin.file.yanked is not None:
                because = f": {pin.file.yanked}" if pin.file.yanked else ""
                reporter.warning(
                    f"{pin.name} {pin.version} ({resolution.target.platform}) is yanked"
                    f"{because}; locked only because an == pin names it"
                )


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


def artifact_facts(
    index: Index, files: Sequence[IndexFile], reporter: Reporter
) -> dict[str, tuple[str, int]]:
    """sha256 and size of every file: from the index when it says, else measured.

    A local file's size is a stat; a hashed remote file's, the size its server states
    (``Index.size``: a HEAD answer, not the file); anything else unknown is streamed
    once and hashed, in parallel, never held in memory. A file whose page states another
    digest besides sha256 (``#md5=``, a PEP 691 ``hashes`` with several) is measured even when
    sha256 and size are known, since its bytes must meet every digest stated
    (``index.declared``): taking the sha256 alone left a contradicting md5 unread. A declared
    size that is no positive number (PEP 700's ``"size": 0``: no wheel or conda package is
    empty) is not taken. A file measured despite a declared sha256 must hash to it. A wrong
    positive size, declared or stated, is caught by fetch, which stores no bytes that differ
    from the lock's size.
    """
    unique = {f.url: f for f in files}
    facts: dict[str, tuple[str, int]] = {}
    todo = []
    for url, file in sorted(unique.items()):
        if file.declared:  # every digest the page states is checked against the bytes
            todo.append(file)
        elif file.sha256 is not None and type(file.size) is int and file.size > 0:
            facts[url] = (file.sha256, file.size)
        elif file.sha256 is not None and is_file_url(url):
            watch.probed(file_url_to_path(url))  # the size is of these bytes
            facts[url] = (file.sha256, file_url_to_path(url).stat().st_size)
        else:
            todo.append(file)
    if not todo:
        return facts
    with reporter.task("sizing files the index did not size or hash", len(todo), "files") as task:

        def measure_file(file: IndexFile) -> tuple[str, tuple[str, int]]:
            if file.sha256 and not file.declared and (stated := index.size(file)) is not None:
                task.advance()
                return file.url, (file.sha256, stated)
            check = DigestCheck(file.declared)
            # no more than any package may hold; a wrong stated size alone is no reason to
            # refuse bytes whose digests hold (the lock keeps the measured size)
            with index.open(file) as stream:
                measured = measure(stream, check if file.declared else None, limit=MAX_WHEEL_BYTES)
            wrong = check.contradiction(measured.sha256)
            if file.sha256 is not None and measured.sha256 != file.sha256:
                wrong = ("sha256", file.sha256, measured.sha256)
            problem = (
                None
                if wrong is None
                else (f"the index declares {wrong[0]} {wrong[1]}, but its bytes hash to {wrong[2]}")
            )
            if measured.size > MAX_WHEEL_BYTES:
                problem = (
                    f"the index serves more than the {MAX_WHEEL_BYTES:,} bytes a package may hold"
                )
            if problem is not None:
                raise PackageIndexError(
                    f"{file.filename}: {problem}",
                    where=recordable(file.url),
                    hint="the index serves other bytes than it lists; ask its owner to fix it",
                )
            task.advance()
            return file.url, (measured.sha256, measured.size)

        with ThreadPoolExecutor(HASH_WORKERS) as pool:
            facts.update(pool.map(measure_file, todo))
    return facts
