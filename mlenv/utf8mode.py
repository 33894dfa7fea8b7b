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
    if utf8_filenames() or os.environ.get("PYTHONUTF8") == "1" or not sys.executable:
        return
    # ``-X utf8`` as well as the variable: ``python -I -m mlenv`` (or ``-E``) ignores every
    # PYTHON* variable, so the variable alone left the new process in the locale's encoding.
    # The variable is kept for children and, set, ends the re-exec: never a loop. A frozen
    # executable takes no interpreter options.
    options = [] if getattr(sys, "frozen", False) else ["-X", "utf8"]
    os.execve(
        sys.executable,
        [sys.executable, *options, *sys.orig_argv[1:]],
        {**os.environ, "PYTHONUTF8": "1"},
    )
