"""Rules of `mlenv init --from` that real projects' files (tests/support/data/realworld_imports)
showed wrong, each at the one place it lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.errors import ProblemsError
from mlenv.importers.files import import_file


@pytest.mark.parametrize(
    ("spec", "minor"),
    [("3.12*", "3.12"), ("3.12.*", "3.12"), ("3.12", "3.12"), ("=3.10", "3.10"),
     ("3.11.4", "3.11"), (">=3.8", None), ("<=3.10", None)],
)  # fmt: skip
def test_pixi_python_glob_names_its_minor(tmp_path: Path, spec: str, minor: str | None) -> None:
    """pixi's own example (examples/pypi-find-links) pins ``python = "3.12*"``: that is
    3.12.x to conda and rattler, so the manifest is for 3.12 (it was 3.11, the default, which
    the file's python pin excludes). A range names no one minor."""
    (tmp_path / "pixi.toml").write_text(
        '[workspace]\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        f'[dependencies]\npython = "{spec}"\n'
    )
    assert import_file(tmp_path / "pixi.toml").python == minor


def test_environment_yml_python_glob_names_its_minor(tmp_path: Path) -> None:
    """The same conda spec in an environment.yml (``python=3.12*``) is read by the same rule."""
    (tmp_path / "environment.yml").write_text(
        "channels: [conda-forge]\ndependencies:\n  - python=3.12*\n"
    )
    assert import_file(tmp_path / "environment.yml").python == "3.12"


def _poetry(tmp_path: Path, dependencies: str, sources: str = "") -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[tool.poetry]\nname = "src"\nversion = "0.1.0"\n\n[tool.poetry.dependencies]\n'
        f'python = ">=3.11,<3.12"\n{dependencies}\n{sources}'
    )
    return path


PYPI_PRIMARY = '[[tool.poetry.source]]\nname = "PyPI"\npriority = "primary"\n'
CU117 = (
    '[[tool.poetry.source]]\nname = "torch"\n'
    'url = "https://download.pytorch.org/whl/cu117"\npriority = "explicit"\n'
)


def test_poetry_tables_by_platform_from_one_source_are_read(tmp_path: Path) -> None:
    """A real Poetry file lists torch once per platform, each table from ``source =
    "pypi"``: one source on every platform, so each table becomes a marker line (it was
    refused as "takes its sources by marker"). PyPI is the primary index: no [pypi] source."""
    torch = (
        'torch = [\n  {version = "^2.5.1", source = "pypi", "platform" = "win32"},\n'
        '  {version = "^2.5.1", source = "pypi", "platform" = "linux"},\n'
        '  {version = "^2.5.1", source = "pypi", "platform" = "darwin", '
        "markers = \"platform_machine == 'arm64'\" },\n]\n"
    )
    imported = import_file(_poetry(tmp_path, torch, PYPI_PRIMARY + CU117))
    assert imported.pypi == (
        'torch>=2.5.1,<3.0.0; sys_platform == "win32"',
        'torch>=2.5.1,<3.0.0; sys_platform == "linux"',
        "torch>=2.5.1,<3.0.0; (platform_machine == 'arm64') and sys_platform == \"darwin\"",
    )
    assert imported.sources == ()
    assert imported.index_url in (None, "https://pypi.org/simple")


def test_poetry_pypi_source_behind_another_primary_is_named(tmp_path: Path) -> None:
    """``source = "pypi"`` where another source is primary: mlenv would ask that one first."""
    mirror = '[[tool.poetry.source]]\nname = "corp"\nurl = "https://corp.example/simple"\n'
    with pytest.raises(ProblemsError) as caught:
        import_file(_poetry(tmp_path, 'torch = {version = "^2.5.1", source = "pypi"}', mirror))
    [problem] = caught.value.problems
    assert problem.where.endswith("[tool.poetry.dependencies] torch")
    assert "comes from PyPI only" in problem.message and "'corp'" in problem.message
    assert problem.hint is not None and "primary" in problem.hint


def test_poetry_tables_by_platform_take_the_linux_tables_source(tmp_path: Path) -> None:
    """A real pattern: torch from the CUDA source on Linux, from PyPI on macOS. Only the Linux
    table holds on mlenv's targets, so its explicit source is torch's [pypi] source (it was
    refused as "takes its sources by marker"); the macOS line stays, false on Linux."""
    torch = (
        'torch = [\n  {version = "^2.0.1", source = "torch", '
        "markers = \"sys_platform == 'linux'\"},\n"
        '  {version = "^2.0.1", source = "PyPI", markers = "sys_platform == \'darwin\'"},\n]\n'
    )
    imported = import_file(_poetry(tmp_path, torch, PYPI_PRIMARY + CU117))
    assert imported.sources == (("torch", "https://download.pytorch.org/whl/cu117"),)
    assert imported.pypi == (
        "torch>=2.0.1,<3.0.0; (sys_platform == 'linux')",
        "torch>=2.0.1,<3.0.0; (sys_platform == 'darwin')",
    )


@pytest.mark.parametrize(
    ("second", "said"),
    [("markers = \"platform_machine == 'aarch64'\"", "true on linux-aarch64 and false on linux-64"),
     ('platform = "linux"', "2 tables for torch hold on Linux, from different sources")],
)  # fmt: skip
def test_poetry_tables_that_split_linux_are_refused(tmp_path: Path, second: str, said: str) -> None:
    """A table true on some Linux targets only, or two Linux tables from different sources:
    mlenv's [pypi] sources hold on every platform, so the key is named with what to keep."""
    torch = (
        'torch = [\n  {version = "^2.0.1", source = "torch", platform = "linux"},\n'
        f'  {{version = "^2.0.1", source = "pypi", {second}}},\n]\n'
    )
    with pytest.raises(ProblemsError) as caught:
        import_file(_poetry(tmp_path, torch, PYPI_PRIMARY + CU117))
    [problem] = caught.value.problems
    assert problem.where.endswith("[tool.poetry.dependencies] torch")
    assert said in problem.message and problem.hint == "keep one table, for Linux"


@pytest.mark.parametrize(
    ("name", "text"),
    [("requirements.txt", "torch>=2.2.0+cu121\n"),
     ("pyproject.toml", '[tool.poetry]\nname = "p"\n[tool.poetry.dependencies]\n'
      'torch = {version = "^2.2.0+cu121", source = "cu"}\n[[tool.poetry.source]]\nname = "cu"\n'
      'url = "https://download.pytorch.org/whl/cu121"\npriority = "explicit"\n')],
)  # fmt: skip
def test_local_label_in_a_range_says_what_to_write(tmp_path: Path, name: str, text: str) -> None:
    """Poetry's ``^2.2.0+cu121`` (common in real GPU projects) is ``>=2.2.0+cu121``, which
    PEP 440 refuses: the problem now says to pin the build or drop the label (it had no hint)."""
    (tmp_path / name).write_text(text)
    with pytest.raises(ProblemsError) as caught:
        import_file(tmp_path / name)
    [problem] = caught.value.problems
    assert "Local version label" in problem.message
    assert problem.hint is not None and "torch==2.2.0+cu121" in problem.hint
