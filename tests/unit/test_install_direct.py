"""A wheel's big members are written around the page cache (``mlenv.direct.BIG``), and read
back the same way by the layer and archive writers. That path must give the tree installer's
own writer gives, byte for byte and mode for mode, and really keep the bulk out of memory
(``fincore`` from util-linux says what is resident)."""

from __future__ import annotations

import os
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from mlenv.conda.pack import prefix_files
from mlenv.direct import BIG
from mlenv.install import ports
from mlenv.install.safety import InstallError
from mlenv.install.wheels import install_environment
from mlenv.report import MemoryReporter
from tests.support.wheels import build_wheel, mark_executable

SITE = "lib/python3.11/site-packages"
SIZES = {"big/exact.bin": BIG, "big/odd.bin": BIG + 4097, "big/tool": 2 * BIG + 1}
SMALL = {"big/__init__.py": b"", "big/small.bin": b"s" * (BIG - 1)}


def _wheel(directory: Path) -> Path:
    """A wheel with members at and over BIG (one of them executable) and one just under."""
    files = {name: os.urandom(size) for name, size in SIZES.items()} | SMALL
    name, data = build_wheel("big", "1.0", files=files)
    directory.mkdir(parents=True)
    (directory / name).write_bytes(mark_executable(data, "big/tool"))
    return directory / name


def _install(wheel: Path, staging: Path) -> None:
    install_environment(
        [wheel],
        staging,
        prefix="/opt/mlenv/t",
        interpreter="/usr/bin/python3.11",
        python="3.11",
        reporter=MemoryReporter(),
    )


def _tree(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        p.relative_to(root).as_posix(): (stat.S_IMODE(p.lstat().st_mode), p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _resident(path: Path) -> int:
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip())


def test_big_members_give_the_tree_installers_writer_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects: the same bytes, modes (an executable big member stays 0755) and RECORD as
    with every member written through the page cache."""
    wheel = _wheel(tmp_path / "wheels")
    _install(wheel, tmp_path / "direct")
    monkeypatch.setattr(ports, "BIG", 1 << 62)
    _install(wheel, tmp_path / "cached")
    direct, cached = _tree(tmp_path / "direct"), _tree(tmp_path / "cached")
    assert direct == cached
    assert direct[f"{SITE}/big/tool"][0] == 0o755
    assert direct[f"{SITE}/big/odd.bin"][0] == 0o644


def test_big_members_are_not_left_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects the point of it: a big member's pages are not cached once written (at most
    its tail, written plainly), while one just under BIG, and every member with the old
    writer, is."""
    wheel = _wheel(tmp_path / "wheels")
    site = tmp_path / "direct" / SITE
    _install(wheel, tmp_path / "direct")
    for name, size in SIZES.items():
        assert _resident(site / name) <= size % 4096 + 4095, name
    assert _resident(site / "big/small.bin") >= BIG - 4096
    monkeypatch.setattr(ports, "BIG", 1 << 62)
    _install(wheel, tmp_path / "cached")
    assert _resident(tmp_path / "cached" / SITE / "big/exact.bin") >= BIG - 4096


@pytest.mark.parametrize("where", [0, 1, 2, 3])
def test_a_corrupt_big_member_fails_the_wheel_and_leaves_no_tree(
    tmp_path: Path, where: int
) -> None:
    """Protects the members written beside their wheel: a big member whose deflate data is
    changed (no deflate stream, or other bytes than RECORD's) is the wheel's error (named),
    and nothing of the tree is left."""
    wheel = _wheel(tmp_path / "wheels")
    data = bytearray(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo("big/odd.bin")
    data[info.header_offset + 30 + len(info.filename) + info.compress_size * where // 4] ^= 0xFF
    wheel.write_bytes(bytes(data))
    with pytest.raises(InstallError, match=r"cannot be installed|does not match") as raised:
        _install(wheel, tmp_path / "stage")
    assert raised.value.where == wheel.name
    assert not (tmp_path / "stage").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["wheels"]


def test_what_the_installer_found_is_what_a_full_scan_finds(tmp_path: Path) -> None:
    """Protects the conda-unpack listing built from the installer's scan of its big files: the
    same files and kinds as reading the whole tree, with the prefix in a big text file, in a
    big binary, across the installer's read size, and in a small file (read as before)."""
    prefix = "/opt/mlenv/t"
    text = b"x" * (BIG + 100) + prefix.encode() + b"\n"
    across = bytearray(os.urandom(2 * BIG))
    across[BIG - 4 : BIG - 4 + len(prefix)] = prefix.encode()
    files = {
        "big/config.txt": text,
        "big/lib.so": bytes(across),
        "big/plain.bin": b"\0" * (BIG + 1),
        "big/small.txt": prefix.encode(),
        "big/__init__.py": b"",
    }
    name, data = build_wheel("big", "1.0", files=files)
    (tmp_path / name).write_bytes(data)
    result = install_environment(
        [tmp_path / name], tmp_path / "stage", prefix=prefix,
        interpreter="/usr/bin/python3.11", python="3.11", reporter=MemoryReporter(),
    )  # fmt: skip
    scanned = dict(result.scanned)
    assert scanned == {
        f"{SITE}/big/config.txt": "text",
        f"{SITE}/big/lib.so": "binary",
        f"{SITE}/big/plain.bin": None,
    }
    listed = prefix_files(tmp_path / "stage", prefix, scanned)
    assert listed == prefix_files(tmp_path / "stage", prefix)
    assert (f"{SITE}/big/small.txt", "text") in listed
    streamed = install_environment(
        [tmp_path / name], tmp_path / "stage2", prefix=prefix, interpreter="/usr/bin/python3.11",
        python="3.11", reporter=MemoryReporter(), big="stream",
    )  # fmt: skip
    assert streamed.scanned == ()  # an OCI-only build: nothing claimed, so nothing trusted
    assert {m.target for m in streamed.streamed} == {
        f"{SITE}/big/config.txt", f"{SITE}/big/lib.so", f"{SITE}/big/plain.bin"
    }  # fmt: skip
