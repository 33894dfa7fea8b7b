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
