"""Attack 130: pixi's and pyproject's rules that `mlenv init --from` did not follow, with real
file shapes through the real CLI (`init --from`, then `show`).

Findings (input: what mlenv did -> what it does now):

1. A pixi ``[target.linux-64.dependencies]`` entry replaces the base spec of the same package
   for that platform (pixi's ``Feature::combined_dependencies``: more specific targets
   ``overwrite`` the default target, per feature; features are merged, not overwritten). The
   shape is pixi's own docs (reference/pixi_manifest.md, "target" table: ``python = "3.10"``
   overridden by ``[target.osx.dependencies] python = "3.11"``): mlenv kept both specs
   (``python 3.10`` and ``python 3.12``, unsolvable) -> the target's spec alone; a PyPI
   override for one of two platforms splits by ``platform_machine``.
2. pixi names a rich platform entry without ``name`` from its subdir and declared virtual
   packages (``synthesize_name_string``: ``linux-64-cuda-12-0``, subdir defaults such as
   glibc 2.28 left out): a ``[target.linux-64-cuda-12-0]`` table was refused as naming no
   platform -> applied to that entry; a target naming no entry is refused with the names
   pixi gives the entries.
3. A pyproject.toml whose ``requires-python = ">=3.12"`` (as ``uv init`` writes it on 3.12)
   excludes the default ``--python 3.11``, which the user never passed: refused -> the oldest
   Python mlenv builds that the range allows, with a note; a ``--python`` the user passed
   is still refused.
4. pixi's ``glibc`` and ``cuda`` on a Linux platform entry, and ``[system-requirements]
   libc``/``cuda`` (pixi's docs/workspace/system_requirements.md): a note asking the user to
   copy them, or nothing -> ``[environment] glibc`` (the oldest of the imported entries) and
   the driver's CUDA as the CUDA target's floor, or the target when no pin names a toolkit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import init_from as _init

pytestmark = pytest.mark.hostile


def _section(manifest: dict[str, object], key: str) -> dict[str, object]:
    table = manifest.get(key)
    assert isinstance(table, dict), manifest
    return table


# prefix-dev/pixi docs/reference/pixi_manifest.md, the target table's example (its osx
# target written for linux-64, the platform mlenv builds)
TARGET_OVERRIDE = """\
[workspace]
channels = ["conda-forge"]
name = "override"
platforms = ["linux-64", "osx-arm64"]

[dependencies]
cmake = "3.26.4"
python = "3.10"

[target.linux-64.dependencies]
python = "3.12"
"""


def test_pixi_target_replaces_the_base_spec(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pixi.toml", TARGET_OVERRIDE)
    assert code == 0, output
    assert _section(manifest, "conda")["dependencies"] == ["cmake 3.26.4", "python 3.12"]
    assert _section(manifest, "environment")["python"] == "3.12"


def test_pixi_feature_target_replaces_within_its_feature_only(tmp_path: Path) -> None:
    """A feature's target replaces that feature's spec; another feature's spec of the same
    package stays beside it, as pixi merges features."""
    text = TARGET_OVERRIDE + (
        '\n[feature.gpu.dependencies]\npytorch = ">=2.4"\ncmake = ">=3.20"\n'
        '\n[feature.gpu.target.linux-64.dependencies]\npytorch = { version = ">=2.5", '
        'build = "*cuda*" }\n'
    )
    code, output, manifest = _init(tmp_path, "pixi.toml", text, "--group", "gpu")
    assert code == 0, output
    conda = _section(manifest, "conda")["dependencies"]
    assert conda == ["cmake 3.26.4", "python 3.12", "pytorch >=2.5 *cuda*", "cmake >=3.20"]


# two Linux platforms, a PyPI override for one of them (pixi's docs write the same override
# for osx; pixi_manifest.md, "target")
PYPI_OVERRIDE = """\
[workspace]
channels = ["conda-forge"]
name = "split"
platforms = ["linux-64", "linux-aarch64"]

[dependencies]
python = "3.11.*"

[pypi-dependencies]
torch = ">=2.3"

[target.linux-64.pypi-dependencies]
torch = "==2.5.1"
"""


def test_pixi_pypi_target_for_one_platform_splits_by_machine(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pixi.toml", PYPI_OVERRIDE)
    assert code == 0, output
    listed = _section(manifest, "pypi")["dependencies"]
    assert isinstance(listed, list)
    deps = [str(d).replace(" ", "") for d in listed]
    assert sorted(deps) == [
        'torch==2.5.1;platform_machine=="x86_64"',
        'torch>=2.3;platform_machine=="aarch64"',
    ]


# prefix-dev/pixi docs/source_files/pixi_tomls/pytorch-conda-forge-envs.toml, its CUDA entry
# without a name (pixi's CHANGELOG "Rich platforms" writes { platform = "linux-64", cuda =
# "12.0", glibc = "2.28" }), its target keyed by the name pixi gives such an entry
SYNTHESIZED = """\
[workspace]
channels = ["https://prefix.dev/conda-forge"]
name = "pytorch-conda-forge"
platforms = [
  { platform = "linux-64", cuda = "12.0", glibc = "2.28" },
]

[target.linux-64-cuda-12-0.dependencies]
cuda-version = "12.6.*"
pytorch-gpu = "*"
"""


def test_pixi_synthesized_platform_name_is_matched(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pixi.toml", SYNTHESIZED)
    assert code == 0, output
    assert _section(manifest, "conda")["dependencies"] == ["cuda-version 12.6.*", "pytorch-gpu *"]


def test_pixi_synthesized_name_keeps_a_non_default_glibc(tmp_path: Path) -> None:
    """glibc 2.28 is pixi's linux default, left out of the name; 2.31 is not."""
    text = SYNTHESIZED.replace('glibc = "2.28"', 'glibc = "2.31"')
    code, output, _ = _init(tmp_path, "pixi.toml", text)
    assert code != 0
    assert "[target.linux-64-cuda-12-0]" in output
    assert "pixi names them linux-64, linux-64-cuda-12-0-glibc-2-31" in output  # the fix
    text = text.replace("linux-64-cuda-12-0.", "linux-64-cuda-12-0-glibc-2-31.")
    (tmp_path / "named").mkdir()
    code, output, manifest = _init(tmp_path / "named", "pixi.toml", text)
    assert code == 0, output
    assert _section(manifest, "conda")["dependencies"] == ["cuda-version 12.6.*", "pytorch-gpu *"]


# the pyproject.toml `uv init` writes (astral-sh/uv docs/concepts/projects/init.md), as uv
# writes it when the interpreter it found is 3.12, with a dependency added by `uv add`
UV_INIT = """\
[project]
name = "example-app"
version = "0.1.0"
description = "Add your description here"
readme = "README.md"
requires-python = ">=3.12"
dependencies = [
    "torch>=2.5",
]
"""


def test_requires_python_picks_the_oldest_python_it_allows(tmp_path: Path) -> None:
    """No --python: the default 3.11 is outside >=3.12, so the oldest Python mlenv builds that
    the file allows is taken, and said, instead of refusing a file uv and pip accept."""
    code, output, manifest = _init(tmp_path, "pyproject.toml", UV_INIT)
    assert code == 0, output
    assert _section(manifest, "environment")["python"] == "3.12"
    assert "requires-python" in output and "Python 3.12" in output and "--python" in output


def test_requires_python_against_a_given_python_is_refused(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pyproject.toml", UV_INIT, "--python", "3.11")
    assert code == 1, output
    assert "the manifest's Python 3.11 is outside what the file allows (>=3.12)" in output
    assert manifest == {}


def test_requires_python_no_python_fits_is_refused(tmp_path: Path) -> None:
    text = UV_INIT.replace(">=3.12", ">=3.20")
    code, output, manifest = _init(tmp_path, "pyproject.toml", text)
    assert code == 1, output
    assert "outside what the file allows (>=3.20)" in output and manifest == {}


# prefix-dev/pixi CHANGELOG "Rich platforms": a Linux entry declaring the driver's CUDA and the
# machines' glibc; no package pins a toolkit
RICH = """\
[workspace]
channels = ["conda-forge"]
name = "rich"
platforms = [
  "osx-arm64",
  { platform = "linux-64", cuda = "12.0", glibc = "2.31" },
]

[dependencies]
python = "3.11.*"
"""


def test_pixi_platform_glibc_and_cuda_reach_the_manifest(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pixi.toml", RICH)
    assert code == 0, output
    assert _section(manifest, "environment")["glibc"] == "2.31"
    cuda = _section(manifest, "cuda")
    assert cuda["version"] == "12.0"
    assert cuda["driver-floor"] == "525.60.13"  # CUDA 12.0's driver (Table 3)
    assert "set [environment] glibc" not in output  # no longer left to the user


# prefix-dev/pixi docs/workspace/system_requirements.md, "Workspace-level CUDA" and
# "Workspace-level libc / macOS" (the tables pixi still reads, deprecated)
SYSTEM_REQUIREMENTS = """\
[workspace]
channels = ["conda-forge"]
name = "legacy"
platforms = ["linux-64", "osx-arm64"]

[dependencies]
python = "3.11.*"

[system-requirements]
cuda = "12"
libc = { family = "glibc", version = "2.31" }
macos = "13.0"
"""


@pytest.mark.parametrize(
    "libc", ['{ family = "glibc", version = "2.31" }', '"2.31"', '{ version = "2.31" }']
)
def test_pixi_system_requirements_reach_the_manifest(tmp_path: Path, libc: str) -> None:
    text = SYSTEM_REQUIREMENTS.replace('{ family = "glibc", version = "2.31" }', libc)
    code, output, manifest = _init(tmp_path, "pixi.toml", text)
    assert code == 0, output
    assert _section(manifest, "environment")["glibc"] == "2.31"
    assert _section(manifest, "cuda")["version"] == "12.0"


def test_pixi_cuda_requirement_floors_a_pinned_toolkit(tmp_path: Path) -> None:
    """A pinned toolkit (cuda-version 12.6) stays the target; the declared driver CUDA (12)
    does not lower it."""
    text = SYSTEM_REQUIREMENTS.replace(
        'python = "3.11.*"', 'python = "3.11.*"\npytorch-cuda = "12.4"'
    )
    code, output, manifest = _init(tmp_path, "pixi.toml", text)
    assert code == 0, output
    assert _section(manifest, "cuda")["version"] == "12.4"


def test_pixi_musl_libc_is_named_not_written(tmp_path: Path) -> None:
    text = SYSTEM_REQUIREMENTS.replace('"glibc", version = "2.31"', '"musl", version = "1.2"')
    code, output, manifest = _init(tmp_path, "pixi.toml", text)
    assert code == 0, output
    assert _section(manifest, "environment")["glibc"] == "2.28"  # mlenv's default, unchanged
    assert "musl" in output and "glibc" in output


def test_pixi_linux_entries_with_different_glibc_take_the_oldest(tmp_path: Path) -> None:
    """One glibc holds for every platform of mlenv.toml: a bare linux-aarch64 has pixi's
    default 2.28, older than linux-64's 2.31, and the difference is said."""
    text = RICH.replace('"osx-arm64",', '"linux-aarch64",')
    code, output, manifest = _init(tmp_path, "pixi.toml", text)
    assert code == 0, output
    assert _section(manifest, "environment")["glibc"] == "2.28"
    assert "declare glibc 2.28, 2.31" in output


# prefix-dev/pixi docs/workspace/system_requirements.md, "Per-feature CUDA" (the table before
# migration), in a pyproject.toml's [tool.pixi] tables
PYPROJECT_FEATURE_CUDA = """\
[project]
name = "gpu-app"
requires-python = ">=3.11"
dependencies = []

[tool.pixi.workspace]
channels = ["conda-forge"]
platforms = ["linux-64"]

[tool.pixi.feature.gpu.system-requirements]
cuda = "12"

[tool.pixi.environments]
gpu = ["gpu"]
"""


def test_pyproject_pixi_feature_cuda_only_with_its_environment(tmp_path: Path) -> None:
    code, output, manifest = _init(tmp_path, "pyproject.toml", PYPROJECT_FEATURE_CUDA)
    assert code == 0, output
    assert "cuda" not in manifest  # the default environment declares no CUDA
    (tmp_path / "gpu").mkdir()
    code, output, manifest = _init(
        tmp_path / "gpu", "pyproject.toml", PYPROJECT_FEATURE_CUDA, "--group", "gpu"
    )
    assert code == 0, output
    assert _section(manifest, "cuda")["version"] == "12.0"
    assert "[tool.pixi.feature.gpu.system-requirements] cuda = '12.0'" in output
