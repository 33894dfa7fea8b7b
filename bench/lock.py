"""Benchmark `mlenv lock` against `uv pip compile` and `pip-compile`, alternating, same inputs.

    python bench/lock.py [--repeats N]

Inputs: the CUDA-13 torch 2.14.1 stack and a scipy/pandas/scikit-learn/transformers stack
from this machine's local file:// indexes (plus a find-links directory holding the
cuda-bindings wheel torch needs), best-match across indexes for every tool, hashes on.
Cold = an empty cache directory; warm = a filled cache and no output file (for mlenv, answered
by the lock memo; "resolved again" empties the memo first, so the resolver runs on the warm
metadata cache); no-op = mlenv with an existing, fresh lock (``lock`` and ``lock --check``).
mlenv and pip-compile run as a user installs a command-line tool (``pipx``, ``uv tool``):
from a virtual environment of their own, here one made under the benchmark's temporary root
from this checkout and ``constraints.txt``, whose console scripts are timed. One more row
times the no-op through this checkout's interpreter (``python -m mlenv``), whose start-up
runs every ``.pth`` file of its site-packages. Writes bench/results/lock.md; its
"## Profile" section is written by hand and kept.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import RESULTS, ROOT, Case, machine, run_alternating, table

from mlenv.cache import MEMO
from tests.support.peers import (
    CUDA_INDEX,
    LOCAL_INDEX,
    clean_env,
    find_links_with_cuda_bindings,
    tool,
)

PROFILE = "## Profile"
CHECKOUT_NOOP = "mlenv lock (no-op), checkout's interpreter"
STACKS = {
    "torch 2.14.1 (CUDA 13)": ["torch==2.14.1"],
    "scipy/pandas/scikit-learn/transformers": ["scipy", "pandas", "scikit-learn", "transformers"],
}


def tool_venv(root: Path) -> Path:
    """A virtual environment holding mlenv (built from this checkout) and pip-tools, as
    ``pipx`` would make one: its ``bin`` directory."""
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-c", str(ROOT / "constraints.txt"), str(ROOT), "pip-tools"],
        check=True, capture_output=True,
    )  # fmt: skip
    return root / "bin"


def cases_for(requirements: list[str], work: Path, links: Path, tools: Path) -> list[Case]:
    work.mkdir(parents=True)
    manifest = (
        '[environment]\nname = "bench"\npython = "3.11"\n[pypi]\n'
        f'index-url = "{LOCAL_INDEX}"\nextra-index-urls = ["{CUDA_INDEX}"]\n'
        f'find-links = ["{links}"]\nindex-strategy = "best-match"\ndependencies = ['
        + ", ".join(f'"{r}"' for r in requirements)
        + "]\n"
    )
    (work / "mlenv.toml").write_text(manifest)
    (work / "requirements.in").write_text("\n".join(requirements) + "\n")
    mlenv = [str(tools / "mlenv"), "-q", "lock"]
    checkout = [sys.executable, "-m", "mlenv", "-q", "lock"]
    uv = [tool("uv"), "pip", "compile", "requirements.in", "-o", "uv.txt", "--generate-hashes",
          "--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28",
          "--index-strategy", "unsafe-best-match", "--default-index", LOCAL_INDEX,
          "--index", CUDA_INDEX, "--find-links", str(links), "--quiet"]  # fmt: skip
    pip_compile = [str(tools / "pip-compile"), "requirements.in", "-o", "pip.txt",
                   "--generate-hashes", "--allow-unsafe", "--quiet", "--index-url", LOCAL_INDEX,
                   "--extra-index-url", CUDA_INDEX, "--find-links", str(links)]  # fmt: skip

    def fresh(*paths: Path) -> None:
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    lock = work / "mlenv.lock"
    mc, uc, pc = work / "mlenv-cache", work / "uv-cache", work / "pip-cache"
    mw, uw, pw = work / "mlenv-warm", work / "uv-warm", work / "pip-warm"
    return [
        Case("mlenv lock (cold)", lambda: mlenv, clean_env(MLENV_CACHE_DIR=str(mc)),
             lambda: fresh(mc, lock), work),
        Case("uv pip compile (cold)", lambda: [*uv, "--cache-dir", str(uc)], clean_env(),
             lambda: fresh(uc, work / "uv.txt"), work),
        Case("pip-compile (cold)", lambda: [*pip_compile, "--cache-dir", str(pc)],
             clean_env(PIP_CACHE_DIR=str(pc)), lambda: fresh(pc, work / "pip.txt"), work),
        Case("mlenv lock (warm)", lambda: mlenv, clean_env(MLENV_CACHE_DIR=str(mw)),
             lambda: fresh(lock), work),
        Case("mlenv lock (warm, resolved again)", lambda: mlenv,
             clean_env(MLENV_CACHE_DIR=str(mw)), lambda: fresh(lock, mw / MEMO), work),
        Case("uv pip compile (warm)", lambda: [*uv, "--cache-dir", str(uw)], clean_env(),
             lambda: fresh(work / "uv.txt"), work),
        Case("pip-compile (warm)", lambda: [*pip_compile, "--cache-dir", str(pw)],
             clean_env(PIP_CACHE_DIR=str(pw)), lambda: fresh(work / "pip.txt"), work),
        Case("mlenv lock (no-op, fresh lock)", lambda: mlenv, clean_env(MLENV_CACHE_DIR=str(mw)),
             lambda: None, work),
        Case("mlenv lock --check (fresh lock)", lambda: [*mlenv, "--check"],
             clean_env(MLENV_CACHE_DIR=str(mw)), lambda: None, work),
        Case(CHECKOUT_NOOP, lambda: checkout,
             clean_env(MLENV_CACHE_DIR=str(mw)), lambda: None, work),
        Case("python -c pass, tool venv", lambda: [str(tools / "python"), "-c", "pass"],
             clean_env(), lambda: None, work),
        Case("python -c pass, checkout's interpreter", lambda: [sys.executable, "-c", "pass"],
             clean_env(), lambda: None, work),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "mlenv", quiet=1)
    load_before = os.getloadavg()
    links = find_links_with_cuda_bindings()
    sections = []
    with tempfile.TemporaryDirectory(prefix="mlenv-bench-lock-") as tmp:
        tools = tool_venv(Path(tmp) / "tools")
        for number, (label, requirements) in enumerate(STACKS.items()):
            cases = cases_for(requirements, Path(tmp) / str(number), links, tools)
            run_alternating(cases[:1] + cases[3:4], 1)  # warm mlenv's cache before timing
            for case in cases:
                case.times.clear()
            run_alternating(cases, args.repeats)
            by = {c.name: c.median for c in cases}
            rows = [[c.name, f"{c.median:.3f}", ", ".join(f"{t:.2f}" for t in c.times)]
                    for c in cases]  # fmt: skip
            mlenv_cold, uv_cold = by["mlenv lock (cold)"], by["uv pip compile (cold)"]
            uv_warm = by["uv pip compile (warm)"]
            ratios = [
                ["pip-compile cold / mlenv cold (target >= 5)",
                 f"{by['pip-compile (cold)'] / mlenv_cold:.2f}"],
                ["mlenv cold / uv cold (target <= 1.5)", f"{mlenv_cold / uv_cold:.2f}"],
                ["mlenv warm / uv warm (target <= 2)",
                 f"{by['mlenv lock (warm)'] / uv_warm:.2f}"],
                ["mlenv warm, resolved again (no lock memo) / uv warm",
                 f"{by['mlenv lock (warm, resolved again)'] / uv_warm:.2f}"],
                ["mlenv no-op / uv warm (target < 1)",
                 f"{by['mlenv lock (no-op, fresh lock)'] / uv_warm:.2f}"],
                ["mlenv lock --check / uv warm (target < 1)",
                 f"{by['mlenv lock --check (fresh lock)'] / uv_warm:.2f}"],
                ["mlenv no-op through the checkout's interpreter / uv warm",
                 f"{by[CHECKOUT_NOOP] / uv_warm:.2f}"],
            ]  # fmt: skip
            sections.append(
                f"## {label}\n\n{table(rows, ['command', 'median (s)', 'runs (s)'])}\n\n"
                f"{table(ratios, ['ratio', 'value'])}\n"
            )
    load_after = os.getloadavg()
    text = (
        "# `mlenv lock` against uv and pip-compile\n\n"
        f"Machine: {machine()}. {args.repeats} alternated runs per command; wall-clock seconds "
        "of the whole process, including interpreter start-up; mlenv and pip-compile run "
        "from a virtual environment of their own, as pipx or `uv tool` installs them. "
        "Load average (1 min) "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after (the machine is shared).\n"
        "Inputs: local file:// indexes (and a find-links directory with cuda-bindings), "
        "best-match across indexes for every tool, hashes generated.\n\n" + "\n".join(sections)
    )
    page = RESULTS / "lock.md"
    kept = page.read_text().partition(PROFILE)[2] if page.exists() else ""
    if kept:  # the profile is measured by hand (pyinstrument, -X importtime): keep it
        text += f"\n{PROFILE}{kept}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
