"""One error hierarchy: every failure a user can cause says where it happened and how to fix it.

The CLI maps ``MlenvError`` to exit code 1 and anything else to 2, so raising a subclass here is
the only way an algorithm reports a user-facing failure.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# Every expression here is linear in the text: what is redacted may be a hostile server's
# (a 40 kB link made a scheme or parameter pattern that backtracks take a second).
# ://userinfo@ up to the last @ of the authority: a password may hold a raw '@'. Any "://"
# counts, with or without a scheme before it (matching the scheme was quadratic).
_USERINFO = re.compile(r"://[^/?#\s]*@")
# A password typed with a raw '/', '?' or '#' (``://user:pa/ss@host``, not a URL parsers
# accept, but what the user typed and would see echoed): a ':' in the authority before its
# first '/' that starts no port, then up to 256 characters (no blank or quote, and no ':'
# that starts a "://", so a scan ends at the next URL; ``pa:s/s`` is one password) up to an
# '@'. The port test keeps ``://host:8080/a@b`` whole (its host is part of the inputs hash).
# A known limit: ``://user:12/ss@host`` (a password of digits, then a raw '/') is the same
# shape, read as a host and port as a URL parser reads it, and shown whole.
_RAW_PASSWORD = re.compile(
    r"://[^/?#\s@:\[]*:(?![0-9]*(?:[/?#\s]|$))(?:[^\s@:\"'<>]|:(?!//)){0,256}@"
)
# After a raw password's '@', the rest of the authority up to its last '@' (``user:pa?ss@w@host``
# is the password ``pa?ss@w``, as ``_USERINFO`` reads a plain one). The run holds no '/', so
# no "://" starts inside it: each character is scanned once.
_AUTHORITY_TAIL = re.compile(r"[^/?#\s]*@")
_SCHEME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+.-")
_SCHEME_START = re.compile(r"\b[A-Za-z]")
# Query parameters that carry a secret: tokens, passwords, sessions, keys, and signed-URL
# signatures and credentials (S3 X-Amz-*, GCS X-Goog-*, Azure SAS sig, CloudFront
# Signature/Key-Pair-Id). A parameter's name is found first, then judged on its own, then its
# value is replaced. A name may be percent-encoded (``access%5Ftoken``): servers decode it, so
# it is judged decoded. A fragment holds parameters too (OAuth's ``#access_token=``), and a
# path segment (``;jsessionid=``). A name may be bracketed as PHP and Rails read arrays and
# nested keys (``token[]=``, ``user[password]=``, ``access_token%5B%5D=``): each of its
# segments is judged.
_PARAM_NAME = re.compile(r"[?&;#]([\w.%\[\]-]*)=")
_BRACKETS = re.compile(r"[\[\]]+")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
# The rule, by name (a word is what ``_``, ``.`` or ``-`` separate):
# - a name holding token, secret, password, passwd, signature, credential, or a session id
#   (``sessid``, ``sessionid``: ``jsessionid``, ``PHPSESSID``, ``ASPSESSIONID...``);
# - a name whose first word, or a word after a separator, starts with ``session``
#   (``session``, ``user_session``, ``sessionKey``; not ``possession``);
# - a name whose last word is ``key``, ``apikey``, ``accesskey``, ``privatekey`` or ``sas``
#   (``key``, ``api_key``, ``x-api-key``, ``access_key``, ``private_key``; ``secret_key`` is
#   a secret already); not ``keyword``, ``monkey`` or ``keys``;
# - the short names signed URLs and OAuth use: sig, auth, authorization, code, _state,
#   key-pair-id, policy (first: the most common names are judged soonest).
_SECRET_NAME = re.compile(
    r"sig|auth|authorization|code|_state|key-pair-id|policy"
    r"|[\w.-]*(?:token|secret|password|passwd|signature|credential|sess(?:ion)?id)[\w.-]*"
    r"|(?:[\w.-]*[_.-])?(?:session[\w.-]*|(?:api|access|private)?key|sas)",
    re.IGNORECASE,
)
# What a name judged by ``_SECRET_NAME`` may hold: no other character can be in a match, and
# a name holding one (a decoded ``%20``) made the ``[\w.-]*`` runs backtrack quadratically.
_NAME_CHARS = re.compile(r"[\w.-]+")
_PARAM_VALUE = re.compile(r"[^&#;\s\"'<>]+")
# anaconda.org channel tokens: https://conda.anaconda.org/t/<token>/channel
_PATH_TOKEN = re.compile(r"(?P<head>://[^/\s]+/t/)[^/\s]+")
# HTTP authorization values that end up in a message or a traceback.
_AUTH_VALUE = re.compile(r"(?P<scheme>\b(?:Basic|Bearer) +)[A-Za-z0-9._~+/=-]+")
# A header that carries a credential hides its whole value, whatever the scheme (GitHub's
# ``token``, ``Digest``, ``AWS4-HMAC-SHA256``, ``Negotiate``, a bare key or a cookie): the
# value is not judged, the header's name is. A name is a credential header's when its last
# word (after ``-`` or ``_``, case ignored) ends in authorization, cookie, token, secret,
# password, passwd or credential(s) (``Proxy-Authorization``, ``Set-Cookie``,
# ``Private-Token``, ``X-Amz-Security-Token``, ``X-CSRFToken``), is ``apikey``,
# ``accesskey``, ``privatekey``, or is ``key``, ``auth``, ``session`` or ``session-id``
# after a separator (``X-Api-Key``, ``X-Registry-Auth``); not a bare ``key``, ``code`` or
# ``auth``, words prose puts before a colon. A word glued before token or secret is a
# credential word (``identitytoken``, ``csrftoken``, ``clientsecret``) or follows a separator
# (``X-CSRFToken``): any other so spelled is a project's name in mlenv's own messages
# (``tiktoken: ...``, conda's ``libsecret``), not a header's.
_SECRET_HEADER = re.compile(
    r"(?:[\w-]*[-_])?(?:[a-z0-9]*(?:authorization|passw(?:or)?d|credentials?)"
    r"|(?:api|access|private)key|cookie|(?:access|refresh|id|identity|registry|auth|api"
    r"|session|security|bearer|csrf|xsrf|oauth|client|app)?(?:token|secret))"
    r"|[\w-]*[-_](?:[a-z0-9]*(?:token|secret|cookie)|key|auth|session(?:[-_]?id)?)",
    re.IGNORECASE,
)
# Where a header name stands: ``Name: value`` (a log line, ``curl -v``), ``Name=value``, and
# the shapes a traceback or an event shows: a repr or JSON dict (``{'Name': 'value'}``,
# ``"name": "value"``, an escaped ``\"name\": ...``), a list of pairs (``('Name', 'value')``,
# a comma then a quoted value), a bytes repr of a request (``...\r\nName: value\r\n``). The
# name starts the text or follows a blank, a quote, an opening bracket, a comma or an escaped
# line break, never a URL's ``?&;#/``: a query parameter is judged by ``_SECRET_NAME``, and a
# URL's host and path stay whole. It starts at a word's start (the look-behinds), so a scan
# never restarts inside a word: linear. ``==`` is a comparison, never an assignment: a
# requirement (``google-auth==2.0`` in a message or a bundle's manifest) keeps its version.
# A pair's name opens a tuple (``('Name', ``, ``(b'name', ``; ``_PAIR_OPEN``): a list of
# strings (a manifest's ``["google-auth", "numpy"]``) holds no pair.
_HEADER_NAME = re.compile(
    r"(?:(?<![^\s{(\[,'\"])|(?<=\\[nrt]))([A-Za-z][\w-]*)"
    r"(?:\\?['\"][ \t]*(?::|=(?!=)|(?P<pair>,)(?=[ \t]*b?\\?['\"]))|[ \t]*(?::|=(?!=)))[ \t]*"
)
_PAIR_OPEN = re.compile(r"\(b?\\?['\"]\Z")
# A name is a credential header's only when, besides ``_SECRET_HEADER``, its last word is a
# credential itself (token, secret, password, credentials, authorization, cookie, the key of
# an API, an access, a subscription..., a session id) or it has a custom header's ``X-``
# (``X-Registry-Auth``, ``x-api-key``): mlenv's own messages put project names before a colon
# or an ``=``, bare or quoted (``google-auth: no version satisfies``, ``'flask-session': no
# wheel``, conda's ``ssh-key=1.0``), and a project's last word may be ``auth``, ``key`` or
# ``session`` as a header's may.
_CREDENTIAL_END = re.compile(
    r"x[-_][\w-]*|[\w-]*?(?:token|secret|passw(?:or)?d|credentials?|authorization|cookie"
    r"|(?:api|access|private|subscription|secret|signing|encryption|master|client|application)"
    r"[-_]?key"
    r"|(?:basic|http|proxy|registry)[-_]?auth|sess(?:ion)?[-_]?id)",
    re.IGNORECASE,
)
# A name spelled as mlenv prints every project, its canonical name (lowercase words joined by
# single ``-``), is how HTTP/2 and httpx spell a header too; so spelled, a credential header is
# one of a few (``proxy-authorization``, ``private-token``, ``api-key``,
# ``ocp-apim-subscription-key``, ``dd-api-key``), every word of it a credential or HTTP word
# (``_HEADER_WORDS``). A project's own word tells it apart: ``git-credentials``,
# ``azure-mgmt-authorization``, ``keyrings-google-artifactregistry-auth``, ``eks-token``
# (among PyPI's 15,000 most downloaded) name projects, whatever their last word. Every other
# spelling (``Azure-Mgmt-Authorization``, ``EKS_TOKEN``, ``git_credentials``, ``x-...``) is
# judged by ``_CREDENTIAL_END`` alone.
_PROJECT_SPELLING = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)+")
_HEADER_WORDS = frozenset({
    "access", "amz", "api", "apikey", "apim", "app", "application", "auth", "authorization",
    "basic", "bearer", "circle", "client", "cookie", "credential", "credentials", "csrf", "dd",
    "deploy", "encryption", "goog", "http", "id", "identity", "job", "key", "master", "oauth",
    "ocp", "passwd", "password", "personal", "private", "proxy", "refresh", "registry", "secret",
    "security", "sess", "sessid", "session", "sessionid", "set", "signing", "subscription",
    "token", "user", "xsrf",
})  # fmt: skip
# The value: a quoted one (``'...'``, ``"..."``, ``b'...'``, escaped ``\"...``) up to its
# closing quote, a backslash escaping the next character; any other to the end of its line,
# a real or an escaped one (a Digest or AWS4 value holds blanks and commas).
_HEADER_VALUE = re.compile(
    r"b?\\?'(?P<single>(?:\\.|[^\\'\r\n])*)|b?\\?\"(?P<double>(?:\\.|[^\\\"\r\n])*)"
    r"|(?P<bare>(?:[^\\\r\n]|\\(?![rn]))*)"
)


def redact(text: str) -> str:
    """``text`` with every secret a URL or header can carry replaced by ``***``: what
    ``redact_urls`` hides, and the values of credential headers. The one redactor of text
    shown: messages, logs, JSON events and tracebacks all pass here."""
    return _secret_headers(redact_urls(text))


def redact_urls(text: str) -> str:
    """``text`` with every secret a URL carries replaced by ``***``: userinfo, secret query
    parameters, anaconda.org ``/t/<token>`` paths, and ``Basic``/``Bearer`` values. For data
    that must stay what it is (a location counted in the inputs hash, the manifest a bundle
    carries): a credential header's value runs to the end of its line, which in a TOML file
    would cut a string (``"google-auth=2.0"``) and in a location would change its hash."""
    text = _userinfo(text)
    text = _secret_params(text)
    text = _PATH_TOKEN.sub(r"\g<head>***", text)
    return _AUTH_VALUE.sub(r"\g<scheme>***", text)


def _secret_headers(text: str) -> str:
    """``text`` with the value of every credential header (``_credential_header``) as
    ``***``: inside its quotes when quoted, else up to the end of its line."""
    pieces: list[str] = []
    done = 0
    for match in _HEADER_NAME.finditer(text):
        if match.start() < done or not _credential_header(match[1]):
            continue
        if match["pair"] and not _PAIR_OPEN.search(text[max(0, match.start() - 4) : match.start()]):
            continue
        value = _HEADER_VALUE.match(text, match.end())
        assert value is not None  # the bare branch matches the empty string
        group = next(name for name in ("single", "double", "bare") if value[name] is not None)
        if value.end(group) > value.start(group):
            pieces += (text[done : value.start(group)], "***")
            done = value.end(group)
    return "".join(pieces) + text[done:]


def _credential_header(name: str) -> bool:
    """A header ``name`` that carries a credential (``_SECRET_HEADER``, ``_CREDENTIAL_END``),
    unless spelled as a project's name with a word no such header holds (``_HEADER_WORDS``)."""
    if not (_SECRET_HEADER.fullmatch(name) and _CREDENTIAL_END.fullmatch(name)):
        return False
    if name.startswith("x-") or not _PROJECT_SPELLING.fullmatch(name):
        return True
    return _HEADER_WORDS.issuperset(name.split("-"))


def _userinfo(text: str) -> str:
    """``text`` with every ``://userinfo@`` as ``://***@``. Where no scheme stands before the
    ``://`` (``é://a&token=S@CRET``) and the userinfo's last ``&`` or ``;`` starts a secret
    parameter whose value runs on past the ``@``, the rest of that value is hidden too: the
    scheme's redactor read a parameter there, not userinfo, and hid all of its value. After a
    scheme the host stays (an index URL's host is part of the inputs hash)."""
    pieces: list[str] = []
    done = 0
    for match in _userinfo_matches(text):
        if match.start() < done:  # inside a value hidden already
            continue
        pieces += (text[done : match.start()], "://***@")
        done = match.end()
        if match.re is _RAW_PASSWORD:  # its password held no '@': the authority's last one ends it
            more = _AUTHORITY_TAIL.match(text, done)
            done = done if more is None else more.end()
        last = max(text.rfind("&", match.start(), done), text.rfind(";", match.start(), done))
        name = _PARAM_NAME.match(text, last) if last >= 0 else None
        if name is not None and _secret_name(name[1]) and not _after_scheme(text, match):
            value = _PARAM_VALUE.match(text, name.end())
            if value is not None and value.end() > done:
                pieces.append("***")
                done = value.end()
    return "".join(pieces) + text[done:]


def _userinfo_matches(text: str) -> list[re.Match[str]]:
    """Each ``://userinfo@`` in order; where a raw-password match and a plain one start at
    the same ``://``, the longer (the raw password's) wins."""
    longest: dict[int, re.Match[str]] = {}
    for match in (*_USERINFO.finditer(text), *_RAW_PASSWORD.finditer(text)):
        kept = longest.get(match.start())
        if kept is None or match.end() > kept.end():
            longest[match.start()] = match
    return [longest[start] for start in sorted(longest)]


def _secret_name(name: str) -> bool:
    """A parameter name that carries a secret, judged as the server reads it (decoded)."""
    decoded = "%" in name
    if decoded:
        name = _PERCENT.sub(lambda escape: chr(int(escape[1], 16)), name)
    if "[" in name or "]" in name:
        return any(_secret_part(part, decoded) for part in _BRACKETS.split(name))
    return _secret_part(name, decoded)  # the common case: one segment, no brackets


def _secret_part(name: str, decoded: bool) -> bool:
    """``name`` (one segment, no bracket) judged by ``_SECRET_NAME``. Only a decoded name can
    hold a character no secret name holds (``%20``): it is none, said before the pattern's
    runs backtrack over the rest of the name."""
    if decoded and _NAME_CHARS.fullmatch(name) is None:
        return False
    return _SECRET_NAME.fullmatch(name) is not None


def _after_scheme(text: str, match: re.Match[str]) -> bool:
    """A scheme (``\\b[A-Za-z][A-Za-z0-9+.-]*``) ends where ``match``'s ``://`` starts: the
    run of scheme characters before it holds a letter at a word boundary. Each run ends at
    the ``/`` of an earlier ``://`` at the latest, so the walks back never overlap."""
    start = match.start()
    while start > 0 and text[start - 1] in _SCHEME_CHARS:
        start -= 1
    return _SCHEME_START.search(text, start, match.start()) is not None


def _secret_params(text: str) -> str:
    """``text`` with the value of every secret query parameter replaced by ``***``; a value
    runs to the next ``&``, ``#``, ``;``, blank or quote, so a ``?`` inside it is value."""
    pieces: list[str] = []
    done = 0
    for match in _PARAM_NAME.finditer(text):
        if match.start() < done or not _secret_name(match[1]):
            continue
        value = _PARAM_VALUE.match(text, match.end())
        if value is not None:
            pieces += (text[done : match.end()], "***")
            done = value.end()
    return "".join(pieces) + text[done:]


def printable(value: object, limit: int = 200) -> str:
    """Text a remote party chose (a registry's error message), safe to show: at most ``limit``
    characters, control characters (terminal escape sequences, newlines) as ``?``."""
    text = str(value)
    shown = "".join(char if char.isprintable() else "?" for char in text[:limit])
    return shown + ("..." if len(text) > limit else "")


_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs"})


# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt), the unassigned ones too:
# drawn as nothing (the Hangul fillers, the combining grapheme joiner, variation selectors, tags,
# ones a later Unicode assigns), so a name holding one looks like another; str.isprintable()
# calls some printable, and unicodedata calls the unassigned ones neither format nor control.
DEFAULT_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


def _hidden(char: str) -> bool:
    return unicodedata.category(char) in _HIDDEN or DEFAULT_IGNORABLE.match(char) is not None


def hidden_characters(text: str) -> list[str]:
    """The characters of ``text`` a terminal would act on or hide (newline and tab too)."""
    if _shown(text):  # most text, by two scans in C (a wheel's 15,000 paths: 0.4 s otherwise)
        return []
    return [char for char in text if _hidden(char)]


def _shown(text: str) -> bool:
    """No character of ``text`` is hidden: ``isprintable`` is False for every category of
    ``_HIDDEN`` (and for unassigned ones, which ``DEFAULT_IGNORABLE`` may then name)."""
    return text.isprintable() and not DEFAULT_IGNORABLE.search(text)


def terminal_text(text: str) -> str:
    """``text`` as it may reach the terminal: every control or format character but newline
    and tab (escape sequences, carriage returns, backspaces, bidi overrides, line separators)
    as ``?``. Whatever a node list, an index, a lock or a registry put in a name, it cannot
    clear the screen, retitle the terminal, rewrite a line already shown or reorder one. The
    last step of every line mlenv prints (the CLI's output and errors, every reporter)."""
    if _shown(text):
        return text
    return "".join(char if char in "\n\t" or not _hidden(char) else "?" for char in text)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input; several are gathered so users fix them all at once."""

    where: str
    message: str
    hint: str | None = None

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return redact(text)


class MlenvError(Exception):
    """Root of every error a user can cause or fix; carries where and a hint."""

    exit_code = 1
    label = "error"  # how the CLI introduces the message
    shown = False  # True when the command already reported it (the CLI then prints nothing)

    def __init__(self, message: str, *, where: str = "", hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    @property
    def problems(self) -> tuple[Problem, ...]:
        return (Problem(self.where, self.message, self.hint),)

    def render(self) -> str:
        return "\n".join(p.render() for p in self.problems)

    def __str__(self) -> str:
        return self.render()


class ProblemsError(MlenvError):
    """Several independent problems found in one pass over an input."""

    def __init__(self, summary: str, problems: Iterable[Problem]) -> None:
        self._problems = tuple(problems)
        super().__init__(summary)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return self._problems

    def render(self) -> str:
        lines = [redact(self.message)]
        lines.extend(p.render() for p in self._problems)
        return "\n".join(lines)


class ManifestError(ProblemsError):
    """The manifest cannot be read or does not describe a valid environment."""


class UsageError(MlenvError):
    """The command line or the project state does not allow the requested action."""


class VerdictError(MlenvError):
    """A check ran and said no; its report is already on screen, only the exit code is left."""

    shown = True


class CannotJudgeError(MlenvError):
    """A check could not reach a verdict (no driver found, no node labelled): exit 3, so a
    deploy script tells "cannot run here" (1) from "could not look" (3)."""

    exit_code = 3
    label = "cannot judge"
