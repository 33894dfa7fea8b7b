"""A registry as the fleet's artifact store: `fetch --from oci://` against `fetch` from the
indexes, and the bytes of a bundle re-push after a one-package bump.

    python bench/registry.py [--repeats N]

The CUDA-13 torch 2.14.1 stack from this machine's local file:// indexes (plus the find-links
directory with cuda-bindings). Locked and fetched once, pushed as a bundle to a local
docker-registry on loopback (`fetch --bundle oci://`). Then, alternated, into an empty cache:
`mlenv fetch` from the indexes against `mlenv fetch --from oci://` from the registry (plain
http on loopback; every blob verified into the cache either way). Then fsspec is bumped (a
0.2 MB pure-Python wheel), re-locked, fetched and pushed again: the blobs and bytes uploaded
against the whole bundle. Needs about 10 GB under /tmp. Writes bench/results/registry.md.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import Case, machine, publish, run_alternating, table, timings

from mlenv.lockfile_read import loads
from tests.support.daemons import registry
from tests.support.peers import CUDA_INDEX, LOCAL_INDEX, clean_env, find_links_with_cuda_bindings

OLD, NEW = "2026.7.0", "2026.9.0"  # both in file:///opt/pypi/simple
MLENV = [sys.executable, "-m", "mlenv"]
_PUSHED = re.compile(r"pushed bundle \S+: (\d+) blob\(s\) uploaded \((\d+) bytes\), (\d+) already")


def write_manifest(work: Path, links: Path, fsspec: str) -> None:
    (work / "mlenv.toml").write_text(
        '[environment]\nname = "bench"\npython = "3.11"\n'
        '[cuda]\nversion = "13.0"\ndriver-floor = "580.65.06"\n[pypi]\n'
        f'index-url = "{LOCAL_INDEX}"\nextra-index-urls = ["{CUDA_INDEX}"]\n'
        f'find-links = ["{links}"]\nindex-strategy = "best-match"\n'
        f'dependencies = ["torch==2.14.1", "fsspec=={fsspec}"]\n'
    )


def push(work: Path, env: dict[str, str], ref: str) -> tuple[int, int, int]:
    """``fetch --bundle``: (blobs uploaded, bytes uploaded, blobs already there)."""
    result = subprocess.run(
        [*MLENV, "fetch", "--insecure", "--bundle", ref],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    found = _PUSHED.search(result.stderr)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"bundle push failed:\n{result.stderr[-3000:]}")
    return int(found[1]), int(found[2]), int(found[3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    links = find_links_with_cuda_bindings()
    with tempfile.TemporaryDirectory(prefix="mlenv-bench-registry-") as tmp, registry() as served:
        work = Path(tmp)
        env = clean_env(MLENV_CACHE_DIR=str(work / "cache"))
        write_manifest(work, links, OLD)
        run_alternating([Case("lock", lambda: [*MLENV, "-q", "lock"], env, cwd=work)], 1)
        lock = loads((work / "mlenv.lock").read_text())
        files = {p.sha256: p.size for p in lock.platform("linux-64").packages}
        first = push(work, env, f"oci://{served.host}/bench/torch:old")

        def empty() -> None:
            shutil.rmtree(work / "empty", ignore_errors=True)

        fresh = clean_env(MLENV_CACHE_DIR=str(work / "empty"))
        ref = f"oci://{served.host}/bench/torch:old"
        cases = [
            Case("mlenv fetch (indexes, file://)",
                 lambda: [*MLENV, "-q", "fetch"], fresh, empty, work),
            Case("mlenv fetch --from oci:// (registry, loopback http)",
                 lambda: [*MLENV, "-q", "fetch", "--insecure", "--from", ref], fresh, empty, work),
        ]  # fmt: skip
        run_alternating(cases, args.repeats)
        again = push(work, env, f"oci://{served.host}/bench/torch:old")
        write_manifest(work, links, NEW)
        run_alternating([Case("relock", lambda: [*MLENV, "-q", "lock"], env, cwd=work)], 1)
        bumped = push(work, env, f"oci://{served.host}/bench/torch:new")
    total = sum(files.values())
    gib = total / 2**30
    rows = [
        ["first push", str(first[0]), f"{first[1] / 2**20:,.1f}", str(first[2])],
        ["same lock again", str(again[0]), f"{again[1] / 2**20:,.1f}", str(again[2])],
        [f"fsspec {OLD} -> {NEW}", str(bumped[0]), f"{bumped[1] / 2**20:,.2f}", str(bumped[2])],
    ]
    by = {c.name: c.median for c in cases}
    ratio = by[cases[1].name] / by[cases[0].name]
    publish(
        "registry.md",
        "`mlenv fetch --from oci://` against `mlenv fetch` from the indexes; bundle re-pushes",
        f"Machine: {machine()}. {args.repeats} alternated runs; wall-clock seconds. Input: the "
        f"torch 2.14.1 stack, {len(files)} files, {gib:.2f} GiB; a local docker-registry on "
        "loopback (plain http); the page cache is warm.",
        timings(cases),
        table([["registry / indexes", f"{ratio:.2f}"]], ["ratio", "value"]),
        table(rows, ["push", "blobs uploaded", "MiB uploaded", "blobs already there"]),
    )


if __name__ == "__main__":
    main()
