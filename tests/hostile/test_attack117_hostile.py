"""Hundred-and-seventeenth adversary pass: the day's conda-unpack padding rule and the
resolver's pass-over of a release whose Requires-Dist line no parser reads.

- conda-unpack takes the NULs after a binary C string as room for a longer prefix, up to the
  placeholder length ``conda-meta`` records, after checking those bytes are NULs. A string
  that runs to the end of the file (a recorded room longer than the bytes left) passed the
  check, since the bytes past the end are not there to be anything but NULs: the file grew by
  the missing padding, which no compiled file survives.
- The resolver passes over a release whose Requires-Dist line no parser reads, and when the
  resolution then fails on that project it raised the broken line's error instead of the
  conflict: ``a`` needing ``b<2`` beside a root ``b>=2`` failed as "b 3.0's metadata is broken"
  though b 3.0 could never have been taken and the fix is the conflict.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest
from packaging.pylock import Pylock

from mlenv.conda.pack import unpack_script
from mlenv.export import pylock_toml
from mlenv.index import MemoryIndex
from mlenv.index.model import MetadataError
from mlenv.install.conda_packages import check_conda_packages
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package, write_channel
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.hostile

OLD = "/opt/mlenv/x"
URL = "https://attack117.invalid/simple"


def _unpack(root: Path, files: dict[str, bytes], rooms: dict[str, int]) -> int:
    """The archive's conda-unpack, as mlenv writes it, run where the archive was unpacked."""
    (root / "bin").mkdir(parents=True)
    for name, data in files.items():
        (root / name).write_bytes(data)
    script = root / "bin" / "conda-unpack"
    script.write_bytes(unpack_script(OLD, [(name, "binary") for name in files], rooms))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False
    )
    return done.returncode


@pytest.mark.parametrize("tail", [b"", b"\x00", b"\x00\x00\x00"])
def test_padding_past_the_end_of_the_file_is_not_room(tmp_path: Path, tail: bytes) -> None:
    """Protects `conda.unpack._binary`: a C string at the end of a file whose recorded
    placeholder promises more NULs than the file has left cannot take a longer prefix. Before,
    the missing bytes passed the NUL check and the file grew by them."""
    root = tmp_path / "a-longer-deploy-path"
    data = b"\x7fELF\x00" + OLD.encode() + b"/lib" + tail
    assert _unpack(root, {"lib.so": data}, {"lib.so": 255}) == 1
    assert (root / "lib.so").read_bytes() == data


def _lock(wheels: Sequence[tuple[str, bytes]], roots: Sequence[str]) -> list[str]:
    deps = ", ".join(f'"{r}"' for r in roots)
    manifest = (
        '[environment]\nname = "d"\npython = "3.11"\nplatforms = ["linux-64"]\n'
        f'glibc = "2.28"\n[pypi]\nindex-url = "{URL}"\ndependencies = [{deps}]\n'
    )
    reporter = MemoryReporter()
    lock_manifest(
        loads(manifest), Sources(MemoryIndex(URL, dict(wheels)), (URL,), ()), reporter=reporter
    )
    return reporter.messages("warning")


def test_a_conflict_is_not_blamed_on_a_release_it_could_not_take() -> None:
    """Protects `resolver.resolve._unreadable_cause`: the broken line of b 3.0 is the lock's error
    only where b 3.0 is what the requirements left; here ``a``'s b<2 beside the root's b>=2 is the
    conflict, and the error says so, not that b 3.0's metadata is broken."""
    wheels = [
        build_wheel("a", "1.0", requires_dist=["b<2"]),
        build_wheel("b", "3.0", requires_dist=["c (>=1.0"]),
        build_wheel("b", "2.0"),
        build_wheel("b", "1.0"),
    ]
    with pytest.raises(ResolutionError) as info:
        _lock(wheels, ["a", "b>=2"])
    assert not isinstance(info.value, MetadataError)
    assert "b<2" in f"{info.value.message} {info.value.hint}"


def test_the_release_the_requirements_left_still_names_its_line() -> None:
    """Protects the clear error beside the rule above: b>=3 leaves only b 3.0, whose line no
    parser reads, and the error names it."""
    wheels = [
        build_wheel("a", "1.0", requires_dist=["b>=3"]),
        build_wheel("b", "3.0", requires_dist=["c (>=1.0"]),
        build_wheel("b", "2.0"),
    ]
    with pytest.raises(MetadataError) as info:
        _lock(wheels, ["a"])
    assert info.value.where.startswith("b 3.0 (") and "c (>=1.0" in info.value.message


def _relocatable(root: Path, outside: Path) -> bytes:
    """A binary holding the build prefix with room (``_room``) for ``root``, outside the
    unpacked tree."""
    data = OLD.encode() + b"/lib" + bytes(_room(root) - len(OLD)) + b"end"
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.write_bytes(data)
    return data


def _room(root: Path) -> int:
    return len(str(root)) + 8


def test_conda_unpack_does_not_write_through_a_symlink_out_of_its_tree(tmp_path: Path) -> None:
    """Protects `conda.unpack.main`: a listed file that is a symlink (the archive never holds
    one there: mlenv lists regular files only) is not followed out of the tree to rewrite
    whatever it names; conda-unpack refuses and changes nothing."""
    root, outside = tmp_path / "env", tmp_path / "elsewhere" / "lib.so"
    data = _relocatable(root, outside)
    (root / "bin").mkdir(parents=True)
    (root / "lib.so").symlink_to(outside)
    script = root / "bin" / "conda-unpack"
    script.write_bytes(unpack_script(OLD, [("lib.so", "binary")], {"lib.so": _room(root)}))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, check=False)
    assert outside.read_bytes() == data
    assert done.returncode == 1 and b"lib.so" in done.stderr


def test_conda_unpack_does_not_write_through_a_symlinked_directory(tmp_path: Path) -> None:
    """Protects `conda.unpack.main`: the same through a directory of the listed path."""
    root, outside = tmp_path / "env", tmp_path / "elsewhere" / "lib.so"
    data = _relocatable(root, outside)
    (root / "bin").mkdir(parents=True)
    (root / "lib").symlink_to(outside.parent)
    script = root / "bin" / "conda-unpack"
    script.write_bytes(unpack_script(OLD, [("lib/lib.so", "binary")], {"lib/lib.so": _room(root)}))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, check=False)
    assert outside.read_bytes() == data
    assert done.returncode == 1


def test_conda_unpack_leaves_a_hard_linked_copy_alone(tmp_path: Path) -> None:
    """Protects `conda.unpack.main`: a tree copied as hard links (``cp -al env env2``) and
    relocated leaves the original's files as they were, and keeps each file's mode. Before,
    the file was rewritten in place, through every name of it."""
    root, original = tmp_path / "env2", tmp_path / "env" / "lib.so"
    data = _relocatable(root, original)
    original.chmod(0o755)
    (root / "bin").mkdir(parents=True)
    (root / "lib.so").hardlink_to(original)
    script = root / "bin" / "conda-unpack"
    script.write_bytes(unpack_script(OLD, [("lib.so", "binary")], {"lib.so": _room(root)}))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert original.read_bytes() == data
    relocated = (root / "lib.so").read_bytes()
    assert relocated.startswith(str(root).encode() + b"/lib\x00") and len(relocated) == len(data)
    assert (root / "lib.so").stat().st_mode & 0o777 == 0o755


def test_a_pypy_conda_python_is_refused_at_lock(tmp_path: Path) -> None:
    """Protects `locking_conda._solve_conda`'s ABI rule beside the free-threaded refusal:
    conda-forge's
    PyPy (``python 3.10.* *_pypy``, ``python_abi *_pypy310_pp73``) cannot load the cp310
    wheels mlenv picks for the default CPython ABI. It was locked silently."""
    packages = [
        build_conda_package(
            "python", "3.10.14", "2_73_pypy", depends=["python_abi 3.10.* *_pypy310_pp73"]
        ),
        build_conda_package("python_abi", "3.10", "4_pypy310_pp73"),
    ]
    channel = write_channel(tmp_path / "channel", packages)
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "x"\npython = "3.10"\nprefix = "/opt/mlenv/x"\n'
        f'[conda]\nchannels = ["{channel}"]\ndependencies = ["python 3.10.* *_pypy"]\n'
    )
    result = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1, result.stderr
    assert "python 3.10.14 2_73_pypy" in result.stderr and "PyPy" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "mlenv.lock").exists()


@pytest.mark.parametrize("requires_python", [">=3.6<4", ">= '3.6'", '">=3.6"', ">=3.6.*,"])
def test_a_repaired_requires_python_exports_as_it_was_read(requires_python: str) -> None:
    """Protects `export.pylock_toml`: the lock takes a release whose Requires-Python the
    resolver reads repaired (``>=3.6<4`` as ``>=3.6,<4``, as uv does), and its PEP 751 export
    states that reading, a specifier every reader parses. Before, the raw text went into the
    export, which failed its own validation ("the exported pylock.toml is invalid")."""
    manifest = (
        '[environment]\nname = "d"\npython = "3.11"\nplatforms = ["linux-64"]\n'
        f'glibc = "2.28"\n[pypi]\nindex-url = "{URL}"\ndependencies = ["a"]\n'
    )
    wheels = [build_wheel("a", "2.0", requires_python=requires_python)]
    sources = Sources(MemoryIndex(URL, dict(wheels)), (URL,), ())
    lock = lock_manifest(loads(manifest), sources, reporter=MemoryReporter())
    (package,) = Pylock.from_dict(tomllib.loads(pylock_toml(lock))).packages
    assert package.requires_python is not None
    assert package.requires_python.contains("3.11") and not package.requires_python.contains("3.5")


def test_conda_unpack_relocates_to_a_path_that_is_not_utf8(tmp_path: Path) -> None:
    """Protects `conda.unpack.main`: a directory named in another encoding (a Latin-1 name on
    a UTF-8 system) is a path like any other, written as the bytes the file system holds.
    Before, conda-unpack ended in a UnicodeEncodeError traceback."""
    base = tmp_path / os.fsdecode(b"caf\xe9 env")
    root, old = os.fsencode(base), OLD.encode()
    (base / "bin").mkdir(parents=True)
    (base / "tool").write_bytes(b"#!" + old + b"/bin/python\nhome = " + old + b"\n")
    (base / "lib.so").write_bytes(old + b"/lib" + bytes(len(root)) + b"end")
    rooms = {"lib.so": len(old) + len(root)}
    script = base / "bin" / "conda-unpack"
    script.write_bytes(unpack_script(OLD, [("tool", "text"), ("lib.so", "binary")], rooms))
    done = subprocess.run([sys.executable, script], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    tool = (base / "tool").read_bytes()
    assert tool.endswith(b"\nhome = " + root + b"\n") and b"'" + root + b"/bin/python'" in tool
    assert (base / "lib.so").read_bytes().startswith(root + b"/lib\x00")


def test_a_noarch_python_link_script_is_named_where_conda_runs_it(tmp_path: Path) -> None:
    """Protects `install.conda_packages.check_conda_packages`: a noarch: python package keeps
    its ``bin/`` in ``python-scripts/`` (conda-build moves it there), so its post-link script
    ships as ``python-scripts/.NAME-post-link.sh``, is installed at ``bin/.NAME-post-link.sh``
    and is run by conda from there. mlenv warned about link scripts under their archive names
    only, and said nothing of this one."""
    filename, data = build_conda_package(
        "noa", "1.0", "pyh_0", noarch="python", fmt="conda",
        files={"python-scripts/.noa-post-link.sh": b"echo linked\n"},
    )  # fmt: skip
    (tmp_path / filename).write_bytes(data)
    scripts = check_conda_packages(
        [(filename, tmp_path / filename)],
        target_prefix=OLD,
        noarch_python=[filename],
        python_site="lib/python3.11/site-packages",
    )
    assert scripts == {filename: ["bin/.noa-post-link.sh"]}


def test_conda_unpack_passes_over_a_file_removed_after_unpacking(tmp_path: Path) -> None:
    """Protects `conda.unpack.main`: images are slimmed after unpacking (``rm -rf share/doc``)
    and a removed file needs no relocation. Before, conda-unpack relocated the files before it
    and ended in a FileNotFoundError traceback, leaving the environment half relocated."""
    root = tmp_path / "env"
    (root / "bin").mkdir(parents=True)
    (root / "a.txt").write_bytes(OLD.encode() + b"\n")
    (root / "c.txt").write_bytes(OLD.encode() + b"\n")
    script = root / "bin" / "conda-unpack"
    listed = [("a.txt", "text"), ("b.txt", "text"), ("c.txt", "text")]
    script.write_bytes(unpack_script(OLD, listed))
    done = subprocess.run([sys.executable, script], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    for name in ("a.txt", "c.txt"):
        assert (root / name).read_bytes() == os.fsencode(root) + b"\n"
    assert not (root / "b.txt").exists() and b"Traceback" not in done.stderr
