"""Attack 241: an adversary of attack 237's importer fixes, from both sides.

Over-refusal: real files name one project twice legitimately (under disjoint markers, once in
the dependencies and once in an extra, ``foo`` beside ``foo[extra]``, a requirement with an
agreeing constraint, a pixi feature beside the default one). pip, uv and pixi install each of
these; a refusal would be as bad as a silent drop. These held (``test_*_still_imports``).

Under-refusal and blame, found:
- An unquoted YAML number or boolean in an environment.yml dependency, its ``pip:`` list or a
  conda-lock version (``1.10`` is the float 1.1, ``yes`` is True): ``str()`` imported another
  spec or version (``foo ==1.1`` for 1.10). conda's MatchSpec and conda-lock's schema refuse a
  non-string; so does the importer now, with the quoting hint (``importers.conda._text``).
- A uv URL or git source under a marker that splits mlenv's Linux targets was blamed on the
  marker, whose fix left a source mlenv cannot lock: the source is named now
  (``importers.uv._holding``).
- ``[tool.uv] environments`` holding on one Linux platform only (a Jetson project) wrote a
  linux-64 manifest uv never resolved, and ``required-environments`` naming aarch64 beside
  x86_64 was dropped, so aarch64 wheels went unchecked: the manifest's platforms are now the
  ones uv's lock covers, and its Python one ``environments`` admits (a 3.11 manifest was
  written for a project uv resolves for 3.12 and later only) (``importers.uv._environments``).
- A pyproject.toml's ``[tool.pixi.dependencies] python = ">=3.12"`` without requires-python
  was dropped (a 3.11 manifest), as a pixi.toml's is not (``importers.pyproject``).
- pixi's ``[pypi-options.dependency-overrides]`` was dropped without a word: they are mlenv's
  ``[pypi] overrides`` now (``importers.pixi._overrides``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.importers.core import ImportFileError
from mlenv.importers.files import import_file
from tests.support.cli import run_mlenv

pytestmark = pytest.mark.hostile


def _problems(path: Path) -> list[tuple[str, str, str | None]]:
    with pytest.raises(ImportFileError) as caught:
        import_file(path)
    return [(p.where, p.message, p.hint) for p in caught.value.problems]


PROJECT = '[project]\nname = "p"\nversion = "1"\n'

LEGITIMATE = {
    # torch per machine, as GPU projects pin it (x86_64 CUDA build, aarch64 another release)
    "pyproject.toml": PROJECT + "dependencies = [\"torch==2.5.1; platform_machine == 'x86_64'\", "
    "\"torch==2.4.1; platform_machine == 'aarch64'\", \"numpy==1.26.4; python_version < '3.12'\", "
    '"numpy==2.1.0; python_version >= \'3.12\'", "accelerate", "accelerate[testing]>=1.0"]\n'
    '[project.optional-dependencies]\ngpu = ["accelerate==1.2.0", "torch==2.5.1; '
    "platform_machine == 'x86_64'\"]\n",
    "requirements.txt": "-c constraints.txt\nnumpy==1.26.4\ntransformers[torch]\n"
    "transformers>=4.40\ntorch==2.5.1+cu124\n",
    "pixi.toml": '[workspace]\nname = "p"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
    '[pypi-dependencies]\nnumpy = ">=1.26"\n[feature.gpu.pypi-dependencies]\nnumpy = "==1.26.4"\n'
    '[dependencies]\npython = "3.11.*"\n[feature.gpu.dependencies]\npython = "3.11.9"\n'
    '[environments]\ndefault = ["gpu"]\n',
}


@pytest.mark.parametrize("name", sorted(LEGITIMATE))
def test_one_project_named_twice_legitimately_still_imports(tmp_path: Path, name: str) -> None:
    """Held: pip, uv and pixi install every one of these files."""
    (tmp_path / "constraints.txt").write_text("numpy==1.26.4\ntorch==2.5.1\n")
    path = tmp_path / name
    path.write_text(LEGITIMATE[name])
    imported = import_file(path, ("gpu",) if name == "pyproject.toml" else ())
    assert imported.pypi, imported


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("  - python=3.11\n  - 1.10\n", "dependencies[1]"),
        ("  - python=3.11\n  - yes\n", "dependencies[1]"),
        ("  - python=3.11\n  - pip:\n    - 2.0\n", "dependencies[1].pip[0]"),
    ],
)
def test_an_unquoted_yaml_number_in_environment_yml_is_refused(
    tmp_path: Path, text: str, where: str
) -> None:
    path = tmp_path / "environment.yml"
    path.write_text(f"channels: [conda-forge]\ndependencies:\n{text}")
    ((blamed, message, hint),) = _problems(path)
    assert blamed == f"{path}: {where}"
    assert "unquoted" in message
    assert hint is not None and "quote" in hint


def test_an_unquoted_conda_lock_version_is_refused_not_read_as_another(tmp_path: Path) -> None:
    """``version: 1.10`` was pinned as ``foo ==1.1``, another release."""
    path = tmp_path / "conda-lock.yml"
    path.write_text(
        "version: 1\nmetadata:\n  platforms: [linux-64]\n  channels: [{url: conda-forge}]\n"
        "package:\n  - {name: foo, version: 1.10, platform: linux-64, manager: conda,\n"
        "     url: https://conda.example/linux-64/foo-1.10-0.conda, hash: {}}\n"
    )
    ((blamed, message, _),) = _problems(path)
    assert blamed == f"{path}: package[0].version"
    assert "1.1" in message


@pytest.mark.parametrize(
    "source",
    [
        '{ url = "https://github.com/o/r/releases/download/v1/flash_attn-2.7.4-cp311-cp311-'
        'linux_x86_64.whl", marker = "platform_machine == \'x86_64\'" }',
        '{ git = "https://github.com/o/flash-attention", marker = "python_version >= \'3.12\'" }',
    ],
)
def test_a_url_source_under_a_splitting_marker_is_blamed_on_the_source(
    tmp_path: Path, source: str
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        f'{PROJECT}dependencies = ["flash-attn"]\n[tool.uv.sources]\nflash-attn = {source}\n'
    )
    ((blamed, message, hint),) = _problems(path)
    assert blamed == f"{path}: [tool.uv.sources] flash-attn"
    assert "which mlenv cannot lock" in message
    assert hint is not None and "publish it to an index" in hint


@pytest.mark.parametrize(
    ("uv", "platforms"),
    [
        (
            "environments = [\"sys_platform == 'linux' and platform_machine == 'aarch64'\"]",
            ("linux-aarch64",),
        ),
        (
            "required-environments = [\"sys_platform == 'linux' and platform_machine == "
            "'aarch64'\", \"sys_platform == 'linux' and platform_machine == 'x86_64'\"]",
            ("linux-64", "linux-aarch64"),
        ),
        (
            "environments = [\"sys_platform == 'linux'\", \"sys_platform == 'darwin'\"]\n"
            "required-environments = [\"sys_platform == 'darwin'\"]",
            (),
        ),
    ],
)
def test_uv_environments_decide_the_platforms(
    tmp_path: Path, uv: str, platforms: tuple[str, ...]
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(f'{PROJECT}dependencies = ["numpy"]\n[tool.uv]\n{uv}\n')
    assert import_file(path).platforms == platforms


def test_a_jetson_only_uv_project_gets_an_aarch64_manifest(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        f'{PROJECT}dependencies = ["numpy"]\n[tool.uv]\n'
        "environments = [\"sys_platform == 'linux' and platform_machine == 'aarch64'\"]\n"
    )
    done = run_mlenv(["init", "--from", "pyproject.toml", "--name", "p"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'platforms = ["linux-aarch64"]' in (tmp_path / "mlenv.toml").read_text()


def test_pixi_dependency_overrides_are_kept_as_overrides(tmp_path: Path) -> None:
    """pixi's ``[pypi-options.dependency-overrides]`` (a feature's too) was dropped without a
    word, so the lock took the versions the file overrides away."""
    path = tmp_path / "pixi.toml"
    path.write_text(
        '[workspace]\nname = "p"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        '[pypi-dependencies]\ntorch = "*"\n[pypi-options.dependency-overrides]\nnumpy = ">=2.0"\n'
        '[feature.gpu.pypi-options.dependency-overrides]\ntriton = { version = ">=3.3" }\n'
        '[environments]\ndefault = ["gpu"]\n'
    )
    assert import_file(path).overrides == ("numpy>=2.0", "triton>=3.3")
    path.write_text(
        path.read_text() + '[feature.gpu.pypi-options.dependency-overrides.foo]\nversion = "*"\n'
        'index = "https://download.pytorch.org/whl/cu124"\n'
    )
    ((blamed, _, hint),) = _problems(path)
    assert blamed.endswith("dependency-overrides foo")
    assert hint is not None and "[pypi] sources" in hint


@pytest.mark.parametrize(
    "tail",
    [
        # uv resolves only for 3.12 and later: a 3.11 manifest locks what uv never resolved
        "[tool.uv]\nenvironments = [\"sys_platform == 'linux' and python_version >= '3.12'\"]\n",
        # pixi's python spec in pyproject.toml, no requires-python: the range was dropped
        '[tool.pixi.workspace]\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        '[tool.pixi.dependencies]\npython = ">=3.12"\n',
    ],
)
def test_the_python_the_projects_tool_resolves_for_is_the_manifests(
    tmp_path: Path, tail: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(f'{PROJECT}dependencies = ["numpy"]\n{tail}')
    done = run_mlenv(["init", "--from", "pyproject.toml", "--name", "p"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'python = "3.12"' in (tmp_path / "mlenv.toml").read_text()
