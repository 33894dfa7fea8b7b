"""A locked project whose air-gap bundle a loopback registry holds (pushed by the real CLI),
and ``mlenv fetch --from`` run against it as a user runs it: what the hostile-registry passes
attack; and the fixtures such a pass uses (``reg``, ``project``, ``honest_again``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlenv.oci.bundle import TITLE
from tests.support.bundle_wheels import WHEELS
from tests.support.cli import run_mlenv
from tests.support.hostile_registry import HostileRegistry
from tests.support.httpserver import IndexServer
from tests.support.wheels import write_simple_index

REPO = "team/env"


@dataclass(frozen=True)
class Project:
    root: Path
    env: dict[str, str]  # the pushing machine's cache
    digest: str  # the bundle manifest's digest, as pushed
    lib: str  # the digest of the lock's `lib` wheel (300 kB)
    app: str


def push_project(reg: HostileRegistry, tmp: Path) -> Project:
    """Lock a two-wheel project and push its bundle to ``reg`` as ``REPO:1``."""
    write_simple_index(tmp / "www", WHEELS)
    with IndexServer(tmp / "www") as server:
        root = tmp / "project"
        root.mkdir()
        (root / "mlenv.toml").write_text(
            '[environment]\nname = "f"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
            f'[pypi]\nindex-url = "{server.url}/simple"\ndependencies = ["app"]\n'
        )
        env = {"MLENV_CACHE_DIR": str(tmp / "cache"), "DOCKER_CONFIG": str(tmp / "nodocker")}
        locked = run_mlenv(["lock"], root, env)
        assert locked.returncode == 0, locked.stderr
        pushed = run_mlenv(
            ["fetch", "--bundle", f"oci://{reg.host}/{REPO}:1", "--insecure"], root, env
        )
        assert pushed.returncode == 0, pushed.stderr
    digest = pushed.stdout.strip().rpartition("@")[2]
    layers = json.loads(reg.manifests[digest])["layers"]
    by_title = {layer["annotations"][TITLE].split("-")[0]: layer["digest"] for layer in layers}
    return Project(root, env, digest, by_title["lib"], by_title["app"])


@dataclass(frozen=True)
class Pull:
    returncode: int
    stderr: str
    seconds: float
    cache: Path

    def files(self) -> list[str]:
        """Every file name under the cache's artifacts (partial downloads too)."""
        root = self.cache / "artifacts-v1"
        return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []

    def stored(self) -> list[str]:
        """The artifacts in the cache (file names are their sha256)."""
        return [name for name in self.files() if len(name) == 64]


def pull(
    project: Project, ref: str, tmp_path: Path, *, env: dict[str, str] | None = None,
    args: tuple[str, ...] = ("--insecure",), setup: str = "",
) -> Pull:  # fmt: skip
    """``mlenv fetch --from REF`` as a user runs it; ``setup`` is Python run first in the same
    process (to shorten the registry client's patience, so a test of it stays fast)."""
    cache = tmp_path / "pulled"
    environment = {**os.environ, "PIP_CONFIG_FILE": "/dev/null", **project.env}
    environment |= {"MLENV_CACHE_DIR": str(cache), **(env or {})}
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", f"{setup}\nimport runpy\nrunpy.run_module('mlenv', run_name="
         "'__main__', alter_sys=True)", "fetch", "--from", ref, *args],
        cwd=project.root, env=environment, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    return Pull(done.returncode, done.stderr, time.monotonic() - start, cache)


def refused(result: Pull, *needles: str) -> None:
    """Exit 1, no traceback, every needle in the error."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


# Registered under the names the passes take (``reg``, ``project``): a module imports the
# functions by name (honest_again, project_fixture, reg_fixture), marked as used for ruff.
@pytest.fixture(scope="module", name="reg")
def reg_fixture() -> Iterator[HostileRegistry]:
    """One loopback registry for a module's passes, honest until a pass scripts it."""
    with HostileRegistry() as running:
        yield running


@pytest.fixture(scope="module", name="project")
def project_fixture(reg: HostileRegistry, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A locked project whose bundle the registry holds honestly (pushed by the CLI)."""
    return push_project(reg, tmp_path_factory.mktemp("pushed"))


@pytest.fixture(autouse=True)
def honest_again(reg: HostileRegistry) -> Iterator[None]:
    """Each pass starts with an honest registry, whatever the one before scripted."""
    yield
    reg.override = None
