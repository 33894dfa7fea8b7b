"""Archive safety shared by the wheel and conda package checks: size bounds, the paths a
member may have or link to, and how a refusal reads."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from mlenv.errors import MlenvError

MAX_WHEEL_BYTES = 8 << 30
MAX_RATIO = 200.0
_MAX_NAME = 255
MAX_PATH = 4096
MAX_METADATA = 64 << 20  # dist-info files are read into memory
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
    """Why a relative path could land outside its directory or fail on some file system."""
    if path.startswith("/"):
        return "is an absolute path"
    if "\\" in path or "\0" in path:
        return "contains a backslash or NUL"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return f"has a {part!r} path component"
        if len(part.encode()) > _MAX_NAME:
            return f"has a name over {_MAX_NAME} bytes"
    return None


def link_problem(path: str, target: str) -> str | None:
    """Why a symlink's target could leave the prefix. Only leading '..' are allowed, at most
    as many as the link is deep: a later '..' could climb out through another symlink."""
    if target.startswith("/"):
        return f"is a symlink to the absolute path {target!r}"
    parts = [part for part in target.split("/") if part not in ("", ".")]
    ups = len(parts) - len(list(itertools.dropwhile(lambda part: part == "..", parts)))
    if ".." in parts[ups:] or ups > path.count("/"):
        return f"is a symlink to {target!r}, which may leave the prefix"
    return None
