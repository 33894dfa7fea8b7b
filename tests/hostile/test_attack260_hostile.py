"""Attack 260: one project pinned twice where markers or constraints hide the contradiction.

Real requirement files pin torch (or numpy) for Linux beside an unmarked pin of another
release, or for the Pythons below 3.12 beside one for all; uv projects bound a dependency by a
``constraint-dependencies`` entry that contradicts it. pip and uv refuse such a pair where both
apply; ``init --from`` wrote both lines into mlenv.toml and left the failure to ``mlenv lock``:
- a marker true on every Linux target (``sys_platform == "linux"``, ``platform_system !=
  "Windows"``, ``os_name == "posix"``) read as another condition than none, so the pair was
  never compared (``importers.pins.conflicting_pins`` judges markers on mlenv's targets);
- a pair colliding on some targets only (``python_version < "3.12"`` beside no marker) was
  written for a 3.11 manifest; it is refused naming the manifest's targets where both apply,
  and imports for a manifest where they do not (``importers.pins.clashes``);
- uv's constraints were not compared with the dependencies at all, and two ranges whose bounds
  leave no version (``numpy>=2`` beside the constraint ``numpy<2``) were never refused
  (``importers.pins._room``: only what the bounds prove, whatever an index holds).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from mlenv.importers import pins as pins_module
from mlenv.importers.core import ImportFileError
from mlenv.importers.files import import_file
from mlenv.importers.pins import clashes, conflicting_pins
from mlenv.target import Target
from tests.support.cli import run_mlenv

pytestmark = pytest.mark.hostile

PROJECT = '[project]\nname = "p"\nversion = "1"\n'


def _refused(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(ImportFileError) as caught:
        import_file(path)
    return [(p.where, p.message) for p in caught.value.problems]


@pytest.mark.parametrize(
    "marker", ['sys_platform == "linux"', "platform_system != 'Windows'", 'os_name == "posix"']
)
def test_a_pin_under_a_marker_true_on_every_linux_target_collides_with_an_unmarked_one(
    tmp_path: Path, marker: str
) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(f"torch==2.6.0\nnumpy\ntorch==2.5.1; {marker}\n")
    ((where, message),) = _refused(path)
    assert where == f"{path}:3"
    assert f"torch==2.6.0 at {path}:1" in message and "no version is both" in message


def test_a_pin_colliding_for_the_manifests_python_only_is_refused_for_that_manifest(
    tmp_path: Path,
) -> None:
    (tmp_path / "requirements.txt").write_text(
        "numpy==1.26.4; python_version < '3.12'\nnumpy==2.1.0\n"
    )
    refused = run_mlenv(["init", "--from", "requirements.txt"], tmp_path)
    assert refused.returncode == 1 and not (tmp_path / "mlenv.toml").exists()
    assert "requirements.txt:2: numpy==2.1.0 contradicts" in refused.stderr
    assert "requirements.txt:1" in refused.stderr
    assert "where both apply: on linux-64 Python 3.11" in refused.stderr
    written = run_mlenv(["init", "--from", "requirements.txt", "--python", "3.12"], tmp_path)
    assert written.returncode == 0, written.stderr
    assert "numpy==2.1.0" in (tmp_path / "mlenv.toml").read_text()


def test_a_pin_colliding_with_two_per_machine_pins_is_refused_on_either_machine() -> None:
    """Each machine's collision is kept, not only the first found: an aarch64 manifest is
    refused too, naming the aarch64 line."""
    read = [
        ("r:1", Requirement("numpy==1.26.4; platform_machine == 'x86_64'")),
        ("r:2", Requirement("numpy==1.24.4; platform_machine == 'aarch64'")),
        ("r:3", Requirement("numpy==2.1.0")),
    ]
    collisions = conflicting_pins(read)
    for platform, line in (("linux-64", "r:1"), ("linux-aarch64", "r:2")):
        (problem,) = clashes(collisions, [Target(platform, "3.11")])
        assert problem.where == "r:3" and f"at {line}:" in problem.message


def test_a_uv_constraint_no_pinned_dependency_meets_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        PROJECT + 'dependencies = ["torch==2.6.0"]\n[tool.uv]\n'
        "constraint-dependencies = [\"torch<2.6; sys_platform == 'linux'\"]\n"
    )
    ((where, message),) = _refused(path)
    assert where == f"{path}: [tool.uv] constraint-dependencies[0]"
    assert f"torch==2.6.0 at {path}: [project] dependencies[0]" in message


@pytest.mark.parametrize(
    ("dependency", "constraint"),
    [("numpy>=2", "numpy<2"), ("numpy>2.0", "numpy<=2"), ("numpy~=2.1", "numpy<2.1")],
)
def test_a_uv_constraint_whose_bounds_leave_no_version_is_refused(
    tmp_path: Path, dependency: str, constraint: str
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        PROJECT + f'dependencies = ["{dependency}"]\n[tool.uv]\n'
        f'constraint-dependencies = ["{constraint}"]\n'
    )
    ((where, message),) = _refused(path)
    assert where == f"{path}: [tool.uv] constraint-dependencies[0]"
    assert f"contradicts {dependency}" in message


def test_pairs_that_meet_on_every_target_still_import(tmp_path: Path) -> None:
    """Guards against over-refusal (passes before the fix too): disjoint machines, a pin for
    macOS only, an agreeing local label, ranges that touch, a constraint for older Pythons."""
    path = tmp_path / "requirements.txt"
    path.write_text(
        "torch==2.5.1; platform_machine == 'x86_64'\ntorch==2.4.1; platform_machine == "
        "'aarch64'\nscipy==1.10.0; sys_platform == 'darwin'\nscipy==1.14.1\n"
        "jax==0.4.30+cuda12; sys_platform == 'linux'\njax==0.4.30\n"
        "numpy>=1.26,<=2.0\nnumpy>=2.0\n"
    )
    assert len(import_file(path).pypi) == 8
    project = tmp_path / "pyproject.toml"
    project.write_text(
        PROJECT + 'requires-python = ">=3.12"\ndependencies = ["numpy==2.1.0"]\n[tool.uv]\n'
        "constraint-dependencies = [\"numpy<2; python_version < '3.12'\"]\n"
    )
    assert run_mlenv(["init", "--from", "pyproject.toml"], tmp_path).returncode == 0


_VERSIONS = ["1.0", "1.5", "2.0", "2.0.1", "2.1", "3.0"]
_POOL = [
    f"{base}{suffix}"
    for base in ("0.9", "1", "1.5", "1.9", "2", "2.0.1", "2.1", "2.5", "3", "4")
    for suffix in ("", ".dev0", "rc1", ".post1", "+local", ".0.1")
]
_SPEC = st.tuples(st.sampled_from(["<", "<=", ">", ">=", "~=", "!="]), st.sampled_from(_VERSIONS))


@given(st.lists(_SPEC, min_size=1, max_size=3), st.lists(_SPEC, min_size=1, max_size=3))
def test_two_ranges_are_refused_only_when_no_version_meets_both(
    one: list[tuple[str, str]], other: list[tuple[str, str]]
) -> None:
    """Sound against brute force over a pool of versions with pre, post, dev and local
    parts; and complete where two plain bounds cross (``>=V`` beside ``<V``)."""
    first, second = (",".join(op + v for op, v in specs) for specs in (one, other))
    refused = conflicting_pins([("a", Requirement(f"p{first}")), ("b", Requirement(f"p{second}"))])
    both = SpecifierSet(first) & SpecifierSet(second)
    if refused:
        assert not [v for v in _POOL if both.contains(v, prereleases=True)], (first, second)
    low, high = one[0][1], other[0][1]
    crossed = [
        ("a", Requirement(f"p>={max(low, high)}")),
        ("b", Requirement(f"p<{min(low, high)}")),
    ]
    assert conflicting_pins(crossed)


@pytest.mark.parametrize(
    "spelling",
    [
        lambda i: f"x==1.0; python_full_version != '3.8.{i}'",  # one pin, markers true everywhere
        lambda i: f"x=={'1.0' if i % 2 else '1.0.0'}; python_full_version != '3.8.{i}'",
    ],
    ids=["markers", "markers-and-zeros"],
)
def test_lines_alike_where_they_apply_are_compared_once(
    monkeypatch: pytest.MonkeyPatch, spelling: Callable[[int], str]
) -> None:
    """A read-only adversary: 1,200 pins alike under as many markers each compared with every
    earlier one (62x the time for 8x the lines). Counted, not timed: the pair rule's
    comparisons stay flat as the lines grow."""
    calls = 0
    agree = pins_module._agree

    def counted(one: Any, other: Any) -> bool:
        nonlocal calls
        calls += 1
        return agree(one, other)

    monkeypatch.setattr(pins_module, "_agree", counted)
    lines = [("requirements.txt", Requirement(spelling(i))) for i in range(400)]
    assert conflicting_pins(lines) == []
    assert calls <= 1
