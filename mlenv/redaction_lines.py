"""The redactor's rules for a command line's or a config line's credential that no URL,
header or ``--option`` carries: curl's ``-u user:password``, a netrc ``password``, a short
``-p`` password. ``mlenv.redaction`` applies them
(docs/security.md, invariant 5)."""

from __future__ import annotations

import re

from mlenv.lazy_pattern import LazyPattern

# curl's ``-u user:password`` (``--user``, ``--proxy-user``, ``-U``; glued ``-uuser:pw`` too):
# the password after the first ':' of the value (``pip install -U numpy`` holds none, and
# ``-U https://host/x.whl`` is a URL's ``://``).
_USER_OPTION = LazyPattern(
    r"(?<![\w-])(?:-[uU]|--(?:proxy-)?user)(?:=|[ \t]+)?['\"]?[^\s:'\"]*:(?!//)(?P<bare>[^\s'\"]+)"
)
# A ``.netrc`` entry: ``machine h login u password X`` (or ``default ...``) on one line, or
# ``password X`` on a line after one that starts with a netrc token (netrc's one-token-a-line
# spelling); lowercase, as netrc spells it. Prose's ``login failed: password rejected`` is none.
# A value may be quoted, blanks and ``\"`` inside (curl 7.84 and Python's netrc read
# ``password "a b"``): read bare, ``"a`` was the password and ``b"`` showed.
_QUOTED = r'(?:[^"\\\n]|\\.)*+'
_NETRC_VALUE = rf'"{_QUOTED}"|\S+'
_NETRC_PASSWORD = rf'password[ \t]+(?:"(?P<double>{_QUOTED})"|(?P<bare>\S+))'
_NETRC = LazyPattern(
    rf"(?<![\w-])(?:machine[ \t]+(?:{_NETRC_VALUE})|default)"
    rf"(?:[ \t]+(?:login|account)[ \t]+(?:{_NETRC_VALUE})){{0,2}}[ \t]+{_NETRC_PASSWORD}"
)
_NETRC_LINE = LazyPattern(
    rf"^[ \t]*(?:machine|login|account|default)\b.*\n[ \t]*{_NETRC_PASSWORD}", re.MULTILINE
)
# A short ``-p`` that is a password (``mysql -pX``, ``-p'X'``, ``docker login -u u -p X``,
# ``twine upload -u __token__ -p X``, ``sshpass -p X``, an argv's ``'-p', 'X'``; a quote right
# after a quoted ``'-p'`` closes it): hidden only on a line where a credential-bearing command
# comes first, a user option (``-u``, ``--user``, ``--username``) or a command that takes a
# password so (mysql, mariadb, twine, sshpass, ``login``, any case); ``-p 8080`` elsewhere is a
# port, a path or a prefix. A value spelled as a port mapping (``-p 8080:80``,
# ``-p 127.0.0.1:80:80/tcp``) stays shown on any line: a known limit, a password of digits only
# after ``-p`` on such a line is shown. psql's ``-U user -p 5432`` is a port (``-U`` is no cue).
_SHORT_PASSWORD = LazyPattern(
    r"(?<![\w-])-p(?:[ \t]+|=|\\?['\"][ \t]*,[ \t]*b?\\?['\"])?"
    r"(?:(?<!['\"]-p)(?:'(?P<single>[^'\r\n]*)'|\"(?P<double>[^\"\r\n]*)\")"
    r"|(?P<bare>[^\s'\"\\-][^\s'\"\\]*))"
)
_PASSWORD_COMMAND = LazyPattern(
    r"(?<![\w-])(?:-u|--user(?:name)?(?![\w-]))|(?i:\b(?:mysql\w*|mariadb\w*|twine|sshpass|login)\b)"
)
_PORTS = LazyPattern(r"[0-9.:\[\]-]+(?:/(?:tcp|udp|sctp))?")


def hide_lines(text: str) -> str:
    """``text`` with every password after ``-u user:``, in a netrc line and after a
    credential-bearing command's ``-p`` as ``***``."""
    for pattern in (_USER_OPTION, _NETRC, _NETRC_LINE):
        text = _hide_all(pattern, text)
    return _short_passwords(text)


def _hide_all(pattern: LazyPattern, text: str) -> str:
    """``text`` with the ``bare`` group of every match of ``pattern`` as ``***``: a password
    after ``-u user:`` (``_USER_OPTION``) or a netrc ``password`` (``_NETRC``, ``_NETRC_LINE``)."""
    pieces: list[str] = []
    done = 0
    for match in pattern.finditer(text):
        done = hide(match, text, done, pieces)
    return "".join(pieces) + text[done:]


def _short_passwords(text: str) -> str:
    """``text`` with the value of every ``-p`` (``_SHORT_PASSWORD``) as ``***`` where its line
    is a credential-bearing command's (``_PASSWORD_COMMAND`` before it) and the value is no
    port mapping (``_PORTS``). Each line is searched once for its first command: linear."""
    pieces: list[str] = []
    done, line_end, command = 0, -1, -1
    for match in _SHORT_PASSWORD.finditer(text):
        if match.start() > line_end:  # the first on its line: read where the line starts and ends
            start = text.rfind("\n", 0, match.start()) + 1
            end = text.find("\n", match.start())
            line_end = len(text) if end < 0 else end
            found = _PASSWORD_COMMAND.search(text, start, line_end)
            command = -1 if found is None else found.start()
        value = match["bare"] or match["single"] or match["double"] or ""
        if 0 <= command < match.start() and not _PORTS.fullmatch(value):
            done = hide(match, text, done, pieces)
    return "".join(pieces) + text[done:]


def hide(value: re.Match[str], text: str, done: int, pieces: list[str]) -> int:
    """Appends to ``pieces`` the text from ``done`` to ``value``'s content, then ``***`` for a
    content that is not empty; returns where the text shown goes on."""
    found = value.groupdict()
    names = ("single", "double", "bare", "esingle", "edouble")
    group = next(name for name in names if found.get(name) is not None)
    if value.end(group) == value.start(group):
        return done
    pieces += (text[done : value.start(group)], "***")
    return value.end(group)
