"""Benchmark `mlenv lock` against `uv pip compile` on an HTML-only index over http that
answers one request at a time (pypiserver), counting every request through a logging proxy.

    python bench/lock_http.py PYPI_SERVER [--checkout DIR ...] [--repeats N] [--cold]

PYPI_SERVER is a ``pypi-server`` executable from a virtual environment of its own (``pip
install pypiserver``; its default wsgiref server is the one-request-at-a-time case). It serves
the wheels of this machine's local mirror (``/opt/pypi/files``); the data stack is locked by
``python -m mlenv`` from each checkout (this one by default; pass an older one to compare) and
by uv, alternated. Per run: wall time, requests, idle (no request outstanding) and when the
last page was answered. Prints a Markdown table; bench/results/lock.md keeps measured ones.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import ROOT, table

from tests.support.peers import clean_env, tool

FILES = "/opt/pypi/files"
STACK = ["scipy", "pandas", "scikit-learn", "transformers"]
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class _Proxy(ThreadingHTTPServer):
    """Forwards to ``upstream``; logs (start, end, method, path) of every request."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, upstream: int) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.upstream = upstream
        self.log: list[tuple[float, float, str, str]] = []
        self.lock = threading.Lock()


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Proxy

    def log_message(self, format: str, *args: object) -> None:
        """Silent: ``_Proxy.log`` is the record."""

    def _forward(self) -> None:
        start = time.time()
        conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream, timeout=300)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        conn.request(self.command, self.path, headers=headers)
        answer = conn.getresponse()
        body = answer.read()
        end = time.time()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in _HOP and name.lower() != "content-length":
                self.send_header(name, value)
        length = answer.getheader("content-length", "0") if self.command == "HEAD" else len(body)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        conn.close()
        with self.server.lock:
            self.server.log.append((start, end, self.command, self.path))

    do_GET = do_HEAD = _forward


def _stats(log: list[tuple[float, float, str, str]]) -> dict[str, float]:
    first, last = min(r[0] for r in log), max(r[1] for r in log)
    busy, (open_, close) = 0.0, sorted((r[0], r[1]) for r in log)[0]
    for start, end in sorted((r[0], r[1]) for r in log):
        if start > close:
            busy, open_, close = busy + close - open_, start, end
        close = max(close, end)
    busy += close - open_
    pages = [r[1] for r in log if r[3].startswith("/simple/")]
    return {
        "requests": len(log),
        "HEADs": sum(r[2] == "HEAD" for r in log),
        "idle": last - first - busy,
        "pages done": max(pages) - first,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pypi_server")
    parser.add_argument("--checkout", action="append", default=[])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="empty every cache before each run")
    args = parser.parse_args()
    checkouts = [Path(c).resolve() for c in args.checkout] or [ROOT]
    with tempfile.TemporaryDirectory(prefix="mlenv-bench-http-") as tmp:
        work = Path(tmp)
        port = 38000 + os.getpid() % 1000
        server = subprocess.Popen(
            [args.pypi_server, "run", "-p", str(port), "-i", "127.0.0.1", "-a", ".", "-P", ".",
             "--disable-fallback", FILES],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        proxy = _Proxy(port)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{proxy.server_address[1]}/simple"
        try:
            time.sleep(2)  # pypiserver's start-up
            rows = _run(work, url, proxy, checkouts, args.repeats, args.cold)
        finally:
            proxy.shutdown()
            server.terminate()
            server.wait()
    load = os.getloadavg()[0]
    print(f"load (1 min) at the end: {load:.2f}; {'cold' if args.cold else 'warm'}\n")
    print(table(rows, ["command", "wall median (s)", "runs (s)", "requests", "HEADs", "idle (s)",
                       "pages done (s)"]))  # fmt: skip


def _run(
    work: Path, url: str, proxy: _Proxy, checkouts: list[Path], repeats: int, cold: bool
) -> list[list[str]]:
    (work / "mlenv.toml").write_text(
        '[environment]\nname = "bench"\npython = "3.11"\n[pypi]\n'
        f'index-url = "{url}/"\ndependencies = [' + ", ".join(f'"{r}"' for r in STACK) + "]\n"
    )
    (work / "requirements.in").write_text("\n".join(STACK) + "\n")
    uv = [tool("uv"), "pip", "compile", "requirements.in", "-o", "uv.txt", "--generate-hashes",
          "--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28",
          "--default-index", url, "--quiet", "--cache-dir", str(work / "uv-cache")]  # fmt: skip
    runs: dict[str, list[tuple[float, dict[str, float]]]] = {}
    commands: dict[str, tuple[list[str], dict[str, str], Path]] = {}
    for number, checkout in enumerate(checkouts):
        cache = work / f"mlenv-cache-{number}"
        env = clean_env(PYTHONPATH=str(checkout), MLENV_CACHE_DIR=str(cache))
        commands[f"mlenv lock ({checkout})"] = ([sys.executable, "-m", "mlenv", "-q", "lock"],
                                               env, cache)  # fmt: skip
    commands["uv pip compile"] = (uv, clean_env(), work / "uv-cache")
    for repeat in range(repeats + 1):  # the first round fills the caches and is not counted
        for name, (command, env, cache) in commands.items():
            for output in (work / "mlenv.lock", work / "uv.txt"):
                output.unlink(missing_ok=True)
            if cold or repeat == 0:
                shutil.rmtree(cache, ignore_errors=True)
            with proxy.lock:
                proxy.log.clear()
            start = time.perf_counter()
            subprocess.run(command, cwd=work, env=env, check=True, capture_output=True)
            wall = time.perf_counter() - start
            time.sleep(0.2)  # the proxy logs a request after answering it
            with proxy.lock:
                measured = _stats(proxy.log)
            if repeat:
                runs.setdefault(name, []).append((wall, measured))
    rows = []
    keys = ("requests", "HEADs", "idle", "pages done")
    for name, taken in runs.items():
        walls = [wall for wall, _ in taken]
        medians = [f"{statistics.median(m[key] for _, m in taken):.2f}" for key in keys]
        rows.append([name, f"{statistics.median(walls):.2f}", ", ".join(f"{w:.2f}" for w in walls)])
        rows[-1] += medians
    return rows


if __name__ == "__main__":
    main()
