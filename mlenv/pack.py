"""A conda-pack compatible archive of the installed environment, written deterministically.

Like conda-pack's: the prefix's contents at the archive root, plus ``bin/conda-unpack``, which
rewrites the build prefix to wherever the archive was unpacked (``mkdir env && tar -xf
env.tar.gz -C env && env/bin/conda-unpack``). Unlike conda-pack, the same environment always
gives the same bytes: the archive is written once, straight from the staging tree, by the
layer writer (sorted entries, fixed mtime and owners, pinned compressor).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from mlenv.layer import Compression, Entry, LayerBlob, collect, write_layer
from mlenv.ownership import Owner, PathLedger
from mlenv.report import Reporter

UNPACK = "bin/conda-unpack"
SCAN_CHUNK = 1 << 20

# A shell/Python polyglot: sh runs the env's own python on this file; to Python the exec line
# is a string. The env's python is a link to the target's interpreter, so no other Python
# is assumed on the host.
_HEADER = '#!/bin/sh\n\'\'\'\'exec "$(dirname "$0")/python" "$0" "$@" #\'\'\'\n'
_SCRIPT = '''\
"""conda-unpack, written by mlenv: rewrites the build prefix to this environment's location."""
import os
import sys

OLD = {old!r}
FILES = {files}


def main():
    new = os.path.dirname(os.path.dirname(os.path.realpath(os.path.abspath(__file__))))
    old, new_bytes = OLD.encode(), new.encode()
    if old == new_bytes:
        return 0
    for path, mode in FILES:
        full = os.path.join(new, path)
        with open(full, "rb") as handle:
            data = handle.read()
        if mode == "binary":
            if len(new_bytes) > len(old):
                sys.stderr.write("conda-unpack: %s: new prefix longer than the old one\\n" % path)
                return 1
            data = _binary(data, old, new_bytes)
        else:
            data = _shebang(data, old, new_bytes).replace(old, new_bytes)
        with open(full, "wb") as handle:
            handle.write(data)
    return 0


def _shebang(data, old, new):
    # A kernel shebang cannot hold a space or more than 127 bytes: run such scripts through sh.
    line, _, rest = data.partition(b"\\n")
    if not line.startswith(b"#!" + old) or (b" " not in new and len(line.replace(old, new)) < 129):
        return data
    program = line[2:].split(b" ", 1)[0].replace(old, new).decode()  # the old prefix has no space
    quoted = "'" + program.replace("'", "'\\\\''") + "'"
    q3 = "'" * 3
    trampoline = "#!/bin/sh\\n" + q3 + "exec' " + quoted + ' "$0" "$@"\\n' + "' " + q3 + "\\n"
    return trampoline.encode() + rest


def _binary(data, old, new):
    # C strings keep their length: pad each rewritten string with NULs up to its old end.
    out, start = [], 0
    while True:
        hit = data.find(old, start)
        if hit < 0:
            out.append(data[start:])
            return b"".join(out)
        end = data.find(b"\\0", hit)
        end = len(data) if end < 0 else end
        text = data[hit:end].replace(old, new)
        out.append(data[start:hit] + text + b"\\0" * (end - hit - len(text)))
        start = end


if __name__ == "__main__":
    sys.exit(main())
'''


def prefix_files(staging: Path, prefix: str) -> list[tuple[str, str]]:
    """Files holding the build prefix, and whether to rewrite them as text or binary, sorted."""
    needle = prefix.encode()
    found = []
    for path in sorted(p for p in staging.rglob("*") if p.is_file() and not p.is_symlink()):
        kind = _scan(path, needle)
        if kind is not None:
            found.append((path.relative_to(staging).as_posix(), kind))
    return found


def _scan(path: Path, needle: bytes) -> str | None:
    """ "text"/"binary" when the file holds ``needle``, streamed with an overlap between chunks."""
    hit = binary = False
    tail = b""
    for chunk in _chunks(path):
        window = tail + chunk
        hit = hit or needle in window
        binary = binary or b"\0" in chunk
        tail = window[-len(needle) :]
    if not hit:
        return None
    return "binary" if binary else "text"


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(SCAN_CHUNK):
            yield chunk


def unpack_script(prefix: str, files: list[tuple[str, str]]) -> bytes:
    listing = json.dumps(files, indent=0, ensure_ascii=True)
    return (_HEADER + _SCRIPT.format(old=prefix, files=listing)).encode()


def write_pack(
    staging: Path,
    prefix: str,
    out: BinaryIO,
    *,
    compression: Compression,
    mtime: int,
    reporter: Reporter | None = None,
) -> LayerBlob:
    """The archive of ``staging`` (laid out for ``prefix``) with its conda-unpack, to ``out``."""
    files = prefix_files(staging, prefix)
    with tempfile.TemporaryDirectory(prefix="mlenv-pack-") as extra:
        script = Path(extra) / UNPACK
        script.parent.mkdir()
        script.write_bytes(unpack_script(prefix, files))
        script.chmod(0o755)
        entries = _owned(collect(staging, ""), collect(Path(extra), ""))
        return write_layer(entries, out, compression=compression, mtime=mtime, reporter=reporter)


def _owned(tree: list[Entry], extra: list[Entry]) -> list[Entry]:
    """The tree and mlenv's additions, each path claimed once: a file of the tree at
    ``bin/conda-unpack`` (or a ``bin`` that is no directory) is refused, never replaced."""
    ledger = PathLedger()
    hint = "the installed tree holds a path mlenv writes into the archive: rebuild it"
    for entry in tree:
        ledger.claim(Owner("the installed environment", "tree", hint), entry.path, entry.kind)
    for entry in extra:
        ledger.claim(Owner("mlenv's conda-unpack", "mlenv", hint), entry.path, entry.kind)
    present = {entry.path for entry in tree}
    return tree + [entry for entry in extra if entry.path not in present]
