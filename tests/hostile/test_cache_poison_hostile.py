"""Invariant 2 end to end: two projects share MLENV_CACHE_DIR; a hostile index locked by one
must not change what `mlenv lock` resolves for the other."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.poisoned_index import SHAPES, honest_and_poisoned

pytestmark = pytest.mark.hostile


def project(root: Path, index_url: str) -> Path:
    root.mkdir()
    (root / "mlenv.toml").write_text(
        f'[environment]\nname = "p"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{index_url}"\ndependencies = ["lib"]\n'
    )
    return root


def locked(root: Path, env: dict[str, str]) -> set[str]:
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    return {pkg.name for _, pkg in load_lock((root / "mlenv.lock").read_text()).packages()}


@pytest.mark.parametrize("json_page", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_lock_against_b_never_sees_metadata_index_a_supplied(
    tmp_path: Path, shape: str, json_page: bool
) -> None:
    """Protects invariant 2 through the CLI: index A claims B's wheel sha256 for a lib whose
    metadata (in the wheel, in an unhashed or a self-hashed .metadata file) requires evil; after
    locking against A in a shared cache, a lock against B still resolves lib alone."""
    url_a, url_b = honest_and_poisoned(tmp_path, shape, json_page=json_page)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "shared-cache")}
    assert locked(project(tmp_path / "uses-a", url_a), env) == {"lib", "evil"}
    assert locked(project(tmp_path / "uses-b", url_b), env) == {"lib"}
