"""The redactor's rule for a token whose prefix names it (``ghp_``, ``hf_``, ``pypi-Ag``), also
split by glue a terminal, a URL reader or an escape hides (``redaction.redact`` applies it;
docs/security.md, invariant 5)."""

from __future__ import annotations

import re

from mlenv.lazy_pattern import LazyPattern

# What a token's pieces may have between them, as one run: a control (a URL reader drops a
# tab, CR or LF, a shell or a terminal may drop the rest), raw, as a repr or JSON escapes it
# (``\\n``, ``\\x0a``, ``\\u000a``, ``\\u200b``, a repr of one: ``\\\\n``) or as a URL encodes
# it (``%0A``, ``%C2%A0``, ``%E2%80%8B``), a NBSP, a soft hyphen, a zero-width, joining or
# direction mark, a variation selector, a Hangul filler, and a terminal's escape sequence: any
# CSI (``\x1b[31m``, ``\x1b[38:5:196m``, ``\x1b[?25l``, C1's ``\x9b31m``, JSON's
# ``\\u001b[31m``, a shell's ``\\033[0m``), an OSC 8 hyperlink's (``\x1b]8;;url\x1b\\``) or a
# charset's (``tput sgr0``'s ``\x1b(B``). A terminal shows the token whole across each. The
# characters past Latin-1 are alternatives: a class reaching past it compiles to a 64k-entry
# table.
_SEQUENCE = (
    r"\x1b\[[0-?]*+[ -/]*+[@-~]|\x9b[0-?]++[ -/]*+[@-~]"
    r"|\x1b\][^\x00-\x1f]{0,512}+(?:\x07|\x1b\\)|\x1b[()*+][ -~]"
)
_MARKS = (
    r"\u034f|\u180e|\u200b|\u200c|\u200d|\u200e|\u200f|\u202a|\u202b|\u202c|\u202d|\u202e"
    r"|\u2060|\u2061|\u2062|\u2063|\u2064|\u2066|\u2067|\u2068|\u2069|\ufeff|\ufe0e|\ufe0f"
    r"|\u115f|\u1160|\u3164|\uffa0"
)
_ENCODED = (
    r"%(?:[01][0-9A-Fa-f]|7[Ff]|C2%(?:[89][0-9A-Fa-f]|A[0Dd])|E2%80%8[B-Fb-f]|E2%81%A0|EF%BB%BF)"
    r"|\\{1,2}(?:(?:x1[bB]|u001[bB]|033|e)\[[0-?]*+[ -/]*+[@-~]|[tnr]"
    r"|(?:x|u00)(?:[0189][0-9A-Fa-f]|7[Ff]|[aA][0dD])|u200[b-fB-F]|u2060|u[fF][eE][fF][fF])"
)
GLUE = LazyPattern(
    rf"(?:{_SEQUENCE}|[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\xa0\xad]|{_MARKS}|{_ENCODED})++"
)
# Each run of glue is read as one NUL before the tokens are looked for, so their pattern
# spells the glue as a class of four (``_JOINTS``: a NUL, a tab and the line breaks, which it
# reads itself: most texts hold only those, and need no joining). Spelled in full fifty times
# over, glue took the pattern from 4 ms to 10 ms to compile, which every lock pays.
_JOINT = "\x00"
_JOINTS = r"[\x00\t\n\r]"
# A character glue may start with: none but a text's plain ASCII, its tabs and line breaks,
# is. A text without one (most) is not joined: the glue's alternatives, tried at every
# character, took twice the token pattern's time.
_MAY_GLUE = LazyPattern(r"[^\x00\t\n\r -$&-\[\]-~]")


def _glued(chars: str) -> str:
    """One of ``chars``, or joints before one: a token split by glue is still one."""
    return rf"(?:{chars}|{_JOINTS}++(?={chars}))"


def _spelled(prefix: str) -> str:
    """``prefix``'s characters with joints allowed between them (``gh\\np_``)."""
    return f"{_JOINTS}*".join(re.findall(r"\[[^]]*\]|.", prefix))


_WORD_CHAR = _glued(r"[\w-]")
_DIGIT = _glued("[0-9]")
_DASH = _glued("-")
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
# its version, where no token ends. Glue inside a token or its prefix joins its pieces
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
    rf"|(?(xox){_DIGIT}+{_DASH}{_WORD_CHAR}{{0,64}}?{_ALNUM}{{20}}{_WORD_CHAR}*{_NOT_YOURS}"
    rf"|(?(github_pat)(?={_ALNUM_UNDERSCORE}{{0,29}}[A-Z]){_ALNUM_UNDERSCORE}{{30,}}"
    rf"(?![A-Za-z0-9_]|-[0-9]){_NOT_YOURS}"
    rf"|(?=[A-Z0-9\x00\t\n\r]*+[a-z])(?=[a-z0-9\x00\t\n\r]*+[A-Z])"
    rf"{_ALNUM}{{30,}}(?![A-Za-z0-9]|-[0-9]))"
)


def hide_tokens(text: str) -> str:
    """``text`` with the body of every known token (``KNOWN_TOKEN``) as ``***``, its prefix
    kept as written: found in ``text`` with each run of glue read as one joint, then hidden in
    ``text`` itself, glue and all."""
    joined = GLUE.sub(_JOINT, text) if _MAY_GLUE.search(text) else text
    found = list(KNOWN_TOKEN.finditer(joined))
    if not found:
        return text
    origin = range(len(text) + 1) if joined is text else _origins(text)
    pieces: list[str] = []
    done = 0
    for match in found:
        pieces += (text[done : origin[match.end("prefix")]], "***")
        done = origin[match.end()]
    return "".join(pieces) + text[done:]


def _origins(text: str) -> list[int]:
    """Where each character of ``text`` with its glue runs joined (``GLUE``) starts in
    ``text``, and its end."""
    origin: list[int] = []
    done = 0
    for run in GLUE.finditer(text):
        origin += range(done, run.start() + 1)
        done = run.end()
    origin += range(done, len(text) + 1)
    return origin
