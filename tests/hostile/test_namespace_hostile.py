"""One package, one namespace: wheels, conda packages and the conda-pack archive each meet
``mlenv.install.ownership.PathLedger.claim``, whatever shape the clash takes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mlenv.conda.pack import write_pack
from mlenv.install.conda_packages import check_conda_packages
from mlenv.install.ownership import PathClashError
from mlenv.install.wheels import install_environment
from mlenv.report import MemoryReporter
from tests.support.conda_channel import build_conda_package
from tests.support.fetch_project import build_refusal
from tests.support.installs import install_test_wheels
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.hostile

SITE = "lib/python3.11/site-packages"


def _write(directory: Path, wheel: tuple[str, bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / wheel[0]
    path.write_bytes(wheel[1])
    return path


def _refused(tmp_path: Path, wheels: list[tuple[str, bytes]], onto: Path | None = None) -> str:
    """Install must raise PathClashError naming a wheel, and leave no tree behind."""
    paths = [_write(tmp_path / "wheels", wheel) for wheel in wheels]
    staging = tmp_path / "stage"
    with pytest.raises(PathClashError) as caught:
        install_test_wheels(paths, staging, onto)
    assert caught.value.where in [wheel[0] for wheel in wheels]
    assert not staging.exists()
    return caught.value.message


@pytest.mark.parametrize(
    "member",
    [
        "evil-1.0.data/purelib/numpy-1.0.dist-info/METADATA",
        "evil-1.0.data/platlib/numpy-1.0.dist-info/RECORD",
        f"evil-1.0.data/data/{SITE}/numpy-1.0.dist-info/METADATA",
        "evil-1.0.data/data/numpy-1.0.dist-info/METADATA",
        "evil-1.0.data/data/lib/python3.11/numpy-1.0.dist-info/METADATA",
        "evil-1.0.data/scripts/numpy-1.0.dist-info",
        "evil-1.0.data/headers/numpy-1.0.dist-info/x.h",
        "setuptools/_vendor/numpy-1.0.dist-info/METADATA",
        "numpy/numpy-1.0.dist-info/METADATA",
        "NUMPY-1.0.DIST-INFO/METADATA",
        "numpy-1.0.dist-info./METADATA",
        "numpy-1.0.dist-info /METADATA",
        "numpy-1.0\uff0edist-info/METADATA",
        "numpy-1.0.Dist\u200b-Info/METADATA",
        "numpy-1.0-py3.11.egg-info",
        "numpy.egg-info/PKG-INFO",
        "evil-1.0.data/purelib/evil-1.0.dist-info/entry_points.txt",
    ],
)
def test_a_wheel_creates_no_metadata_but_its_own(tmp_path: Path, member: str) -> None:
    """Protects importlib.metadata's view: no wheel makes another distribution look installed,
    through any scheme, nested, or in any spelling importlib.metadata or a file system folds."""
    message = _refused(tmp_path, [build_wheel("evil", "1.0", files={member: b"Name: numpy\n"})])
    assert repr(member) in message
    assert "metadata" in message or "would overwrite" in message


def test_setuptools_vendored_metadata_installs(tmp_path: Path) -> None:
    """setuptools ships _vendor/*.dist-info: nested metadata is allowed in its own package."""
    files = {"setuptools/_vendor/zipp-3.0.dist-info/METADATA": b"Name: zipp\n"}
    wheel = _write(tmp_path / "wheels", build_wheel("setuptools", "80.0", files=files))
    staging = tmp_path / "stage"
    install_environment([wheel], staging, prefix="/opt/mlenv/t",
                        interpreter="/usr/bin/python3.11", python="3.11",
                        reporter=MemoryReporter())  # fmt: skip
    assert (staging / SITE / "setuptools/_vendor/zipp-3.0.dist-info/METADATA").is_file()


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("evil/stra\u00dfe.py", "evil/strasse.py"),
        ("evil/\u212a.py", "evil/K.py"),
        ("evil/\uff41.py", "evil/a.py"),
        ("evil/e\u0301.py", "evil/\u00e9.py"),
        ("evil/ab.py", "evil/a\u200bb.py"),
        ("evil/a.py", "evil/a.py."),
    ],
)
def test_unicode_twins_are_refused_in_one_wheel_and_across_wheels(
    tmp_path: Path, one: str, other: str
) -> None:
    """Protects one file per path on case-insensitive or normalising storage."""
    message = _refused(
        tmp_path / "one", [build_wheel("evil", "1.0", files={one: b"1", other: b"2"})]
    )
    assert "Unicode form" in message
    first = build_wheel("evil", "1.0", files={one: b"1"})
    second = build_wheel("other", "1.0", files={other: b"2"})
    assert "Unicode form" in _refused(tmp_path / "two", [second, first])


@pytest.mark.parametrize(
    "script", ["conda-unpack", "python", "python3.12", "activate", "Activate.ps1", "pyvenv.cfg"]
)
def test_an_entry_point_cannot_take_a_name_mlenv_writes(tmp_path: Path, script: str) -> None:
    """Protects conda-unpack and the venv layout from a console script of the same name."""
    wheel = build_wheel("evil", "1.0", entry_points=f"[console_scripts]\n{script} = os:getcwd\n")
    message = _refused(tmp_path, [wheel])
    assert "entry_points.txt" in message
    assert "mlenv keeps" in message or "would overwrite" in message


def _conda_tree(root: Path) -> Path:
    """A conda prefix: python's tree, rattler's records, and an in-prefix directory link."""
    for name in (f"{SITE}/conda_pkg.py", "conda-meta/python-3.11.json", "share/real/x"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    (root / "bin").mkdir()
    (root / SITE / "linked").symlink_to("../../../share/real")
    return root


@pytest.mark.parametrize(
    ("member", "word"),
    [
        ("evil-1.0.data/data/pyvenv.cfg", "mlenv keeps"),  # would turn the prefix into a venv
        ("evil-1.0.data/data/bin/pyvenv.cfg", "mlenv keeps"),
        ("evil-1.0.data/data/conda-meta/numpy-9.0-0.json", "mlenv keeps"),
        ("evil-1.0.data/data/conda-meta/python-3.11.json", "would overwrite"),
        ("evil-1.0.data/data/bin/conda-unpack", "mlenv keeps"),
        ("linked/pwned.py", "through the symlink"),
        (f"evil-1.0.data/data/{SITE}/conda_pkg.py/x", "needs a directory"),
    ],
)
def test_a_wheel_onto_a_conda_prefix_replaces_nothing(
    tmp_path: Path, member: str, word: str
) -> None:
    """Protects conda's files, rattler's records and conda's links from a wheel on top."""
    wheel = build_wheel("evil", "1.0", files={member: b"x"})
    message = _refused(tmp_path, [wheel], onto=_conda_tree(tmp_path / "conda"))
    assert word in message


def test_a_wheel_for_a_distribution_conda_installed_is_refused(tmp_path: Path) -> None:
    """pip's numpy over conda's: two metadata directories for one distribution."""
    tree = _conda_tree(tmp_path / "conda")
    (tree / SITE / "numpy-1.26.4.dist-info").mkdir()
    (tree / SITE / "numpy-1.26.4.dist-info/METADATA").write_text("Name: numpy\n")
    numpy = build_wheel("numpy", "2.0", files={"numpy_extra.py": b""})
    assert "second metadata directory for numpy" in _refused(tmp_path, [numpy], onto=tree)


@pytest.mark.parametrize("path", ["bin/conda-unpack", "bin/CONDA-UNPACK"])
def test_a_conda_prefix_holding_a_name_mlenv_keeps_is_refused(tmp_path: Path, path: str) -> None:
    """A noarch package's entry point or relocated file is no tar member: the prefix rattler
    made is judged too, before any wheel is written."""
    tree = _conda_tree(tmp_path / "conda")
    (tree / path).write_text("#!/bin/sh\n")
    wheel = _write(tmp_path / "wheels", build_wheel("ok", "1.0", files={"ok.py": b""}))
    with pytest.raises(PathClashError, match="mlenv keeps") as caught:
        install_environment([wheel], tmp_path / "stage", prefix="/opt/mlenv/t",
                            interpreter="/opt/mlenv/t/bin/python", python="3.11",
                            reporter=MemoryReporter(), onto=tree)  # fmt: skip
    assert caught.value.where == "the conda environment"


def _package(tmp_path: Path, name: str, **arguments: object) -> tuple[str, Path]:
    filename, data = build_conda_package(name, "1.0", "0", **arguments)  # type: ignore[arg-type]
    path = tmp_path / filename
    path.write_bytes(data)
    return filename, path


@pytest.mark.parametrize(
    "files",
    [
        {"conda-meta/numpy-9.0-0.json": b"{}"},
        {"bin/conda-unpack": b"#!/bin/sh\n"},
        {"Conda-Meta/history": b""},
    ],
)
def test_a_conda_package_cannot_write_what_mlenv_or_rattler_write(
    tmp_path: Path, files: dict[str, bytes]
) -> None:
    """Protects rattler's records and conda-unpack from a package's own files."""
    package = _package(tmp_path, "evil", files=files)
    with pytest.raises(PathClashError, match="mlenv keeps"):
        check_conda_packages([package])


def test_conda_packages_share_a_path_only_with_the_same_bytes(tmp_path: Path) -> None:
    """Two packages, one path: identical bytes are one file, different bytes a clash."""
    same = [_package(tmp_path, n, files={"lib/common.txt": b"same"}) for n in ("a", "b")]
    check_conda_packages(same)
    other = _package(tmp_path, "c", files={"lib/common.txt": b"different"})
    with pytest.raises(PathClashError, match=r"would overwrite 'lib/common\.txt'"):
        check_conda_packages([*same, other])


def test_conda_packages_share_a_symlink_only_with_the_same_target(tmp_path: Path) -> None:
    """Two packages linking one path to one target agree; to different targets, they clash."""
    same = [_package(tmp_path, n, symlinks={"lib/libx.so": "libx.so.1"}) for n in ("a", "b")]
    check_conda_packages(same)
    other = _package(tmp_path, "c", symlinks={"lib/libx.so": "libx.so.2"})
    with pytest.raises(PathClashError, match=r"would overwrite 'lib/libx\.so'"):
        check_conda_packages([*same, other])


def test_a_conda_file_where_another_package_has_a_directory_is_refused(tmp_path: Path) -> None:
    """Protects the tree from a file and a directory at one path, whatever the order."""
    directory = _package(tmp_path, "a", files={"lib/thing/x.so": b"x"})
    file = _package(tmp_path, "b", files={"lib/thing": b"x"})
    for packages in ([directory, file], [file, directory]):
        with pytest.raises(PathClashError, match="'lib/thing'"):
            check_conda_packages(packages)


@pytest.mark.parametrize("shape", ["file", "directory", "bin-symlink", "bin-file"])
def test_the_archive_never_replaces_or_writes_through_the_tree(tmp_path: Path, shape: str) -> None:
    """Protects the conda-pack archive: bin/conda-unpack is mlenv's, never one of two
    entries at one path, never below a file or a symlink."""
    staging = tmp_path / "tree"
    (staging / "share").mkdir(parents=True)
    if shape == "file":
        (staging / "bin").mkdir()
        (staging / "bin/conda-unpack").write_text("#!/bin/sh\nevil\n")
    elif shape == "directory":
        (staging / "bin/conda-unpack").mkdir(parents=True)
    elif shape == "bin-symlink":
        (staging / "bin").symlink_to("share")
    else:
        (staging / "bin").write_text("")
    with pytest.raises(PathClashError, match="bin"):
        write_pack(staging, "/opt/mlenv/t", io.BytesIO(), compression="none", mtime=0)


@pytest.mark.parametrize(
    ("files", "entry_points", "word"),
    [
        ({"evil-1.0.data/purelib/numpy-1.0.dist-info/METADATA": b"Name: numpy\n"}, None,
         "distribution metadata"),
        ({}, "[console_scripts]\nconda-unpack = os:getcwd\n", "mlenv keeps"),
        ({"evil/stra\u00dfe.py": b"1", "evil/STRASSE.py": b"2"}, None, "Unicode form"),
    ],
)  # fmt: skip
def test_build_refuses_a_wheel_outside_its_namespace(
    tmp_path: Path, files: dict[str, bytes], entry_points: str | None, word: str
) -> None:
    """End to end, as users run it: lock, fetch, then build --offline exits 1 naming the wheel
    and the path, and writes no dist/."""
    name, data = build_wheel("evil", "1.0", files={"evil/__init__.py": b"", **files},
                             entry_points=entry_points)  # fmt: skip
    stderr = build_refusal(tmp_path / "project", (name, data))
    assert name in stderr and word in stderr
