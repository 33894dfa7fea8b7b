"""Attack 174: Poetry per-platform tables, conda Python globs, declared non-sha256 digests and
the new limits, each merged just before.

Findings (input: what mlenv did -> what it does now):

- ``markers = "sys_platform == 'darwin') or (sys_platform == 'linux'"`` (no marker: Poetry
  refuses it): wrapped in parentheses it became one, true on Linux, so the table's source
  became torch's [pypi] source; joined to ``python = ...`` the ``or`` changed what the line
  means -> refused naming the key.
- ``python = "*"`` on a dependency table (Poetry's own default, common): written as ``()``,
  refused as "not a PEP 508 requirement" -> no Python clause, as Poetry means.
- A bare string beside a Linux table in a per-platform list: counted as holding on Linux with
  no source, yet ignored when sources were compared, so the Linux table's source was dropped
  and torch came from PyPI -> "tables ... from different sources".
- ``extras = "opt"`` (a string, not Poetry's list): written ``torch[o,p,t]`` -> refused.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mlenv.errors import ProblemsError
from mlenv.importers.core import import_file
from mlenv.importers.manifest import manifest_text

SOURCES = (
    '[[tool.poetry.source]]\nname = "PyPI"\npriority = "primary"\n'
    '[[tool.poetry.source]]\nname = "torch"\n'
    'url = "https://download.pytorch.org/whl/cu121"\npriority = "explicit"\n'
)
DARWIN = '{version = "^2.0.1", source = "pypi", markers = "sys_platform == \'darwin\'"}'


def _poetry(tmp_path: Path, torch: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[tool.poetry]\nname = "src"\nversion = "0.1.0"\n\n[tool.poetry.dependencies]\n'
        f'python = ">=3.11,<3.12"\ntorch = {torch}\n{SOURCES}'
    )
    return path


def _problem(tmp_path: Path, torch: str) -> str:
    with pytest.raises(ProblemsError) as caught:
        import_file(_poetry(tmp_path, torch))
    problems = caught.value.problems
    assert all("[tool.poetry.dependencies] torch" in problem.where for problem in problems)
    return " | ".join(problem.message for problem in problems)


@pytest.mark.parametrize(
    "marker",
    ["sys_platform == 'darwin') or (sys_platform == 'linux'",
     "sys_platform == 'darwin') or ('1' == '1",
     "sys_platform == 'linux'\\n",
     "sys_platform == 'linux')",
     "(sys_platform == 'linux'"],
)  # fmt: skip
def test_a_markers_text_that_is_no_marker_alone_is_refused(tmp_path: Path, marker: str) -> None:
    """Only a marker Poetry reads alone counts: parentheses around it must not complete it."""
    torch = f'[{{version = "^2.0.1", source = "torch", markers = "{marker}"}}, {DARWIN}]'
    assert "is not a PEP 508 environment marker" in _problem(tmp_path, torch)


def test_a_markers_text_cannot_change_what_a_python_key_means(tmp_path: Path) -> None:
    """``a') or ('b`` joined to a ``python`` clause by ``and`` bound only its second half."""
    torch = (
        '{version = "^2.0.1", markers = "sys_platform == \'darwin\') or (sys_platform == '
        '\'linux\'", python = ">=3.12"}'
    )
    assert "is not a PEP 508 environment marker" in _problem(tmp_path, torch)


@pytest.mark.parametrize("listed", [True, False])
def test_python_star_is_no_python_clause(tmp_path: Path, listed: bool) -> None:
    """``python = "*"`` is every Python: no clause, and the written manifest reads back."""
    linux = (
        '{version = "^2.0.1", source = "torch", python = "*", '
        "markers = \"sys_platform == 'linux'\"}"
    )
    imported = import_file(_poetry(tmp_path, f"[{linux}, {DARWIN}]" if listed else linux))
    assert imported.sources == (("torch", "https://download.pytorch.org/whl/cu121"),)
    assert imported.pypi[0] == "torch>=2.0.1,<3.0.0; (sys_platform == 'linux')"
    text = manifest_text(
        imported, name="x", python="3.11", cuda=None, source="mlenv.toml", base=tmp_path
    )
    assert tomllib.loads(text)["pypi"]["dependencies"][0] == imported.pypi[0]


@pytest.mark.parametrize("bare", ['"^2.0.1"', "5", "true"])
def test_a_bare_value_beside_the_linux_table_does_not_drop_its_source(
    tmp_path: Path, bare: str
) -> None:
    """A non-table holds everywhere with no source: two Linux sources, not a silent PyPI."""
    torch = f'[{bare}, {{version = "^2.0.1", source = "torch", platform = "linux"}}]'
    assert "2 tables for torch hold on Linux, from different sources" in _problem(tmp_path, torch)


@pytest.mark.parametrize("extras", ['"opt"', "{opt = true}", "1"])
def test_extras_that_are_not_a_list_are_refused(tmp_path: Path, extras: str) -> None:
    """A string was read one extra per character (``torch[o,p,t]``)."""
    torch = f'{{version = "^2.0.1", source = "torch", extras = {extras}}}'
    assert "is not a list" in _problem(tmp_path, torch)


@pytest.mark.parametrize(
    ("marker", "holds"),
    [("sys_platform != 'darwin'", True), ("platform_system == 'Linux'", True),
     ("sys_platform == 'linux' or sys_platform == 'win32'", True),
     ("sys_platform == 'win32'", False)],
)  # fmt: skip
def test_linux_tables_by_any_marker_spelling_are_found(
    tmp_path: Path, marker: str, holds: bool
) -> None:
    """Held: negations, ``platform_system`` and ``or`` are judged on the targets, not by text."""
    torch = f'[{{version = "^2.0.1", source = "torch", markers = "{marker}"}}, {DARWIN}]'
    imported = import_file(_poetry(tmp_path, torch))
    assert bool(imported.sources) is holds
