"""Attack 216: mlenv's resolver against ``uv pip compile`` (0.13.9) and pip on shapes the
random worlds of ``tests/support/uv_worlds`` and attacks 197 and 214 leave out: wheel build
tags and several wheels of one version (``cp311`` vs ``abi3`` vs ``py3-none-any`` vs
``manylinux_2_28`` vs ``manylinux2014`` vs ``linux_x86_64``), an index page's
``data-requires-python`` disagreeing with the wheel's METADATA, Requires-Python at the
3.11 target's patch edge, markers on unknown or non-version values, PEP 685 extras, pre-release
selection, find-links beside an index, sdist-only versions and non-normalised filenames.

About 460 hand cases (190 of them pairs of tags on one release) agreed but for one rule
where mlenv was wrong: a wheel whose METADATA says ``Requires-Python: >=3.12`` was locked for
3.11 when its index page said ``data-requires-python=">=3.8"``, since the METADATA was judged
only where the page said nothing; pip (which refuses to install it) and uv take the older
release that runs. ``tests/support/uv_page_worlds`` found it in 5 of seeds 216000-216299;
after the fix 900 worlds (216000-216499, 316000-316399) gave none. The other differences are
mlenv siding with pip or the PEPs: ``linux_x86_64`` ranked last (README), ``>=3.11.0.post1``
refusing 3.11.0 (README), a find-links wheel of the same filename as the index's (pip takes
the index's, uv the find-links one), a page Requires-Python refusing the best wheel only (pip
takes the release's other wheel, uv the older release), upper-case tags (``PY3-NONE-ANY``,
pip takes them), ``manylinux_2_028`` (pip refuses), ``python_version === "3.11"`` (PEP 508
has ``===``; uv refuses it), ``extra == ""`` on a root and ``extra < "y"`` (packaging's
reading), ``~=`` on a non-version (PEP 508: an error) and a METADATA whose name or version
contradicts its filename (refused by design).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from mlenv.index.http import HttpClient
from mlenv.locking import lock_manifest
from mlenv.locking_sources import open_sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from tests.support.peers import clean_env, pins_of, tool
from tests.support.uv_page_worlds import mlenv_page_pins, page_refusals, page_world_of, uv_page_pins
from tests.support.uv_worlds import problems
from tests.support.wheels import build_wheel, write_simple_index


def _index(root: Path, wheels: list[tuple[str, bytes]], edit: Callable[[str], str]) -> str:
    """A file:// PEP 503 index of ``wheels`` whose page of ``a`` is passed through ``edit``."""
    url = write_simple_index(root, wheels)
    page = root / "simple" / "a" / "index.html"
    edited = edit(page.read_text())
    assert edited != page.read_text(), "the edit must change the page"
    page.write_text(edited)
    return url


def _mlenv(url: str, roots: list[str], work: Path) -> dict[str, str]:
    manifest = loads(
        '[environment]\nname = "w"\npython = "3.11"\nplatforms = ["linux-64"]\n'
        f'glibc = "2.28"\n[pypi]\nindex-url = "{url}"\ndependencies = {json.dumps(roots)}\n'
    )
    sources = open_sources(manifest, HttpClient(), None, work)
    lock = lock_manifest(manifest, sources, reporter=MemoryReporter())
    return {str(canonicalize_name(p.name)): p.version for _, p in lock.packages()}


def _uv(url: str, roots: list[str], work: Path) -> dict[str, str]:
    (work / "r.in").write_text("".join(f"{root}\n" for root in roots))
    subprocess.run(
        [tool("uv"), "pip", "compile", str(work / "r.in"), "-o", str(work / "r.txt"),
         "--no-cache", "--quiet", "--no-header", "--python-version", "3.11",
         "--python-platform", "x86_64-manylinux_2_28", "--no-build", "--index-url", url],
        env=clean_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return pins_of((work / "r.txt").read_text())


@pytest.mark.parametrize(
    ("wheel_says", "page_says", "pinned"),
    [
        (">=3.12", ">=3.8", "1.0"),  # the wheel refuses 3.11: the page's looser range is wrong
        (">=3.8", ">=3.12", "1.0"),  # the page's refusal stands as before
        ("~=3", ">=3.8", "1.0"),  # ~=3 alone is no specifier: unreadable, passed over
        (">=3.6.*", ">=3.8", "2.0"),  # the slip real wheels carry, read as uv reads it
        (">=3.8", ">=3.9", "2.0"),
    ],
)
def test_a_wheels_requires_python_counts_when_its_page_says_another(
    wheel_says: str, page_says: str, pinned: str, tmp_path: Path
) -> None:
    """Before: the wheel's METADATA Requires-Python was judged only where the page gave no
    ``data-requires-python``, so ``a 2.0`` (METADATA ``>=3.12``, page ``>=3.8``) was locked
    for CPython 3.11; pip's resolver reads the installed METADATA and refuses it, and uv (run
    here too) takes ``a 1.0``. Now both ranges must admit the target."""
    wheels = [build_wheel("a", "1.0"), build_wheel("a", "2.0", requires_python=wheel_says)]
    published = f'data-requires-python="{wheel_says.replace(">", "&gt;")}"'
    url = _index(
        tmp_path / "index",
        wheels,
        lambda page: page.replace(
            published, f'data-requires-python="{page_says.replace(">", "&gt;")}"'
        ),
    )
    assert _mlenv(url, ["a"], tmp_path) == {"a": pinned}
    assert _uv(url, ["a"], tmp_path) == {"a": pinned}


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_over_pages_that_disagree_with_their_wheels_mlenv_pins_only_what_runs(
    seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Protects the Requires-Python of page and METADATA together, build tags and respelt
    extras over the random worlds: mlenv's pins meet every requirement and both ranges, and
    it refuses a world only where uv finds no solution either."""
    page = page_world_of(seed)
    work = tmp_path_factory.mktemp("pages")
    reference = uv_page_pins(page, work)
    try:
        pins = mlenv_page_pins(page, work)
    except ResolutionError as error:
        assert reference is None, f"uv resolved {page.world.roots} to {reference}; mlenv: {error}"
        return
    assert problems(page.world, pins) + page_refusals(page, pins) == []
    assert reference is not None, f"mlenv resolved {page.world.roots} to {pins}; uv found none"
