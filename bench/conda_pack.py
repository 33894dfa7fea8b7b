"""Benchmark mlenv's conda-pack archive stage against conda-pack itself, same environment.

    python bench/conda_pack.py [--repeats N] [--megabytes M]

A channel of built packages (about M MB installed: shared-library-like blobs that compress
about 3x, plus Python sources) is solved and installed into a prefix with py-rattler; then,
alternated: `conda-pack` (its default: gzip level 4, one thread), `conda-pack -j 2`, and
mlenv's deterministic archive writer (gzip -6 one thread, and zstd -3 two threads) over the
same prefix. Writes bench/results/conda-pack.md.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import zstandard
from common import Case, machine, publish, run_alternating, table, timings

import tests.support.conda_channel as channel_builder
from tests.support.peers import clean_env

INSTALL = """\
import asyncio, os, sys
import rattler

async def main(channel, prefix, cache, specs):
    virtual = [rattler.GenericVirtualPackage(rattler.PackageName(n), rattler.Version(v),
                                             rattler.BuildString("0"))
               for n, v in (("__unix", "0"), ("__linux", "5.10"), ("__glibc", "2.28"))]
    records = await rattler.solve([channel], [rattler.MatchSpec(s) for s in specs],
                                  platforms=["linux-64", "noarch"], virtual_packages=virtual)
    await rattler.install(records, target_prefix=prefix, cache_dir=cache, show_progress=False)

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]))
sys.stdout.flush()
os._exit(0)  # py-rattler can crash at interpreter exit (reference/conda.md)
"""

PACK = """\
import sys
from pathlib import Path
from mlenv.conda.pack import write_pack
with open(sys.argv[2], "wb") as out:
    write_pack(Path(sys.argv[1]), sys.argv[1], out, compression=sys.argv[3], mtime=0)
"""


def blob(rng: random.Random, size: int) -> bytes:
    """Bytes that compress about 3x, like shared libraries: random runs repeated with edits."""
    out = bytearray()
    while len(out) < size:
        chunk = rng.randbytes(4096)
        out += chunk + chunk[::-1] + bytes(4096)
    return bytes(out[:size])


def packages(megabytes: int) -> list[tuple[str, bytes]]:
    rng = random.Random(7)
    count = 20
    each = megabytes * 2**20 // count
    built = [
        channel_builder.build_conda_package(
            "python",
            "3.11.2",
            "h0",
            fmt="conda",
            files={"bin/python3.11": b"#!/bin/sh\n", "lib/python3.11/os.py": b"x = 1\n" * 999},
        )
    ]
    for i in range(count):
        files = {f"lib/libpkg{i}.so.{j}": blob(rng, each // 4) for j in range(4)}
        files.update(
            {
                f"lib/python3.11/site-packages/pkg{i}/m{j}.py": (
                    f"def f{j}():\n    return {j}\n" * 200
                ).encode()
                for j in range(50)
            }
        )
        built.append(
            channel_builder.build_conda_package(
                f"pkg{i}", "1.0", "h0", fmt="conda", depends=["python 3.11.*"], files=files
            )
        )
    return built  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--megabytes", type=int, default=400)
    args = parser.parse_args()
    conda_pack = shutil.which("conda-pack")
    if conda_pack is None:
        raise SystemExit("conda-pack is missing: pip install -e '.[test]' installs it")
    # Level 19 (the fixtures' setting) would take minutes for this much data.
    channel_builder._zstd = zstandard.ZstdCompressor(level=3).compress
    with tempfile.TemporaryDirectory(prefix="mlenv-bench-pack-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        channel = channel_builder.write_channel(work / "channel", packages(args.megabytes))
        prefix = work / "env"
        specs = ["python", *(f"pkg{i}" for i in range(20))]
        subprocess.run([sys.executable, "-c", INSTALL, channel, str(prefix), str(work / "pkgs"),
                        *specs], check=True)  # fmt: skip
        size = sum(p.stat().st_size for p in prefix.rglob("*") if p.is_file())
        files = sum(1 for p in prefix.rglob("*") if p.is_file())

        def out(name: str) -> Path:
            return work / name

        cases = [
            Case("conda-pack (default: gzip -4, 1 thread)",
                 lambda: [conda_pack, "-p", str(prefix), "-o", str(out("cp.tar.gz")), "-q",
                          "--force"], clean_env(), cwd=work),
            Case("conda-pack -j 2", lambda: [conda_pack, "-p", str(prefix), "-o",
                 str(out("cp2.tar.gz")), "-j", "2", "-q", "--force"], clean_env(), cwd=work),
            Case("mlenv archive (gzip -6, 1 thread)", lambda: [sys.executable, "-c", PACK,
                 str(prefix), str(out("m.tar.gz")), "gzip"], clean_env(), cwd=work),
            Case("mlenv archive (zstd -3, 2 threads)", lambda: [sys.executable, "-c", PACK,
                 str(prefix), str(out("m.tar.zst")), "zstd"], clean_env(), cwd=work),
        ]  # fmt: skip
        run_alternating(cases, args.repeats)
        sizes = {name: out(name).stat().st_size for name in ("cp.tar.gz", "m.tar.gz", "m.tar.zst")}
        same = {}
        for name in ("m.tar.zst",):
            first = out(name).read_bytes()
            subprocess.run(cases[3].command(), env=cases[3].env, check=True)
            same[name] = first == out(name).read_bytes()
    by = {c.name: c.median for c in cases}
    ratios = [
        ["conda-pack default / mlenv zstd (target >= 3)",
         f"{by[cases[0].name] / by[cases[3].name]:.2f}"],
        ["conda-pack default / mlenv gzip", f"{by[cases[0].name] / by[cases[2].name]:.2f}"],
        ["conda-pack -j 2 / mlenv zstd", f"{by[cases[1].name] / by[cases[3].name]:.2f}"],
    ]  # fmt: skip
    size_rows = [[k, f"{v / 2**20:.1f} MiB"] for k, v in sizes.items()]
    publish(
        "conda-pack.md",
        "mlenv's conda-pack archive against conda-pack",
        f"Machine: {machine()}. {args.repeats} alternated runs; wall-clock seconds.\n"
        f"Input: a rattler-installed environment of {size / 2**20:.0f} MiB in {files} files "
        "(21 built packages).",
        timings(cases),
        table(ratios, ["ratio", "value"]),
        table(size_rows, ["archive", "size"]),
        f"mlenv's zstd archive written twice is byte-identical: {same['m.tar.zst']}.",
    )
    os._exit(0)


if __name__ == "__main__":
    main()
