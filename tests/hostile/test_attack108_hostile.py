"""Hundred-and-eighth adversary pass: ``[pypi] overrides`` read a replaced requirement's
marker by its parsed parts, not its text.

An extra may be named ``extra``. ``b; extra == "extra"`` is optional for that extra, so an
override of b keeps it there (uv's rule); mlenv compared the marker's two sides as text, found
them equal, read the line as a base requirement and locked b for everyone.
"""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlenv.overrides import counts, top_extras
from tests.support.cli import run_mlenv
from tests.support.pypi_settings import locked_pins, settings_project


def test_an_extra_named_extra_stays_optional_under_an_override() -> None:
    overridden = {canonicalize_name("b")}
    for text in ('b; extra == "extra"', 'b; "extra" == extra'):
        requirement = Requirement(text)
        assert top_extras(requirement.marker) == {"extra"}, text
        assert not counts(requirement, overridden, True), text  # not for the base
        assert counts(requirement, overridden, True, ("extra",)), text


def test_lock_leaves_out_a_dependency_of_an_extra_named_extra(tmp_path: Path) -> None:
    project = settings_project(
        tmp_path,
        [("a", "1.0", ['b; extra == "extra"']), ("b", "1.0", [])],
        'dependencies = ["a"]\noverrides = ["b>=1"]\n',
    )
    result = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    assert locked_pins(project) == {"a": "1.0"}
