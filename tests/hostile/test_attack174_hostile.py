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
- A page fragment ``#md5=GOOD&md5=BAD`` (or BAD first): only the first claim was checked (pip
  checks the first, uv the last) -> every stated value is checked, the file refused.
- ``#sha256=A&sha256=B`` with a size stated: the last was pinned unmeasured, the first never
  compared -> no pin; the file is measured and refused naming the sha256 it contradicts.
- METADATA whose lines end in a lone ``\r`` (the email parser's line end too): the line bound
  counted ``\n`` only; 13 MB of ``X-A: b\r`` held 414 MB for 32 s of CPU (64 MB, the body
  bound, is ~2 GB per prefetch thread) -> every line end counts, refused unread.
- boto3 (1,800 releases, each pinning one botocore) beside aiobotocore's botocore pin: the
  resolver backtracks through boto3, checking ~4 clauses against 1,900 botocore files each
  time; the specifier budget counted every clause and refused it at 10 million ("no real index
  comes near this"), where main before the bound resolved it -> a check's first 16 clauses are
  free; the budget bounds long ranges (attack 168's shapes are still refused).
- A Poetry dependency listed as 20,000 per-platform tables (2 MB): 6.5 s of marker judging
  and 20,000 manifest lines (a 16 MB file: ~50 s), where a requirements file stops at
  MAX_IMPORTED_REQUIREMENTS -> the same bound, counted before a list is judged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from mlenv import limits
from mlenv.errors import ProblemsError
from mlenv.importers import poetry as poetry_module
from mlenv.importers.files import import_file
from mlenv.importers.manifest import manifest_text
from mlenv.index import CoreMetadata, IndexFile, MemoryIndex, PackageIndexError
from mlenv.index.model import parse_core_metadata
from mlenv.index.pages import parse_html
from mlenv.limits import LimitError
from mlenv.locking_facts import artifact_facts
from mlenv.report import MemoryReporter
from mlenv.resolver import provider as provider_module
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.huge_project import HugeProject, wheels_of
from tests.support.wheels import build_wheel

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


FILENAME, DATA = build_wheel("demo", "1.0")
RIGHT = {a: hashlib.new(a, DATA).hexdigest() for a in ("md5", "sha1", "sha256", "sha512")}
WRONG = {a: hashlib.new(a, b"another file").hexdigest() for a in RIGHT}


def _facts(fragment: str) -> dict[str, tuple[str, int]]:
    """What a lock records for the demo wheel listed on an HTML page with ``fragment``; the
    index states its size, so a sha256 taken from the page is pinned unmeasured."""
    memory = MemoryIndex(wheels={FILENAME: DATA})
    [held] = memory.files(canonicalize_name("demo"))
    [link] = parse_html(f'<a href="https://h.example/f/{FILENAME}#{fragment}">x</a>',
                        "https://h.example/simple/demo/")  # fmt: skip
    listed = dataclasses.replace(held, sha256=link.sha256, size=len(DATA), declared=link.declared)
    return artifact_facts(memory, [listed], MemoryReporter())


@pytest.mark.parametrize(
    "fragment",
    [f"md5={RIGHT['md5']}&md5={WRONG['md5']}", f"md5={WRONG['md5']}&md5={RIGHT['md5']}",
     f"sha256={RIGHT['sha256']}&sha256={WRONG['sha256']}",
     f"sha256={WRONG['sha256']}&sha256={RIGHT['sha256']}",
     f"sha256={RIGHT['sha256'].upper()}&sha256={WRONG['sha256']}",
     f"egg=demo&sha1={RIGHT['sha1']}&sha512={WRONG['sha512']}",
     f"sha512={RIGHT['sha512']}&md5={WRONG['md5'].upper()}",
     # no digest at all (attack 236): pip refuses the download, uv the page
     f"md5={WRONG['md5'][:-1]}", f"md5=%20{WRONG['md5']}", f"sha256={RIGHT['sha256']}#x",
     # a blake2b, as uv checks it (attack 242)
     f"sha256={RIGHT['sha256']}&blake2b={WRONG['sha256']}"],
)  # fmt: skip
def test_every_value_a_page_states_must_hold(fragment: str) -> None:
    with pytest.raises(PackageIndexError) as info:
        _facts(fragment)
    assert "hash to" in info.value.message and FILENAME in info.value.message


@pytest.mark.parametrize(
    "fragment",
    [f"md5={RIGHT['md5'].upper()}", f"md5={RIGHT['md5']}&md5={RIGHT['md5'].upper()}",
     "md5=", f"blake2s={WRONG['md5']}", f"sha3_256={WRONG['sha256']}",
     f"sha256={RIGHT['sha256']}&sha256=", f"egg=demo&md5={RIGHT['md5']}&&sha1={RIGHT['sha1']}"],
)  # fmt: skip
def test_claims_that_hold_or_are_no_claim_lock(fragment: str) -> None:
    """Held: case, a repeated equal value, an empty value or unknown digests (no claim)."""
    [(sha256, size)] = _facts(fragment).values()
    assert (sha256, size) == (RIGHT["sha256"], len(DATA))


def _metadata(end: bytes, lines: int, mixed: bool = False) -> bytes:
    """METADATA of ``lines`` lines ending in ``end``; ``mixed``: every other one in ``\n``."""
    rows = [b"Metadata-Version: 2.1", b"Name: app", b"Version: 1.0"]
    rows += [b"X-A: b"] * (lines - len(rows))
    ends = [b"\n" if mixed and i % 2 else end for i in range(len(rows))]
    return b"".join(row + line_end for row, line_end in zip(rows, ends, strict=True))


@pytest.mark.parametrize(("end", "mixed"), [(b"\r", False), (b"\r\n", False), (b"\r", True)])
def test_metadata_lines_count_by_every_line_end(end: bytes, mixed: bool) -> None:
    """A lone ``\r`` (alone or every other line) ends a line for the email parser."""
    over = _metadata(end, limits.MAX_METADATA_LINES + 10, mixed)
    with pytest.raises(LimitError, match="lines of METADATA") as info:
        parse_core_metadata(over, where="app-1.0.whl")
    assert info.value.where == "app-1.0.whl"


@pytest.mark.parametrize(("end", "mixed"), [(b"\r", False), (b"\r\n", False), (b"\r", True)])
def test_metadata_under_the_bound_is_read_with_any_line_end(end: bytes, mixed: bool) -> None:
    assert parse_core_metadata(_metadata(end, 1_000, mixed), where="w").name == "app"


class _Backtracking(HugeProject):
    """app needs boto3 and aiobotocore; aiobotocore pins botocore 1.5; boto3 1.i pins botocore
    1.i, so every boto3 newer than 1.5 is tried and backtracked (pip's boto3 case)."""

    def __init__(self, releases: int, clauses: int = 2) -> None:
        super().__init__(0)
        self.clauses = clauses
        self._files = {
            name: wheels_of(self.url, name, [f"1.{i}.0" for i in range(count)])
            for name, count in (("app", 1), ("aiobotocore", 1), ("boto3", releases),
                                ("botocore", releases + 100))
        }  # fmt: skip

    def files(self, project: NormalizedName) -> tuple[IndexFile | None, ...]:
        return self._files.get(project, ())

    def metadata(self, file: IndexFile) -> CoreMetadata:
        i = file.version.release[1]
        extra = ",".join(f"!=1.{i}.{n + 1}" for n in range(self.clauses - 2))
        requires = {
            "app": ("boto3", "aiobotocore"),
            "aiobotocore": ("botocore>=1.5.0,<1.6.0",),
            "boto3": (f"botocore>=1.{i}.0,<1.{i + 1}.0{',' if extra else ''}{extra}",),
        }.get(file.name, ())
        return CoreMetadata(file.name, file.version, requires, None, ())


def _pins(index: _Backtracking) -> set[tuple[str, str]]:
    result = resolve([Requirement("app")], Target("linux-64", "3.11", "2.28"), index,  # type: ignore[arg-type]
                     reporter=MemoryReporter())  # fmt: skip
    return {(str(p.name), str(p.version)) for p in result.pins}


def test_backtracking_through_short_ranges_spends_no_specifier_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """~300 x 400 checks of 3-4 clauses each: refused at a budget of 100 before, free now (the
    real budget refused the same shape at 1,800 releases, 17 s of a real resolution)."""
    monkeypatch.setattr(provider_module, "MAX_SPECIFIER_WORK", 100)
    assert ("boto3", "1.5.0") in _pins(_Backtracking(300))


def test_ranges_past_the_free_clauses_still_spend_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same backtracking with ranges of FREE_CLAUSES + 20 clauses reaches the budget."""
    monkeypatch.setattr(provider_module, "MAX_SPECIFIER_WORK", 10_000)
    with pytest.raises(LimitError, match="specifier clauses evaluated"):
        _pins(_Backtracking(300, limits.FREE_CLAUSES + 20))


@pytest.mark.parametrize("listed", [True, False])
def test_poetry_lines_stop_at_the_imported_requirements_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listed: bool
) -> None:
    """Six tables in one list, or six keys, past a bound of 5 (10,000 for real): refused before
    any is judged; five are read."""
    monkeypatch.setattr(poetry_module, "MAX_IMPORTED_REQUIREMENTS", 5)
    table = '{version = "^2.0.1", markers = "sys_platform == \'m%d\'"}'
    for count, refused in ((5, False), (6, True)):
        if listed:
            body = "torch = [" + ", ".join(table % i for i in range(count)) + "]\n"
        else:
            body = "".join(f'p{i} = "^1.0"\n' for i in range(count))
        path = tmp_path / "pyproject.toml"
        path.write_text(
            '[tool.poetry]\nname = "src"\nversion = "0.1.0"\n\n[tool.poetry.dependencies]\n'
            f'python = ">=3.11,<3.12"\n{body}'
        )
        if not refused:
            assert len(import_file(path).pypi) == count
            continue
        with pytest.raises(LimitError, match="requirements: more than 5"):
            import_file(path)
