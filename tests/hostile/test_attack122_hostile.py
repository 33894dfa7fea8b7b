"""Hundred-and-twenty-second adversary pass: mlenv's wheel installer against pip on real wheels.

Each test is a real wheel's shape, built in memory, where mlenv's tree differed from the one
pip lays out in a venv for the same wheel.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlenv.install.safety import InstallError
from mlenv.install.wheels import install_environment
from mlenv.report import MemoryReporter
from tests.support.wheels import build_wheel

SITE = "lib/python3.11/site-packages"
# pylint 1.8.3 (py2.py3-none-any, 2018): setuptools put its own wrappers for the console
# scripts into .data/scripts, under the names the entry points also declare.
PYLINT_ENTRY_POINTS = (
    "[console_scripts]\n"
    "epylint = pylint:run_epylint\n"
    "pylint = pylint:run_pylint\n"
    "pyreverse = pylint:run_pyreverse\n"
)
PYLINT_FILES = {
    "pylint/__init__.py": (
        b"def run_pylint():\n    print('entry point pylint')\n"
        b"def run_epylint():\n    print('entry point epylint')\n"
        b"def run_pyreverse():\n    print('entry point pyreverse')\n"
    ),
    "pylint-1.8.3.data/scripts/epylint": b"#!python\nprint('wrapper epylint')\n",
    "pylint-1.8.3.data/scripts/pylint": b"#!python\nprint('wrapper pylint')\n",
    "pylint-1.8.3.data/scripts/pyreverse": b"#!python\nprint('wrapper pyreverse')\n",
}


def _install(tmp_path: Path, wheel: tuple[str, bytes], reporter: MemoryReporter) -> Path:
    """Installed at its staging path, so its scripts run where they are."""
    name, data = wheel
    path = tmp_path / name
    path.write_bytes(data)
    staging = tmp_path / "env"
    install_environment(
        [path],
        staging,
        prefix=str(staging),
        interpreter=os.path.realpath(sys.executable),
        python="3.11",
        reporter=reporter,
    )
    return staging


def _record(staging: Path, dist_info: str) -> dict[str, tuple[str, str]]:
    rows = csv.reader((staging / SITE / dist_info / "RECORD").read_text().splitlines())
    return {os.path.normpath(f"{SITE}/{row[0]}"): (row[1], row[2]) for row in rows}


def _sha256(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def test_setuptools_wrappers_in_data_scripts_give_way_to_the_entry_points(
    tmp_path: Path,
) -> None:
    """pip installs pylint 1.8.3: the .data/scripts files named like an entry point are the
    wrappers setuptools wrote for those entry points, so pip leaves them out and generates the
    scripts. mlenv refused the wheel (the entry point 'would overwrite' the member)."""
    wheel = build_wheel("pylint", "1.8.3", tag="py2.py3-none-any", files=PYLINT_FILES,
                        entry_points=PYLINT_ENTRY_POINTS)  # fmt: skip
    reporter = MemoryReporter()
    staging = _install(tmp_path, wheel, reporter)
    record = _record(staging, "pylint-1.8.3.dist-info")
    for name in ("epylint", "pylint", "pyreverse"):
        script = staging / "bin" / name
        done = subprocess.run([str(script)], capture_output=True, text=True, check=True)
        assert done.stdout == f"entry point {name}\n"
        assert script.stat().st_mode & 0o777 == 0o755
        assert record[f"bin/{name}"] == (_sha256(script.read_bytes()), str(script.stat().st_size))
    warnings = reporter.messages("warning")
    assert len(warnings) == 1
    assert "pylint-1.8.3.data/scripts/pylint" in warnings[0]


def test_windows_wrappers_of_an_entry_point_are_left_out_and_other_scripts_kept(
    tmp_path: Path,
) -> None:
    """pip's rule, names compared exactly: 'EP', 'EP.exe', 'EP-script.py' and 'EP.pya' are
    wrappers of entry point EP; any other script, even 'EP-script.pyw', is installed."""
    files = {
        "demo/__init__.py": b"def main():\n    print('entry point')\n",
        "demo-1.0.data/scripts/demo.exe": b"MZ not for posix",
        "demo-1.0.data/scripts/demo-script.py": b"#!python\nprint('wrapper')\n",
        "demo-1.0.data/scripts/demo.pya": b"#!python\nprint('wrapper')\n",
        "demo-1.0.data/scripts/demo-script.pyw": b"#!python\nprint('kept')\n",
        "demo-1.0.data/scripts/demo-tool": b"#!/bin/sh\necho tool\n",
    }
    wheel = build_wheel("demo", "1.0", files=files,
                        entry_points="[gui_scripts]\ndemo = demo:main\n")  # fmt: skip
    staging = _install(tmp_path, wheel, MemoryReporter())
    assert sorted(p.name for p in (staging / "bin").iterdir() if p.name.startswith("d")) == [
        "demo",
        "demo-script.pyw",
        "demo-tool",
    ]
    done = subprocess.run([str(staging / "bin/demo")], capture_output=True, text=True, check=True)
    assert done.stdout == "entry point\n"
    record = _record(staging, "demo-1.0.dist-info")
    assert "bin/demo.exe" not in record
    assert "bin/demo-script.py" not in record
    assert record["bin/demo-tool"] == (_sha256(b"#!/bin/sh\necho tool\n"), "20")


def test_a_build_tagged_wheels_data_directory_installs_by_scheme(tmp_path: Path) -> None:
    """bdist_wheel (wheel's, setuptools', setuptools-rust's) names the .data directory after
    the wheel's name with its build tag: `demo-1.0-1-py3-none-any.whl` holds `demo-1.0-1.data`.
    pip takes any top-level `*.data` directory as the wheel's; mlenv took only `demo-1.0.data`,
    so the scripts, data and headers went into site-packages/demo-1.0-1.data/ instead."""
    files = {
        "demo/__init__.py": b"",
        "demo-1.0-1.data/scripts/demo-tool": b"#!python\nprint('tool')\n",
        "demo-1.0-1.data/data/share/demo/x.txt": b"shared\n",
        "demo-1.0-1.data/headers/demo.h": b"int demo;\n",
    }
    _, data = build_wheel("demo", "1.0", files=files)
    staging = _install(tmp_path, ("demo-1.0-1-py3-none-any.whl", data), MemoryReporter())
    assert not (staging / SITE / "demo-1.0-1.data").exists()
    done = subprocess.run([str(staging / "bin/demo-tool")], capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert done.stdout == "tool\n"
    assert (staging / "share/demo/x.txt").read_bytes() == b"shared\n"
    header = staging / "include/site/python3.11/demo/demo.h"
    assert header.read_bytes() == b"int demo;\n"
    record = _record(staging, "demo-1.0.dist-info")
    assert record["share/demo/x.txt"] == (_sha256(b"shared\n"), "7")
    assert record["include/site/python3.11/demo/demo.h"] == (_sha256(b"int demo;\n"), "10")
    assert record["bin/demo-tool"][0] == _sha256((staging / "bin/demo-tool").read_bytes())


def test_two_data_directories_are_refused(tmp_path: Path) -> None:
    """pip would install both; no build tool writes two, and which one installer routes by
    scheme would be a guess, so mlenv refuses the wheel naming them."""
    files = {"demo-1.0.data/data/a": b"a", "demo-1.0-1.data/data/b": b"b"}
    _, data = build_wheel("demo", "1.0", files=files)
    with pytest.raises(InstallError, match=r"demo-1\.0-1\.data.*demo-1\.0\.data"):
        _install(tmp_path, ("demo-1.0-1-py3-none-any.whl", data), MemoryReporter())


def test_headers_go_under_the_projects_normalised_name(tmp_path: Path) -> None:
    """pybind11_global 3.1.0 ships .data/headers/pybind11/*.h: pip puts them in
    include/site/python3.11/pybind11-global/ (the canonical name, as for any spelling of the
    file name: `Demo_Pkg-1.0` gives `demo-pkg`); mlenv used the file name's `pybind11_global`."""
    files = {"pybind11_global-3.1.0.data/headers/pybind11/attr.h": b"#pragma once\n"}
    wheel = build_wheel("pybind11_global", "3.1.0", files=files)
    staging = _install(tmp_path, wheel, MemoryReporter())
    assert sorted(p.name for p in (staging / "include/site/python3.11").iterdir()) == [
        "pybind11-global"
    ]
    header = "include/site/python3.11/pybind11-global/pybind11/attr.h"
    assert (staging / header).read_bytes() == b"#pragma once\n"
    assert _record(staging, "pybind11_global-3.1.0.dist-info")[header][1] == "13"


def test_a_data_directory_without_the_version_installs_by_scheme(tmp_path: Path) -> None:
    """maturin before 1.8.2 named a project's data directory `<name>.data` (PyO3/maturin#2450):
    pip routes it by scheme like any top-level `*.data` directory, and so does mlenv now."""
    files = {"demo/__init__.py": b"", "demo.data/data/share/demo/x.txt": b"shared\n"}
    staging = _install(tmp_path, build_wheel("demo", "1.0", files=files), MemoryReporter())
    assert (staging / "share/demo/x.txt").read_bytes() == b"shared\n"
    assert not (staging / SITE / "demo.data").exists()
