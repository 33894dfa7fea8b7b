"""The venv layout: where wheels install for the target interpreter and prefix, and the venv
files mlenv generates for the target paths (never copied from the host)."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from mlenv.install.ownership import Kind
from mlenv.install.safety import InstallError
from mlenv.placement import path_problem

_ACTIVATE = """\
# Source this file from a POSIX shell: . bin/activate  (deactivate undoes it)
deactivate () {{
    if [ -n "${{_OLD_VIRTUAL_PATH+set}}" ]; then
        PATH="$_OLD_VIRTUAL_PATH"
        export PATH
        unset _OLD_VIRTUAL_PATH
    fi
    if [ -n "${{_OLD_VIRTUAL_PYTHONHOME+set}}" ]; then
        PYTHONHOME="$_OLD_VIRTUAL_PYTHONHOME"
        export PYTHONHOME
        unset _OLD_VIRTUAL_PYTHONHOME
    fi
    unset VIRTUAL_ENV
    hash -r 2>/dev/null || true
    if [ "${{1-}}" != nondestructive ]; then
        unset -f deactivate
    fi
}}

deactivate nondestructive
VIRTUAL_ENV={prefix}
export VIRTUAL_ENV
_OLD_VIRTUAL_PATH="$PATH"
PATH="$VIRTUAL_ENV/bin:$PATH"
export PATH
if [ -n "${{PYTHONHOME+set}}" ]; then
    _OLD_VIRTUAL_PYTHONHOME="$PYTHONHOME"
    unset PYTHONHOME
fi
hash -r 2>/dev/null || true
"""


@dataclass(frozen=True)
class Layout:
    """Where things go, relative to the root that ``prefix`` names at run time."""

    prefix: str
    interpreter: str
    python: str
    # Installing onto a conda prefix: no venv skeleton, and its paths belong to conda.
    existing: frozenset[tuple[str, Kind, str | None]] = frozenset()  # with a symlink's target
    venv: bool = True

    @property
    def site(self) -> str:
        return f"lib/python{self.python}/site-packages"

    def scheme_dirs(self, dist: str) -> dict[str, str]:
        """pip's venv scheme: headers get a directory per distribution, named as pip names it
        (``dist`` canonical: pybind11_global's headers go in ``pybind11-global``)."""
        return {
            "purelib": self.site,
            "platlib": self.site,
            "scripts": "bin",
            "data": "",
            "headers": f"include/site/python{self.python}/{dist}",
        }

    def venv_files(self) -> dict[str, str]:
        """``pyvenv.cfg`` and ``bin/activate``. activate holds the prefix single-quoted, though
        a prefix needs no quoting: conda-unpack rewrites it to wherever the archive was
        unpacked, a space included, and ``VIRTUAL_ENV=/home/u/my env/x`` ran ``env/x`` and left
        ``VIRTUAL_ENV`` empty, ``/bin`` leading PATH (attack 134); a quote is a byte
        conda-unpack refuses, so the location stays one word."""
        config = (
            f"home = {posixpath.dirname(self.interpreter)}\n"
            "include-system-site-packages = false\n"
            f"version = {self.python}\n"
            f"executable = {self.interpreter}\n"
        )
        activate = _ACTIVATE.format(prefix=f"'{self.prefix}'")
        return {"pyvenv.cfg": config, "bin/activate": activate}

    def venv_links(self) -> dict[str, str]:
        names = ("python", "python3", f"python{self.python}")
        return {**{f"bin/{name}": self.interpreter for name in names}, "lib64": "lib"}

    def generated(self) -> tuple[str, ...]:
        if not self.venv:
            return ()
        return tuple(sorted({*self.venv_files(), *self.venv_links()}))

    def generated_kinds(self) -> list[tuple[str, Kind]]:
        """What mlenv writes, for the ledger: the directories wheels install into, too."""
        kinds: list[tuple[str, Kind]] = [(self.site, "dir"), ("bin", "dir")]
        links = self.venv_links()
        return kinds + [(p, "symlink" if p in links else "file") for p in self.generated()]


def clean_path(path: str, what: str) -> str:
    """Both end up in shebangs, pyvenv.cfg and activate, so only clean paths are accepted."""
    if problem := path_problem(path):
        raise InstallError(f"{path!r} {problem}", where=what)
    return path


def python_minor(python: str) -> str:
    major, _, minor = python.partition(".")
    if major != "3" or not minor.isdigit():
        raise InstallError(
            f"must be a CPython minor version like 3.11, not {python!r}", where="python"
        )
    return python


def write_venv(root: Path, layout: Layout) -> tuple[str, ...]:
    (root / layout.site).mkdir(parents=True, exist_ok=not layout.venv)
    (root / "bin").mkdir(exist_ok=not layout.venv)
    if not layout.venv:
        return ()  # conda laid out the prefix and its Python
    for path, text in layout.venv_files().items():
        (root / path).write_bytes(text.encode())
    for path, target in layout.venv_links().items():
        (root / path).symlink_to(target)
    return layout.generated()
