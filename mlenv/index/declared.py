"""Digests a page states for a file besides sha256: ``#md5=``/``#sha512=`` fragments
(pypiserver's ``--hash-algo``, devpi, Nexus and Artifactory pages) and the other keys of a
PEP 691 ``hashes``. A lock pins the sha256 mlenv measures, never these; but bytes that
contradict what their page states are not the file the page lists, so the measure checks them
(uv and pip refuse such a file too). The one rule for which claims count lives here."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from mlenv.digests import is_lower_hex

# hashlib's guaranteed algorithms a simple page may name (PEP 503 allows any of them), and the
# length of each one's hex digest; sha256 is ``Link.sha256``'s, not here.
_HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha224": 56, "sha384": 96, "sha512": 128}

Declared = tuple[tuple[str, str], ...]  # (algorithm, lower-case hex), sorted by algorithm


def declared_digests(pairs: Iterable[tuple[str, object]]) -> Declared:
    """The well-formed claims among ``pairs`` (a fragment's or a JSON ``hashes``' name/value);
    a malformed one is no claim, as a malformed sha256 is none (``model.valid_sha256``). An
    algorithm named twice keeps its first value."""
    found: dict[str, str] = {}
    for name, value in pairs:
        algorithm = name.lower()
        length = _HEX_LENGTHS.get(algorithm)
        if length is None or algorithm in found or not isinstance(value, str):
            continue
        if is_lower_hex(value.lower(), length):
            found[algorithm] = value.lower()
    return tuple(sorted(found.items()))


class DigestCheck:
    """A sink for ``cache.held.measure``: hashes the bytes measured with every declared
    algorithm, so the file is read once whatever its page states."""

    def __init__(self, declared: Declared) -> None:
        self._hashers = [
            (algorithm, value, hashlib.new(algorithm, usedforsecurity=False))
            for algorithm, value in declared
        ]

    def write(self, data: bytes | memoryview, /) -> int:
        for _algorithm, _value, hasher in self._hashers:
            hasher.update(data)
        return len(data)

    def contradiction(self) -> tuple[str, str, str] | None:
        """The first claim the bytes written contradict: (algorithm, stated, found)."""
        for algorithm, value, hasher in self._hashers:
            if hasher.hexdigest() != value:
                return algorithm, value, hasher.hexdigest()
        return None
