"""Patterns compiled on first use (``mlenv.lazy_pattern``), as the redactor holds them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.lazy_pattern import LazyPattern

ROOT = Path(__file__).resolve().parents[2]


def test_a_pattern_is_compiled_when_first_used_not_when_made() -> None:
    """Protects the saving: making one compiles nothing (a broken pattern fails only when
    used), and importing the redactor leaves all of its patterns uncompiled."""
    broken = LazyPattern("a(")
    with pytest.raises(re.error):
        broken.match("a")
    probe = (
        "import mlenv.redaction\n"
        "from mlenv import lazy_pattern\n"
        "print(len(lazy_pattern._KEPT))\n"
        "mlenv.redaction.redact('https://u:p@h/x?token=s')\n"
        "print(len(lazy_pattern._KEPT))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, check=True)  # fmt: skip
    before, after = map(int, out.stdout.split())
    assert before == 0 and after > 0


def test_a_pattern_keeps_its_one_compiled_object() -> None:
    """Protects ``match.re is`` in the redactor: every use answers with the object compiled
    first, even once ``re``'s own cache has dropped it."""
    pattern = LazyPattern(r"(?P<x>a+)b")
    first = pattern.compiled
    re.purge()
    match = pattern.match("aab")
    assert match is not None and match.re is first and pattern.compiled is first
    assert [m.re for m in pattern.finditer("ab aab")] == [first, first]


@given(st.text(alphabet="ab:/@%-_ \n", max_size=30), st.integers(0, 5), st.integers(0, 40))
def test_each_method_answers_as_re_does(text: str, pos: int, endpos: int) -> None:
    """Protects the redactor's results: every method it calls gives what ``re``'s does."""
    source, flags = r"(?P<w>[ab]+)(:|@)?", re.IGNORECASE
    lazy, compiled = LazyPattern(source, flags), re.compile(source, flags)

    def spans(match: re.Match[str] | None) -> object:
        return None if match is None else (match.span(), match.groupdict())

    for name in ("match", "fullmatch", "search"):
        assert spans(getattr(lazy, name)(text, pos, endpos)) == spans(
            getattr(compiled, name)(text, pos, endpos)
        )
    assert [spans(m) for m in lazy.finditer(text, pos, endpos)] == [
        spans(m) for m in compiled.finditer(text, pos, endpos)
    ]
    assert lazy.sub("*", text, pos) == compiled.sub("*", text, pos)
    assert lazy.sub(lambda m: m[0].upper(), text) == compiled.sub(lambda m: m[0].upper(), text)
    assert lazy.split(text, pos) == compiled.split(text, pos)
