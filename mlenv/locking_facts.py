"""The sha256 and size of every file a lock pins: taken from the index when it says, else
measured by streaming the bytes once, in parallel, against every digest the index declares.

It lives apart from the lock use case because it is the one part that reads artifacts' bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

# imported here, not where a local lock first hashes: a module imported for the first time
# while a first lock is recorded lists sys.path's directories, and a listing the recording
# cannot place (a working directory the run wrote into) keeps that lock from the memo
from concurrent.futures import ThreadPoolExecutor

from mlenv import watch
from mlenv.cache.held import measure
from mlenv.index import Index, IndexFile, PackageIndexError
from mlenv.index.declared import DigestCheck
from mlenv.index.urls import file_url_to_path, is_file_url, recordable
from mlenv.limits import MAX_WHEEL_BYTES
from mlenv.report import Reporter

HASH_WORKERS = 4


def artifact_facts(
    index: Index, files: Sequence[IndexFile], reporter: Reporter
) -> dict[str, tuple[str, int]]:
    """sha256 and size of every file: from the index when it says, else measured.

    A local file's size is a stat; a hashed remote file's, the size its server states
    (``Index.size``: a HEAD answer, not the file); anything else unknown is streamed
    once and hashed, in parallel, never held in memory. A file whose page states another
    digest besides sha256 (``#md5=``, a PEP 691 ``hashes`` with several) is measured even when
    sha256 and size are known, since its bytes must meet every digest stated
    (``index.declared``): taking the sha256 alone left a contradicting md5 unread. A declared
    size that is no positive number (PEP 700's ``"size": 0``: no wheel or conda package is
    empty) is not taken. A file measured despite a declared sha256 must hash to it. A wrong
    positive size, declared or stated, is caught by fetch, which stores no bytes that differ
    from the lock's size.
    """
    unique = {f.url: f for f in files}
    facts: dict[str, tuple[str, int]] = {}
    todo = []
    for url, file in sorted(unique.items()):
        if file.declared:  # every digest the page states is checked against the bytes
            todo.append(file)
        elif file.sha256 is not None and type(file.size) is int and file.size > 0:
            facts[url] = (file.sha256, file.size)
        elif file.sha256 is not None and is_file_url(url):
            watch.probed(file_url_to_path(url))  # the size is of these bytes
            facts[url] = (file.sha256, file_url_to_path(url).stat().st_size)
        else:
            todo.append(file)
    if not todo:
        return facts
    with reporter.task("sizing files the index did not size or hash", len(todo), "files") as task:

        def measure_file(file: IndexFile) -> tuple[str, tuple[str, int]]:
            if file.sha256 and not file.declared and (stated := index.size(file)) is not None:
                task.advance()
                return file.url, (file.sha256, stated)
            check = DigestCheck(file.declared)
            # no more than any package may hold; a wrong stated size alone is no reason to
            # refuse bytes whose digests hold (the lock keeps the measured size)
            with index.open(file) as stream:
                measured = measure(stream, check if file.declared else None, limit=MAX_WHEEL_BYTES)
            wrong = check.contradiction(measured.sha256)
            if file.sha256 is not None and measured.sha256 != file.sha256:
                wrong = ("sha256", file.sha256, measured.sha256)
            problem = (
                None
                if wrong is None
                else (f"the index declares {wrong[0]} {wrong[1]}, but its bytes hash to {wrong[2]}")
            )
            if measured.size > MAX_WHEEL_BYTES:
                problem = (
                    f"the index serves more than the {MAX_WHEEL_BYTES:,} bytes a package may hold"
                )
            if problem is not None:
                raise PackageIndexError(
                    f"{file.filename}: {problem}",
                    where=recordable(file.url),
                    hint="the index serves other bytes than it lists; ask its owner to fix it",
                )
            task.advance()
            return file.url, (measured.sha256, measured.size)

        with ThreadPoolExecutor(HASH_WORKERS) as pool:
            facts.update(pool.map(measure_file, todo))
    return facts
