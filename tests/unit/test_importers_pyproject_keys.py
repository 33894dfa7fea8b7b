"""Keys of a pyproject.toml that `mlenv init --from` once dropped without a word: Poetry's
allow-prereleases, pixi's workspace name and uv's exclude-newer."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.manifest_read import loads
from tests.support.cli import run_mlenv

POETRY = """\
[tool.poetry]
name = "poetry-project"
version = "0.1.0"

[tool.poetry.dependencies]
python = ">=3.11,<3.13"
numpy = ">=1.26"
torch = { version = ">=2.5", allow-prereleases = true }
"""


def init(tmp_path: Path, text: str, *extra: str) -> tuple[int, str]:
    """`mlenv init --from pyproject.toml` on ``text``: (exit status, stderr)."""
    (tmp_path / "pyproject.toml").write_text(text)
    done = run_mlenv(["init", "--from", "pyproject.toml", "--python", "3.12", *extra], tmp_path)
    return done.returncode, done.stderr


def test_poetry_allow_prereleases_keeps_the_default_with_a_note(tmp_path: Path) -> None:
    """Was: the opt-in was dropped without a word. "allow" would take every project's
    pre-releases, so the default stays and the note says how to lock one."""
    status, stderr = init(tmp_path, POETRY)
    assert status == 0, stderr
    manifest = loads((tmp_path / "mlenv.toml").read_text())
    assert manifest.pypi.prerelease == "fallback"
    flat = " ".join(stderr.split())
    assert "[tool.poetry.dependencies] torch" in flat
    assert "no per-package rule" in flat and '"pkg==2.0rc1"' in flat


def test_poetry_without_allow_prereleases_keeps_the_default(tmp_path: Path) -> None:
    text = POETRY.replace(", allow-prereleases = true", ", allow-prereleases = false")
    status, stderr = init(tmp_path, text)
    assert status == 0, stderr
    assert loads((tmp_path / "mlenv.toml").read_text()).pypi.prerelease != "allow"
    assert "allow-prereleases" not in stderr


PIXI = """\
[tool.pixi.TABLE]
name = "pixi-project"
channels = ["conda-forge"]
platforms = ["linux-64"]

[tool.pixi.dependencies]
python = "3.12.*"
"""


def test_the_pixi_workspace_name_names_the_environment(tmp_path: Path) -> None:
    """Was: a pyproject.toml named only by pixi got its directory's name."""
    for table in ("workspace", "project"):
        (tmp_path / "mlenv.toml").unlink(missing_ok=True)
        status, stderr = init(tmp_path, PIXI.replace("TABLE", table))
        assert status == 0, stderr
        assert loads((tmp_path / "mlenv.toml").read_text()).environment.name == "pixi-project"


def test_the_project_name_comes_before_pixis(tmp_path: Path) -> None:
    text = '[project]\nname = "own"\nversion = "1"\n' + PIXI.replace("TABLE", "workspace")
    status, stderr = init(tmp_path, text)
    assert status == 0, stderr
    assert loads((tmp_path / "mlenv.toml").read_text()).environment.name == "own"


UV = '[project]\nname = "p"\nversion = "1"\ndependencies = ["numpy"]\n\n[tool.uv]\nexclude-newer = '


def test_uv_exclude_newer_is_imported(tmp_path: Path) -> None:
    """Was: dropped, and the lock took whatever the indexes hold now."""
    status, stderr = init(tmp_path, UV + '"2025-06-01T00:00:00Z"\n')
    assert status == 0, stderr
    manifest = loads((tmp_path / "mlenv.toml").read_text())
    assert manifest.pypi.exclude_newer is not None
    assert manifest.pypi.exclude_newer.isoformat() == "2025-06-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ('"3 weeks"', "expected an RFC 3339 timestamp or a date"),
        ('"2025-06-01T00:00:00"', "a time without an offset"),
        ("2025-06-01T00:00:00", "is not a string"),  # TOML's own local date-time
        ("20250601", "is not a string"),
    ],
)
def test_an_exclude_newer_mlenv_refuses_is_refused_at_import(
    tmp_path: Path, value: str, said: str
) -> None:
    """Was: dropped without a word; writing it would only fail when the manifest is read."""
    status, stderr = init(tmp_path, UV + value + "\n")
    assert status != 0
    flat = " ".join(stderr.split())
    assert "[tool.uv] exclude-newer" in flat and said in flat
    assert 'exclude-newer = "2026-01-01T00:00:00Z"' in flat  # the hint
    assert not (tmp_path / "mlenv.toml").exists()


def test_poetry_2_allow_prereleases_on_a_project_dependency(tmp_path: Path) -> None:
    """Poetry 2 enriches a [project] dependency from its own table: the opt-in counts there."""
    text = (
        '[project]\nname = "p"\nversion = "1"\ndependencies = ["torch>=2.5"]\n\n'
        "[tool.poetry.dependencies]\ntorch = { allow-prereleases = true }\n"
    )
    status, stderr = init(tmp_path, text)
    assert status == 0, stderr
    assert "[tool.poetry.dependencies] torch" in " ".join(stderr.split())


def test_poetry_allow_prereleases_beside_uvs_disallow_keeps_uvs(tmp_path: Path) -> None:
    status, stderr = init(tmp_path, POETRY + '\n[tool.uv]\nprerelease = "disallow"\n')
    assert status == 0, stderr
    assert loads((tmp_path / "mlenv.toml").read_text()).pypi.prerelease == "disallow"
    assert "allow-prereleases" in stderr
