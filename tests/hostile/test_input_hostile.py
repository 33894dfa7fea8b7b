"""Input: the manifest and lock parsers fuzzed, files that are not UTF-8, huge or nested
without end. Every input parses or gives an MlenvError whose problems say where; the CLI
answers exit 1 with a message, never a traceback."""

from __future__ import annotations

import copy
import datetime
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlenv import inputs, lockfile_read, manifest_read
from mlenv.errors import MlenvError
from mlenv.limits import MAX_IMPORTED_REQUIREMENTS
from tests.support.cli import run_mlenv
from tests.support.golden import GOLDEN, golden_project

pytestmark = pytest.mark.hostile

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "mlenv.toml.example").read_text()
GOLDEN_LOCK = (GOLDEN / "mlenv.lock").read_text()
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

Loader = Callable[[str, str], object]


def parses_or_says_where(load: Loader, text: str) -> None:
    try:
        load(text, "fuzz.toml")
    except MlenvError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.where.startswith("fuzz.toml"), problem
        error.render()


def _toml(document: dict[str, Any]) -> str:
    try:
        return tomlkit.dumps(document)
    except (ValueError, TypeError, KeyError):  # a shape tomlkit cannot write
        assume(False)
        raise


SCALARS = (
    st.text(max_size=12)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.dates()
    | st.sampled_from(["3.11", "12.4", "550.54.14", "linux-64", "sm_80", "numpy>=1", "auto"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The key path of every value inside a decoded TOML document."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _nodes(item, (*path, index))
    return found


def _edited(original: str) -> st.SearchStrategy[str]:
    """A valid file with a few values replaced, removed or added, so that parsing succeeds and
    the validation behind it is reached with wrong types, missing keys and odd values."""
    base = tomllib.loads(original)

    @st.composite
    def edit(draw: st.DrawFn) -> str:
        document = copy.deepcopy(base)
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(_nodes(document)))
            parent = document
            for key in path[:-1]:
                parent = parent[key]
            action = draw(st.sampled_from(["replace", "remove", "add"]))
            if action == "replace":
                parent[path[-1]] = draw(VALUES)
            elif action == "remove":
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.text(max_size=8))] = draw(VALUES)
        return _toml(document)

    return edit()


def _mutated(original: str) -> st.SearchStrategy[str]:
    """A valid file with a slice replaced by random text: almost valid is where parsers slip."""

    @st.composite
    def mutate(draw: st.DrawFn) -> str:
        start = draw(st.integers(0, len(original)))
        end = draw(st.integers(start, min(len(original), start + 40)))
        return original[:start] + draw(st.text(max_size=20)) + original[end:]

    return mutate()


# Wrong types and edge values, each put in place of every value of a valid file in turn.
ODD_VALUES: list[Any] = [
    "",
    "x",
    "2.x",
    0,
    -1,
    2**63 - 1,
    True,
    1.5,
    datetime.date(1979, 5, 27),
    [],
    ["x", 1],
    {},
    {"a": {"b": [{}]}},
]


@pytest.mark.parametrize(
    ("load", "original"),
    [(manifest_read.loads, EXAMPLE), (lockfile_read.loads, GOLDEN_LOCK)],
    ids=["manifest", "lock"],
)
def test_every_value_replaced_or_removed_in_turn(load: Loader, original: str) -> None:
    """The systematic half of the fuzzing: every single edit, not a random sample of them."""
    base = tomllib.loads(original)
    for path in _nodes(base):
        for value in [*ODD_VALUES, None]:  # None: the key removed
            document = copy.deepcopy(base)
            parent = document
            for key in path[:-1]:
                parent = parent[key]
            if value is None:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
            parses_or_says_where(load, tomlkit.dumps(document))


@FUZZ
@given(st.text())
def test_manifest_parser_on_any_text(text: str) -> None:
    parses_or_says_where(manifest_read.loads, text)


@FUZZ
@given(_edited(EXAMPLE))
def test_manifest_parser_on_an_edited_example(text: str) -> None:
    parses_or_says_where(manifest_read.loads, text)


@FUZZ
@given(_mutated(EXAMPLE))
def test_manifest_parser_on_a_damaged_example(text: str) -> None:
    parses_or_says_where(manifest_read.loads, text)


@FUZZ
@given(st.text())
def test_lock_parser_on_any_text(text: str) -> None:
    parses_or_says_where(lockfile_read.loads, text)


@FUZZ
@given(_edited(GOLDEN_LOCK))
def test_lock_parser_on_an_edited_lock(text: str) -> None:
    parses_or_says_where(lockfile_read.loads, text)


@FUZZ
@given(_mutated(GOLDEN_LOCK))
def test_lock_parser_on_a_damaged_lock(text: str) -> None:
    parses_or_says_where(lockfile_read.loads, text)


def _refused(result: Any, says: str) -> None:
    assert result.returncode == 1, result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


@pytest.mark.parametrize(
    "args", [["lock", "--check"], ["fetch"], ["build", "--offline"], ["verify"]], ids=" ".join
)
def test_a_lock_that_is_not_utf8(tmp_path: Path, args: list[str]) -> None:
    project = golden_project(tmp_path / "project")
    path = project / "mlenv.lock"
    path.write_bytes(path.read_bytes().replace(b'"hello"', b'"h\xe9llo"'))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    _refused(run_mlenv(args, project, env), "error: mlenv.lock: cannot read the lock")


def test_a_bundle_whose_lock_is_not_utf8(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "mlenv.lock").write_bytes(b"\xff\xfe")
    _refused(run_mlenv(["verify", "--bundle", str(bundle)], tmp_path), "not a bundle")


def test_a_huge_manifest_is_refused_at_once(tmp_path: Path) -> None:
    text = '[environment]\nname = "x"\npython = "3.11"\n# ' + "x" * 50_000_000 + "\n"
    (tmp_path / "mlenv.toml").write_text(text)
    result = run_mlenv(["show"], tmp_path, timeout=30)
    _refused(result, "too big to be a manifest")
    assert f"{len(text)} characters, over the limit of 1048576" in result.stderr


def test_a_manifest_just_under_the_limit_is_read_in_seconds(tmp_path: Path) -> None:
    """The most dependencies an array may hold, filling the manifest's size: checking them
    for duplicates must not be quadratic."""
    head = '[environment]\nname = "x"\npython = "3.11"\n[pypi]\ndependencies = [\n'
    count = MAX_IMPORTED_REQUIREMENTS
    width = (inputs.MAX_MANIFEST_CHARS - len(head) - 16) // count - len('"p",\n') - 5
    names = [f'"p{i:05d}{"x" * width}",\n' for i in range(count)]
    (tmp_path / "mlenv.toml").write_text(head + "".join(names) + "]\n")
    result = run_mlenv(["show"], tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"pypi         {len(names)} requirement(s)" in result.stdout


NESTINGS = {
    "arrays": "[" * 10_000 + "]" * 10_000,
    "inline-tables": "{a = " * 10_000 + "1" + "}" * 10_000,
}


@pytest.mark.parametrize("nesting", NESTINGS.values(), ids=NESTINGS.keys())
def test_deeply_nested_manifest(tmp_path: Path, nesting: str) -> None:
    (tmp_path / "mlenv.toml").write_text(
        f'[environment]\nname = "x"\npython = "3.11"\nx = {nesting}\n'
    )
    _refused(run_mlenv(["show"], tmp_path), "nested too deeply")


@pytest.mark.parametrize("nesting", NESTINGS.values(), ids=NESTINGS.keys())
def test_deeply_nested_lock(tmp_path: Path, nesting: str) -> None:
    project = Path(shutil.copytree(GOLDEN, tmp_path / "project"))
    (project / "mlenv.lock").write_text(f"version = 1\nx = {nesting}\n")
    _refused(run_mlenv(["lock", "--check"], project), "nested too deeply")
