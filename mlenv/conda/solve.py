"""Conda solving and installing with py-rattler, for the target rather than this machine.

Why a child process: py-rattler 0.28 crashes (SIGSEGV/SIGABRT) in roughly one of 15-40
interpreter exits, after all its work is done (a tokio shutdown race,
PyO3/pyo3-async-runtimes#40). mlenv therefore never imports rattler in its own process. Each
operation starts ``python -c`` on ``_serve``, which reads one JSON request on stdin, does the
rattler work, writes one JSON reply to the original stdout, flushes, and leaves with
``os._exit`` so the runtime is never torn down. The reply is written only after the work is
finished, so a reply that arrives complete is trusted even if the child dies afterwards. The
cost is one interpreter start plus ``import rattler``: about 0.2 s per operation.

Why virtual packages come from the manifest: a lock is made for a fleet, not for the host that
runs ``mlenv lock``, so ``__cuda``, ``__glibc``, ``__linux``, ``__unix`` and ``__archspec`` are
stated explicitly and never detected.
"""

from __future__ import annotations

import heapq
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mlenv.cuda.tags import extract_conda
from mlenv.errors import MlenvError
from mlenv.placement import path_problem
from mlenv.report import Reporter


class CondaError(MlenvError):
    """A conda channel, spec, lock entry or install that mlenv cannot use."""


class CondaSolveError(CondaError):
    """The conda dependencies have no solution for the target."""


class CondaWorkerError(RuntimeError):
    """The py-rattler child process failed without saying why: a bug, not a user error."""


# The manifest states no kernel; 5.10 is what conda-lock assumes too, so locks agree.
LINUX_KERNEL = "5.10"
# Baseline CPU families: the fleet's exact microarchitecture is unknown, so no x86_64_v3 builds.
_ARCHSPEC = {"linux-64": "x86_64", "linux-aarch64": "aarch64"}
# Fields rattler writes into conda-meta/*.json that name this machine or this moment.
_MACHINE_KEYS = ("extracted_package_dir", "indexed_timestamp", "link", "package_tarball_full_path")


@dataclass(frozen=True)
class VirtualPackage:
    """A virtual package the target provides (plain data: the parent never imports rattler)."""

    name: str
    version: str
    build: str = "0"

    def __str__(self) -> str:
        return f"{self.name}={self.version}={self.build}"


@dataclass(frozen=True)
class CondaRecord:
    """One solved conda package as the lock stores it; ``cuda`` is the CUDA label it needs.

    ``sha256`` is None only when the channel's repodata has none; the locker must then hash
    the artifact. URLs never carry credentials.
    """

    name: str
    version: str
    build: str
    build_number: int
    subdir: str
    channel: str
    url: str
    filename: str
    sha256: str | None
    md5: str
    size: int
    depends: tuple[str, ...]
    constrains: tuple[str, ...]
    noarch: str | None
    cuda: str | None

    @classmethod
    def from_repodata(
        cls, entry: Mapping[str, Any], *, channel: str, filename: str, url: str
    ) -> CondaRecord:
        """A record from a repodata.json entry (what channels publish and rattler returns)."""
        where = f"{channel} {filename}"
        for key in ("md5", "size"):
            if entry.get(key) is None:
                raise CondaError(
                    f"the channel's repodata gives no {key} for {filename}",
                    where=where,
                    hint="use a channel indexed by conda-index or rattler-index",
                )
        name, version, build = str(entry["name"]), str(entry["version"]), str(entry["build"])
        depends = tuple(str(spec) for spec in entry.get("depends") or ())
        constrains = tuple(str(spec) for spec in entry.get("constrains") or ())
        need = extract_conda(name, version, build, depends, constrains)
        noarch = entry.get("noarch")
        return cls(
            name=name,
            version=version,
            build=build,
            build_number=int(entry.get("build_number", 0)),
            subdir=str(entry["subdir"]),
            channel=public_url(channel).rstrip("/"),
            url=public_url(url),
            filename=filename,
            sha256=entry.get("sha256"),
            md5=str(entry["md5"]),
            size=int(entry["size"]),
            depends=depends,
            constrains=constrains,
            noarch=None if noarch in (None, False) else str(noarch),
            cuda=None if need is None else need.label,
        )

    @property
    def stem(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"


_TOKEN_RE = re.compile(r"^/t/[^/]+")


def public_url(url: str) -> str:
    """The URL without user:password@ or a leading anaconda.org ``/t/<token>`` segment."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, _TOKEN_RE.sub("", parts.path), "", ""))


def virtual_packages(platform: str, *, cuda: str | None, glibc: str) -> tuple[VirtualPackage, ...]:
    """What the target offers the solver, from the manifest alone, sorted by name."""
    arch = _ARCHSPEC.get(platform)
    if arch is None:
        raise CondaError(
            f"mlenv cannot solve conda packages for {platform!r}",
            where="environment.platforms",
            hint=f"supported platforms: {', '.join(sorted(_ARCHSPEC))}",
        )
    found = [
        VirtualPackage("__archspec", "1", arch),
        VirtualPackage("__glibc", glibc),
        VirtualPackage("__linux", LINUX_KERNEL),
        VirtualPackage("__unix", "0"),
    ]
    if cuda is not None:
        found.append(VirtualPackage("__cuda", cuda))
    return tuple(sorted(found, key=lambda package: package.name))


def cuda_version_constraint(cuda: str) -> str:
    """Keeps ``cuda-version`` at the target minor when anything pulls it in.

    A constraint, not a requirement: CPU-only channels have no ``cuda-version`` and still
    solve, while CUDA packages (which depend on ``cuda-version >=X.0,<X+1``) can no longer
    drift to a newer minor than the manifest names. ``X.Y.*`` rather than ``==X.Y`` so that
    channels publishing ``12.4.1`` also match.
    """
    return f"cuda-version {cuda}.*"


# ---------------------------------------------------------------------------------------------
# Solving


def solve(
    channels: Sequence[str],
    specs: Sequence[str],
    platform: str,
    *,
    cuda: str | None,
    glibc: str,
    reporter: Reporter,
    locked: Sequence[CondaRecord] = (),
) -> tuple[CondaRecord, ...]:
    """Solve the specs for the target platform (plus noarch), sorted by name.

    ``locked`` records that the channels still publish are preferred, so a re-lock changes
    only what it must.
    """
    virtual = virtual_packages(platform, cuda=cuda, glibc=glibc)
    request = {
        "channels": list(channels),
        "specs": list(specs),
        "platform": platform,
        "virtual": [asdict(package) for package in virtual],
        "constraints": [] if cuda is None else [cuda_version_constraint(cuda)],
        "locked": sorted({(record.name, record.sha256 or record.md5) for record in locked}),
    }
    with reporter.task(f"solving conda packages for {platform}", unit="packages") as task:
        try:
            entries = _run_child("solve", request)
        except _ChildFailure as failure:
            raise _solve_error(failure, channels, platform, cuda=cuda, glibc=glibc) from None
        task.advance(len(entries))
    records = (
        CondaRecord.from_repodata(
            entry, channel=entry["channel"], filename=entry["fn"], url=entry["url"]
        )
        for entry in entries
    )
    return tuple(sorted(records, key=lambda record: record.name))


@dataclass(frozen=True)
class _Fault:
    """One reason rattler gives: the chain of packages, what happened to which spec."""

    chain: tuple[str, ...]
    kind: str  # missing | unmet-constraint | needs | constrains
    spec: str
    conflict: bool = False

    @property
    def name(self) -> str:
        return self.spec.split(" ", 1)[0]


_BRANCH_RE = re.compile(r"[└├]─ ")
_PARENT_RE = re.compile(r"(?P<package>\S+ \S+) would (?P<verb>require|constrain)")
_LEAF_RE = re.compile(
    r"(?P<spec>.+?), "
    r"(?:for which no candidates were found\.?|(?P<conflict>which conflicts with .*))"
)
_MISSING_RE = re.compile(r"No candidates were found for (?P<spec>.+?)\.?")
_UNMET_CONSTRAINT_RE = re.compile(r"the constraint (?P<spec>.+) cannot be fulfilled")
_SOLVE_PREFIX = "Cannot solve the request because of: "


def _faults(tree: str) -> list[_Fault]:
    """Walk rattler's tree: each leaf naming a missing or conflicting spec is a fault."""
    faults: list[_Fault] = []
    stack: list[str] = []
    for line in tree.splitlines():
        branch = _BRANCH_RE.search(line)
        depth, text = (branch.start() // 3 + 1, line[branch.end() :]) if branch else (0, line)
        del stack[depth:]
        stack.append(text.strip())
        if found := _MISSING_RE.fullmatch(stack[-1]):
            faults.append(_Fault((), "missing", found["spec"]))
        elif found := _UNMET_CONSTRAINT_RE.fullmatch(stack[-1]):
            faults.append(_Fault((), "unmet-constraint", found["spec"]))
        elif (leaf := _LEAF_RE.fullmatch(stack[-1])) and len(stack) > 1:
            parents = [found for item in stack[:-1] if (found := _PARENT_RE.fullmatch(item))]
            if parents and parents[-1].string == stack[-2]:
                kind = "needs" if parents[-1]["verb"] == "require" else "constrains"
                chain = tuple(parent["package"] for parent in parents)
                faults.append(_Fault(chain, kind, leaf["spec"], leaf["conflict"] is not None))
    return list(dict.fromkeys(faults))


def _solve_error(
    failure: _ChildFailure, channels: Sequence[str], platform: str, *, cuda: str | None, glibc: str
) -> CondaError:
    if failure.kind == "spec":
        return CondaError(
            failure.message,
            where="conda.dependencies",
            hint="write conda MatchSpecs such as 'numpy >=1.26', 'python 3.11.*' or 'zlib ==1.3'",
        )
    if failure.kind != "SolverError":
        return CondaError(
            f"cannot read the conda channels: {failure.message}",
            where="conda.channels",
            hint="check the channel names or URLs and the network",
        )
    tree = failure.message.removeprefix(_SOLVE_PREFIX).strip()
    searched = f"{', '.join(channels)} ({platform}, noarch)"
    offers = {
        "__cuda": f"the manifest targets CUDA {cuda}"
        if cuda is not None
        else "the manifest names no CUDA target",
        "__glibc": f"the manifest targets glibc {glibc}",
        "__linux": f"mlenv assumes Linux kernel {LINUX_KERNEL}",
        "__archspec": f"mlenv assumes the baseline {_ARCHSPEC[platform]} CPU",
    }
    reasons: list[str] = []
    hints: list[str] = []
    for fault in _faults(tree):
        who = " -> ".join(fault.chain)
        if fault.kind == "missing":
            reasons.append(f"no package matches {fault.spec} in {searched}")
            hints.append("check the package name and the [conda] channels")
        elif fault.kind == "unmet-constraint":
            reasons.append(f"no {fault.name} package in the channels matches CUDA {cuda}")
            hints.append(f"use channels that publish cuda-version {cuda}, or change [cuda] version")
        elif fault.name.startswith("__"):
            offer = offers.get(fault.name, f"{fault.name} does not exist on {platform}")
            reasons.append(f"{who} {fault.kind} {fault.spec}, {offer}")
            hints.append(_virtual_hint(fault, cuda, platform))
        elif fault.conflict:
            reasons.append(f"{who} {fault.kind} {fault.spec}, which conflicts with another need")
        else:
            reasons.append(f"{who} {fault.kind} {fault.spec}, which no channel provides")
            hints.append(f"channels searched: {searched}")
    summary = "; ".join(reasons) or "the conda dependencies have no solution"
    indented = "\n".join(f"  {line}" for line in tree.splitlines())
    return CondaSolveError(
        f"{summary}\n{indented}",
        where=f"conda.dependencies ({platform})",
        hint="; ".join(dict.fromkeys(hints)) or None,
    )


def _virtual_hint(fault: _Fault, cuda: str | None, platform: str) -> str:
    package = fault.chain[-1].split(" ")[0]
    if fault.name == "__cuda" and cuda is None:
        return f"add a [cuda] table for the GPU target, or require a CPU build of {package}"
    if fault.name == "__cuda":
        change = "raise" if fault.kind == "needs" else "change"
        return (
            f"{change} [cuda] version to satisfy {fault.spec} (and the driver floor with it), "
            f"or require a build of {package} made for CUDA {cuda}"
        )
    if fault.name == "__glibc":
        return (
            f"raise [environment] glibc if every target host has {fault.spec}, "
            f"or require an older build of {package}"
        )
    return f"require another build of {package} for {platform}"


# ---------------------------------------------------------------------------------------------
# Installing


def install(
    records: Sequence[CondaRecord],
    cache_paths: Mapping[str, Path],
    prefix_staging: Path,
    *,
    target_prefix: str,
    platform: str,
    reporter: Reporter,
) -> None:
    """Install verified archives into ``prefix_staging`` as if it lived at ``target_prefix``.

    ``cache_paths`` maps sha256 to archive files the caller has verified. rattler installs
    whatever its package cache holds without checking, so it gets a fresh, private cache that
    only these archives (reached through file:// links) ever enter, and nothing is downloaded.
    The tree is then normalised: no CACHEDIR.TAG, no machine paths in conda-meta, an empty
    history, modes 0644/0755.
    """
    if problem := path_problem(target_prefix):
        raise CondaError(
            f"the deploy prefix {target_prefix!r} {problem}",
            where="environment.prefix",
            hint="write an absolute path such as /opt/mlenv/detector",
        )
    missing = [r.filename for r in records if r.sha256 is None or r.sha256 not in cache_paths]
    if missing:
        raise CondaError(
            f"not in the artifact cache: {', '.join(sorted(missing))}",
            where="mlenv.lock",
            hint="run mlenv fetch first",
        )
    if prefix_staging.exists() and any(prefix_staging.iterdir()):
        raise CondaError(
            f"the staging prefix {prefix_staging} is not empty",
            where=str(prefix_staging),
            hint="conda packages go first, into an empty directory",
        )
    from mlenv.install.wheels import (
        check_conda_packages,  # heavy (installer); only installs need it
    )

    check_conda_packages([(r.filename, Path(cache_paths[str(r.sha256)])) for r in records])
    prefix_staging.mkdir(parents=True, exist_ok=True)
    # Beside the staging prefix, so rattler hardlinks instead of copying; removed afterwards.
    with tempfile.TemporaryDirectory(prefix=".mlenv-conda-", dir=prefix_staging.parent) as work:
        archives = Path(work) / "archives"
        archives.mkdir()
        entries = []
        for record in records:
            link = archives / record.filename
            link.symlink_to(Path(cache_paths[str(record.sha256)]).resolve())
            entries.append({**asdict(record), "url": link.as_uri()})
        request = {
            "records": entries,
            "prefix": str(prefix_staging.resolve()),
            "target_prefix": target_prefix,
            "platform": platform,
            "cache_dir": str(Path(work) / "pkgs"),
        }
        with reporter.task("installing conda packages", len(records), "packages") as task:
            try:
                _run_child("install", request)
            except _ChildFailure as failure:
                raise CondaError(
                    f"installing the conda packages failed: {failure.message}",
                    where=str(prefix_staging),
                    hint="re-run mlenv fetch to re-verify the cached archives",
                ) from None
            task.advance(len(records))
    _normalise(prefix_staging, records)


def _normalise(prefix: Path, records: Sequence[CondaRecord]) -> None:
    """Remove what rattler writes about this machine and this run."""
    (prefix / "CACHEDIR.TAG").unlink(missing_ok=True)
    meta = prefix / "conda-meta"
    (meta / "history").write_bytes(b"")
    by_stem = {record.stem: record for record in records}
    for path in sorted(meta.glob("*.json")):
        data = json.loads(path.read_bytes())
        record = by_stem[path.name.removesuffix(".json")]
        for key in _MACHINE_KEYS:
            data.pop(key, None)
        data["url"] = record.url
        data["channel"] = record.channel
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    prefix.chmod(0o755)
    for root, dirs, files in os.walk(prefix):
        for name in dirs + files:
            path = Path(root) / name
            if path.is_symlink():
                continue
            executable = path.is_dir() or path.stat().st_mode & 0o111
            path.chmod(0o755 if executable else 0o644)


# ---------------------------------------------------------------------------------------------
# Exports


def _dependency_map(depends: Iterable[str]) -> dict[str, str]:
    """conda-lock's shape: name -> version spec ('' for any), build parts dropped."""
    found: dict[str, list[str]] = {}
    for spec in depends:
        name, _, rest = spec.strip().partition(" ")
        version = rest.strip().split(" ", 1)[0]
        found.setdefault(name, [])
        if version and version not in found[name]:
            found[name].append(version)
    return {name: ",".join(versions) for name, versions in sorted(found.items())}


_NO_ENV_VARS = "    used_env_vars: []"


def conda_lock_yml(
    records_by_platform: Mapping[str, Sequence[CondaRecord]],
    channels: Sequence[str],
    manifest_hash: str,
) -> str:
    """The conda part of the lock as a conda-lock v1 file, for tools that read those.

    Scalars are JSON strings (valid YAML), so no YAML library is needed and bytes are stable.
    """
    q = json.dumps
    platforms = sorted(records_by_platform)
    lines = [
        "# Generated by mlenv from mlenv.lock; do not edit.",
        "version: 1",
        "metadata:",
        "  content_hash:",
        *(f"    {q(platform)}: {q(manifest_hash)}" for platform in platforms),
        "  channels:",
        *(line for channel in channels for line in (f"  - url: {q(channel)}", _NO_ENV_VARS)),
        "  platforms:",
        *(f"  - {q(platform)}" for platform in platforms),
        "  sources:",
        f"  - {q('mlenv.toml')}",
        "package:" if any(records_by_platform.values()) else "package: []",
    ]
    for platform in platforms:
        for record in sorted(records_by_platform[platform], key=lambda r: r.name):
            dependencies = _dependency_map(record.depends)
            lines += [
                f"- name: {q(record.name)}",
                f"  version: {q(record.version)}",
                f"  manager: {q('conda')}",
                f"  platform: {q(platform)}",
                "  dependencies:" if dependencies else "  dependencies: {}",
                *(f"    {q(name)}: {q(spec)}" for name, spec in dependencies.items()),
                f"  url: {q(record.url)}",
                "  hash:",
                f"    md5: {q(record.md5)}",
                *([f"    sha256: {q(record.sha256)}"] if record.sha256 else []),
                f"  category: {q('main')}",
                "  optional: false",
            ]
    return "\n".join(lines) + "\n"


def explicit_spec(records: Sequence[CondaRecord], platform: str) -> str:
    """An ``@EXPLICIT`` file: ``url#sha256`` lines, dependencies before their dependents.

    sha256, not md5: it is the hash the lock verifies and md5 is broken. conda >= 24.9 and
    rattler (pixi) read it; older conda reads only md5 and should use conda-lock.yml.
    """
    lines = [
        "# Generated by mlenv from mlenv.lock; do not edit.",
        f"# platform: {platform}",
        "@EXPLICIT",
    ]
    for record in _dependency_order(records):
        if record.sha256 is None:
            raise CondaError(
                f"{record.filename} has no sha256 in the lock",
                where="mlenv.lock",
                hint="re-run mlenv lock",
            )
        lines.append(f"{record.url}#{record.sha256}")
    return "\n".join(lines) + "\n"


def _dependency_order(records: Sequence[CondaRecord]) -> list[CondaRecord]:
    """Topological order, ties by name; a cycle is broken at its first name."""
    by_name = {record.name: record for record in records}
    needs = {
        record.name: {dep for dep in _dependency_map(record.depends) if dep in by_name}
        - {record.name}
        for record in records
    }
    users: dict[str, set[str]] = {name: set() for name in by_name}
    for name, deps in needs.items():
        for dep in deps:
            users[dep].add(name)
    ready = sorted(name for name, deps in needs.items() if not deps)
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(by_name):
        if not ready:
            ready = [min(set(by_name) - placed)]
        name = heapq.heappop(ready)
        if name in placed:
            continue
        order.append(name)
        placed.add(name)
        for user in users[name]:
            needs[user].discard(name)
            if not needs[user] and user not in placed:
                heapq.heappush(ready, user)
    return [by_name[name] for name in order]


# ---------------------------------------------------------------------------------------------
# The child process


class _ChildFailure(Exception):
    """An error the child reported: ``kind`` is rattler's exception name or one of ours."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); from mlenv.conda.solve import _serve; _serve()"
)


def _run_child(operation: str, arguments: Mapping[str, Any]) -> Any:
    """Run one rattler operation in a fresh interpreter and return its JSON reply."""
    root = str(Path(__file__).resolve().parents[2])
    request = json.dumps({"operation": operation, "arguments": arguments}).encode()
    done = subprocess.run(
        [sys.executable, "-P", "-c", _BOOT, root], input=request, capture_output=True, check=False
    )
    try:
        reply = json.loads(done.stdout)
    except ValueError:
        stderr = done.stderr.decode(errors="replace").strip()[-2000:]
        raise CondaWorkerError(
            f"the py-rattler child for {operation!r} ended with status {done.returncode} "
            f"and no reply:\n{stderr}"
        ) from None
    if "error" in reply:
        error = reply["error"]
        if error["kind"] == "ModuleNotFoundError":
            raise CondaError(
                f"py-rattler is not installed: {error['message']}",
                where="conda",
                hint="pip install py-rattler==0.28.0",
            )
        if error["kind"] not in _KNOWN_KINDS:
            raise CondaWorkerError(f"the py-rattler child failed:\n{error['trace']}")
        raise _ChildFailure(error["kind"], error["message"])
    return reply["result"]


_KNOWN_KINDS = frozenset(
    {"spec", "SolverError", "GatewayError", "FetchRepoDataError", "InvalidChannelError"}
    | {"InstallerError", "TransactionError", "LinkError", "ExtractError", "IoError"}
)


def _serve() -> None:
    """The child's main: one request in, one reply out, then leave without finalising."""
    import asyncio  # the child's alone: the parent never runs an event loop

    reply_stream = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything else written to stdout must not corrupt the reply
    try:
        request = json.loads(sys.stdin.buffer.read())
        operation = _OPERATIONS[request["operation"]]
        reply: dict[str, Any] = {"result": asyncio.run(operation(request["arguments"]))}
    except _ChildFailure as failure:
        reply = {"error": {"kind": failure.kind, "message": failure.message}}
    except BaseException as exc:  # rattler's panics are BaseExceptions; all must travel back
        reply = {
            "error": {
                "kind": type(exc).__name__,
                "message": str(exc),
                "trace": traceback.format_exc(),
            }
        }
    reply_stream.write(json.dumps(reply))
    reply_stream.flush()
    sys.stderr.flush()
    os._exit(0)


async def _child_solve(arguments: Mapping[str, Any]) -> list[dict[str, Any]]:
    import rattler  # only ever imported in the child process

    specs = []
    for text in arguments["specs"]:
        try:
            specs.append(rattler.MatchSpec(text, strict=True))
        except Exception as exc:  # rattler raises one exception type per parse problem
            raise _ChildFailure("spec", f"{text!r} is not a valid conda MatchSpec: {exc}") from exc
    platforms = [arguments["platform"], "noarch"]
    gateway = rattler.Gateway()
    # Only records the channels still publish are preferred; rattler would otherwise keep a
    # locked record that was removed from its channel.
    locked = []
    if arguments["locked"]:
        wanted = {digest for _, digest in arguments["locked"]}
        names = sorted({name for name, _ in arguments["locked"]})
        published = await gateway.query(
            arguments["channels"], platforms, names, recursive=False, channel_relations="disabled"
        )
        locked = [
            record
            for records in published
            for record in records
            if {(record.sha256 or b"").hex(), (record.md5 or b"").hex()} & wanted
        ]
    solved = await rattler.solve(
        arguments["channels"],
        specs,
        gateway=gateway,
        platforms=platforms,
        locked_packages=locked,
        virtual_packages=[
            rattler.GenericVirtualPackage(
                rattler.PackageName(item["name"]),
                rattler.Version(item["version"]),
                rattler.BuildString(item["build"]),
            )
            for item in arguments["virtual"]
        ],
        constraints=arguments["constraints"],
        channel_relations="disabled",
    )
    return [json.loads(record.to_json()) for record in solved]


async def _child_install(arguments: Mapping[str, Any]) -> None:
    import rattler  # only ever imported in the child process

    records = []
    for item in arguments["records"]:
        package = rattler.PackageRecord(
            name=item["name"],
            version=item["version"],
            build=rattler.BuildString(item["build"]),
            build_number=item["build_number"],
            subdir=item["subdir"],
            noarch=item["noarch"],
            depends=list(item["depends"]),
            constrains=list(item["constrains"]),
            sha256=bytes.fromhex(item["sha256"]),
            md5=bytes.fromhex(item["md5"]),
            size=item["size"],
        )
        records.append(
            rattler.RepoDataRecord(package, item["filename"], item["url"], item["channel"])
        )
    await rattler.install(
        records,
        target_prefix=arguments["prefix"],
        cache_dir=Path(arguments["cache_dir"]),
        installed_packages=[],
        platform=rattler.Subdir(arguments["platform"]),
        execute_link_scripts=False,
        show_progress=False,
        alternative_target_prefix=arguments["target_prefix"],
    )


_OPERATIONS: dict[str, Callable[[Mapping[str, Any]], Coroutine[Any, Any, Any]]] = {
    "solve": _child_solve,
    "install": _child_install,
}
