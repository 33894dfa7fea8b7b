"""Simple-API page parsing: HTML and JSON say the same facts, and bad pages fail by name."""

from __future__ import annotations

import json
import time

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.index import pages as pages_module
from mlenv.index.declared import MALFORMED
from mlenv.index.model import IndexPageError, Link, make_file
from mlenv.index.pages import page_kind, parse_html, parse_json, parse_page
from mlenv.limits import MAX_UNTERMINATED, LimitError
from mlenv.net.origins import UnsafeUrlError
from tests.support.growth import fastest

PAGE = "https://pypi.example/simple/demo/"
SHA = "a" * 64
META_SHA = "b" * 64


def test_html_hash_fragment_is_parsed_and_removed_from_the_url() -> None:
    (link,) = parse_html(
        f'<a href="../../files/demo-1.0-py3-none-any.whl#sha256={SHA}">x</a>', PAGE
    )
    assert link.url == "https://pypi.example/files/demo-1.0-py3-none-any.whl"
    assert link.filename == "demo-1.0-py3-none-any.whl"
    assert link.sha256 == SHA


def test_html_hash_is_lowercased_and_other_or_malformed_hashes_are_ignored() -> None:
    html = (
        f'<a href="a/demo-1.0.tar.gz#sha256={SHA.upper()}">a</a>'
        '<a href="b/demo-1.1.tar.gz#md5=0123456789abcdef0123456789abcdef">b</a>'
        '<a href="c/demo-1.2.tar.gz#sha256=nothex">c</a>'
    )
    assert [link.sha256 for link in parse_html(html, PAGE)] == [SHA, None, None]


def test_html_requires_python_is_unescaped() -> None:
    html = '<a href="demo-1.0.tar.gz" data-requires-python="&gt;=3.8,&lt;4">demo</a>'
    assert parse_html(html, PAGE)[0].requires_python == ">=3.8,<4"


def test_html_yanked_with_reason_without_reason_and_not_yanked() -> None:
    html = (
        '<a href="demo-1.0.tar.gz" data-yanked="broken &amp; insecure">a</a>'
        '<a href="demo-1.1.tar.gz" data-yanked>b</a>'
        '<a href="demo-1.2.tar.gz" data-yanked="">c</a>'
        '<a href="demo-1.3.tar.gz">d</a>'
    )
    assert [link.yanked for link in parse_html(html, PAGE)] == ["broken & insecure", "", "", None]


def test_html_metadata_attributes_both_pep_714_names() -> None:
    html = (
        f'<a href="a-1.0-py3-none-any.whl" data-core-metadata="sha256={META_SHA}">1</a>'
        '<a href="a-1.1-py3-none-any.whl" data-dist-info-metadata="true">2</a>'
        '<a href="a-1.2-py3-none-any.whl" data-core-metadata="true"'
        f' data-dist-info-metadata="sha256={SHA}">3</a>'
        '<a href="a-1.3-py3-none-any.whl">4</a>'
        '<a href="a-1.4-py3-none-any.whl" data-core-metadata>5</a>'
    )
    facts = [(link.has_metadata, link.metadata_sha256) for link in parse_html(html, PAGE)]
    assert facts == [(True, META_SHA), (True, None), (True, None), (False, None), (True, None)]


def test_html_base_href_and_absolute_links_and_credentials_are_stripped() -> None:
    html = (
        '<html><head><base href="https://files.example/packages/"></head><body>'
        '<a href="demo-1.0.tar.gz">rel</a>'
        '<a href="https://user:secret@mirror.example/x/demo-1.1.tar.gz">abs</a>'
        "<a>no href</a></body></html>"
    )
    urls = [link.url for link in parse_html(html, PAGE)]
    assert urls == [
        "https://files.example/packages/demo-1.0.tar.gz",
        "https://mirror.example/x/demo-1.1.tar.gz",
    ]


def test_html_filename_comes_from_the_url_unquoted_not_the_anchor_text() -> None:
    (link,) = parse_html('<a href="torch-2.6.0%2Bcu124-cp311-cp311-linux_x86_64.whl">t</a>', PAGE)
    assert link.filename == "torch-2.6.0+cu124-cp311-cp311-linux_x86_64.whl"


def test_text_that_is_not_html_is_refused_by_url() -> None:
    with pytest.raises(IndexPageError) as info:
        parse_html("just some words", "https://user:pw@host.example/simple/x/")
    assert info.value.where == "https://host.example/simple/x/"
    assert "pw" not in str(info.value)


def _json_page(*files: dict[str, object], version: str = "1.1") -> bytes:
    return json.dumps({"meta": {"api-version": version}, "name": "demo", "files": files}).encode()


def test_json_page_carries_every_fact() -> None:
    content = _json_page(
        {
            "filename": "demo-1.0-py3-none-any.whl",
            "url": "../../files/demo-1.0-py3-none-any.whl",
            "hashes": {"sha256": SHA, "md5": "x"},
            "requires-python": ">=3.9",
            "core-metadata": {"sha256": META_SHA},
            "size": 1234,
            "yanked": "bad build",
        },
        {
            "filename": "demo-1.1.tar.gz",
            "url": "https://files.example/demo-1.1.tar.gz#sha256=ignored",
            "hashes": {},
            "dist-info-metadata": True,
            "yanked": True,
        },
        {"filename": "demo-1.2.tar.gz", "url": "demo-1.2.tar.gz", "hashes": {}, "yanked": False},
    )
    first, second, third = parse_json(content, PAGE)
    assert first == Link(
        url="https://pypi.example/files/demo-1.0-py3-none-any.whl",
        filename="demo-1.0-py3-none-any.whl",
        sha256=SHA,
        requires_python=">=3.9",
        yanked="bad build",
        size=1234,
        has_metadata=True,
        metadata_sha256=META_SHA,
        declared=(("md5", MALFORMED),),  # "x" is no md5: a claim no bytes meet
    )
    assert (second.url, second.yanked, second.has_metadata) == (
        "https://files.example/demo-1.1.tar.gz",
        "",
        True,
    )
    assert (third.url, third.yanked, third.has_metadata, third.size) == (
        "https://pypi.example/simple/demo/demo-1.2.tar.gz",
        None,
        False,
        None,
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "is not valid JSON"),
        (b"[]", "is not a JSON object"),
        (_json_page(version="2.0"), "unsupported meta.api-version '2.0'"),
        (b'{"meta": {"api-version": "1.0"}}', "has no files list"),
        (_json_page({"filename": "x.whl"}), "files[0] lacks a url or filename"),
        (_json_page("oops"), "files[0] is not an object"),  # type: ignore[arg-type]
    ],
)
def test_json_that_is_not_the_api_it_claims_is_refused(content: bytes, problem: str) -> None:
    with pytest.raises(IndexPageError) as info:
        parse_json(content, PAGE)
    assert problem in info.value.message
    assert info.value.where == PAGE


@pytest.mark.parametrize(
    ("content_type", "content", "kind"),
    [
        ("application/vnd.pypi.simple.v1+json", b"", "json"),
        ("application/vnd.pypi.simple.v1+html", b"", "html"),
        ("text/html; charset=utf-8", b"{", "html"),
        (None, b'  {"meta": {}}', "json"),
        (None, b"<html>", "html"),
    ],
)
def test_content_type_decides_the_format(
    content_type: str | None, content: bytes, kind: str
) -> None:
    assert page_kind(content_type, content, PAGE) == kind


def test_an_unexpected_content_type_is_refused() -> None:
    with pytest.raises(IndexPageError, match="application/octet-stream"):
        parse_page(b"PK\x03\x04", "application/octet-stream", PAGE)


def test_html_in_a_declared_charset_and_undecodable_html() -> None:
    page = '<a href="d\u00e9mo-1.0.tar.gz">x</a>'.encode("latin-1")
    assert (
        parse_page(page, "text/html; charset=latin-1", PAGE)[0].filename == "d\u00e9mo-1.0.tar.gz"
    )
    with pytest.raises(IndexPageError, match="not valid utf-8"):
        parse_page(page, "text/html", PAGE)


def _file(filename: str, project: str = "demo") -> object:
    link = Link(url=f"https://x.example/{filename}", filename=filename)
    return make_file(link, project=canonicalize_name(project), index_url="https://x.example")


@pytest.mark.parametrize(
    "filename",
    [
        "demo-notaversion-py3-none-any.whl",
        "demo.whl",
        "demo-1.0-py3-none.whl",
        "demo-1.0.exe",
        "demo-1.0.tar.bz2",
        "demo-1.0-py2.7.egg",
        "other-1.0-py3-none-any.whl",  # another project's file on this page
        "demo.tar.gz",
    ],
)
def test_bad_or_foreign_filenames_are_skipped(filename: str) -> None:
    assert _file(filename) is None


def test_wheels_and_sdists_become_index_files() -> None:
    wheel = make_file(
        Link(
            url="https://x.example/Demo_Pkg-1.0-cp311-cp311-manylinux_2_28_x86_64.whl",
            filename="Demo_Pkg-1.0-cp311-cp311-manylinux_2_28_x86_64.whl",
            has_metadata=True,
            metadata_sha256=META_SHA,
        ),
        project=canonicalize_name("demo-pkg"),
        index_url="https://x.example",
    )
    sdist = make_file(
        Link(url="https://x.example/demo_pkg-1.0.tar.gz", filename="demo_pkg-1.0.tar.gz"),
        project=canonicalize_name("demo.pkg"),
        index_url="https://x.example",
    )
    assert wheel is not None and sdist is not None
    assert (wheel.name, wheel.version, wheel.is_wheel) == ("demo-pkg", Version("1.0"), True)
    assert {str(t) for t in wheel.tags} == {"cp311-cp311-manylinux_2_28_x86_64"}
    assert (wheel.has_metadata, wheel.metadata_sha256) == (True, META_SHA)
    assert (sdist.is_wheel, sdist.tags, sdist.has_metadata) == (False, frozenset(), False)


@pytest.mark.parametrize(
    "page",
    [
        '<a href="file:///etc/passwd#/demo-1.0-py3-none-any.whl">x</a>',
        '<a href="FILE:///home/u/.ssh/id_rsa">x</a>',
        '<base href="file:///etc/"><a href="demo-1.0-py3-none-any.whl">x</a>',
        '<base href="http://127.0.0.1/"><a href="demo-1.0-py3-none-any.whl">x</a>',
        '<a href="//127.0.0.1/demo-1.0-py3-none-any.whl">x</a>',
        '<a href="&#102;ile:///etc/passwd">entity-encoded scheme</a>',
        '<a href=" file:///etc/passwd">x</a>',
        '<a href="data:application/zip;base64,UEsFBg==">x</a>',
    ],
)
def test_an_http_page_cannot_link_to_this_machine(page: str) -> None:
    """Protects invariant 3 in HTML pages, <base href> included: the whole page is refused,
    naming it."""
    with pytest.raises(UnsafeUrlError) as info:
        parse_page(page.encode(), "text/html", PAGE)
    assert info.value.where == PAGE


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://localhost/x.whl", "gopher://x/"])
def test_a_json_page_cannot_link_to_this_machine(url: str) -> None:
    """Protects invariant 3 in PEP 691 answers."""
    document = {"meta": {"api-version": "1.1"}, "files": [{"url": url, "filename": "x.whl"}]}
    with pytest.raises(UnsafeUrlError):
        parse_json(json.dumps(document).encode(), PAGE)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'<base href="http://files.example/"><a href="demo-1.0-none-any.whl">x</a>', "text/html"),
        (b'<a href="http://files.example/demo-1.0-py3-none-any.whl#sha256=00">x</a>', "text/html"),
        (b'<a href="HTTP://files.example/demo-1.0-py3-none-any.whl">x</a>', "text/html"),
        (
            b'{"meta": {"api-version": "1.1"}, "files": [{"url": "http://files.example/x.whl", '
            b'"filename": "x.whl", "hashes": {}}]}',
            "application/vnd.pypi.simple.v1+json",
        ),
    ],
)  # fmt: skip
def test_an_https_page_cannot_send_mlenv_to_plain_http(body: bytes, content_type: str) -> None:
    """Protects invariant 3's downgrade rule in pages (HTML links, <base href>, PEP 691 urls):
    an https index handing out plain-http files is refused, naming the page."""
    with pytest.raises(UnsafeUrlError, match="plain http") as info:
        parse_page(body, content_type, PAGE)
    assert info.value.where == PAGE


def test_deeply_nested_json_is_a_clear_error() -> None:
    """Protects invariant 7: nesting beyond json's recursion guard is an IndexPageError naming
    the page, not a RecursionError (an internal error)."""
    with pytest.raises(IndexPageError, match="nests too deeply") as info:
        parse_json(b'{"meta": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", PAGE)
    assert info.value.where == PAGE


def test_a_page_with_too_many_links_is_refused_and_100k_links_parse_quickly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Protects invariant 7: 100,000 links (HTML and JSON) parse in time linear in the page
    (ten times the links take about ten times as long; quadratic parsing, a hundred times and
    hours at this size); past MAX_PAGE_LINKS the page is refused naming it, before any link
    is resolved. Relative, so a slow or loaded runner does not fail it."""

    def pages(count: int) -> tuple[str, bytes]:
        html = "".join(f'<a href="demo-{i}.0-py3-none-any.whl">x</a>\n' for i in range(count))
        files = [
            {"url": f"demo-{i}.0.tar.gz", "filename": f"demo-{i}.0.tar.gz"} for i in range(count)
        ]
        return html, json.dumps({"meta": {"api-version": "1.1"}, "files": files}).encode()

    def parsed_in(html: str, document: bytes, count: int) -> float:
        started = time.perf_counter()
        assert len(parse_html(html, PAGE)) == count
        assert len(parse_json(document, PAGE)) == count
        return time.perf_counter() - started

    small = min(parsed_in(*pages(10_000), 10_000) for _ in range(3))
    anchors, document = pages(100_000)
    assert parsed_in(anchors, document, 100_000) < 30 * small
    monkeypatch.setattr(pages_module, "MAX_PAGE_LINKS", 99_999)
    with pytest.raises(LimitError, match="links on the page") as info:
        parse_html(anchors, PAGE)
    assert info.value.where == PAGE
    with pytest.raises(LimitError, match="files on the page"):
        parse_json(document, PAGE)


@pytest.mark.parametrize(
    "unit", ["<!--", "<a href='x' ", "</", "<?", "<!", "<script>", "<!["], ids=repr
)
def test_html_that_never_closes_fails_fast_and_clearly(
    unit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects invariant 7 against HTMLParser's quadratic end-of-input handling (an
    unterminated comment or tag made close() rescan the rest once per "<": minutes for a
    megabyte) and its AssertionError on a malformed declaration: both are IndexPageErrors
    naming the page. Counted, not timed: close() is never handed more than MAX_UNTERMINATED
    characters (without the limit it got the whole 200,000-unit tail)."""
    handed: list[int] = []
    close = pages_module._AnchorParser.close

    def counting(parser: pages_module._AnchorParser) -> None:
        handed.append(len(parser.rawdata))
        if len(parser.rawdata) <= MAX_UNTERMINATED:  # else fail below, not after minutes
            close(parser)

    monkeypatch.setattr(pages_module._AnchorParser, "close", counting)
    with pytest.raises((IndexPageError, LimitError)) as info:
        parse_html(f"<html><body><a href='demo-1.0.tar.gz'>d</a>{unit * 200_000}", PAGE)
    assert info.value.where == PAGE
    assert all(size <= MAX_UNTERMINATED for size in handed), handed


def _ordinary_page(links: int) -> str:
    return "<html><body>" + "".join(
        f'<a href="demo-{i}.0-py3-none-any.whl">x</a>\n' for i in range(links)
    )


@pytest.fixture(scope="module")
def ordinary_page_time() -> float:
    """How long parsing an ordinary page of 1,000 links (44 kB) takes on this machine now."""
    page = _ordinary_page(1_000)
    return fastest(lambda: parse_html(page, PAGE))


@pytest.mark.parametrize("unit", ["<a/", "<a href=", "<a", "</", "<!--", "<script>"], ids=repr)
def test_an_unclosed_tail_just_under_the_limit_is_read_fast(
    unit: str, ordinary_page_time: float
) -> None:
    """The same attack one size down: a tail the limit lets through still reaches close(),
    whose rescans grow faster than the tail ("<a/" * 21,000, 63 kB, took 23 s under a 64 kB
    limit). The limit is set where the worst shape found costs less than parsing an ordinary
    page forty times its size: measured here, the worst ("<a/") costs a fifth of the
    1,000-link page; a 4 kB limit made it three times the page, 64 kB hundreds. Relative to a
    timing on the same machine, so a slow or loaded runner does not fail it."""
    tail = unit * ((MAX_UNTERMINATED - 1) // len(unit))

    def parse() -> None:
        try:
            parse_html(f"<html><body><a href='demo-1.0.tar.gz'>d</a>{tail}", PAGE)
        except (IndexPageError, LimitError) as error:
            assert error.where == PAGE

    assert fastest(parse) < ordinary_page_time


def test_a_real_page_leaves_far_less_than_the_limit_unread() -> None:
    """What feed() leaves of a complete page (a partial character reference at most) is far
    under the limit, so no real page is refused by it."""
    page = (
        "<html><body>"
        + "".join(
            f"<a href='demo-1.{n}.tar.gz#sha256={'0' * 64}'>demo-1.{n}.tar.gz</a><br/>\n"
            for n in range(500)
        )
        + "</body></html>\n&amp"
    )
    assert len(parse_html(page, PAGE)) == 500
