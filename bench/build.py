"""Benchmark `mlenv build --offline` against the naive pipeline, and its archive stage alone.

    python bench/build.py [--repeats N]

Input: the CUDA-13 torch 2.14.1 stack (several GB installed) from this machine's local indexes,
locked and fetched once (warm cache). Alternated, N times each:
  (a) `mlenv build --offline` (zstd, both outputs; and the OCI output alone) against the naive
      pipeline on the same wheels: `pip install --no-deps --no-index` into a fresh venv, then
      `tar | zstd -3 -T0`;
  (b) the archive stage alone on the same installed tree: mlenv's deterministic writer (zstd and
      gzip) against `tar | zstd -3 -T0` and `tar | pigz -6 -p 2`;
  (c) peak memory (max RSS) and output sizes.
Writes bench/results/build.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
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
dependencies = ["torch==2.14.1"]
[build]
compression = "zstd"
outputs = {outputs}
"""

PACK = """\
import sys
from pathlib import Path
from mlenv.pack import write_pack
with open(sys.argv[2], "wb") as out:
    write_pack(Path(sys.argv[1]), "/opt/mlenv/torch", out, compression=sys.argv[3], mtime=0)
"""


def tree_size(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    links = find_links_with_cuda_bindings()
    mlenv = [sys.executable, "-m", "mlenv", "-q"]
    with tempfile.TemporaryDirectory(prefix="mlenv-bench-build-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        env = clean_env(MLENV_CACHE_DIR=str(work / "cache"))
        projects = {}
        for name, outputs in (("both", '["oci", "conda-pack"]'), ("oci", '["oci"]')):
            project = work / name
            project.mkdir()
            (project / "mlenv.toml").write_text(MANIFEST.format(
                local=LOCAL_INDEX, cuda=CUDA_INDEX, links=links, outputs=outputs))  # fmt: skip
            for step in (["lock"], ["fetch"]):
                subprocess.run([*mlenv, *step], cwd=project, env=env, check=True)
            projects[name] = project
        # The naive pipeline gets the very same wheel files, under their names.
        wheels = work / "wheels"
        wheels.mkdir()
        lock_text = (projects["both"] / "mlenv.lock").read_text()
        import tomllib

        for package in tomllib.loads(lock_text)["platform"]["linux-64"]["package"]:
            sha = package["sha256"]
            src = work / "cache" / "artifacts-v1" / "sha256" / sha[:2] / sha
            os.link(src, wheels / package["filename"])
        venv, naive_out = work / "venv", work / "naive.tar.zst"

        def naive_prepare() -> None:
            shutil.rmtree(venv, ignore_errors=True)
            naive_out.unlink(missing_ok=True)

        naive = (
            f"set -e; /usr/bin/python3.11 -m venv --without-pip {venv}; "
            f"{sys.executable} -m pip --python {venv}/bin/python install -q --no-deps "
            f"--no-index --no-compile {wheels}/*.whl; "
            f"tar -C {venv} -cf - . | zstd -q -3 -T0 -o {naive_out}"
        )
        end_to_end = [
            Case("mlenv build --offline (zstd; OCI + conda-pack)", lambda: [*mlenv, "build",
                 "--offline"], env, lambda: shutil.rmtree(projects["both"] / "dist", True),
                 projects["both"]),
            Case("mlenv build --offline (zstd; OCI only)", lambda: [*mlenv, "build", "--offline"],
                 env, lambda: shutil.rmtree(projects["oci"] / "dist", True), projects["oci"]),
            Case("naive: pip install --no-deps --no-index + tar | zstd -3 -T0",
                 lambda: ["sh", "-c", naive], clean_env(), naive_prepare, work),
        ]  # fmt: skip
        run_alternating(end_to_end, args.repeats)
        peaks = {}
        for case in (end_to_end[0], end_to_end[2]):
            case.prepare()
            timed = subprocess.run(
                ["/usr/bin/time", "-f", "%M", *case.command()],
                env=case.env,
                cwd=case.cwd,
                capture_output=True,
                text=True,
                check=True,
            )
            peaks[case.name] = int(timed.stderr.strip().splitlines()[-1]) * 1024  # fmt: skip
        # (b) the archive stage alone, on one installed tree (the naive venv, fully installed).
        tree = venv
        stage = [
            Case("mlenv pack writer (zstd -3, 2 threads)", lambda: [sys.executable, "-c", PACK,
                 str(tree), str(work / "a.tar.zst"), "zstd"], clean_env(), cwd=work),
            Case("tar | zstd -3 -T0", lambda: ["sh", "-c", f"tar -C {tree} -cf - . | zstd -q -3 "
                 f"-T0 > {work / 'b.tar.zst'}"], clean_env(), cwd=work),
            Case("mlenv pack writer (gzip -6, 1 thread)", lambda: [sys.executable, "-c", PACK,
                 str(tree), str(work / "a.tar.gz"), "gzip"], clean_env(), cwd=work),
            Case("tar | pigz -6 -p 2", lambda: ["sh", "-c", f"tar -C {tree} -cf - . | pigz -6 -p 2"
                 f" > {work / 'b.tar.gz'}"], clean_env(), cwd=work),
        ]  # fmt: skip
        run_alternating(stage, args.repeats)
        sizes = {
            "installed tree": tree_size(venv),
            "naive tar.zst": naive_out.stat().st_size,
            "mlenv image.tar (zstd layer)": (projects["oci"] / "dist" / "image.tar").stat().st_size,
            "mlenv conda-pack .tar.zst": (projects["both"] / "dist" / "torch.tar.zst")
            .stat()
            .st_size,
        }
    by = {c.name: c.median for c in end_to_end + stage}
    naive_name = end_to_end[2].name
    ratios = [
        ["(a) mlenv build, both outputs / naive (target <= 1.0)",
         f"{by[end_to_end[0].name] / by[naive_name]:.2f}"],
        ["(a) mlenv build, OCI only / naive", f"{by[end_to_end[1].name] / by[naive_name]:.2f}"],
        ["(b) mlenv writer zstd / tar | zstd -T0 (target <= 1.3)",
         f"{by[stage[0].name] / by[stage[1].name]:.2f}"],
        ["(b) mlenv writer gzip / tar | pigz", f"{by[stage[2].name] / by[stage[3].name]:.2f}"],
    ]  # fmt: skip
    size_rows = [[k, f"{v / 2**20:.0f} MiB"] for k, v in sizes.items()]
    publish(
        "build.md",
        "`mlenv build --offline` against the naive pipeline",
        f"Machine: {machine()}. {args.repeats} alternated runs; wall-clock seconds.\n"
        "Input: torch 2.14.1 (CUDA 13) and its 28 dependencies, warm cache, page cache warm.",
        timings(end_to_end + stage, digits=1),
        table(ratios, ["ratio", "value"]),
        table(size_rows, ["output", "size"]),
        "(c) Peak RSS: "
        + "; ".join(f"{name}: {rss / 2**20:.0f} MiB" for name, rss in peaks.items())
        + " (streaming: no file is ever held whole in memory).",
    )


if __name__ == "__main__":
    main()
