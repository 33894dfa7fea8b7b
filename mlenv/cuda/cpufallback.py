"""No silent CPU fallback: a CUDA target never quietly receives a CPU-only build.

When every CUDA variant of a project is refused (by the CUDA rules, the tags or Python), the
resolver may still find a CPU-only build of it: a ``+cpu`` (or other non-CUDA) local version,
or a plain wheel whose Requires-Dist names no CUDA library. For a CUDA target that is an
error listing each refused variant and the rule that refused it, unless the manifest opts the
package in with ``[cuda] cpu-ok``. A ``+cpu`` build pinned on purpose needs the opt-in too: a
pin copied from a CPU laptop's ``pip freeze`` looks exactly the same, and the lock must record
which CPU builds were wanted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from packaging.utils import NormalizedName
from packaging.version import Version

from mlenv.cuda import packages as cudapkg
from mlenv.cuda.matrix import known_cuda_versions
from mlenv.cuda.rules import PackageNeed
from mlenv.cuda.tags import extract, is_cpu_variant
from mlenv.cuda.versions import CudaError, CudaVersion
from mlenv.errors import Problem, ProblemsError
from mlenv.index import Index, IndexFile
from mlenv.platforms import PLATFORMS
from mlenv.resolver.model import Pin, Refusal, Resolution
from mlenv.resolver.refusals import best_refusal, yank_reason

SHOWN = 10
NOT_CHOSEN = (
    "a CUDA build the target can run; a newer CPU-only release won or the requirements "
    "exclude it (pin a CUDA release to take it)"
)


class CpuFallbackError(ProblemsError):
    """A CUDA target would receive a CPU-only build that the manifest did not allow."""


@dataclass(frozen=True)
class Fallback:
    """One pinned CPU-only build, the CUDA variants refused before it, and the verdict."""

    platform: str
    pin: Pin
    refused: tuple[Refusal, ...]  # each CUDA variant: its best-fitting file and why not it
    allowed: bool
    cuda_on: str = ""  # the machine its own Requires-Dist is CUDA on (``machine_gated``)


def is_cuda_variant(file: IndexFile) -> bool:
    """A file of a CPU-pinned project whose version says CUDA (an unreadable tag counts too).

    The project's name carries no CUDA signal (the pin would need CUDA otherwise), so only a
    version can: a local label (``+cu124``) or a post segment (paddle's ``.post120``). Files
    with neither are skipped before the full reading, which costs ~50 µs a file.
    """
    if file.version.local is None and file.version.post is None:
        return False
    try:
        return extract(file.name, str(file.version), file.filename) is not None
    except CudaError:
        return True


def machine_gated(
    index: Index, resolution: Resolution, needs: Mapping[str, PackageNeed]
) -> dict[str, str]:
    """The pins of no CUDA need here whose own Requires-Dist is CUDA on another Linux machine
    (by file URL, that machine): PyPI's torch 2.5.1 aarch64 wheel carries the x86_64 wheel's
    ``nvidia-*-cu12==...; platform_machine == "x86_64"`` lines and is a CPU-only build, which
    a GH200 node would receive silently. Only pins that already read as no CUDA build are
    read again, so a fleet without such wheels pays nothing more; a pure wheel is not one (its
    x86_64-only CUDA lines just do not apply here: there is no other build of it to lock)."""
    found: dict[str, str] = {}
    here = resolution.target
    for pin in resolution.pins:
        if pin.file.url in needs or pin.file.filename.endswith("-any.whl"):
            continue  # a pure wheel is one file on every machine: no other build to lock
        requires = index.metadata(pin.file).requires_dist
        if not requires:
            continue
        for platform in PLATFORMS:
            if platform.machine == here.machine:
                continue
            markers = {**here.markers, "platform_machine": platform.machine}
            try:
                file = pin.file  # only the markers differ from the reading of ``needs``
                need = extract(
                    pin.name, str(pin.version), file.filename, requires, file.index_url, markers
                )
            except CudaError:  # unreadable there: judged where it is locked, not here
                continue
            if need is not None:
                found[pin.file.url] = platform.machine
                break
    return found


def find_fallbacks(
    resolution: Resolution,
    needs: Mapping[str, PackageNeed],
    cpu_ok: Collection[NormalizedName],
    unread: Collection[str] = (),
    gated: Mapping[str, str] | None = None,
) -> list[Fallback]:
    """Every pin that is a CPU-only build of a project that has CUDA builds.

    A pin is CPU-only when nothing (tags, name, Requires-Dist: ``needs`` by file URL) says
    CUDA and it is no GPU package whose CUDA cannot be read (``unread`` by file URL: vllm
    0.11.2 from PyPI, which the ``cuda-undetermined`` rule judges, or ``unverified`` accepts).
    It is a fallback when its local version names another build (``+cpu``, ``+rocm6.2``),
    or when the indexes hold a CUDA variant of the project: refused (by the
    CUDA rules, the tags or Python), or offered but not chosen (an older release, passed over
    for a newer CPU-only one or excluded by the requirements), or when its own Requires-Dist
    names CUDA libraries on another machine only (``gated``, from ``machine_gated``).
    """
    machines = gated or {}
    found = []
    for pin in resolution.pins:
        if pin.file.url in needs or pin.file.url in unread:
            continue
        variants: dict[Version, list[Refusal]] = defaultdict(list)
        for refusal in resolution.refused.get(pin.name, ()):
            if is_cuda_variant(refusal.file):
                variants[refusal.file.version].append(refusal)
        for file in resolution.offered.get(pin.name, ()):
            if file != pin.file and file.version not in variants and is_cuda_variant(file):
                variants[file.version].append(Refusal(file, yank_reason(file) or NOT_CHOSEN))
        cuda_on = machines.get(pin.file.url, "")
        if not variants and not cuda_on and not is_cpu_variant(pin.name, str(pin.version)):
            continue
        best = [best_refusal(files, resolution.target) for files in variants.values()]
        public = Version(pin.version.public)
        best.sort(key=lambda r: r.file.version, reverse=True)  # newest first,
        best.sort(key=lambda r: Version(r.file.version.public) != public)  # same release first
        platform = resolution.target.platform
        found.append(Fallback(platform, pin, tuple(best), pin.name in cpu_ok, cuda_on))
    return found


def check_fallbacks(fallbacks: Sequence[Fallback], cuda: CudaVersion) -> None:
    """Raise for every fallback the manifest did not allow, all at once."""
    problems = [_problem(f, cuda) for f in fallbacks if not f.allowed]
    if problems:
        raise CpuFallbackError(
            f"the CUDA {cuda} target would receive {len(problems)} CPU-only build(s)", problems
        )


def describe(fallback: Fallback, cuda: CudaVersion) -> str:
    """What was taken instead of a CUDA build, and each CUDA variant with why not it."""
    pin = fallback.pin
    kind = f"+{pin.version.local} build" if pin.version.local else "build without CUDA"
    said = f"{pin.name} {pin.version} ({pin.file.filename})"
    lines = [f"{said} is a CPU-only {kind} for {fallback.platform}, but the target is CUDA {cuda}"]
    named = _named_index(fallback)
    if named is not None:
        lines[0] = (
            f"{said} names no CUDA (no local version tag, no CUDA library in its Requires-Dist), "
            f"so mlenv cannot tell it from a CPU-only build for {fallback.platform}, and the "
            f"target is CUDA {cuda}; it came from {pin.file.index_url}, the index mlenv names "
            f"for CUDA {named} builds of {pin.name}, whose builds may carry no tag (PyTorch's "
            "aarch64 torch 2.4 and 2.5 carry none)"
        )
    if fallback.cuda_on:
        lines.append(
            f"  its Requires-Dist names CUDA libraries on {fallback.cuda_on} only "
            "(platform_machine)"
            + ("" if named else ": this file has no CUDA build on this machine")
        )
    elif not fallback.refused:
        lines.append("  the indexes hold no CUDA build of it: the requirements select this build")
    for refusal in fallback.refused[:SHOWN]:
        verb = "not chosen" if refusal.reason is NOT_CHOSEN else "refused"
        file = refusal.file
        lines.append(f"  {verb} {file.version} ({file.filename}): {refusal.reason}")
    if len(fallback.refused) > SHOWN:
        lines.append(f"  and {len(fallback.refused) - SHOWN} more CUDA variant(s)")
    return "\n".join(lines)


def _named_index(fallback: Fallback) -> CudaVersion | None:
    """The CUDA release whose builds of the pin's package the index it came from is the place
    for, by the family's place in gpu_packages.json (PyTorch's /whl/cu124), for an untagged
    pin: what the message says, never evidence of its build."""
    pin = fallback.pin
    if pin.version.local is not None:
        return None
    served = pin.file.index_url.rstrip("/")
    for release in known_cuda_versions():
        place = cudapkg.hint(pin.name, release)
        if place is not None and (cudapkg.place_index(place) or "").rstrip("/") == served:
            return release
    return None


def _problem(fallback: Fallback, cuda: CudaVersion) -> Problem:
    name = fallback.pin.name
    if (named := _named_index(fallback)) is not None:
        return Problem(
            name,
            describe(fallback, cuda),
            f'if it is the CUDA build you want, add "{name}" to [cuda] cpu-ok: mlenv then locks '
            "it as it is and checks neither its CUDA nor its GPU code (run a kernel on the "
            f"target to know); else lock a build of {name} whose version names its CUDA "
            f"(+cu{named.major}{named.minor}), from a release that has one",
        )
    return Problem(
        name,
        describe(fallback, cuda),
        f"lock a CUDA {cuda.major} build of {name} (an index or pin with one; see the refusals), "
        f'or add "{name}" to [cuda] cpu-ok to lock the CPU build on purpose',
    )
