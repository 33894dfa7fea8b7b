"""Attack 90: resolving under the exchange deadline, each address in turn, and proxy failures.

- ``exchange._Backend.connect_tcp`` went on to a host's next address only when the first
  refused: one that never answered (IPv6 first where IPv6 is dropped on the way, a firewall
  that drops SYNs) raised ``ConnectTimeout`` and the next address was never tried; the index
  client then retried the same dead address. Now a connect timeout moves on too.
- ``dns.addresses`` started a thread for each call: 200 fetches of one host whose resolver
  stalls left 200 threads blocked in C. A caller now waits on the resolution under way.
- ``errors.printable`` cut a text to its limit before the message was redacted: a lock entry's
  URL holding a userinfo longer than 200 characters (a 250-character access token before its
  '@') lost its '@' and showed the token's first 170 characters. It redacts before it cuts.
- A usage error (click's) was printed as click wrote it, unredacted, where ``--log-format json``
  redacts it: ``mlenv lock https://user:pw@host/simple`` (an index URL given as an argument)
  echoed the password in "Got unexpected extra argument (...)".
- An Akamai token (``?hdnts=exp=1~acl=/*~hmac=S``: fields joined by ``~`` inside one parameter
  whose name is the CDN's choice) showed its ``hmac``; ``~`` starts a parameter now.
- What stays as it was, asserted so it does not change: a valid proxy that refuses, answers
  502 or hangs up is retried (only an unusable proxy URL fails at once), and a resolver's
  failure (``EAI_AGAIN``, ``EAI_NONAME``) or an empty answer is a retried connect error.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlenv.errors import ProblemsError, printable
from mlenv.index.http import HttpClient, HttpError
from mlenv.lockfile import LockedPlatform
from mlenv.lockfile_consistency import consistency_problems
from mlenv.net.dns import Resolver, addresses
from mlenv.net.exchange import DeadlineTransport
from mlenv.net.origins import OWN_HOSTS
from mlenv.net.proxy import ProxyRouter
from mlenv.redaction import redact, redact_urls
from tests.support.cli import run_mlenv
from tests.support.forward_proxy import ForwardProxy
from tests.support.locks import package, sample

# the test servers stand for the user's own index: a name the manifest names may resolve here
USERS = {OWN_HOSTS: ("pkgs.test",)}

_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
BLANK = dict.fromkeys((*_VARIABLES, *(v.upper() for v in _VARIABLES)), "")


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>pkgs</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def dropped_then_answered() -> Iterator[int]:
    """A port at which 127.0.0.1 never answers a connect (a listener whose accept queue is full:
    the kernel drops each new SYN, as a network that drops IPv6 does) and 127.0.0.2 serves."""
    black = socket.socket()
    black.bind(("127.0.0.1", 0))
    black.listen(0)
    port = black.getsockname()[1]
    queued = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # queued, never accepted
            filler.connect(("127.0.0.1", port))
        queued.append(filler)
    server = http.server.HTTPServer(("127.0.0.2", port), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        probe = socket.socket()
        probe.settimeout(0.5)
        with pytest.raises(TimeoutError):  # the premise: 127.0.0.1 drops the connect
            probe.connect(("127.0.0.1", port))
        probe.close()
        yield port
    finally:
        server.shutdown()
        server.server_close()
        for filler in queued:
            filler.close()
        black.close()


def test_an_address_that_never_answers_gives_way_to_the_next(dropped_then_answered: int) -> None:
    """Before: ``ConnectTimeout`` after the first address, the second never tried."""
    port = dropped_then_answered
    transport = DeadlineTransport(resolve=lambda host, port: ["127.0.0.1", "127.0.0.2"])
    started = time.monotonic()
    with httpx.Client(transport=transport, timeout=httpx.Timeout(30, connect=1)) as client:
        answer = client.get(f"http://pkgs.test:{port}/simple/", extensions=USERS)
    assert answer.status_code == 200 and answer.text == "<html>pkgs</html>"
    assert 0.9 < time.monotonic() - started < 5, "one connect timeout, then the next address"


def test_the_index_client_reaches_the_second_address_in_its_first_attempt(
    dropped_then_answered: int,
) -> None:
    slept: list[float] = []
    client = HttpClient(
        transport=DeadlineTransport(resolve=lambda host, port: ["127.0.0.1", "127.0.0.2"]),
        connect_timeout=1,
        sleep=slept.append,
        own_hosts=("pkgs.test",),
    )
    with client:
        answer = client.get(f"http://pkgs.test:{dropped_then_answered}/simple/")
    assert answer.content == b"<html>pkgs</html>" and slept == []


def test_every_address_silent_is_still_a_connect_timeout(dropped_then_answered: int) -> None:
    transport = DeadlineTransport(resolve=lambda host, port: ["127.0.0.1", "127.0.0.1"])
    started = time.monotonic()
    with (
        httpx.Client(transport=transport, timeout=httpx.Timeout(30, connect=0.5)) as client,
        pytest.raises(httpx.ConnectTimeout),
    ):
        client.get(f"http://pkgs.test:{dropped_then_answered}/simple/", extensions=USERS)
    assert time.monotonic() - started > 0.9, "each address was given its connect timeout"


def _resolve_threads() -> int:
    return sum(thread.name.startswith("mlenv-resolve ") for thread in threading.enumerate())


def test_stalled_resolutions_of_one_host_share_one_thread() -> None:
    """Before: 200 callers against a resolver that never answers left 200 threads."""
    released = threading.Event()
    asked: list[str] = []

    def stalled(host: str, port: int) -> list[str]:
        asked.append(host)
        released.wait(30)
        return ["127.0.0.1"]

    before = _resolve_threads()
    try:
        results: list[list[str] | None] = []
        callers = [
            threading.Thread(
                target=lambda: results.extend(
                    addresses(stalled, "stalled.example", 443, 0.05) for _ in range(25)
                )
            )
            for _ in range(8)
        ]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        assert results == [None] * 200
        assert _resolve_threads() - before == 1 and asked == ["stalled.example"]
    finally:
        released.set()
    deadline = time.monotonic() + 5
    while _resolve_threads() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _resolve_threads() == before


def test_each_waiter_gets_the_shared_answer_and_the_next_call_asks_anew() -> None:
    released = threading.Event()
    asked: list[str] = []

    def slow(host: str, port: int) -> list[str]:
        asked.append(host)
        released.wait(10)
        return ["192.0.2.7"]

    results: list[list[str] | None] = []
    waiters = [
        threading.Thread(target=lambda: results.append(addresses(slow, "slow.example", 80, 10)))
        for _ in range(20)
    ]
    for waiter in waiters:
        waiter.start()
    time.sleep(0.2)
    released.set()
    for waiter in waiters:
        waiter.join()
    assert results == [["192.0.2.7"]] * 20 and asked == ["slow.example"]
    assert addresses(slow, "slow.example", 80, 10) == ["192.0.2.7"]
    assert asked == ["slow.example"] * 2, "an answer is not kept past its resolution"


def _failing(error: OSError | None) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if error is not None:
            raise error
        return []

    return resolve


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), "Temporary"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "not known"),
        (None, "resolves to no address"),
    ],
)
def test_a_resolver_failure_is_retried_as_a_connect_error(error: OSError | None, said: str) -> None:
    """As httpcore's own ``getaddrinfo`` failure was before ``mlenv.net.dns``: a name that is not
    known may be known once a VPN is up, as uv's client retries a connect error too."""
    slept: list[float] = []
    resolve = _failing(error)
    client = HttpClient(transport=DeadlineTransport(resolve=resolve), retries=2, sleep=slept.append)
    with client, pytest.raises(HttpError) as caught:
        client.get("http://nowhere.example/simple/")
    assert slept == [0.5, 1.0] and caught.value.transient is True
    assert said in str(caught.value)
    if error is not None:  # said as a name not resolved, without the errno (user walk 2)
        assert "the host nowhere.example could not be resolved" in str(caught.value)
        assert "Errno" not in str(caught.value)
    else:
        assert "ConnectError" in str(caught.value)


@pytest.mark.parametrize("mode", ["502", "close"])
def test_a_valid_proxy_that_fails_is_retried_and_its_password_hidden(mode: str) -> None:
    """Attack 84 fails an unusable proxy URL at once; a usable one answering 502 to CONNECT or
    hanging up is retried as before, each attempt reaching the proxy."""
    with ForwardProxy(mode=mode) as proxy:
        env = {**BLANK, "HTTPS_PROXY": proxy.url_with("corp", "s3cr%40t-pw")}
        slept: list[float] = []
        client = HttpClient(
            transport=ProxyRouter(ssl.create_default_context(), env), retries=2, sleep=slept.append
        )
        with client, pytest.raises(HttpError) as caught:
            client.get("https://pkgs.example/simple/")
        assert proxy.targets() == ["pkgs.example:443"] * 3
    assert slept == [0.5, 1.0] and caught.value.transient is True
    text = f"{caught.value}\n{caught.value.hint}"
    assert "via proxy http://***@127.0.0.1:" in text
    assert "s3cr" not in text and "corp" not in text


_TOKEN = "ya29." + "a0AfH6SMBx" * 25  # a Google access token's shape: 255 characters


@pytest.mark.parametrize(
    "url",
    [
        f"https://oauth2accesstoken:{_TOKEN}@us-python.pkg.dev/p/r/app-1.0-py3-none-any.whl\x07",
        f"https://h.example/a?next=https%3A%2F%2Fu%3A{_TOKEN}%40h%2Fapp-1.0-py3-none-any.whl\x07",
    ],
    ids=["userinfo", "encoded-userinfo"],
)
def test_a_long_secret_in_a_lock_url_is_hidden_before_the_message_is_cut(url: str) -> None:
    """The lock reader names a URL holding a control character (``printable``, 200 characters):
    cut first, the userinfo's '@' was past the cut and 170 characters of the token showed."""
    lock = sample()
    entry = package("app", url=url)
    lock = lock.with_platforms(
        [LockedPlatform("linux-64", (entry, *lock.platforms[0].packages[1:]))]
    )
    problems = consistency_problems(lock)
    shown = str(ProblemsError("mlenv.lock: problems", problems))
    assert "holds control characters" in shown, shown
    assert "a0AfH6SMBx" not in shown, shown
    assert "***" in printable(url)


@pytest.mark.parametrize(
    "args",
    [
        ["lock", "https://alice:s3cret-pw@pkgs.example/simple"],
        ["--log-format", "https://alice:s3cret-pw@pkgs.example/simple", "lock"],
        ["fetch", "--jobs", "https://alice:s3cret-pw@pkgs.example/simple"],
    ],
    ids=["extra-argument", "choice", "int"],
)
def test_a_usage_error_quoting_a_url_hides_its_password(tmp_path: Path, args: list[str]) -> None:
    result = run_mlenv(args, tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Error: " in result.stderr and "Usage: mlenv" in result.stderr, result.stderr
    assert "https://***@pkgs.example/simple" in result.stderr, result.stderr
    assert "s3cret" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        (
            "https://cdn.example/w.whl?hdnts=exp=1700000000~acl=/*~hmac=9f3e2a",
            "exp=1700000000~acl=/*~hmac=",
        ),
        ("https://cdn.example/w.whl?st=1~exp=2~hmac=9f3e2a&x=1", "st=1~exp=2~hmac="),
    ],
)
def test_an_akamai_token_hides_its_hmac(url: str, kept: str) -> None:
    for shown in (redact(url), redact_urls(url)):
        assert "9f3e2a" not in shown and kept + "***" in shown, shown


def test_a_tilde_path_is_no_parameter() -> None:
    url = "https://h.example/~alice/simple/app/?page=2"
    assert redact(url) == url and redact_urls(url) == url
