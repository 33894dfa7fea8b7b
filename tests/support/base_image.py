"""A real base image for tests and the demo: Debian 12 minbase with CPython 3.11, made here.

No image can be pulled on these machines, so debootstrap builds the rootfs and the project's
own layer writer turns it into a one-layer OCI image layout. The build takes minutes and needs
Debian's mirror, so the layout is cached under ``~/.cache/mlenv-tests/base-image/VERSION``;
a marker file written last says the cached copy is complete.

    python -m tests.support.base_image     # builds if needed, prints the layout's path

The rootfs goes through the same normalisation as an environment layer (owners 0, mode
0755/0644, one mtime): /tmp loses its sticky 1777 and setuid bits are dropped, which is fine
for running Python as root. The contents of /dev, /proc and /sys are left out: container
runtimes mount their own.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

from mlenv.tarball import Entry
from mlenv.tree_listing import collect
from tests.support.images import write_image
from tests.support.mounts import remove_tree

# Bump to rebuild every cached copy (e.g. after changing how the image is made).
VERSION = "bookworm-minbase-python3-v1"
REF = "bookworm-python"
SUITE = "bookworm"
DEBOOTSTRAP = ["debootstrap", "--variant=minbase", "--include=python3", SUITE]
_RUNTIME_MOUNTS = ("dev", "proc", "sys")


def cache_dir() -> Path:
    return Path.home() / ".cache" / "mlenv-tests" / "base-image" / VERSION


def base_image_layout() -> Path:
    """The OCI layout of the base image (reference ``REF``), built once and then reused."""
    home = cache_dir()
    layout, marker = home / "layout", home / "complete"
    if marker.is_file():
        return layout
    assert shutil.which("debootstrap"), "debootstrap is missing: apt-get install -y debootstrap"
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a parallel test process waits for one build
        if marker.is_file():
            return layout
        rootfs = home / "rootfs"
        remove_tree(rootfs)  # a half-built one from an interrupted run
        try:
            _debootstrap(rootfs, home / "debootstrap.log")
            write_image(
                layout,
                [(" ".join(DEBOOTSTRAP), rootfs_entries(rootfs))],
                ref=REF,
                cmd=["python3"],
            )
        finally:
            remove_tree(rootfs)
        marker.write_text(VERSION + "\n")
    return layout


def rootfs_entries(rootfs: Path) -> list[Entry]:
    """The rootfs as layer entries, with /dev, /proc and /sys as empty directories."""
    entries: list[Entry] = []
    for child in sorted(rootfs.iterdir()):
        if child.name in _RUNTIME_MOUNTS:
            entries.append(Entry(child.name, "dir", 0o755))
        elif child.is_symlink():  # merged /usr: bin -> usr/bin, lib -> usr/lib, ...
            entries.append(Entry(child.name, "symlink", 0o777, target=str(child.readlink())))
        elif child.is_dir():
            entries.extend(collect(child, child.name))
        else:
            raise AssertionError(f"unexpected file at the root of the rootfs: {child}")
    return entries


def _debootstrap(rootfs: Path, log: Path) -> None:
    with open(log, "wb") as out:
        result = subprocess.run(
            [*DEBOOTSTRAP, str(rootfs)], stdout=out, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-20:]
        raise AssertionError(
            f"debootstrap failed ({result.returncode}); it needs root and Debian's mirror.\n"
            + "\n".join(tail)
        )
    # Package lists and caches are only needed to install more; they would bloat the layer.
    for leftover in ("var/cache/apt", "var/lib/apt/lists"):
        for item in (rootfs / leftover).glob("*"):
            if item.is_file():
                item.unlink()


if __name__ == "__main__":
    sys.stdout.write(f"{base_image_layout()}\n")
