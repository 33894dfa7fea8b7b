"""Where a URL's userinfo is in a text: the patterns ``mlenv.redaction`` finds it with (what
it guarantees is ``mlenv.redaction.redact``'s docstring; docs/security.md, invariant 5). Split
from ``mlenv.redaction`` for size; nothing else uses it."""

from __future__ import annotations

import re

from mlenv.lazy_pattern import LazyPattern

# A URL reader (WHATWG's, urllib's, pip's and uv's) drops a tab, CR or LF anywhere in a URL and
# keeps (percent-encodes) any other C0 control in a userinfo, so ``https://us\ner:p\tw@host``
# holds the password ``pw``: a userinfo runs on across every C0 control (``AUTHORITY``) and a
# separator's ``:`` and slashes may have tabs and line breaks between them (``GLUE``: one, raw
# or as a repr or JSON quotes it, ``\t`` or ``\u0009``, or a repr of that, ``\\t``).
GLUE = r"(?:[\t\n\r]|\\{1,2}(?:[tnr]|u000[9aAdD]))"
# ``\s`` less the C0 controls: the blanks a userinfo (or a word of it) ends at; all but the
# space are no prose's word break in a URL (a NBSP pasted from a web page).
WIDE_BLANK = r"\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
BLANK = r"\x20" + WIDE_BLANK
# The controls ``\s`` holds (a line's end among them), and a line ending after a value's
# closing brackets or separators.
S_CONTROLS = r"\t-\r\x1c-\x1f"
_LINE_END = r"[)\]>,;]*[" + S_CONTROLS + "]"
# A port, as URL readers take one (urllib3, requests, curl): five digits at most, 65535 at
# most. Any other run of digits after ``user:`` is a password (``u:12345678901234567890@h``).
_PORT = (
    r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[0-5][0-9]{4}|[0-9]{1,4})(?![0-9])"
)
# A port before a line break (or another ``\s`` control; a closing quote between) ends a
# userinfo there: ``https://h:8080\nme@x.org``, or a manifest's ``"https://h:8443"`` then a
# line with an '@', is two lines to its reader; hiding across them lost the host and port (and
# made a bundle refuse the manifest). Known limit: a password that is a port's digits before a
# line break.
PORT_COLON = r":(?!" + _PORT + r"[\"'`]?" + _LINE_END + ")"
# A closing quote before a line break ends a userinfo too: a manifest's
# ``"https://registry.internal"`` then a line ``x = "a@b"`` is a quoted host, not a user. But
# not where the next line opens a string after its indent: ``'https://a:S3c'`` then
# ``    'ret@h'`` is one string to Python (adjacent literals, as pprint splits a long one;
# ``b'...'`` ones too, as it splits a long bytes value every few characters).
QUOTE_END = r"[\"'`](?:(?!" + _LINE_END + r")|[\r\n]+[ \t]*(?=b?[\"'`]))"
# Where pprint split a string with a blank into adjacent literals: a raw password's run goes on
# (``'https://u:pa '`` then ``    'ss@h'``), and across literals on one line too (``'https://u:ab'
# 'cd@h'``, Python's implicit joining): a raw password's ':' starts no port, so a quoted host
# and port then another literal (``'https://h:8443' 'a@b'``) stays whole.
_LITERALS_JOINED = r"[\"'](?:[\r\n]+[ \t]*|[ \t]*)b?[\"']"


def _authority(stops: str) -> str:
    """One character of a userinfo: none of ``stops`` nor a blank, nor the colon of a port or
    a quote that ends a line."""
    return f"(?:[^{stops}:\"'`{BLANK}]|{PORT_COLON}|{QUOTE_END})"


AUTHORITY = _authority("/?#")
# Every expression here is linear in the text: what is redacted may be a hostile server's
# (a 40 kB link made a scheme or parameter pattern that backtracks take a second).
# ://userinfo@ up to the last @ of the authority: a password may hold a raw '@'. Any "://"
# counts, with or without a scheme before it (matching the scheme was quadratic), and so does
# JSON's escaped ``:\/\/`` (a URL inside a JSON string shown whole), its double escape
# ``:\\/\\/`` (JSON in JSON), and a percent-encoded ``:`` or ``/`` (``:%2F%2F``, ``%3A//``; any
# mix of the spellings: ``_URL_SLASH``), and a scheme-relative
# ``//userinfo@`` where a URL starts (the text's start, a blank, a quote or Markdown's backtick,
# a bracket, ``=``, a shell's ``|`` or ``;``).
_URL_SLASH = r"(?:" + GLUE + r"*(?:\\{0,2}/|%2[Ff]))"
# An http(s) scheme followed by any other run of '/' and '\\' (``https:///``, ``https:/``,
# ``https:\\\\``): WHATWG parsers skip every slash and backslash there, so the userinfo after
# it is a credential to them (a typo'd index-url that ``lock`` echoes); a tab or line break
# may stand anywhere in it, raw or escaped (``https:\\r/``, a repr of ``https:\r/``: an
# escape's letter only before a slash, else ``https:\\r00@h``'s backslash is a slash and
# ``r00`` the user), and a repr's or JSON's escape of a control (``\x1fhttps:``,
# ``\u001fhttps:``) before it. The run holds a slash or backslash (``https:\n`` alone starts
# none) and is possessive: given back, a long run of backslashes made the userinfo run rescan
# it (quadratic).
WEB_SCHEME = "(?i:" + (GLUE + "*").join(["h", "t", "t", "p"]) + "(?:" + GLUE + "*s)?" + GLUE + "*:)"
_WEB_SLASHES = (
    r"(?:(?<![A-Za-z0-9+.-])|(?<=\\[tnr])|(?<=\\x[0-9A-Fa-f]{2})|(?<=\\u00[0-9a-fA-F]{2}))"
    + WEB_SCHEME
    + r"(?!(?:"
    + _URL_SLASH
    + r"){2}[^/\\\t\n\r])"
    + r"[\t\n\r]*+[/\\](?:[/\\\t\n\r]|(?<=\\)(?:[tnr]|u000[9aAdD])(?=[/\\]))*+"
)
_SEPARATORS = r"(?::|%3[Aa])" + _URL_SLASH + "{2}" + r"|(?<![^\s\"'`({\[<=,|;])//"
_SEPARATOR = r"(?P<separator>" + _SEPARATORS + ")"
# A URL percent-encoded whole (``https%3A%2F%2Fuser%3Apw%40host``, a ``?next=`` or a redirect's
# parameter): its userinfo, encoded, up to an encoded ``%40`` (no '/', '?', '#' or their escapes).
ENCODED_USERINFO = LazyPattern(
    r"(?P<separator>%3[Aa]%2[Ff]%2[Ff])(?:[^%/?#@"
    + BLANK
    + "]|%(?!2[Ff]|3[Ff]|23|40)[0-9A-Fa-f]{2})*%40"
)
_USERINFO = LazyPattern(_SEPARATOR + AUTHORITY + "*@")
# Its userinfo ends at a backslash too, a delimiter there to WHATWG, so a scan never runs on
# into the next ``https:\\`` of a hostile text.
_WEB_USERINFO = LazyPattern(r"(?P<separator>" + _WEB_SLASHES + ")" + _authority(r"/\\?#") + "*@")
# A password typed with a raw '/', '?' or '#' (``://user:pa/ss@host``, not a URL parsers
# accept, but what the user typed and would see echoed): a ':' in the authority before its
# first '/' that starts no port, then up to 256 characters (no quote but where two adjacent
# literals meet, ``_LITERALS_JOINED``, and no ':' that starts a "://", so a scan ends at the
# next URL; ``pa:s/s`` is one password; a blank or a line break is a password's too: ``u:a
# b@proxy`` as a proxy variable holds it, see ``GLUE``) up to an '@'. After ``https:`` any
# run of slashes starts one too (``_WEB_SLASHES``).
# A port is ``_PORT``: ``://:?@proxy`` (empty user, password ``?``) and ``://u:/@h`` start
# none. The port test keeps ``://host:8080/a@b`` whole (its host is part of the inputs hash).
# A known limit: ``://user:12/ss@host`` (a port's digits, then a raw '/') is the same shape,
# read as a host and port as a URL parser reads it, shown whole.
RAW_PASSWORD = LazyPattern(
    r"(?P<separator>"
    + _SEPARATORS
    + "|"
    + _WEB_SLASHES
    + ")"
    + r"(?:[^/?#@:\["
    + "\"'`"
    + BLANK
    + "]|"
    + QUOTE_END
    + r")*:(?!//|\\/|"
    + _PORT
    + r"(?:[/?#\s\"'`]|$))"
    + r"(?:[^@:\"'<>]|:(?!//|\\/)|"
    + _LITERALS_JOINED
    + "){0,256}@"
)
# After a raw password's '@', the rest of the authority up to its last '@' (``user:pa?ss@w@host``
# is the password ``pa?ss@w``, as ``_USERINFO`` reads a plain one). The run holds no '/', so
# no "://" starts inside it: each character is scanned once.
_AUTHORITY_TAIL = LazyPattern(AUTHORITY + "*@")
_SCHEME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+.-")
_SCHEME_START = LazyPattern(r"\b[A-Za-z]")


def userinfo_matches(text: str) -> list[re.Match[str]]:
    """Each ``://userinfo@`` in order; where a raw-password match and a plain one start at
    the same ``://``, the longer (the raw password's) wins."""
    longest: dict[int, re.Match[str]] = {}
    plain = (*_USERINFO.finditer(text), *RAW_PASSWORD.finditer(text), *_WEB_USERINFO.finditer(text))
    for match in (*plain, *ENCODED_USERINFO.finditer(text)):
        kept = longest.get(match.start())
        if kept is None or match.end() > kept.end():
            longest[match.start()] = match
    return [longest[start] for start in sorted(longest)]


def after_scheme(text: str, match: re.Match[str]) -> bool:
    """A scheme (``\\b[A-Za-z][A-Za-z0-9+.-]*``) ends where ``match``'s ``://`` starts: the
    run of scheme characters before it holds a letter at a word boundary. Each run ends at
    the ``/`` of an earlier ``://`` at the latest, so the walks back never overlap."""
    start = match.start()
    if match["separator"][:1].isalpha():  # ``_WEB_SLASHES``: the match starts at its scheme
        return True
    while start > 0 and text[start - 1] in _SCHEME_CHARS:
        start -= 1
    return _SCHEME_START.search(text, start, match.start()) is not None


def authority_tail(text: str, start: int) -> int:
    """Where the authority's last ``@`` after ``start`` ends it (``_AUTHORITY_TAIL``), else
    ``start``."""
    more = _AUTHORITY_TAIL.match(text, start)
    return start if more is None else more.end()
