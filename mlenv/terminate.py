"""SIGTERM ends a run as Ctrl-C does.

CI runners cancel a job, ``timeout`` ends a step and ``docker stop`` or Kubernetes end a
container with SIGTERM. Python's default for it is to die on the spot: a build left its work
directory (every artifact copied, the installed tree, half an image) beside dist/ until the
next build of that dist/, a bundle's beside the bundle, for a CI cache to save or a Docker
context to send. Raised as an interrupt in the main thread, it runs every clean-up Ctrl-C
runs and exits 143 (128 + 15). A second SIGTERM kills at once.
"""

from __future__ import annotations

import signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: an interrupt, so whatever cleans up after Ctrl-C cleans up after it."""


def _raise(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise Terminated


def terminate_as_interrupt() -> None:
    """Take SIGTERM as an interrupt, unless the parent ignored it (``nohup``: kept so)."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise)
