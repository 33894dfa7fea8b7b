"""Benchmark `mlenv fetch` against `pip download`, and `mlenv verify --cache` against sha256sum.

    python bench/fetch.py [--repeats N]

The torch 2.14.1 stack (about 3 GB in 30 files) from this machine's local file:// indexes:
`mlenv fetch` into an empty cache against `pip download --no-deps --require-hashes` of the same
files (from mlenv's exported requirements) into an empty directory, alternated. Then hashing the
same files: `mlenv verify --cache` against `sha256sum` over them. Writes bench/results/fetch.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from common import Case, machine, publish, run_alternating, table, timings

from tests.support.peers import (
    CUDA_INDEX,
    LOCAL_INDEX,
    clean_env,
    find_links_with_cuda_bindings,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    links = find_links_with_cuda_bindings()
    with tempfile.TemporaryDirectory(prefix="mlenv-bench-fetch-") as tmp:
        work = Path(tmp)
        (work / "mlenv.toml").write_text(
            '[environment]\nname = "bench"\npython = "3.11"\n'
            '[cuda]\nversion = "13.0"\ndriver-floor = "580.65.06"\n[pypi]\n'
            f'index-url = "{LOCAL_INDEX}"\nextra-index-urls = ["{CUDA_INDEX}"]\n'
            f'find-links = ["{links}"]\nindex-strategy = "best-match"\n'
            'dependencies = ["torch==2.14.1"]\n'
        )
        mlenv = [sys.executable, "-m", "mlenv", "-q"]
        env = clean_env(MLENV_CACHE_DIR=str(work / "cache"))
        run_alternating([Case("lock", lambda: [*mlenv, "lock"], env, cwd=work)], 1)
        run_alternating(
            [Case("export", lambda: [*mlenv, "export", "--format", "requirements", "-o",
                                     "req.txt"], env, cwd=work)], 1)  # fmt: skip
        files = sum(1 for line in (work / "req.txt").read_text().splitlines() if "==" in line)

        def fresh(path: Path) -> None:
            shutil.rmtree(path, ignore_errors=True)

        fetch_cases = [
            Case("mlenv fetch (empty cache)", lambda: [*mlenv, "fetch"], env,
                 lambda: fresh(work / "cache" / "artifacts-v1"), work),
            Case("pip download --no-deps --require-hashes",
                 lambda: [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
                          "-q", "-d", str(work / "pip-dl"), "-r", "req.txt"],
                 clean_env(), lambda: fresh(work / "pip-dl"), work),
        ]  # fmt: skip
        run_alternating(fetch_cases, args.repeats)
        blobs = sorted(str(p) for p in (work / "cache" / "artifacts-v1").rglob("*") if p.is_file())
        size = sum(Path(b).stat().st_size for b in blobs)
        hash_cases = [
            Case("mlenv verify --cache", lambda: [*mlenv, "verify", "--cache"], env, cwd=work),
            Case("sha256sum (one process)", lambda: ["sha256sum", *blobs], clean_env(), cwd=work),
            Case("sha256sum (2 processes)",
                 lambda: ["sh", "-c", 'printf "%s\\n" "$@" | xargs -P 2 -n 8 sha256sum', "sh",
                          *blobs], clean_env(), cwd=work),
        ]  # fmt: skip
        run_alternating(hash_cases, args.repeats)
    by = {c.name: c.median for c in fetch_cases + hash_cases}
    gib = size / 2**30
    ratios = [
        ["mlenv fetch / pip download (target <= 1)",
         f"{by['mlenv fetch (empty cache)'] / by['pip download --no-deps --require-hashes']:.2f}"],
        ["verify --cache throughput vs sha256sum, one process (target >= 0.9)",
         f"{by['sha256sum (one process)'] / by['mlenv verify --cache']:.2f}"],
        ["verify --cache throughput vs sha256sum, 2 processes",
         f"{by['sha256sum (2 processes)'] / by['mlenv verify --cache']:.2f}"],
        ["mlenv verify --cache GiB/s", f"{gib / by['mlenv verify --cache']:.2f}"],
    ]  # fmt: skip
    publish(
        "fetch.md",
        "`mlenv fetch` against pip download; `mlenv verify --cache` against sha256sum",
        f"Machine: {machine()}. {args.repeats} alternated runs; wall-clock seconds.\n"
        f"Input: the torch 2.14.1 stack, {files} files, {gib:.2f} GiB, from local file:// "
        "indexes (the page cache is warm: this measures mlenv, not the disk).",
        timings(fetch_cases + hash_cases),
        table(ratios, ["ratio", "value"]),
    )


if __name__ == "__main__":
    main()
