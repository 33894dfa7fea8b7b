"""The peer tools (uv, pip-compile, pip) run on the same inputs as mlenv, isolated from this
machine's pip configuration so results do not depend on where the tests run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

LOCAL_INDEX = "file:///opt/pypi/simple"
CUDA_INDEX = "file:///opt/pypi-more/simple"
# torch 2.14.1 needs cuda-bindings, which the local indexes lack; it comes from PyPI once.
CUDA_BINDINGS = "cuda-bindings==13.5.0"
WHEEL_CACHE = Path(os.environ.get("MLENV_TEST_WHEELS", Path.home() / ".cache" / "mlenv-tests"))


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without pip/uv settings inherited from the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1")
    env.update(extra)
    return env


def find_links_with_cuda_bindings() -> Path:
    """A find-links directory holding the cuda-bindings wheel torch needs (downloaded once)."""
    directory = WHEEL_CACHE / "find-links"
    if not list(directory.glob("cuda_bindings-*.whl")):
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
             "-d", str(directory), CUDA_BINDINGS],
            env=clean_env(), check=True, capture_output=True,
        )  # fmt: skip
    return directory


def tool(name: str) -> str:
    """The path of a peer tool; a missing one is a failure, never a skip."""
    found = shutil.which(name)
    if found is None:
        raise AssertionError(f"{name} is not installed: pip install -e '.[test]' installs it")
    return found


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def pins_of(requirements_text: str) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    return {str(canonicalize_name(n)): v for n, v in _PIN.findall(requirements_text)}


def uv_compile(
    requirements: Path,
    out: Path,
    indexes: Sequence[str],
    find_links: Sequence[Path],
    cache: Path,
    strategy: str = "unsafe-best-match",
) -> subprocess.CompletedProcess[str]:
    args = [
        tool("uv"),
        "pip",
        "compile",
        str(requirements),
        "-o",
        str(out),
        "--generate-hashes",
        "--python-version",
        "3.11",
        "--python-platform",
        "x86_64-manylinux_2_28",
        "--index-strategy",
        strategy,
        "--cache-dir",
        str(cache),
        "--quiet",
        "--default-index",
        indexes[0],
    ]
    for url in indexes[1:]:
        args += ["--index", url]
    for directory in find_links:
        args += ["--find-links", str(directory)]
    return subprocess.run(args, env=clean_env(), capture_output=True, text=True, check=False)


def pip_compile(
    requirements: Path, out: Path, indexes: Sequence[str], find_links: Sequence[Path], cache: Path
) -> subprocess.CompletedProcess[str]:
    args = [
        tool("pip-compile"),
        str(requirements),
        "-o",
        str(out),
        "--generate-hashes",
        "--allow-unsafe",
        "--quiet",
        "--cache-dir",
        str(cache),
        "--no-strip-extras",
        "--index-url",
        indexes[0],
    ]
    for url in indexes[1:]:
        args += ["--extra-index-url", url]
    for directory in find_links:
        args += ["--find-links", str(directory)]
    return subprocess.run(
        args, env=clean_env(PIP_CACHE_DIR=str(cache)), capture_output=True, text=True, check=False
    )  # fmt: skip
