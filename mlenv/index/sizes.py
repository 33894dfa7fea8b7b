"""The size a server states for a file without sending it.

An HTML simple index (PyTorch's, devpi, Nexus, Artifactory, GitLab, pypiserver) lists a file's
sha256 but not its size (PEP 700 is JSON only), and a lock records both. Measuring meant
downloading every locked file whole at lock time, gigabytes for a CUDA stack, and again at
fetch. A HEAD answer's Content-Length is the length a GET answers with (a range answer's
total is not: a server may answer ranges from other bytes than the whole file). The stated
size is a claim like PEP 700's; ``fetch`` stores no bytes that differ from the lock's sha256
and size.
"""

from __future__ import annotations

from mlenv.index.http import HttpClient, HttpError
from mlenv.limits import MAX_WHEEL_BYTES


def stated_size(http: HttpClient, url: str) -> int | None:
    """A HEAD answer's Content-Length for ``url`` asked as ``identity``; None when the server
    states no length of the file's own bytes (another encoding, no length, a refusal of HEAD,
    a text answer: a sign-in page a proxy serves in the file's place): the caller measures the
    file, and a GET tells what is wrong."""
    headers = {"Accept-Encoding": "identity"}
    try:
        with http.stream(url, headers=headers, method="HEAD") as response:
            coding = response.headers.get("content-encoding", "").strip().lower()
            kind = response.headers.get("content-type", "").strip().lower()
            stated = response.headers.get("content-length", "").strip()
            if coding not in ("", "identity") or kind.startswith("text/"):
                return None
            if response.status_code != 200:
                return None
    except HttpError:  # measuring asks with a GET and reports what is wrong
        return None
    if not (stated.isascii() and stated.isdigit() and len(stated) <= 20):
        return None
    size = int(stated)
    return size if 0 < size <= MAX_WHEEL_BYTES else None
