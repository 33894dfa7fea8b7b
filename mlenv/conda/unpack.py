"""conda-unpack, written by mlenv: rewrites the build prefix to this environment's location."""
import os
import sys
from typing import Any

# mlenv writes the build prefix and the files that hold it here when it embeds this program
# (mlenv.conda.pack.unpack_script); the program itself never changes, so neither do the archives.
OLD = ""
FILES: list[list[Any]] = []  # [path, text|binary] or [path, binary, room]


def main():
    new = os.path.dirname(os.path.dirname(os.path.realpath(os.path.abspath(__file__))))
    old, new_bytes = OLD.encode(), new.encode()
    if old == new_bytes:
        return 0
    # Every binary file is judged before any file is written: never a half-relocated prefix.
    refused = []
    for entry in FILES:
        if (
            entry[1] == "binary"
            and _binary(_read(entry[0], new), old, new_bytes, _room(entry)) is None
        ):
            refused.append(entry[0])
    if refused:
        for entry in FILES:
            if entry[0] in refused:
                sys.stderr.write(
                    "conda-unpack: %s: a binary file can take a path of at most %d bytes, "
                    "not %d (%s)\n" % (entry[0], _room(entry), len(new_bytes), new)
                )
        sys.stderr.write("conda-unpack: nothing was changed; unpack to a shorter path\n")
        return 1
    for entry in FILES:
        data = _read(entry[0], new)
        if entry[1] == "binary":
            data = _binary(data, old, new_bytes, _room(entry))
        else:
            data = _shebang(data, old, new_bytes).replace(old, new_bytes)
        with open(os.path.join(new, entry[0]), "wb") as handle:
            handle.write(data)
    return 0


def _read(path, new):
    with open(os.path.join(new, path), "rb") as handle:
        return handle.read()


def _room(entry):
    # The package's placeholder length: the NULs the installer padded each C string with are
    # room for a longer prefix. Without it (no placeholder known), the old prefix's length.
    return entry[2] if len(entry) > 2 else len(OLD.encode())


def _shebang(data, old, new):
    # A kernel shebang cannot hold a space or more than 127 bytes: run such scripts through sh.
    line, _, rest = data.partition(b"\n")
    if not line.startswith(b"#!" + old) or (b" " not in new and len(line.replace(old, new)) < 129):
        return data
    program = line[2:].split(b" ", 1)[0].replace(old, new).decode()  # the old prefix has no space
    quoted = "'" + program.replace("'", "'\\''") + "'"
    q3 = "'" * 3
    trampoline = "#!/bin/sh\n" + q3 + "exec' " + quoted + ' "$0" "$@"\n' + "' " + q3 + "\n"
    return trampoline.encode() + rest


def _binary(data, old, new, room=0):
    # C strings keep their length: each rewritten string is NUL-padded up to its old end. A
    # string holding the prefix k times was padded with k * (room - len(old)) NULs after it
    # when installed; a longer prefix takes those. None: the new prefix does not fit.
    room = max(room, len(old))
    out, start = [], 0
    while True:
        hit = data.find(old, start)
        if hit < 0:
            out.append(data[start:])
            return b"".join(out)
        end = data.find(b"\0", hit)
        end = len(data) if end < 0 else end
        text = data[hit:end].replace(old, new)
        if len(text) > end - hit:
            limit = end + data[hit:end].count(old) * (room - len(old))
            # past the file's end is no padding: those bytes are not NULs, they are not there
            if len(new) > room or len(text) > limit - hit or limit > len(data):
                return None
            if data[end:limit].strip(b"\0"):
                return None
            end = limit
        out.append(data[start:hit] + text + b"\0" * (end - hit - len(text)))
        start = end


if __name__ == "__main__":
    sys.exit(main())
