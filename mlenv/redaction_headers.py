"""The redactor's rule for a credential header's value (``Authorization: Bearer X``,
``{'X-Api-Key': 'X'}``, ``Private-Token=X``) and the names that carry one, which
``mlenv.redaction`` also judges options and parameters by (docs/security.md, invariant 5).
Split from ``mlenv.redaction`` for size."""

from __future__ import annotations

import base64
import binascii
import re

from mlenv.lazy_pattern import LazyPattern
from mlenv.redaction_lines import hide as _hide

# A header that carries a credential hides its whole value, whatever the scheme (GitHub's ``token``,
# ``Digest``, ``AWS4-HMAC-SHA256``, ``Negotiate``, a bare key or a cookie): the value is not judged,
# the header's name is. A name is a credential header's when its last word (after ``-`` or ``_``,
# case ignored) ends in authorization, cookie, token, secret, password, passwd or credential(s)
# (``Proxy-Authorization``, ``Set-Cookie``, ``Private-Token``, ``X-Amz-Security-Token``,
# ``X-CSRFToken``), is ``apikey``, ``accesskey``, ``privatekey``, is ``pass``, ``passcode`` or
# ``pin`` (``pass: x``, ``DB_PASS=x``; ``MYSQL_PWD``: ``pwd`` after a separator), or is ``key``,
# ``auth``, ``api``, ``session`` or ``session-id`` after a separator (``X-Api-Key``,
# ``X-Registry-Auth``, ``X-JFrog-Art-Api``); not a bare ``key``, ``code`` or ``auth``, words
# prose puts before a colon. A word glued before token or secret is a credential word
# (``identitytoken``, ``csrftoken``, ``clientsecret``) or follows a separator (``X-CSRFToken``):
# any other so spelled is a project's name in mlenv's own messages (``tiktoken: ...``, conda's
# ``libsecret``), not a header's.
_SECRET_HEADER = LazyPattern(
    r"(?:[\w-]*[-_])?(?:[a-z0-9]*(?:authorization|passw(?:or)?d|passphrase|passcode|credentials?)"
    r"|pass|pin"
    r"|(?:api|access|private)key|cookie|(?:access|refresh|id|identity|registry|auth|api"
    r"|session|security|bearer|csrf|xsrf|oauth|client|app)?(?:token|secret))"
    r"|[\w-]*[-_](?:[a-z0-9]*(?:token|secret|cookie)|key|auth|api|pwd|session(?:[-_]?id)?)",
    re.IGNORECASE,
)
# Where a header name stands: ``Name: value`` (a log line, ``curl -v``), ``Name=value``, and the
# shapes a traceback or an event shows: a repr or JSON dict (``{'Name': 'value'}``, ``"name":
# "value"``, an escaped ``\"name\": ...``), a list of pairs (``('Name', 'value')``, a comma then a
# quoted value), a bytes repr of a request (``...\r\nName: value\r\n``). The name starts the text or
# follows a blank, a quote, an opening bracket, a comma or an escaped line break (or ``--header=``,
# ``--env=``, ``--build-arg=``; npm's credential keys, ``_auth``, ``_authToken`` and
# ``_password``, after an ``.npmrc`` scope's ``//host/:`` too),
# never a URL's ``?&;#/``: a query parameter is judged by ``_SECRET_NAME``, and a URL's host and
# path stay whole. It starts at a word's start (the look-behinds), so a scan never restarts inside a
# word: linear. ``==`` is a comparison, never an assignment: a requirement (``google-auth==2.0`` in
# a message or a bundle's manifest) keeps its version. A pair's name opens a tuple (``('Name', ``,
# ``(b'name', ``; ``_PAIR_OPEN``): a list of strings (a manifest's ``["google-auth", "numpy"]``)
# holds no pair.
_HEADER_NAME = LazyPattern(
    r"(?:(?<![^\s{(\[,'\"])|(?<=\\[nrt])|(?<=header=)|(?<=env=)|(?<=-arg=)|(?<=/:)(?=_))"
    r"([A-Za-z][\w-]*|_(?:authToken|auth|password)(?![\w-]))"
    r"(?:\\?['\"][ \t]*(?::|=(?!=)|(?P<pair>,)(?=[ \t]*b?\\?['\"]))|[ \t]*(?::|=(?!=)))[ \t]*"
)
_PAIR_OPEN = LazyPattern(r"\(b?\\?['\"]\Z")
# A name is a credential header's only when, besides ``_SECRET_HEADER``, its last word is a
# credential itself (token, secret, password, credentials, authorization, cookie, the key of an API,
# an access, a subscription, an auth, a licence..., a session id, npm's ``_auth``, also as its
# environment spells it, ``NPM_CONFIG__AUTH``) or it has a custom header's ``X-``
# (``X-Registry-Auth``, ``x-api-key``): mlenv's own messages put project names before a colon or an
# ``=``, bare or quoted (``google-auth: no version satisfies``, ``'flask-session': no wheel``,
# conda's ``ssh-key=1.0``), and a project's last word may be ``auth``, ``key`` or ``session`` as a
# header's may.
_CREDENTIAL_END = LazyPattern(
    r"x[-_][\w-]*|(?:[\w-]*_)?_auth|(?:[\w-]*[-_])?(?:pass|pin|pwd)"
    r"|[\w-]*?(?:token|secret|passw(?:or)?d|passphrase|passcode|credentials?|authorization|cookie"
    r"|(?:api|access|private|subscription|secret|signing|encryption|master|client|application"
    r"|auth|license|licence)"
    r"[-_]?key"
    r"|(?:basic|http|proxy|registry)[-_]?auth|sess(?:ion)?[-_]?id)",
    re.IGNORECASE,
)
# A name spelled as mlenv prints every project, its canonical name (lowercase words joined by
# single ``-``), is how HTTP/2 and httpx spell a header too; so spelled, a credential header is
# one of a few (``proxy-authorization``, ``private-token``, ``api-key``,
# ``ocp-apim-subscription-key``, ``dd-api-key``), every word of it a credential or HTTP word
# (``HEADER_WORDS``). A project's own word tells it apart: ``git-credentials``,
# ``azure-mgmt-authorization``, ``keyrings-google-artifactregistry-auth``, ``eks-token``
# (among PyPI's 15,000 most downloaded) name projects, whatever their last word. Every other
# spelling (``Azure-Mgmt-Authorization``, ``EKS_TOKEN``, ``git_credentials``, ``x-...``) is
# judged by ``_CREDENTIAL_END`` alone.
_PROJECT_SPELLING = LazyPattern(r"[a-z0-9]+(?:-[a-z0-9]+)+")
HEADER_WORDS = frozenset({
    "access", "amz", "api", "apikey", "apim", "app", "application", "auth", "authorization",
    "basic", "bearer", "circle", "client", "cookie", "credential", "credentials", "csrf", "dd",
    "deploy", "encryption", "goog", "http", "id", "identity", "job", "key", "licence", "license",
    "master", "oauth", "ocp", "passphrase", "passwd", "password", "personal", "private", "proxy",
    "refresh", "registry", "secret", "security", "sess", "sessid", "session", "sessionid", "set",
    "signing", "subscription", "token", "user", "xsrf",
})  # fmt: skip
# The value: a quoted one (``'...'``, ``"..."``, ``b'...'``, escaped ``\"...``) up to its
# closing quote, a backslash escaping the next character; any other to the end of its line,
# a real or an escaped one (a Digest or AWS4 value holds blanks and commas).
_HEADER_VALUE = LazyPattern(
    r"b?\\?'(?P<single>(?:\\.|[^\\'\r\n])*)|b?\\?\"(?P<double>(?:\\.|[^\\\"\r\n])*)"
    r"|(?P<bare>(?:[^\\\r\n]|\\(?![rn]))*)"
)
# A value on the line after its name (YAML's ``Authorization:`` then an indented value, or a
# block scalar's ``Authorization: |`` / ``>-`` then the value).
_NEXT_LINE = LazyPattern(r"\r?\n[ \t]+(?P<bare>[^\r\n]+)")
_SCALAR_HEAD = r"[|>][-+1-9]{0,2}[ \t]*"
_BLOCK_SCALAR = LazyPattern(_SCALAR_HEAD)
# A scheme alone on its line (``error: Authorization: Bearer`` then an indented line): the
# credential is that line, whether or not the header starts its own (``_folded``).
_SCHEME_ONLY = LazyPattern(r"(?:basic|bearer|token|digest|negotiate)[ \t]*", re.IGNORECASE)
# HTTP's obs-fold (RFC 9112, 5.2): a line break, raw or as a repr escapes it, then a blank
# goes on with the value (``Authorization: Bearer\r\n <token>``), as YAML's plain scalar goes on
# on a line indented deeper than its key.
_FOLD = LazyPattern(r"(?:\r?\n|\\r\\n|\\n)(?P<indent>[ \t]+)(?:[^\\\r\n]|\\(?![rn]))+")

_ENV_KEY = LazyPattern(r"[A-Z][A-Z0-9_]*_KEY")


def secret_headers(text: str) -> str:
    """``text`` with the value of every credential header (``_credential_header``) as
    ``***``: inside its quotes when quoted, else up to the end of its line."""
    pieces: list[str] = []
    done = 0
    for match in _HEADER_NAME.finditer(text):
        if match.start() < done:
            continue
        if not (_credential_header(match[1]) or _encoded_login(text, match)):
            continue
        if match["pair"] and not _PAIR_OPEN.search(text[max(0, match.start() - 4) : match.start()]):
            continue
        value = _HEADER_VALUE.match(text, match.end())
        assert value is not None  # the bare branch matches the empty string
        if value["bare"] == "" or _BLOCK_SCALAR.fullmatch(value["bare"] or "x"):
            value = _NEXT_LINE.match(text, value.end()) or value
        done = _hide(value, text, done, pieces)
        if value["bare"]:
            folded = _folded(text, match.start(), done)
            scheme_only = folded == done and _SCHEME_ONLY.fullmatch(value["bare"])
            after = _NEXT_LINE.match(text, done) if scheme_only else None
            done = folded if after is None else _hide(after, text, done, pieces)
    return "".join(pieces) + text[done:]


# Docker's and podman's ``"auth"`` (``~/.docker/config.json``, ``auth.json``): base64 of
# ``user:password``. The bare name is prose's word (``auth: required``), so the value judges it.
_ENCODED_LOGIN = LazyPattern(r"auth", re.IGNORECASE)
# the value whole: it ends at a quote, a blank, a separator or the end (``auth: Optional[...``
# is a type, not a login); on the next line, indented, after nothing or a YAML block scalar's
# ``|`` or ``>-`` (as ``secret_headers`` reads a value there)
_BASE64 = LazyPattern(
    rf"[ \t]*(?:(?:{_SCALAR_HEAD})?\r?\n[ \t]+)?"
    r"(?:b?\\?['\"])?([A-Za-z0-9+/]{8,}={0,2})(?=\\?['\"]|[\s,;}]|$)"
)


def _encoded_login(text: str, name: re.Match[str]) -> bool:
    """Whether ``name`` is an ``auth`` whose value decodes to a ``user:password``."""
    if not _ENCODED_LOGIN.fullmatch(name[1]):
        return False
    value = _BASE64.match(text, name.end())
    try:
        login = base64.b64decode(value[1], validate=True).decode() if value else ""
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, colon, password = login.partition(":")
    return bool(user and colon and password) and login.isprintable()


def _folded(text: str, name: int, end: int) -> int:
    """Where a bare value that ends at ``end`` ends with its folded lines (``_FOLD``): a line
    indented deeper than the header ``name`` that starts its line (after a line break, raw or
    escaped); a name inside a line (``error: Authorization: ...``) has no fold, the next
    line is the message's. Reads back at most 256 characters: linear."""
    before = text[max(0, name - 256) : name]
    head = before.rstrip(" \t")
    if not head.endswith(("\n", "\\n")) and (head or name > len(before)):
        return end
    indent = len(before) - len(head)
    fold = _FOLD.match(text, end)
    while fold is not None and len(fold["indent"]) > indent:
        end = fold.end()
        fold = _FOLD.match(text, end)
    return end


def credential_name(name: str) -> bool:
    """A name that carries a credential (``_SECRET_HEADER``, ``_CREDENTIAL_END``), or an
    environment variable's ``..._KEY`` (``KAGGLE_KEY``: uppercase, as no project is printed)."""
    if not _SECRET_HEADER.fullmatch(name):
        return False
    return bool(_CREDENTIAL_END.fullmatch(name) or _ENV_KEY.fullmatch(name))


def _credential_header(name: str) -> bool:
    """A header ``name`` that carries a credential (``credential_name``), unless spelled as a
    project's name with a word no such header holds (``HEADER_WORDS``)."""
    if not credential_name(name):
        return False
    if name.startswith("x-") or not _PROJECT_SPELLING.fullmatch(name):
        return True
    return HEADER_WORDS.issuperset(name.split("-"))
