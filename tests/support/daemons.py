"""Real daemons for integration tests: an OCI registry and a Docker Engine on loopback.

Each is started by the test that needs it, keeps its state under a temporary directory, and is
stopped by its PID (SIGTERM, then SIGKILL of its process group) when the ``with`` block ends.
A missing program fails the test with the apt-get command that installs it: integration tests
never skip.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.mounts import remove_tree
from tests.support.siteca import SiteCA

_STARTUP_SECONDS = 60.0
_STOP_SECONDS = 30.0
# The access log line of distribution's registry (Apache combined format).
_ACCESS = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" ([0-9]{3}) \S+ "[^"]*" "([^"]*)"')


@dataclass(frozen=True)
class Access:
    method: str
    path: str  # with the query
    status: int
    agent: str  # the client's User-Agent: tells mlenv's requests from skopeo's


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:PORT, the registry part of an image reference
    log: Path
    storage: Path  # the filesystem driver's root: blobs under docker/registry/v2/blobs
    scheme: str = "http"  # https when started with a test CA's certificate

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def accesses(self) -> list[Access]:
        """Every request the registry answered so far, in order, from its access log."""
        text = self.log.read_text(errors="replace")
        return [Access(m[1], m[2], int(m[3]), m[4]) for m in _ACCESS.finditer(text)]


@dataclass(frozen=True)
class Dockerd:
    url: str  # unix:///TMP/docker.sock, for DOCKER_HOST or docker.DockerClient(base_url=...)
    log: Path

    def docker(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this daemon."""
        return subprocess.run(
            ["docker", "--host", self.url, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@contextmanager
def registry(
    *, htpasswd: tuple[str, str] | None = None, tls: SiteCA | None = None
) -> Iterator[Registry]:
    """Debian's ``docker-registry`` on 127.0.0.1, optionally behind Basic auth (htpasswd) and
    serving TLS with ``tls``'s server certificate."""
    program = _require("docker-registry", "docker-registry")
    with _workdir("mlenv-registry-") as work:
        port = _free_port()
        auth = ""
        if htpasswd is not None:
            user, password = htpasswd
            tool = _require("htpasswd", "apache2-utils")
            entry = subprocess.run(
                [tool, "-Bbn", user, password], capture_output=True, text=True, check=True
            )
            (work / "htpasswd").write_text(entry.stdout)
            auth = f"auth:\n  htpasswd:\n    realm: mlenv-test\n    path: {work / 'htpasswd'}\n"
        config = work / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: info\n  accesslog:\n    disabled: false\n"
            f"storage:\n  filesystem:\n    rootdirectory: {work / 'data'}\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
            + (f"  tls:\n    certificate: {tls.certificate}\n    key: {tls.key}\n" if tls else "")
            + auth
        )
        log = work / "registry.log"
        with _process([program, "serve", str(config)], log) as process:
            scheme = "https" if tls else "http"
            found = Registry(f"127.0.0.1:{port}", log, work / "data", scheme)
            ca = str(tls.ca) if tls else None
            _wait(process, log, lambda: _answers(f"{found.url}/v2/", ca), "docker-registry")
            yield found


@contextmanager
def dockerd() -> Iterator[Dockerd]:
    """A Docker Engine with its own socket, state and vfs storage; no iptables, no bridge."""
    program = _require("dockerd", "docker.io")
    _require("docker", "docker.io")
    # Unix socket paths are limited to 108 bytes: keep this directory's path short.
    with _workdir("mlenv-dockerd-") as work:
        daemon = Dockerd(f"unix://{work / 'docker.sock'}", work / "dockerd.log")
        command = [
            program,
            "--host",
            daemon.url,
            "--data-root",
            str(work / "data"),
            "--exec-root",
            str(work / "exec"),
            "--pidfile",
            str(work / "dockerd.pid"),
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--storage-driver=vfs",
        ]
        with _process(command, daemon.log) as process:
            _wait(
                process,
                daemon.log,
                lambda: daemon.docker("version", timeout=10).returncode == 0,
                "dockerd",
            )
            yield daemon


def _require(program: str, package: str) -> str:
    found = shutil.which(program)
    assert found, f"{program} is missing: apt-get update && apt-get install -y {package}"
    return found


@contextmanager
def _workdir(prefix: str) -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield work
    finally:
        remove_tree(work)


@contextmanager
def _process(command: Sequence[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The daemon runs in its own session, so its children (dockerd's containerd) can be
    killed with it by process group, which is its PID."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_STOP_SECONDS)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # what is left of the daemon's group
    process.wait()


def _wait(
    process: subprocess.Popen[bytes],
    log: Path,
    ready: Callable[[], bool],
    name: str,
) -> None:
    deadline = time.monotonic() + _STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited with {process.returncode}:\n{_tail(log)}")
        if ready():
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} did not answer within {_STARTUP_SECONDS:.0f}s:\n{_tail(log)}")


def _answers(url: str, ca: str | None = None) -> bool:
    try:
        httpx.get(url, timeout=2, verify=ssl.create_default_context(cafile=ca) if ca else True)
    except httpx.HTTPError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-30:])
