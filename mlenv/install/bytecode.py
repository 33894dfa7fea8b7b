"""Hash-based .pyc whose bytes depend only on the sources and the final paths."""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from mlenv.install.layout import Layout
from mlenv.install.ports import each
from mlenv.install.record import record_hash
from mlenv.install.safety import InstallError
from mlenv.report import Reporter

# Runs in a fresh interpreter with PYTHONHASHSEED=0: .pyc bytes depend on the hash seed
# (frozenset constants) and on what the process compiled before (cpython#129724).
_COMPILER = """\
import json, py_compile, sys
failed = []
for source, cfile, dfile in json.load(sys.stdin):
    try:
        py_compile.compile(
            source, cfile=cfile, dfile=dfile, doraise=True, optimize=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    except py_compile.PyCompileError:
        failed.append(source)
json.dump(failed, sys.stdout)
"""


def check_host_python(python: str) -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if sys.implementation.name != "cpython" or running != python:
        raise InstallError(
            f"hash-based bytecode for Python {python} must be compiled by CPython {python}, "
            f"but mlenv runs on {sys.implementation.name} {running}",
            where="--bytecode hash",
            hint=f"build with --bytecode none, or run mlenv with CPython {python}",
        )


def compile_bytecode(
    root: Path,
    layout: Layout,
    installed: list[dict[str, tuple[str, int]]],
    reporter: Reporter,
    jobs: int,
) -> None:
    """Hash-based .pyc for every module, naming the final paths: one fresh interpreter per
    distribution, so a package's .pyc bytes never depend on which other packages were compiled
    in the same run (a layer cache reuses packages one by one)."""
    calls = [functools.partial(_compile_one, root, layout, files) for files in installed]
    failed = sum(each(reporter, "Compiling bytecode", "packages", jobs, calls))
    if failed:
        reporter.info(f"{failed} file(s) are not valid Python and were not byte-compiled")


def _compile_one(root: Path, layout: Layout, files: dict[str, tuple[str, int]]) -> int:
    """Compile one distribution's modules in sorted order; adds the .pyc to ``files``."""
    sources = sorted(p for p in files if p.startswith(f"{layout.site}/") and p.endswith(".py"))
    if not sources:
        return 0
    caches = {path: importlib.util.cache_from_source(path, optimization="") for path in sources}
    work = [(str(root / p), str(root / caches[p]), f"{layout.prefix}/{p}") for p in sources]
    done = subprocess.run(
        [sys.executable, "-S", "-B", "-c", _COMPILER],
        input=json.dumps(work),
        capture_output=True,
        text=True,
        env={"PYTHONHASHSEED": "0"},
        check=False,
    )
    if done.returncode != 0:
        raise InstallError(
            f"byte-compiling failed: {done.stderr.strip()[-2000:]}", where="bytecode"
        )
    failed = set(json.loads(done.stdout))
    for path in sources:
        if str(root / path) not in failed:
            data = (root / caches[path]).read_bytes()
            files[caches[path]] = (record_hash(data), len(data))
    return len(failed)
