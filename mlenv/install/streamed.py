"""A big wheel member that goes from the wheel into the layer, never through the staging tree.

An OCI-only build reads each installed file exactly once, to tar it. Writing a torch stack's
5 GB of big members to the staging tree and reading them back was a third of a cold build's
disk traffic; streamed, a member's bytes are inflated by the layer writer's read instead, and
the staging tree holds an empty placeholder at its path (its place in the listing, its mode).

Invariant: a streamed member's bytes are held to the wheel's RECORD (sha256 and size) and its
CRC-32 by the read that tars them, as the installer holds a written one; a member that fails
ends the build with the same refusal, naming the wheel and the member, and no output ships.
Only a member whose RECORD names a sha256 is streamed; any other hash is checked by writing.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlenv.install.inflate import member_chunks
from mlenv.install.safety import WHEEL_HINT, InstallError, refused

MISMATCH = "does not match its hash and size in RECORD"


@dataclass(frozen=True)
class StreamedMember:
    """Where a placeholder's bytes are: ``target`` below the staging root, in ``wheel``."""

    target: str
    wheel: Path  # the build's verified copy, kept until the layer is written
    filename: str  # the wheel's, for errors
    info: zipfile.ZipInfo
    size: int
    sha256: bytes  # RECORD's digest

    def chunks(self, chunk: int) -> Iterator[bytes]:
        """The member's bytes; the last read raises ``InstallError`` if they are not RECORD's."""
        hasher, size = hashlib.sha256(), 0
        try:
            for data in member_chunks(self.wheel, self.info, chunk):
                hasher.update(data)
                size += len(data)
                yield data
        except OSError as exc:
            raise InstallError(
                f"cannot read member {self.info.filename!r}: {exc.strerror or exc}",
                where=str(self.wheel),
                hint="check the disk the build's work directory is on",
            ) from exc
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError) as exc:
            raise InstallError(
                f"cannot be installed: {exc}", where=self.filename, hint=WHEEL_HINT
            ) from exc
        if size != self.size or hasher.digest() != self.sha256:
            raise refused(self.filename, self.info.filename, MISMATCH)
