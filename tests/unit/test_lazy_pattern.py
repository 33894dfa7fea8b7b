"""Patterns compiled on first use (``mlenv.lazy_pattern``), as the redactor holds them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.lazy_pattern import LazyPattern

ROOT = Path(__file__).resolve().parents[2]


def _run(probe: str, *args: str) -> str:
    """What ``probe`` prints, run in a fresh interpreter: nothing imported or compiled yet."""
    out = subprocess.run([sys.executable, "-c", probe, *args], cwd=ROOT, capture_output=True,
                         text=True, check=True)  # fmt: skip
    return out.stdout


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
    before, after = map(int, _run(probe).split())
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
    assert lazy.findall(text, pos, endpos) == compiled.findall(text, pos, endpos)


# Patterns of modules a lock imports that a successful lock of a plain PyPI stack never uses.
UNUSED_BY_A_LOCK = {
    "mlenv.target": ["_MANYLINUX_RE"],
    "mlenv.cuda.versions": [
        "_API_MISMATCH_RE",
        "_SPEC_BOUND_RE",
        "_ADMIT_RE",
        "TEGRA_RELEASE_RE",
        "DOTTED_RE",
        "_DRIVER_TEXT_RE",
        "_BRANCH_RE",
        "_WINDOWS_FILE_RE",
        "_SMI_TOOL_RE",
        "_ARCH_RE",
    ],
    "mlenv.cuda.requires_said": ["_QUOTED_RE", "_EXTRA_VARIABLE_RE", "_MAJOR_RE"],
    "mlenv.cuda.tags": ["_NON_CUDA_SEGMENT"],
    "mlenv.cuda.matrix": ["_CONDA_OUTPUT_RE"],
    "mlenv.cuda.packages": ["_INDEX_URL"],
    "mlenv.manifest_read": ["_POSITION"],
    "mlenv.manifest_values": ["_REPOSITORY_REF", "_CUDA", "_ARCH", "_GLIBC", "_NONEMPTY"],
    "mlenv.lockfile_consistency": ["_CONDA_NAME", "_CONDA_PART"],
    "mlenv.limits": ["_TOML_INTEGER"],
    "mlenv.pep508": ["_SPECIFIER_START"],
    "mlenv.placement": ["_PYTHON"],
    "mlenv.overrides": ["EXTRA_TEST"],
    "mlenv.dropped_extras": ["_EXTRA_NAMED"],
    "mlenv.hints": ["_ONE_EQUALS", "_WILDCARD"],
    "mlenv.conda.records": [
        "_SPEC_NAME",
        "_BRACKET_KEY",
        "_SPEC_BLANKS",
        "_OTHER_ABI",
        "_VERSION_TOKEN",
    ],
    "mlenv.index.wheelmeta": ["_CONTENT_RANGE"],
}


def test_importing_the_lock_path_compiles_none_of_what_a_lock_rarely_uses() -> None:
    """Protects a cold lock's speed: each of these is compiled only when used (about 1 % of
    a lock's instructions in all), not when `mlenv lock`'s modules are imported."""
    probe = (
        "import importlib, json, sys\n"
        "import mlenv.commands.lock, mlenv.locking, mlenv.resolver.resolve, mlenv.hints\n"
        "from mlenv.lazy_pattern import LazyPattern\n"
        "names = json.loads(sys.argv[1])\n"
        "print(json.dumps(sorted(f'{m}.{n}' for m, ns in names.items() for n in ns\n"
        "    if not isinstance(getattr(importlib.import_module(m), n), LazyPattern)\n"
        "    or getattr(importlib.import_module(m), n)._compiled is not None)))\n"
    )
    assert json.loads(_run(probe, json.dumps(UNUSED_BY_A_LOCK))) == []


def test_a_tag_pattern_for_one_package_is_compiled_only_for_that_package() -> None:
    """Protects a lock's start: reading torch's +cu128 compiles no paddlepaddle-gpu ``.post``
    pattern (their name pattern does not fit), and reading paddle's version compiles them."""
    probe = (
        "from mlenv.cuda.matrix import patterns\n"
        "from mlenv.cuda.tags import extract\n"
        "paddle = [p for p in patterns('version') if p.name is not None]\n"
        "extract('torch', '2.8.0+cu128')\n"
        "print(sum(p.regex._compiled is not None for p in paddle))\n"
        "extract('paddlepaddle-gpu', '1.8.5.post107')\n"
        "print(sum(p.regex._compiled is not None for p in paddle), len(paddle))\n"
    )
    before, after, total = map(int, _run(probe).split())
    assert (before, total) == (0, 6) and after > 0
