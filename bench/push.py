"""Bytes to push after bumping one small package: per-package layers against one layer.

    python bench/push.py

The CUDA-13 torch 2.14.1 stack from this machine's local file:// indexes (plus the find-links
directory with cuda-bindings), for /usr/bin/python3.11, zstd layers. For each `[build] layers`
mode: build with fsspec OLD and push to a local docker-registry, then pin fsspec NEW (a pure-
Python wheel of 0.2 MB that torch needs), re-lock, rebuild and push again. Reports the bytes of
the layers whose digest changed (what the registry lacks) against the whole image, and what
`mlenv push` uploaded. Needs about 15 GB under /tmp. Writes bench/results/push.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import RESULTS, Case, machine, run_alternating, table

from mlenv.lockfile_read import loads
from tests.support.daemons import registry
from tests.support.peers import CUDA_INDEX, LOCAL_INDEX, clean_env, find_links_with_cuda_bindings

OLD, NEW = "2026.7.0", "2026.9.0"  # both in file:///opt/pypi/simple
MODES = {"auto": '"auto"', "one layer": "1"}
MLENV = [sys.executable, "-m", "mlenv"]
_PUSHED = re.compile(r"pushed (\d+) blob\(s\) \((\d+) bytes\), (\d+) already there")


@dataclass(frozen=True)
class Image:
    """One build as the registry sees it, and what pushing it cost."""

    layers: tuple[dict[str, Any], ...]  # build.json's: digest, layer name, packages
    sizes: dict[str, int]  # blob digest -> compressed bytes
    size: int  # layers, config and manifest
    build_seconds: float
    pushed_blobs: int
    pushed_bytes: int


def write_manifest(work: Path, links: Path, fsspec: str, layers: str) -> None:
    (work / "mlenv.toml").write_text(
        '[environment]\nname = "bench"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        '[cuda]\nversion = "13.0"\ndriver-floor = "580.65.06"\n[pypi]\n'
        f'index-url = "{LOCAL_INDEX}"\nextra-index-urls = ["{CUDA_INDEX}"]\n'
        f'find-links = ["{links}"]\nindex-strategy = "best-match"\n'
        f'dependencies = ["torch==2.14.1", "fsspec=={fsspec}"]\n'
        f'[build]\noutputs = ["oci"]\ncompression = "zstd"\nlayers = {layers}\n'
    )


def mlenv(work: Path, env: dict[str, str], *args: str) -> Case:
    """Run mlenv once, timed; a failure stops the benchmark with its stderr."""
    case = Case(" ".join(args), lambda: [*MLENV, *args], env, cwd=work)
    run_alternating([case], 1)
    return case


def build_and_push(work: Path, env: dict[str, str], ref: str) -> Image:
    """Build into a fresh dist/, push it, and remove it (the registry keeps the blobs)."""
    built = mlenv(work, env, "-q", "build", "--offline")
    dist = work / "dist"
    index = json.loads((dist / "oci" / "index.json").read_text())
    descriptor = index["manifests"][0]
    blob = dist / "oci" / "blobs" / "sha256" / descriptor["digest"].removeprefix("sha256:")
    manifest = json.loads(blob.read_text())
    sizes = {layer["digest"]: layer["size"] for layer in manifest["layers"]}
    record = json.loads((dist / "build.json").read_text())
    push = subprocess.run(
        [*MLENV, "push", "--insecure", ref], env=env, cwd=work, capture_output=True, text=True
    )
    pushed = _PUSHED.search(push.stderr)
    if push.returncode != 0 or pushed is None:
        raise SystemExit(f"push failed:\n{push.stderr[-3000:]}")
    shutil.rmtree(dist)
    return Image(
        layers=tuple(record["outputs"]["oci"]["layers"]),
        sizes=sizes,
        size=sum(sizes.values()) + manifest["config"]["size"] + descriptor["size"],
        build_seconds=built.times[0],
        pushed_blobs=int(pushed[1]),
        pushed_bytes=int(pushed[2]),
    )


def mib(size: int) -> str:
    return f"{size / 2**20:,.1f}"


HEADER = ["layers", "count", "image (MiB)", "changed layers", "changed (MiB)",
          "changed / image (target < 1% for auto)", "blobs pushed", "pushed (MiB)",
          "pushed / image", "builds (s)"]  # fmt: skip


def main() -> None:
    links = find_links_with_cuda_bindings()
    images: dict[tuple[str, str], Image] = {}
    with (
        tempfile.TemporaryDirectory(prefix="mlenv-bench-push-") as tmp,
        registry() as served,
    ):
        work = Path(tmp)
        env = clean_env(MLENV_CACHE_DIR=str(work / "cache"))
        for version in (OLD, NEW):
            for mode, layers in MODES.items():
                write_manifest(work, links, version, layers)
                if mode == "auto":  # [build] is no lock input: one lock serves both modes
                    mlenv(work, env, "-q", "lock")
                    mlenv(work, env, "-q", "fetch")
                    wheels = loads((work / "mlenv.lock").read_text()).platform("linux-64").packages
                ref = f"{served.host}/bench/{mode.replace(' ', '-')}:{version}"
                images[mode, version] = build_and_push(work, env, ref)
    text = report(images, len(wheels), sum(w.size for w in wheels))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "push.md").write_text(text)
    print(text)


def report(images: dict[tuple[str, str], Image], wheels: int, wheel_bytes: int) -> str:
    rows = []
    for mode in MODES:
        before, after = images[mode, OLD], images[mode, NEW]
        changed = [d for d in after.sizes if d not in before.sizes]
        changed_bytes = sum(after.sizes[d] for d in changed)
        rows.append([
            mode, str(len(after.sizes)), mib(after.size), str(len(changed)), mib(changed_bytes),
            f"{100 * changed_bytes / after.size:.3f}%", str(after.pushed_blobs),
            mib(after.pushed_bytes), f"{100 * after.pushed_bytes / after.size:.3f}%",
            f"{before.build_seconds:.0f}, {after.build_seconds:.0f}",
        ])  # fmt: skip
    old, new = images["auto", OLD], images["auto", NEW]
    details = [
        [layer["layer"], ", ".join(layer["packages"]), mib(new.sizes[layer["digest"]]),
         "" if layer["digest"] in old.sizes else "yes"]
        for layer in new.layers
    ]  # fmt: skip
    return (
        "# Bytes to push after bumping one small package\n\n"
        f"Machine: {machine()}.\n"
        f"Input: the CUDA-13 torch 2.14.1 stack ({wheels} wheels, {wheel_bytes / 2**30:.2f} GiB) "
        "from local file:// indexes, built for /usr/bin/python3.11 with zstd layers and pushed "
        f"to Debian's docker-registry on loopback. The bump: fsspec {OLD} -> {NEW} (pure "
        "Python, a 0.2 MB wheel), re-locked (every other pin kept) and rebuilt.\n\n"
        + table(rows, HEADER)
        + "\n\n'changed': the layers of the bumped image whose digest the first image lacks. "
        "'pushed': what `mlenv push` uploaded to the registry holding the first image (those "
        "layers and the new config). 'builds': the first build and the rebuild.\n\n"
        "## The `auto` layers after the bump\n\n"
        + table(details, ["layer", "packages", "MiB", "changed"])
        + "\n"
    )


if __name__ == "__main__":
    main()
