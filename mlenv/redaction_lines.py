"""The redactor's rules for a command line's or a config line's credential that no URL,
header or ``--option`` carries: curl's ``-u user:password``, a netrc ``password``, a short
``-p`` password, a token named by its prefix. ``mlenv.redaction`` applies them
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
_NETRC = LazyPattern(
    r"(?<![\w-])(?:machine[ \t]+\S+|default)(?:[ \t]+(?:login|account)[ \t]+\S+){0,2}"
    r"[ \t]+password[ \t]+(?P<bare>\S+)"
)
_NETRC_LINE = LazyPattern(
    r"^[ \t]*(?:machine|login|account|default)\b.*\n[ \t]*password[ \t]+(?P<bare>\S+)",
    re.MULTILINE,
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


# What a token's pieces may have between them: a control (a URL reader drops a tab, CR or LF,
# a shell or a terminal may drop the rest), raw or as a repr or JSON escapes it (``\\n``,
# ``\\x0a``, ``\\u000a``, a repr of one: ``\\\\n``). Between a prefix's characters, a raw
# control or ``\\t``, ``\\n``, ``\\r`` only: the escapes' groups spelled 40 times over made
# the pattern take ten times as long to compile, which every process that shows a line pays.
# A C1 control (``\x85``, ``\x9b``), a zero-width character and a terminal's colour sequence
# (``\x1b[31m``) join pieces too: a terminal shows the token whole across them. The
# zero-width characters are alternatives, not members of the control class: a class reaching
# past Latin-1 compiles to a 64k-entry table, and the glue is spelled about fifty times.
_ZERO_WIDTH = r"\u200b|\u200c|\u200d|\u2060|\ufeff"
_CONTROL = (
    rf"(?:\x1b\[[0-9;]*[A-Za-z]|[\x00-\x1f\x7f-\x9f]|{_ZERO_WIDTH}"
    r"|\\{1,2}(?:[tnr]|(?:x|u00)(?:[0189][0-9A-Fa-f]|7[Ff])))"
)
_IN_PREFIX = rf"(?:\x1b\[[0-9;]*[A-Za-z]|[\x00-\x1f\x7f-\x9f]|{_ZERO_WIDTH}|\\{{1,2}}[tnr])"


def _glued(chars: str) -> str:
    """One of ``chars``, or a run of controls (``_CONTROL``) before one: a token split by
    them is still one."""
    return rf"(?:{chars}|{_CONTROL}++(?={chars}))"


def _spelled(prefix: str) -> str:
    """``prefix``'s characters with controls allowed between them (``gh\\np_``,
    ``_IN_PREFIX``)."""
    return f"{_IN_PREFIX}*".join(re.findall(r"\[[^]]*\]|.", prefix))


_WORD_CHAR = _glued(r"[\w-]")
_ALNUM = _glued("[A-Za-z0-9]")
_ALNUM_UNDERSCORE = _glued("[A-Za-z0-9_]")
# Tokens whose prefix says what they are, bare or in a URL's path (``https://h/ghp_.../x``):
# GitHub's ``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_``/``github_pat_``, GitLab's ``glpat-``,
# Hugging Face's ``hf_``, PyPI's ``pypi-Ag...``, npm's ``npm_``, Slack's ``xox?-``: each long
# enough that no project or module (``hf_transfer``, ``npm_config``) is one. ``redact_urls``
# applies it to a lock's URLs, so a wheel's file name must never match. A token's random body
# mixes cases (a ``github_pat_`` or ``glpat-`` one has an upper-case letter among its first 30
# or 20) and a GitHub, Hugging Face or npm one has no ``_``; a project's long name is
# lower-case words joined by ``_`` (``github_pat_tools_for_enterprise_automation-1.0-...``; a
# wheel's tags are lower-case: ``glpat-1-cp311-cp311-manylinux_2_17_x86_64.whl``), and a
# CamelCase one (``hf_HubIntegrationToolsForAzureMLStudio-1.0-...``) runs up to a ``-`` and
# its version, where no token ends. A control inside a token or its prefix joins its pieces
# (``_glued``, ``_spelled``), as a URL reader drops a tab or line break
# (``https://h/x/ghp_Ab\ncD...``, ``gh\np_...``). A Slack token is numbers joined by ``-``,
# then 20 letters and digits or more (``xoxb-2024-py3-none-any.whl`` is a project's). Each
# prefix with a rule of its own names a group its body's rule is chosen by.
_PREFIXES = (
    rf"{_spelled('gh[pousr]_')}|(?P<github_pat>{_spelled('github_pat_')})"
    rf"|(?P<glpat>{_spelled('glpat-')})|{_spelled('hf_')}|{_spelled('npm_')}"
    rf"|(?P<pypi>{_spelled('pypi-')})|(?P<xox>{_spelled('xox[abposr]-')})"
)
_NOT_YOURS = "|(?!))"  # a conditional's other branch: this prefix's rule does not apply
KNOWN_TOKEN = LazyPattern(
    rf"(?<![A-Za-z0-9_])(?P<prefix>{_PREFIXES})"
    rf"(?:(?(pypi){_spelled('Ag')}{_WORD_CHAR}{{40,}}{_NOT_YOURS}"
    rf"|(?(glpat)(?={_WORD_CHAR}{{0,19}}[A-Z]){_WORD_CHAR}{{20,}}{_NOT_YOURS}"
    rf"|(?(xox)[0-9]+-{_WORD_CHAR}{{0,64}}?{_ALNUM}{{20}}{_WORD_CHAR}*{_NOT_YOURS}"
    rf"|(?(github_pat)(?={_ALNUM_UNDERSCORE}{{0,29}}[A-Z]){_ALNUM_UNDERSCORE}{{30,}}"
    rf"(?![A-Za-z0-9_]|-[0-9]){_NOT_YOURS}"
    rf"|(?=(?:[A-Z0-9]|{_CONTROL})*+[a-z])(?=(?:[a-z0-9]|{_CONTROL})*+[A-Z])"
    rf"{_ALNUM}{{30,}}(?![A-Za-z0-9]|-[0-9]))"
)


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
