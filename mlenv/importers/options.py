"""Option lines of a requirements file as pip 26 applies them, and other tools' pre-release
rules as mlenv's ``[pypi] prerelease``. Pure: ``importers`` reports what these refuse, with
the line or key it came from, so each rule is written once for pip, uv and pixi."""

from __future__ import annotations

from collections.abc import Sequence

_FLAGS = {"--prefer-binary", "--require-hashes", "--no-require-hashes", "--pre", "--no-index"}
_SHORT = {"-r", "-c", "-i", "-f", "-e"}
_INCLUDES = ("-r", "--requirement", "-c", "--constraint")
_INDEX_URL = ("-i", "--index-url")
RELEASE_CONTROLS = ("--pre", "--all-releases", "--only-final")
TOOL_MODE_HINT = (
    'use "allow" or "disallow", or leave it out: mlenv\'s default takes a pre-release only '
    "where no final release fits"
)

Pair = tuple[str, str]
Refusal = tuple[str, str]  # (message, hint)


def option_pairs(words: Sequence[str]) -> tuple[list[Pair], str | None]:
    """(option, value) for every option of a line (``-i URL --extra-index-url URL`` is two),
    and the first word that is no option, if one follows them."""
    pairs: list[Pair] = []
    rest = list(words)
    while rest:
        word = rest.pop(0)
        if not word.startswith("-"):
            return pairs, word
        option, equals, value = word.partition("=")
        if not equals and option[:2] in _SHORT and len(option) > 2:  # -rbase.txt
            option, value = option[:2], option[2:]
        elif not equals and option not in _FLAGS and rest:
            value = rest.pop(0)
        pairs.append((option, value))
    return pairs, None


def pip_order(pairs: Sequence[Pair]) -> tuple[list[Pair], Refusal | None]:
    """A line's options in the order pip's ``handle_option_line`` applies them: its ``-i``
    before its extra indexes, whatever their order on the line (only an ``-i`` on a later line
    drops the extra indexes before it). A line with ``-r`` (or ``-c``) is only that include to
    pip (``_parse_and_recurse`` reads the first, and nothing else of the line): any other
    option there is refused, as pip would not apply it."""
    includes = [pair for pair in pairs if pair[0] in _INCLUDES]
    if includes and len(pairs) > 1:
        first = next((p for p in includes if p[0] in _INCLUDES[:2]), includes[0])
        other = next(pair for pair in pairs if pair is not first)
        return [], (
            f"pip reads only {first[0]} {first[1]} of this line and ignores "
            f"{' '.join(filter(None, other))} beside -r",
            "put each option on a line of its own (pip then applies it), or delete what "
            "pip ignores",
        )
    return sorted(pairs, key=lambda pair: pair[0] not in _INDEX_URL), None


def release_control(option: str, value: str, before: str | None) -> tuple[str, Refusal | None]:
    """mlenv's setting for pip's ``--pre`` or pip 26's ``--all-releases :all:`` ("allow")
    and ``--only-final :all:`` ("disallow": no pre-release, not even one pinned), given the
    setting earlier lines made (``before``). A value naming projects has no equivalent (the
    setting holds for every project), nor has a file holding both rules: pip's outcome then
    depends on their order."""
    setting = "disallow" if option == "--only-final" else "allow"
    if option != "--pre" and value != ":all:":
        return setting, (
            f"{option} {value}: pip's pre-release rule for named projects, which mlenv cannot "
            "express ([pypi] prerelease holds for every project)",
            'name the pre-release you want ("pkg==2.0rc1"), or pin a final release to keep one out',
        )
    if before not in (None, setting):
        return setting, (
            f"{option} after a rule allowing{' no' if setting == 'allow' else ''} pre-releases: "
            "pip's outcome depends on their order",
            "keep one of --pre (--all-releases :all:) and --only-final :all:",
        )
    return setting, None
