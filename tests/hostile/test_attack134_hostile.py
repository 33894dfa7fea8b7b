"""Attack 134: a classic-attack sweep (archive paths, whiteouts, links, generated text) in the
shapes earlier passes did not hold, each at its one enforcing function or through the CLI.

Findings (input: what mlenv did -> what it does now):

1. A base image layer member named ``/../opt`` (or ``../opt``, ``./../opt``) that is a
   symlink or a file: ``base_tree`` skipped a name that climbs above the root, but Go's
   ``filepath.Clean`` (moby, containerd) takes ``/..`` as ``/`` and containerd resolves a
   leading ``..`` inside the root, so every runtime puts it at ``/opt``. The prefix check
   passed a base whose ``/opt`` is a link (or whose prefix is filled) -> refused, as for
   ``opt``.
2. A whiteout of no name (``opt/.wh..``, ``/.wh...``, ``opt/.wh.``): ignored by the walk,
   while containerd refuses the layer and Docker deletes the directory (or its parent) ->
   the base is refused, naming the member.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.oci.base_tree import check_prefix
from mlenv.oci.model import OciError
from mlenv.oci.read import read_base
from tests.support.raw_layout import PLATFORM, RawMember, raw_layout

pytestmark = pytest.mark.hostile

PREFIX = "/opt/mlenv/x"


def _check(where: Path, *layers: list[RawMember]) -> None:
    raw_layout(where, layers)
    check_prefix(read_base(where, platform=PLATFORM), PREFIX)


# Spellings Go's filepath.Clean (and containerd's root-scoped resolution) land on the root.
_ROOTS = st.lists(st.sampled_from(["/", "./", "../", "/../", "/./", "//"]), min_size=1, max_size=5)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(climb=_ROOTS.map("".join), kind=st.sampled_from(["symlink", "file"]))
def test_a_member_climbing_above_the_root_lands_at_the_root(
    tmp_path_factory: pytest.TempPathFactory, climb: str, kind: str
) -> None:
    """Finding 1: ``/../opt`` is ``/opt`` to every runtime, so a link or file there is refused."""
    where = tmp_path_factory.mktemp("base") / "layout"
    target = "srv" if kind == "symlink" else ""
    with pytest.raises(OciError) as caught:
        _check(where, [(f"{climb}opt", kind, target)])
    assert "/opt as a " + ("symlink to srv" if kind == "symlink" else "file") in str(caught.value)


def test_a_filled_prefix_spelled_from_above_the_root_is_refused(tmp_path: Path) -> None:
    """Finding 1: files below the prefix named ``/../opt/mlenv/x/f`` fill the prefix."""
    with pytest.raises(OciError, match="already holds 1 entry"):
        _check(tmp_path / "base", [("opt", "dir", ""), ("/../opt/mlenv/x/f", "file", "")])


@pytest.mark.parametrize("name", ["opt/.wh..", ".wh...", "opt/.wh.", "/../opt/.wh.."])
def test_a_whiteout_of_no_name_is_refused(tmp_path: Path, name: str) -> None:
    """Finding 2: a whiteout whose name after ``.wh.`` is ``.``, ``..`` or empty."""
    with pytest.raises(OciError, match="a whiteout of no name") as caught:
        _check(tmp_path / "base", [("opt", "dir", "")], [(name, "file", "")])
    assert caught.value.hint


def test_names_clean_keeps_inside_the_root_still_pass(tmp_path: Path) -> None:
    """Holds: ``./opt/``, ``opt//mlenv``, ``etc/../opt`` and real whiteouts read as before."""
    _check(
        tmp_path / "base",
        [("./opt/", "dir", ""), ("etc/../opt/mlenv", "dir", ""), ("opt//old", "file", "")],
        [("opt/.wh.old", "file", ""), ("opt/mlenv/.wh..wh..opq", "file", "")],
    )
