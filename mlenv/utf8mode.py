"""File names are UTF-8 whatever the locale.

Under a locale whose encoding is not UTF-8 (``LC_ALL=tr_TR.ISO-8859-9``, ``en_US.ISO-8859-1``)
Python encodes every ``str`` path with that charset: a wheel member named ``İ.py`` was staged
under other bytes than on a UTF-8 runner, one whose name the charset cannot hold (a combining
mark) was refused as a corrupt wheel, and a conda package's UTF-8 names (written by rattler)
were read back as other names and refused as malicious. The same lock must give the same bytes
on any runner, so the process starts again in Python's UTF-8 mode (PEP 540), before anything
else is read; its children inherit it. C and POSIX locales already get UTF-8 mode.
"""

from __future__ import annotations

import codecs
import os
import sys


def utf8_filenames() -> bool:
    return codecs.lookup(sys.getfilesystemencoding()).name == "utf-8"


def ensure_utf8_filenames() -> None:
    """Re-run this very command in UTF-8 mode when file names would be encoded otherwise."""
    frozen = bool(getattr(sys, "frozen", False))  # an executable that takes no -X option
    if utf8_filenames() or not sys.executable or "utf8" in sys._xoptions:
        return  # an -X utf8 given (the re-exec's, or the user's utf8=0) ends it: never a loop
    if (frozen and os.environ.get("PYTHONUTF8") == "1") or sys.platform == "win32":
        return  # Windows' execve starts a new process and ends this one: its exit status lost
    # ``-X utf8`` as well as the variable, which children inherit: ``python -I -m mlenv`` (or
    # ``-E``) ignores every PYTHON* variable, so the variable alone (even one the user had
    # exported) left this process in the locale's encoding.
    options = [] if frozen else ["-X", "utf8"]
    os.execve(
        sys.executable,
        [sys.executable, *options, *sys.orig_argv[1:]],
        {**os.environ, "PYTHONUTF8": "1"},
    )
