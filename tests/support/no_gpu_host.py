"""A node whose NVIDIA kernel module is loaded and whose nvidia-smi fails, judged by
``verify --host`` (attacks 205 and 206)."""

from __future__ import annotations

import pytest

from mlenv import host
from mlenv.commands.verify import by_host
from mlenv.host_system import Said
from mlenv.judge import verify_lock
from tests.support.fake_host import FakeHost, with_glibc
from tests.support.locks import HASH, codes, locked, make_lock

# #789's module, as /proc/driver/nvidia/version prints it (NVIDIA/open-gpu-kernel-modules
# kernel-open/nvidia/nv-procfs.c, its builder and date elided)
PROC = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.144.03  Release Build  "
    "(dvs-builder@U16-I3-D08-1-2)  Mon Dec 30 17:26:13 UTC 2024\n"
    "GCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04)\n"
)
NO_GPU = ("error", "host-no-gpu", "")


def node(said: str, status: int, *, proc: str = PROC) -> FakeHost:
    """An x86_64 node whose module file reads ``proc`` and whose nvidia-smi (query and banner)
    exits ``status`` printing ``said``."""
    machine = with_glibc({host.PROC_DRIVER_VERSION: proc} if proc else {})
    for argv in (host.SMI_QUERY_ARGV, host.SMI_BANNER_ARGV):
        machine.failures[argv] = Said(status, said, "")
    return machine


def judged_on(
    machine: FakeHost, monkeypatch: pytest.MonkeyPatch, *, cuda: str | None = "12.4"
) -> tuple[list[tuple[str, str, str]], str]:
    """verify --host's findings for a lock (a CUDA 12.4 torch, floor 550.54.14, or a CPU-only
    one) on ``machine``, and the messages of its host-no-gpu findings."""
    monkeypatch.setattr(host, "RealHost", lambda: machine)
    judged, _ = by_host()
    assert judged is not None
    if cuda is None:
        lock = make_lock([locked("numpy", "2.1.0")], None, None)
    else:
        lock = make_lock([locked("torch", "2.6.0+cu124", cuda=cuda)], cuda, "550.54.14")
    verdict = verify_lock(lock, HASH, judged)
    said = [f"{f.message} | {f.hint}" for f in verdict.findings if f.code == "host-no-gpu"]
    return codes(verdict), "".join(said)
