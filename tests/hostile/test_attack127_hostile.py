"""Adversary pass 127: the wheel installer's routing (.data spelling, entry-point wrappers,
headers), the https -> http refusal in ``origins.follow`` and ``split_words``' fast path, as
merged after 3f34e94.

Findings this file pins (each failed before its fix):

- ``split_words`` copied the word being read at every unquoted stretch inside it
  (``[*pieces, first]``): a word of a million quoted pieces (``a''a''...``, 3 MB) took most of
  an hour of CPU where the reader before the fast path took 4 s.
- The index page cache answered an https project page with the final URL it stored: an entry
  an older mlenv wrote after the index redirected to plain http kept resolving the page's links
  to plain http (a 304 renews it for ever, and offline it is served whatever its age), so the
  https -> http refusal never saw the redirect it was made for.
- A `.data/scripts` member left out as an entry point's wrapper was named in the warning as
  it is: a name holding newlines (which the ledger refuses in any installed path) printed lines
  of its own into mlenv's output (``error: nothing was installed``). Names are quoted now, as
  every refusal quotes a member.
- An index the manifest names by its ``http://`` URL whose server upgrades the request to https
  (a TLS proxy in front) but writes its links, or redirects further, to plain http (the proxy's
  X-Forwarded-Proto unset) was refused as a downgrade, with the hint to name the index by its
  http:// URL, which the manifest did. Plain http from the first request on lets anyone on the
  path answer that request already: its pages keep their http links, its redirects may go back.
"""

from __future__ import annotations

import io
import shlex
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from mlenv.index import HttpCache, HttpClient, OfflineError, SimpleIndex
from mlenv.index.caches import CachedPage
from mlenv.index.pages import ACCEPT
from mlenv.install.wheels import install_environment
from mlenv.net.origins import UnsafeUrlError
from mlenv.report import HumanReporter
from mlenv.shell_words import split_words
from tests.support.raw_wheels import DIST_INFO, METADATA, WHEEL, raw_wheel, record_hash

# --- split_words: a word of many pieces --------------------------------------------------------


@pytest.mark.parametrize("piece", ["a''", "a\\b", 'a"\\""'])
def test_a_word_of_a_million_pieces_is_read_whole(piece: str) -> None:
    """Each quote or escape starts a new piece of the same word; the word is built by appending,
    not by copying what was read so far at every unquoted stretch (quadratic: 1M pieces never
    finished). The short form is held to shlex itself."""
    expected = shlex.split(piece)[0]
    assert split_words(piece * (1 << 20)) == [expected * (1 << 20)]
    assert split_words(f"x {piece * 3} y") == shlex.split(f"x {piece * 3} y")


# Every character shlex or the fast path could treat apart, with any other text around them.
_SPECIAL = st.sampled_from(list(" \t\r\n\x0b\x0c\x00\x1c\x85\xa0\u2028\u3000\"'\\#;="))
_ANY = st.characters(exclude_categories=["Cs"])


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.one_of(_SPECIAL, _ANY), max_size=60))
def test_words_and_errors_are_shlexs_over_all_of_unicode(line: str) -> None:
    """The fast path (no quote or backslash) and the piece reader both, held to shlex.split:
    only ' \\t\\r\\n' separate words (not \\x0b, \\x0c, NUL or Unicode spaces), and an open quote
    or a trailing backslash fails with shlex's own message."""
    assert _outcome(split_words, line) == _outcome(shlex.split, line)


def _outcome(split: Callable[[str], list[str]], line: str) -> list[str] | str:
    try:
        return split(line)
    except ValueError as error:
        return f"ValueError: {error}"


# --- https -> http: what the page cache stored before the rule ---------------------------------

PAGE = b'<a href="demo-1.0-py3-none-any.whl">demo-1.0-py3-none-any.whl</a>'
INDEX = "https://index.example/simple"


def _cache_from_before_the_rule(root: Path) -> HttpCache:
    """The page of an https index as a pre-rule mlenv stored it after the index redirected to
    plain http: its final URL, against which links resolve, is the http one; fresh for 10
    minutes and revalidatable."""
    cache = HttpCache(root)
    headers = {"cache-control": "max-age=600", "content-type": "text/html", "etag": '"e"'}
    page = CachedPage("http://mirror.example/simple/demo/", headers, PAGE, time.time())
    cache.store(f"{INDEX}/demo/", ACCEPT, page)
    return cache


@pytest.mark.parametrize("fresh", [True, False])
def test_a_cached_page_does_not_carry_an_https_index_to_plain_http(
    tmp_path: Path, fresh: bool
) -> None:
    """The stored http final URL is no answer for an https request: the entry is a miss and the
    page is asked for again (without validators, which would renew the entry with a 304)."""
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.headers.get("if-none-match"):
            return httpx.Response(304, headers={"ETag": '"e"'})
        return httpx.Response(200, headers={"Content-Type": "text/html"}, content=PAGE)

    cache = _cache_from_before_the_rule(tmp_path)
    if not fresh:
        cache.clock = lambda: time.time() + 3600
    http = HttpClient(transport=httpx.MockTransport(answer), sleep=lambda _: None, cache=cache)
    (found,) = SimpleIndex(INDEX, http=http).files(canonicalize_name("demo"))
    assert found.url == f"{INDEX}/demo/demo-1.0-py3-none-any.whl"
    assert [str(r.url) for r in requests] == [f"{INDEX}/demo/"]
    assert "if-none-match" not in requests[0].headers


def test_offline_a_cached_page_from_before_the_rule_is_no_page(tmp_path: Path) -> None:
    """Offline the cache answers whatever its age, but not with a page whose links would be
    plain http for an https index: that is a miss, said as offline says it."""
    http = HttpClient(cache=_cache_from_before_the_rule(tmp_path), offline=True)
    with pytest.raises(OfflineError):
        SimpleIndex(INDEX, http=http).files(canonicalize_name("demo"))


# --- the installer: a wrapper left out is named as a refusal names a member ---------------------


def test_a_left_out_wrapper_cannot_write_lines_into_the_output(tmp_path: Path) -> None:
    """pip leaves out a .data/scripts file named after an entry point whatever its directory
    (its base name decides) and RECORD need not list it; its name, newlines and escapes and all,
    is shown quoted on the warning's one line, never as lines of mlenv's own."""
    entry_points, module = b"[console_scripts]\nevil = evil:main\n", b"def main(): pass\n"
    wrapper = "evil-1.0.data/scripts/x\n\nerror: nothing was installed\x1b[31m\r/evil"
    listed = [("evil/__init__.py", module), (f"{DIST_INFO}/entry_points.txt", entry_points)]
    rows = [*listed, (f"{DIST_INFO}/METADATA", METADATA), (f"{DIST_INFO}/WHEEL", WHEEL)]
    record = "".join(f"{name},{record_hash(data)},{len(data)}\n" for name, data in rows)
    wheel = raw_wheel(tmp_path, [*listed, (wrapper, b"wrapper")],
                      record=record + f"{DIST_INFO}/RECORD,,\n")  # fmt: skip
    out = io.StringIO()
    staging = tmp_path / "env"
    install_environment([wheel], staging, prefix=str(staging), interpreter="/usr/bin/python3",
                        python="3.11", reporter=HumanReporter(out, terminal=False))  # fmt: skip
    warnings = [line for line in out.getvalue().splitlines() if not line.startswith("Installing")]
    assert warnings == [
        "warning: evil-1.0-py3-none-any.whl: ignored 1 .data/scripts member(s) named after an "
        "entry point, whose generated script is installed instead (as pip does): "
        "'evil-1.0.data/scripts/x\\n\\nerror: nothing was installed\\x1b[31m\\r/evil'"
    ]
    assert (staging / "bin/evil").is_file()
    assert not (staging / "bin/x").exists()


# --- https -> http: an index the manifest names by its http:// URL ---------------------------

UPGRADED = (
    b'<a href="http://idx.example/packages/demo-1.0-py3-none-any.whl">demo-1.0-py3-none-any.whl</a>'
)


def _upgrading_server(request: httpx.Request) -> httpx.Response:
    """A TLS proxy that sends plain http to https, in front of an index that writes its links
    (and its package redirects) as plain http, not told the scheme it is served under."""
    if request.url.scheme == "http" and request.url.path.startswith("/simple/"):
        return httpx.Response(301, headers={"Location": str(request.url.copy_with(scheme="https"))})
    if request.url.path.startswith("/simple/"):
        return httpx.Response(200, headers={"Content-Type": "text/html"}, content=UPGRADED)
    if request.url.path == "/moved":
        return httpx.Response(302, headers={"Location": "https://idx.example/plain"})
    if request.url.path == "/plain":
        return httpx.Response(302, headers={"Location": "http://idx.example/wheel"})
    return httpx.Response(200, content=b"wheel")


def test_an_index_named_by_its_http_url_keeps_its_http_links_behind_a_tls_upgrade() -> None:
    http = HttpClient(transport=httpx.MockTransport(_upgrading_server), sleep=lambda _: None)
    (found,) = SimpleIndex("http://idx.example/simple", http=http).files(canonicalize_name("demo"))
    assert found.url == "http://idx.example/packages/demo-1.0-py3-none-any.whl"
    assert http.get("http://idx.example/moved").content == b"wheel"


def test_an_index_named_by_its_https_url_is_still_never_led_to_plain_http() -> None:
    """The same server named by its https:// URL: its http links and redirects are refused,
    naming them."""
    http = HttpClient(transport=httpx.MockTransport(_upgrading_server), sleep=lambda _: None)
    with pytest.raises(UnsafeUrlError, match="from https to plain http"):
        SimpleIndex("https://idx.example/simple", http=http).files(canonicalize_name("demo"))
    with pytest.raises(UnsafeUrlError, match="from https to plain http") as refused:
        http.get("https://idx.example/moved")
    assert refused.value.where == "https://idx.example/plain"
