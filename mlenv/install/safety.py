"""Archive safety shared by the wheel and conda package checks: size bounds, the paths a
member may have or link to, and how a refusal reads."""

from __future__ import annotations

import itertools
import re
import tarfile
from dataclasses import dataclass

from mlenv.errors import MlenvError, hidden_characters, terminal_text
from mlenv.limits import MAX_WHEEL_BYTES as MAX_WHEEL_BYTES

MAX_RATIO = 200.0
_MAX_NAME = 255
MAX_PATH = 4096
# Directories a member may lie below. MAX_PATH alone lets 2,000 one-letter levels through,
# and the tree's own readers recurse once a level (pathlib's mkdir(parents=True), os.walk,
# rglob; installer's os.makedirs): past ~1,000 a build died in a RecursionError. The bound
# stays far below that with any prefix, and far above a real package's nesting.
MAX_DEPTH = 128
MAX_METADATA = 64 << 20  # dist-info files are read into memory
# A script name is one file name in bin/: no '/', no space (the shell splits the name in two;
# other whitespace is a control character, which the ledger refuses with a leading '-'), not
# starting with '[' (the entry points spec) nor '-' (the ledger's rule for every name).
_NOT_A_SCRIPT = re.compile("[/ \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]|^\\[")  # Zs
# What installers generate a script for (installer's pattern, the function required): the
# module and function are written into Python code. Matched against the stripped value, with
# no two runs of blanks side by side: "a:b" and a million blanks and "x" was quadratic (hours).
_CALLABLE = re.compile(r"[\w.]+\s*:\s*[\w.]+(\s*\[.*\])?")
# The tar headers that describe the member after them (PAX records, GNU long names and links):
# tarfile reads each whole into memory, and resolves them into the member's name and link.
TAR_EXTENSIONS = frozenset({
    tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.XGLTYPE,
    tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK,
})  # fmt: skip
DISK_HINT = "check free space and permissions where the staging directory lives"
WHEEL_HINT = "the wheel is corrupt or malicious: lock another version or rebuild it"


class InstallError(MlenvError):
    """A wheel cannot be installed safely, or the tree cannot be built as asked."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_ratio: float


def refused(wheel: str, member: str, problem: str, hint: str = WHEEL_HINT) -> InstallError:
    return InstallError(f"member {member!r} {problem}", where=wheel, hint=hint)


def member_problem(path: str) -> str | None:
    """Why a relative path could land outside its directory, fail on some file system, or
    nest deeper than the readers of the installed tree can walk."""
    if path.startswith("/"):
        return "is an absolute path"
    if "\\" in path or "\0" in path:
        return "contains a backslash or NUL"
    if path.count("/") > MAX_DEPTH:
        return f"lies {path.count('/')} directories deep, over the limit of {MAX_DEPTH}"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return f"has a {part!r} path component"
        if len(part.encode()) > _MAX_NAME:
            return f"has a name over {_MAX_NAME} bytes"
    return None


def entry_point_problem(name: str, value: str) -> str | None:
    """Why an entry point (a wheel's console or GUI script, a noarch conda package's) cannot
    become ``bin/<name>``; the ledger judges that path like any other."""
    if member_problem(name) or _NOT_A_SCRIPT.search(name):
        return f"declares script {name[:300]!r}, which is not a name"
    if name.startswith("-"):  # the ledger refuses it too; here the wheel alone is vetted
        return (
            f"declares script {name!r}, which starts with '-': a command line takes it as an option"
        )
    if not _CALLABLE.fullmatch(value.strip()):
        return f"declares script {name!r} as {value[:200]!r}, which is not module:function"
    return None


def link_problem(path: str, target: str) -> str | None:
    """Why a symlink's target could leave the prefix, or hide what it points at. Only leading
    '..' are allowed, at most as many as the link is deep: a later '..' could climb out through
    another symlink. A target shows as it is: no control or format character (an escape
    sequence in `ls -l`, a bidi override showing another path), no NUL or backslash."""
    if hidden := hidden_characters(target):
        return (
            f"is a symlink to {terminal_text(target)!r}, a target holding the control or format "
            f"character {hidden[0]!r}: a path no tool or terminal shows as it is"
        )
    if not target or "\\" in target or len(target.encode()) > MAX_PATH:
        return f"is a symlink to {target[:200]!r}: empty, over {MAX_PATH} bytes or a backslash"
    if target.startswith("/"):
        return f"is a symlink to the absolute path {target!r}"
    parts = [part for part in target.split("/") if part not in ("", ".")]
    ups = len(parts) - len(list(itertools.dropwhile(lambda part: part == "..", parts)))
    if ".." in parts[ups:] or ups > path.count("/"):
        return f"is a symlink to {target!r}, which may leave the prefix"
    return None
