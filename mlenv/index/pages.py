"""Parsing of simple-API project pages (PEP 503 HTML, PEP 691 JSON) into links; pure.

Both formats carry the same facts (PEP 592 yanked, PEP 658/714 metadata, PEP 700 size), so both
produce the same ``Link`` values and nothing downstream knows which one an index speaks; only
JSON pages state PEP 700's upload time, read here once (``instants.instant``).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import urldefrag, urljoin, urlsplit

from mlenv.errors import printable
from mlenv.index.declared import Declared, page_digests
from mlenv.index.model import IndexPageError, Link
from mlenv.index.urls import strip_credentials
from mlenv.instants import instant
from mlenv.limits import MAX_PAGE_LINKS, MAX_UNTERMINATED, MAX_WHEEL_BYTES, enforce
from mlenv.lockfile_consistency import url_filename
from mlenv.net.origins import NO_LOCAL_ROOTS, LocalRoots, follow

ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.1"
)
_JSON_TYPES = frozenset(
    {
        "application/vnd.pypi.simple.v1+json",
        "application/vnd.pypi.simple.latest+json",
        "application/json",
    }
)
_HTML_TYPES = frozenset(
    {
        "application/vnd.pypi.simple.v1+html",
        "application/vnd.pypi.simple.latest+html",
        "text/html",
        "application/xhtml+xml",
    }
)
# Python codecs no web page is written in: "punycode" decodes in quadratic time (a page of
# a few MB: minutes), "undefined" raises a bare UnicodeError, the escape codecs turn "\u003c"
# into "<", and WHATWG bans UTF-7.
_NOT_PAGE_CHARSETS = frozenset(
    {"punycode", "idna", "undefined", "unicode-escape", "raw-unicode-escape", "utf-7"}
)
_PAGE_HINT = "check that the URL points at a PEP 503/691 simple index (usually ending in /simple)"


def page_kind(content_type: str | None, content: bytes, where: str) -> Literal["json", "html"]:
    """Decide by Content-Type; sniff only when the server sent none (static file servers)."""
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime in _JSON_TYPES:
        return "json"
    if mime in _HTML_TYPES:
        return "html"
    if not mime:
        return "json" if content.lstrip().startswith(b"{") else "html"
    raise IndexPageError(
        f"the page answered with Content-Type {mime!r}, neither the HTML nor the JSON simple API",
        where=where,
        hint=_PAGE_HINT,
    )


def parse_page(
    content: bytes,
    content_type: str | None,
    page_url: str,
    local: LocalRoots = NO_LOCAL_ROOTS,
    *,
    downgrade: bool = False,
) -> list[Link]:
    """Links on a project page; relative links resolve against ``page_url``. Every link goes
    through ``origins.follow``: a ``file:`` link only from a local page, inside ``local``;
    plain http from an https page only with ``downgrade`` (the manifest named the index by
    its http:// URL, so its first request was plain http already)."""
    where = strip_credentials(page_url)
    if page_kind(content_type, content, where) == "json":
        return parse_json(content, page_url, local, downgrade=downgrade)
    return parse_html(
        _page_text(content, content_type, where), page_url, local, downgrade=downgrade
    )


def project_status(content: bytes, content_type: str | None, page_url: str) -> str | None:
    """PEP 792's status of the page's project (``archived``, ``quarantined``,
    ``deprecated``), None for ``active`` or none stated; read from a page ``parse_page`` has
    read, only when it offered no file: an index withholds a quarantined project's files."""
    where = strip_credentials(page_url)
    if page_kind(content_type, content, where) == "json":
        marker = _json_document(content, page_url).get("project-status")
        status = marker.get("status") if isinstance(marker, dict) else None
    else:
        parser = _AnchorParser(where)
        parser.feed(_page_text(content, content_type, where))
        status = parser.status
    return status if status in ("archived", "quarantined", "deprecated") else None


def _page_text(content: bytes, content_type: str | None, where: str) -> str:
    charset = "utf-8"
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
    try:
        if codecs.lookup(charset).name in _NOT_PAGE_CHARSETS:
            raise LookupError(charset)
        text = content.decode(charset)
    except (UnicodeError, LookupError):  # UnicodeError: what "undefined" raises
        raise IndexPageError(
            f"the page is not valid {printable(charset, 40)} text", where=where, hint=_PAGE_HINT
        ) from None
    return text


class _AnchorParser(HTMLParser):
    def __init__(self, where: str) -> None:
        super().__init__(convert_charrefs=True)
        self.where = where
        self.anchors: list[dict[str, str | None]] = []
        self.base: str | None = None
        self.status: str | None = None  # PEP 792's <meta name="pypi:project-status">
        self.saw_tag = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.saw_tag = True
        if tag == "a":
            self.anchors.append(dict(attrs))
            enforce(len(self.anchors), MAX_PAGE_LINKS, "links on the page", where=self.where)
        elif tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")
        elif tag == "meta" and dict(attrs).get("name") == "pypi:project-status":
            self.status = dict(attrs).get("content")


def _metadata_attribute(value: str | None) -> tuple[bool, str | None, Declared]:
    """PEP 658/714 ``data-core-metadata``: "true" or "<hash>=<value>" (several joined by
    ``&``, as a link's fragment): whether the file exists, its sha256 and its other claims."""
    if value is None or value.strip().lower() in ("true", "false"):
        return value is None or value.strip().lower() == "true", None, ()
    return True, *page_digests(_claims(value.strip()))


def _claims(fragment: str) -> list[tuple[str, str]]:
    """The name/value pairs of a URL fragment or metadata attribute (``sha256=X&md5=Y``)."""
    return [
        (name, value) for name, _, value in (part.partition("=") for part in fragment.split("&"))
    ]


def _link_claims(url: str, fragment: str) -> list[tuple[str, str]]:
    """A link's claims: its fragment's, and those after an ``&`` in its query, which pip reads
    too (its hash pattern is ``[#&]sha256=`` over the whole URL): ``?x=1&sha256=X`` was no
    claim, so the file was locked whatever its bytes, where pip refuses those not X."""
    return [*_claims(urlsplit(url).query)[1:], *_claims(fragment)]


def parse_html(
    text: str, page_url: str, local: LocalRoots = NO_LOCAL_ROOTS, *, downgrade: bool = False
) -> list[Link]:
    where = strip_credentials(page_url)
    parser = _AnchorParser(where)
    try:
        parser.feed(text)
        # feed() stops at the first unterminated construct and keeps the rest; close() then
        # rescans that rest once per "<" in it (quadratic before Python 3.13.5), so a long
        # unterminated tail is refused instead of handed to it.
        enforce(
            len(parser.rawdata),
            MAX_UNTERMINATED,
            "characters after an unclosed tag or comment",
            where=where,
        )
        parser.close()
    except AssertionError as exc:  # _markupbase's answer to a malformed declaration
        raise IndexPageError(f"the page is not parsable HTML ({exc})"[:300], where=where,
                             hint=_PAGE_HINT) from None  # fmt: skip
    if not parser.saw_tag and text.strip():
        raise IndexPageError(
            "the page is not HTML (no tags at all)",
            where=where,
            hint=_PAGE_HINT,
        )
    base = (
        follow(parser.base, base=page_url, local=local, where=where, downgrade=downgrade)
        if parser.base
        else page_url
    )
    links = []
    for attrs in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        # Judged against the page itself: a <base href> cannot lend a link its own origin.
        try:
            joined = urljoin(base, href)
        except ValueError:  # a bracketed host left open or no address: follow refuses it too
            joined = href
        url, fragment = urldefrag(
            follow(joined, base=page_url, local=local, where=where, downgrade=downgrade)
        )
        sha256, declared = page_digests(_link_claims(url, fragment))
        metadata_attr = "data-core-metadata"
        if metadata_attr not in attrs:
            metadata_attr = "data-dist-info-metadata"
        has_metadata, metadata_sha256, metadata_declared = (
            _metadata_attribute(attrs[metadata_attr])
            if metadata_attr in attrs
            else (False, None, ())
        )
        yanked = (attrs.get("data-yanked") or "") if "data-yanked" in attrs else None
        url = strip_credentials(url)
        links.append(
            Link(
                url=url,
                filename=url_filename(url),  # PEP 503: not the anchor text
                sha256=sha256,
                requires_python=attrs.get("data-requires-python") or None,
                yanked=yanked,
                has_metadata=has_metadata,
                metadata_sha256=metadata_sha256,
                declared=declared,
                metadata_declared=metadata_declared,
            )
        )
    return links


def _bad_json(page_url: str, problem: str) -> IndexPageError:
    return IndexPageError(
        f"the page claims to be the JSON simple API but {problem}",
        where=strip_credentials(page_url),
        hint=_PAGE_HINT,
    )


def _json_metadata(value: object) -> tuple[bool, str | None, Declared]:
    """PEP 691's ``core-metadata``: true, or the file's ``hashes`` (every one a claim)."""
    if isinstance(value, Mapping):
        return True, *page_digests(value.items())
    return bool(value), None, ()


def _json_document(content: bytes, page_url: str) -> dict[str, object]:
    try:
        document = json.loads(content)
    except ValueError as exc:
        raise _bad_json(page_url, f"is not valid JSON ({exc})") from None
    except RecursionError:
        raise _bad_json(page_url, "nests too deeply") from None
    if not isinstance(document, dict):
        raise _bad_json(page_url, "is not a JSON object")
    return document


def parse_json(
    content: bytes, page_url: str, local: LocalRoots = NO_LOCAL_ROOTS, *, downgrade: bool = False
) -> list[Link]:
    where = strip_credentials(page_url)
    document = _json_document(content, page_url)
    meta = document.get("meta")
    version = meta.get("api-version") if isinstance(meta, dict) else None
    if not isinstance(version, str) or version.split(".")[0] != "1":
        raise _bad_json(page_url, f"has an unsupported meta.api-version {version!r}")
    files = document.get("files")
    if not isinstance(files, list):
        raise _bad_json(page_url, "has no files list")
    enforce(len(files), MAX_PAGE_LINKS, "files on the page", where=where)
    links = []
    for position, entry in enumerate(files):
        if not isinstance(entry, dict):
            raise _bad_json(page_url, f"files[{position}] is not an object")
        url, filename = entry.get("url"), entry.get("filename")
        if not isinstance(url, str) or not isinstance(filename, str):
            raise _bad_json(page_url, f"files[{position}] lacks a url or filename string")
        located, fragment = urldefrag(
            follow(url, base=page_url, local=local, where=where, downgrade=downgrade)
        )
        hashes, requires_python = entry.get("hashes"), entry.get("requires-python")
        # A value of neither shape PEP 691 gives it (``"hashes": "sha256=..."`` or ``""``, a
        # number for requires-python) was read as none, so the file was measured and locked
        # whatever its bytes, or for any Python; pip fails on it and uv refuses the page.
        # ``null`` is none, as pip reads it.
        hashes = {} if hashes is None else hashes
        if not isinstance(hashes, dict):
            raise _bad_json(page_url, f"files[{position}].hashes is not an object")
        if not isinstance(requires_python, str | None):
            raise _bad_json(page_url, f"files[{position}].requires-python is not a string")
        # pip takes a url's #sha256= over ``hashes`` (and adds its other digests): ignored,
        # a page whose two disagreed had mlenv lock the file pip refuses. Each must hold.
        sha256, declared = page_digests([*hashes.items(), *_link_claims(located, fragment)])
        yanked = entry.get("yanked", False)
        size = entry.get("size")
        metadata = entry.get("core-metadata", entry.get("dist-info-metadata", False))
        has_metadata, metadata_sha256, metadata_declared = _json_metadata(metadata)
        links.append(
            Link(
                url=strip_credentials(located),
                filename=filename,
                sha256=sha256,
                requires_python=requires_python,
                # a string, even empty, is yanked (PEP 691 gives a non-empty reason; uv reads
                # "" as yanked, pip not: the reading that takes no withdrawn file); any other
                # true value is yanked as pip reads it (uv refuses the page): 1 was read as not
                # yanked, so mlenv chose a file both leave alone
                yanked=yanked if isinstance(yanked, str) else ("" if yanked else None),
                # a size a lock cannot hold is no claim (``lockfile_read._Reader.record``)
                size=size if type(size) is int and 0 <= size <= MAX_WHEEL_BYTES else None,
                has_metadata=has_metadata,
                metadata_sha256=metadata_sha256,
                declared=declared,
                metadata_declared=metadata_declared,
                # a value that is no RFC 3339 instant with an offset is as good as none
                upload_time=instant(entry.get("upload-time")),
            )
        )
    return links
