"""Small GPU worlds for lock tests: an in-memory index of bitsandbytes 0.50.2 (read) and 0.51.0
(after the last wheels mlenv read) beside CUDA 12.8 and 13.0 torch builds, locked for a CUDA
12.8 fleet; and the x86_64 target and a fresh CUDA 12.8 policy for resolver tests."""

from __future__ import annotations

from collections.abc import Sequence

from mlenv.cuda.policy import CudaPolicy
from mlenv.cuda.rules import CudaTarget
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.index import MemoryIndex
from mlenv.lockfile import Lock
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.target import Target
from tests.support.wheels import build_wheel

X86 = Target("linux-64", "3.11", "2.28")
TAG = "cp311-cp311-manylinux_2_28_x86_64"


def cuda_128() -> CudaPolicy:
    """A CUDA 12.8 fleet's policy, fresh: a policy keeps what it judged."""
    return CudaPolicy(CudaTarget(CudaVersion(12, 8), DriverVersion.parse("570.26")))


MACHINES = ("x86_64", "aarch64")


def index(extra: Sequence[tuple[str, bytes]] = ()) -> MemoryIndex:
    wheels = [
        build_wheel(
            "bitsandbytes",
            version,
            tag=f"py3-none-manylinux_2_24_{machine}",
            requires_dist=["torch>=2.3,<4"],
        )
        for version in ("0.50.2", "0.51.0")
        for machine in MACHINES
    ]
    wheels += [
        build_wheel("torch", version, tag=f"cp311-cp311-manylinux_2_28_{machine}")
        for version in ("2.9.0+cu128", "2.10.0+cu130")
        for machine in MACHINES
    ]
    return MemoryIndex("memory://a", dict([*wheels, *extra]))


def lock(
    deps: str,
    *,
    unverified: str = "",
    platforms: str = '"linux-64"',
    extra: Sequence[tuple[str, bytes]] = (),
) -> tuple[Lock, str]:
    text = (
        f'[environment]\nname = "x"\npython = "3.11"\nplatforms = [{platforms}]\n'
        f'[cuda]\nversion = "12.8"\ndriver-floor = "570.26"\nunverified = [{unverified}]\n'
        f'[pypi]\nindex-url = "https://a.invalid/simple"\ndependencies = [{deps}]\n'
    )
    reporter = MemoryReporter()
    locked = lock_manifest(
        loads(text), Sources(index(extra), ("memory://a",), ()), reporter=reporter
    )
    return locked, "\n".join(reporter.messages("warning"))


def versions(locked: Lock) -> dict[str, str]:
    return {p.name: p.version for p in locked.platform("linux-64").packages}
