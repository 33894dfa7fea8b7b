"""The redactor's rule for a token whose prefix names it (``ghp_``, ``hf_``, ``pypi-Ag``), also
split by glue a terminal, a URL reader or an escape hides (``redaction.redact`` applies it;
docs/security.md, invariant 5)."""

from __future__ import annotations

import html
import re
import string
import sys
import unicodedata

from mlenv.lazy_pattern import LazyPattern

# What a token's pieces may have between them, as one run: a control (a URL reader drops a
# tab, CR or LF, a shell or a terminal may drop the rest), raw, as a repr or JSON escapes it
# (``\\n``, ``\\x0a``, ``\\u000a``, ``\\u200b``, a repr of one: ``\\\\n``) or as a URL encodes
# it (``%0A``, ``%C2%A0``, ``%E2%80%8B``), a NBSP, a soft hyphen (an invisible character past
# Latin-1 is read as a control first: ``_INVISIBLE``), and a terminal's escape sequence: any
# CSI (``\x1b[31m``, ``\x1b[38:5:196m``, ``\x1b[?25l``, C1's ``\x9b31m``, JSON's
# ``\\u001b[31m``, a shell's ``\\033[0m``), a control string whatever its length (an OSC 8
# hyperlink's ``\x1b]8;;url\x1b\\``, a DCS ``\x1bP...``, SOS ``\x1bX``, PM ``\x1b^``, APC
# ``\x1b_``, or their C1 forms ``\x90``, ``\x98``, ``\x9d``, ``\x9e``, ``\x9f``, up to BEL or ST)
# or a charset's (``tput sgr0``'s ``\x1b(B``). A terminal shows the token whole across each.
# ``P`` and ``X`` in both cases: glue is looked for in the folded text (``_FOLD``), a token
# inside a string in the text as written (``hide_tokens``). A string's body holds no control
# nor another string's start, so a scan from an unclosed one ends at the next: linear.
_STRING_START = r"\x1b[\]PXpx^_]|[\x90\x98\x9d-\x9f]"
_STRING_BODY = r"[^\x00-\x1f\x90\x98\x9b-\x9f]*+"
_STRING_END = r"\x07|\x1b\\|\x9c"
_CONTROL_STRING = LazyPattern(
    rf"(?P<start>{_STRING_START})(?P<body>{_STRING_BODY})(?P<end>{_STRING_END})"
)
_SEQUENCE = (
    r"\x1b\[[0-?]*+[ -/]*+[@-~]|\x9b[0-?]*+[ -/]*+[@-~]"
    rf"|(?:{_STRING_START}){_STRING_BODY}(?:{_STRING_END})|\x1b[()*+][ -~]"
)


# A control as an escape spells it: percent-encoded (``%0A``), as a repr or JSON escapes it
# (``\\x85``, ``\\u000a``, a repr of one: ``\\\\n``), a shell's colour, also percent-encoded
# (``%1b%5b0m``) or as JS and Rust spell it (``\\u{1b}[0m``). An invisible mark
# escaped (``%E2%81%A6``, ``\\u2066``, ``\\xe2\\x80\\x8b``) is judged as the character it
# decodes to (``_ESCAPE``). Glue is looked for in the text with its ASCII letters in lower
# case (``_FOLD``), so the hex is spelled once.
_ENCODED = (
    r"(?:\\{1,2}(?:x1b|u001b|u\{0{0,4}1b\}|033|e)|%1b)(?:\[|%5b)"
    r"(?:[0-?]|%3[0-9a-f])*+[ -/]*+[@-~]"
    r"|(?:%|\\{1,2}x|\\{1,2}u00)(?:[0189][0-9a-f]|7f|a[0d])|\\{1,2}[tnr]"
)
_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
GLUE = LazyPattern(rf"(?:{_SEQUENCE}|[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\xa0\xad]|{_ENCODED})++")
# Each run of glue is read as one NUL before the tokens are looked for, so their pattern
# spells the glue as a class of four (``_JOINTS``: a NUL, a tab and the line breaks, which it
# reads itself: most texts hold only those, and need no joining). Spelled in full fifty times
# over, glue took the pattern from 4 ms to 10 ms to compile, which every lock pays.
_JOINT = "\x00"
_JOINTS = r"[\x00\t\n\r]"
# A character glue may start with: anything but a text's plain ASCII, its tabs and line
# breaks, save ``%`` and ``\`` (an escape's start); or an HTML reference (``&#8203;``, not a
# query's ``&b=2``: each URL joined took a 1 KB pip error from 1.1 ms to 1.4 ms). A text without
# one (most) is not joined: the glue's alternatives, tried at every character, took twice the
# token pattern's time.
_MAY_GLUE = LazyPattern(r"[^\x00\t\n\r -$&-\[\]-~]|&#?[0-9A-Za-z]{1,32};")


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
# prefix (``ghp_A...\\nghp_B...``) and that token showed. Tokens are looked for between these
# cuts: a lookahead at each joint of ``KNOWN_TOKEN`` took its compile from 1.1 ms to 5.5 ms.
# A cut is tried where a run of joints starts (a long run is read once) and its prefix read in
# the next 64 characters without their joints (a pattern spelling joints took 0.5 ms to
# compile).
_CUT = LazyPattern(rf"(?<!{_JOINTS}){_JOINTS}++(?=[ghnpx])")


def _spellings(prefix: str) -> list[str]:
    """``prefix`` once for each letter of its class (``gh[pousr]_``: ``ghp_``, ``gho_``...)."""
    parts = re.split(r"\[(\w+)\]", prefix)
    if len(parts) == 1:
        return parts
    head, letters, tail = parts
    return [head + letter + tail for letter in letters]


def _run(chars: str) -> str:
    """30 or more of ``chars`` (joints between them, none last), read back one character at a
    time: a group repeated per character (``_glued``) kept a backtrack entry for each, and a
    body of 256k characters took 15x the time of 32k."""
    joined = chars[:-1] + r"\x00\t\n\r]"
    return rf"(?=(?:{_JOINTS}*+{chars}){{30}}){joined}{{30,}}(?<!{_JOINTS})"


def _ending(chars: str) -> str:
    """Where a body of ``chars`` ends: before no more of them, nor a ``-`` and a digit (a
    wheel's version: ``hf_HubIntegration...-1.0-...``), unless its body is broken by a joint
    (``broken``, looked for in the body's first 128 characters: a scan per prefix stays
    short): no wheel's file name holds one."""
    return rf"(?(broken)(?!{chars})|(?!{chars}|-[0-9]))"


_PREFIX = tuple(spelling for prefix, _ in _NAMED for spelling in _spellings(prefix))
_LONGEST_PREFIX = max(map(len, _PREFIX))
_UNJOINED = str.maketrans("", "", "\x00\t\n\r")
_NOT_YOURS = "|(?!))"  # a conditional's other branch: this prefix's rule does not apply
_ANY_PREFIX = "|".join(_spelled(prefix) for prefix, _ in _NAMED)
_TOKEN = (
    rf"(?P<prefix>{_PREFIXES})(?:(?=[A-Za-z0-9_]{{0,128}}+(?P<broken>{_JOINTS}))|)"
    rf"(?:(?(pypi){_spelled('Ag')}{_WORD_CHAR}{{40,}}+{_NOT_YOURS}"
    rf"|(?(glpat)(?={_WORD_CHAR}{{0,19}}[A-Z]){_WORD_CHAR}{{20,}}+{_NOT_YOURS}"
    rf"|(?(xox){_DIGIT}+{_DASH}{_WORD_CHAR}{{0,64}}?{_ALNUM}{{20}}{_WORD_CHAR}*+{_NOT_YOURS}"
    rf"|(?(github_pat)(?={_ALNUM_UNDERSCORE}{{0,29}}[A-Z]){_run('[A-Za-z0-9_]')}"
    rf"{_ending('[A-Za-z0-9_]')}{_NOT_YOURS}"
    rf"|(?=[A-Z0-9\x00\t\n\r]*+[a-z])(?=[a-z0-9\x00\t\n\r]*+[A-Z])"
    rf"{_run('[A-Za-z0-9]')}(?:(?={_ANY_PREFIX})|{_ending('[A-Za-z0-9]')}))"
)
KNOWN_TOKEN = LazyPattern(rf"(?<![A-Za-z0-9_]){_TOKEN}")
# A token written right after another (``ghp_<36>ghp_<36>``, ``hf_<36>xoxb-1-...``): the
# first's body read on through the next prefix's letters to its ``_`` and the second's body
# showed, or took the next prefix's ``-1`` for a wheel's version and hid neither. A body may
# end where a prefix starts; where a body ends on or before the head of a prefix, a token is
# looked for from that head (no lookbehind).
_NEXT_TOKEN = LazyPattern(_TOKEN)


def hide_tokens(text: str) -> str:
    """``text`` with the body of every known token (``KNOWN_TOKEN``) as ``***``, its prefix
    kept as written: found in ``text`` as ``_readings`` reads it, then hidden in ``text``
    itself, glue and escapes and all. A control string is one joint there, so a token inside
    one (an OSC 8 link's URI, which a terminal shows on hover) is looked for first, in its
    body alone."""
    text = _CONTROL_STRING.sub(_inside, text)
    joined, origin = _joined(text)
    found = _tokens(joined)
    if not found:
        return text
    pieces: list[str] = []
    done = 0
    for body, end in _bodies(joined, found):
        pieces += (text[done : origin[body]], "***")
        done = origin[end]
    return "".join(pieces) + text[done:]


def _inside(string: re.Match[str]) -> str:
    """A control string (``_CONTROL_STRING``) with the tokens its body holds hidden."""
    return string["start"] + hide_tokens(string["body"]) + string["end"]


def _bodies(joined: str, found: list[re.Match[str]]) -> list[tuple[int, int]]:
    """Where each token's body starts and ends, a body that ends on the head of another
    prefix cut there and the token written on from it found too (``_NEXT_TOKEN``)."""
    bodies: list[tuple[int, int]] = []
    for match in found:
        body, end = match.end("prefix"), _whole(joined, match)
        while (head := _next_head(joined, body, end)) is not None:
            following = _NEXT_TOKEN.match(joined, head)
            if following is None:
                break
            bodies.append((body, head))
            body, end = following.end("prefix"), _whole(joined, following)
        bodies.append((body, end))
    return bodies


# How long the body of a token of a fixed length is (GitHub's classic and fine-grained ones,
# npm's, Hugging Face's): one read on past a joint once this long took the next line's word
# (``ghp_<36>\nnext`` hid ``next``). A ``pypi-``, ``glpat-`` or ``xox`` body has no one length.
# Fixed lengths only: ``ghr_`` refresh tokens are longer than 36 and ``ghs_`` may grow, so
# they read on to the next word (over-hiding one word, never showing a body's rest).
_LENGTHS = {"github_pat_": 82, "ghp_": 36, "gho_": 36, "ghu_": 36, "npm_": 36, "hf_": 34}
_RUN = LazyPattern(f"{_JOINTS}++")


def _whole(joined: str, token: re.Match[str]) -> int:
    """Where ``token``'s body ends: at the first joint it reads on past at its whole length."""
    prefix = token["prefix"].translate(_UNJOINED)
    length = next((size for head, size in _LENGTHS.items() if prefix.startswith(head)), None)
    if length is None:
        return token.end()
    body, joints = token.end("prefix"), 0
    for run in _RUN.finditer(joined, body, token.end()):
        if run.start() - body - joints >= length:
            return run.start()
        joints += run.end() - run.start()
    return token.end()


def _next_head(joined: str, body: int, end: int) -> int | None:
    """Where a prefix starts that ``joined`` spells at a body's ``end`` or across it (its
    head the body's last letters, joints and all: ``gh\\np_`` after a body read on through
    ``gh\\np``), or None."""
    heads: list[int] = []
    at = end
    while at > body and len(heads) < _LONGEST_PREFIX - 1:
        at -= 1
        if joined[at] not in _JOINTS_SET:
            heads.append(at)
    for head in (*reversed(heads), end):
        prefix = _HEAD.match(joined, head)
        if prefix is not None and prefix.end() > end:
            return head
    return None


_JOINTS_SET = frozenset("\x00\t\n\r")
_HEAD = LazyPattern(_ANY_PREFIX)


def _joined(text: str) -> tuple[str, list[int]]:
    """``text`` as ``_readings`` reads it, and where in ``text`` each of its characters starts
    (one more: the end)."""
    pieces: list[str] = []
    origin: list[int] = []
    done = 0
    for start, end, read in _readings(text):
        pieces += (text[done:start], read)
        origin += (*range(done, start), start)
        done = end
    pieces.append(text[done:])
    origin += range(done, len(text) + 1)
    return "".join(pieces), origin


def _readings(text: str) -> list[tuple[int, int, str]]:
    """Where ``text`` is read as one other character before tokens are looked for: a run of
    glue (``GLUE``) as a joint, an escape of a token's character (JSON's ``\\u0067``, HTML's
    ``&#x5f;``, ``%5F``, ``\\N{LOW LINE}``) as that character, as a reader decodes it. Glue
    is looked for with invisible characters past Latin-1 read as controls and ASCII letters in
    lower case, both one for one. Spans, not matches: a text of 200,000 runs kept as many
    match objects for the collector to walk (8x the text took 10x the time)."""
    if not _MAY_GLUE.search(text):
        return []
    folded = _marked(text).translate(_FOLD)
    letters: list[tuple[int, int, str]] = []
    if "%" in text or "\\" in text or "&" in text:
        folded = _ESCAPE.sub(lambda escape: _masked(escape, text, letters), folded)
    runs = [(*run.span(), _JOINT) for run in GLUE.finditer(folded)]
    return sorted(runs + letters) if letters else runs


def _tokens(joined: str) -> list[re.Match[str]]:
    """Each known token in ``joined``, none running on past joints into another's prefix."""
    if not KNOWN_TOKEN.search(joined):
        return []
    found: list[re.Match[str]] = []
    start = 0
    for cut in (*_cuts(joined), len(joined)):
        found += KNOWN_TOKEN.finditer(joined, start, cut)
        start = cut
    return found


def _cuts(joined: str) -> list[int]:
    """Where each run of joints before a known prefix starts (``_CUT``)."""
    return [
        run.start()
        for run in _CUT.finditer(joined)
        if joined[run.end() : run.end() + 64].translate(_UNJOINED).startswith(_PREFIX)
    ]


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
    wide = (char for char in set(text) if ord(char) > 0xFF)
    return text.translate({ord(char): _CONTROL for char in wide if _invisible(char)})


def _invisible(char: str) -> bool:
    """Whether a terminal shows nothing for ``char`` (past Latin-1: ``_INVISIBLE_CATEGORIES``,
    ``_FILLERS``, a variation selector) or it is a control, a NBSP or a soft hyphen."""
    if ord(char) <= 0xFF:
        return char in _LATIN_GLUE
    return (
        unicodedata.category(char) in _INVISIBLE_CATEGORIES
        or char in _FILLERS
        or "VARIATION SELECTOR" in unicodedata.name(char, "")
    )


_LATIN_GLUE = frozenset(map(chr, (*range(0x01, 0x20), *range(0x7F, 0xA1), 0xAD)))
# An escape (in a folded text) of a character past Latin-1: its UTF-8 bytes percent-encoded or
# as a bytes repr shows them, a JSON or repr code point (a surrogate pair; a repr's 8 digits
# ``\\U000e0020``); of any character: JS's and Rust's ``\\u{200b}`` (not an ESC that starts
# a CSI: glue's own, ``_ENCODED``), an HTML character reference (``&#8203;``, ``&#x5f;``,
# ``&ZeroWidthSpace;``) or Python's ``\\N{ZERO WIDTH SPACE}``; and of a token's ASCII
# character (``%5F``, ``\\x5f``, JSON's ``\\u0067``). Judged in Python by what it decodes
# to: each mark spelled in the glue pattern took its compile from 0.3 ms to 0.6 ms and missed
# the rest.
_HEX = "[0-9a-f]"  # one digit of an escape; a digest's rule is mlenv.digests' alone
_BYTE = r"(?:%|\\{1,2}x)"
_CODE = r"\\{1,2}u"
_ESCAPE = LazyPattern(
    f"{_BYTE}[c-f]{_HEX}(?:{_BYTE}[89ab]{_HEX}){{1,3}}|(?:{_BYTE}|{_CODE}00)[2-7]{_HEX}"
    f"|{_CODE}(?:00(?:0[1-9a-f]|10){_HEX * 4}|d[89ab]{_HEX * 2}{_CODE}d[c-f]{_HEX * 2}"
    f"|(?!00){_HEX * 4})"
    rf"|{_CODE}\{{(?!0{{0,4}}1b\}}\[){_HEX}{{1,6}}\}}"
    rf"|&#(?:x{_HEX}{{1,6}}|[0-9]{{1,7}});|&[a-z][a-z0-9]{{1,31}};"
    rf"|\\{{1,2}}n\{{[a-z0-9 -]{{1,88}}\}}"
)
_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "_-")


def _masked(escape: re.Match[str], text: str, letters: list[tuple[int, int, str]]) -> str:
    """``escape`` (of the folded ``text``) as controls (one for each of its characters) if it
    spells glue, as letters if it spells a token's character (``letters`` says which)."""
    start, end = escape.span()
    chars = _decoded(escape[0], text[start:end])
    if chars and all(map(_invisible, chars)):
        return "\x01" * (end - start)
    if chars in _TOKEN_CHARS:
        letters.append((start, end, chars))
        return "a" * (end - start)
    return escape[0]


def _decoded(folded: str, spelled: str) -> str:
    """What an escape decodes to, ``folded`` as glue is looked for in and ``spelled`` as
    written (an HTML or ``\\N{}`` name is read as written); "" if it names no character."""
    if folded.startswith("&"):
        chars = html.unescape(spelled)
        return "" if chars == spelled else chars
    if "u{" in folded:
        number = int(folded[folded.index("{") + 1 : -1], 16)
        return chr(number) if number <= sys.maxunicode else ""
    if folded.endswith("}"):
        try:
            return unicodedata.lookup(spelled[spelled.index("{") + 1 : -1])
        except KeyError:
            return ""
    heads = folded.replace("\\", "").replace("x", "%").replace("u", "%")
    numbers = [int(digits, 16) for digits in heads.split("%")[1:]]
    if "u" in folded:
        decoded = "".join(map(chr, numbers)).encode("utf-16", "surrogatepass")
        return decoded.decode("utf-16", "replace")
    return bytes(numbers).decode("utf-8", "replace")
