"""GPU architectures a framework's own CUDA builds leave out, below what the CUDA release
itself still supports (cuda.json ``framework_archs``): PyTorch's CUDA 12.8/12.9 wheels carry
no Maxwell or Pascal code although CUDA 12.x builds for them, so a fleet of P100s passed a
``+cu128`` torch and failed at its first kernel ("no kernel image is available"). The list
differs between releases (2.7 and 2.11 on also leave out Volta), so each row names the
releases it holds for; the first row naming the package's release decides. A row with a
``highest`` architecture and no PTX also leaves out every GPU of a newer major: NVIDIA runs a
cubin for X.y only on X.z (z >= y), and only PTX on a newer architecture, so PyTorch's CUDA 12.6
wheels (up to sm_90) have no code for a Blackwell GPU. A row with a ``machine`` holds for
that machine's builds only, a row without one for x86_64's: PyTorch's aarch64 (SBSA) CUDA
wheels carry nothing below sm_90 (2.6-2.8) or sm_80 (2.9 on), so a T4G (sm_75) on Graviton
passed an aarch64 ``+cu128`` torch built for 8.0;9.0;10.0;12.0."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from mlenv.cuda.matrix import table
from mlenv.cuda.versions import JETSON_ONLY_CCS, CudaVersion, arch_cc
from mlenv.platforms import PLATFORMS

if TYPE_CHECKING:
    from mlenv.cuda.rules import CudaTarget, PackageNeed, Severity


Said = tuple["Severity", str, str, str, str]  # severity, code, needs, message, hint


@dataclass(frozen=True)
class _Floor:
    """One ``framework_archs`` row of cuda.json."""

    packages: dict[str, SpecifierSet]  # package -> the releases the row holds for
    first: CudaVersion
    last: CudaVersion
    lowest: str
    built: str
    instead: str
    highest: str | None  # the newest architecture with code, when no PTX follows it
    newer: str  # the remedy for a GPU of a newer major than ``highest``
    machine: str  # the machine whose builds the row holds for
    also: tuple[tuple[str, str], ...]  # (lowest GPU, remedy): another release, for GPUs it carries


@functools.cache
def _floors() -> tuple[_Floor, ...]:
    return tuple(
        _Floor(
            {name: SpecifierSet(spec) for name, spec in row["packages"].items()},
            CudaVersion.parse(row["cuda_from"]),
            CudaVersion.parse(row["cuda_to"]),
            str(row["lowest"]),
            str(row["built"]),
            str(row["instead"]),
            str(row["highest"]) if "highest" in row else None,
            str(row.get("newer", "")),
            str(row.get("machine", "x86_64")),
            tuple((str(low), str(use)) for low, use in row.get("or_from", {}).items()),
        )
        for row in table("framework_archs")
    )


def unbuilt_archs(target: CudaTarget, item: PackageNeed) -> list[Said]:
    """(severity, code, needs, message, hint) for each target GPU architecture below the lowest
    one the package's build carries, or of a newer major than its newest without PTX; empty when
    it carries them all, mlenv knows no list for it, or the GPUs are another machine's (one
    host's: verify --host). A wheel tagged for several machines is judged on each of them. A
    Jetson's GPU that only a lower minor's code covers is a warning: NVIDIA's binary
    compatibility holds for desktop GPUs only, not Tegra, and PyTorch's aarch64 wheels are
    SBSA builds, not JetPack's. So is a fleet's GPU that the same release's build for another
    of the fleet's machines runs (``elsewhere``)."""
    machines = (m for m in item.machines if target.machine in ("", m))
    return [said for machine in machines for said in _unbuilt_on(target, item, machine)]


def _unbuilt_on(target: CudaTarget, item: PackageNeed, machine: str) -> list[Said]:
    """``unbuilt_archs`` by the list of the package's builds for ``machine``."""
    need = item.need
    said: list[Said] = []
    floor = _floor(item, machine)
    if floor is None:
        return said
    on = "" if floor.machine == "x86_64" else f"{floor.machine} "
    for arch in target.archs:
        if (gap := _gap(floor, arch)) is None:
            if _jetson_minor(machine, arch, floor.built):
                said.append(_jetson(item, arch, floor.built))
            continue
        needs, why, instead = gap
        message = (
            f"{item.name} {item.version} is built for CUDA {need.label}, and its {on}CUDA "
            f"{need.label} builds carry no code for {arch} (they are built for "
            f"{floor.built}{why}); the GPU fails at its first kernel"
        )
        if other := elsewhere(target, item, arch, machine):
            message += f" on {machine}: the fleet may run it on {other} only"
            hint = (
                f"keep {arch} on {other} nodes (`mlenv export --format k8s-affinity`), or drop "
                f"{arch} from the fleet"
            )
            said.append(("warning", "arch-not-built", needs, message, hint))
            continue
        hint = f"use {instead} of {item.name}, or drop {arch} from the fleet"
        if _tegra_only(item, arch):
            hint = f"{_JETPACK.format(item.name)}, or drop {arch} from the fleet"
        elif not why:  # below the lowest: the way out may be another machine's builds
            hint = _elsewhere(item, arch, machine) or hint
        said.append(("error", "arch-not-built", needs, message, hint))
    return said


def _gap(floor: _Floor, arch: str) -> tuple[str, str, str] | None:
    """(needs, why, instead) when the row's builds carry no code ``arch`` runs, else None."""
    if arch_cc(arch) < arch_cc(floor.lowest):
        return floor.lowest, "", _instead(floor, arch)
    if floor.highest is not None and arch_cc(arch) // 10 > arch_cc(floor.highest) // 10:
        return f"<= {floor.highest}", ", with no PTX a newer GPU could compile", floor.newer
    return None


def _instead(floor: _Floor, arch: str) -> str:
    """The row's remedy and each other release it names whose builds carry ``arch``: torch 2.8
    to 2.10 +cu128 put back a V100's sm_70, not a P100's sm_60."""
    uses = [use for low, use in floor.also if arch_cc(arch) >= arch_cc(low)]
    return ", or ".join([floor.instead, *uses])


def elsewhere(target: CudaTarget, item: PackageNeed, arch: str, machine: str) -> str:
    """The fleet's other machines whose build of the same release carries code for ``arch``
    (an x86_64 T4 beside aarch64 GH200s): ``[cuda] archs`` says which GPUs the fleet has, not
    on which machine, and verify --host, verify --nodes and the k8s affinity judge each GPU by
    its own machine's wheels; "" for one host, or when no other machine's build runs it."""
    if target.machine:
        return ""
    machines = dict.fromkeys(m for m in target.machines if m != machine)
    return ", ".join(m for m in machines if _carried(item, m, arch))


def _elsewhere(item: PackageNeed, arch: str, machine: str) -> str | None:
    """The way out when no row of the build's machine carries code for ``arch`` (a T4G's sm_75
    on aarch64): another row's ``instead`` would name a release of this machine that carries
    none either. Another machine is named only where the row judging its build of this release
    for this CUDA (``_floor``) carries it: x86_64's CUDA 12.8 torch has no sm_60, which its
    CUDA 12.6 builds carry."""
    rows = [floor for floor in _floors() if _listed(item) in floor.packages]
    if any(not _gap(floor, arch) for floor in rows if floor.machine == machine):
        return None
    lowest = min((f.lowest for f in rows if f.machine == machine), key=arch_cc)
    none = (
        f"none of {item.name}'s {machine} CUDA builds in mlenv's table carries code for "
        f"{arch} (they start at {lowest})"
    )
    others = [p for p in PLATFORMS if p.machine != machine and _carried(item, p.machine, arch)]
    if not others:
        return (
            f"{none}, nor does another machine's CUDA {item.need.label} build of {item.name} "
            f"{item.version} in it: drop {arch} from the fleet, or lock a [cuda] version whose "
            "builds carry it for its hosts' machine, from a manifest of its own"
        )
    hosts = " or ".join(f"{p.machine} ({p.name})" for p in others)
    return (
        f"{none}: run the {arch} GPUs on {hosts} hosts, whose builds carry it, or drop {arch} "
        "from the fleet; a fleet of both machines locks both platforms in [environment] "
        "platforms, and each GPU is then judged by its own machine's build (verify --nodes, "
        "the k8s affinity)"
    )


def _carried(item: PackageNeed, machine: str, arch: str) -> bool:
    """Whether ``machine``'s build of ``item``'s release for its CUDA holds code for ``arch``.
    A Jetson's GPU (Orin's sm_87) sits in aarch64 hosts only: x86_64's sm_80 code is no way
    out for it."""
    if arch_cc(arch) in JETSON_ONLY_CCS and machine != "aarch64":
        return False
    floor = _floor(item, machine)
    return floor is not None and _gap(floor, arch) is None


def _jetson_minor(machine: str, arch: str, built: str) -> bool:
    """A Jetson GPU an aarch64 build covers by a lower minor's code only (Thor's sm_110 in a
    CUDA 13.0 build is its own code, which runs)."""
    cc = arch_cc(arch)
    return machine == "aarch64" and cc in JETSON_ONLY_CCS and not _own(cc, built)


def _own(cc: int, built: str) -> bool:
    """Whether a row's ``built`` list names compute capability ``cc`` (x10) itself."""
    return f"{cc // 10}.{cc % 10}" in re.findall(r"[0-9]+\.[0-9]+", built)


def _tegra_only(item: PackageNeed, arch: str) -> bool:
    """A Jetson GPU no aarch64 build in the table carries its own code for: another release's
    build would cover it by a lower minor's code at best (Orin's sm_87 in a 2.9 build from
    sm_80), which ``_jetson`` does not judge, so the way out is a JetPack build."""
    cc = arch_cc(arch)
    rows = (f for f in _floors() if _listed(item) in f.packages and f.machine == "aarch64")
    return cc in JETSON_ONLY_CCS and not any(_own(cc, floor.built) for floor in rows)


_JETPACK = "on a Jetson use a JetPack build of {} (NVIDIA's Jetson wheels)"


def _jetson(item: PackageNeed, arch: str, built: str) -> Said:
    """A Jetson GPU (Tegra) against an SBSA build: not judged, as ``verify --host`` does not
    judge a Jetson's driver by NVIDIA's tables."""
    return (
        "warning",
        "arch-not-judged",
        f"code for {arch}",
        f"{item.name} {item.version} is an aarch64 (SBSA) build for {built}, and {arch} is a "
        "Jetson's GPU (Tegra), where NVIDIA's binary compatibility across minors does not "
        "hold; mlenv does not judge whether it runs there",
        f"{_JETPACK.format(item.name)}, and check a kernel on the device",
    )


def _listed(item: PackageNeed) -> str:
    """The name the table lists the package by: PyTorch's conda channel names torch
    ``pytorch``, and its builds carry the wheels' GPU code (``cuda.needs``)."""
    return "torch" if item.need.conda and item.name == "pytorch" else item.name


def _floor(item: PackageNeed, machine: str) -> _Floor | None:
    """The first row naming the package, its CUDA, its release (the local label ignored:
    +cu128 is the build, not the release; a pre-release read as the release it leads to:
    ``>=2.11`` holds no 2.11.0rc1, which is built as 2.11.0 is) and ``machine``; a release that
    cannot be parsed meets only a row holding every release."""
    try:
        release: Version | None = Version(Version(item.version).base_version)
    except InvalidVersion:
        release = None
    for floor in _floors():
        releases = floor.packages.get(_listed(item))
        if releases is None or floor.machine != machine:
            continue
        if not floor.first <= item.need.cuda <= floor.last:
            continue
        if release is None and str(releases):
            continue
        if release is None or releases.contains(release, prereleases=True):
            return floor
    return None
