"""Attack 185: a pylock.toml as ``pip lock`` writes it (no ``index``, each wheel's URL only)
from a private index. ``init --from`` took PyPI as the index for every entry, so ``mlenv lock``
would fetch a same-named project from PyPI instead of the locked file (dependency confusion).
It is refused now, naming the package and the file; a wheel on PyPI's file host still imports
with PyPI as its index, and a wheel given by a ``file:`` URL with its directory as find-links."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.importers.core import ImportFileError
from mlenv.importers.files import import_file

pytestmark = pytest.mark.hostile

SHA = "0" * 64


def _pip_style(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "pylock.toml"
    path.write_text(
        'lock-version = "1.0"\ncreated-by = "pip"\n[[packages]]\nname = "internal"\n'
        f'version = "1.0"\n[[packages.wheels]]\nname = "internal-1.0-py3-none-any.whl"\n'
        f'url = "{url}"\n[packages.wheels.hashes]\nsha256 = "{SHA}"\n'
    )
    return path


def test_a_wheel_off_pypi_with_no_index_is_refused(tmp_path: Path) -> None:
    path = _pip_style(tmp_path, "https://pkgs.corp.invalid/files/internal-1.0-py3-none-any.whl")
    with pytest.raises(ImportFileError) as refused:
        import_file(path)
    [problem] = refused.value.problems
    assert problem.where == f"{path}: package internal"
    assert "names no index" in problem.message and "not on PyPI" in problem.message


def test_a_wheel_on_pypis_file_host_imports_from_pypi(tmp_path: Path) -> None:
    url = "https://files.pythonhosted.org/packages/ab/cd/internal-1.0-py3-none-any.whl"
    imported = import_file(_pip_style(tmp_path, url))
    assert imported.pypi == ("internal==1.0",) and imported.index_url == "https://pypi.org/simple"
    assert imported.find_links == ()


def test_a_file_url_wheel_makes_its_directory_a_find_links_one(tmp_path: Path) -> None:
    wheels = tmp_path / "my wheels"
    wheels.mkdir()
    imported = import_file(_pip_style(tmp_path, f"{wheels.as_uri()}/internal-1.0-py3-none-any.whl"))
    assert imported.find_links == (str(wheels),) and imported.pypi == ("internal==1.0",)
