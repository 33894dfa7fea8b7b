"""What mlenv's installer and pip install from one wheel, compared file by file.

pip (``PIP_CONFIG_FILE=/dev/null``, no PIP_* variable, ``--no-deps --no-index --no-compile``)
installs into a fresh ``venv --without-pip`` through ``pip --python``; mlenv installs the same
wheel with ``install_environment`` (the call ``mlenv build`` makes) for a prefix that *is* that
venv's path, on the venv's own interpreter, so script shebangs name the same file in both trees
and need no rewriting. What is compared, and the only normalisations, each because the bytes
must differ:

- the set of paths each installed (files and directories), minus the venv skeleton each wrote
  before any wheel (pip's venv, ``InstallResult.generated`` and its two directories);
- every file's bytes, except in ``.dist-info``: ``INSTALLER`` (the installer's own name),
  ``REQUESTED`` and ``direct_url.json`` (pip's, never mlenv's: ``install.wheels``' docstring),
  ``RECORD`` (each tree's RECORD is held to its own files instead, below); and the launchers
  made from ``entry_points.txt``, which pip and installer write from two templates: those are
  compared by what they run (shebang, import, call);
- each file's executable bit (pip's other mode bits follow the umask, mlenv's are normalised);
- RECORD: every row's hash and size against the bytes installed, every installed file listed
  once, in each tree (order ignored: mlenv sorts, pip keeps the wheel's).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import posixpath
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlenv.install.wheels import install_environment
from mlenv.report import MemoryReporter

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# Written by one installer and never by the other, by design (install.wheels' docstring).
PIP_ONLY = frozenset({"REQUESTED", "direct_url.json", "RECORD.jws", "RECORD.p7s"})
OWN_NAME = frozenset({"INSTALLER", "RECORD"})
_LAUNCHER = re.compile(
    rb"\A(.*?\n)(?:# -\*- coding: utf-8 -\*-\n)?(?:import re\n)?import sys\n"
    rb"from (\S+) import (\S+)\n(?:[^\n]*\n)*?    sys\.exit\((.+)\(\)\)\n?\Z",
    re.DOTALL,
)


@dataclass(frozen=True)
class Difference:
    kind: str  # "pip only", "mlenv only", "kind", "bytes", "executable", "RECORD"
    path: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Comparison:
    """Where the two trees differ (none: identical up to the normalisations), apart from the
    differences ``install.wheels``' docstring states as mlenv's choices (``documented``)."""

    wheels: str  # their file names, comma-separated
    files: int  # files pip installed
    differences: tuple[Difference, ...]
    documented: tuple[Difference, ...] = ()
    pip_record: tuple[str, ...] = ()  # pip's own RECORD against its tree: pip's business
    pip_error: str = ""  # pip refused the wheel (then nothing else is compared)
    mlenv_error: str = ""


def compare(wheels: Sequence[Path], work: Path) -> Comparison:
    """Install ``wheels`` (one per distribution) both ways below ``work`` (created, then
    removed) and compare the trees."""
    work.mkdir(parents=True)
    try:
        return _compare(wheels, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _compare(wheels: Sequence[Path], work: Path) -> Comparison:
    venv = work / "p"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    skeleton = _tree(venv)
    pip = _pip_install(venv, wheels)
    try:
        result = install_environment(
            wheels,
            work / "m",
            prefix=str(venv),
            interpreter=str(Path(sys.executable).resolve()),
            python=PYTHON,
            reporter=MemoryReporter(),
        )
    except Exception as exc:  # the sweep counts any failure
        mlenv = f"{type(exc).__name__}: {exc}"
    else:
        mlenv = ""
    names = ", ".join(wheel.name for wheel in wheels)
    if pip or mlenv:
        return Comparison(names, 0, (), pip_error=pip, mlenv_error=mlenv)
    by_pip = {p: k for p, k in _tree(venv).items() if skeleton.get(p) != k}
    # The venv's directories, in pip's skeleton, are made by mlenv as a wheel needs them.
    made = {*result.generated, *(p for p, k in skeleton.items() if k == "dir")}
    by_mlenv = {p: k for p, k in _tree(work / "m").items() if p not in made}
    found = list(_differences(wheels, venv, work / "m", by_pip, by_mlenv))
    scripts = {script for wheel in wheels for script in _scripts(wheel)}
    return Comparison(
        names,
        sum(k == "file" for k in by_pip.values()),
        tuple(d for d in found if not _documented(scripts, d)),
        tuple(d for d in found if _documented(scripts, d)),
        tuple(record_problems(venv, by_pip)),
    )


def _documented(scripts: set[str], difference: Difference) -> bool:
    """A difference ``install.wheels``' docstring states as mlenv's choice: pip's REQUESTED,
    direct_url.json, RECORD signatures and ``__pycache__`` members never written, and files of
    the scripts scheme executable whatever mode the zip recorded."""
    name = posixpath.basename(difference.path)
    if difference.kind == "pip only":
        dropped = name in PIP_ONLY and _in_dist_info(difference.path)
        return dropped or "__pycache__" in difference.path.split("/")
    return difference.kind == "executable" and difference.path in scripts


def _pip_install(venv: Path, wheels: Sequence[Path]) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    command = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"]
    command += ["--no-deps", "--no-index", "--no-compile", "--disable-pip-version-check", "-q"]
    run = subprocess.run([*command, *map(str, wheels)], env=env, capture_output=True, text=True)
    return "" if run.returncode == 0 else run.stderr.strip().splitlines()[-1]


def _differences(
    wheels: Sequence[Path],
    pip_root: Path,
    mlenv_root: Path,
    pip: Mapping[str, str],
    mlenv: Mapping[str, str],
) -> Iterator[Difference]:
    scripts = {script for wheel in wheels for script in _scripts(wheel)}
    yield from (Difference("pip only", p, pip[p]) for p in sorted(pip.keys() - mlenv.keys()))
    yield from (Difference("mlenv only", p, mlenv[p]) for p in sorted(mlenv.keys() - pip.keys()))
    for path in sorted(pip.keys() & mlenv.keys()):
        if pip[path] != mlenv[path]:
            yield Difference("kind", path, f"pip {pip[path]}, mlenv {mlenv[path]}")
            continue
        if pip[path] != "file" or (_in_dist_info(path) and posixpath.basename(path) in OWN_NAME):
            continue
        ours, theirs = pip_root / path, mlenv_root / path
        a, b = ours.read_bytes(), theirs.read_bytes()
        launcher = path.startswith("bin/") and path not in scripts  # made from entry points
        if not (_launched(a) == _launched(b) if launcher else a == b):
            yield Difference("bytes", path)
        modes = ours.stat().st_mode, theirs.stat().st_mode
        if (modes[0] & 0o111 != 0) != (modes[1] & 0o111 != 0):
            yield Difference("executable", path, f"pip {modes[0]:o}, mlenv {modes[1]:o}")
    yield from (Difference("RECORD", p) for p in record_problems(mlenv_root, mlenv))


def _in_dist_info(path: str) -> bool:
    return posixpath.dirname(path).endswith(".dist-info")


def record_problems(root: Path, tree: Mapping[str, str]) -> Iterator[str]:
    """Each RECORD in ``tree`` against the files below ``root``: hashes, sizes, coverage."""
    site = f"lib/python{PYTHON}/site-packages"
    listed: dict[str, int] = {}
    for path in sorted(tree):
        if not (path.endswith(".dist-info/RECORD") and path.count("/") == 4):
            continue
        for row in csv.reader(io.StringIO((root / path).read_text())):
            target = posixpath.normpath(posixpath.join(site, row[0]))
            listed[target] = listed.get(target, 0) + 1
            if not (root / target).is_file():
                yield f"{row[0]} listed, not installed"
            elif row[1:] != ["", ""] and row[1:] != _row(root / target):
                yield f"{row[0]} listed as {row[1:]}, installed as {_row(root / target)}"
            elif row[1:] == ["", ""] and target != path:
                yield f"{row[0]} listed without a hash"
    for path, kind in sorted(tree.items()):
        if kind == "file" and listed.get(path, 0) != 1:
            yield f"{path} listed {listed.get(path, 0)} times"


def _row(path: Path) -> list[str]:
    data = path.read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [f"sha256={digest}", str(len(data))]


def _scripts(wheel: Path) -> set[str]:
    """``bin/...`` for each member of the wheel's scripts scheme."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    return {f"bin/{n.split('/', 2)[2]}" for n in names if re.match(r"[^/]+\.data/scripts/.", n)}


def _launched(script: bytes) -> tuple[bytes, ...] | bytes:
    """What a launcher runs: shebang, module, name imported, call; itself if not a launcher."""
    match = _LAUNCHER.match(script)
    return script if match is None else match.groups()


def _tree(root: Path) -> dict[str, str]:
    """Every path below ``root``: file, dir or symlink, never followed."""
    kinds: dict[str, str] = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(directory) / name
            kind = "symlink" if path.is_symlink() else "dir" if path.is_dir() else "file"
            kinds[path.relative_to(root).as_posix()] = kind
    return kinds
