"""Attack 237: the files users bring to ``init --from``, in shapes their own tools read
differently from mlenv's importer.

- One project pinned twice under two spellings of its name (``foo-bar==1``, ``Foo_Bar==2``):
  uv, pip and pixi refuse the pair as unsatisfiable, and a requirements file was refused here
  too, but a pyproject.toml, an environment.yml ``pip:`` list or two pixi features wrote both
  pins into mlenv.toml. The rule now runs where every importer's problems are raised
  (``importers.core._Collector.check``).
- ``requires-python = 3.10`` (a TOML float, read as 3.1) or a date: uv and pip refuse the file;
  the importer dropped the Python range without a word (``importers.pyproject``).
- Two ``- pip:`` lists in an environment.yml: conda keeps the last alone (its
  ``Dependencies.parse`` updates one dict), the importer merged both, so mlenv installed
  packages conda never would (``importers.conda.read_environment_yml``).
- ``${TOKEN}`` or ``$TOKEN`` in a channel: conda (``os.path.expandvars``) and conda-lock put the
  variable's value there; the importer wrote the letters into mlenv.toml, another channel URL
  (``importers.conda._channels``), as a requirements file's ``${VAR}`` is refused.
- ``[tool.uv] environments`` that holds on no Linux target (a macOS-only project): uv resolves
  nothing for Linux, the importer wrote a Linux manifest (``importers.uv._environments``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.importers.core import ImportFileError
from mlenv.importers.files import import_file
from tests.support.cli import run_mlenv

pytestmark = pytest.mark.hostile

SECRET = "attack237-token-value"


def _refused(path: Path) -> list[str]:
    """The places the import of ``path`` blames (it must refuse)."""
    with pytest.raises(ImportFileError) as caught:
        import_file(path)
    return [problem.where for problem in caught.value.problems]


def _spellings() -> st.SearchStrategy[str]:
    """foo-bar as PEP 503 lets it be spelled: another case, other separators."""
    return st.builds(
        lambda upper, sep: f"{'Foo' if upper else 'foo'}{sep}{'BAR' if upper else 'bar'}",
        st.booleans(),
        st.sampled_from(["-", "_", ".", "--", "_-"]),
    )


FILES = {
    "pyproject.toml": '[project]\nname = "p"\nversion = "1"\n'
    'dependencies = ["{one}==1", "{two}==2"]\n',
    "environment.yml": "channels: [conda-forge]\ndependencies:\n  - python=3.11\n"
    "  - pip:\n    - {one}==1\n    - {two}==2\n",
    "pixi.toml": '[workspace]\nname = "p"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
    '[pypi-dependencies]\n"{one}" = "==1"\n[feature.gpu.pypi-dependencies]\n"{two}" = "==2"\n'
    '[environments]\ndefault = ["gpu"]\n',
}


@pytest.mark.parametrize("name", sorted(FILES))
@settings(max_examples=15, deadline=None)
@given(one=_spellings(), two=_spellings())
def test_one_project_pinned_twice_is_refused_in_every_format(
    tmp_path_factory: pytest.TempPathFactory, name: str, one: str, two: str
) -> None:
    path = tmp_path_factory.mktemp("p") / name
    path.write_text(FILES[name].format(one=one, two=two))
    blamed = _refused(path)
    assert len(blamed) == 1, blamed


def test_a_project_pin_and_a_tool_pixi_pin_that_no_version_meets_are_refused(
    tmp_path: Path,
) -> None:
    """Before (a review of this attack): ``[project]`` and ``[tool.pixi]`` were read by two
    collectors, so ``requests==2.31.0`` beside pixi's ``==2.32.0`` were both written."""
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[project]\nname = "p"\nversion = "1"\ndependencies = ["requests==2.31.0"]\n'
        '[tool.pixi.workspace]\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        '[tool.pixi.pypi-dependencies]\nrequests = "==2.32.0"\n'
    )
    assert len(_refused(path)) == 1


@pytest.mark.parametrize("value", ["3.10", "3", "2024-01-01", '[">=3.10"]', "{ min = 3 }"])
def test_requires_python_that_is_not_a_string_is_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        f'[project]\nname = "p"\nversion = "1"\nrequires-python = {value}\ndependencies = []\n'
    )
    assert _refused(path) == [f"{path}: [project] requires-python"]


def test_a_second_pip_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "environment.yml"
    path.write_text(
        "channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip:\n    - numpy\n"
        "  - scipy\n  - pip:\n    - torch\n"
    )
    assert _refused(path) == [f"{path}: dependencies[3]"]


@pytest.mark.parametrize(
    "channel",
    [
        "https://user:${ATTACK237_TOKEN}@conda.example/chan",
        "https://conda.example/t/$ATTACK237_TOKEN/chan",
        "${ATTACK237_CHANNEL}",
    ],
)
def test_a_variable_in_a_channel_is_refused_and_its_value_never_written(
    tmp_path: Path, channel: str
) -> None:
    (tmp_path / "environment.yml").write_text(
        f"channels:\n  - conda-forge\n  - {channel}\ndependencies:\n  - python=3.11\n"
    )
    env = {"ATTACK237_TOKEN": SECRET, "ATTACK237_CHANNEL": f"https://{SECRET}@c.example/x"}
    done = run_mlenv(["init", "--from", "environment.yml", "--name", "p"], tmp_path, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "environment.yml: channels[1]: conda would put the environment variable" in done.stderr
    assert not (tmp_path / "mlenv.toml").exists()
    assert SECRET not in done.stdout + done.stderr


def test_a_variable_in_a_conda_lock_channel_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "conda-lock.yml"
    path.write_text(
        "version: 1\nmetadata:\n  platforms: [linux-64]\n  channels:\n"
        "    - url: https://${USER}:${PASS}@conda.example/chan\n      used_env_vars: [USER, PASS]\n"
        "package: []\n"
    )
    assert f"{path}: metadata.channels[0]" in _refused(path)


def test_a_feature_left_out_is_named_once_per_group(tmp_path: Path) -> None:
    """A feature with an environment of its own name: ``--group cpu``, said once."""
    path = tmp_path / "pixi.toml"
    path.write_text(
        '[workspace]\nname = "p"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        '[feature.cpu.dependencies]\nnumpy = "*"\n[environments]\ncpu = ["cpu"]\n'
    )
    (note,) = [n for n in import_file(path).notes if "no selected environment" in n]
    assert note.endswith("cpu (--group cpu)"), note


@pytest.mark.parametrize(
    "environments", ["[\"sys_platform == 'darwin'\"]", "\"sys_platform == 'win32'\""]
)
def test_a_uv_project_for_no_linux_target_is_refused(tmp_path: Path, environments: str) -> None:
    """uv resolves only where ``environments`` holds: a macOS-only project is not for Linux."""
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[project]\nname = "p"\nversion = "1"\ndependencies = ["numpy"]\n'
        f"[tool.uv]\nenvironments = {environments}\n"
    )
    assert _refused(path) == [f"{path}: [tool.uv] environments"]
