"""The one redactor: every secret a URL (userinfo, also JSON-escaped or percent-encoded; secret
parameters; ``/t/<token>``), an HTTP header, a config key, a command line (``--password X``, a
short ``-p`` password, ``-u user:pw``), a netrc entry or a prefixed token (``ghp_``, ``hf_``)
can carry, hidden before text is shown (``redact``) or kept where its bytes matter
(``redact_urls``). docs/security.md, invariant 5."""

from __future__ import annotations

import re
from urllib.parse import unquote

from mlenv.lazy_pattern import LazyPattern
from mlenv.redaction_headers import credential_name, secret_headers
from mlenv.redaction_lines import hide as _hide
from mlenv.redaction_lines import hide_lines
from mlenv.redaction_tokens import hide_tokens
from mlenv.redaction_userinfo import ENCODED_USERINFO as _ENCODED_USERINFO
from mlenv.redaction_userinfo import GLUE, S_CONTROLS, WEB_SCHEME, WIDE_BLANK
from mlenv.redaction_userinfo import RAW_PASSWORD as _RAW_PASSWORD
from mlenv.redaction_userinfo import after_scheme as _after_scheme
from mlenv.redaction_userinfo import authority_tail as _authority_tail
from mlenv.redaction_userinfo import userinfo_matches as _userinfo_matches

# Query parameters that carry a secret: tokens, passwords, sessions, keys, and signed-URL
# signatures and credentials (S3 X-Amz-*, GCS X-Goog-*, Azure SAS sig, CloudFront
# Signature/Key-Pair-Id). A parameter's name is found first, then judged on its own, then its
# value is replaced. A name may be percent-encoded (``access%5Ftoken``): servers decode it, so
# it is judged decoded. A fragment holds parameters too (``#access_token=``), a path segment
# (``;jsessionid=``), and JSON's escaped ``\u0026`` (Go's encoder writes every '&' so) starts
# one. A name may be bracketed as PHP and Rails read arrays and nested keys (``token[]=``,
# ``user[password]=``, ``access_token%5B%5D=``): each of its segments is judged. Akamai's token
# joins its fields with ``~`` in one parameter of any name (``?hdnts=exp=1~acl=/*~hmac=S``).
_PARAM_NAME = LazyPattern(r"(?:[?&;#~]|\\{1,2}u0026)((?:[\w.%\[\]-]|" + GLUE + ")*)=")
_BRACKETS = LazyPattern(r"[\[\]]+")
_GLUE = LazyPattern(GLUE)
_PERCENT = LazyPattern(r"%([0-9A-Fa-f]{2})")
# The rule, by name (a word is what ``_``, ``.`` or ``-`` separate):
# - a name holding token, secret, password, passwd, signature, credential, or a session id
#   (``sessid``, ``sessionid``: ``jsessionid``, ``PHPSESSID``, ``ASPSESSIONID...``);
# - a name whose last words are ``session``, or ``session`` then id, key, token, secret,
#   cookie, state, data or hash (``session``, ``user_session``, ``sessionKey``; not
#   ``possession``, nor a count or a length: ``session_count``, ``sessions``);
# - a name whose last word is ``key``, ``apikey``, ``accesskey``, ``privatekey``, ``authkey``
#   or ``sas`` (``key``, ``api_key``, ``x-api-key``, ``access_key``, ``private_key``;
#   ``secret_key`` is a secret already); not ``keyword``, ``monkey`` or ``keys``;
# - a name holding passphrase or passcode, or whose last word is a password's short name:
#   ``pw``, ``pwd``, ``pass`` (``db_pass``; not ``bypass``), a ``pin`` bare or a credential
#   owner's (``user_pin``, ``card_pin``; not ``build_pin``, ``spin``), or a signed URL's, a
#   one-time login's or a CAS server's ``jwt``, ``otp``, ``hmac``, ``ticket``, ``bearer``,
#   Artifactory's ``X-JFrog-Art-Api`` (``?jwt=eyJ...``, ``?ticket=ST-...``);
# - ``token`` anywhere but in ``tokenizer``/``tokenise`` (a model's option), a count or a
#   limit of tokens (``max_tokens``, ``token_count``, ``tokens_per_batch``), an OAuth
#   ``token_type`` or a ``token_url``/``token_endpoint`` (``_TOKEN_WORD``): no credential;
# - the short names signed URLs and OAuth use: sig, auth, authorization, code, _state,
#   key-pair-id, policy (first: the most common names are judged soonest).
_TOKEN_WORD = (
    r"(?<!max|min|num)(?<!(?:max|min|num)[_.-])token"
    r"(?!s?(?:i[sz]e|[_.-]?(?:type|count|limit|endpoint|url|uri|per)(?![a-z0-9])))"
)
_SECRET_NAME = LazyPattern(
    r"sig|auth|authorization|code|_state|key-pair-id|policy"
    r"|[\w.-]*(?:" + _TOKEN_WORD + r"|secret|password|passwd|passphrase|passcode|signature"
    r"|credential|sess(?:ion)?id)[\w.-]*"
    r"|(?:[\w.-]*[_.-])?(?:session(?:[_.-]?(?:id|key|token|secret|cookie|state|data|hash))?"
    r"|(?:api|access|private|auth)?key|sas|pwd?|pass|jwt|otp|hmac|ticket|bearer|art[_.-]?api)"
    r"|(?:[\w.-]*[_.-])?(?:user|login|access|security|admin|account|card|sim|auth|device|app)"
    r"[_.-]?pin|pin",
    re.IGNORECASE,
)
# What a name judged by ``_SECRET_NAME`` may hold: no other character can be in a match, and
# a name holding one (a decoded ``%20``) made the ``[\w.-]*`` runs backtrack quadratically.
_NAME_CHARS = LazyPattern(r"[\w.-]+")
_PARAM_VALUE = LazyPattern(r"[\t\n\r]*[^&#;\s\"'<>]+(?:[\t\n\r]+[^&#;\s\"'<>]+)*")
# A parameter of a URL percent-encoded inside another's (``?next=https%3A%2F%2Fh%2Fx%3Ftoken%3DX``):
# its ``?&;#`` and ``=`` encoded, its value up to the next encoded ``&``, ``;`` or ``#``.
_ENCODED_PARAM = LazyPattern(r"%(?:3[Ff]|26|3[Bb]|23)([\w.\[\]-]+)%3[Dd]")
_ENCODED_VALUE = LazyPattern(r"(?:[^%&#;\s\"'<>]|%(?!26|3[Bb]|23)[0-9A-Fa-f]{2})+")
# anaconda.org channel tokens: https://conda.anaconda.org/t/<token>/channel, also after empty,
# ``.`` and ``..`` names, which a URL parser drops (``//t/<token>``, ``/./t/<token>``)
# (a tab or line break inside one or before it, which a URL reader drops, joins its pieces,
# as does any other ``\s`` control or a blank but the space (a NBSP), which it keeps encoded
# in the path; one space too where a piece after it runs up to the channel's '/'
# (``/t/ab cd/conda-forge``; prose after a token reaches no '/' so soon);
# ``https:/`` is ``https://`` to it, and is how a path spells the URL:
# ``MLENV_MANIFEST``'s error). A host is 300 characters at most: a longer run, which glue
# lets cross URLs, rescanned (quadratic).
_IN_SEGMENT = S_CONTROLS + WIDE_BLANK
_GLUED_SEGMENT = rf"[{_IN_SEGMENT}]*[^/\s]+(?:[{_IN_SEGMENT}]+[^/\s]+)*(?: [^/\s]++(?=/))?"
_PATH_TOKEN = LazyPattern(
    rf"(?P<head>(?::(?:{GLUE}*/){{2}}|{WEB_SCHEME}[/\\]+)(?:[^/\\\s]|{GLUE}){{1,300}}"
    rf"/(?:(?:\.|%2[Ee]){{0,2}}/)*{GLUE}*t{GLUE}*/){_GLUED_SEGMENT}"
)
_TOKEN_SEGMENT = LazyPattern(_GLUED_SEGMENT)
# HTTP authorization values that end up in a message or a traceback. A scheme is read without
# regard to case (RFC 9110, 11.1), but data whose bytes matter (``redact_urls``: a manifest's
# text, a location) hides only the spellings no prose uses, ``Basic`` and ``Bearer``, and only
# a value that looks like a credential: past its first character, before any '/', an
# upper-case letter, a digit, '+' or '=' (base64 and tokens mix them; a find-links directory
# ``Basic wheels`` or ``Bearer Tokens/linux`` is a path, kept whole). Text shown hides every
# value, and ``BASIC`` and ``bearer`` in any case too (lowercase ``basic`` is prose's word).
# A tab or a folded line (HTTP's obs-fold: CRLF, raw or escaped, then a blank) may stand
# between a scheme and a value shown that looks like a credential. Prose wraps at a LF
# (``Bearer`` then ``  NewConnectionError``): after a LF fold only a token's shape is one,
# 16 characters or more, a digit among them (``_LOOKS_TOKEN``). Django REST framework's
# ``Token`` scheme (``Token 9944b0...``, or ``TOKEN``) is prose's word too (``Token expired``):
# only a value of a token's shape is one. Lowercase ``token`` is prose's (``invalid token
# 3f...``) and GitHub's, as ``basic`` is: only a header's name hides its value.
_LOOKS_SECRET = r"(?=[A-Za-z0-9._~+=-][a-z._~-]*[A-Z0-9+=])"
_VALUE = r"[A-Za-z0-9._~+/=-]+"
_LOOKS_TOKEN = r"(?=[A-Za-z0-9._~+/=-]{16})(?=[A-Za-z._~+/=-]*+[0-9])"
_FOLDED = (
    r"(?:(?:[ \t]*(?:\r\n|\\r\\n))?[ \t]+"
    + _LOOKS_SECRET
    + r"|[ \t]*(?:\n|\\n)[ \t]+"
    + _LOOKS_SECRET
    + _LOOKS_TOKEN
    + ")"
)
_AUTH_VALUE = LazyPattern(r"(?P<scheme>\b(?:Basic|Bearer) +)" + _LOOKS_SECRET + _VALUE)
_AUTH_VALUE_SHOWN = LazyPattern(
    rf"(?P<scheme>\b(?:Basic|BASIC|(?i:bearer))(?: +|{_FOLDED})"
    rf"|\b(?:Token|TOKEN)(?: +|{_FOLDED}){_LOOKS_TOKEN}){_VALUE}"
)
# A command line's option that carries a credential (``--password=X``, ``--password:X``,
# ``--token X``, quoted or not, or the next item of an argv list; a Windows tool's
# ``/password:X``), its name judged by ``credential_name`` (``--password-stdin`` and
# ``--token-file`` carry none). A value after a blank is the option's unless it is the next
# option (``-...``).
_OPTION = LazyPattern(
    r"(?:(?<![\w-])--|(?<![^\s\"'])/(?=[A-Za-z][\w-]*:))([A-Za-z][\w-]*)"
    r"(?:[=:]|[ \t]+(?:\\\r?\n[ \t]*)?(?=[^\s-])|\\?['\"][ \t]*,[ \t]*b?(?=\\?['\"](?!-)))"
)
_OPTION_VALUE = LazyPattern(
    r"\\'(?P<esingle>[^'\r\n]*?)\\'|\\\"(?P<edouble>[^\"\r\n]*?)\\\""
    r"|'(?P<single>[^'\r\n]*)'|\"(?P<double>[^\"\r\n]*)\"|(?P<bare>[^\s'\"]+)"
)


def redact(text: str) -> str:
    """``text`` with every secret a URL or header can carry replaced by ``***``: what
    ``redact_urls`` hides, the values of credential headers and keys, of credential options,
    and the passwords ``redaction_lines.hide_lines`` finds. The one redactor of text shown:
    messages, logs, JSON events and tracebacks all pass here.

    Its guarantee for a URL's userinfo, wherever the URL stands (bare, quoted, in brackets or
    parentheses, after ``=``): in ``scheme://user:password@host`` (any scheme: ``socks5h``,
    ``git+https``, ``oci``; ``//`` where a URL starts; after ``http(s):`` any other run of
    slashes and backslashes, as WHATWG reads it) all from the ``//`` up to the ``@``
    before the host is ``***``, whatever the user is (empty, a token: ``ghp_...@``,
    ``__token__:pypi-...@``) and the password holds (empty; ``?``, ``#``, ``/``, ``@``, ``:``,
    ``%40``, blanks, any letter); the host (``[::1]`` too), port and path stay. The limits,
    shapes a URL parser reads otherwise or a text cannot tell from what follows: a password of
    a port's digits (five at most, 65535 at most) then a raw ``/``, ``?``, ``#`` or blank
    (``user:12/ss@host`` reads as the host ``user``, port 12, as ``host:8080/a@b`` must); one
    holding a line break or a ``://``; one
    with a raw ``/``, ``?``, ``#`` or a blank and a quote, ``<`` or ``>`` (a quoted URL's end); one
    whose ``@`` comes before a raw ``/``, ``?``, ``#`` or a blank (``host/x@y``'s ``@`` is a
    path's, ``u:p@host said a@b``'s a word's).
    A text known to be one URL has none: ``redact_one_url``."""
    text = _AUTH_VALUE_SHOWN.sub(r"\g<scheme>***", _url_secrets(text))
    return hide_lines(_secret_options(secret_headers(text)))


def redact_one_url(url: str) -> str:
    """``url``, a text that is one URL and nothing else (a proxy variable's value), as it may be
    shown: everything between its ``//`` (or its start) and its last ``@`` is userinfo, hidden
    whatever it holds; then ``redact`` (a secret parameter, a token in its path)."""
    if "@" not in url:
        return redact(url)
    head, _, host = url.rpartition("@")
    scheme = head[: head.index("//") + 2] if _SCHEME.match(head) else ""
    return redact(f"{scheme}***@{host}")


_SCHEME = LazyPattern(r"[A-Za-z][A-Za-z0-9+.-]*://")


def redact_urls(text: str) -> str:
    """``text`` with every secret a URL carries replaced by ``***``: userinfo, secret query
    parameters, anaconda.org ``/t/<token>`` paths, ``Basic``/``Bearer`` values and the tokens
    whose prefix names them (``redaction_tokens``: ``ghp_...``, ``hf_...``). For data
    that must stay what it is (a location counted in the inputs hash, the manifest a bundle
    carries): a credential header's value runs to the end of its line, which in a TOML file
    would cut a string (``"google-auth=2.0"``) and in a location would change its hash."""
    return _AUTH_VALUE.sub(r"\g<scheme>***", _url_secrets(text))


def _url_secrets(text: str) -> str:
    """``text`` with a URL's userinfo, secret parameters, ``/t/<token>`` paths and prefixed
    tokens hidden: ``redact_urls`` and ``redact`` without their ``Basic``/``Bearer`` rule."""
    text = _userinfo(text)
    text = _secret_params(text)
    text = _PATH_TOKEN.sub(r"\g<head>***", text)
    return hide_tokens(_WEB_PATH.sub(_resolved_token, text))


# A web URL's path, to find the token rattler sends where ``_PATH_TOKEN`` reads none as written
_WEB_PATH = LazyPattern(r"(?P<head>(?i:https?)://[^/\s'\"]{1,300})(?P<path>/[^\s'\"?#]*)")


def _resolved_token(url: re.Match[str]) -> str:
    """``url`` with every path name spelt as the token rattler sends hidden
    (``records.path_token``): ``/x/../t/X/chan`` and ``/%74/X/chan`` send ``X``."""
    from mlenv.conda.records import path_token

    names = url["path"].split("/")
    token = path_token(url["path"])
    before = names[1:token]
    if token is None or ("t" in before and ".." not in map(unquote, before)):
        return url[0]  # a ``/t/X`` as written: ``_PATH_TOKEN`` read it
    return url["head"] + "/".join([*names[:token], "***", *names[token + 1 :]])


def _secret_options(text: str) -> str:
    """``text`` with the value of every command-line option named as a credential header is
    (``_OPTION``) as ``***``. No project is spelled ``--name``: a lowercase option is judged as
    any other spelling (``--github-token``, ``--db-password``), but a negated flag
    (``--no-token``) takes no value."""
    pieces: list[str] = []
    done = 0
    for match in _OPTION.finditer(text):
        name = match[1]
        if match.start() < done or _NEGATED.match(name) or not credential_name(name):
            continue
        value = _OPTION_VALUE.match(text, match.end())
        if value is not None:
            done = _hide(value, text, done, pieces)
    return "".join(pieces) + text[done:]


_NEGATED = LazyPattern(r"no[-_]", re.IGNORECASE)
_OPTION_NAME = LazyPattern(r"--([A-Za-z][\w-]*)")


def _userinfo(text: str) -> str:
    """``text`` with every ``://userinfo@`` as ``://***@``. Where no scheme stands before the
    ``://`` (``é://a&token=S@CRET``) and the userinfo's last ``&`` or ``;`` starts a secret
    parameter whose value runs on past the ``@``, the rest of that value is hidden too: the
    scheme's redactor read a parameter there, not userinfo, and hid all of its value. After a
    scheme the host stays (an index URL's host is part of the inputs hash), unless a raw
    password ends in an anaconda.org ``/t/<token>`` segment (``https://u:p/t/S@CRET``): the
    rest of that segment is hidden too, as ``_PATH_TOKEN`` read it before userinfo took its
    start."""
    pieces: list[str] = []
    done = 0
    for match in _userinfo_matches(text):
        if match.start() < done:  # inside a value hidden already
            continue
        at = "***%40" if match.re is _ENCODED_USERINFO.compiled else "***@"
        pieces += (text[done : match.end("separator")], at)
        done = match.end()
        if (
            match.re is _RAW_PASSWORD.compiled
        ):  # its password held no '@': the authority's last one ends it
            done = _authority_tail(text, done)
        values = []  # a secret the userinfo holds the start of
        last = max(text.rfind("&", match.start(), done), text.rfind(";", match.start(), done))
        name = _PARAM_NAME.match(text, last) if last >= 0 else None
        if name is not None and _secret_name(name[1]) and not _after_scheme(text, match):
            values.append(_PARAM_VALUE.match(text, name.end()))
        token = text.rfind("/t/", match.start(), done)
        if token >= 0 and "/" not in text[token + 3 : done]:
            values.append(_TOKEN_SEGMENT.match(text, token + 3))
        end = max((value.end() for value in values if value is not None), default=done)
        if end > done:
            pieces.append("***")
            done = end
    return "".join(pieces) + text[done:]


def _secret_name(name: str) -> bool:
    """A parameter name that carries a secret, judged as the server reads it (decoded). A name
    spelled as a command-line option (``?--pin=``, ``&--x-api=``) is judged as that option is
    (``_secret_options``): ``redact_urls`` and ``redact`` hide the same parameters."""
    name = _GLUE.sub("", name)  # a URL reader drops them: ``to\nken`` is ``token`` to it
    decoded = "%" in name
    if decoded:
        name = _PERCENT.sub(lambda escape: chr(int(escape[1], 16)), name)
    option = _OPTION_NAME.fullmatch(name)
    if option is not None and not _NEGATED.match(option[1]) and credential_name(option[1]):
        return True
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


def _secret_params(text: str) -> str:
    """``text`` with the value of every secret query parameter replaced by ``***``; a value
    runs to the next ``&``, ``#``, ``;``, blank or quote, so a ``?`` inside it is value. Then
    the same for an encoded parameter (``_ENCODED_PARAM``)."""
    for name, value in ((_PARAM_NAME, _PARAM_VALUE), (_ENCODED_PARAM, _ENCODED_VALUE)):
        text = _hide_params(text, name, value)
    return text


def _hide_params(text: str, names: LazyPattern, values: LazyPattern) -> str:
    """``text`` with the value (``values``) after every secret name (``names``) as ``***``."""
    pieces: list[str] = []
    done = 0
    for match in names.finditer(text):
        if match.start() < done or not _secret_name(match[1]):
            continue
        value = values.match(text, match.end())
        if value is not None:
            pieces += (text[done : match.end()], "***")
            done = value.end()
    return "".join(pieces) + text[done:]
