"""conda-unpack, written by mlenv: rewrites the build prefix to this environment's location."""
import os
import sys

# mlenv writes the build prefix and the files that hold it here when it embeds this program
# (mlenv.conda.pack.unpack_script); the program itself never changes, so neither do the archives.
OLD = ""
FILES: list[list[str]] = []


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
                sys.stderr.write("conda-unpack: %s: new prefix longer than the old one\n" % path)
                return 1
            data = _binary(data, old, new_bytes)
        else:
            data = _shebang(data, old, new_bytes).replace(old, new_bytes)
        with open(full, "wb") as handle:
            handle.write(data)
    return 0


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


def _binary(data, old, new):
    # C strings keep their length: pad each rewritten string with NULs up to its old end.
    out, start = [], 0
    while True:
        hit = data.find(old, start)
        if hit < 0:
            out.append(data[start:])
            return b"".join(out)
        end = data.find(b"\0", hit)
        end = len(data) if end < 0 else end
        text = data[hit:end].replace(old, new)
        out.append(data[start:hit] + text + b"\0" * (end - hit - len(text)))
        start = end


if __name__ == "__main__":
    sys.exit(main())
