"""``[pypi] exclude-newer``: lock as the indexes stood at an instant (uv's and pixi's option).

uv's rule, matched: a file is a candidate only when its index states an upload time (PEP 700,
``IndexFile.upload_time``) strictly before the cutoff; one uploaded at the cutoff or later, or
one whose index states no time (every PEP 503 HTML page), is not. The cutoff is judged before
anything else of a file (uv judges it before the yank), so an excluded yanked release says
"excluded", not "yanked". Find-links files are never dated and never excluded: uv's flat index
is not filtered either, and they are the user's own wheels.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from mlenv.index.model import IndexFile
from mlenv.instants import spelled

EXCLUDE_NEWER = "[pypi] exclude-newer"
# the reasons ``resolver.pages._Pages._reject`` records; one text each, so the tally counts them
UPLOADED_LATER = f"uploaded at or after {EXCLUDE_NEWER}"
UNDATED = f"the index states no upload time ({EXCLUDE_NEWER} takes only dated files)"


def excluded(file: IndexFile, cutoff: datetime) -> str | None:
    """Why the cutoff refuses ``file``, or None when it was uploaded strictly before it."""
    if file.upload_time is None:
        return UNDATED
    return UPLOADED_LATER if file.upload_time >= cutoff else None


def nothing_before(
    name: str, searched: str, cutoff: datetime, refused: Iterable[tuple[IndexFile, str]]
) -> str | None:
    """The account of a project the cutoff left no file of: the cutoff, and the newest release
    it excluded with its upload time (or that its index stated none); None when the cutoff
    refused none of its files."""
    cut = [file for file, reason in refused if reason in (UPLOADED_LATER, UNDATED)]
    if not cut:
        return None
    newest = max(cut, key=lambda file: (file.version, file.upload_time is not None))
    stated = newest.upload_time
    when = f"uploaded {spelled(stated)}" if stated is not None else "no upload time stated"
    return (
        f"{name}: no file on {searched} uploaded before {EXCLUDE_NEWER} {spelled(cutoff)} "
        f"(the newest excluded: {newest.version}, {when})"
    )
