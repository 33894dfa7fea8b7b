"""Pass 36, attack 261: mlenv's installed tree against pip's, wheel by wheel.

A differential: each wheel is installed by ``install_environment`` (the call ``mlenv build``
makes) and by ``pip install --no-deps --no-index --no-compile`` into a venv at the prefix mlenv
installs for, and the two trees are compared path by path, byte by byte, executable bit and
RECORD (``tests.support.pip_trees`` states its few normalisations). The odd layouts wheels ship
are built here: ``.data/scripts`` with ``#!python``, ``#!pythonw``, ``#!python3 -u``, CRLF and
foreign shebangs, ``.data/headers``, ``.data/data`` (an executable too), ``.data/platlib`` in a
purelib wheel and ``.data/purelib`` in a platlib one, a namespace package, entry points with
extras, GUI scripts and odd names, RECORD rows without a hash for ``RECORD.jws`` and
directories, a build tag and a compressed tag set, an upper-case dist-info, metadata 2.4's
``licenses/``. Every difference left is one ``install.wheels``' docstring states.

Found: pip and setuptools wheels declare scripts named after the Python that built them (pip
24.0's ``pip3.10``, setuptools 40's ``easy_install-3.6``). pip installs ``pip3.X`` and
``easy_install-3.X`` of the Python it installs for instead; mlenv wrote the builder's names, so a
3.11 environment had ``bin/pip3.10`` and no ``bin/pip3.11``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from mlenv.install.wheels import install_environment
from mlenv.report import MemoryReporter
from tests.support.pip_trees import Difference, compare
from tests.support.raw_wheels import member_name, raw_wheel, record_hash

pytestmark = pytest.mark.hostile

SITE = "lib/python3.11/site-packages"


def _wheel(
    directory: Path,
    filename: str,
    dist_info: str,
    members: list[tuple[str, bytes, int]],
    *,
    metadata: bytes,
    purelib: bool = True,
    unhashed: tuple[str, ...] = (),
) -> Path:
    """A wheel of ``members`` (name, bytes, unix mode); ``unhashed`` rows are listed in RECORD
    with no hash (``RECORD.jws``, directories), as old bdist_wheel wrote them."""
    tags = filename.removesuffix(".whl").split("-")[-3:]
    wheel = (
        f"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: {str(purelib).lower()}\n"
        + "".join(
            f"Tag: {i}-{a}-{p}\n"
            for i in tags[0].split(".")
            for a in tags[1].split(".")
            for p in tags[2].split(".")
        )
    ).encode()
    infos: list[tuple[str | zipfile.ZipInfo, bytes]] = []
    for name, data, mode in members:
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = mode << 16
        infos.append((info, data))
    rows = [
        f"{member_name(m)},{record_hash(data)},{len(data)}\n"
        for m, data in [*infos, (f"{dist_info}/METADATA", metadata), (f"{dist_info}/WHEEL", wheel)]
        if not member_name(m).endswith("/") and member_name(m) not in unhashed
    ]
    record = "".join(rows) + "".join(f"{name},,\n" for name in unhashed)
    return raw_wheel(
        directory,
        infos,
        filename=filename,
        dist_info=dist_info,
        metadata=metadata,
        wheel=wheel,
        record=record + f"{dist_info}/RECORD,,\n",
    )


def _layouts(directory: Path) -> Path:
    """Every odd placement one wheel can ask for."""
    info, data = "Odd_Layout-1.0.dist-info", "Odd_Layout-1.0-7.data"
    members = [
        ("odd_layout/", b"", 0o40755),
        ("odd_layout/__init__.py", b"def main(): pass\n", 0o100644),
        ("odd_layout/tool.sh", b"#!/bin/sh\n", 0o100775),
        ("odd_layout/empty", b"", 0o100000),
        ("nspace/sub/__init__.py", b"", 0o100644),
        (f"{data}/scripts/hash-python", b"#!python\nprint(1)\n", 0o100755),
        (f"{data}/scripts/usr-python", b"#!/usr/bin/python\nprint(2)\n", 0o100755),
        (f"{data}/scripts/w-python", b"#!pythonw\nprint(3)\n", 0o100644),
        (f"{data}/scripts/python-args", b"#!python3 -u\nprint(4)\n", 0o100755),
        (f"{data}/scripts/crlf", b"#!python\r\nprint(5)\r\n", 0o100755),
        (f"{data}/scripts/plain.sh", b"echo hi\n", 0o100644),
        (f"{data}/headers/odd.h", b"int odd;\n", 0o100644),
        (f"{data}/headers/sub/deep.h", b"int deep;\n", 0o100644),
        (f"{data}/data/share/odd/x.txt", b"x\n", 0o100644),
        (f"{data}/data/share/odd/run", b"#!/bin/sh\n", 0o100755),
        (f"{data}/platlib/odd_native.py", b"N = 1\n", 0o100644),
        (f"{data}/purelib/odd_pure.py", b"P = 1\n", 0o100644),
        (f"{info}/licenses/LICENSE", b"MIT\n", 0o100644),
        (f"{info}/RECORD.jws", b"signature", 0o100644),
        (f"{info}/entry_points.txt", ENTRY_POINTS, 0o100644),
    ]
    metadata = b"Metadata-Version: 2.4\nName: Odd_Layout\nVersion: 1.0\nLicense-File: LICENSE\n\n"
    filename = "Odd_Layout-1.0-7-py2.py3-none-any.whl"
    unhashed = (f"{info}/RECORD.jws", "odd_layout/")
    return _wheel(directory, filename, info, members, metadata=metadata, unhashed=unhashed)


ENTRY_POINTS = b"""\
[console_scripts]
odd-cli = odd_layout:main [extra]
odd.dots = odd_layout:main
Odd_Upper = odd_layout:main
[gui_scripts]
odd-gui = odd_layout:main
[odd_layout.plugins]
ignored = odd_layout:main
"""


def _platlib(directory: Path) -> Path:
    """Root-Is-Purelib false, with a purelib member in its .data."""
    info = "native-2.0.dist-info"
    members = [
        ("native/__init__.py", b"", 0o100644),
        ("native-2.0.data/purelib/native_pure.py", b"", 0o100644),
    ]
    metadata = b"Metadata-Version: 2.1\nName: native\nVersion: 2.0\n\n"
    filename = "native-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    return _wheel(directory, filename, info, members, metadata=metadata, purelib=False)


def _builder_named(directory: Path, name: str, scripts: bytes) -> Path:
    """A pip or setuptools whose scripts name the Python that built it, not the target's."""
    info = f"{name}-1.0.dist-info"
    members = [
        (f"{name}/__init__.py", b"def main(): pass\n", 0o100644),
        (f"{info}/entry_points.txt", scripts, 0o100644),
    ]
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n\n".encode()
    return _wheel(directory, f"{name}-1.0-py3-none-any.whl", info, members, metadata=metadata)


PIP_SCRIPTS = b"[console_scripts]\npip = pip:main\npip3 = pip:main\npip3.10 = pip:main\n"
SETUPTOOLS_SCRIPTS = b"""\
[console_scripts]
easy_install = setuptools:main
easy_install-3.6 = setuptools:main
[distutils.commands]
alias = setuptools:main
"""


def _odd_wheels(directory: Path) -> list[Path]:
    directory.mkdir()
    return [
        _layouts(directory),
        _platlib(directory),
        _builder_named(directory, "pip", PIP_SCRIPTS),
        _builder_named(directory, "setuptools", SETUPTOOLS_SCRIPTS),
    ]


def test_odd_wheels_install_as_pip_installs_them(tmp_path: Path) -> None:
    """Every odd layout lands where pip puts it, with pip's bytes, executable bits and a
    RECORD true to the tree; the only differences left are the documented ones."""
    wheels = _odd_wheels(tmp_path / "wheels")
    result = compare(wheels, tmp_path / "work")
    assert (result.pip_error, result.mlenv_error) == ("", "")
    assert result.differences == ()
    dist_infos = ["Odd_Layout-1.0.dist-info", "native-2.0.dist-info"]
    dist_infos += ["pip-1.0.dist-info", "setuptools-1.0.dist-info"]
    expected = {
        Difference("pip only", f"{SITE}/{d}/{name}", "file")
        for d in dist_infos
        for name in ("REQUESTED", "direct_url.json")
    }
    expected.add(Difference("pip only", f"{SITE}/Odd_Layout-1.0.dist-info/RECORD.jws", "file"))
    expected.add(Difference("executable", "bin/w-python", "pip 100644, mlenv 100755"))
    expected.add(Difference("executable", "bin/plain.sh", "pip 100644, mlenv 100755"))
    assert set(result.documented) == expected
    assert result.files == 58


def test_versioned_scripts_name_the_targets_python(tmp_path: Path) -> None:
    """The rule follows the target, not the Python mlenv runs on (pip can only install for its
    own): a 3.12 environment gets ``pip3.12`` and ``easy_install-3.12``."""
    directory = tmp_path / "wheels"
    directory.mkdir()
    pip = _builder_named(directory, "pip", PIP_SCRIPTS)
    setuptools = _builder_named(directory, "setuptools", SETUPTOOLS_SCRIPTS)
    install_environment(
        [pip, setuptools],
        tmp_path / "tree",
        prefix="/opt/mlenv/t",
        interpreter="/usr/bin/python3.12",
        python="3.12",
        reporter=MemoryReporter(),
    )
    scripts = sorted(p.name for p in (tmp_path / "tree" / "bin").iterdir())
    assert [s for s in scripts if s.startswith(("pip", "easy"))] == [
        "easy_install",
        "easy_install-3.12",
        "pip",
        "pip3",
        "pip3.12",
    ]
