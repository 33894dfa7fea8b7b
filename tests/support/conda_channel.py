"""Conda packages and file:// channels built in code, so tests state their world in one place.

Both archive formats are written byte-deterministically (fixed mtimes, owners and order; bz2
has no timestamp; zstd runs at a fixed level), and ``repodata.json`` is written directly rather
than with ``rattler.index``, which stamps every record with the wall clock.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import tarfile
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import zstandard

# conda-build pads the build prefix to 255 characters so installers can write any shorter one.
PLACEHOLDER = "/opt/conda-bld/placeholder_" + "_placehold" * 22
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_ARCH = {"linux-64": "x86_64", "linux-aarch64": "aarch64"}

PackageFormat = Literal["tar.bz2", "conda"]


def _tar(
    members: Mapping[str, bytes],
    links: Mapping[str, str] | None = None,
    raw: Sequence[tuple[tarfile.TarInfo, bytes]] = (),
) -> bytes:
    """An uncompressed tar of the members (and symlinks) in name order, owned by root, dated 0,
    then the ``raw`` entries as given (GNU format then, for names USTAR cannot hold)."""
    buffer = io.BytesIO()
    links = links or {}
    layout = tarfile.GNU_FORMAT if raw else tarfile.USTAR_FORMAT
    with tarfile.open(fileobj=buffer, mode="w", format=layout) as tar:
        for name in sorted({*members, *links}):
            info = tarfile.TarInfo(name)
            if name in links:
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, links[name], 0o777
                tar.addfile(info)
                continue
            data = members[name]
            info.size = len(data)
            info.mode = 0o755 if data.startswith((b"#!", b"\x7fELF")) else 0o644
            tar.addfile(info, io.BytesIO(data))
        for info, data in raw:
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=19).compress(data)


def _paths_entry(path: str, data: bytes, *, placeholder: str, mode: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "_path": path,
        "path_type": "hardlink",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_in_bytes": len(data),
    }
    if mode:
        entry["file_mode"] = mode
        entry["prefix_placeholder"] = placeholder
    return entry


def build_conda_package(
    name: str,
    version: str,
    build: str,
    *,
    build_number: int = 0,
    depends: Iterable[str] = (),
    constrains: Iterable[str] = (),
    files: Mapping[str, bytes] | None = None,
    prefix_files: Mapping[str, bytes] | None = None,
    binary_prefix_files: Mapping[str, bytes] | None = None,
    placeholder: str = PLACEHOLDER,
    legacy: bool = False,
    symlinks: Mapping[str, str] | None = None,
    raw: Sequence[tuple[tarfile.TarInfo, bytes]] = (),
    fmt: PackageFormat = "tar.bz2",
    subdir: str = "linux-64",
    noarch: str | None = None,
) -> tuple[str, bytes]:
    """A conda package's file name and bytes.

    ``prefix_files`` hold ``placeholder`` (``PLACEHOLDER`` unless given) where the installer
    must write the install prefix as text, ``binary_prefix_files`` where it must write it into
    C strings padded with NULs (paths.json's ``file_mode`` binary);
    ``files`` under ``info/`` (link.json, say) are metadata, not payload. ``raw`` tar entries
    (devices, hardlinks, duplicates) are appended to the payload as they are, unlisted.
    ``legacy``: no ``info/paths.json`` (conda-build 2 and older), so installers read
    ``info/files`` and ``info/has_prefix``.
    """
    files = dict(files or {})
    prefix_files = dict(prefix_files or {})
    modes = dict.fromkeys(prefix_files, "text")
    modes.update(dict.fromkeys(binary_prefix_files or {}, "binary"))
    prefix_files.update(binary_prefix_files or {})
    if noarch is not None:
        subdir = "noarch"
    index: dict[str, Any] = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": build_number,
        "depends": list(depends),
        "subdir": subdir,
    }
    if constrains:
        index["constrains"] = list(constrains)
    if noarch is not None:
        index["noarch"] = noarch
    else:
        index["arch"] = _ARCH.get(subdir)
        index["platform"] = subdir.split("-")[0]
    extra_info = {path: data for path, data in files.items() if path.startswith("info/")}
    payload = {path: data for path, data in files.items() if path not in extra_info}
    payload.update(prefix_files)
    links = dict(symlinks or {})
    paths = [
        _paths_entry(path, payload[path], placeholder=placeholder, mode=modes.get(path, ""))
        if path in payload
        else {"_path": path, "path_type": "softlink"}
        for path in sorted({*payload, *links})
    ]
    info = {
        "info/index.json": _json(index),
        "info/paths.json": _json({"paths": paths, "paths_version": 1}),
        "info/files": "".join(f"{path}\n" for path in sorted({*payload, *links})).encode(),
        **extra_info,
    }
    if legacy:
        del info["info/paths.json"]
    if prefix_files:
        info["info/has_prefix"] = "".join(
            f"{placeholder} {modes[path]} {path}\n" for path in sorted(prefix_files)
        ).encode()
    stem = f"{name}-{version}-{build}"
    if fmt == "tar.bz2":
        return f"{stem}.tar.bz2", bz2.compress(_tar({**info, **payload}, links, raw), 9)
    members = {
        "metadata.json": _json({"conda_pkg_format_version": 2}),
        f"info-{stem}.tar.zst": _zstd(_tar(info)),
        f"pkg-{stem}.tar.zst": _zstd(_tar(payload, links, raw)),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for member, data in members.items():
            entry = zipfile.ZipInfo(member, _ZIP_EPOCH)
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data)
    return f"{stem}.conda", buffer.getvalue()


def _json(value: object) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode()


def read_index_json(filename: str, data: bytes) -> dict[str, Any]:
    """info/index.json of either format, read back the way an indexer would."""
    if filename.endswith(".tar.bz2"):
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:bz2") as tar:
            member = tar.extractfile("info/index.json")
            assert member is not None
            return dict(json.loads(member.read()))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        stem = filename.removesuffix(".conda")
        info_tar = zstandard.ZstdDecompressor().decompress(
            archive.read(f"info-{stem}.tar.zst"), max_output_size=1 << 26
        )
    with tarfile.open(fileobj=io.BytesIO(info_tar), mode="r:") as tar:
        member = tar.extractfile("info/index.json")
        assert member is not None
        return dict(json.loads(member.read()))


def repodata_record(filename: str, data: bytes) -> dict[str, Any]:
    """The repodata.json entry of a package: its index.json plus size and hashes."""
    record = read_index_json(filename, data)
    record.setdefault("depends", [])
    record["md5"] = hashlib.md5(data).hexdigest()
    record["sha256"] = hashlib.sha256(data).hexdigest()
    record["size"] = len(data)
    return record


def write_channel(root: Path, packages: Iterable[tuple[str, bytes]]) -> str:
    """Write packages and each subdir's repodata.json under root; return the channel URL.

    ``noarch/repodata.json`` always exists (possibly empty) because solvers read it for every
    platform.
    """
    by_subdir: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    by_subdir["noarch"] = {}
    for filename, data in packages:
        record = repodata_record(filename, data)
        subdir = str(record["subdir"])
        (root / subdir).mkdir(parents=True, exist_ok=True)
        (root / subdir / filename).write_bytes(data)
        by_subdir[subdir][filename] = record
    for subdir, records in by_subdir.items():
        (root / subdir).mkdir(parents=True, exist_ok=True)
        repodata = {
            "info": {"subdir": subdir},
            "packages": {k: v for k, v in records.items() if k.endswith(".tar.bz2")},
            "packages.conda": {k: v for k, v in records.items() if k.endswith(".conda")},
            "removed": [],
            "repodata_version": 1,
        }
        (root / subdir / "repodata.json").write_bytes(_json(repodata))
    return root.resolve().as_uri()


def assert_install_refuses(path: Path, match: str) -> None:
    """``mlenv.conda.install.install`` of the package file ``path`` (vetting, then rattler)
    fails with an ``InstallError`` matching ``match``, and nothing is staged."""
    import pytest

    from mlenv.conda.install import install
    from mlenv.conda.solve import from_repodata
    from mlenv.install.safety import InstallError
    from mlenv.report import MemoryReporter

    record = from_repodata(
        repodata_record(path.name, path.read_bytes()),
        channel=path.parent.as_uri(),
        filename=path.name,
        url=path.as_uri(),
    )
    stage = path.parent / "stage"
    with pytest.raises(InstallError, match=match):
        install(
            [record], {record.sha256: path}, stage, target_prefix="/opt/mlenv/x",
            platform="linux-64", reporter=MemoryReporter(),
        )  # fmt: skip
    assert not stage.exists()
