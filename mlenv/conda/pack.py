"""A conda-pack compatible archive of the installed environment, written deterministically.

Like conda-pack's: the prefix's contents at the archive root, plus ``bin/conda-unpack``, which
rewrites the build prefix to wherever the archive was unpacked (``mkdir env && tar -xf
env.tar.gz -C env && env/bin/conda-unpack``). Unlike conda-pack, the same environment always
gives the same bytes: the archive is written once, straight from the staging tree, by the
layer writer (sorted entries, fixed mtime and owners, pinned compressor).
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from mlenv.direct import open_source
from mlenv.install.ownership import Owner, PathLedger
from mlenv.install.prefix_scan import PrefixKind, PrefixScan
from mlenv.parallel_gzip import GzipTwin, Writable
from mlenv.report import Reporter
from mlenv.spent import Spent
from mlenv.tarball import Compression, Entry, LayerBlob, write_layer
from mlenv.tree_listing import collect

UNPACK = "bin/conda-unpack"
SCAN_CHUNK = 1 << 20

# A shell/Python polyglot: sh runs the env's own python on this file; to Python the exec line
# is a string. The env's python is a link to the target's interpreter, so no other Python
# is assumed on the host.
_HEADER = '#!/bin/sh\n\'\'\'\'exec "$(dirname "$0")/python" "$0" "$@" #\'\'\'\n'
# The block of mlenv/conda/unpack.py that unpack_script replaces with the archive's data.
_DATA_BLOCK = re.compile(r"^# mlenv writes the build prefix.*?^FILES: [^\n]*\n", re.M | re.S)


def prefix_files(
    staging: Path, prefix: str, known: Mapping[str, PrefixKind | None] | None = None
) -> list[tuple[str, str]]:
    """Files holding the build prefix, and whether to rewrite them as text or binary, sorted.
    ``known``: what the installer found in the big files it wrote, by path below ``staging``
    (scanned for this prefix as they were written); those are not read again."""
    needle = prefix.encode()
    known = known or {}
    found: list[tuple[str, str]] = []
    for path in sorted(p for p in staging.rglob("*") if p.is_file() and not p.is_symlink()):
        name = path.relative_to(staging).as_posix()
        kind = known[name] if name in known else _scan(path, needle)
        if kind is not None:
            found.append((name, kind))
    return found


def _scan(path: Path, needle: bytes) -> PrefixKind | None:
    """Read into one buffer; stops once nothing later can change the answer."""
    scan = PrefixScan(needle)
    buffer = bytearray(SCAN_CHUNK)
    with open_source(path, path.stat().st_size) as handle:
        while not scan.settled and (count := handle.readinto(memoryview(buffer))):
            scan.feed(buffer, count)
    return scan.kind


def binary_rooms(staging: Path) -> dict[str, int]:
    """The placeholder length of each binary prefix file conda packages installed, from
    ``conda-meta`` (the package's ``info/paths.json``): the installer padded each C string
    holding the prefix to that length, so conda-unpack may write a path up to it, as
    conda-pack's does. A length the bytes do not bear out is refused by conda-unpack itself."""
    rooms: dict[str, int] = {}
    for meta in sorted((staging / "conda-meta").glob("*.json")):
        data = json.loads(meta.read_bytes())
        paths = data.get("paths_data", {}).get("paths", []) if isinstance(data, dict) else []
        for entry in paths if isinstance(paths, list) else []:
            placeholder = entry.get("prefix_placeholder") if isinstance(entry, dict) else None
            if entry.get("file_mode") == "binary" and isinstance(placeholder, str):
                rooms[str(entry.get("_path"))] = len(placeholder.encode())
    return rooms


def unpack_script(
    prefix: str, files: list[tuple[str, str]], rooms: Mapping[str, int] | None = None
) -> bytes:
    """``mlenv.conda.unpack`` (a module of its own, linted and tested) with its data filled in:
    each file to rewrite, and for a binary one with more room than ``prefix``, that room.

    The listing is JSON that Python reads back as the same strings (``_escaped``)."""
    program = resources.files("mlenv.conda").joinpath("unpack.py").read_text(encoding="utf-8")
    rooms = rooms or {}
    listed = [
        [name, kind, rooms[name]]
        if kind == "binary" and rooms.get(name, 0) > len(prefix.encode())
        else [name, kind]
        for name, kind in files
    ]
    listing = _NON_ASCII.sub(_escaped, json.dumps(listed, indent=0, ensure_ascii=False))
    data = f"OLD = {prefix!r}\nFILES = {listing}\n"
    filled, count = _DATA_BLOCK.subn(lambda _: data, program)
    if count != 1:
        raise AssertionError("mlenv/conda/unpack.py lost its data block")
    return (_HEADER + filled).encode()


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _escaped(match: re.Match[str]) -> str:
    """A character of a listed name as a Python escape of it, the same bytes JSON writes up to
    U+FFFF. Past it JSON writes a surrogate pair, which Python reads as two lone surrogates, a
    path no file system holds: conda-unpack skipped ``share/😀.txt`` as gone and left the build
    prefix in it, exit 0 (attack 134). A byte no UTF-8 reads stays its surrogate escape."""
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def write_pack(
    staging: Path,
    prefix: str,
    out: Writable,
    *,
    compression: Compression,
    mtime: int,
    reporter: Reporter | None = None,
    twin: GzipTwin | None = None,
    stop: threading.Event | None = None,
    spent: Spent | None = None,
    known: Mapping[str, PrefixKind | None] | None = None,
) -> LayerBlob:
    """The archive of ``staging`` (laid out for ``prefix``) with its conda-unpack, to ``out``
    (``twin``, ``stop`` and ``spent``: see ``mlenv.tarball.write_layer``; ``known``: see
    ``prefix_files``)."""
    files = prefix_files(staging, prefix, known)
    # Beside the staging tree (a build's work directory), so a killed build leaves it there to
    # be removed with the rest, not in /tmp.
    with tempfile.TemporaryDirectory(prefix="mlenv-pack-", dir=staging.parent) as extra:
        script = Path(extra) / UNPACK
        script.parent.mkdir()
        script.write_bytes(unpack_script(prefix, files, binary_rooms(staging)))
        script.chmod(0o755)
        entries = _owned(collect(staging, ""), collect(Path(extra), ""))
        return write_layer(
            entries,
            out,
            compression=compression,
            mtime=mtime,
            reporter=reporter,
            twin=twin,
            stop=stop,
            spent=spent,
        )


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
