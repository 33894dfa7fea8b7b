"""Malicious wheels: each is refused naming the wheel and the member, and nothing is left behind."""

from __future__ import annotations

import hashlib
import stat
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from mlenv.install.ownership import PathClashError
from mlenv.install.safety import InstallError
from mlenv.install.wheels import install_environment
from mlenv.report import MemoryReporter
from tests.support.raw_wheels import (
    DIST_INFO,
    METADATA,
    WHEEL,
    Member,
    raw_wheel,
    record_hash,
)

pytestmark = pytest.mark.hostile


def _special(name: str, kind: int, data: bytes = b"") -> Member:
    info = zipfile.ZipInfo(name)
    info.external_attr = (kind | 0o777) << 16
    return info, data


def _refused(
    tmp_path: Path, wheels: Sequence[Path], member: str, **options: object
) -> InstallError | PathClashError:
    """Install must fail with InstallError naming the wheel and member, leaving nothing."""
    staging = tmp_path / "stage"
    arguments: dict[str, object] = {
        "prefix": "/opt/mlenv/t",
        "interpreter": "/usr/bin/python3.11",
        "python": "3.11",
        "reporter": MemoryReporter(),
    }
    arguments.update(options)
    with pytest.raises((InstallError, PathClashError)) as caught:
        install_environment(wheels, staging, **arguments)  # type: ignore[arg-type]
    error = caught.value
    assert isinstance(error, InstallError | PathClashError)
    assert member in str(error)
    assert any(wheel.name in str(error) for wheel in wheels)
    assert not staging.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(w.name for w in wheels)
    return error


def test_parent_directory_member(tmp_path: Path) -> None:
    wheel = raw_wheel(tmp_path, [("../../evil.py", b"boom")])
    assert "'..'" in str(_refused(tmp_path, [wheel], "../../evil.py"))


def test_parent_directory_inside_a_data_scheme(tmp_path: Path) -> None:
    member = "evil-1.0.data/purelib/../../../etc/cron.d/evil"
    _refused(tmp_path, [raw_wheel(tmp_path, [(member, b"* * * * * root sh")])], member)


def test_absolute_member(tmp_path: Path) -> None:
    wheel = raw_wheel(tmp_path, [("/etc/evil.conf", b"boom")])
    assert "absolute" in str(_refused(tmp_path, [wheel], "/etc/evil.conf"))


def test_entry_point_escaping_the_scripts_directory(tmp_path: Path) -> None:
    entry_points = b"[console_scripts]\n../../../etc/evil = os:getcwd\n"
    wheel = raw_wheel(tmp_path, [(f"{DIST_INFO}/entry_points.txt", entry_points)])
    _refused(tmp_path, [wheel], "entry_points.txt")


@pytest.mark.parametrize("target", ["bin/python", "pyvenv.cfg", "lib64/python3.11/x.py"])
def test_data_files_cannot_replace_or_reach_through_the_venv_layout(
    tmp_path: Path, target: str
) -> None:
    member = f"evil-1.0.data/data/{target}"
    error = _refused(tmp_path, [raw_wheel(tmp_path, [(member, b"#!/bin/sh\nrm -rf /\n")])], member)
    assert "venv layout" in str(error)


def test_member_named_like_the_data_directory(tmp_path: Path) -> None:
    """installer would loop forever looking for the scheme of this member."""
    member = "evil-1.0.data"
    assert "scheme directory" in str(
        _refused(tmp_path, [raw_wheel(tmp_path, [(member, b"")])], member)
    )


def test_symlink_member(tmp_path: Path) -> None:
    link = _special("evil/passwd", stat.S_IFLNK, b"../../../../etc/passwd")
    assert "symlink" in str(_refused(tmp_path, [raw_wheel(tmp_path, [link])], "evil/passwd"))


@pytest.mark.parametrize(
    ("kind", "word"), [(stat.S_IFCHR, "character device"), (stat.S_IFIFO, "FIFO")]
)
def test_device_and_fifo_members(tmp_path: Path, kind: int, word: str) -> None:
    wheel = raw_wheel(tmp_path, [_special("evil/node", kind)])
    assert word in str(_refused(tmp_path, [wheel], "evil/node"))


def test_member_aliasing_another_members_data(tmp_path: Path) -> None:
    """Zip has no hardlinks; its analogue, two entries sharing one local header, is refused."""
    wheel = raw_wheel(tmp_path, [("evil/a.py", b"same\n"), ("evil/b.py", b"same\n")])
    data = bytearray(wheel.read_bytes())
    first = data.index(b"PK\x01\x02")  # central directory entry of evil/a.py
    entry = data.index(b"PK\x01\x02", first + 4)  # and of evil/b.py
    assert data[entry + 46 : entry + 55] == b"evil/b.py"
    data[entry + 42 : entry + 46] = (0).to_bytes(4, "little")  # evil/a.py's local header
    wheel.write_bytes(bytes(data))
    _refused(tmp_path, [wheel], "evil/b.py")


def test_record_that_lies_about_a_hash(tmp_path: Path) -> None:
    good = b"print('safe')\n"
    record = (
        f"evil/__init__.py,{record_hash(good)},{len(good)}\n"
        f"{DIST_INFO}/METADATA,{record_hash(METADATA)},{len(METADATA)}\n"
        f"{DIST_INFO}/WHEEL,{record_hash(WHEEL)},{len(WHEEL)}\n"
        f"{DIST_INFO}/RECORD,,\n"
    )
    wheel = raw_wheel(tmp_path, [("evil/__init__.py", b"print('evil')\n")], record=record)
    assert "RECORD" in str(_refused(tmp_path, [wheel], "evil/__init__.py", jobs=1))


def test_record_that_lies_in_hex(tmp_path: Path) -> None:
    """Hex digests (gmsh writes them) are read as such, and must still match."""
    good = hashlib.sha256(b"print('safe')\n").hexdigest()
    record = (
        f"evil/__init__.py,sha256={good},14\n"
        f"{DIST_INFO}/METADATA,{record_hash(METADATA)},{len(METADATA)}\n"
        f"{DIST_INFO}/WHEEL,{record_hash(WHEEL)},{len(WHEEL)}\n"
        f"{DIST_INFO}/RECORD,,\n"
    )
    wheel = raw_wheel(tmp_path, [("evil/__init__.py", b"print('evil')\n")], record=record)
    _refused(tmp_path, [wheel], "evil/__init__.py")


def test_record_hashed_with_md5(tmp_path: Path) -> None:
    data = b"x = 1\n"
    record = (
        f"evil/__init__.py,md5={hashlib.md5(data).hexdigest()},{len(data)}\n"
        f"{DIST_INFO}/METADATA,{record_hash(METADATA)},{len(METADATA)}\n"
        f"{DIST_INFO}/WHEEL,{record_hash(WHEEL)},{len(WHEEL)}\n"
        f"{DIST_INFO}/RECORD,,\n"
    )
    wheel = raw_wheel(tmp_path, [("evil/__init__.py", data)], record=record)
    assert "md5" in str(_refused(tmp_path, [wheel], "evil/__init__.py"))


def test_record_that_lies_about_a_rewritten_script(tmp_path: Path) -> None:
    """Scripts get a new shebang, so their check re-reads the member from the archive."""
    member, promised = "evil-1.0.data/scripts/tool", b"#!python\nprint(1)\n"
    record = (
        f"{member},{record_hash(promised)},{len(promised)}\n"
        f"{DIST_INFO}/METADATA,{record_hash(METADATA)},{len(METADATA)}\n"
        f"{DIST_INFO}/WHEEL,{record_hash(WHEEL)},{len(WHEEL)}\n"
        f"{DIST_INFO}/RECORD,,\n"
    )
    wheel = raw_wheel(tmp_path, [(member, b"#!python\nprint(2)\n")], record=record)
    _refused(tmp_path, [wheel], member)


def test_record_that_lies_about_a_size(tmp_path: Path) -> None:
    data = b"x = 1\n"
    record = (
        f"evil/__init__.py,{record_hash(data)},{len(data) + 1}\n"
        f"{DIST_INFO}/METADATA,{record_hash(METADATA)},{len(METADATA)}\n"
        f"{DIST_INFO}/WHEEL,{record_hash(WHEEL)},{len(WHEEL)}\n"
        f"{DIST_INFO}/RECORD,,\n"
    )
    wheel = raw_wheel(tmp_path, [("evil/__init__.py", data)], record=record)
    _refused(tmp_path, [wheel], "evil/__init__.py")


def test_member_missing_from_record(tmp_path: Path) -> None:
    record = (
        f"{DIST_INFO}/METADATA,{record_hash(METADATA)},{len(METADATA)}\n"
        f"{DIST_INFO}/WHEEL,{record_hash(WHEEL)},{len(WHEEL)}\n"
        f"{DIST_INFO}/RECORD,,\n"
    )
    wheel = raw_wheel(tmp_path, [("evil/hidden.py", b"import os\n")], record=record)
    _refused(tmp_path, [wheel], "evil/hidden.py")


@pytest.mark.parametrize(
    ("dist_info", "metadata"),
    [
        ("numpy-1.0.dist-info", METADATA),
        ("evil-6.6.dist-info", METADATA),
        (DIST_INFO, b"Metadata-Version: 2.1\nName: numpy\nVersion: 1.0\n\n"),
        (DIST_INFO, b"Metadata-Version: 2.1\nName: evil\nVersion: 2.0\n\n"),
    ],
)
def test_dist_info_for_another_package(tmp_path: Path, dist_info: str, metadata: bytes) -> None:
    wheel = raw_wheel(tmp_path, [("evil/__init__.py", b"")], dist_info=dist_info, metadata=metadata)
    member = dist_info if metadata == METADATA else f"{dist_info}/METADATA"
    _refused(tmp_path, [wheel], member)


def test_two_dist_info_directories(tmp_path: Path) -> None:
    other = "numpy-2.0.dist-info/METADATA"
    wheel = raw_wheel(tmp_path, [(other, b"Name: numpy\nVersion: 2.0\n\n")])
    _refused(tmp_path, [wheel], "numpy-2.0.dist-info")


def test_duplicate_entries(tmp_path: Path) -> None:
    members = [("evil/__init__.py", b"safe = True\n"), ("evil/__init__.py", b"safe = False\n")]
    error = _refused(tmp_path, [raw_wheel(tmp_path, members)], "evil/__init__.py")
    assert "twice" in str(error)


def test_names_differing_only_in_case_in_one_wheel(tmp_path: Path) -> None:
    members = [("evil/README.txt", b"a"), ("evil/readme.txt", b"b")]
    error = _refused(tmp_path, [raw_wheel(tmp_path, members)], "evil/readme.txt")
    assert "case" in str(error)


def test_directories_differing_only_in_case_across_wheels(tmp_path: Path) -> None:
    first = raw_wheel(tmp_path, [("Shared/a.py", b"")])
    second = raw_wheel(
        tmp_path,
        [("shared/b.py", b"")],
        filename="other-1.0-py3-none-any.whl",
        dist_info="other-1.0.dist-info",
        metadata=b"Metadata-Version: 2.1\nName: other\nVersion: 1.0\n\n",
    )
    error = _refused(tmp_path, [second, first], "shared/b.py")
    assert "Shared" in str(error) and first.name in str(error)


def test_component_over_255_bytes(tmp_path: Path) -> None:
    member = f"evil/{'é' * 128}.py"  # 256 bytes in UTF-8, 128 characters
    assert "255" in str(_refused(tmp_path, [raw_wheel(tmp_path, [(member, b"")])], member))


def test_path_over_4096_bytes(tmp_path: Path) -> None:
    member = "/".join(["evil", *["d" * 250] * 17, "x.py"])
    wheel = raw_wheel(tmp_path, [(member, b"")])
    error = str(_refused(tmp_path, [wheel], member[:150]))  # an echoed value is shown cut
    assert ("4096" in error and f"({len(member) + 2:,} characters)" not in error) or "4096" in error


def test_zip_bomb_by_total_size(tmp_path: Path) -> None:
    members = [(f"evil/part{i}.bin", bytes(range(256)) * 64) for i in range(4)]
    error = _refused(tmp_path, [raw_wheel(tmp_path, members)], "evil/part", max_wheel_bytes=50_000)
    assert "50000" in str(error)


def test_zip_bomb_by_ratio(tmp_path: Path) -> None:
    wheel = raw_wheel(tmp_path, [("evil/zeros.bin", bytes(20 << 20))])
    error = _refused(tmp_path, [wheel], "evil/zeros.bin")
    assert "ratio" in str(error) and "200" in str(error)


def test_encrypted_member(tmp_path: Path) -> None:
    wheel = raw_wheel(tmp_path, [("evil/secret.py", b"")])
    data = bytearray(wheel.read_bytes())
    data[6] |= 0x1  # the first local header's flags: evil/secret.py
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x1  # and its central directory entry
    wheel.write_bytes(bytes(data))
    assert "encrypted" in str(_refused(tmp_path, [wheel], "evil/secret.py"))


def _other(tmp_path: Path, members: Sequence[Member]) -> Path:
    return raw_wheel(
        tmp_path,
        members,
        filename="other-1.0-py3-none-any.whl",
        dist_info="other-1.0.dist-info",
        metadata=b"Metadata-Version: 2.1\nName: other\nVersion: 1.0\n\n",
    )


def test_two_wheels_writing_one_path_are_refused_whatever_the_order(tmp_path: Path) -> None:
    evil = raw_wheel(tmp_path, [("six.py", b"evil = True\n")])
    other = _other(tmp_path, [("six.py", b"evil = False\n")])
    first = _refused(tmp_path, [evil, other], "six.py")
    second = _refused(tmp_path, [other, evil], "six.py")
    assert str(first) == str(second)
    assert evil.name in str(first) and other.name in str(first)
    assert "keep only one" in str(first)


def test_a_file_where_another_wheel_needs_a_directory(tmp_path: Path) -> None:
    evil = raw_wheel(tmp_path, [("shared", b"i am a file\n")])
    other = _other(tmp_path, [("shared/__init__.py", b"")])
    error = _refused(tmp_path, [other, evil], "shared")
    assert evil.name in str(error) and other.name in str(error)


def test_a_second_wheel_for_one_distribution(tmp_path: Path) -> None:
    first = raw_wheel(tmp_path, [("evil/__init__.py", b"")])
    second = raw_wheel(
        tmp_path,
        [("evil/__init__.py", b"")],
        filename="evil-2.0-py3-none-any.whl",
        dist_info="evil-2.0.dist-info",
        metadata=b"Metadata-Version: 2.1\nName: evil\nVersion: 2.0\n\n",
    )
    error = _refused(tmp_path, [second, first], "evil-1.0")
    assert "second wheel" in str(error)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("evil/\x1b]0;pwned\x07.py", "control or format character"),
        ("evil/\u202eyp.exe", "control or format character"),
        ("evil/zero\u200bwidth.py", "control or format character"),
        ("evil/a\rb.py", "invalid row"),  # RECORD's CSV cannot even hold it
        ("evil/x\u2028y", "invalid row"),
        ("e\x00", "no hash and size"),  # zip names end at NUL: not the name RECORD lists
    ],
)
def test_a_member_named_with_a_control_or_format_character(
    tmp_path: Path, name: str, why: str
) -> None:
    """An escape in an installed name reaches every `ls` and log of the image; a bidi override
    shows another name than the one written."""
    wheel = raw_wheel(tmp_path, [(name, b"x = 1\n")])
    assert why in str(_refused(tmp_path, [wheel], name.split("/")[0].split("\x00")[0]))


@pytest.mark.parametrize("script", ["\x1b[2Jclear", "tool\u200b", "a\tb"])
def test_an_entry_point_named_with_a_control_or_format_character(
    tmp_path: Path, script: str
) -> None:
    entry_points = f"[console_scripts]\n{script} = os:getcwd\n".encode()
    wheel = raw_wheel(tmp_path, [(f"{DIST_INFO}/entry_points.txt", entry_points)])
    assert "control or format character" in str(_refused(tmp_path, [wheel], "entry_points.txt"))


def test_a_data_file_named_with_a_control_character(tmp_path: Path) -> None:
    member = "evil-1.0.data/data/share/\x1b[31mred"
    wheel = raw_wheel(tmp_path, [(member, b"x")])
    assert "control or format character" in str(_refused(tmp_path, [wheel], "evil-1.0.data"))
