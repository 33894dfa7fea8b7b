"""Benchmark `mlenv build --offline` against the naive pipeline, cold and after a bump.

    python bench/build.py [--repeats N]

Input: the CUDA-13 torch 2.14.1 stack (several GB installed) from this machine's local indexes,
locked and fetched once (warm artifact cache). Alternated, N times each:
  (a) cold builds (no layer cache): zstd with both outputs, zstd with the OCI image only, gzip
      with both outputs; against the naive pipelines on the same wheels: `pip install --no-deps
      --no-index` into a fresh venv, then `tar | zstd -3 -T0` or `tar | pigz -6 -p 2`;
  (b) a rebuild after bumping fsspec (`layers = "auto"`, zstd, OCI only) with the layer cache of
      the build before the bump, checked byte for byte against a cold build of the new lock;
  (c) peak memory (max RSS) of every mlenv run, and the peak scratch disk of the run;
  (d) with ``[build] image-tar = false`` (the OCI layout only, no dist/image.tar): the rebuild
      after the fsspec bump, the cold build of that lock, and the cold OCI-only build.
Everything lives under one temporary root, removed afterwards (``--root DIR`` keeps and reuses
one: locks and fetches are skipped when present). ``--only`` picks cases by number (1-10, in the
order above). Writes bench/results/build.md (``--results NAME``: another page, for a subset).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import tomllib
from collections.abc import Callable
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
NAMES = [
    "mlenv build, zstd, OCI + conda-pack (cold)",
    "mlenv build, zstd, OCI only (cold)",
    "naive: pip install + tar | zstd -3 -T0",
    "mlenv build, gzip, OCI + conda-pack (cold)",
    "naive: pip install + tar | pigz -6 -p 2",
    'rebuild after bumping fsspec (layers = "auto", zstd, OCI only)',
    'cold build of the bumped lock (layers = "auto", zstd, OCI only)',
    'rebuild after bumping fsspec (layers = "auto", zstd, OCI only, image-tar = false)',
    'cold build of the bumped lock (layers = "auto", zstd, OCI only, image-tar = false)',
    "mlenv build, zstd, OCI only (cold, image-tar = false)",
]
NO_TAR = "image-tar = false\n"
FSSPEC_BEFORE, FSSPEC_AFTER = "2026.7.0", "2026.9.0"


def digests(dist: Path) -> dict[str, str]:
    from mlenv.commands.build import output_digests

    return output_digests(dist)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", type=Path)
    parser.add_argument("--only", help="comma-separated case numbers, e.g. 3,6,7")
    parser.add_argument("--results", default="build.md", help="the page in bench/results/")
    args = parser.parse_args()
    links = find_links_with_cuda_bindings()
    mlenv = [sys.executable, "-m", "mlenv", "-q"]
    with contextlib.ExitStack() as stack:
        if args.root is None:
            tmp = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="mlenv-bench-build-", dir="/var/tmp")
            )
        work = Path(tmp) if args.root is None else args.root
        cache = work / "cache"
        env = clean_env(MLENV_CACHE_DIR=str(cache))

        def project(name: str, compression: str, outputs: str, fsspec: str = "",
                    layers: str = "", like: Path | None = None) -> Path:  # fmt: skip
            """``like``: the project whose lock this one shares ([build] is not locked)."""
            where = work / name
            if (where / "mlenv.lock").exists():
                return where
            where.mkdir(exist_ok=True)
            extra = f', "fsspec=={fsspec}"' if fsspec else ""
            (where / "mlenv.toml").write_text(MANIFEST.format(
                local=LOCAL_INDEX, cuda=CUDA_INDEX, links=links, outputs=outputs, extra=extra,
                compression=compression, layers=layers))  # fmt: skip
            if like is not None:
                shutil.copyfile(like / "mlenv.lock", where / "mlenv.lock")
                return where
            for step in (["lock"], ["fetch"]):
                subprocess.run([*mlenv, *step], cwd=where, env=env, check=True)
            return where

        both = project("both", "zstd", BOTH)
        oci = project("oci", "zstd", '["oci"]')
        gz = project("gzip", "gzip", BOTH)
        auto = 'layers = "auto"\n'
        before = project("before", "zstd", '["oci"]', FSSPEC_BEFORE, auto)
        after = project("after", "zstd", '["oci"]', FSSPEC_AFTER, auto)
        before_nt = project("before-notar", "zstd", '["oci"]', FSSPEC_BEFORE, auto + NO_TAR, before)
        after_nt = project("after-notar", "zstd", '["oci"]', FSSPEC_AFTER, auto + NO_TAR, after)
        oci_nt = project("oci-notar", "zstd", '["oci"]', "", NO_TAR, oci)
        # The naive pipeline gets the very same wheel files, under their names.
        wheels = work / "wheels"
        shutil.rmtree(wheels, ignore_errors=True)
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

        def bumped(before: Path = before, after: Path = after) -> None:
            """The layer cache of the build before the bump, then the bumped project's lock."""
            cold(after)
            subprocess.run([*mlenv, "build", "--offline"], cwd=before, env=env, check=True)

        rss: dict[str, list[int]] = {}

        def measured(name: str) -> list[str]:
            """The build under /usr/bin/time: its peak RSS goes to a file per case."""
            out = work / f"rss-{len(rss.setdefault(name, []))}-{abs(hash(name))}"
            rss[name].append(0)
            return ["/usr/bin/time", "-f", "%M", "-o", str(out), *mlenv, "build", "--offline"]

        identical: list[bool] = []

        def cold_after() -> None:
            """Before the cold build of the bumped lock: keep the digests of the rebuild."""
            if (after / "dist").is_dir():
                rebuilt.append(digests(after / "dist"))
            cold(after)

        rebuilt: list[dict[str, str]] = []
        build = ["build", "--offline"]
        cases = [
            Case(NAMES[0], lambda: [*mlenv, *build], env,
                 lambda: cold(both), both),
            Case(NAMES[1], lambda: [*mlenv, *build], env,
                 lambda: cold(oci), oci),
            Case(NAMES[2], lambda: ["sh", "-c", naive_zstd],
                 clean_env(), naive_prepare, work),
            Case(NAMES[3], lambda: [*mlenv, *build], env,
                 lambda: cold(gz), gz),
            Case(NAMES[4], lambda: ["sh", "-c", naive_gzip],
                 clean_env(), naive_prepare, work),
            Case(NAMES[5],
                 lambda: [*mlenv, *build], env, bumped, after),
            Case(NAMES[6],
                 lambda: [*mlenv, *build], env, cold_after, after),
            Case(NAMES[7], lambda: [*mlenv, *build], env,
                 lambda: bumped(before_nt, after_nt), after_nt),
            Case(NAMES[8], lambda: [*mlenv, *build], env,
                 lambda: cold(after_nt), after_nt),
            Case(NAMES[9], lambda: [*mlenv, *build], env,
                 lambda: cold(oci_nt), oci_nt),
        ]  # fmt: skip
        chosen = sorted({int(n) for n in args.only.split(",")}) if args.only else range(1, 11)
        cases = [cases[n - 1] for n in chosen]
        for case in cases:
            if case.command()[0] == sys.executable:
                case.command = functools.partial(measured, case.name)
        # Each run's peak disk above what its preparation left: scratch and outputs together.
        running: list[tuple[str, int]] = []
        scratch: dict[str, int] = {}
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                if running:
                    name, base = running[-1]
                    used = shutil.disk_usage(work).used - base
                    scratch[name] = max(scratch.get(name, 0), used)

        def baselined(case: Case, prepare: Callable[[], None]) -> None:
            prepare()
            running.append((case.name, shutil.disk_usage(work).used))

        for case in cases:
            case.prepare = functools.partial(baselined, case, case.prepare)

        watcher = threading.Thread(target=sample)
        watcher.start()
        try:
            run_alternating(cases, args.repeats)
        finally:
            done.set()
            watcher.join()
        peaks = {
            name: max(
                int(p.read_text().split()[-1]) * 1024 for p in work.glob(f"rss-*-{abs(hash(name))}")
            )
            for name in rss
        }
        if rebuilt and (after / "dist").is_dir():
            identical.append(rebuilt[-1] == digests(after / "dist"))
        files = {
            "mlenv image.tar (zstd, one layer)": both / "dist" / "image.tar",
            "mlenv image.tar (zstd, auto layers)": after / "dist" / "image.tar",
            "mlenv conda-pack .tar.zst": both / "dist" / "torch.tar.zst",
        }
        sizes = {name: path.stat().st_size for name, path in files.items() if path.exists()}
        sizes["installed tree (naive venv)"] = sum(
            p.lstat().st_size for p in venv.rglob("*") if p.is_file() and not p.is_symlink()
        )
    by = {c.name: c.median for c in cases}
    pairs = [
        ("cold, zstd, both outputs / naive zstd (target <= 0.8)", 0, 2),
        ("cold, zstd, OCI only / naive zstd (target <= 0.6)", 1, 2),
        ('cold, zstd, OCI only, layers = "auto" / naive zstd', 6, 2),
        ("cold, gzip, both outputs / naive pigz (target <= 1.0)", 3, 4),
        ("rebuild after the fsspec bump / cold build of that lock (target <= 0.1)", 5, 6),
        ("the same, image-tar = false (target <= 0.1)", 7, 8),
        ("cold, zstd, OCI only, image-tar = false / naive zstd (target <= 0.6)", 9, 2),
    ]
    ratios = [
        (label, by[NAMES[a]] / by[NAMES[b]])
        for label, a, b in pairs
        if NAMES[a] in by and NAMES[b] in by
    ]
    publish(
        args.results,
        "`mlenv build --offline` against the naive pipeline",
        f"Machine: {machine()} (shared with other jobs). {args.repeats} alternated runs; "
        "wall-clock seconds.\nInput: torch 2.14.1 (CUDA 13) and its 28 dependencies, warm "
        "artifact cache, page cache warm; cold = no layer cache.",
        timings(cases, digits=1),
        table([[name, f"{value:.2f}"] for name, value in ratios], ["ratio", "value"]),
        f"The rebuild after the bump is byte-identical to the cold build of the bumped lock "
        f"(every file of dist/ compared, last round): {identical or 'not measured'}.",
        table([[k, f"{v / 2**20:.0f} MiB"] for k, v in sizes.items()], ["output", "size"]),
        table(
            [
                [k, f"{v / 2**20:.0f} MiB", f"{scratch.get(k, 0) / 2**30:.1f} GiB"]
                for k, v in peaks.items()
            ],
            ["mlenv run", "peak RSS", "peak disk"],
        ),
        "Peak disk: the most disk a run used above what its preparation left (its scratch, "
        "its outputs and the layers it keeps; sampled every 0.2 s, on a disk other jobs share).",
    )


if __name__ == "__main__":
    main()
