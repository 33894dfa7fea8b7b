"""Malicious conda packages: each is refused naming the package and the member, before rattler
unpacks anything (rattler itself installs some of these, and panics on others)."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from mlenv.conda.install import install as install_conda
from mlenv.conda.solve import from_repodata
from mlenv.conda.worker import CondaWorkerError
from mlenv.errors import MlenvError
from mlenv.install.conda_packages import check_conda_packages
from mlenv.install.ownership import PathClashError
from mlenv.install.safety import InstallError
from mlenv.report import MemoryReporter
from tests.support.conda_channel import PackageFormat, build_conda_package, repodata_record

pytestmark = pytest.mark.hostile

FORMATS: list[PackageFormat] = ["tar.bz2", "conda"]


def _raw(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", data: bytes = b"") -> Any:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data)
    return info, data


def _paths_json(*paths: str) -> bytes:
    return json.dumps({"paths": [{"_path": p, "path_type": "hardlink"} for p in paths]}).encode()


# (test id, build_conda_package arguments, the member named, a word of the reason)
ATTACKS: list[tuple[str, dict[str, Any], str, str]] = [
    ("parent-member", {"files": {"../../escape.sh": b"x"}}, "../../escape.sh", "'..'"),
    ("absolute-member", {"files": {"/etc/cron.d/evil": b"x"}}, "/etc/cron.d/evil", "absolute"),
    (
        "parent-in-paths-json",
        {"files": {"lib/ok": b"x", "info/paths.json": _paths_json("../../etc/evil")}},
        "info/paths.json",
        "'..'",
    ),
    (
        "absolute-in-paths-json",
        {"files": {"lib/ok": b"x", "info/paths.json": _paths_json("/etc/evil")}},
        "info/paths.json",
        "absolute",
    ),
    ("symlink-absolute", {"symlinks": {"lib/passwd": "/etc/passwd"}}, "lib/passwd", "absolute"),
    ("symlink-climbing-out", {"symlinks": {"lib/up": "../../etc"}}, "lib/up", "leave the prefix"),
    (
        "symlink-climbing-after-descending",
        {"symlinks": {"lib/up": "../lib/../.."}},
        "lib/up",
        "leave the prefix",
    ),
    (
        "written-through-a-symlink",
        {"symlinks": {"lib/dir": "../share"}, "files": {"lib/dir/pwned": b"x"}},
        "lib/dir/pwned",
        "through the symlink",
    ),
    (
        "hardlink-out",
        {"raw": [_raw("lib/hl", tarfile.LNKTYPE, "../../etc/shadow")]},
        "lib/hl",
        "hardlink",
    ),
    (
        "hardlink-absolute",
        {"raw": [_raw("lib/hl", tarfile.LNKTYPE, "/etc/shadow")]},
        "lib/hl",
        "hardlink",
    ),
    (
        "character-device",
        {"raw": [_raw("lib/null", tarfile.CHRTYPE)]},
        "lib/null",
        "character device",
    ),
    ("fifo", {"raw": [_raw("lib/pipe", tarfile.FIFOTYPE)]}, "lib/pipe", "FIFO"),
    (
        "duplicate-entry",
        {"files": {"lib/ok.py": b"safe = True\n"}, "raw": [_raw("lib/ok.py", data=b"safe = 0\n")]},
        "lib/ok.py",
        "twice",
    ),
    ("component-over-255-bytes", {"raw": [_raw(f"lib/{'é' * 128}")]}, "lib/", "255"),
    ("path-over-4096-bytes", {"raw": [_raw("/".join(["lib", *["d" * 250] * 17]))]}, "lib/", "4096"),
]


def _package(tmp_path: Path, fmt: PackageFormat, **arguments: Any) -> tuple[str, Path]:
    filename, data = build_conda_package("evil", "1.0", "0", fmt=fmt, **arguments)
    path = tmp_path / filename
    path.write_bytes(data)
    return filename, path


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("arguments", "member", "word"),
    [pytest.param(a, m, w, id=i) for i, a, m, w in ATTACKS],
)
def test_attack_is_refused(
    tmp_path: Path, fmt: PackageFormat, arguments: dict[str, Any], member: str, word: str
) -> None:
    filename, path = _package(tmp_path, fmt, **arguments)
    with pytest.raises((InstallError, PathClashError)) as caught:
        check_conda_packages([(filename, path)])
    assert caught.value.where == filename
    assert f"member '{member}" in caught.value.message and word in caught.value.message


@pytest.mark.parametrize("fmt", FORMATS)
def test_bomb_by_size(tmp_path: Path, fmt: PackageFormat) -> None:
    filename, path = _package(tmp_path, fmt, files={"lib/blob": bytes(range(256)) * 4096})
    with pytest.raises(InstallError, match="past 500000 uncompressed bytes"):
        check_conda_packages([(filename, path)], max_bytes=500_000)


@pytest.mark.parametrize("fmt", FORMATS)
def test_bomb_by_ratio(tmp_path: Path, fmt: PackageFormat) -> None:
    filename, path = _package(tmp_path, fmt, files={"lib/zeros": bytes(4 << 20)})
    with pytest.raises(InstallError, match=r"member 'lib/zeros' .* ratio over 200"):
        check_conda_packages([(filename, path)])


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_well_formed_package_passes(tmp_path: Path, fmt: PackageFormat) -> None:
    """Relative symlinks inside the prefix, hardlinks to earlier files and names equal under
    case folding (ncurses' terminfo/E and terminfo/e) are what real packages hold."""
    filename, path = _package(
        tmp_path,
        fmt,
        files={"lib/libz.so.1.3": b"\x7fELF", "share/terminfo/E/x": b"", "share/terminfo/e/x": b""},
        symlinks={"lib/libz.so": "libz.so.1.3", "bin/z": "../lib/./libz.so"},
        raw=[_raw("lib/libz.so.1", tarfile.LNKTYPE, "lib/libz.so.1.3")],
    )
    check_conda_packages([(filename, path)])


def test_a_member_below_another_packages_symlink_is_refused(tmp_path: Path) -> None:
    """Each package alone is fine; installed together, one writes through the other's link
    (and a chain of such links could climb out of the prefix), whatever their order."""
    linking = _package(tmp_path, "tar.bz2", symlinks={"lib/d": "../share"})
    name, data = build_conda_package("other", "1.0", "0", files={"lib/d/evil": b"x"}, fmt="conda")
    (tmp_path / name).write_bytes(data)
    writing = (name, tmp_path / name)
    for packages in ([linking, writing], [writing, linking]):
        with pytest.raises(PathClashError) as caught:
            check_conda_packages(packages)
        assert caught.value.where == name
        expected = (
            f"member 'lib/d/evil' would be written through the symlink 'lib/d' of {linking[0]}"
        )
        assert expected in caught.value.message


def test_garbage_is_refused_as_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "evil-1.0-0.tar.bz2"
    path.write_bytes(b"BZh91AY&SY" + bytes(100))
    with pytest.raises(InstallError, match="cannot be read as a conda package"):
        check_conda_packages([(path.name, path)])


@pytest.mark.parametrize(
    ("arguments", "member"),
    [
        pytest.param({"files": {"/tmp/evil": b"x"}}, "/tmp/evil", id="absolute-member"),
        pytest.param({"files": {"../escape": b"x"}}, "../escape", id="parent-member"),
        pytest.param({"symlinks": {"lib/passwd": "/etc/passwd"}}, "lib/passwd", id="symlink"),
        pytest.param({"raw": [_raw("lib/null", tarfile.CHRTYPE)]}, "lib/null", id="device"),
    ],
)
def test_conda_install_refuses_before_rattler_writes_anything(
    tmp_path: Path, arguments: dict[str, Any], member: str
) -> None:
    """Through ``mlenv.conda`` install, as ``mlenv build`` runs it: today rattler panics on the
    first (an internal error), half-installs the second and installs the last two."""
    filename, path = _package(tmp_path, "tar.bz2", **arguments)
    data = path.read_bytes()
    record = from_repodata(
        repodata_record(filename, data),
        channel="file:///channel",
        filename=filename,
        url=f"file:///channel/linux-64/{filename}",
    )
    staging = tmp_path / "build" / "staging"
    with pytest.raises((MlenvError, CondaWorkerError)) as caught:
        install_conda(
            [record],
            {hashlib.sha256(data).hexdigest(): path},
            staging,
            target_prefix="/opt/mlenv/evil",
            platform="linux-64",
            reporter=MemoryReporter(),
        )
    assert isinstance(caught.value, MlenvError), caught.value
    assert member in str(caught.value) and filename in str(caught.value)
    assert not staging.exists()
