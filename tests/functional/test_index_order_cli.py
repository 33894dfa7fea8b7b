"""first-index asks the indexes in uv's order: every extra index as listed, then index-url
(``inputs.index_order``). Before, index-url was asked first: torch came from PyPI although the
manifest added the PyTorch index for it, and uv locked the PyTorch build."""

from __future__ import annotations

import tomllib
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from mlenv.inputs import index_order, manifest_indexes
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index


def _lock(tmp_path: Path, extras: list[str], default: str) -> dict[str, object]:
    root = tmp_path / "project"
    root.mkdir(exist_ok=True)
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "o"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{default}"\nextra-index-urls = {extras!r}\n'
        'dependencies = ["torch", "numpy"]\n'.replace("'", '"')
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    assert run_mlenv(["lock", "--check"], root, env).returncode == 0
    return tomllib.loads((root / "mlenv.lock").read_text())


def test_an_extra_index_supplies_what_it_lists_before_index_url(tmp_path: Path) -> None:
    # PyPI (index-url) has a higher torch; the extra index lists torch (a CUDA build) only
    pypi = write_simple_index(
        tmp_path / "pypi", [build_wheel("torch", "3.0"), build_wheel("numpy", "2.0")]
    )
    pytorch = write_simple_index(tmp_path / "pytorch", [build_wheel("torch", "2.7.0+cu128")])
    lock = _lock(tmp_path, [pytorch], pypi)
    entries = {p["name"]: p for p in lock["platform"]["linux-64"]["package"]}  # type: ignore[index]
    assert (entries["torch"]["version"], entries["torch"]["index"]) == ("2.7.0+cu128", pytorch)
    assert (entries["numpy"]["version"], entries["numpy"]["index"]) == ("2.0", pypi)
    assert lock["target"]["indexes"] == [pytorch, pypi]  # type: ignore[index]


def test_the_requirements_export_names_index_url_as_index_url(tmp_path: Path) -> None:
    """The lock records the indexes in the order they are asked; pip still gets the manifest's
    index-url as --index-url and the extras as --extra-index-url."""
    pypi = write_simple_index(
        tmp_path / "pypi", [build_wheel("torch", "3.0"), build_wheel("numpy", "2.0")]
    )
    extra = write_simple_index(tmp_path / "extra", [build_wheel("torch", "2.0")])
    _lock(tmp_path, [extra], pypi)
    root = tmp_path / "project"
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    out = run_mlenv(["export", "--format", "requirements"], root, env)
    assert out.returncode == 0, out.stderr
    assert f"--index-url {pypi}" in out.stdout and f"--extra-index-url {extra}" in out.stdout


urls = st.lists(st.sampled_from(["a", "b", "c", "d"]).map(lambda n: f"https://{n}/simple"),
                min_size=0, max_size=3)  # fmt: skip


@given(urls, st.sampled_from(["https://pypi.org/simple", "https://corp/simple"]))
def test_an_importers_priority_list_is_asked_in_its_order(extra: list[str], default: str) -> None:
    """``manifest_indexes`` writes another tool's priority list so that ``index_order`` asks
    it in that very order: the importers and the resolver share one rule."""
    priority = [*extra, default]
    assert list(index_order(*manifest_indexes(priority))) == priority
    assert manifest_indexes(list(index_order(default, extra))) == (default, tuple(extra))
