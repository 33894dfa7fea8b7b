"""Attack 118: conda-unpack run twice (an interrupted run finished by a second), on a listed
path that is no regular file, and as root over files another user owns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlenv.conda.pack import unpack_script

pytestmark = pytest.mark.hostile


def _run(root: Path, old: str, files: list[tuple[str, str]], rooms: dict[str, int]) -> str:
    """The archive's conda-unpack, as mlenv writes it, run in ``root``; its stderr."""
    script = root / "bin" / "conda-unpack"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_bytes(unpack_script(old, files, rooms))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=30
    )
    return f"{done.returncode}:{done.stderr}"


@pytest.mark.parametrize("deploy", ["env2", "env-gpu", "sub/env", "env/inner"])
def test_a_second_run_leaves_a_relocated_environment_alone(tmp_path: Path, deploy: str) -> None:
    """Protects `conda.unpack`: a deploy path holding the build prefix (built at /opt/env,
    unpacked at /opt/env2, or at .../sub/opt/env) is relocated once, and a second run (one
    finishing an interrupted run, or a rerun) changes nothing. Before, the second run found
    the build prefix inside the new one and wrote /opt/env22 into every file."""
    old = str(tmp_path / "env")
    root = tmp_path / deploy if not deploy.startswith("sub/") else tmp_path / "sub" / old[1:]
    root.mkdir(parents=True)
    text = f"prefix={old}:{old}/lib\n".encode()
    binary = old.encode() + b"/lib:" + old.encode() + b"/x\x00" + bytes(200) + b"end"
    (root / "tool").write_bytes(text)
    (root / "lib.so").write_bytes(binary)
    files = [("lib.so", "binary"), ("tool", "text")]
    rooms = {"lib.so": len(old) + 90}
    assert _run(root, old, files, rooms).startswith("0:")
    new = str(root)
    once_text, once_binary = (root / "tool").read_bytes(), (root / "lib.so").read_bytes()
    assert once_text == f"prefix={new}:{new}/lib\n".encode()
    assert once_binary.startswith(new.encode() + b"/lib:" + new.encode() + b"/x\x00")
    assert _run(root, old, files, rooms).startswith("0:")
    assert (root / "tool").read_bytes() == once_text
    assert (root / "lib.so").read_bytes() == once_binary


def test_a_listed_path_that_is_a_directory_changes_nothing(tmp_path: Path) -> None:
    """Protects `conda.unpack.main`: a listed path that is a directory (or a FIFO, which
    blocked the run) is refused before any file is written. Before, the text files listed
    ahead of it were rewritten and the run ended in an IsADirectoryError traceback: a
    half-relocated prefix."""
    old, root = "/opt/mlenv/x", tmp_path / "env"
    (root / "share" / "doc").mkdir(parents=True)
    (root / "a.sh").write_bytes(f"{old}/bin\n".encode())
    os.mkfifo(root / "b.pipe")
    out = _run(root, old, [("a.sh", "text"), ("b.pipe", "text"), ("share/doc", "text")], {})
    assert out.startswith("1:") and "Traceback" not in out
    assert "share/doc" in out and "b.pipe" in out
    assert (root / "a.sh").read_bytes() == f"{old}/bin\n".encode()


def test_root_keeps_each_file_s_owner(tmp_path: Path) -> None:
    """Protects `conda.unpack._write`: run as root (a Dockerfile's RUN after chown -R), a
    rewritten file keeps its owner, group and setuid/setgid bits. Before, it became root's,
    and the environment's user could no longer change it."""
    assert os.geteuid() == 0, "this test's shape is conda-unpack run as root"
    old, root = "/opt/mlenv/x", tmp_path / "env"
    root.mkdir()
    tool = root / "tool"
    tool.write_bytes(f"{old}/bin\n".encode())
    os.chown(tool, 1000, 1001)
    tool.chmod(0o6755)
    assert _run(root, old, [("tool", "text")], {}).startswith("0:")
    done = tool.stat()
    assert (done.st_uid, done.st_gid, done.st_mode & 0o7777) == (1000, 1001, 0o6755)
    assert tool.read_bytes() == f"{root}/bin\n".encode()
