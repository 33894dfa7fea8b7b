"""Wheels with big members and the two ways an environment takes them (written, ``"scan"``;
left in the wheel, ``"stream"``), for the hostile tests of ``mlenv.install.streamed``: the
layer each gives, and the golden project built with one such wheel."""

from __future__ import annotations

import io
import json
import random
import zipfile
from pathlib import Path

from mlenv.build_outputs import stream_entries
from mlenv.direct import BIG
from mlenv.install.ports import BigMembers
from mlenv.install.wheels import InstallResult, install_environment
from mlenv.report import MemoryReporter
from mlenv.tarball import LayerBlob, write_layer
from mlenv.tree_listing import collect
from tests.support.cli import run_mlenv
from tests.support.golden import golden_project
from tests.support.raw_wheels import DIST_INFO, METADATA, WHEEL, raw_wheel, record_hash

PREFIX = "/opt/mlenv/t"
DEST = PREFIX.strip("/")


def big_blob(seed: int, size: int = BIG + 4099) -> bytes:
    return random.Random(seed).randbytes(size)


def install_as(wheels: list[Path], staging: Path, big: BigMembers) -> InstallResult:
    return install_environment(
        wheels, staging, prefix=PREFIX, interpreter="/usr/bin/python3.11", python="3.11",
        reporter=MemoryReporter(), big=big,
    )  # fmt: skip


def layer_of(staging: Path, installed: InstallResult) -> LayerBlob:
    entries = stream_entries(collect(staging, DEST), installed.streamed, DEST)
    return write_layer(entries, io.BytesIO(), compression="gzip", mtime=0)


def both_ways(tmp: Path, wheels: list[Path]) -> tuple[InstallResult, LayerBlob, LayerBlob]:
    written = install_as(wheels, tmp / "written", "scan")
    streamed = install_as(wheels, tmp / "streamed", "stream")
    assert streamed.files == written.files and streamed.bytes == written.bytes
    assert streamed.distributions == written.distributions
    return streamed, layer_of(tmp / "written", written), layer_of(tmp / "streamed", streamed)


def zip_info(name: str, compression: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    return info


def lying_wheel(tmp: Path, name: str) -> Path:
    """A wheel whose big member's zip data is sound (CRC right) but RECORD names other bytes."""
    content, other = big_blob(5), big_blob(6)
    rows = [(name, other), (f"{DIST_INFO}/METADATA", METADATA), (f"{DIST_INFO}/WHEEL", WHEEL)]
    record = "".join(f"{n},{record_hash(d)},{len(d)}\n" for n, d in rows)
    return raw_wheel(tmp, [(name, content)], record=record + f"{DIST_INFO}/RECORD,,\n")


def golden_with(tmp: Path, wheel: Path, outputs: str) -> tuple[Path, Path]:
    """The golden project with ``wheel`` added as a dependency, locked and fetched."""
    project = golden_project(tmp / "project")
    (project / "wheels" / wheel.name).write_bytes(wheel.read_bytes())
    manifest = project / "mlenv.toml"
    text = manifest.read_text().replace(
        'dependencies = ["hello"]', 'dependencies = ["hello", "evil"]'
    )
    manifest.write_text(f"{text}[build]\noutputs = {outputs}\n")
    cache = tmp / "cache"
    for args in (["lock"], ["fetch"]):
        done = run_mlenv(args, project, {"MLENV_CACHE_DIR": str(cache)})
        assert done.returncode == 0, (args, done.stderr)
    return project, cache


def layers_of(dist: Path) -> list[str]:
    record = json.loads((dist / "build.json").read_text())
    return [layer["digest"] for layer in record["outputs"]["oci"]["layers"]]


def corrupt_wheel(tmp: Path, compression: int, size: int) -> Path:
    """A wheel whose member ``evil/a.bin`` (bzip2 or LZMA) has a flipped bit mid-data."""
    wheel = raw_wheel(tmp, [(zip_info("evil/a.bin", compression), big_blob(9, size))])
    data = bytearray(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo("evil/a.bin")
    data[info.header_offset + 30 + len(info.filename) + info.compress_size // 2] ^= 0x10
    wheel.write_bytes(bytes(data))
    return wheel
