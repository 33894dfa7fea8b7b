"""A registry's "try again": the one place the registry client retries.

Registries answer 429 and 5xx when busy, and Debian's docker-registry (distribution 2.8 on the
filesystem driver) answers 500 to a HEAD and "blob unknown" or "digest invalid" to a manifest
PUT while another client commits the same blob: its link files are rewritten in place. Eight
CI runners sharing a cache meet exactly that. The invariant, held by ``PatientClient.send``:
a request whose repetition cannot change what the registry stores (GET, HEAD, a manifest PUT
of the same bytes) is sent again after such an answer, at most ``len(DELAYS)`` more times,
and the last answer is the caller's as before; what repeating costs a session (the failed
attempts' time and the pauses) adds up to ``BUDGET`` at most, however many requests it sends.
An upload step (POST, PATCH, a blob's PUT) is never repeated here, since its session on the
registry may have moved on: the whole upload is begun again instead, from a new session
(``attempts``, ``pause``, ``RegistryBusy``), as ``docker push`` does; the registry stores a
blob only once its PUT names the digest of every byte.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from mlenv import limits
from mlenv.oci.reference import RegistryError

DELAYS = (0.25, 0.5, 1.0, 2.0)  # seconds before each repetition
MAX_RETRY_AFTER = 10.0  # a registry's Retry-After is honoured up to this
BUDGET = 60.0  # seconds one session spends on repetitions in all (attempts that failed, pauses)
_BUSY = frozenset({429, 500, 502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "HEAD"})
# A manifest PUT meeting a blob another client is committing (distribution's error codes).
_RACING = frozenset({"BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN", "DIGEST_INVALID"})
_MANIFEST_PATH = re.compile(r"/v2/.+/manifests/[^/]+")
_SECONDS = re.compile(r"[0-9]+")  # Retry-After in seconds (RFC 9110); a date is not read
DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class RegistryBusy(RegistryError):
    """The registry answered 429 or 5xx: what was refused may be tried again."""


def busy(status: int) -> bool:
    return status in _BUSY


class PatientClient(httpx.Client):
    """``httpx.Client`` whose ``send`` repeats what a busy registry asked to be repeated,
    after each of ``delays`` (``DELAYS`` unless a caller needs its write now or never, as a
    lease's claim does); ``pause`` and ``clock`` replace ``time.sleep`` and
    ``time.monotonic`` in tests. The time its repetitions cost (the failed attempts and the
    pauses) adds up to ``BUDGET`` at most: past that, a busy answer is the caller's at once,
    however many requests are to come."""

    def __init__(
        self,
        *,
        delays: Sequence[float] | None = None,
        pause: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._delays = delays
        self._pause = pause
        self._clock = clock
        self._spent = 0.0
        self._lock = threading.Lock()  # fetch's threads share one session

    def attempts(self) -> tuple[float | None, ...]:
        """The pause after each failed attempt of something, None after the last."""
        return (*(DELAYS if self._delays is None else self._delays), None)

    def pause(self, delay: float) -> bool:
        """Pause ``delay`` before another attempt, when it fits the budget (a whole upload
        begun again: the failed attempt's own time was transfer, not waiting)."""
        if not self._spend(delay):
            return False
        self._sleep(delay)
        return True

    def _sleep(self, seconds: float) -> None:
        (self._pause or time.sleep)(seconds)  # looked up now: tests replace time.sleep

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        for delay in self.attempts() if _repeatable(request) else (None,):
            start = self._clock()
            try:
                response = super().send(request, **kwargs)
            except DROPPED:
                if delay is None or not self._spend(self._clock() - start + delay):
                    raise
                self._sleep(delay)
                continue
            if delay is None or not _busy(request, response):
                return response
            retry_after = response.headers.get("Retry-After", "").strip()
            # ASCII digits only: str.isdigit also takes '²' and '٣', which float refuses or reads
            wait = float(retry_after) if _SECONDS.fullmatch(retry_after) else delay
            wait = min(wait, MAX_RETRY_AFTER)
            if not self._spend(self._clock() - start + wait):  # a slow 503 costs its time too
                return response
            response.close()
            self._sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _spend(self, seconds: float) -> bool:
        """Whether ``seconds`` more of repeating fit in the session's budget (then taken)."""
        with self._lock:
            if self._spent + seconds > BUDGET:
                return False
            self._spent += seconds
            return True


def _repeatable(request: httpx.Request) -> bool:
    if request.method in _IDEMPOTENT:
        return True
    # /v2/<name>/manifests/<reference> exactly: a repository may be called "manifests", and a
    # blob's closing PUT (always with ?digest=) may go to whatever Location the registry gave
    return (
        request.method == "PUT"
        and not request.url.query
        and _MANIFEST_PATH.fullmatch(request.url.path) is not None
    )


def _busy(request: httpx.Request, response: httpx.Response) -> bool:
    if response.status_code in _BUSY:
        return True
    if response.status_code != 400 or request.method != "PUT":
        return False
    try:
        errors = limits.parse_json(response.read(), where="").get("errors")
    except (ValueError, AttributeError, limits.LimitError):
        return False
    if not isinstance(errors, list):
        return False
    return any(isinstance(item, dict) and item.get("code") in _RACING for item in errors)
