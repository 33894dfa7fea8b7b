"""Tell a closed stdout from any other broken pipe: a registry or index connection that breaks
is a network failure and must never pass for "the reader had enough" (exit 0)."""

from __future__ import annotations

import errno
import os
import select
import sys
from typing import TYPE_CHECKING

from mlenv.errors import MlenvError

if TYPE_CHECKING:
    from rich.console import Console


def is_stdout_closed(exc: BaseException) -> bool:
    """Whether ``exc`` is EPIPE and stdout's reader is gone: the pipe reports an error to a
    poll now (a pipe whose read end is closed), so the EPIPE was ours to take."""
    if not isinstance(exc, OSError) or exc.errno != errno.EPIPE:
        return False
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        events = poller.poll(0)
    except (OSError, ValueError, AttributeError):
        return False
    return any(mask & (select.POLLERR | select.POLLHUP) for _, mask in events)


def silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush at exit does not fail again
    and print "Exception ignored ... BrokenPipeError" (and exit 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def stdout_console(width: int | None) -> Console:
    """A rich console on stdout whose closed pipe ends the command as every other command's
    does: rich's own handling exits 1 from inside the render (``SystemExit``), unseen by
    ``cli.exits.exit_status``; this one raises the EPIPE for it."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, "stdout was closed")

    return _Console(highlight=False, width=width)


def stdout_failed(exc: OSError) -> MlenvError:
    """The error for a stdout write that failed for another reason than a closed reader (a full
    disk or a failed device behind ``> file``): no bug of mlenv's to report. Stdout is
    silenced first, as the exit's own flush of what is left would fail again (exit 120)."""
    silence_stdout()
    return MlenvError(
        f"cannot write to stdout: {exc.strerror or exc}",
        where="stdout",
        hint="free space on (or repair) the file system stdout is redirected to, or redirect "
        "it elsewhere",
    )
