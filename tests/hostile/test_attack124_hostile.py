"""Attack 124: real project files from public ML repositories through `mlenv init --from` and
`mlenv show`, with the real CLI. Each input below is a real file, trimmed to what matters, its
source named beside it.

Findings (input: what mlenv did -> what it does now):

1. pixi's ``[target.linux.dependencies]`` and ``[target.unix.dependencies]`` (pixi's family
   selectors; pixi's own ``tests/data/pixi_tomls/many_targets.toml``): dropped, with the false
   note "[target.linux] is not for linux-64" -> imported for the Linux platforms, as pixi
   applies them (``TargetSelector::Linux`` / ``Unix`` match every linux-* subdir).
2. pixi's rich platforms (``platforms = [{ platform = "linux-64", cuda = "12.0" }]``, the form
   pixi's own PyTorch guide now writes, replacing ``[system-requirements]``): refused with
   "no Linux platform: [\"{'platform': 'linux-64', ...}\"]" -> the entry's ``platform`` is
   read, its ``cuda`` named in a note as ``[system-requirements] cuda`` is; a ``[target.NAME]``
   table naming the entry (or a ``*`` glob matching it) applies to it. Two entries of one
   Linux subdir (a CUDA and a CPU variant) are one platform to mlenv: imported when their
   dependencies agree (pixi's examples/multi-machine, whose variants differ in tasks only),
   refused naming the target table when a target tells them apart.
3. pixi's ``[workspace.pypi-options]`` (the workspace base every environment gets; pixi's own
   examples/pypi-find-links) was not read: its ``find-links = [{ path = "./links" }]`` and
   index were dropped without a word -> read, with the root ``[pypi-options]`` and then each
   selected feature's ``[feature.NAME.pypi-options]`` laid over it as pixi lays them (a
   single value replaced, lists merged): examples/pypi-custom-registry's ``--group
   alternative`` index was dropped too.
4. ``init --from pyproject.toml`` with ``[tool.pixi]`` tables (pixi's own PyTorch guide,
   docs/source_files/pyproject_tomls/pytorch-pypi.toml) said nothing of what pixi's reader
   left out ("only linux-64 of osx-arm64, linux-64, win-64 imported", "[tool.pixi.target.osx]
   is not for linux-64"): read_pyproject replaced pixi's notes with its own -> both said.
5. pixi's own docs write inline tables across lines (TOML 1.1, which pixi reads;
   docs/source_files/pixi_tomls/pytorch-pypi.toml): refused as "Invalid initial character
   for a key part", hint "check the file" -> the same refusal, its hint naming the table's
   line, TOML 1.1 and the fix (one line per inline table).
6. pixi environments that leave out the default feature (``no-default-feature = true``,
   pixi's examples/polarify ``lint``) were imported with it: ``--group lint`` wrote pip,
   polars, python and the default environment's test tools beside pre-commit -> only the
   environment's own features. An environment's own tables (``[environments.docs]
   dependencies = { mkdocs = "*" }``, pixi's docs) were refused as "no such feature or
   environment" -> read as the environment's own feature.
7. An environment.yml pinning a Python mlenv does not build for (lllyasviel/ControlNet's
   ``python=3.8.5``) was refused naming the unwritten manifest's ``[environment].python``,
   without a hint, and ``--python 3.10`` was refused as contradicting the file -> refused
   naming the file's entry (``dependencies[0]``), with the Pythons mlenv builds as the hint.
8. A pyproject.toml with no [project] table (NVIDIA/TransformerEngine, whose requirements live
   in setup.py; facebookresearch/dinov2, whose pyproject.toml holds only linters'
   settings): an empty manifest was written, exit 0, without a word -> refused, naming the
   file and the missing table, with the files that hold the requirements as the hint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import init_from as _init

pytestmark = pytest.mark.hostile


def _conda(manifest: dict[str, object]) -> list[str]:
    conda = manifest.get("conda")
    assert isinstance(conda, dict)
    return list(conda["dependencies"])


# prefix-dev/pixi tests/data/pixi_tomls/many_targets.toml (trimmed: two platforms)
MANY_TARGETS = """\
[project]
channels = ["conda-forge"]
name = "pixi"
platforms = ["linux-64", "win-64"]

[dependencies]
all = "*"

[target.linux-64.dependencies]
linux = "*"

[target.win-64.dependencies]
win = "*"

[target.linux.dependencies]
all_linux = "*"

[target.win.dependencies]
all_win = "*"

[target.osx.dependencies]
all_macos = "*"

[target.unix.dependencies]
all_unix = "*"
"""


def test_pixi_family_targets_apply_to_linux(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pixi.toml", MANY_TARGETS)
    assert code == 0, output
    assert _conda(manifest) == ["all *", "linux *", "all_linux *", "all_unix *"]
    assert "[target.linux] is not for" not in output
    assert "[target.unix] is not for" not in output
    assert "[target.win] is not for linux-64" in output  # the others are still named


def test_pixi_family_target_on_both_linux_platforms_needs_no_marker(tmp_path: Path) -> None:
    """``linux`` holds for linux-64 and linux-aarch64 alike: no per-platform conda dependency."""
    text = MANY_TARGETS.replace('["linux-64", "win-64"]', '["linux-64", "linux-aarch64"]')
    text = text.replace('[target.linux-64.dependencies]\nlinux = "*"\n', "")
    code, output, manifest = _init(tmp_path, "pixi.toml", text)
    assert code == 0, output
    assert {"all_linux *", "all_unix *"} <= set(_conda(manifest))
    assert manifest["environment"] == {**manifest["environment"],  # type: ignore[dict-item]
                                       "platforms": ["linux-64", "linux-aarch64"]}  # fmt: skip


# prefix-dev/pixi docs/source_files/pixi_tomls/pytorch-conda-forge.toml (after "Rich Platform
# support", #6178)
RICH_PYTORCH = """\
[workspace]
channels = ["https://prefix.dev/conda-forge"]
name = "pytorch-conda-forge"
platforms = [
  { platform = "linux-64", cuda = "12.0" },
  { platform = "win-64", cuda = "12.0" },
]

[dependencies]
pytorch-gpu = "*"
cuda-version = "12.6.*"
"""


def test_pixi_rich_platform_entries_are_read(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pixi.toml", RICH_PYTORCH)
    assert code == 0, output
    assert "no Linux platform" not in output
    assert manifest["environment"]["platforms"] == ["linux-64"]  # type: ignore[index]
    assert _conda(manifest) == ["pytorch-gpu *", "cuda-version 12.6.*"]
    assert "cuda = '12.0'" in output  # the driver's CUDA is named, as [system-requirements]'s
    assert manifest["cuda"]["version"] == "12.6"  # type: ignore[index]


# prefix-dev/pixi docs/workspace/multi_platform_configuration.md (a named rich platform), with
# the dependencies of docs/source_files/pixi_tomls/pytorch-conda-forge-envs.toml
RICH_NAMED = """\
[workspace]
channels = ["https://prefix.dev/conda-forge"]
name = "pytorch-conda-forge"
platforms = [
  "osx-arm64",
  { name = "linux-64-cuda", platform = "linux-64", cuda = "12.0" },
]

[target.linux-64-cuda.dependencies]
cuda-version = "12.6.*"
pytorch-gpu = "*"

[target."*-cuda".dependencies]
cudnn = "*"

[target.osx-arm64.dependencies]
pytorch-cpu = "*"
"""


def test_pixi_target_by_platform_name_or_glob_applies(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pixi.toml", RICH_NAMED)
    assert code == 0, output
    assert _conda(manifest) == ["cuda-version 12.6.*", "pytorch-gpu *", "cudnn *"]
    assert "[target.linux-64-cuda] is not for" not in output
    assert "[target.osx-arm64] is not for linux-64" in output


# prefix-dev/pixi docs/source_files/pixi_tomls/pytorch-conda-forge-envs.toml
RICH_VARIANTS = """\
[workspace]
channels = ["https://prefix.dev/conda-forge"]
name = "pytorch-conda-forge"
platforms = [
  { name = "linux-64-cuda", platform = "linux-64", cuda = "12.0" },
  { name = "linux-64-cpu", platform = "linux-64" },
]

[target.linux-64-cuda.dependencies]
cuda-version = "12.6.*"
pytorch-gpu = "*"

[target.linux-64-cpu.dependencies]
pytorch-cpu = "*"
"""


def test_pixi_two_variants_of_one_platform_are_refused_by_name(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pixi.toml", RICH_VARIANTS)
    assert code == 1, output
    assert manifest == {}
    assert "pixi.toml: [target.linux-64-cuda]: is for linux-64-cuda but not linux-64-cpu" in output
    assert "hint:" in output
    assert "Traceback" not in output


def test_pixi_target_naming_no_platform_is_refused(tmp_path: Path) -> None:
    """pixi refuses a target for a platform the workspace does not list; mlenv cannot tell
    which platform such a table is for, so it names it instead of dropping it."""
    text = RICH_NAMED.replace('[target."*-cuda"', '[target."*-gpu"')
    code, output, manifest = _init(tmp_path, "pixi.toml", text)
    assert code == 1, output
    assert manifest == {}
    assert "[target.*-gpu]" in output
    assert "hint:" in output


# NVIDIA/TransformerEngine transformer_engine/pytorch/pyproject.toml (requirements in setup.py)
TE_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61.0", "pip", "torch>=2.1"]

build-backend = "setuptools.build_meta:__legacy__"
"""

# facebookresearch/dinov2 pyproject.toml (trimmed; requirements in requirements.txt)
DINOV2_PYPROJECT = """\
[tool.black]
line-length = 120

[tool.pylint.master]
persistent = false
score = false
"""


@pytest.mark.parametrize("text", [TE_PYPROJECT, DINOV2_PYPROJECT], ids=["te", "dinov2"])
def test_pyproject_without_project_table_is_refused(tmp_path: Path, text: str) -> None:
    code, output, manifest = _init(tmp_path, "pyproject.toml", text)
    assert code == 1, output
    assert manifest == {}
    assert "pyproject.toml: [project]" in output
    assert "requirements" in output.partition("hint:")[2]


def test_pyproject_with_project_and_no_dependencies_still_imports(tmp_path: Path) -> None:
    """A [project] that lists no dependencies (and none dynamic) has none: PEP 621's meaning."""
    text = '[project]\nname = "sgm"\ndynamic = ["version"]\nrequires-python = ">=3.8"\n'
    code, output, manifest = _init(tmp_path, "pyproject.toml", text)
    assert code == 0, output
    assert manifest["pypi"]["dependencies"] == []  # type: ignore[index]


# prefix-dev/pixi examples/pypi-find-links/pixi.toml (trimmed)
FIND_LINKS = """\
[workspace]
channels = ["conda-forge"]
name = "pypi-find-links"
platforms = ["osx-arm64", "osx-64", "linux-64", "win-64"]

[workspace.pypi-options]
# This is similar to the --find-links option in pip
find-links = [{ path = "./links" }]
index-url = "https://pypi.org/simple"

[dependencies]
python = "3.12*"

[pypi-dependencies]
requests = "==2.31.0"
"""


def test_pixi_workspace_pypi_options_are_read(tmp_path: Path) -> None:
    (tmp_path / "links").mkdir()
    text = FIND_LINKS.replace("https://pypi.org/simple", "https://mirror.example/simple")
    code, output, manifest = _init(tmp_path, "pixi.toml", text)
    assert code == 0, output
    pypi = manifest["pypi"]
    assert pypi["find-links"] == ["links"]  # type: ignore[index]
    assert pypi["index-url"] == "https://mirror.example/simple"  # type: ignore[index]
    assert pypi["dependencies"] == ["requests==2.31.0"]  # type: ignore[index]


# prefix-dev/pixi examples/pypi-custom-registry/pixi.toml (trimmed)
CUSTOM_REGISTRY = """\
[workspace]
channels = ["conda-forge"]
name = "pypi-custom-registry"
platforms = ["osx-arm64", "osx-64", "linux-64", "win-64"]

[pypi-options]
index-url = "https://pypi.org/simple"

[dependencies]
python = "3.12"

[pypi-dependencies]
flask = "==3.0.3"

# This overrides the default index
[feature.alternative.pypi-options]
index-url = "https://pypi.tuna.tsinghua.edu.cn/simple/"
extra-index-urls = ["https://download.pytorch.org/whl/cu121"]

[feature.alternative.pypi-dependencies]
flask = "==3.0.3"

[environments]
alternative = { features = ["alternative"], no-default-feature = true }
"""


def test_pixi_feature_pypi_options_are_laid_over(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pixi.toml", CUSTOM_REGISTRY, "--group", "alternative")
    assert code == 0, output
    pypi = manifest["pypi"]
    assert pypi["index-url"] == "https://pypi.tuna.tsinghua.edu.cn/simple"  # type: ignore[index]
    assert pypi["extra-index-urls"] == ["https://download.pytorch.org/whl/cu121"]  # type: ignore[index]
    assert manifest["cuda"]["version"] == "12.1"  # type: ignore[index]
    # without the feature, the root [pypi-options] holds
    code, output, manifest = _init(tmp_path, "pixi.toml", CUSTOM_REGISTRY, "--force")
    assert code == 0, output
    assert manifest["pypi"]["index-url"] == "https://pypi.org/simple"  # type: ignore[index]
    assert manifest["pypi"]["extra-index-urls"] == []  # type: ignore[index]


# prefix-dev/pixi examples/multi-machine/pixi.toml (trimmed): two linux-64 variants whose
# targets differ in tasks only
MULTI_MACHINE = """\
[workspace]
channels = ["conda-forge"]
name = "multi-machine"
platforms = [
  { name = "cuda-win-64", platform = "win-64", cuda = "12" },
  "win-64",
  { name = "cuda-linux-64", platform = "linux-64", cuda = "12" },
  "linux-64",
  { platform = "osx-arm64", macos = "13.5" },
]

[dependencies]
python = ">=3.13.13,<4"
pytorch = ">=2.10.0,<3"

[target.cuda-linux-64.tasks]
train = "python train.py --cuda"

[target.osx.dependencies]
mlx = ">=0.20,<0.21"
"""


def test_pixi_variants_with_the_same_dependencies_import(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pixi.toml", MULTI_MACHINE, "--python", "3.13")
    assert code == 0, output
    assert manifest["environment"]["platforms"] == ["linux-64"]  # type: ignore[index]
    assert _conda(manifest) == ["python >=3.13.13,<4", "pytorch >=2.10.0,<3"]
    # the CUDA variant's driver CUDA floors the CUDA target (pass 130), the CPU variant named
    assert "cuda-linux-64 cuda = '12.0'" in output
    assert "linux-64 declare(s) no CUDA" in output


# prefix-dev/pixi docs/source_files/pyproject_tomls/pytorch-pypi.toml
PYPROJECT_PIXI = """\
[project]
name = "pytorch-pypi"
requires-python = ">= 3.11,<3.13"

[tool.pixi.workspace]
channels = ["https://prefix.dev/conda-forge"]
platforms = ["osx-arm64", "linux-64", "win-64"]

[tool.pixi.pypi-dependencies]
torch = { version = ">=2.5.1", index = "https://download.pytorch.org/whl/cu124" }
torchvision = { version = ">=0.20.1", index = "https://download.pytorch.org/whl/cu124" }

[tool.pixi.target.osx.pypi-dependencies]
torch = { version = ">=2.5.1", index = "https://download.pytorch.org/whl/cpu" }
torchvision = { version = ">=0.20.1", index = "https://download.pytorch.org/whl/cpu" }
"""


def test_pyproject_pixi_notes_are_said(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pyproject.toml", PYPROJECT_PIXI)
    assert code == 0, output
    assert "only linux-64 of osx-arm64, linux-64, win-64 imported" in output
    assert "[tool.pixi.target.osx] is not for linux-64" in output
    assert manifest["pypi"]["sources"] == {  # type: ignore[index]
        "torch": "https://download.pytorch.org/whl/cu124",
        "torchvision": "https://download.pytorch.org/whl/cu124",
    }


# prefix-dev/pixi docs/source_files/pixi_tomls/pytorch-pypi.toml (trimmed)
TOML11 = """\
[workspace]
channels = ["https://prefix.dev/conda-forge"]
name = "pytorch-pypi"
platforms = ["osx-arm64", "linux-64", "win-64"]

[dependencies]
# We need a python version that is compatible with pytorch
python = ">=3.11,<3.13"

[pypi-dependencies]
torch = {
  version = ">=2.5.1",
  index = "https://download.pytorch.org/whl/cu124"
}
"""


def test_toml_11_inline_table_is_named_in_the_hint(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pixi.toml", TOML11)
    assert code == 1, output
    assert manifest == {}
    hint = output.partition("hint:")[2]
    assert "TOML 1.1" in hint and "line 11" in hint
    assert "Traceback" not in output


# prefix-dev/pixi examples/polarify/pixi.toml (trimmed)
POLARIFY = """\
[workspace]
channels = ["conda-forge"]
name = "polarify-use-case"
platforms = ["linux-64", "osx-arm64", "osx-64", "win-64"]

[dependencies]
pip = "*"
polars = ">=0.14.24,<0.21"
python = ">=3.9"

[feature.py310.dependencies]
python = "3.10.*"

[feature.test.dependencies]
pytest = "*"

[feature.lint.dependencies]
pre-commit = "*"

[environments]
default = ["test"]
lint = { features = ["lint"], no-default-feature = true }
py310 = ["py310", "test"]
"""


def test_pixi_environment_without_default_feature(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pixi.toml", POLARIFY, "--group", "lint")
    assert code == 0, output
    assert _conda(manifest) == ["pre-commit *"]
    code, output, manifest = _init(tmp_path, "pixi.toml", POLARIFY, "--group", "py310", "--force")
    assert code == 0, output  # an environment with the default feature keeps it
    assert _conda(manifest) == [
        "pip *", "polars >=0.14.24,<0.21", "python >=3.9", "pytest *", "python 3.10.*"
    ]  # fmt: skip


# prefix-dev/pixi docs/source_files/pixi_tomls/multi-environment-docs.toml
ENV_DOCS = """\
[workspace]
channels = ["https://prefix.dev/conda-forge"]
name = "pixi"
platforms = ["linux-64", "win-64", "osx-64", "osx-arm64", "linux-aarch64"]

[dependencies]
python = ">=3.11"

[environments.docs]
dependencies = { mkdocs = "*" }
no-default-feature = true
"""


def test_pixi_environment_own_tables_are_read(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pixi.toml", ENV_DOCS, "--group", "docs")
    assert code == 0, output
    assert _conda(manifest) == ["mkdocs *"]


# lllyasviel/ControlNet environment.yaml (trimmed)
CONTROLNET = """\
name: control
channels:
  - pytorch
  - defaults
dependencies:
  - python=3.8.5
  - pip=20.3
  - cudatoolkit=11.3
  - pytorch=1.12.1
  - torchvision=0.13.1
  - pip:
      - gradio==3.16.2
"""


def test_environment_yml_python_mlenv_cannot_build_names_the_entry(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "environment.yaml", CONTROLNET)
    assert code == 1, output
    assert manifest == {}
    assert "environment.yaml: dependencies[0]" in output
    assert "3.8" in output and "3.9" in output.partition("hint:")[2]
    assert "not written; imported from" not in output  # the file is named, not the manifest
