"""The redactor's rule for a token whose prefix names it (``ghp_``, ``hf_``, ``pypi-Ag``), also
split by glue a terminal, a URL reader or an escape hides (``redaction.redact`` applies it;
docs/security.md, invariant 5)."""

from __future__ import annotations

import re
import unicodedata

from mlenv.lazy_pattern import LazyPattern

# What a token's pieces may have between them, as one run: a control (a URL reader drops a
# tab, CR or LF, a shell or a terminal may drop the rest), raw, as a repr or JSON escapes it
# (``\\n``, ``\\x0a``, ``\\u000a``, ``\\u200b``, a repr of one: ``\\\\n``) or as a URL encodes
# it (``%0A``, ``%C2%A0``, ``%E2%80%8B``), a NBSP, a soft hyphen (an invisible character past
# Latin-1 is read as a control first: ``_INVISIBLE``), and a terminal's escape sequence: any
# CSI (``\x1b[31m``, ``\x1b[38:5:196m``, ``\x1b[?25l``, C1's ``\x9b31m``, JSON's
# ``\\u001b[31m``, a shell's ``\\033[0m``), an OSC 8 hyperlink's (``\x1b]8;;url\x1b\\``) or a
# charset's (``tput sgr0``'s ``\x1b(B``). A terminal shows the token whole across each.
_SEQUENCE = (
    r"\x1b\[[0-?]*+[ -/]*+[@-~]|\x9b[0-?]++[ -/]*+[@-~]"
    r"|\x1b\][^\x00-\x1f]{0,512}+(?:\x07|\x1b\\)|\x1b[()*+][ -~]"
)


def _any_case(pattern: str) -> str:
    """``pattern``'s hex letters (in classes or alone) in either case: an inline ``(?i)`` took
    glue's compile from 0.9 ms to 2 ms."""
    return re.sub(r"\[([^]]*)\]|([a-f])", lambda hex_: _both_cases(hex_[1] or hex_[2]), pattern)


def _both_cases(chars: str) -> str:
    """A class of ``chars`` and their upper case."""
    return f"[{chars}{chars.upper()}]"


# A control or an invisible mark as an escape spells it: its UTF-8 bytes, percent-encoded or
# as a bytes repr shows them (``%0A``, ``%E2%81%A6``, ``\\xe2\\x81\\xa6``), its code point as a
# JSON or a repr escape (``\\u2066``; JSON's surrogates or a repr's ``\\U000e0020`` for a tag
# character or a variation selector past the BMP), a repr of one (``\\\\n``) or a shell's.
_BYTE = r"(?:%|\\{1,2}x)"
_UTF8 = (
    rf"[0189][0-9a-f]|7f|a[0d]|c2{_BYTE}(?:[89][0-9a-f]|a[0d])|cd{_BYTE}8f|d8{_BYTE}9c"
    rf"|e1{_BYTE}(?:a0{_BYTE}8[b-f]|85{_BYTE}(?:9f|a0))|e2{_BYTE}(?:80{_BYTE}(?:8[b-f]|a[8-e])"
    rf"|81{_BYTE}a[0-46-f])|e3{_BYTE}85{_BYTE}a4|ef{_BYTE}(?:b8{_BYTE}8[0-9a-f]|bb{_BYTE}bf"
    rf"|be{_BYTE}a0|bf{_BYTE}b[9ab])|f3{_BYTE}a0{_BYTE}8[0-7]{_BYTE}[89ab][0-9a-f]"
)
_POINT = (
    r"u(?:00(?:[0189][0-9a-f]|7f|a[0d])|034f|061c|1(?:15f|160|80[b-f])"
    r"|20(?:0[b-f]|2[8-9a-e]|6[0-46-9a-f])|3164|fe0[0-9a-f]|feff|ffa0|fff[9ab]"
    r"|db40\\{1,2}ud[cd][0-9a-f]{2})|U000e0(?:0[0-7]|1[0-9a-e])[0-9a-f]"
)
_ENCODED = (
    r"\\{1,2}(?:x1[bB]|u001[bB]|033|e)\[[0-?]*+[ -/]*+[@-~]"
    rf"|{_BYTE}(?:{_any_case(_UTF8)})|\\{{1,2}}(?:{_any_case(_POINT)}|[tnr])"
)
GLUE = LazyPattern(rf"(?:{_SEQUENCE}|[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\xa0\xad]|{_ENCODED})++")
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
_NAMED = (
    ("gh[pousr]_", ""),
    ("github_pat_", "github_pat"),
    ("glpat-", "glpat"),
    ("hf_", ""),
    ("npm_", ""),
    ("pypi-", "pypi"),
    ("xox[abposr]-", "xox"),
)
_PREFIXES = "|".join(
    f"(?P<{name}>{_spelled(prefix)})" if name else _spelled(prefix) for prefix, name in _NAMED
)
# Joints before a prefix, where a token's body ends: read on, the body took the next token's
# prefix (``ghp_A...\\nghp_B...``) and that token showed. Judged after a match, not in each
# joint of ``KNOWN_TOKEN``: there it took its compile from 1.1 ms to 5.5 ms.
_PREFIX_AT = LazyPattern("|".join(_spelled(prefix) for prefix, _ in _NAMED))
_JOINT_RUN = LazyPattern(rf"{_JOINTS}++")
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
    marked = joined = text
    if _MAY_GLUE.search(text):
        marked = _marked(text)
        joined = GLUE.sub(_JOINT, marked)
    found = _tokens(joined)
    if not found:
        return text
    origin = range(len(text) + 1) if joined is text else _origins(marked)
    pieces: list[str] = []
    done = 0
    for match in found:
        pieces += (text[done : origin[match.end("prefix")]], "***")
        done = origin[match.end()]
    return "".join(pieces) + text[done:]


def _tokens(joined: str) -> list[re.Match[str]]:
    """Each known token in ``joined``, none running on past joints into another's prefix."""
    found: list[re.Match[str]] = []
    start = 0
    while match := KNOWN_TOKEN.search(joined, start):
        start = match.end()
        for joints in _JOINT_RUN.finditer(joined, match.end("prefix"), start):
            if _PREFIX_AT.match(joined, joints.end()):
                start = joints.start()
                break
        if start < match.end():
            match = KNOWN_TOKEN.match(joined, match.start(), start)
        found += [match] if match else []
    return found


# Invisible characters past Latin-1 a terminal shows nothing for: every format character
# (``Cf``: zero-width, joining, direction and tag characters, U+180E, U+FEFF, U+206A..U+206F,
# U+FFF9..U+FFFB, ...), the line and paragraph separators, variation selectors (U+FE00..,
# U+E0100.., Mongolian U+180B..), the combining grapheme joiner and the Hangul fillers.
# Judged by category, each read as a control (one character for one, so positions stay):
# spelled as alternatives they missed 399, and a class reaching past Latin-1 compiles to a
# 64k-entry table.
_INVISIBLE_CATEGORIES = frozenset(("Cf", "Zl", "Zp"))
_FILLERS = frozenset("\u034f\u115f\u1160\u3164\uffa0")
_CONTROL = 0x01
_WIDE = LazyPattern(r"[^\x00-\xff]")


def _marked(text: str) -> str:
    """``text`` with each invisible character past Latin-1 read as a control."""
    if not _WIDE.search(text):
        return text
    return text.translate(
        {
            ord(char): _CONTROL
            for char in set(text)
            if ord(char) > 0xFF
            and (
                unicodedata.category(char) in _INVISIBLE_CATEGORIES
                or char in _FILLERS
                or "VARIATION SELECTOR" in unicodedata.name(char, "")
            )
        }
    )


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
