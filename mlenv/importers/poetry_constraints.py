"""Poetry's version constraints as PEP 440 specifier sets.

Poetry writes ``^1.2``, ``~1.2``, bare ``1.2.3`` (an exact pin) and ``1.2.*``, which are not
PEP 440; each is translated to the range Poetry's documentation gives it, so the manifest
allows exactly the versions Poetry would. A union whose alternatives overlap or meet
(``^1 || ^2`` is ``>=1,<3.0.0``) becomes that one range (``importers.poetry_union``); any other
union has no PEP 440 form and is refused with its key and the versions it leaves out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from packaging.version import InvalidVersion, Version

from mlenv.importers.poetry_union import UnionError, merge

_CONSTRAINT = re.compile(r"^(?P<op>\^|~=|~|===|==|=|!=|<>|>=|<=|>|<)?\s*(?P<version>\S+)$")
_PLAIN = {"===": "===", "==": "==", "=": "==", "!=": "!=", "<>": "!=", ">=": ">=", "<=": "<=",
          ">": ">", "<": "<", "~=": "~="}  # fmt: skip
_ANY = re.compile(r"v?[x*](\.[x*])*", re.IGNORECASE)  # poetry-core parse_single_constraint


class PoetryConstraintError(ValueError):
    """A Poetry constraint with no PEP 440 form; ``hint`` (when given) says why."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def _release(text: str) -> tuple[int, ...]:
    try:
        return Version(text).release
    except InvalidVersion:
        raise PoetryConstraintError(f"{text!r} is not a version") from None


def _below(version: str, parts: Sequence[int]) -> str:
    """``version`` and the bound ``parts`` as a range; the bound keeps the version's epoch
    (``^1!2.0`` is below ``1!3.0.0``: ``<3.0.0`` has epoch 0, and no version is in the range)."""
    epoch = Version(version).epoch
    return f">={version},<{f'{epoch}!' if epoch else ''}{'.'.join(str(p) for p in parts)}"


def _caret(version: str) -> str:
    """Poetry's next breaking version: the left-most non-zero part moves (``^0.0`` -> 0.1)."""
    release = _release(version)
    if release[0] > 0 or len(release) == 1:
        upper = (release[0] + 1, 0, 0)
    elif release[1] > 0 or len(release) == 2:
        upper = (0, release[1] + 1, 0)
    else:
        upper = (0, 0, release[2] + 1)
    return _below(version, upper)


def _tilde(version: str) -> str:
    """``~1`` allows minor updates, ``~1.2`` and ``~1.2.3`` patch updates only."""
    release = _release(version)
    upper = (release[0] + 1, 0, 0) if len(release) == 1 else (release[0], release[1] + 1, 0)
    return _below(version, upper)


def _single(text: str) -> str:
    if text == "" or _ANY.fullmatch(text):  # poetry-core: ``*``, ``*.*``, ``x.X``, ``v*``
        return ""
    if text.startswith("!=") and text.endswith(".*"):
        _release(text[2:-2])
        return text
    if text.endswith(".*"):
        stem = re.sub(r"(\.\*)+$", "", text.removeprefix("==").removeprefix("="))
        _release(stem)
        return f"=={stem}.*"
    match = _CONSTRAINT.match(text)
    if match is None:
        raise PoetryConstraintError(f"{text!r} is not a Poetry constraint")
    operator, version = match["op"] or "==", match["version"]
    if operator == "===":  # poetry-core 2.1.3 has no arbitrary equality: it refuses the line
        raise PoetryConstraintError(
            f"{text!r}: Poetry has no === operator (poetry-core refuses the constraint)",
            f'write "=={version}" (or "{version}") to pin the version',
        )
    if operator == "<>":  # poetry-core 2.1.3 drops the operator: ``<>1.5`` is the pin 1.5
        raise PoetryConstraintError(
            f"{text!r}: Poetry reads <> as no operator (the exact version {version})",
            f'write "!={version}" to exclude it or "{version}" to pin it',
        )
    if operator == "^":
        return _caret(version)
    if operator == "~":
        return _tilde(version)
    if len(_release(version)) < 2 and operator == "~=":  # PEP 440 and Poetry refuse ``~=1``
        raise PoetryConstraintError(f"{text!r} needs two release parts, e.g. ~={version}.0")
    if len(_release(version)) > 3 and operator == "~=":  # Poetry moves the minor part, PEP 440
        return _tilde(version)  # the one before last: poetry-core's ``~=1.2.3.4`` is <1.3.0.0
    return f"{_PLAIN[operator]}{version}"


def _range(constraint: str) -> str:
    text = re.sub(r"(\^|~=|~|===|==|!=|<>|>=|<=|>|<|=)\s+", r"\1", constraint.strip())
    parts = [part for part in re.split(r"\s*,\s*|\s+", text) if part]
    translated = [_single(part) for part in parts] or [""]
    return ",".join(spec for spec in translated if spec)


def translate(constraint: str) -> str:
    """A Poetry constraint as a PEP 440 specifier set ("" for any version); a union is merged
    into one range when it is one (``importers.poetry_union``)."""
    if "|" not in constraint:
        return _range(constraint)
    alternatives = re.split(r"\|\|?", constraint)
    if any(not a.strip() for a in alternatives):
        raise PoetryConstraintError(f"{constraint!r} has an empty alternative")
    try:
        return merge([_range(a) for a in alternatives], constraint)
    except UnionError as exc:
        raise PoetryConstraintError(str(exc), exc.hint) from None


def post_release_gaps(constraint: str) -> tuple[str, ...]:
    """The versions V of each ``!=V`` in ``constraint`` whose post-releases Poetry excludes
    and the translation admits. Poetry reads ``!=V`` as ``<V || >V``, and ``>V`` leaves out
    V's post-releases (PEP 440's rule for ``>``); PEP 440's ``!=V`` admits them (``1.0.post1``
    is not ``1.0``). Only a union says "not V nor its post-releases", and PEP 440 has none, so
    the import keeps ``!=V`` and names each such V in a note."""
    gaps = []
    for part in re.split(r"\|\|?|,|\s+", re.sub(r"(!=|<>)\s+", r"\1", constraint)):
        if part.startswith("!=") and not part.endswith(".*"):
            try:
                version = Version(part[2:])
            except InvalidVersion:
                continue  # translate() has refused it already
            if not version.is_postrelease and version.local is None:
                gaps.append(str(version))
    return tuple(dict.fromkeys(gaps))
