"""Adversary pass 39: shapes passes 28-38 left open (docs/security.md, invariants 1 and 6)."""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import struct
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from zstandard import ZstdCompressor

from mlenv.install.conda_packages import check_conda_packages
from mlenv.install.safety import InstallError
from tests.support.rattler_specs import rattler_reads
from tests.support.raw_tars import extension_header, padded, pax, plain_member, tar_block

# ---------------------------------------------------------------------------------------------
# A global PAX `size`: tarfile gives every later member that size (stepping to the next header
# by the header's own field), rattler's tar crate ignores global records and writes the member
# whole. So tarfile measured "hello\n" while rattler installed the file with its tail.

SHARED = "share/shown.txt"
HONEST = b"hello\n"
WHOLE = HONEST + b"EVIL" * 10


def _info_members(name: str, entry: dict[str, object]) -> bytes:
    index = {"name": name, "version": "1.0", "build": "0", "build_number": 0, "depends": [],
             "subdir": "linux-64", "arch": "x86_64", "platform": "linux"}  # fmt: skip
    return (
        plain_member("info/index.json", json.dumps(index).encode())
        + plain_member(
            "info/paths.json", json.dumps({"paths": [entry], "paths_version": 1}).encode()
        )
        + plain_member("info/files", f"{SHARED}\n".encode())
    )


def _global_sized_payload(records: dict[str, str]) -> bytes:
    info = tarfile.TarInfo(SHARED)
    info.size, info.mode = len(WHOLE), 0o644
    return extension_header(b"g", pax(**records)) + tar_block(info) + padded(WHOLE)


def _entry(data: bytes) -> dict[str, object]:
    return {"_path": SHARED, "path_type": "hardlink",
            "sha256": hashlib.sha256(data).hexdigest(), "size_in_bytes": len(data)}  # fmt: skip


def _ended(tar: bytes) -> bytes:
    tar += b"\0" * 1024
    return tar + b"\0" * (-len(tar) % tarfile.RECORDSIZE)


def _package(tmp_path: Path, name: str, fmt: str, records: dict[str, str] | None) -> Path:
    """``name`` ships SHARED; with ``records``, behind a global PAX header holding them, and
    info/paths.json states the bytes tarfile reads (HONEST under a global size)."""
    if records is None:
        info, payload = _info_members(name, _entry(HONEST)), plain_member(SHARED, HONEST)
    else:
        seen = WHOLE[: int(records["size"])] if "size" in records else WHOLE
        info, payload = _info_members(name, _entry(seen)), _global_sized_payload(records)
    stem = f"{name}-1.0-0"
    if fmt == "tar.bz2":
        path = tmp_path / f"{stem}.tar.bz2"
        path.write_bytes(bz2.compress(_ended(info + payload)))
        return path
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", b'{"conda_pkg_format_version": 2}')
        archive.writestr(f"info-{stem}.tar.zst", ZstdCompressor().compress(_ended(info)))
        archive.writestr(f"pkg-{stem}.tar.zst", ZstdCompressor().compress(_ended(payload)))
    path = tmp_path / f"{stem}.conda"
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize("fmt", ["tar.bz2", "conda"])
def test_a_member_sized_by_a_global_pax_record_is_refused(tmp_path: Path, fmt: str) -> None:
    """Invariant 1/6, held by `install.conda_packages._CondaVetting._check_member` (through
    `conda_readers.ambiguity`, `_GLOBAL_READ`): a global PAX record giving `size` is refused
    naming the package, in a .tar.bz2 and in a .conda's pkg tar. Before: the vetting passed, having
    measured 6 bytes that matched info/paths.json, and rattler installed all 46."""
    path = _package(tmp_path, "sneaky", fmt, {"size": str(len(HONEST))})
    with pytest.raises(InstallError) as caught:
        check_conda_packages([(path.name, path)])
    assert caught.value.where == path.name
    assert "global PAX extension header" in caught.value.message


def test_a_global_size_cannot_borrow_another_packages_content_for_a_shared_path(
    tmp_path: Path,
) -> None:
    """The ledger lets two packages share a path only with the same measured content: a
    global PAX size made the second package's file measure as the first's ("hello\\n") while
    rattler wrote 46 other bytes over it. Now refused."""
    honest = _package(tmp_path, "honest", "tar.bz2", None)
    sneaky = _package(tmp_path, "sneaky", "tar.bz2", {"size": str(len(HONEST))})
    with pytest.raises(InstallError) as caught:
        check_conda_packages([(honest.name, honest), (sneaky.name, sneaky)])
    assert caught.value.where == sneaky.name


def test_a_global_pax_record_that_changes_nothing_written_is_still_accepted(
    tmp_path: Path,
) -> None:
    """Control: a global record of what neither reader writes differently (a comment, an
    mtime) is no reason to refuse a package."""
    path = _package(tmp_path, "plain", "tar.bz2", {"comment": "built by x", "mtime": "0"})
    check_conda_packages([(path.name, path)])


def test_the_conda_install_refuses_a_global_size_before_rattler_writes(tmp_path: Path) -> None:
    """End to end through `conda.install.install`: refused, nothing staged. Before: rattler
    staged share/shown.txt as all 46 bytes, of which the vetting had measured 6."""
    from tests.support.conda_channel import assert_install_refuses

    path = _package(tmp_path, "sneaky", "tar.bz2", {"size": str(len(HONEST))})
    with tarfile.open(path, "r|*") as archive:
        assert [m.size for m in archive if m.name == SHARED] == [len(HONEST)]
    assert_install_refuses(path, "global PAX")


# ---------------------------------------------------------------------------------------------
# A second member renamed for tarfile alone: the vetting measured share/a as "hello\n" and took
# the second member for an unlisted share/b; rattler's tar crate wrote the second member over
# share/a. Three headers tarfile reads and the tar crate does not: an extension header
# without ustar or GNU magic, a Solaris 'X' PAX header, a GNU.sparse.name PAX record.

LISTED, RENAMED = "share/a", "share/b"


def _without_magic(block: bytes) -> bytes:
    header = bytearray(block)
    header[257:265] = b"\0" * 8
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def _renaming_header(shape: str) -> bytes:
    record = pax(path=RENAMED)
    if shape == "pax-without-magic":
        info = tarfile.TarInfo("././@PaxHeader")
        info.type, info.size = tarfile.XHDTYPE, len(record)
        return _without_magic(tar_block(info)) + padded(record)
    if shape == "gnu-long-name-without-magic":
        name = RENAMED.encode() + b"\0"
        info = tarfile.TarInfo("././@LongLink")
        info.type, info.size = tarfile.GNUTYPE_LONGNAME, len(name)
        return _without_magic(tar_block(info)) + padded(name)
    if shape == "solaris-pax":
        return extension_header(tarfile.SOLARIS_XHDTYPE, record)
    return extension_header(b"x", pax(**{"GNU.sparse.name": RENAMED}))


RENAMING = ["pax-without-magic", "gnu-long-name-without-magic", "solaris-pax", "gnu-sparse-name"]


def _renaming_package(tmp_path: Path, shape: str) -> Path:
    index = {"name": "sneaky", "version": "1.0", "build": "0", "build_number": 0, "depends": [],
             "subdir": "linux-64", "arch": "x86_64", "platform": "linux"}  # fmt: skip
    entry = {"_path": LISTED, "path_type": "hardlink", "sha256": hashlib.sha256(HONEST).hexdigest(),
             "size_in_bytes": len(HONEST)}  # fmt: skip
    tar = (
        plain_member("info/index.json", json.dumps(index).encode())
        + plain_member(
            "info/paths.json", json.dumps({"paths": [entry], "paths_version": 1}).encode()
        )
        + plain_member("info/files", f"{LISTED}\n".encode())
        + plain_member(LISTED, HONEST)
        + _renaming_header(shape)
        + plain_member(LISTED, WHOLE)
    )
    path = tmp_path / "sneaky-1.0-0.tar.bz2"
    path.write_bytes(bz2.compress(_ended(tar)))
    return path


@pytest.mark.parametrize("shape", RENAMING)
def test_a_member_renamed_by_a_header_only_tarfile_reads_is_refused(
    tmp_path: Path, shape: str
) -> None:
    """Invariant 1/6, held by `install.conda_packages._CondaVetting._check_member` (through
    `conda_readers.ambiguity`, over what `TarHeaders` records): refused naming the package.
    Before: the vetting passed (tarfile read share/a, 6 bytes, then share/b) and rattler installed
    share/a as the 46 bytes of the second member."""
    path = _renaming_package(tmp_path, shape)
    with tarfile.open(path, "r|*") as archive:
        assert [m.name for m in archive][-2:] == [LISTED, RENAMED]  # what tarfile reads
    with pytest.raises(InstallError) as caught:
        check_conda_packages([(path.name, path)])
    assert caught.value.where == path.name
    assert "extension header" in caught.value.message


def test_the_conda_install_refuses_a_sparse_renamed_member_before_rattler_writes(
    tmp_path: Path,
) -> None:
    """End to end through `conda.install.install`: refused, nothing staged. Before: rattler
    staged share/a with the second member's bytes, which the vetting never measured as it."""
    from tests.support.conda_channel import assert_install_refuses

    path = _renaming_package(tmp_path, "gnu-sparse-name")
    assert_install_refuses(path, r"GNU\.sparse")


# ---------------------------------------------------------------------------------------------
# Invariant "no silent CUDA pass": a conda record's depends read by the CUDA judge as rattler
# reads them. A channel before the name or a bracketed version hid `cuda-version >=12.4` from
# the judge (no need at all) while rattler's solver held the environment to it.

# each spelling, and the plain one rattler reads it as
PLAIN = {
    "conda-forge::cuda-version >=12.4": "cuda-version >=12.4",
    "*/linux-64::cuda-version >=12.4": "cuda-version >=12.4",
    "https://conda.anaconda.org/conda-forge::cuda-version 12.4.*": "cuda-version 12.4.*",
    "cuda-version[version='>=12.4']": "cuda-version >=12.4",
    'cuda-version[version=">=12.4,<13", build=*]': "cuda-version >=12.4,<13",
    "cuda-version[version=12.4.*]": "cuda-version 12.4.*",
    "cuda-version >=11[version='>=12.4']": "cuda-version >=12.4",  # the bracket's version
}
HIDDEN_CUDA_SPECS = list(PLAIN)


@pytest.fixture(scope="module")
def rattler_names() -> dict[str, str | None]:
    return {spec: read["name"] for spec, read in rattler_reads(HIDDEN_CUDA_SPECS).items()}


@pytest.mark.parametrize("spec", HIDDEN_CUDA_SPECS)
@pytest.mark.parametrize("field", ["depends", "constrains"])
def test_a_cuda_spec_in_match_spec_syntax_is_read_as_rattler_reads_it(
    spec: str, field: str, rattler_names: dict[str, str | None]
) -> None:
    """Held by `cuda.tags._from_specs` over `conda.records.match_spec_text`. Before: no need
    (None), so a lock of this record judged it CPU-only and `verify` passed any driver. Each
    spelling reads as its plain form does; in depends that is CUDA 12.4. In constrains an open
    floor binds only a cuda-version something else installs (attack 132: numba's
    ``cudatoolkit >=11.2`` is no CUDA 11.2 build), so there only the bounded ones are 12.4."""
    from mlenv.cuda.tags import extract_conda

    assert rattler_names[spec] == "cuda-version"
    depends, constrains = ([spec], []) if field == "depends" else ([], [spec])
    need = extract_conda("pkg", "1.0", "h0", depends, constrains)
    plain = ([PLAIN[spec]], []) if field == "depends" else ([], [PLAIN[spec]])
    same = extract_conda("pkg", "1.0", "h0", *plain)  # its evidence quotes the spec as written
    assert (need is None) == (same is None)
    assert need is None or same is None or replace(need, evidence="") == replace(same, evidence="")
    if field == "depends" or not PLAIN[spec].startswith("cuda-version >=12.4") or "<" in spec:
        assert need is not None and str(need.cuda) == "12.4"
    else:
        assert need is None


def test_match_spec_text_keeps_plain_specs_as_written() -> None:
    from mlenv.conda.records import match_spec_text

    for spec in ["numpy >=1.2", "cuda-version>=12.4", " __cuda >=12 ", "cuda-version <11|>=12.4"]:
        assert match_spec_text(spec) == spec.strip()


# ---------------------------------------------------------------------------------------------
# A .conda is a zip: zipfile (the vetting) reads its central directory, rattler streams its
# local headers from byte 0. A local entry the directory does not list was unpacked by rattler
# and never vetted: rattler installed share/a as EVIL... while the vetting measured "hello\n".


def _conda_with_unlisted_entry(tmp_path: Path, where: str) -> Path:
    from tests.support.conda_channel import build_conda_package

    name, data = build_conda_package("sneaky", "1.0", "0", files={"share/a": HONEST}, fmt="conda")
    evil = ZstdCompressor().compress(_ended(plain_member("share/a", WHOLE)))
    if where == "prepended":
        one = io.BytesIO()
        with zipfile.ZipFile(one, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("pkg-zzz.tar.zst", evil)
        local = one.getvalue()
        data = local[: local.find(b"PK\x01\x02")] + data
    else:  # after the listed entries, dropped from the central directory
        source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
            for info in source.infolist():
                archive.writestr(info, source.read(info))
            archive.writestr("pkg-zzz.tar.zst", evil)
        raw = out.getvalue()
        end = raw.rfind(b"PK\x05\x06")
        size, offset = struct.unpack("<II", raw[end + 12 : end + 20])
        records, at = [], offset
        while at < offset + size:
            lengths = struct.unpack("<HHH", raw[at + 28 : at + 34])
            records.append(raw[at : at + 46 + sum(lengths)])
            at += 46 + sum(lengths)
        kept = b"".join(record for record in records if b"pkg-zzz" not in record)
        tail = bytearray(raw[end:])
        struct.pack_into("<HHII", tail, 8, len(records) - 1, len(records) - 1, len(kept), offset)
        data = raw[:offset] + kept + bytes(tail)
    path = tmp_path / name
    path.write_bytes(data)
    with zipfile.ZipFile(path) as archive:
        assert "pkg-zzz.tar.zst" not in archive.namelist()  # zipfile never sees it
    return path


@pytest.mark.parametrize("where", ["prepended", "between-listed-and-directory"])
def test_a_conda_zip_entry_its_central_directory_does_not_list_is_refused(
    tmp_path: Path, where: str
) -> None:
    """Held by `install.conda_readers.zip_layout_problem` (from `conda_packages._vet_conda`).
    Before: the vetting passed and rattler installed share/a from the unlisted entry."""
    path = _conda_with_unlisted_entry(tmp_path, where)
    with pytest.raises(InstallError) as caught:
        check_conda_packages([(path.name, path)])
    assert caught.value.where == path.name
    assert "central directory" in caught.value.message


def test_a_plain_conda_zip_still_passes(tmp_path: Path) -> None:
    from tests.support.conda_channel import build_conda_package

    name, data = build_conda_package("plain", "1.0", "0", files={"share/a": HONEST}, fmt="conda")
    (tmp_path / name).write_bytes(data)
    check_conda_packages([(name, tmp_path / name)])


def test_the_conda_install_refuses_an_unlisted_zip_entry_before_rattler_writes(
    tmp_path: Path,
) -> None:
    """End to end through `conda.install.install`. Before: rattler staged share/a as the
    unlisted entry's 46 bytes."""
    from tests.support.conda_channel import assert_install_refuses

    path = _conda_with_unlisted_entry(tmp_path, "between-listed-and-directory")
    assert_install_refuses(path, "central directory")


# ---------------------------------------------------------------------------------------------
# Past its first header, tarfile takes a header with a number field it cannot parse for the
# archive's end and stops without a word; the tar crate parses a field only when it uses it
# and unpacks on. Every member after such a header was installed unvetted.

FIELDS = {"uid": (108, 116), "gid": (116, 124), "mode": (100, 108), "mtime": (136, 148),
          "devmajor": (329, 337), "devminor": (337, 345)}  # fmt: skip


@pytest.mark.parametrize("field", list(FIELDS))
def test_a_tar_header_tarfile_cannot_parse_is_refused_not_taken_for_the_end(
    tmp_path: Path, field: str
) -> None:
    """Held by `install.conda_readers.TarHeaders.frombuf` (the vetting's tar reader). Before:
    tarfile listed share/a as "hello\\n" and stopped; rattler installed the next member,
    share/a again, as 46 other bytes."""
    info = tarfile.TarInfo(LISTED)
    info.size, info.mode = len(WHOLE), 0o644
    header = bytearray(tar_block(info))
    start, end = FIELDS[field]
    header[start:end] = b"zz" + b"\0" * (end - start - 2)
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    index = {"name": "sneaky", "version": "1.0", "build": "0", "build_number": 0, "depends": [],
             "subdir": "linux-64", "arch": "x86_64", "platform": "linux"}  # fmt: skip
    entry = {"_path": LISTED, "path_type": "hardlink", "sha256": hashlib.sha256(HONEST).hexdigest(),
             "size_in_bytes": len(HONEST)}  # fmt: skip
    tar = (
        plain_member("info/index.json", json.dumps(index).encode())
        + plain_member(
            "info/paths.json", json.dumps({"paths": [entry], "paths_version": 1}).encode()
        )
        + plain_member("info/files", f"{LISTED}\n".encode())
        + plain_member(LISTED, HONEST)
        + bytes(header)
        + padded(WHOLE)
    )
    path = tmp_path / "sneaky-1.0-0.tar.bz2"
    path.write_bytes(bz2.compress(_ended(tar)))
    with pytest.raises(InstallError) as caught:
        check_conda_packages([(path.name, path)])
    assert caught.value.where == path.name
    assert "tar header tarfile cannot read" in caught.value.message


# ---------------------------------------------------------------------------------------------
# tarfile steps past the data of a regular member only; the tar crate past every member's. A
# directory or link with a size field had tarfile read its data as headers: a zero block
# there ended the archive for tarfile alone, and rattler unpacked every member after it.


def _sized(kind: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo({"areg-slash": "share/d/"}.get(kind, "share/d"))
    info.size = 512
    if kind == "dir":
        info.type = tarfile.DIRTYPE
    elif kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, "a"
    elif kind == "hardlink":
        info.type, info.linkname = tarfile.LNKTYPE, LISTED
    else:  # an old-style regular header whose name ends in '/': a directory to tarfile
        info.type = tarfile.AREGTYPE
    return info


@pytest.mark.parametrize("kind", ["dir", "symlink", "hardlink", "areg-slash"])
def test_a_member_that_is_not_a_file_but_has_a_size_is_refused(tmp_path: Path, kind: str) -> None:
    """Held by `install.conda_readers.ambiguity`. Before: the vetting saw share/a as
    "hello\\n" and the archive end; rattler installed the later share/a, 46 other bytes."""
    index = {"name": "sneaky", "version": "1.0", "build": "0", "build_number": 0, "depends": [],
             "subdir": "linux-64", "arch": "x86_64", "platform": "linux"}  # fmt: skip
    entry = {"_path": LISTED, "path_type": "hardlink", "sha256": hashlib.sha256(HONEST).hexdigest(),
             "size_in_bytes": len(HONEST)}  # fmt: skip
    tar = (
        plain_member("info/index.json", json.dumps(index).encode())
        + plain_member(
            "info/paths.json", json.dumps({"paths": [entry], "paths_version": 1}).encode()
        )
        + plain_member("info/files", f"{LISTED}\n".encode())
        + plain_member(LISTED, HONEST)
        + tar_block(_sized(kind))
        + b"\0" * 512
        + plain_member(LISTED, WHOLE)
    )
    path = tmp_path / "sneaky-1.0-0.tar.bz2"
    path.write_bytes(bz2.compress(_ended(tar)))
    with pytest.raises(InstallError) as caught:
        check_conda_packages([(path.name, path)])
    assert caught.value.where == path.name
    assert "has a size" in caught.value.message


# ---------------------------------------------------------------------------------------------
# One PAX header read two ways: tarfile stops at a record it cannot parse and keeps the last
# of two records for one key; rattler's tar crate splits the records at line breaks and keeps
# the first. tarfile named the second member `x` or `share/zz`; rattler wrote it at share/a.

LOOSE_PAX = {
    "key-twice": b"16 path=share/a\n9 path=x\n",
    "garbage-first": b"garbage\n16 path=share/a\n",
    "length-past-a-line-break": b"17 path=share/a\nb\n",
}


@pytest.mark.parametrize("records", LOOSE_PAX.values(), ids=list(LOOSE_PAX))
def test_a_pax_header_whose_records_read_two_ways_is_refused(
    tmp_path: Path, records: bytes
) -> None:
    """Held by `install.conda_readers.ambiguity` over the records `TarHeaders` keeps. Before
    (key-twice, garbage-first): the vetting passed and rattler installed share/a as the 46
    bytes of a member tarfile had named otherwise."""
    index = {"name": "sneaky", "version": "1.0", "build": "0", "build_number": 0, "depends": [],
             "subdir": "linux-64", "arch": "x86_64", "platform": "linux"}  # fmt: skip
    entry = {"_path": LISTED, "path_type": "hardlink", "sha256": hashlib.sha256(HONEST).hexdigest(),
             "size_in_bytes": len(HONEST)}  # fmt: skip
    tar = (
        plain_member("info/index.json", json.dumps(index).encode())
        + plain_member(
            "info/paths.json", json.dumps({"paths": [entry], "paths_version": 1}).encode()
        )
        + plain_member("info/files", f"{LISTED}\n".encode())
        + plain_member(LISTED, HONEST)
        + extension_header(b"x", records)
        + plain_member("share/zz", WHOLE)
    )
    path = tmp_path / "sneaky-1.0-0.tar.bz2"
    path.write_bytes(bz2.compress(_ended(tar)))
    with pytest.raises(InstallError) as caught:
        check_conda_packages([(path.name, path)])
    assert caught.value.where == path.name
    assert "PAX extension header" in caught.value.message


def test_pax_headers_as_tarfile_writes_them_still_pass(tmp_path: Path) -> None:
    """Control: long names, link targets and non-ASCII names in PAX records, as Python's
    tarfile (PAX_FORMAT) writes them, pass."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        index = b'{"name": "plain", "version": "1.0", "build": "0"}'
        for name, data in [("info/index.json", index), ("share/" + "é" * 80, HONEST)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("share/" + "l" * 120)
        link.type, link.linkname = tarfile.SYMTYPE, "é" * 10
        archive.addfile(link)
    path = tmp_path / "plain-1.0-0.tar.bz2"
    path.write_bytes(bz2.compress(buffer.getvalue()))
    check_conda_packages([(path.name, path)])


# ---------------------------------------------------------------------------------------------
# Invariant 4 (mlenv replaces only what it wrote) and `add`'s "on any failure, write nothing":
# the output guard refused the lock only after `add` had written the edited manifest, and the
# error said "nothing was changed".


@pytest.mark.parametrize("shape", ["symlink", "dangling-symlink"])
def test_add_whose_lock_the_guard_refuses_leaves_the_manifest_untouched(
    tmp_path: Path, shape: str
) -> None:
    """Held by `commands.lock.apply_edit`, asking `Session.writable` (the guard
    `write_file` uses) for the lock before the manifest is written. Before: mlenv.toml
    gained `extra>=2` while mlenv.lock stayed as it was."""
    from tests.support.cli import run_mlenv
    from tests.support.wheels import build_wheel, write_simple_index

    wheels = [build_wheel("app", "1.0"), build_wheel("extra", "2.1")]
    url = write_simple_index(tmp_path / "index", wheels)
    root = tmp_path / "project"
    root.mkdir()
    manifest = root / "mlenv.toml"
    manifest.write_text(
        f'[environment]\nname = "t"\npython = "3.11"\n\n[pypi]\nindex-url = "{url}"\n'
        'dependencies = ["app"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["lock"], root, env).returncode == 0
    lock = root / "mlenv.lock"
    if shape == "symlink":
        lock.rename(tmp_path / "real.lock")
        lock.symlink_to(tmp_path / "real.lock")
    else:
        lock.unlink()
        lock.symlink_to(tmp_path / "nowhere.lock")
    before = manifest.read_bytes()
    result = run_mlenv(["add", "extra>=2"], root, env)
    assert result.returncode == 1, result.stderr
    assert "is a symlink" in result.stderr and "Traceback" not in result.stderr
    assert manifest.read_bytes() == before
    assert "wrote" not in result.stderr
