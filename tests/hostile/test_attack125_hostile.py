"""Adversary pass 125: each invariant of docs/security.md attacked at its one enforcing
function with Hypothesis, in the shapes an attacker or a typo would use.

Found: a URL whose userinfo follows an http(s) scheme with one, three or more slashes, or
backslashes (``https:///user:pw@host``, ``https:/user:pw@host``, ``https:\\\\user:pw@host``),
which WHATWG parsers (browsers, and every tool built on them) read as
``https://user:pw@host``, was shown whole by ``mlenv.redaction.redact`` (invariant 5): a
manifest's ``index-url`` so typed was echoed, password and all, by ``mlenv lock``.

Found: ``mlenv.net.origins.host_form`` spelt a Unicode host through Python's IDNA 2003 codec, which
maps ``ß`` to ``ss``, final sigma to sigma and drops zero-width joiners, where httpx sends the
IDNA 2008 form (``straße.example`` is ``xn--strae-oqa.example``, a name anyone may register
apart from ``strasse.example``). So ``may_send_credentials`` (invariant 5) sent an index's
credentials on a redirect to the other domain, and ``connect_to`` took the other domain for a
host the user named, letting it lead to the link-local metadata address.

Found: ``mlenv.net.origins.is_loopback`` knew ``localhost`` and ``*.localhost`` but not the other
names every distribution's /etc/hosts gives this machine (``ip6-localhost``, ``ip6-loopback``
on Debian and Ubuntu, ``localhost.localdomain``, ``localhost4``, ``localhost6`` and their
``.localdomain4/6`` forms on Fedora and RHEL): a remote index page could point ``lock`` at a
service on this machine through them (invariant 3).
"""

from __future__ import annotations

import string
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.index.http import HttpClient
from mlenv.index.model import PackageIndexError
from mlenv.index.pages import parse_html
from mlenv.install.ownership import fold_name
from mlenv.net.origins import UnsafeUrlError, connect_to, follow, may_send_credentials, origin
from mlenv.redaction import redact, redact_urls
from tests.support.cli import run_in_process
from tests.support.growth import LINEAR_BOUND, growth

SECRET = "S3CRETzq"
PASSWORD = st.text(string.ascii_letters + string.digits + "-_.~!$&'()*+,;=%", max_size=12).map(
    lambda tail: SECRET + tail
)
# What WHATWG's URL parser skips between a special scheme's ':' and its authority.
SLASHES = st.sampled_from(["/", "///", "////", "\\", "\\\\", "/\\", "\\/", "\\\\\\"])
SCHEMES = st.sampled_from(["https", "http", "HTTPS", "Http"])


@settings(max_examples=300)
@given(SCHEMES, SLASHES, PASSWORD, st.sampled_from(["", "/simple", ":8443/x?y=1", "#f"]))
def test_userinfo_after_any_run_of_slashes_is_hidden(
    scheme: str, slashes: str, password: str, tail: str
) -> None:
    url = f"{scheme}:{slashes}user:{password}@h.example{tail}"
    for shown in (redact(f"cannot fetch {url}: refused"), redact_urls(url)):
        assert SECRET not in shown, shown
        assert "h.example" in shown  # the host stays: an index URL's host is in the inputs hash


def test_a_normal_url_is_redacted_as_before() -> None:
    assert redact("https://user:pw@h.example/simple") == "https://***@h.example/simple"
    assert redact_urls("file:/a@b/wheels") == "file:/a@b/wheels"  # a path, not userinfo
    assert redact_urls("git+https:///a@b/x") == "git+https:///a@b/x"  # no special scheme


def test_a_long_run_of_slashes_after_a_scheme_is_redacted_in_linear_time() -> None:
    """Each ``https:\\`` of a hostile text starts a scan: it must end at the next one."""
    for run in ("\\", "/\\"):

        def text(n: int, run: str = run) -> str:
            return ("https:" + run) * n

        assert growth(redact, text, small=1_500) < LINEAR_BOUND


def test_lock_never_prints_a_password_typed_after_three_slashes(tmp_path: Path) -> None:
    for url in ("https:///user:S3CRETzq@h.example/simple", "https:/user:S3CRETzq@h.example/s"):
        (tmp_path / "mlenv.toml").write_text(
            '[environment]\nname = "x"\npython = "3.11"\n'
            f'[pypi]\nindex-url = "{url}"\ndependencies = ["numpy"]\n'
        )
        code, out, err = run_in_process(["lock"], tmp_path)
        assert code != 0
        assert SECRET not in out + err, err
        assert "h.example" in err


# IDNA 2003 and IDNA 2008 (httpx's ``idna``) spell these hosts apart: UTS 46's deviations.
DEVIATIONS = [
    ("straße.example", "strasse.example"),
    ("\u03c2igma.example", "\u03c3igma.example"),
    ("a\u200db.example", "ab.example"),
    ("\u0645\u0627\u200c\u0628.example", "\u0645\u0627\u0628.example"),
]


def _wire(url: str) -> tuple[str, bytes, int] | None:
    """Scheme, host and port as httpx puts them on the wire, or None for a URL it refuses."""
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host
    except (httpx.InvalidURL, UnicodeError):
        return None
    if parsed.scheme not in ("http", "https") or not host:
        return None
    return (
        parsed.scheme,
        host.rstrip(b"."),
        parsed.port or (443 if parsed.scheme == "https" else 80),
    )


@pytest.mark.parametrize(("mine", "other"), DEVIATIONS)
def test_credentials_never_go_to_a_host_only_idna_2003_calls_the_same(
    mine: str, other: str
) -> None:
    for owner, url in ((mine, other), (other, mine)):
        assert not may_send_credentials(f"https://{owner}/simple", f"https://{url}/x")
        client = HttpClient()
        client.add_credentials(f"https://user:S3CRETzq@{owner}/simple")
        assert client._authorization(f"https://{url}/simple/numpy/") is None
        assert client._authorization(f"https://{owner}/simple/numpy/") is not None
    assert may_send_credentials("https://Bücher.example/", "https://xn--bcher-kva.example/x")


@pytest.mark.parametrize(("mine", "other"), DEVIATIONS)
def test_a_look_alike_of_the_users_host_is_no_own_host(mine: str, other: str) -> None:
    with pytest.raises(UnsafeUrlError):
        connect_to(other, ["169.254.169.254"], own=[mine], where=f"https://{other}/x")
    connect_to(mine, ["169.254.169.254"], own=[mine], where=f"https://{mine}/x")


HOSTS = st.sampled_from(
    [name for pair in DEVIATIONS for name in pair]
    + [
        "h.example",
        "H.EXAMPLE",
        "h.example.",
        "bücher.example",
        "BÜCHER.example",
        "xn--bcher-kva.example",
        "xn--strae-oqa.example",
        "[::1]",
        "127.0.0.1",
        "K\u212a.example",
        "kk.example",
        "h\u3002example",
    ]
)
PORTS = st.sampled_from(["", ":443", ":80", ":8443", ":0443"])


@settings(max_examples=400)
@given(HOSTS, PORTS, st.sampled_from(["https", "http", "HTTPS"]), HOSTS, PORTS)
def test_credentials_go_only_where_httpx_sends_the_owners_origin(
    owner_host: str, owner_port: str, scheme: str, host: str, port: str
) -> None:
    owner = f"https://{owner_host}{owner_port}/simple"
    url = f"{scheme}://{host}{port}/x"
    if may_send_credentials(owner, url):
        assert _wire(url) is None or _wire(url) == _wire(owner), (owner, url)


def _httpx_loopback(url: str) -> bool:
    """Whether httpx would connect ``url`` to this machine: its wire host is ``localhost`` or
    a numeric address the resolver reads as loopback or unspecified (no lookup is made)."""
    import ipaddress
    import socket

    wire = _wire(url)
    if wire is None:
        return False
    host = wire[1].decode("ascii").strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        found = socket.getaddrinfo(host, 80, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return False
    address = ipaddress.ip_address(str(found[0][4][0]).split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


LOOPBACK_PIECES = st.sampled_from(
    ["127", "0", "1", "0x7f", "0177", "2130706433", "0x7f000001", ".", "\u3002", "\uff0e",
     "\uff11\uff12\uff17", "localhost", "LOCALHOST", "l\u00adocalhost", "x", "[", "]", "::1",
     "::ffff:127.0.0.1", ":", "@", "80", "0X7F", "\u0131", "\u0660", "\U0001d7ce", "\u00df"]
)  # fmt: skip


@settings(max_examples=400)
@given(
    st.lists(LOOPBACK_PIECES, min_size=1, max_size=6).map("".join),
    st.sampled_from(["http://", "https://", "//", "HTTP://"]),
    st.sampled_from(["", "/", ":80/x", "?q", "#f"]),
)
def test_a_remote_page_never_leads_httpx_to_this_machine(host: str, scheme: str, tail: str) -> None:
    """Invariant 3 judged by what httpx does with the URL ``follow`` hands it."""
    try:
        url = follow(scheme + host + tail, base="https://pypi.example/simple/x/", where="page")
    except UnsafeUrlError:
        return
    assert not _httpx_loopback(url), url


AUTHORITY = st.sampled_from(
    ["h.example", "evil.example", "@", ":", ";", "[", "]", "?", "#", "/", "443", "u", ".", "!",
     "$", "&", "'", "(", ")", "*", "+", ",", "=", "~", "_", "-", "::1"]
)  # fmt: skip


@settings(max_examples=400)
@given(
    st.lists(
        st.tuples(HOSTS, st.lists(AUTHORITY, max_size=4).map("".join)).map("".join),
        min_size=2,
        max_size=2,
    )
)
def test_one_origin_is_one_place_on_the_wire(authorities: list[str]) -> None:
    """Credentials go where ``origin`` matches (invariant 5): two URLs ``follow`` accepts with
    one origin must be one scheme, host and port to httpx."""
    urls = []
    for authority in authorities:
        try:
            urls.append(follow(f"https://{authority}/x", base="https://h.example/", where="p"))
        except UnsafeUrlError:
            return
    if origin(urls[0]) == origin(urls[1]):
        assert _wire(urls[0]) == _wire(urls[1]), urls


FOLDING = st.sampled_from(
    [*"aAsSkKiI.  ", "\u017f", "\u212a", "\u0130", "\u0131", "\u0345", "\u0399",
    "\u03b9", "\u0308", "\u0301", "\u0342", "\u1fbe", "\u03a3", "\u03c3", "\u03c2", "\u00df",
    "\u1e9e", "\u0300", "\u0327", "\u00c5", "\u212b", "\u030a", "\u1100", "\u1161", "\u11a8",
    "\uac00", "\u200b", "\u00ad", "\u034f", "\ufe0f", "\u3002", "\uff0e", "\u0338", "\u0f73",
    "\u0f71", "\u0f72", "\u1e9b", "\u0323", "\u0307", "\ufb05", "\ufb06", "\u0390", "\u1fd3"]
)  # fmt: skip


@settings(max_examples=400)
@given(st.lists(FOLDING, min_size=1, max_size=8).map("".join))
def test_a_folded_name_folds_to_itself(name: str) -> None:
    """Invariant 6's one path per folded name: were ``fold_name`` not idempotent, a name and
    its folded form would be two ledger keys for what a folding file system takes as one."""
    folded = fold_name(name)
    assert fold_name(folded) == folded, (name, folded)


# The names /etc/hosts gives this machine on Debian, Ubuntu, Fedora and RHEL.
HOSTS_FILE_NAMES = st.sampled_from(
    ["ip6-localhost", "ip6-loopback", "localhost.localdomain", "localhost4",
     "localhost4.localdomain4", "localhost6", "localhost6.localdomain6"]
)  # fmt: skip


@settings(max_examples=150)
@given(
    HOSTS_FILE_NAMES,
    st.sampled_from(["{}", "{}.", "{}".upper(), "{}:8080", "user@{}"]),
    st.sampled_from(["http", "https"]),
)
def test_a_remote_page_cannot_name_this_machine_by_its_hosts_file_names(
    name: str, shape: str, scheme: str
) -> None:
    host = shape.format(name.upper() if shape == "{}".upper() else name)
    link = f"{scheme}://{host}/packages/x-1.0-py3-none-any.whl"
    with pytest.raises(UnsafeUrlError):
        follow(link, base="https://pypi.example/simple/x/", where="page")
    page = f'<a href="{link}#sha256={"0" * 64}">x-1.0-py3-none-any.whl</a>'
    with pytest.raises((UnsafeUrlError, PackageIndexError)):
        parse_html(page, "https://pypi.example/simple/x/")
    # an index the manifest names on this machine may still link to it
    assert follow(link, base=f"http://{name}:3141/simple/x/", where="page") == link
