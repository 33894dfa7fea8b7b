"""conda-unpack, the program mlenv embeds in every conda-pack archive, tested as a module."""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.conda import pack
from mlenv.conda import unpack as conda_unpack
from mlenv.conda.pack import unpack_script
from mlenv.tarball import Entry

OLD = b"/opt/mlenv/env"


def test_binary_strings_keep_their_length() -> None:
    """Protects compiled files: a C string is rewritten in place and NUL-padded to its old end."""
    data = b"\x7fELF" + OLD + b"/lib:" + OLD + b"/x\x00tail" + OLD + b"\x00"
    out = conda_unpack._binary(data, OLD, b"/srv/e")
    assert len(out) == len(data)
    assert [s for s in out.split(b"\x00") if s] == [b"\x7fELF/srv/e/lib:/srv/e/x", b"tail/srv/e"]


def test_conda_unpack_takes_only_the_padding_the_bytes_hold() -> None:
    """The room comes from the package's word (``conda-meta``): a string whose next bytes are
    not NULs has no padding to give, whatever the placeholder's length says."""
    old, new = b"/opt/mlenv/x", b"/srv/a-longer-path"
    padded = old + b"/lib" + bytes(40) + b"next"
    out = conda_unpack._binary(padded, old, new, 52)
    assert out == new + b"/lib" + bytes(40 - len(new) + len(old)) + b"next"
    assert conda_unpack._binary(old + b"/lib\x00next" + bytes(40), old, new, 52) is None
    assert conda_unpack._binary(padded, old, new) is None  # no room known: the old length


def test_a_long_or_spaced_shebang_becomes_a_sh_trampoline() -> None:
    """Protects scripts: the kernel limits a shebang to 127 bytes without spaces."""
    script = b"#!" + OLD + b"/bin/python\nprint(1)\n"
    assert conda_unpack._shebang(script, OLD, b"/srv/e") == script  # short: kept, replaced later
    spaced = conda_unpack._shebang(script, OLD, b"/srv/my env")
    assert spaced.startswith(b"#!/bin/sh\n'''exec' '/srv/my env/bin/python' \"$0\" \"$@\"\n")
    assert spaced.endswith(b"\nprint(1)\n")


def test_main_rewrites_the_listed_files_where_the_archive_was_unpacked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects relocation end to end in-process: text and binary files, prefix found from the
    program's own place (bin/ under the new prefix)."""
    old = b"/" + b"o" * 200  # longer than tmp_path: a binary may take the new prefix
    root = tmp_path / "new"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_bytes(b"#!" + old + b"/bin/python\n" + old + b"\n")
    (root / "lib.so").write_bytes(old + b"/x\x00")
    monkeypatch.setattr(conda_unpack, "OLD", old.decode())
    monkeypatch.setattr(conda_unpack, "FILES", [["bin/tool", "text"], ["lib.so", "binary"]])
    monkeypatch.setattr(conda_unpack, "__file__", str(root / "bin" / "conda-unpack"))
    assert conda_unpack.main() == 0
    new = str(root).encode()
    tool = (root / "bin" / "tool").read_bytes()
    assert tool.endswith(b"\n" + new + b"\n") and new + b"/bin/python" in tool
    assert (root / "lib.so").read_bytes().startswith(new + b"/x\x00")


def test_a_longer_prefix_cannot_be_written_into_a_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects binaries from corruption: a prefix longer than the old one is refused."""
    root = tmp_path / ("x" * 40)
    (root / "bin").mkdir(parents=True)
    (root / "lib.so").write_bytes(b"/o\x00")
    monkeypatch.setattr(conda_unpack, "OLD", "/o")
    monkeypatch.setattr(conda_unpack, "FILES", [["lib.so", "binary"]])
    monkeypatch.setattr(conda_unpack, "__file__", str(root / "bin" / "conda-unpack"))
    assert conda_unpack.main() == 1
    assert (root / "lib.so").read_bytes() == b"/o\x00"


def test_the_embedded_program_is_this_module_with_its_data(tmp_path: Path) -> None:
    """Protects the one home of the program: the archive's script is the module's text with
    the data block filled in, and it runs as sh and as Python."""
    script = unpack_script(OLD.decode(), [("bin/tool", "text")]).decode()
    module = Path(conda_unpack.__file__).read_text()
    body = script.split("\n", 2)[2]
    assert body.startswith(module.split("\n# mlenv writes", 1)[0])
    assert 'OLD = \'/opt/mlenv/env\'\nFILES = [\n[\n"bin/tool",\n"text"\n]\n]\n' in body
    compile(script, "conda-unpack", "exec")
    target = tmp_path / "bin" / "conda-unpack"
    target.parent.mkdir()
    target.write_text(script)
    (target.parent / "python").symlink_to(sys.executable)
    (target.parent / "tool").write_bytes(OLD + b"\n")
    target.chmod(0o755)
    result = subprocess.run([str(target)], capture_output=True, check=False)
    assert result.returncode == 0, result.stderr
    assert (target.parent / "tool").read_bytes() == str(tmp_path).encode() + b"\n"


def test_the_archive_script_is_written_beside_the_staging_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects: bin/conda-unpack is staged in the build's work directory (removed with it,
    also by the next build after a kill), never in the system's temporary directory."""
    system_tmp = tmp_path / "tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    staging = tmp_path / "work" / "staging"
    (staging / "bin").mkdir(parents=True)
    seen: list[Path] = []

    def spy(entries: list[Entry], out: object, **kwargs: object) -> None:
        seen.extend(e.source for e in entries if e.source is not None)

    monkeypatch.setattr(pack, "write_layer", spy)
    pack.write_pack(staging, "/opt/mlenv/t", io.BytesIO(), compression="none", mtime=0)
    script = next(path for path in seen if path.name == "conda-unpack")
    assert script.parents[2] == staging.parent
    assert list(system_tmp.iterdir()) == []


_OLD = b"/opt/mlenv/x"
_BYTES = st.binary(max_size=24).map(lambda b: b.replace(_OLD, b""))


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.tuples(_BYTES, st.booleans()), min_size=1, max_size=5),
    new=st.text(st.sampled_from("/abcé "), min_size=1, max_size=40),
    room=st.integers(0, 64),
)
def test_a_binary_file_keeps_its_length_whatever_the_room_says(
    pieces: Sequence[tuple[bytes, bool]], new: str, room: int
) -> None:
    """Protects `_binary` (attack 117) over any file, deploy path and recorded room (true or
    lying): a binary is rewritten in place or refused, never lengthened or shortened."""
    data = b"".join(chunk + (_OLD if prefix else b"") for chunk, prefix in pieces)
    out = conda_unpack._binary(data, _OLD, new.encode(), room)
    assert out is None or len(out) == len(data)
