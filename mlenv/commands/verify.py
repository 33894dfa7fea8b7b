"""The verify use case: gather what to judge (a driver, this host, a cluster's nodes, a built
output, a bundle, the cache) and judge it with the pure checks of ``judge``; the CLI renders
the verdicts and maps them to exit codes."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlenv import lockfile_fresh, lockfile_read
from mlenv.build_record import (
    BUILD_RECORD,
    MULTI_PLATFORM,
    BuildRecord,
    BuildRecordError,
    MultiPlatformRecord,
    layout_image,
    parse_record,
)
from mlenv.cache.artifacts import RECARRY, ArtifactCache
from mlenv.cache.bundle import BundleProblem, check_bundle
from mlenv.cache.files import open_plain
from mlenv.cache.held import measure
from mlenv.cache.lock_artifacts import artifacts_of, check_cache
from mlenv.commands.session import Session
from mlenv.cuda.rules import Finding
from mlenv.cuda.versions import DriverVersion
from mlenv.drift import drift_key, drift_message, lock_drift
from mlenv.errors import MlenvError, ProblemsError, UsageError
from mlenv.inputs import digest
from mlenv.judge import Judged, Verdict, compute_capability_arch, verify_lock
from mlenv.judge_outputs import verify_output, verify_platform_record
from mlenv.limits import LimitError, parse_record_json
from mlenv.lockfile import Lock
from mlenv.manifest import Manifest
from mlenv.oci.checked import checked_image
from mlenv.oci.model import OciError
from mlenv.outputs import read_record as read_plain_record
from mlenv.subjects import OUTPUT, OUTPUT_BESIDE_RECORD, expect
from mlenv.userfiles import input_kind, read_handle, read_input

if TYPE_CHECKING:
    from mlenv.host import HostFacts
    from mlenv.nodes import NodeVerdict


def by_driver(driver: str) -> Judged:
    """A driver given on the command line; an empty one (a failed nvidia-smi) is an error,
    not the floor."""
    return Judged(str(DriverVersion.parse(driver, where="--driver", trim=True)), "--driver")


def by_host() -> tuple[Judged | None, HostFacts]:
    """This machine's driver and GPU architectures, and the probes that found them (None
    when no driver was found: the caller cannot judge)."""
    from mlenv.host import RealHost, detect

    facts = detect(RealHost())
    if facts.driver is None:
        return None, facts
    archs = tuple(compute_capability_arch(g.compute_cap) for g in facts.gpus if g.compute_cap)
    unknown = sum(not g.compute_cap for g in facts.gpus)
    unchecked = "no probe listed the host's GPUs" if not facts.gpus else ""
    if unknown and facts.gpus:
        unchecked = f"{unknown} of the host's {len(facts.gpus)} GPU(s) report no compute capability"
    judged = Judged(
        facts.driver,
        facts.driver_source or "host",
        archs,
        unchecked,
        facts.cuda_driver_version or "",
        facts.windows_driver,
        facts.machine,
        facts.mismatch,
        facts.no_gpu or "",
        tuple(g.name for g in facts.gpus if g.name),
    )
    return judged, facts


def verify(
    manifest: Manifest, lock_: Lock, lock_path: Path, judged: Judged | None, output: Path | None
) -> Verdict:
    """The lock judged against its manifest, ``judged`` (the driver floor when None) and, with
    ``output``, that build output against its build.json and this lock."""
    made_from = lockfile_fresh.resolution_inputs(manifest)
    verdict = verify_lock(lock_, digest(made_from), judged)
    drift = lock_drift(lock_, made_from, str(lock_path.parent))
    if drift is not None:
        key, locked, wanted = drift
        stale = Finding.error(
            "lock-stale", "", f"{drift_key(key)} {wanted}", f"lock says {locked}",
            drift_message(drift), "run `mlenv lock` and commit the new lock",
        )  # fmt: skip
        verdict = dataclasses.replace(verdict, findings=(stale, *verdict.findings))
    if output is not None and not _is_lock(output, lock_path):
        verdict = with_output(verdict, output, lock_path)
        if not any(f.code.startswith("output-") for f in verdict.findings):  # the build's own
            found = _image_requirements(output, lock_, judged)
            verdict = dataclasses.replace(verdict, findings=(*verdict.findings, *found))
    return verdict


def _image_requirements(output: Path, lock_: Lock, judged: Judged | None) -> list[Finding]:
    """What the NVIDIA runtime reads from an image output (its NVIDIA_REQUIRE_*), judged on
    ``judged``'s driver or the lock's floor; nothing for an archive or an image without any."""
    from mlenv.cuda.requirement import runtime_cuda, runtime_requirements
    from mlenv.judge_outputs import image_requirement_findings
    from mlenv.oci.read import read_base

    target = lock_.target
    driver = judged.driver if judged is not None else target.driver_floor
    if driver is None or not (output.is_dir() or output.suffix == ".tar"):
        return []
    said = judged.cuda if judged is not None else ""
    record = parse_record(read_plain_record(output.parent, BUILD_RECORD), BUILD_RECORD)
    if not isinstance(record, BuildRecord):
        return []
    try:
        image = read_base(output, platform=record.platform, what="image")
    except OciError:
        return []  # not an OCI image (the conda-pack archive)
    runtime = image.config.get("config") or {}
    env = dict(item.partition("=")[::2] for item in runtime.get("Env") or [])
    values = runtime_requirements(env)
    if not values:
        return []
    return image_requirement_findings(values, driver, runtime_cuda(driver, said), said)


def _is_lock(output: Path, lock_path: Path) -> bool:
    """``mlenv verify mlenv.lock``: the lock is judged in any case, so naming it adds nothing;
    anything else that is not a build output (another project's lock, a manifest, a bundle,
    dist/ itself, a directory that is no layout) is refused saying what it is
    (``subjects.expect``)."""
    try:  # by a lock's name too: an output hard- or symlinked to the lock is still an output;
        # a lock's own file under another name (mlenv.lock -> locks/v3.lock) is the lock
        named = output.name == lock_path.name or output.suffix == ".lock"
        if named and output.samefile(lock_path):
            return True
    except OSError:
        pass
    accepted = OUTPUT_BESIDE_RECORD if (output.parent / BUILD_RECORD).exists() else OUTPUT
    expect(output, accepted, "a build output (dist/image.tar, dist/oci)", "verify")
    return False


def with_output(verdict: Verdict, output: Path, lock_path: Path) -> Verdict:
    """``verdict`` with the findings of a build output checked against the build.json beside
    it (and the multi-platform record above that, if any)."""
    record_path = output.parent / BUILD_RECORD
    try:
        raw = read_plain_record(record_path.parent, record_path.name)
        record = parse_record(raw, str(record_path))
    except (OSError, ValueError, BuildRecordError) as exc:
        raise UsageError(
            f"no readable build.json beside the output ({exc})",
            where=str(record_path),
            hint="verify a file inside the dist/ directory written by `mlenv build`",
        ) from None
    lock_sha = hashlib.sha256(read_input(lock_path, "lock")).hexdigest()
    if stat.S_ISDIR(os.lstat(output).st_mode):  # a symlink is read as a file, and refused
        digests, actual = _layout_digests(record), _layout_digest(output)
    else:
        digests = record.digests() if isinstance(record, BuildRecord) else {}
        actual = _output_sha256(output)
    judged = dataclasses.replace(verdict, output=str(output))
    if isinstance(actual, Finding):
        return dataclasses.replace(judged, findings=(actual, *verdict.findings))
    found = verify_output(output.name, actual, digests, record.lock_sha256, lock_sha)
    if isinstance(record, BuildRecord) and output.parent.name == record.platform:
        found += _multi_platform_findings(record_path, hashlib.sha256(raw).hexdigest())
    return dataclasses.replace(judged, findings=(*found, *verdict.findings))


def _layout_digests(record: BuildRecord | MultiPlatformRecord) -> dict[str, str]:
    """The image the record's layout holds (hex, as image.tar's sha256 is kept)."""
    named = layout_image(record)
    return {} if named is None else {named[0]: named[1].removeprefix("sha256:")}


def _layout_digest(output: Path) -> str | Finding:
    """The image an OCI layout output holds, every blob hashed on the way (what `skopeo copy
    oci:` or `mlenv push` would send), or the finding naming the blob that is not what its
    descriptor says."""
    try:
        return checked_image(output).removeprefix("sha256:")
    except OciError as error:
        return Finding.error(
            "output-corrupt", "", "every blob matching its digest", error.where or str(output),
            f"{error.where or output}: {error.message}",
            "the layout was changed after the build; rebuild or copy dist/ whole",
        )  # fmt: skip


def _output_sha256(output: Path) -> str:
    """The output's sha256, read only if it is a plain file (a FIFO would block, a device such
    as /dev/zero never ends): a build writes plain files, so anything else is refused."""
    try:
        with open_plain(output.parent, output.name) as handle:
            return measure(handle).sha256
    except OSError as exc:
        raise UsageError(
            f"cannot read the output: {exc.strerror or exc}",
            where=str(output),
            hint="verify a plain file inside the dist/ directory written by `mlenv build`",
        ) from None


def _parsed(data: bytes, path: Path) -> object:
    """A build.json's JSON, read as strictly as ``build_record.parse_record`` reads it (UTF-8,
    no key twice, no NaN, nesting bounded): a ValueError saying why otherwise."""
    try:
        return parse_record_json(data, where=str(path))
    except LimitError as error:
        raise ValueError(error.message) from None


def _multi_platform_findings(record_path: Path, own: str) -> list[Finding]:
    """A build in a directory named for its platform, as a multi-platform build lays out each
    platform (its build.json's sha256 ``own``, of the bytes verified), checked against the
    record above it (a damaged one records no platform: the build is not the one it names).

    Never a silently weaker check: a record above that exists but cannot be read is an error,
    and so is a missing one beside a joined ``oci/`` (a multi-platform dist/ that lost its
    record). Only a missing record with nothing of a multi-platform build around it is a
    single-platform build that was given its platform's name."""
    above = record_path.parent.parent / BUILD_RECORD
    platform = record_path.parent.name
    hint = (
        "verify the dist/ written by `mlenv build` as it was written: a platform's directory is "
        "checked against the multi-platform build.json above it"
    )
    try:
        data = _parsed(read_plain_record(above.parent, above.name), above)
    except FileNotFoundError:
        if not (above.parent / "oci").is_dir():
            return []  # a single-platform build named after its platform
        raise UsageError(
            f"the multi-platform build.json above {platform}/ is missing: the platform's "
            "build cannot be checked against the build it belongs to",
            where=str(above),
            hint=hint,
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"the build.json above {platform}/ cannot be read ({exc}): the platform's build "
            "cannot be checked against the build it belongs to",
            where=str(above),
            hint=hint,
        ) from None
    if not isinstance(data, dict) or data.get("kind") != MULTI_PLATFORM:
        return verify_platform_record(platform, own, None)
    try:
        entry = MultiPlatformRecord.from_dict(data, str(above)).platforms.get(platform)
    except BuildRecordError:
        entry = None
    return verify_platform_record(platform, own, None if entry is None else entry.sha256)


@dataclass(frozen=True)
class NodesVerdict:
    """Each selected node judged on its own, and the built output's findings."""

    verdicts: tuple[NodeVerdict, ...]
    nodes: int
    needed: str | None
    built: Verdict


def verify_nodes(
    manifest: Manifest,
    lock_: Lock,
    lock_path: Path,
    nodes_text: str,
    where: str,
    selector: str,
    output: Path | None,
) -> NodesVerdict:
    """Every node of a cluster (``kubectl get nodes -o json``) that ``selector`` picks,
    judged against the lock by its GPU Feature Discovery labels."""
    from mlenv.nodes import judge_nodes, read_nodes
    from mlenv.selector import parse

    chosen = parse(selector)
    lockfile_fresh.check_fresh(lock_, manifest, str(lock_path), str(lock_path.parent))
    nodes = read_nodes(nodes_text, where=where)
    built = Verdict((), None, None)
    if output is not None:
        built = with_output(built, output, lock_path)
    archs = manifest.cuda.archs if manifest.cuda else ()
    verdicts = judge_nodes(lock_, archs, nodes, chosen)
    needed = verify_lock(lock_, lockfile_fresh.inputs_hash(manifest), None).requires_driver
    return NodesVerdict(verdicts, len(nodes), needed, built)


@dataclass(frozen=True)
class BundleVerdict:
    """A bundle judged by what it holds: its lock, that lock's sha256 (which tells the bundle
    of one lock from another's, after a re-fetch or one cut short), every problem."""

    lock: Lock
    lock_sha256: str
    problems: tuple[BundleProblem, ...]

    def hint(self) -> str:
        """The fix for its problems: a damaged carry is carried again; an extra entry (a file
        added on the way, two bundles copied into one directory) removed."""
        kinds = {problem.kind for problem in self.problems}
        extra = (
            "remove each EXTRA entry (bundle.json does not list it: a file added on the way, or "
            "two bundles copied into one directory), or copy the bundle alone into an empty one"
        )
        damaged = [RECARRY] if kinds - {"extra"} else []
        return "; ".join(damaged + ([extra] if "extra" in kinds else []))


def verify_bundle(bundle: Path) -> BundleVerdict:
    """The bundle's lock and every problem of the bundle, judged by what it holds."""
    lock_path = bundle / "mlenv.lock"
    try:
        input_kind(bundle, "bundle", expected="a bundle directory", files=False)
        with open_plain(bundle, "mlenv.lock") as handle:  # a symlink is never followed
            raw = read_handle(handle, lock_path, "bundle's lock")
        lock_ = lockfile_read.loads(raw.decode("utf-8"), str(lock_path))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"not a bundle: cannot read its lock ({exc})",
            where=str(bundle),
            hint="point --bundle at a directory written by `mlenv fetch --bundle`",
        ) from None
    manifest = _read_manifest(bundle)
    # The lock and manifest judged are the bytes hashed: a second read of either could be
    # another file, swapped in between (attack 166).
    read = {"mlenv.lock": raw, **({"mlenv.toml": manifest} if isinstance(manifest, bytes) else {})}
    problems = check_bundle(bundle, lock_, read)
    if not problems:
        problems = _manifest_problems(bundle, lock_, str(lock_path), manifest)
    if not problems:  # a bundle is laid out as a cache: its wheels hold the lock to them
        from mlenv.cache.locked_metadata import check_locked_metadata

        check_locked_metadata(lock_, ArtifactCache(bundle))
    return BundleVerdict(lock_, hashlib.sha256(raw).hexdigest(), tuple(problems))


def _read_manifest(bundle: Path) -> bytes | BundleProblem:
    """The bundle's manifest bytes, read once without following a symlink, or why not."""
    try:
        with open_plain(bundle, "mlenv.toml") as handle:
            return read_handle(handle, bundle / "mlenv.toml", "bundle's manifest")
    except FileNotFoundError:
        return BundleProblem("missing", "mlenv.toml", "the bundle has no manifest")
    except OSError as exc:
        return BundleProblem("not-a-file", "mlenv.toml", f"cannot be read: {exc}")


def _manifest_problems(
    bundle: Path, lock_: Lock, lock_where: str, raw: bytes | BundleProblem
) -> list[BundleProblem]:
    """The bundle's manifest judged against its lock, as the air-gapped `build` and `lock
    --check` in it will judge it: bundle.json vouches only for its bytes, and anyone who can
    change a bundle can rewrite bundle.json, so a manifest that no longer matches the lock
    (or is missing, or unreadable) is a problem of the bundle, not a complete bundle."""
    from mlenv.manifest_read import loads as load_manifest

    if isinstance(raw, BundleProblem):
        return [raw]
    try:
        manifest = load_manifest(raw.decode("utf-8"), str(bundle / "mlenv.toml"))
        lockfile_fresh.check_fresh(lock_, manifest, lock_where, str(bundle))
    except UnicodeDecodeError as exc:
        return [BundleProblem("manifest", "mlenv.toml", f"not valid UTF-8 (byte {exc.start})")]
    except MlenvError as error:  # invalid, or stale against the lock
        detail = "; ".join(p.message for p in error.problems) or error.message
        return [BundleProblem("manifest", "mlenv.toml", f"{error.message}: {detail}"
                              if detail != error.message else detail)]  # fmt: skip
    return []


def verify_cache(session: Session, lock_: Lock) -> int:
    """How many artifacts of the lock the cache holds, every one re-hashed; all missing or
    corrupted ones raised at once; then the lock held to its wheels' METADATA, as at fetch."""
    from mlenv.cache.locked_metadata import check_locked_metadata  # loads the index reader

    artifacts = artifacts_of(lock_)
    cache = session.artifact_cache()
    problems = check_cache(cache, artifacts)
    if problems:
        raise ProblemsError(
            f"{len(problems)} of {len(artifacts)} artifact(s) in {session.cache_root} "
            "are missing or corrupted",
            problems,
        )
    check_locked_metadata(lock_, cache)
    return len(artifacts)
