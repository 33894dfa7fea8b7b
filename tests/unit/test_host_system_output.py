"""``RealHost.run_status`` keeps a tool's output bounded while the tool runs, not after."""

from __future__ import annotations

import json
import subprocess
import sys

from mlenv.host_system import MAX_PROBE_OUTPUT

# A tool failing loudly: 256 MiB on stdout, 64 MiB on stderr, then exit 7.
LOUD = (
    "import sys\n"
    "line = b'Failed to initialize NVML: ' + b'x' * (1 << 20)\n"
    "for _ in range(256): sys.stdout.buffer.write(line)\n"
    "for _ in range(64): sys.stderr.buffer.write(line)\n"
    "sys.exit(7)\n"
)
# Runs the probe in a process of its own, so its peak RSS is the probe's alone.
PROBE = """\
import json, sys
from pathlib import Path
from mlenv.host_system import RealHost
said = RealHost().run_status((sys.executable, "-c", sys.argv[1]), 600)
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it held pytest's own peak
status = Path("/proc/self/status").read_text()
peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
print(json.dumps([said.status, len(said.stdout), len(said.stderr), said.stdout[:9], peak]))
"""


def test_hundreds_of_mib_of_output_leave_the_probe_small() -> None:
    """Was: subprocess.run captured all 320 MiB (as bytes and as text) before the 64 KiB cap;
    the probe peaked at 912 MiB RSS. Now it stays under 64 MiB (17 MiB measured), status kept."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, LOUD], capture_output=True, text=True, check=True
    )
    status, out, err, head, peak_kib = json.loads(done.stdout)
    assert status == 7
    assert out == err == MAX_PROBE_OUTPUT and head == "Failed to"
    assert peak_kib < 64 * 1024, f"probe peak RSS {peak_kib} KiB"


def test_a_quiet_tool_keeps_all_it_printed() -> None:
    code = "import sys; print('ok'); print('é' * 10, file=sys.stderr); sys.exit(0)"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, code], capture_output=True, text=True, check=True
    )
    status, out, err, head, _ = json.loads(done.stdout)
    assert (status, out, err, head) == (0, 3, 11, "ok\n")
