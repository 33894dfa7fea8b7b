"""Installing wheels into a staging tree that is a venv for the target, byte for byte the same."""

from __future__ import annotations

import base64
import csv
import errno
import hashlib
import importlib.util
import marshal
import os
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from mlenv.inputs import MANIFEST_KEYS
from mlenv.install.checks import NamedWheel
from mlenv.install.ownership import PathClashError
from mlenv.install.safety import InstallError
from mlenv.install.wheels import InstallResult, install_environment
from mlenv.report import MemoryReporter
from mlenv.spent import Spent
from tests.support.wheels import build_wheel

PREFIX = "/opt/mlenv/t"
PYTHON = "/usr/bin/python3.11"
SITE = "lib/python3.11/site-packages"
HOST_MINOR = f"{sys.version_info.major}.{sys.version_info.minor}"
# Hash bytecode is compiled by the Python running mlenv, so those tests target that Python:
# they hold on every version users run mlenv with, not only CI's 3.11.
HOST_SITE = f"lib/python{HOST_MINOR}/site-packages"
HOST_PYC = f"cpython-{sys.version_info.major}{sys.version_info.minor}.pyc"


@pytest.fixture
def host_python_311() -> None:
    """The real numpy wheel (cp311) needs the target's Python running the tests: a different
    host fails loudly (CI runs CPython 3.11) rather than skipping silently."""
    assert HOST_MINOR == "3.11", f"run these tests with CPython 3.11, not {HOST_MINOR}"


NUMPY = Path(
    "/opt/pypi/files/numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
)


def _write(directory: Path, wheel: tuple[str, bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / wheel[0]
    path.write_bytes(wheel[1])
    return path


def _wheels(directory: Path) -> list[Path]:
    """A pure wheel with scripts, data and headers, and a platlib wheel."""
    alpha = build_wheel(
        "alpha",
        "1.0",
        files={
            "alpha/__init__.py": b"KINDS = frozenset({'a', 'b', 'c', 'd'})\ndef main(): return 0\n",
            "alpha/sub/mod.py": b"def f():\n    return 1\n",
            "alpha-1.0.data/scripts/tool": b"#!python\nprint('tool')\n",
            "alpha-1.0.data/data/share/alpha/notes.txt": b"notes\n",
            "alpha-1.0.data/headers/alpha.h": b"int alpha;\n",
        },
        entry_points=(
            "[console_scripts]\nalpha-cli = alpha:main\n[gui_scripts]\nalpha-gui = alpha:main\n"
        ),
    )
    beta = build_wheel(
        "beta",
        "2.0",
        tag="cp311-cp311-manylinux_2_28_x86_64",
        files={"beta/__init__.py": b"", "beta/_native.txt": b"pretend this is a .so\n"},
    )
    return [_write(directory, alpha), _write(directory, beta)]


def _install(
    wheels: Sequence[Path | NamedWheel], staging: Path, **options: object
) -> InstallResult:
    arguments: dict[str, object] = {
        "prefix": PREFIX,
        "interpreter": PYTHON,
        "python": "3.11",
        "reporter": MemoryReporter(),
    }
    arguments.update(options)
    return install_environment(wheels, staging, **arguments)  # type: ignore[arg-type]


def _install_hash(
    wheels: Sequence[Path | NamedWheel], staging: Path, **options: object
) -> InstallResult:
    """Installs with hash bytecode for the Python running the tests (the only one allowed)."""
    host = {"interpreter": f"/usr/bin/python{HOST_MINOR}", "python": HOST_MINOR}
    return _install(wheels, staging, bytecode="hash", **{**host, **options})


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _snapshot(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Everything a layer would carry: kind, mode and content or link target, by path."""
    tree: dict[str, tuple[str, int, bytes]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        name = path.relative_to(root).as_posix()
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISLNK(info.st_mode):
            tree[name] = ("link", mode, path.readlink().as_posix().encode())
        elif stat.S_ISDIR(info.st_mode):
            tree[name] = ("dir", mode, b"")
        else:
            tree[name] = ("file", mode, path.read_bytes())
    return tree


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def test_venv_layout_is_generated_for_the_target(tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    result = _install(_wheels(tmp_path / "wheels"), staging)
    for name in ("python", "python3", "python3.11"):
        assert (staging / "bin" / name).readlink().as_posix() == PYTHON
    assert (staging / "lib64").readlink().as_posix() == "lib"
    assert (staging / SITE).is_dir()
    assert result.generated == (
        "bin/activate",
        "bin/python",
        "bin/python3",
        "bin/python3.11",
        "lib64",
        "pyvenv.cfg",
    )
    assert (staging / "pyvenv.cfg").read_text() == (
        "home = /usr/bin\n"
        "include-system-site-packages = false\n"
        "version = 3.11\n"
        "executable = /usr/bin/python3.11\n"
    )
    assert not list(staging.glob("bin/activate.*"))


def test_activate_sets_and_restores_the_environment(tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    _install([], staging)
    script = (
        '. ./bin/activate; echo "$VIRTUAL_ENV"; echo "$PATH"; echo "${PYTHONHOME-unset}";'
        ' deactivate; echo "$PATH"; echo "${VIRTUAL_ENV-unset}"; echo "${PYTHONHOME-unset}";'
        " command -v deactivate || echo gone"
    )
    done = subprocess.run(
        ["sh", "-c", script],
        cwd=staging,
        env={"PATH": "/usr/bin:/bin", "PYTHONHOME": "/elsewhere"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines() == [
        PREFIX,
        f"{PREFIX}/bin:/usr/bin:/bin",
        "unset",
        "/usr/bin:/bin",
        "unset",
        "/elsewhere",
        "gone",
    ]
    assert stat.S_IMODE((staging / "bin/activate").stat().st_mode) == 0o644


def test_scripts_point_at_the_final_interpreter(tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    _install(_wheels(tmp_path / "wheels"), staging)
    for name in ("alpha-cli", "alpha-gui", "tool"):
        script = staging / "bin" / name
        assert script.read_bytes().split(b"\n", 1)[0] == b"#!/opt/mlenv/t/bin/python"
        assert stat.S_IMODE(script.stat().st_mode) == 0o755  # the zip said 0644 for tool
    assert (staging / "share/alpha/notes.txt").read_bytes() == b"notes\n"
    assert (staging / "include/site/python3.11/alpha/alpha.h").read_bytes() == b"int alpha;\n"


def test_record_is_regenerated_sorted_and_correct(tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    result = _install_hash(_wheels(tmp_path / "wheels"), staging)
    for dist in result.distributions:
        record = staging / dist.dist_info / "RECORD"
        text = record.read_text()
        rows = list(csv.reader(text.splitlines()))
        assert [row[0] for row in rows] == sorted(row[0] for row in rows)
        listed = set()
        for path, digest, size in rows:
            installed = (staging / HOST_SITE / path).resolve()
            relative = installed.relative_to(staging.resolve()).as_posix()
            listed.add(relative)
            if relative == f"{dist.dist_info}/RECORD":
                assert (digest, size) == ("", "")
                continue
            data = installed.read_bytes()
            assert (digest, size) == (_record_hash(data), str(len(data)))
        assert listed == set(dist.files)
    alpha = result.distributions[0]
    assert f"{HOST_SITE}/alpha/__pycache__/__init__.{HOST_PYC}" in alpha.files


def test_install_metadata_is_normalised(tmp_path: Path) -> None:
    files = {
        "gamma/__init__.py": b"",
        "gamma-1.0.dist-info/INSTALLER": b"pip\n",
        "gamma-1.0.dist-info/REQUESTED": b"",
        "gamma-1.0.dist-info/direct_url.json": b'{"url": "file:///home/me/gamma.whl"}',
    }
    wheels = [
        *_wheels(tmp_path / "wheels"),
        _write(tmp_path / "wheels", build_wheel("gamma", "1.0", files=files)),
    ]
    staging = tmp_path / "stage"
    result = _install(wheels, staging)
    for dist in result.distributions:
        assert (staging / dist.dist_info / "INSTALLER").read_bytes() == b"mlenv\n"
    assert not list(staging.rglob("REQUESTED"))
    assert not list(staging.rglob("direct_url.json"))


def test_nothing_written_names_the_staging_directory(tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    _install_hash(_wheels(tmp_path / "wheels"), staging)
    needle = str(tmp_path).encode()
    for path in staging.rglob("*"):
        if path.is_symlink():
            assert needle not in path.readlink().as_posix().encode(), path
        elif path.is_file():
            assert needle not in path.read_bytes(), path


def test_modes_ignore_the_umask(tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    with _umask(0o077):
        _install_hash(_wheels(tmp_path / "wheels"), staging)
    for name, (kind, mode, _) in _snapshot(staging).items():
        if kind == "dir":
            assert mode == 0o755, name
        elif kind == "file":
            expected = 0o755 if name.startswith("bin/") and name != "bin/activate" else 0o644
            assert mode == expected, name
    assert stat.S_IMODE(staging.stat().st_mode) == 0o755


def test_trees_are_byte_identical_whatever_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = _wheels(tmp_path / "wheels")
    first, second = tmp_path / "a", tmp_path / "another-much-longer-staging-directory"
    with _umask(0o022):
        _install_hash(wheels, first, jobs=1)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.setenv("PYTHONHASHSEED", "12345")
    with _umask(0o077):
        _install_hash(list(reversed(wheels)), second, jobs=2)
    assert _snapshot(first) == _snapshot(second)


def test_hash_bytecode_is_unchecked_and_names_the_final_path(tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    _install_hash(_wheels(tmp_path / "wheels"), staging)
    source = staging / HOST_SITE / "alpha/sub/mod.py"
    pyc = (staging / HOST_SITE / f"alpha/sub/__pycache__/mod.{HOST_PYC}").read_bytes()
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # PEP 552: hash-based, unchecked
    assert pyc[8:16] == importlib.util.source_hash(source.read_bytes())
    code = marshal.loads(pyc[16:])
    assert code.co_filename == f"{PREFIX}/{HOST_SITE}/alpha/sub/mod.py"
    assert not list((staging / "bin").glob("__pycache__"))


def test_no_bytecode_by_default(tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    wheel = build_wheel("delta", "1.0", files={"delta/__pycache__/x.cpython-311.pyc": b"junk"})
    reporter = MemoryReporter()
    _install(
        [*_wheels(tmp_path / "wheels"), _write(tmp_path / "wheels", wheel)],
        staging,
        reporter=reporter,
    )
    assert not list(staging.rglob("__pycache__"))
    assert reporter.messages("warning") == [
        "delta-1.0-py3-none-any.whl: ignored 1 __pycache__ member(s)"
    ]


def test_invalid_python_is_left_uncompiled(tmp_path: Path) -> None:
    wheel = build_wheel("eps", "1.0", files={"eps/template.py": b"def broken(:\n"})
    reporter = MemoryReporter()
    staging = tmp_path / "stage"
    _install_hash([_write(tmp_path, wheel)], staging, reporter=reporter)
    assert not (staging / HOST_SITE / "eps/__pycache__").exists()
    assert reporter.messages("info") == [
        "1 file(s) are not valid Python and were not byte-compiled"
    ]


def test_hash_bytecode_needs_a_matching_host_python(tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    with pytest.raises(InstallError) as error:
        _install(_wheels(tmp_path / "wheels"), staging, python="3.9", bytecode="hash")
    # The way out is the build option: the manifest has no bytecode key.
    assert "--bytecode none" in str(error.value)
    assert "bytecode" not in MANIFEST_KEYS["build"]
    assert not staging.exists()


def test_result_describes_every_distribution(tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    reporter = MemoryReporter()
    result = _install(_wheels(tmp_path / "wheels"), staging, reporter=reporter)
    regular = [p for p in staging.rglob("*") if p.is_file() and not p.is_symlink()]
    assert result.files == len(regular)
    assert result.bytes == sum(p.stat().st_size for p in regular)
    assert [(d.name, d.version) for d in result.distributions] == [
        ("alpha", "1.0"),
        ("beta", "2.0"),
    ]
    alpha, beta = result.distributions
    assert alpha.dist_info == f"{SITE}/alpha-1.0.dist-info"
    assert "bin/alpha-cli" in alpha.files and "share/alpha/notes.txt" in alpha.files
    assert beta.files == tuple(
        f"{SITE}/{name}"
        for name in (
            "beta-2.0.dist-info/INSTALLER",
            "beta-2.0.dist-info/METADATA",
            "beta-2.0.dist-info/RECORD",
            "beta-2.0.dist-info/WHEEL",
            "beta/__init__.py",
            "beta/_native.txt",
        )
    )
    owned = {f for d in result.distributions for f in d.files} | set(result.generated)
    assert {p.relative_to(staging).as_posix() for p in regular} <= owned
    assert ("task-end", "Installing wheels: 2 wheels") in reporter.events


def test_identical_files_may_be_shared_and_belong_to_the_first_wheel(tmp_path: Path) -> None:
    shared = {"nvidia/__init__.py": b""}
    first = build_wheel("nvidia-b-cu12", "1.0", files={**shared, "nvidia/b/x.py": b""})
    second = build_wheel("nvidia-a-cu12", "1.0", files={**shared, "nvidia/a/x.py": b""})
    staging = tmp_path / "stage"
    result = _install([_write(tmp_path, first), _write(tmp_path, second)], staging)
    owners = [d.name for d in result.distributions if f"{SITE}/nvidia/__init__.py" in d.files]
    assert owners == ["nvidia-a-cu12"]


def test_hex_record_digests_are_accepted_when_they_match(tmp_path: Path) -> None:
    """gmsh's RECORD spells sha256 in hex; the bytes are still checked against it."""
    module = b"G = 1\n"
    filename, data = build_wheel("gmshlike", "1.0", files={"gmshlike.py": module})
    source = tmp_path / "orig.whl"
    source.write_bytes(data)
    wheel = tmp_path / filename
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(wheel, "w") as rewritten:
        for info in original.infolist():
            content = original.read(info)
            if info.filename.endswith("RECORD"):
                line = f"gmshlike.py,{_record_hash(module)},6"
                hexed = f"gmshlike.py,sha256={hashlib.sha256(module).hexdigest()},6"
                content = content.replace(line.encode(), hexed.encode())
                assert hexed.encode() in content
            rewritten.writestr(info, content)
    staging = tmp_path / "stage"
    _install([wheel], staging)
    assert (staging / SITE / "gmshlike.py").read_bytes() == module


def test_named_wheels_install_from_content_addressed_paths(tmp_path: Path) -> None:
    filename, data = build_wheel("zeta", "3.1", files={"zeta.py": b"Z = 1\n"})
    stored = tmp_path / "cache" / hashlib.sha256(data).hexdigest()
    stored.parent.mkdir()
    stored.write_bytes(data)
    result = _install([NamedWheel(filename, stored)], tmp_path / "stage")
    assert [(d.name, d.version) for d in result.distributions] == [("zeta", "3.1")]


def test_an_existing_empty_staging_directory_is_accepted(tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    staging.mkdir()
    _install([], staging)
    assert (staging / "pyvenv.cfg").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage"]


def test_a_non_empty_staging_directory_is_refused(tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    staging.mkdir()
    (staging / "keep").write_text("mine")
    with pytest.raises(InstallError, match="absent or an empty directory"):
        _install([], staging)
    assert [p.name for p in staging.iterdir()] == ["keep"]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("prefix", "opt/mlenv"),
        ("prefix", "/opt/../etc"),
        ("prefix", "/opt/x\n"),
        ("interpreter", "python3"),
        ("python", "3"),
        ("python", "2.7"),
    ],
)
def test_bad_target_paths_are_refused(tmp_path: Path, option: str, value: str) -> None:
    with pytest.raises(InstallError) as error:
        _install([], tmp_path / "stage", **{option: value})
    assert error.value.where == option
    assert not (tmp_path / "stage").exists()


def test_a_full_disk_is_an_install_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("mlenv.install.wheels.write_record", full)
    with pytest.raises(InstallError, match="No space left") as error:
        _install(_wheels(tmp_path / "wheels"), tmp_path / "stage")
    assert "free space" in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wheels"]


def _conda_tree(root: Path) -> Path:
    """A conda prefix as far as install cares: ncurses' terminfo differs only in case."""
    for name in ("share/terminfo/E/Eterm", "share/terminfo/e/eterm", f"{SITE}/conda_pkg.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    return root


def test_conda_trees_may_differ_in_case_among_themselves(tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    result = _install(_wheels(tmp_path / "wheels"), staging, onto=_conda_tree(tmp_path / "c"))
    assert (staging / "share/terminfo/E/Eterm").exists()
    assert (staging / "share/terminfo/e/eterm").exists()
    assert result.generated == ()


def test_a_wheel_differing_in_case_from_a_conda_file_is_refused(tmp_path: Path) -> None:
    wheel = build_wheel("term", "1.0", files={"term-1.0.data/data/share/Terminfo/x": b""})
    with pytest.raises(PathClashError, match="differs only in case"):
        _install([_write(tmp_path, wheel)], tmp_path / "stage", onto=_conda_tree(tmp_path / "c"))


@pytest.mark.usefixtures("host_python_311")
def test_real_numpy_wheel_gives_a_working_venv(tmp_path: Path) -> None:
    staging = tmp_path / "env"
    _install(
        [NUMPY], staging, prefix=str(staging), interpreter=sys.executable, bytecode="hash", jobs=2
    )
    python = staging / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", "import numpy, sys; print(numpy.__version__); print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.stdout.splitlines() == ["2.4.6", str(staging)]
    config = subprocess.run(
        [str(staging / "bin" / "numpy-config"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert config.stdout.strip() == "2.4.6"


def test_each_wheel_is_reported_spent_once_installed(tmp_path: Path) -> None:
    """Protects: with ``spent`` (a build's scratch copies), each wheel file goes once its
    files are written and checked, and the tree is the one installed from kept wheels."""
    kept = _install(_wheels(tmp_path / "kept"), tmp_path / "a")
    copies = _wheels(tmp_path / "copies")
    spent = _install(copies, tmp_path / "b", spent=Spent(readers=1))
    assert [path.exists() for path in copies] == [False, False]
    assert all(path.exists() for path in (tmp_path / "kept").iterdir())
    assert spent == kept
    assert _snapshot(tmp_path / "a") == _snapshot(tmp_path / "b")
