"""The redactor's expressions as they were before pass 22 made them linear: the reference the
linear redactor is held to (quadratic on long hostile text, so only for short examples)."""

from __future__ import annotations

import re

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


def reference_redact(text: str) -> str:
    """``old_redact`` with today's additions: the reference after a scheme."""
    text = REF_RAW_PASSWORD.sub(r"\g<scheme>***@", text)
    text = OLD_USERINFO.sub(r"\g<scheme>***@", text)
    text = REF_SECRET_PARAM.sub(r"\g<key>***", text)
    text = OLD_PATH_TOKEN.sub(r"\g<head>***", text)
    return OLD_AUTH_VALUE.sub(r"\g<scheme>***", text)
