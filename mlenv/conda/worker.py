"""The py-rattler child process: every rattler call runs here, never in mlenv's own process.

Why a child process: py-rattler 0.28 crashes (SIGSEGV/SIGABRT) in roughly one of 15-40
interpreter exits, after all its work is done (a tokio shutdown race,
PyO3/pyo3-async-runtimes#40). mlenv therefore never imports rattler in its own process. Each
operation starts ``python -c`` on ``_serve``, which reads one JSON request on stdin, does the
rattler work, writes one JSON reply to the original stdout, flushes, and leaves with
``os._exit`` so the runtime is never torn down. The reply is written only after the work is
finished, so a reply that arrives complete is trusted even if the child dies afterwards. The
cost is one interpreter start plus ``import rattler``: about 0.2 s per operation.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from mlenv.conda.records import CondaError


class CondaWorkerError(RuntimeError):
    """The py-rattler child process failed without saying why: a bug, not a user error."""


class ChildFailure(Exception):
    """An error the child reported: ``kind`` is rattler's exception name or one of ours."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); from mlenv.conda.worker import _serve; _serve()"
)


def run_child(operation: str, arguments: Mapping[str, Any]) -> Any:
    """Run one rattler operation in a fresh interpreter and return its JSON reply."""
    root = str(Path(__file__).resolve().parents[2])
    request = json.dumps({"operation": operation, "arguments": arguments}).encode()
    done = subprocess.run(
        [sys.executable, "-P", "-c", _BOOT, root], input=request, capture_output=True, check=False
    )
    try:
        reply = json.loads(done.stdout)
    except ValueError:
        if done.returncode < 0:
            raise _crashed(operation, -done.returncode) from None
        stderr = done.stderr.decode(errors="replace").strip()[-2000:]
        raise CondaWorkerError(
            f"the py-rattler child for {operation!r} ended with status {done.returncode} "
            f"and no reply:\n{stderr}"
        ) from None
    if "error" in reply:
        error = reply["error"]
        if error["kind"] == "ModuleNotFoundError":
            raise CondaError(
                f"py-rattler is not installed: {error['message']}",
                where="conda",
                hint="pip install py-rattler==0.28.0",
            )
        if error["kind"] not in _KNOWN_KINDS:
            raise CondaWorkerError(f"the py-rattler child failed:\n{error['trace']}")
        raise ChildFailure(error["kind"], error["message"])
    return reply["result"]


def _crashed(operation: str, number: int) -> ChildFailure:
    """A child killed by a signal before it answered: rattler overflows its stack on what a
    channel supplies (a ``constrains`` spec nested 10,000 parentheses deep, attack 194), so
    that is a failure of the input the caller names, never mlenv's internal error."""
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    return ChildFailure(
        "crashed",
        f"py-rattler died of {name} during its {operation} before it answered (a package "
        "record or archive it read may be malformed: a spec nested thousands deep overflows "
        "its parser; SIGKILL may be the memory limit)",
    )


_KNOWN_KINDS = frozenset(
    {"spec", "SolverError", "GatewayError", "FetchRepoDataError", "InvalidChannelError"}
    | {"InstallerError", "TransactionError", "LinkError", "ExtractError", "IoError"}
)


def _serve() -> None:
    """The child's main: one request in, one reply out, then leave without finalising."""
    import asyncio  # the child's alone: the parent never runs an event loop

    reply_stream = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything else written to stdout must not corrupt the reply
    try:
        request = json.loads(sys.stdin.buffer.read())
        operation = _OPERATIONS[request["operation"]]
        reply: dict[str, Any] = {"result": asyncio.run(operation(request["arguments"]))}
    except ChildFailure as failure:
        reply = {"error": {"kind": failure.kind, "message": failure.message}}
    except BaseException as exc:  # rattler's panics are BaseExceptions; all must travel back
        reply = {
            "error": {
                "kind": type(exc).__name__,
                "message": str(exc),
                "trace": traceback.format_exc(),
            }
        }
    reply_stream.write(json.dumps(reply))
    reply_stream.flush()
    sys.stderr.flush()
    os._exit(0)


async def _child_solve(arguments: Mapping[str, Any]) -> list[dict[str, Any]]:
    import rattler  # only ever imported in the child process

    specs = []
    for text in arguments["specs"]:
        try:
            specs.append(rattler.MatchSpec(text, strict=True))
        except Exception as exc:  # rattler raises one exception type per parse problem
            raise ChildFailure("spec", f"{text!r} is not a valid conda MatchSpec: {exc}") from exc
    platforms = [arguments["platform"], "noarch"]
    gateway = rattler.Gateway()
    # Only records the channels still publish are preferred; rattler would otherwise keep a
    # locked record that was removed from its channel.
    locked = []
    if arguments["locked"]:
        wanted = {digest for _, digest in arguments["locked"]}
        names = sorted({name for name, _ in arguments["locked"]})
        published = await gateway.query(
            arguments["channels"], platforms, names, recursive=False, channel_relations="disabled"
        )
        locked = [
            record
            for records in published
            for record in records
            if {(record.sha256 or b"").hex(), (record.md5 or b"").hex()} & wanted
        ]
    solved = await rattler.solve(
        arguments["channels"],
        specs,
        gateway=gateway,
        platforms=platforms,
        locked_packages=locked,
        virtual_packages=[
            rattler.GenericVirtualPackage(
                rattler.PackageName(item["name"]),
                rattler.Version(item["version"]),
                rattler.BuildString(item["build"]),
            )
            for item in arguments["virtual"]
        ],
        constraints=arguments["constraints"],
        channel_relations="disabled",
    )
    return [json.loads(record.to_json()) for record in solved]


async def _child_install(arguments: Mapping[str, Any]) -> None:
    import rattler  # only ever imported in the child process

    records = []
    for item in arguments["records"]:
        package = rattler.PackageRecord(
            name=item["name"],
            version=item["version"],
            build=rattler.BuildString(item["build"]),
            build_number=item["build_number"],
            subdir=item["subdir"],
            noarch=item["noarch"],
            depends=list(item["depends"]),
            constrains=list(item["constrains"]),
            sha256=bytes.fromhex(item["sha256"]),
            md5=bytes.fromhex(item["md5"]),
            size=item["size"],
        )
        records.append(
            rattler.RepoDataRecord(package, item["filename"], item["url"], item["channel"])
        )
    await rattler.install(
        records,
        target_prefix=arguments["prefix"],
        cache_dir=Path(arguments["cache_dir"]),
        installed_packages=[],
        platform=rattler.Subdir(arguments["platform"]),
        execute_link_scripts=False,
        show_progress=False,
        alternative_target_prefix=arguments["target_prefix"],
    )


_OPERATIONS: dict[str, Callable[[Mapping[str, Any]], Coroutine[Any, Any, Any]]] = {
    "solve": _child_solve,
    "install": _child_install,
}
