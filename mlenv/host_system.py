"""How ``mlenv.host`` asks the machine: the ``HostSystem`` interface that tests replace with an
in-memory fake, and ``RealHost``, the only part that touches the machine."""

from __future__ import annotations

import contextlib
import importlib
import os
import selectors
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlenv.host_text import Gpu

# What a probe keeps of a tool's output: real nvidia-smi and ldconfig -p output is a few KiB.
MAX_PROBE_OUTPUT = 64 * 1024
_KEPT_BYTES = 4 * MAX_PROBE_OUTPUT  # as many characters of UTF-8 text at most
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Said:
    """A finished run: its exit status and what it printed (each stream at most
    ``MAX_PROBE_OUTPUT`` characters), kept on failure too, since a failing nvidia-smi says why."""

    status: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class NvmlSnapshot:
    """Raw NVML answers, gathered in one place so ``detect`` never imports pynvml itself."""

    driver: str | None
    cuda_version: int | None
    gpus: tuple[Gpu, ...]


class HostSystem(Protocol):
    """The machine as ``detect`` sees it; every method returns None instead of raising."""

    @property
    def env(self) -> Mapping[str, str]: ...

    def read_text(self, path: str) -> str | None: ...

    def exists(self, path: str) -> bool: ...

    def run(self, argv: Sequence[str], timeout: float) -> str | None: ...

    def run_status(self, argv: Sequence[str], timeout: float) -> Said | None: ...

    def resolve_link(self, path: str) -> str | None: ...

    def confstr(self, name: str) -> str | None: ...

    def nvml(self) -> NvmlSnapshot | None: ...


class RealHost:
    """The running machine; failures of any kind become None so one broken probe is not fatal."""

    @property
    def env(self) -> Mapping[str, str]:
        return os.environ

    def read_text(self, path: str) -> str | None:
        try:
            return Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def exists(self, path: str) -> bool:
        return Path(path).exists()

    def run(self, argv: Sequence[str], timeout: float) -> str | None:
        """Stdout of a successful run."""
        said = self.run_status(argv, timeout)
        return said.stdout if said is not None and said.status == 0 else None

    def run_status(self, argv: Sequence[str], timeout: float) -> Said | None:
        """Any finished run; LC_ALL=C because the parsers expect untranslated text."""
        try:
            child = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, "LC_ALL": "C"},
            )
        except (OSError, subprocess.SubprocessError):
            return None
        deadline = time.monotonic() + timeout
        with child:
            try:
                out, err = _bounded_output(child, deadline)
                status = child.wait(max(0.0, deadline - time.monotonic()))
            except (OSError, subprocess.TimeoutExpired):
                child.kill()
                return None
        return Said(status, _text(out), _text(err))

    def resolve_link(self, path: str) -> str | None:
        """The file a chain of links ends at, as the loader opens it (Debian's libcuda.so.1
        passes through /etc/alternatives); the path itself for a plain file, None if absent
        or a loop (Python before 3.13 raises RuntimeError for one, not OSError)."""
        try:
            return str(Path(path).resolve(strict=True))
        except (OSError, ValueError, RuntimeError):
            return None

    def confstr(self, name: str) -> str | None:
        try:
            return os.confstr(name)
        except (AttributeError, ValueError, OSError):
            return None

    def nvml(self) -> NvmlSnapshot | None:
        """Query NVML when nvidia-ml-py happens to be installed; it is never a dependency."""
        try:
            pynvml = importlib.import_module("pynvml")
            pynvml.nvmlInit()
        except Exception:
            return None
        try:
            driver = _decode(pynvml.nvmlSystemGetDriverVersion())
            cuda_version = int(pynvml.nvmlSystemGetCudaDriverVersion())
            gpus = []
            for index in range(int(pynvml.nvmlDeviceGetCount())):
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
                name = _decode(pynvml.nvmlDeviceGetName(handle))
                gpus.append(Gpu(name, f"{int(major)}.{int(minor)}", driver))
            return NvmlSnapshot(driver, cuda_version, tuple(gpus))
        except Exception:
            return None
        finally:
            with contextlib.suppress(Exception):
                pynvml.nvmlShutdown()


def _bounded_output(child: subprocess.Popen[bytes], deadline: float) -> tuple[bytes, bytes]:
    """What ``child`` prints until it closes both streams, each kept to ``_KEPT_BYTES`` while
    it runs: the rest is read and dropped, so a tool printing without end neither fills memory
    nor blocks on a full pipe (its exit status is kept). Raises TimeoutExpired at ``deadline``."""
    pipes = [stream.fileno() for stream in (child.stdout, child.stderr) if stream is not None]
    kept = {fd: bytearray() for fd in pipes}  # stdout's, then stderr's
    with selectors.DefaultSelector() as selector:
        for fd in pipes:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(child.args, 0)
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    selector.unregister(key.fd)
                held = kept[key.fd]
                held += chunk[: _KEPT_BYTES - len(held)]
    out, err = kept.values()
    return bytes(out), bytes(err)


def _text(output: bytes) -> str:
    return output.decode("utf-8", "replace")[:MAX_PROBE_OUTPUT]


def _decode(value: object) -> str:
    """Older nvidia-ml-py releases return bytes where newer ones return str."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
