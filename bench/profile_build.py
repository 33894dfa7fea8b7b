"""Where `mlenv build --offline` spends its time on the torch stack, phase by phase.

    python bench/profile_build.py [--root DIR] [--compression zstd|gzip] [--outputs both|oci]

Locks and fetches the torch 2.14.1 stack (as bench/build.py does) under one temporary root,
then runs the build in this process with a wall-clock timer around each stage function, the
CPU time of the whole process and its peak RSS. The root is removed afterwards unless given.
"""

from __future__ import annotations

import argparse
import functools
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import machine

from tests.support.peers import CUDA_INDEX, LOCAL_INDEX, clean_env, find_links_with_cuda_bindings

sys.path.insert(0, str(Path(__file__).parent))
from build import MANIFEST

SPANS: dict[str, list[float]] = defaultdict(list)
_LOCK = threading.Lock()


def timed(module: Any, name: str, label: str) -> None:
    """Wrap ``module.name`` so each call adds its wall time to SPANS[label]."""
    inner: Callable[..., Any] = getattr(module, name)

    @functools.wraps(inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            with _LOCK:
                SPANS[label].append(time.perf_counter() - started)

    setattr(module, name, wrapper)


def setup(root: Path, compression: str, outputs: str) -> tuple[Path, dict[str, str]]:
    links = find_links_with_cuda_bindings()
    env = clean_env(MLENV_CACHE_DIR=str(root / "cache"))
    project = root / f"{compression}-{outputs}"
    if not (project / "mlenv.lock").exists():
        project.mkdir(parents=True, exist_ok=True)
        chosen = '["oci", "conda-pack"]' if outputs == "both" else '["oci"]'
        text = MANIFEST.format(local=LOCAL_INDEX, cuda=CUDA_INDEX, links=links, outputs=chosen,
                               extra="", compression=compression, layers="")  # fmt: skip
        (project / "mlenv.toml").write_text(text)
        for step in (["lock"], ["fetch"]):
            subprocess.run([sys.executable, "-m", "mlenv", "-q", *step], cwd=project, env=env,
                           check=True)  # fmt: skip
    return project, env


def profile(project: Path, env: dict[str, str]) -> str:
    import os

    import mlenv.build_outputs as outputs
    import mlenv.commands.build as build
    import mlenv.conda.pack as pack
    import mlenv.install.wheels as install
    import mlenv.tarball as layer
    from mlenv.cli.app import main

    timed(build, "_verified_copies", "verify artifacts (sha256 of every wheel)")
    timed(build, "install_environment", "install wheels into the staging tree")
    timed(install, "install_all", "  of which: inflate and write the wheels")
    timed(install, "_normalise_modes", "  of which: normalise modes (walk the tree)")
    timed(outputs, "collect", "list the staging tree (collect)")
    timed(outputs, "split_entries", "split entries into layers")
    timed(outputs, "write_layer", "write the OCI layer(s): read back, tar, sha256 x2, compress")
    timed(pack, "prefix_files", "conda-pack: scan every file for the prefix")
    timed(pack, "write_layer", "conda-pack: read back, tar, sha256 x2, compress")
    timed(outputs, "write_layout", "OCI layout (blobs moved in)")
    timed(outputs, "write_image_tar", "image.tar (copy and sha256 of every blob)")
    timed(outputs, "write_sbom", "SBOM")
    timed(build, "output_digests", "build --check: sha256 of every output")
    del layer
    os.environ.clear()
    os.environ.update(env)
    os.chdir(project)
    shutil.rmtree(project / "dist", ignore_errors=True)
    cpu0 = os.times()
    started = time.perf_counter()
    code = main(["-q", "build", "--offline"])
    wall = time.perf_counter() - started
    cpu1 = os.times()
    if code != 0:
        raise SystemExit(f"build failed: {code}")
    children = cpu1.children_user - cpu0.children_user + cpu1.children_system - cpu0.children_system
    own = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = ["| stage | wall (s) | calls |", "|---|---|---|"]
    for label, spans in SPANS.items():
        lines.append(f"| {label} | {sum(spans):.1f} | {len(spans)} |")
    lines.append(f"| **whole build** | **{wall:.1f}** | |")
    lines.append("")
    lines.append(f"CPU: {own:.1f} s in mlenv's process, {children:.1f} s in children; "
                 f"peak RSS {rss:.0f} MiB. Machine: {machine()}.")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path)
    parser.add_argument("--compression", default="zstd")
    parser.add_argument("--outputs", default="both")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="mlenv-profile-", dir="/var/tmp"))
    try:
        project, env = setup(root, args.compression, args.outputs)
        print(profile(project, env))
    finally:
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
