"""conda-unpack, written by mlenv: rewrites the build prefix to this environment's location.

The location is written into text the shell and config readers interpret (``prefix="..."`` in
a ``*-config`` script, a script's shebang line), so a location holding a byte they act on is
refused before any file is written (``_unsafe``): a directory named ``x$(cmd)`` made every
such script run ``cmd``. A space is taken (shebangs holding one go through ``sh``).
"""

import contextlib
import os
import stat
import sys
import tempfile
from typing import Any

# mlenv writes the build prefix and the files that hold it here when it embeds this program
# (mlenv.conda.pack.unpack_script); the program itself never changes, so neither do the archives.
OLD = ""
FILES: list[list[Any]] = []  # [path, text|binary] or [path, binary, room]
# What a shell reads in the text around the location as other than a path (a command, a
# quote's end, a new line), and the separator of PATH-like lists.
_UNSAFE = frozenset(b"\"$'\\`;&|<>():") | frozenset(range(32)) | frozenset({127})


def main():
    new = os.path.dirname(os.path.dirname(os.path.realpath(os.path.abspath(__file__))))
    # the bytes the file system holds: a directory named in another encoding is a path too
    old, new_bytes = OLD.encode(), os.fsencode(new)
    if old == new_bytes:
        return 0
    # A file removed after unpacking (an image slimmed of share/doc) needs no relocation.
    files = [entry for entry in FILES if os.path.lexists(os.path.join(new, entry[0]))]
    unsafe = _unsafe(new_bytes) if files else ""
    if unsafe:
        sys.stderr.write(
            "conda-unpack: %s: the location holds %s, which the shell reads in the scripts that "
            "name it: nothing was changed; unpack the archive under a path without them\n"
            % (ascii(new), unsafe)
        )
        return 1
    # Every file is judged before any is written: never a half-relocated prefix.
    strays = [entry[0] for entry in files if not _own(new, entry[0])]
    for path in strays:
        sys.stderr.write(
            "conda-unpack: %s: a symbolic link, under one, or no regular file, where the "
            "archive holds a file: not written through\n" % path
        )
    refused = []
    for entry in files:
        if (
            entry[0] not in strays
            and entry[1] == "binary"
            and _binary(_read(entry[0], new), old, new_bytes, _room(entry)) is None
        ):
            refused.append(entry[0])
    for entry in files:
        if entry[0] in refused:
            sys.stderr.write(
                "conda-unpack: %s: a binary file can take a path of at most %d bytes, "
                "not %d (%s)\n" % (entry[0], _room(entry), len(new_bytes), new)
            )
    if strays or refused:
        hint = "unpack to a shorter path" if refused else "unpack the archive afresh"
        sys.stderr.write("conda-unpack: nothing was changed; %s\n" % hint)
        return 1
    for entry in files:
        data = _read(entry[0], new)
        if entry[1] == "binary":
            data = _binary(data, old, new_bytes, _room(entry))
            if data is None:  # changed since it was judged
                sys.stderr.write("conda-unpack: %s changed while relocating; stopped\n" % entry[0])
                return 1
        else:
            data = _replace(_shebang(data, old, new_bytes), old, new_bytes)
        _write(os.path.join(new, entry[0]), data)
    return 0


def _unsafe(location):
    # The bytes of the location a shell or config reader would act on, shown; "" when none.
    return " ".join(sorted({repr(chr(byte)) for byte in location if byte in _UNSAFE}))


def _own(new, path):
    # The file itself, under the unpacked tree: no symbolic link on the way to write through,
    # and a regular file (a directory cannot be read, a FIFO blocks the run).
    full = os.path.join(new, path)
    regular = stat.S_ISREG(os.lstat(full).st_mode)
    return regular and os.path.realpath(full) == os.path.normpath(full)


def _hits(data, old, new):
    # Where ``old`` starts, but not inside ``new``: a deploy path holding the build prefix
    # (/opt/env2 for /opt/env) is relocated already, so a second run (finishing an
    # interrupted one) changes nothing.
    inner = [k for k in range(len(new) - len(old) + 1) if new.startswith(old, k)]
    if new.startswith(old + b"/"):  # unpacked under the build prefix: old/lib/x is not new
        inner.remove(0)
    hits: list[int] = []
    start = 0
    while True:
        hit = data.find(old, start)
        if hit < 0:
            return hits
        if any(hit >= k and data.startswith(new, hit - k) for k in inner):
            start = hit + 1
        else:
            hits.append(hit)
            start = hit + len(old)


def _replace(data, old, new):
    return _replace_at(data, _hits(data, old, new), old, new)


def _write(path, data):
    # A new file renamed over the old, with its owner and mode: a hard link to it elsewhere (a
    # tree copied with cp -al) keeps its bytes, no half-written file is left under the path,
    # and run as root over a user's environment, the user still owns it.
    old = os.stat(path)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".conda-unpack-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
            # not root: the file becomes the runner's, as cp makes it
            with contextlib.suppress(PermissionError):
                os.chown(temporary, old.st_uid, old.st_gid)
        os.chmod(temporary, old.st_mode & 0o7777)  # after chown, which clears setuid
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _read(path, new):
    with open(os.path.join(new, path), "rb") as handle:
        return handle.read()


def _room(entry):
    # The package's placeholder length: the NULs the installer padded each C string with are
    # room for a longer prefix. Without it (no placeholder known), the old prefix's length.
    return entry[2] if len(entry) > 2 else len(OLD.encode())


def _shebang(data, old, new):
    # A kernel shebang cannot hold a space or more than 127 bytes: run such scripts through sh.
    # The interpreter's one argument, everything after it as the kernel reads the line
    # (``#!/env/bin/python -E``, ``#!/env/bin/gawk -f``), goes through too, as one word.
    line, _, rest = data.partition(b"\n")
    if 2 not in _hits(line, old, new) or (b" " not in new and len(_replace(line, old, new)) < 129):
        return data
    body = line[2:].lstrip(b" \t")
    cut = min((at for at in (body.find(b" "), body.find(b"\t")) if at >= 0), default=len(body))
    words = [_replace(body[:cut], old, new)]  # the old prefix has no space or tab
    argument = body[cut:].strip(b" \t")
    if argument:
        words.append(_replace(argument, old, new))
    quoted = b" ".join(b"'" + word.replace(b"'", b"'\\''") + b"'" for word in words)
    q3 = b"'" * 3
    trampoline = b"#!/bin/sh\n" + q3 + b"exec' " + quoted + b' "$0" "$@"\n' + b"' " + q3 + b"\n"
    return trampoline + rest


def _binary(data, old, new, room=0):
    # C strings keep their length: each rewritten string is NUL-padded up to its old end. A
    # string holding the prefix k times was padded with k * (room - len(old)) NULs after it
    # when installed; a longer prefix takes those. None: the new prefix does not fit.
    room = max(room, len(old))
    out, start, hits = [], 0, _hits(data, old, new)
    while True:
        hit = next((hit for hit in hits if hit >= start), -1)
        if hit < 0:
            out.append(data[start:])
            return b"".join(out)
        end = data.find(b"\0", hit)
        end = len(data) if end < 0 else end
        held = [h - hit for h in hits if hit <= h < end]
        text = _replace_at(data[hit:end], held, old, new)
        if len(text) > end - hit:
            limit = end + len(held) * (room - len(old))
            # past the file's end is no padding: those bytes are not NULs, they are not there
            if len(new) > room or len(text) > limit - hit or limit > len(data):
                return None
            if data[end:limit].strip(b"\0"):
                return None
            end = limit
        out.append(data[start:hit] + text + b"\0" * (end - hit - len(text)))
        start = end


def _replace_at(data, hits, old, new):
    out, start = [], 0
    for hit in hits:
        out.append(data[start:hit] + new)
        start = hit + len(old)
    return b"".join(out) + data[start:]


if __name__ == "__main__":
    sys.exit(main())
