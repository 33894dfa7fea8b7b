"""Digests a page states for a file besides sha256: ``#md5=``/``#sha512=`` fragments
(pypiserver's ``--hash-algo``, devpi, Nexus and Artifactory pages) and the other keys of a
PEP 691 ``hashes``. A lock pins the sha256 mlenv measures, never these; but bytes that
contradict what their page states are not the file the page lists, so the measure checks them
(uv and pip refuse such a file too). The one rule for which claims count lives here."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Protocol

from mlenv.digests import is_lower_hex

# hashlib's guaranteed algorithms a simple page may name (PEP 503 allows any of them), and the
# lengths of each one's hex digest: "blake2b" in both its spellings, uv's 32-byte digest (PyPI's
# blake2b_256) and hashlib's 64-byte one (pypiserver's ``--hash-algo blake2b``)
_HEX_LENGTHS = {
    "md5": (32,), "sha1": (40,), "sha224": (56,), "sha256": (64,), "sha384": (96,),
    "sha512": (128,), "blake2b": (64, 128),
}  # fmt: skip

Declared = tuple[tuple[str, str], ...]  # (algorithm, lower-case hex or MALFORMED), sorted
# What stands for a stated value that is no digest: never hex, so no bytes hash to it, and
# never the page's own text in a message
MALFORMED = "<not a digest>"


def page_digests(pairs: Iterable[tuple[str, object]]) -> tuple[str | None, Declared]:
    """The sha256 a page pins a file to and its other claims, from ``pairs`` (a fragment's or a
    JSON ``hashes``' name/value). An algorithm stated with two values keeps both, and bytes
    must meet every claim: pip checked the first, uv the last, so ``md5=GOOD&md5=BAD`` passed
    one of them. Two sha256 values are no pin (the last was taken, unmeasured): both stay
    claims, and the measure refuses the file. A value that is no digest of its algorithm
    (``#sha256=GOOD#x``, one digit short, a space) is a claim no bytes meet (``MALFORMED``):
    it was none, so the file was measured and locked whatever its bytes, where pip refuses
    it (hash mismatch) and uv the page."""
    found: set[tuple[str, str]] = set()
    for name, value in pairs:
        algorithm = name.lower()
        lengths = _HEX_LENGTHS.get(algorithm)
        # an empty value states nothing (pip and uv agree beside another value; alone, pip
        # fails an assertion, uv the page), nor does a JSON null (uv reads no digest; pip too
        # beside another, alone it fails)
        if lengths is None or value is None or value == "":
            continue
        if isinstance(value, str) and any(is_lower_hex(value.lower(), n) for n in lengths):
            found.add((algorithm, value.lower()))
        else:
            found.add((algorithm, MALFORMED))
    claims = tuple(sorted(found))
    stated = [value for algorithm, value in claims if algorithm == "sha256"]
    if len(stated) != 1 or stated[0] == MALFORMED:
        return None, claims
    return stated[0], tuple(claim for claim in claims if claim[0] != "sha256")


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...


def _hasher(algorithm: str, size: int) -> _Hasher:
    if size:
        return hashlib.blake2b(digest_size=size, usedforsecurity=False)
    return hashlib.new(algorithm, usedforsecurity=False)


def _kind(claim: tuple[str, str]) -> tuple[str, int]:
    """The hasher a claim is checked with: its algorithm and, for blake2b, the digest size its
    value's length says (0: the algorithm's one size; a malformed value no bytes meet)."""
    algorithm, value = claim
    if algorithm != "blake2b":
        return algorithm, 0
    return algorithm, 32 if len(value) == 64 else 64


class DigestCheck:
    """A sink for ``cache.held.measure``: hashes the bytes measured with every other declared
    algorithm, so the file is read once whatever its page states."""

    def __init__(self, declared: Declared) -> None:
        self._claims = declared
        self._hashers = {
            _kind(claim): _hasher(*_kind(claim))
            for claim in declared
            if claim[0] != "sha256"  # ``measure`` hashes it
        }

    def write(self, data: bytes | memoryview, /) -> int:
        for hasher in self._hashers.values():
            hasher.update(data)
        return len(data)

    def contradiction(self, sha256: str) -> tuple[str, str, str] | None:
        """The first claim the bytes written (whose sha256 ``measure`` found) contradict:
        (algorithm, stated, found)."""
        for algorithm, value in self._claims:
            found = (
                sha256
                if algorithm == "sha256"
                else self._hashers[_kind((algorithm, value))].hexdigest()
            )
            if found != value:
                return algorithm, value, found
        return None
