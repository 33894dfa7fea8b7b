"""The redactor's expressions as they were before pass 22 made them linear: the reference the
linear redactor is held to (quadratic on long hostile text, so only for short examples)."""

from __future__ import annotations

import re

from mlenv.redaction_headers import HEADER_WORDS as _HEADER_WORDS

OLD_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s]*@")
OLD_SECRET_PARAM = re.compile(
    r"(?P<key>[?&;](?:[\w.-]*(?:token|secret|password|passwd|signature|credential)[\w.-]*"
    r"|sig|key|auth|authorization|api[_-]?key|code|_state|key-pair-id|policy)=)[^&#;\s\"'<>]+",
    re.IGNORECASE,
)
OLD_PATH_TOKEN = re.compile(r"(?P<head>://[^/\s]+/t/)[^/\s]+")
OLD_AUTH_VALUE = re.compile(r"(?P<scheme>\b(?:Basic|Bearer) +)[A-Za-z0-9._~+/=-]+")


def old_redact(text: str) -> str:
    text = OLD_USERINFO.sub(r"\g<scheme>***@", text)
    text = OLD_SECRET_PARAM.sub(r"\g<key>***", text)
    text = OLD_PATH_TOKEN.sub(r"\g<head>***", text)
    return OLD_AUTH_VALUE.sub(r"\g<scheme>***", text)


# What passes 26 and 27 added, in the same plain style: a fragment's parameters, and a
# password typed with a raw '/', '?' or '#' (the longer userinfo wins at one "://").
REF_SECRET_PARAM = re.compile(
    OLD_SECRET_PARAM.pattern.replace("[?&;]", "[?&;#]", 1), OLD_SECRET_PARAM.flags
)
REF_RAW_PASSWORD = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s@:\[]*:(?![0-9]*(?:[/?#\s]|$))"
    r"(?:[^\s@:\"'<>]|:(?!//)){0,256}@"
)


# What pass 28 added, a strict superset of the old: more secret parameter names (every old
# name is still one: ``key``, ``api_key``, ``api-key`` and ``apikey`` end in a key word), and
# the value of a credential header under any scheme (the old hid only Basic/Bearer values,
# which the header rule hides again, whole). The header's value is hidden only when it is
# not empty, hence the function.
REF_SECRET_PARAM_28 = re.compile(
    r"(?P<key>[?&;#](?:[\w.-]*(?:token|secret|password|passwd|signature|credential"
    r"|sess(?:ion)?id)[\w.-]*|(?:[\w.-]*[_.-])?(?:session[\w.-]*|(?:api|access|private)?key|sas)"
    r"|sig|auth|authorization|code|_state|key-pair-id|policy)=)[^&#;\s\"'<>]+",
    re.IGNORECASE,
)
# Pass 32: a letter glued before token, secret or cookie counts only after a separator
# (``tiktoken`` is a project), ``==`` is no assignment, and a pair's name opens a tuple.
# Pass 40 adds ``api`` after a separator (``X-JFrog-Art-Api``) and a name after ``--header=``.
REF_SECRET_HEADER = (
    r"(?i:(?:[\w-]*[-_])?"
    r"(?:[a-z0-9]*(?:authorization|passw(?:or)?d|passphrase|passcode|credentials?)"
    r"|(?:api|access|private)key|cookie|(?:access|refresh|id|identity|registry|auth|api"
    r"|session|security|bearer|csrf|xsrf|oauth|client|app)?(?:token|secret)|pass|pin)"
    r"|[\w-]*[-_](?:[a-z0-9]*(?:token|secret|cookie)|key|auth|api|pwd|session(?:[-_]?id)?))"
)
REF_HEADER = re.compile(
    r"(?P<head>(?:(?<![^\s{(\[,'\"])|(?<=\\[nrt])|(?<=header=)|(?<=env=)|(?<=-arg=))"
    r"(?=[A-Za-z])(?P<name>"
    r"(?:(?P<opened>(?<=\(')|(?<=\(\")|(?<=\(b')|(?<=\(b\")|(?<=\(\\')|(?<=\(\\\")"
    r"|(?<=\(b\\')|(?<=\(b\\\"))|)" + REF_SECRET_HEADER + r")(?![\w-])"
    r"(?:\\?['\"][ \t]*(?::|=(?!=)|(?(opened),|(?!))(?=[ \t]*b?\\?['\"]))"
    r"|[ \t]*(?::|=(?!=)))[ \t]*"
    r"(?:b?\\?(?P<quote>['\"]))?)"
    r"(?P<value>(?(quote)(?:\\.|(?!(?P=quote))[^\\\r\n])*|(?:[^\\\r\n]|\\(?![rn]))*))"
)


def reference_redact(text: str) -> str:
    """``old_redact`` with today's additions: the reference after a scheme."""
    text = re.sub(OLD_SCHEME + REF_RAW_TOKEN_TAIL, r"\g<scheme>***@***", text)
    text = REF_RAW_PASSWORD.sub(r"\g<scheme>***@", text)
    text = OLD_USERINFO.sub(r"\g<scheme>***@", text)
    for separator in REF_SEPARATORS_40:
        text = re.sub(separator + REF_RAW_TOKEN_TAIL, r"\g<scheme>***@***", text)
        text = re.sub(separator + REF_RAW_PASSWORD_TAIL, r"\g<scheme>***@", text)
        text = re.sub(separator + r"[^/?#\s]*@", r"\g<scheme>***@", text)
    text = REF_ENCODED_USERINFO.sub(r"\g<scheme>***%40", text)
    text = REF_SECRET_PARAM_40.sub(r"\g<key>***", text)
    text = REF_ENCODED_PARAM.sub(
        lambda m: m["key"] + "***" if REF_SECRET_PARAM_40.fullmatch(f"?{m['name']}=x") else m[0],
        text,
    )
    text = OLD_PATH_TOKEN.sub(r"\g<head>***", text)
    text = REF_KNOWN_TOKEN.sub(
        lambda m: (m["prefix"] or m["r"] or m["g"] or m["p"] or m["x"]) + "***", text
    )
    text = REF_AUTH_VALUE_40.sub(r"\g<scheme>***", text)
    text = REF_USER_OPTION.sub(r"\g<head>***", _ref_options(_ref_headers(text)))
    text = REF_NETRC.sub(lambda m: (m["head"] or m["line"]) + "***", text)
    return _ref_short_passwords(text)


# Pass 43: a URL percent-encoded whole, a known token's prefix, a netrc entry's password, and a
# short ``-p`` on a credential-bearing command's line (read line by line, plainly).
REF_ENCODED_USERINFO = re.compile(
    r"(?P<scheme>%3[Aa]%2[Ff]%2[Ff])(?:(?!%(?:2[Ff]|3[Ff]|23|40))(?:%[0-9A-Fa-f]{2}|[^%/?#\s@]))*%40"
)
REF_ENCODED_PARAM = re.compile(
    r"(?P<key>%(?:3F|3f|26|3B|3b|23)(?P<name>[\w.\[\]-]+)%(?:3D|3d))"
    r"(?:(?!%(?:26|3B|3b|23))(?:%[0-9A-Fa-f]{2}|[^%&#;\s\"'<>]))+"
)
REF_KNOWN_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_])(?:(?P<prefix>github_pat_)(?=[A-Za-z0-9_]{0,29}[A-Z])[A-Za-z0-9_]{30,}"
    r"(?![A-Za-z0-9_]|-\d)"
    r"|(?P<r>(?:ghp|gho|ghu|ghs|ghr|hf|npm)_)(?=[a-z0-9]*[A-Z])(?=[A-Z0-9]*[a-z])[A-Za-z0-9]{30,}"
    r"(?![A-Za-z0-9]|-\d)"
    r"|(?P<g>glpat-)(?=[\w-]{0,19}[A-Z])[\w-]{20,}|(?P<p>pypi-)Ag[\w-]{40,}"
    r"|(?P<x>xox[abposr]-)\d+-[\w-]{0,64}?[A-Za-z0-9]{20}[\w-]*)"
)
REF_NETRC = re.compile(
    r"(?P<head>(?<![\w-])(?:machine[ \t]+\S+|default)(?:[ \t]+(?:login|account)[ \t]+\S+){0,2}"
    r"[ \t]+password[ \t]+)\S+"
    r"|(?m:(?P<line>^[ \t]*(?:machine|login|account|default)\b.*\n[ \t]*password[ \t]+)\S+)"
)
REF_SHORT_P = re.compile(
    r"(?P<head>(?<![\w-])-p(?:[ \t]+|=|\\?['\"][ \t]*,[ \t]*b?\\?['\"])?)"
    r"(?:(?<!'-p)(?<!\"-p)(?P<q>['\"])(?P<quoted>[^\r\n]*?)(?P=q)|(?P<value>[^\s'\"\\-][^\s'\"\\]*))"
)
REF_COMMAND = re.compile(
    r"(?<![\w-])(?:-u|--user(?:name)?(?![\w-]))|(?i:\b(?:mysql\w*|mariadb\w*|twine|sshpass|login)\b)"
)


def _ref_short_passwords(text: str) -> str:
    def line_of(line: str) -> str:
        def one(match: re.Match[str]) -> str:
            cued = REF_COMMAND.search(line[: match.start()]) is not None
            value = match["value"] if match["q"] is None else match["quoted"]
            port = re.fullmatch(r"[0-9.:\[\]-]+(?:/(?:tcp|udp|sctp))?", value)
            if not cued or port or not value:
                return match[0]
            quote = match["q"] or ""
            return match["head"] + quote + "***" + quote

        return REF_SHORT_P.sub(one, line)

    return "\n".join(line_of(line) for line in text.split("\n"))


# Pass 40: JSON's escaped ``:\/\/`` after a scheme, and a scheme-relative ``//`` where a URL
# starts, carry userinfo too (a raw password as well); more parameter names are a password's
# (passphrase anywhere, ``pw``, ``pwd``, ``pass`` as the last word); an authorization scheme in
# any case but prose's ``basic``; a header's value on the next line; a command line's option
# named as a credential header hides its value.
# Pass 43 (in place): a double-escaped ``:\\/\\/`` and a percent-encoded ``:%2F%2F`` after a scheme,
# and a scheme-relative ``//`` after a shell's ``|`` or ``;``.
REF_SEPARATORS_40 = (
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*(?::(?!//)|%3A|%3a)(?:/|\\/|\\\\/|%2F|%2f){2})",
    r"(?P<scheme>(?<![^\s\"'`({\[<=,|;])//)",
)
REF_RAW_PASSWORD_TAIL = r"[^/?#\s@:\[]*:(?![0-9]*(?:[/?#\s]|$))(?:[^\s@:\"'<>]|:(?!//|\\/)){0,256}@"
# Pass 51 (in place): ``session`` only bare or before a credential word (``session_count`` is
# none), ``pin`` only bare or a credential owner's (``build_pin`` is none), no ``tokenizer``,
# ``max_tokens``, ``token_count``, ``token_type`` or ``token_url``;
# ``ticket``, ``bearer``, ``authkey`` and ``X-JFrog-Art-Api`` are credentials.
REF_SECRET_PARAM_40 = re.compile(
    r"(?P<key>[?&;#](?:[\w.-]*(?:(?<!max_)(?<!max-)(?<!max\.)(?<!max)(?<!min_)(?<!min-)"
    r"(?<!min\.)(?<!min)(?<!num_)(?<!num-)(?<!num\.)(?<!num)token(?!s?(?:ize|ise"
    r"|(?:_|-|\.|)(?:type|count|limit|endpoint|url|uri|per)(?![a-z0-9])))"
    r"|secret|password|passwd|passphrase|passcode"
    r"|signature|credential|sess(?:ion)?id)[\w.-]*|(?:[\w.-]*[_.-])?(?:session"
    r"(?:id|key|token|secret|cookie|state|data|hash|[_.-](?:id|key|token|secret|cookie|state"
    r"|data|hash))?|(?:api|access|private|auth)?key|sas|pw|pwd|pass|jwt|otp|hmac|ticket|bearer"
    r"|art-api|art_api|art\.api|artapi)|(?:[\w.-]*[_.-])?(?:user|login|access|security|admin"
    r"|account|card|sim|auth|device|app)(?:[_.-])?pin|pin"
    r"|sig|auth|authorization|code|_state|key-pair-id|policy)=)"
    r"[^&#;\s\"'<>]+",
    re.IGNORECASE,
)
REF_AUTH_VALUE_40 = re.compile(
    r"(?P<scheme>\b(?:Basic|BASIC|Bearer|BEARER|bearer) +)[A-Za-z0-9._~+/=-]+"
)
# Pass 43: a raw password that ends in an anaconda.org ``/t/<token>`` segment (the last '/'
# before its '@' that of ``/t/``) hides the rest of that segment too, as ``OLD_PATH_TOKEN``
# read it, after a scheme as well: the old redactor hid ``Q`` in ``https://:&/t/@Q``.
OLD_SCHEME = r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)"
REF_RAW_TOKEN_TAIL = (
    r"[^/?#\s@:\[]*:(?![0-9]*(?:[/?#\s]|$))(?:[^\s@:\"'<>]|:(?!//|\\/)){0,253}"
    r"/t/(?:[^\s@:\"'<>/]|:(?!//|\\/))*@[^/\s]*"
)
REF_USER_OPTION = re.compile(
    r"(?P<head>(?<![\w-])(?:-[uU]|--(?:proxy-)?user)(?:=|[ \t]+)?['\"]?[^\s:'\"]*:(?!//))"
    r"[^\s'\"]+"
)
REF_NEXT_LINE = re.compile(r"\r?\n[ \t]+(?P<value>[^\r\n]+)")
# Pass 41: a YAML block scalar's ``|`` or ``>-`` puts the value on the next line too.
REF_BLOCK_SCALAR = re.compile(r"[|>][-+1-9]{0,2}[ \t]*")
REF_OPTION = re.compile(
    r"(?P<head>(?:(?<![\w-])--|(?<![^\s'\"])/(?=[A-Za-z][\w-]*:))(?P<name>[A-Za-z][\w-]*)"
    r"(?:=|:|[ \t]+\\\r?\n[ \t]*(?=[^\s-])"
    r"|[ \t]+(?=[^\s-])|\\?['\"][ \t]*,[ \t]*b?(?=\\?['\"](?!-)))"
    r"(?P<esc>\\(?=['\"]))?(?P<quote>['\"])?)"
    r"(?P<value>(?(esc)[^'\"\r\n]*?(?=\\(?P=quote))|(?(quote)[^'\"\r\n]*(?=(?P=quote))|[^\s'\"]+)))"
)


def _ref_options(text: str) -> str:
    pieces: list[str] = []
    position = 0
    for match in REF_OPTION.finditer(text):
        name = match["name"]
        end = REF_CREDENTIAL_END.fullmatch(name) or re.fullmatch(r"[A-Z][A-Z0-9_]*_KEY", name)
        if not (re.fullmatch(REF_SECRET_HEADER, name) and end):
            continue
        if re.match(r"(?i)no[-_]", name):
            continue
        pieces += (text[position : match.end("head")], "***" if match["value"] else "")
        position = match.end()
    return "".join(pieces) + text[position:]


# Pass 33: a name is a header's only when its last word is a credential itself or it has a
# custom header's ``X-``, bare or quoted; a project's ``google-auth`` is not.
REF_CREDENTIAL_END = re.compile(
    r"(?i:x[-_][\w-]*|pass|pin|pwd|[\w-]*[-_](?:pass|pin|pwd)|[\w-]*passcode"
    r"|[\w-]*(?:token|secret|password|passwd|passphrase|credential|credentials"
    r"|authorization|cookie|(?:api|access|private|subscription|secret|signing|encryption|master"
    r"|client|application|auth|license|licence)(?:key|-key|_key)|(?:basic|http|proxy|registry)(?:auth|-auth|_auth)"
    r"|sessionid|session-id|session_id|sessid|sess-id|sess_id))"
)


# Pass 34: a name spelled as a canonical project name (lowercase words joined by '-', no
# ``x-``) is a header's only when every word is a credential or HTTP word: the rule's word list
# is data, shared with the redactor; ``git-credentials`` and ``eks-token`` are projects.
REF_PROJECT_SPELLING = re.compile(r"(?!x-)[a-z0-9]+(?:-[a-z0-9]+)+")


def _ref_header_name(name: str) -> bool:
    if REF_PROJECT_SPELLING.fullmatch(name) and not _HEADER_WORDS.issuperset(name.split("-")):
        return False
    if re.fullmatch(r"[A-Z][A-Z0-9_]*_KEY", name):  # pass 43: an environment variable's key
        return True
    return REF_CREDENTIAL_END.fullmatch(name) is not None


def _ref_headers(text: str) -> str:
    """``REF_HEADER``'s matches replaced in turn; a name ``_ref_header_name`` refuses is
    passed over after its separator, so a header in the text after it is still found."""
    pieces, position = [], 0
    while (match := REF_HEADER.search(text, position)) is not None:
        if not _ref_header_name(match["name"]):
            pieces.append(text[position : match.end("head")])
            position = match.end("head")
            continue
        value = match["value"]
        if (not value or REF_BLOCK_SCALAR.fullmatch(value)) and match["quote"] is None:
            below = REF_NEXT_LINE.match(text, match.end())
            if below is not None:
                pieces += (text[position : below.start("value")], "***")
                position = below.end()
                continue
        pieces += (text[position : match.start()], match["head"], "***" if value else "")
        position = match.end()
    return "".join(pieces) + text[position:]
