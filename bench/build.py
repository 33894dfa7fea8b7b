"""Benchmark `mlenv build --offline` against the naive pipeline, cold and after a bump.

    python bench/build.py [--repeats N]

Input: the CUDA-13 torch 2.14.1 stack (several GB installed) from this machine's local indexes,
locked and fetched once (warm artifact cache). Alternated, N times each:
  (a) cold builds (no layer cache): zstd with both outputs, zstd with the OCI image only, gzip
      with both outputs; against the naive pipelines on the same wheels: `pip install --no-deps
      --no-index` into a fresh venv, then `tar | zstd -3 -T0` or `tar | pigz -6 -p 2`;
  (b) a rebuild after bumping fsspec (`layers = "auto"`, zstd, OCI only) with the layer cache of
      the build before the bump, checked byte for byte against a cold build of the new lock;
  (c) peak memory (max RSS) and peak scratch disk of the cold zstd build with both outputs.
Everything lives under one temporary root, removed afterwards. Writes bench/results/build.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import tomllib
from pathlib import Path

from common import Case, machine, publish, run_alternating, table, timings

from tests.support.peers import CUDA_INDEX, LOCAL_INDEX, clean_env, find_links_with_cuda_bindings

MANIFEST = """\
[environment]
name = "torch"
python = "3.11"
prefix = "/opt/mlenv/torch"
interpreter = "/usr/bin/python3.11"
[cuda]
version = "13.0"
driver-floor = "580.65.06"
[pypi]
index-url = "{local}"
extra-index-urls = ["{cuda}"]
find-links = ["{links}"]
index-strategy = "best-match"
dependencies = ["torch==2.14.1"{extra}]
[build]
compression = "{compression}"
outputs = {outputs}
{layers}"""
BOTH = '["oci", "conda-pack"]'
FSSPEC_BEFORE, FSSPEC_AFTER = "2026.7.0", "2026.9.0"


def peak_scratch(root: Path, command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, int]:
    """Run ``command`` under /usr/bin/time: (peak RSS, peak disk used on ``root``'s file system
    above what it was at the start), the disk sampled every 0.2 s."""
    start = shutil.disk_usage(root).used
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], shutil.disk_usage(root).used)

    watcher = threading.Thread(target=sample)
    watcher.start()
    try:
        timed = subprocess.run(["/usr/bin/time", "-f", "%M", *command], env=env, cwd=cwd,
                               capture_output=True, text=True, check=True)  # fmt: skip
    finally:
        done.set()
        watcher.join()
    return int(timed.stderr.strip().splitlines()[-1]) * 1024, peak[0] - start


def digests(dist: Path) -> dict[str, str]:
    from mlenv.build import output_digests

    return output_digests(dist)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    links = find_links_with_cuda_bindings()
    mlenv = [sys.executable, "-m", "mlenv", "-q"]
    with tempfile.TemporaryDirectory(prefix="mlenv-bench-build-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        cache = work / "cache"
        env = clean_env(MLENV_CACHE_DIR=str(cache))

        def project(name: str, compression: str, outputs: str, fsspec: str = "",
                    layers: str = "") -> Path:  # fmt: skip
            where = work / name
            where.mkdir()
            extra = f', "fsspec=={fsspec}"' if fsspec else ""
            (where / "mlenv.toml").write_text(MANIFEST.format(
                local=LOCAL_INDEX, cuda=CUDA_INDEX, links=links, outputs=outputs, extra=extra,
                compression=compression, layers=layers))  # fmt: skip
            for step in (["lock"], ["fetch"]):
                subprocess.run([*mlenv, *step], cwd=where, env=env, check=True)
            return where

        both = project("both", "zstd", BOTH)
        oci = project("oci", "zstd", '["oci"]')
        gz = project("gzip", "gzip", BOTH)
        auto = 'layers = "auto"\n'
        before = project("before", "zstd", '["oci"]', FSSPEC_BEFORE, auto)
        after = project("after", "zstd", '["oci"]', FSSPEC_AFTER, auto)
        # The naive pipeline gets the very same wheel files, under their names.
        wheels = work / "wheels"
        wheels.mkdir()
        for package in tomllib.loads((both / "mlenv.lock").read_text())["platform"]["linux-64"][
            "package"
        ]:
            sha = package["sha256"]
            src = cache / "artifacts-v1" / "sha256" / sha[:2] / sha
            os.link(src, wheels / package["filename"])
        venv, naive_out = work / "venv", work / "naive.tar"

        def naive_prepare() -> None:
            shutil.rmtree(venv, ignore_errors=True)
            naive_out.unlink(missing_ok=True)

        install = (
            f"set -e; /usr/bin/python3.11 -m venv --without-pip {venv}; "
            f"{sys.executable} -m pip --python {venv}/bin/python install -q --no-deps "
            f"--no-index --no-compile {wheels}/*.whl; "
        )
        naive_zstd = install + f"tar -C {venv} -cf - . | zstd -q -3 -T0 -o {naive_out}"
        naive_gzip = install + f"tar -C {venv} -cf - . | pigz -6 -p 2 > {naive_out}"

        def cold(where: Path) -> None:
            shutil.rmtree(where / "dist", ignore_errors=True)
            shutil.rmtree(cache / "layers-v1", ignore_errors=True)

        def bumped() -> None:
            """The layer cache of the build before the bump, then the bumped project's lock."""
            cold(after)
            subprocess.run([*mlenv, "build", "--offline"], cwd=before, env=env, check=True)

        build = ["build", "--offline"]
        cases = [
            Case("mlenv build, zstd, OCI + conda-pack (cold)", lambda: [*mlenv, *build], env,
                 lambda: cold(both), both),
            Case("mlenv build, zstd, OCI only (cold)", lambda: [*mlenv, *build], env,
                 lambda: cold(oci), oci),
            Case("naive: pip install + tar | zstd -3 -T0", lambda: ["sh", "-c", naive_zstd],
                 clean_env(), naive_prepare, work),
            Case("mlenv build, gzip, OCI + conda-pack (cold)", lambda: [*mlenv, *build], env,
                 lambda: cold(gz), gz),
            Case("naive: pip install + tar | pigz -6 -p 2", lambda: ["sh", "-c", naive_gzip],
                 clean_env(), naive_prepare, work),
            Case('rebuild after bumping fsspec (layers = "auto", zstd, OCI only)',
                 lambda: [*mlenv, *build], env, bumped, after),
            Case('cold build of the bumped lock (layers = "auto", zstd, OCI only)',
                 lambda: [*mlenv, *build], env, lambda: cold(after), after),
        ]  # fmt: skip
        run_alternating(cases, args.repeats)
        cold_after = digests(after / "dist")
        cases[5].prepare()
        subprocess.run([*mlenv, *build], cwd=after, env=env, check=True)
        identical = digests(after / "dist") == cold_after
        cold(both)
        rss, scratch = peak_scratch(work, [*mlenv, *build], env, both)
        sizes = {
            "installed tree (naive venv)": sum(
                p.lstat().st_size for p in venv.rglob("*") if p.is_file() and not p.is_symlink()
            ),
            "mlenv image.tar (zstd)": (both / "dist" / "image.tar").stat().st_size,
            "mlenv conda-pack .tar.zst": (both / "dist" / "torch.tar.zst").stat().st_size,
        }
    by = {c.name: c.median for c in cases}
    names = [c.name for c in cases]
    ratios: list[tuple[str, float]] = [
        ("cold, zstd, both outputs / naive zstd (target <= 0.8)", by[names[0]] / by[names[2]]),
        ("cold, zstd, OCI only / naive zstd (target <= 0.6)", by[names[1]] / by[names[2]]),
        ("cold, gzip, both outputs / naive pigz (target <= 1.0)", by[names[3]] / by[names[4]]),
        ("rebuild after the fsspec bump / cold build of that lock (target <= 0.1)",
         by[names[5]] / by[names[6]]),
    ]  # fmt: skip
    publish(
        "build.md",
        "`mlenv build --offline` against the naive pipeline",
        f"Machine: {machine()} (shared with other jobs). {args.repeats} alternated runs; "
        "wall-clock seconds.\nInput: torch 2.14.1 (CUDA 13) and its 28 dependencies, warm "
        "artifact cache, page cache warm; cold = no layer cache.",
        timings(cases, digits=1),
        table([[name, f"{value:.2f}"] for name, value in ratios], ["ratio", "value"]),
        f"The rebuild after the bump is byte-identical to the cold build of the bumped lock: "
        f"{'yes' if identical else 'NO'} (every file of dist/ compared).",
        table([[k, f"{v / 2**20:.0f} MiB"] for k, v in sizes.items()], ["output", "size"]),
        f"Cold zstd build with both outputs: peak RSS {rss / 2**20:.0f} MiB, peak scratch disk "
        f"{scratch / 2**30:.1f} GiB (the staging tree, the outputs and the kept layers; "
        "sampled every 0.2 s).",
    )


if __name__ == "__main__":
    main()
