"""The files of a local index or find-links directory, read as a remote one's answers would
be: a page or ``.metadata`` only if it is a plain file, bounded; a directory's files listed in a
sorted order, each entry stamped for the lock memo and no symlink leading out of it."""

from __future__ import annotations

from pathlib import Path

from mlenv import watch
from mlenv.errors import MlenvError
from mlenv.index.model import IndexPageError, Link
from mlenv.limits import MAX_PAGE_LINKS, enforce
from mlenv.net.origins import LocalRoots, follow
from mlenv.userfiles import read_input


def read_local(path: Path, where: str) -> bytes:
    """A page or ``.metadata`` of a local index, read only if it is a plain file, bounded
    (``userfiles.read_input``: a FIFO or ``/dev/zero`` there never blocks or fills memory)."""
    try:
        return read_input(path, "local index file")
    except OSError as exc:
        raise IndexPageError(
            f"cannot read {path}: {exc.strerror or exc}",
            where=where,
            hint="check that the local index is complete and readable",
        ) from None
    except MlenvError as error:
        raise IndexPageError(error.message, where=where, hint=error.hint) from None


def directory_links(directory: Path, where: str, local: LocalRoots) -> list[Link]:
    """Every file in a directory, sorted so the listing never depends on the file system."""
    try:
        # each entry is stamped: a symlink's target (in a subdirectory, whose change this
        # directory's stamp does not show) can appear, vanish or change size
        listed = list(directory.iterdir())
        for entry in listed:
            watch.probed(entry)
        entries = sorted(p for p in listed if p.is_file())
    except OSError as exc:
        raise IndexPageError(
            f"cannot list {directory}: {exc.strerror or exc}",
            where=where,
            hint="check the find-links directory exists and is readable",
        ) from None
    enforce(len(entries), MAX_PAGE_LINKS, "files in the directory", where=where)
    names = {p.name for p in entries}
    return [
        Link(
            # A symlink out of the directory is refused like a link out of a page.
            url=follow(p.as_uri(), base=where + "/", local=local, where=where),
            filename=p.name,
            size=p.stat().st_size,
            has_metadata=f"{p.name}.metadata" in names,
        )
        for p in entries
    ]
