"""Eighth adversary pass: the seventh pass's hidden-character and bound checks in shapes its
tests did not try. Each test names the invariant it attacks and fails if the enforcing function
stops holding it."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement

from mlenv.errors import hidden_characters, terminal_text
from mlenv.importers.core import ImportFileError, read_requirements
from mlenv.install.ownership import Owner, PathClashError, PathLedger
from mlenv.install.safety import link_problem
from mlenv.pep508 import requirement

SITE = "lib/python3.11/site-packages"
WHEEL = Owner("evil-1.0-py3-none-any.whl", "wheel", "hint", f"{SITE}/evil-1.0.dist-info")

# Default-ignorable code points this Python's Unicode data leaves unassigned (category Cn, not
# format): a terminal draws them as nothing, like the assigned ones.
UNASSIGNED_IGNORABLE = ["\u2065", "\ufff0", "\U000e0000", "\U000e0002", "\U000e0080", "\U000e0fff"]


@pytest.mark.parametrize("char", UNASSIGNED_IGNORABLE)
def test_unassigned_default_ignorable_characters_are_hidden(char: str) -> None:
    """Invariant: every default-ignorable character shows as '?' and counts as hidden, not
    only those Python's Unicode version assigns."""
    assert hidden_characters(f"a{char}b") == [char]
    assert terminal_text(f"a{char}b") == "a?b"


@pytest.mark.parametrize("char", UNASSIGNED_IGNORABLE)
def test_installed_paths_and_link_targets_refuse_unassigned_ignorables(char: str) -> None:
    """Invariant: no wheel installs a path, or a symlink to a target, that looks like another
    name (`ls` shows "evil.py" for "ev<U+E0002>il.py")."""
    with pytest.raises(PathClashError):
        PathLedger().claim(WHEEL, f"{SITE}/ev{char}il.py", "file")
    assert link_problem(f"{SITE}/evil.py", f"ev{char}il.py") is not None


@pytest.mark.parametrize("depth", [500, 200_000])
def test_deeply_nested_marker_is_an_invalid_requirement_not_a_recursion_error(depth: int) -> None:
    """Invariant: a wheel's Requires-Dist line is parsed or refused as not PEP 508 (what the
    resolver and fetch's METADATA check report), never a RecursionError that crashes them."""
    line = "x; " + "(" * depth + "python_version < '3'" + ")" * depth
    with pytest.raises(InvalidRequirement, match="nested"):
        requirement(line)
    assert requirement("x; " + "(" * 50 + "python_version < '3'" + ")" * 50).marker is not None


def test_a_requirements_file_with_a_deeply_nested_marker_is_a_problem_not_a_crash(
    tmp_path: Path,
) -> None:
    """Invariant: `init --from requirements.txt` reports every line it cannot read as a problem
    (a cloned project's file is not trusted), never a RecursionError."""
    path = tmp_path / "requirements.txt"
    path.write_text("x; " + "(" * 500 + "python_version < '3'" + ")" * 500 + "\n")
    with pytest.raises(ImportFileError) as caught:
        read_requirements(path)
    assert "nested" in caught.value.problems[0].message
