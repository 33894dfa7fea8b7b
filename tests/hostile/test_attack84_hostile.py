"""Attack 84: the secrets a URL's userinfo carries and the proxy URLs mlenv cannot use.

- ``redaction.redact`` (``redaction_userinfo.RAW_PASSWORD``) read ``://:?@proxy`` (an empty
  user, the password ``?``) as a host and an empty port and showed it whole; so for ``u:/@h``,
  ``u:#@h``, ``u:?p@h`` and a password holding a blank (``u:a b@h``).
- ``proxy.shown`` was a second redactor; it is ``redaction.redact_one_url`` now.
- ``HTTPS_PROXY=ftp://x``, ``http://[bad``, ``http://host:99999`` were retried by the index
  client for seconds before the error; now one error at once, naming the variable.
- DNS resolution was outside the exchange's deadline (``MLENV_DOWNLOAD_SECONDS``): a resolver
  that never answered held a connect for as long as ``getaddrinfo`` tried. It runs under it now
  (``mlenv.net.dns``), its resolver a parameter a test substitutes.
"""

from __future__ import annotations

import pathlib
import re
import socket
import ssl
import string
import threading
import time

import httpx
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mlenv.index.http import HttpClient, HttpError
from mlenv.net.exchange import DeadlineTransport, ExchangeTimeout
from mlenv.net.origins import OWN_HOSTS
from mlenv.net.proxy import ProxyRouter, UnusableProxy, shown
from mlenv.redaction import redact, redact_one_url, redact_urls
from tests.support.httpserver import IndexServer

# the test servers stand for the user's own index: a name the manifest names may resolve here
USERS = {OWN_HOSTS: ("pkgs.test",)}

_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
BLANK = dict.fromkeys((*_VARIABLES, *(v.upper() for v in _VARIABLES)), "")

# What ends a line for ``re``'s ``\s`` but is no blank a password holds on one line.
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
# The documented limits of ``redact`` (its docstring): digits then a raw '/', '?', '#' or
# blank read as a port; a "://" (or an escaped or encoded one) starts the next URL; a raw
# '/', '?', '#' or a blank with a quote or '<' '>' (a quoted URL's end); an '@' before a raw
# '/?#' or a blank (``u:p@host said a@b``: the host stays).
_PORT_LIKE = re.compile(r"[0-9]+[/?#\s]")
_SEPARATOR_LIKE = re.compile(r"(?::|%3[Aa])(?:\\{0,2}/|%2[Ff]){2}|//")


def _within_limits(password: str) -> bool:
    raw = any(c in password for c in "/?#") or any(c.isspace() for c in password)
    if _PORT_LIKE.match(password) or _SEPARATOR_LIKE.search(":" + password):
        return False
    if raw and any(c in password for c in "\"'<>"):
        return False
    at = password.find("@")
    return not (at >= 0 and any(c in "/?#" or c.isspace() for c in password[at:]))


passwords = st.text(
    st.characters(codec="utf-8", blacklist_characters=_LINE_BREAKS),
    min_size=0,
    max_size=24,
)
users = st.sampled_from(["", "u", "corp", "ghp_x", "__token__", "user.name", "u-1"])
schemes = st.sampled_from(["http", "https", "socks5h", "git+https", "oci", "HTTP"])
hosts = st.sampled_from(["proxy.corp", "[::1]", "10.0.0.1", "bücher.example", "h"])
ports = st.sampled_from(["", ":3128", ":8080"])
paths = st.sampled_from(["", "/", "/simple/torch/", "/r.git", "/v2/img/manifests/latest"])
# Text around a URL: an opening and a closing that a message, a log or Markdown puts there.
wraps = st.sampled_from([("", ""), ("'", "'"), ('"', '"'), ("(", ")"), ("[", "]"), ("<", ">")])
words = st.text(string.ascii_letters + string.digits + " ,.:", max_size=20)


@settings(max_examples=200)
@given(
    password=passwords,
    user=users,
    scheme=schemes,
    host=hosts,
    port=ports,
    path=paths,
    wrap=wraps,
    before=words,
    after=words,
)
def test_no_password_survives_and_the_host_and_path_do(
    password: str,
    user: str,
    scheme: str,
    host: str,
    port: str,
    path: str,
    wrap: tuple[str, str],
    before: str,
    after: str,
) -> None:
    """``redact``'s guarantee, within its documented limits: the whole userinfo is ``***``,
    every other byte stays. Before: ``://:?@proxy`` was shown whole."""
    assume(_within_limits(password))
    if wrap[1] and wrap[1] in password and any(c in password for c in "/?# \t"):
        assume(False)  # a quote of the wrap inside a raw password: where the URL ends
    opening, closing = wrap
    lead = f"{before} " if before else ""
    tail = f" {after}" if after else ""
    url = f"{scheme}://{user}:{password}@{host}{port}{path}"
    text = f"{lead}{opening}{url}{closing}{tail}"
    expected = f"{lead}{opening}{scheme}://***@{host}{port}{path}{closing}{tail}"
    assert redact(text) == expected
    assert redact_urls(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://:?@proxy", "http://***@proxy"),
        ("HTTPS_PROXY=http://:?@proxy:3128/", "HTTPS_PROXY=http://***@proxy:3128/"),
        ("http://u:?@proxy", "http://***@proxy"),
        ("http://u:#@proxy", "http://***@proxy"),
        ("http://u:/@proxy", "http://***@proxy"),
        ("http://u:?p@h", "http://***@h"),
        ("http://u:?#/@proxy", "http://***@proxy"),
        ("http://u:a b@h/x", "http://***@h/x"),
        ("http://u: @h", "http://***@h"),
        ("http://u:@proxy", "http://***@proxy"),
        ("http://:@proxy", "http://***@proxy"),
        ("(http://u:pa?ss@proxy/x)", "(http://***@proxy/x)"),
        ("https://ghp_xxx@github.com/a", "https://***@github.com/a"),
        (
            "https://__token__:pypi-AgEabc@upload.pypi.org/legacy/",
            "https://***@upload.pypi.org/legacy/",
        ),
        ("http://u:p@[::1]:3128", "http://***@[::1]:3128"),
        ("socks5h://u:p/q@h:1080", "socks5h://***@h:1080"),
        ("git+https://u:p#q@h/r.git", "git+https://***@h/r.git"),
        ("oci://u:p?q@reg/x", "oci://***@reg/x"),
    ],
)
def test_each_userinfo_shape_is_hidden(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    ["https://host:8080/a@b", "oci://registry:5000/img@sha256:abc", "http://host:8080 a@b"],
)
def test_a_port_then_an_at_is_no_password(text: str) -> None:
    """What the fix must not hide: a port, then a path's or a later word's '@' (the host is
    part of the inputs hash)."""
    assert redact(text) == text
    assert redact_urls(text) == text


@settings(max_examples=200)
@given(
    user=st.text(st.characters(codec="utf-8"), max_size=10),
    password=st.text(st.characters(codec="utf-8"), max_size=20),
    scheme=st.sampled_from(["http://", "socks5h://", ""]),
)
def test_one_url_hides_everything_before_its_last_at(user: str, password: str, scheme: str) -> None:
    """``shown`` is the one redactor's ``redact_one_url``: a proxy URL is one URL, so none of
    ``redact``'s limits applies (digits then '/', "://", a line break)."""
    proxy = f"{scheme}{user}:{password}@proxy.corp:3128"
    assert shown(proxy) == redact_one_url(proxy) == f"{scheme}***@proxy.corp:3128"


SECRET = "pr0xy-s3cret"


@pytest.mark.parametrize(
    ("variable", "proxy"),
    [
        ("HTTPS_PROXY", "ftp://x"),
        ("https_proxy", "http://[bad"),
        ("ALL_PROXY", "http://host:99999"),
        ("HTTPS_PROXY", "http://host:abc"),
        ("HTTPS_PROXY", f"http://corp:{SECRET[:5]}/{SECRET[6:]}@127.0.0.1:9"),
        ("HTTPS_PROXY", f"http://:?{SECRET}@proxy.corp"),
        ("HTTPS_PROXY", "socks4://h:1080"),
        ("HTTPS_PROXY", "http://a b:3128"),
        ("HTTPS_PROXY", "http://%zz:3128"),
        ("HTTPS_PROXY", "http://h\x00:3128"),
        ("all_proxy", f"socks5://corp:{SECRET}@127.0.0.1:9"),  # no socksio here: unusable
    ],
)
def test_an_unusable_proxy_fails_at_once_naming_its_variable(variable: str, proxy: str) -> None:
    """Before: the index client retried each of these 3 times with backoff (measured 3.5 s)
    before an error that named no variable. Now one ``HttpError``, not transient, no sleep."""
    slept: list[float] = []
    router = ProxyRouter(ssl.create_default_context(), {**BLANK, variable: proxy})
    client = HttpClient(transport=router, retries=3, sleep=slept.append)
    started = time.monotonic()
    with pytest.raises(HttpError) as caught:
        client.get("https://pkgs.example/simple/")
    assert time.monotonic() - started < 1.0
    assert slept == []
    error = caught.value
    assert error.transient is False
    message = redact(f"{error}\n{error.hint}")
    assert variable in message and "percent-encoded" in message, message
    for part in (SECRET, SECRET[:5], SECRET[6:]):
        assert part not in str(error) and part not in (error.hint or ""), message


def test_the_router_raises_the_named_error_a_registry_client_sees_too() -> None:
    """``UnusableProxy`` is an ``httpx.ProxyError``: a caller that handles proxy failures
    (the registry client) still catches it."""
    router = ProxyRouter(ssl.create_default_context(), {**BLANK, "https_proxy": "ftp://x"})
    with pytest.raises(UnusableProxy) as caught:
        router.handle_request(httpx.Request("GET", "https://pkgs.example/v2/"))
    assert isinstance(caught.value, httpx.ProxyError)
    assert str(caught.value).startswith("via proxy ftp://x (from https_proxy): "), caught.value


def test_a_usable_proxy_is_still_retried() -> None:
    """The classification is the proxy URL's, not every proxy failure's: a proxy that refuses
    the connection (nothing listens on port 9) is retried as before."""
    slept: list[float] = []
    env = {**BLANK, "HTTPS_PROXY": "http://127.0.0.1:9"}
    client = HttpClient(
        transport=ProxyRouter(ssl.create_default_context(), env), retries=2, sleep=slept.append
    )
    with pytest.raises(HttpError) as caught:
        client.get("https://pkgs.example/simple/")
    assert len(slept) == 2 and caught.value.transient is True


def test_a_resolver_that_never_answers_meets_the_exchange_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: ``getaddrinfo`` ran inside httpcore's connect with no limit, so a stalled
    resolver held the exchange past ``MLENV_DOWNLOAD_SECONDS``. Now the deadline names it."""
    monkeypatch.setenv("MLENV_DOWNLOAD_SECONDS", "1")
    released = threading.Event()
    asked: list[tuple[str, int]] = []

    def stalled(host: str, port: int) -> list[str]:
        asked.append((host, port))
        released.wait(30)
        return ["127.0.0.1"]

    transport = DeadlineTransport(resolve=stalled)
    started = time.monotonic()
    try:
        with pytest.raises(ExchangeTimeout) as caught:
            transport.handle_request(httpx.Request("GET", "http://stalled.example:8080/simple/"))
    finally:
        released.set()
        transport.close()
    took = time.monotonic() - started
    assert 0.9 < took < 3.0, took
    assert asked == [("stalled.example", 8080)]
    assert "resolving stalled.example" in str(caught.value), caught.value


def test_each_resolved_address_is_tried_in_turn(tmp_path: pathlib.Path) -> None:
    """The resolver's first address refuses (nothing listens on ::1, or no IPv6 at all), its
    second is the server: the request is answered, as ``socket.create_connection`` would."""
    (tmp_path / "simple").mkdir()
    (tmp_path / "simple" / "index.html").write_text("<html>pkgs</html>")
    with IndexServer(tmp_path) as server:
        port = int(server.url.rsplit(":", 1)[1])
        transport = DeadlineTransport(resolve=lambda host, port: ["::1", "127.0.0.1"])
        with httpx.Client(transport=transport) as client:
            answer = client.get(f"http://pkgs.test:{port}/simple/index.html", extensions=USERS)
        assert answer.status_code == 200 and "pkgs" in answer.text
        assert server.requests and server.requests[-1].headers.get("host") == f"pkgs.test:{port}"


def test_a_resolver_failure_is_a_connect_error() -> None:
    """No such host: ``httpx.ConnectError`` (what the index client retries and names), as
    httpcore's own ``getaddrinfo`` failure was."""

    def unknown(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    transport = DeadlineTransport(resolve=unknown)
    with pytest.raises(httpx.ConnectError, match="Name or service not known"):
        transport.handle_request(httpx.Request("GET", "http://nowhere.example/"))


def test_a_name_idna_cannot_spell_is_raised_at_once_as_before() -> None:
    """Found by attack 56's tests: ``getaddrinfo`` raises ``UnicodeError`` for a label past 63
    characters; run in the resolver's thread it was lost and read as a 10 s timeout (and
    retried). It is raised in the caller as it came: the index client's "invalid URL"."""

    def idna(host: str, port: int) -> list[str]:
        raise UnicodeError("label too long")

    transport = DeadlineTransport(resolve=idna)
    started = time.monotonic()
    with pytest.raises(UnicodeError, match="label too long"):
        transport.handle_request(httpx.Request("GET", "http://a..b/x.whl"))
    assert time.monotonic() - started < 1.0
