"""uv's conditional ``[tool.uv.sources]`` (a marker, an extra or a group, or a list of them) on
mlenv's Linux targets, for `mlenv init --from pyproject.toml`.

The two projects below are uv's PyTorch guide's own files, as written in
https://docs.astral.sh/uv/guides/integration/pytorch/ ("Configuring accelerators with
environment markers" and "... with optional dependencies"; astral-sh/uv
docs/guides/integration/pytorch.md at 04317224be0521990e8d708c3deb575ac3f29e38).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlenv.errors import ProblemsError
from mlenv.importers.core import Imported
from mlenv.importers.files import import_file
from mlenv.manifest import PYTHON_MINORS
from mlenv.manifest_read import loads
from mlenv.platforms import NAMES
from tests.support.cli import run_mlenv

CPU = "https://download.pytorch.org/whl/cpu"
CU128 = "https://download.pytorch.org/whl/cu128"

GUIDE_MARKERS = """\
[project]
name = "project"
version = "0.1.0"
requires-python = ">=3.12.0"
dependencies = [
  "torch>=2.7.0",
  "torchvision>=0.22.0",
]

[tool.uv.sources]
torch = [
  { index = "pytorch-cpu", marker = "sys_platform != 'linux'" },
  { index = "pytorch-cu128", marker = "sys_platform == 'linux'" },
]
torchvision = [
  { index = "pytorch-cpu", marker = "sys_platform != 'linux'" },
  { index = "pytorch-cu128", marker = "sys_platform == 'linux'" },
]

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/cpu"
explicit = true

[[tool.uv.index]]
name = "pytorch-cu128"
url = "https://download.pytorch.org/whl/cu128"
explicit = true
"""

GUIDE_EXTRAS = """\
[project]
name = "project"
version = "0.1.0"
requires-python = ">=3.12.0"
dependencies = []

[project.optional-dependencies]
cpu = [
  "torch>=2.7.0",
  "torchvision>=0.22.0",
]
cu128 = [
  "torch>=2.7.0",
  "torchvision>=0.22.0",
]

[tool.uv]
conflicts = [
  [
    { extra = "cpu" },
    { extra = "cu128" },
  ],
]

[tool.uv.sources]
torch = [
  { index = "pytorch-cpu", extra = "cpu" },
  { index = "pytorch-cu128", extra = "cu128" },
]
torchvision = [
  { index = "pytorch-cpu", extra = "cpu" },
  { index = "pytorch-cu128", extra = "cu128" },
]

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/cpu"
explicit = true

[[tool.uv.index]]
name = "pytorch-cu128"
url = "https://download.pytorch.org/whl/cu128"
explicit = true
"""

PROJECT = '[project]\nname = "p"\nversion = "0.1"\ndependencies = ["torch==2.7.0", "numpy"]\n'
INDEXES = (
    f'[[tool.uv.index]]\nname = "pytorch-cpu"\nurl = "{CPU}"\nexplicit = true\n'
    f'[[tool.uv.index]]\nname = "pytorch-cu128"\nurl = "{CU128}"\nexplicit = true\n'
)


def read(tmp_path: Path, text: str, groups: tuple[str, ...] = ()) -> Imported:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    return import_file(path, groups)


def refused(tmp_path: Path, text: str, groups: tuple[str, ...] = ()) -> str:
    """The problems ``import_file`` reports, one ``where: message / hint`` line each."""
    with pytest.raises(ProblemsError) as caught:
        read(tmp_path, text, groups)
    return "\n".join(f"{p.where}: {p.message} / {p.hint}" for p in caught.value.problems)


def torch_source(sources: str) -> str:
    return PROJECT + f"[tool.uv.sources]\ntorch = {sources}\n" + INDEXES


def test_the_guides_per_platform_file_pins_torch_to_its_linux_index(tmp_path: Path) -> None:
    """It was refused ("uv chooses among 2 sources ... by marker"): on every Linux target the
    CUDA source holds and the CPU one does not, so uv takes torch from cu128 there."""
    result = read(tmp_path, GUIDE_MARKERS)
    assert result.sources == (("torch", CU128), ("torchvision", CU128))
    assert CPU not in (result.index_url, *result.extra_index_urls)


@pytest.mark.parametrize(
    ("groups", "sources"),
    [
        ((), ()),  # no extra asked: no torch, no source
        (("cu128",), (("torch", CU128), ("torchvision", CU128))),
        (("CPU",), (("torch", CPU), ("torchvision", CPU))),  # names compare normalised
    ],
)
def test_the_guides_extras_file_pins_the_extra_asked(
    tmp_path: Path, groups: tuple[str, ...], sources: tuple[tuple[str, str], ...]
) -> None:
    assert read(tmp_path, GUIDE_EXTRAS, groups).sources == sources


def test_two_extras_asked_at_once_are_refused(tmp_path: Path) -> None:
    """uv's conflicts forbid cpu with cu128; mlenv pins one index per package."""
    problems = refused(tmp_path, GUIDE_EXTRAS, ("cpu", "cu128"))
    assert "[tool.uv.sources] torch: 2 of uv's sources for torch hold at once" in problems
    assert "ask for only one of --group cpu, --group cu128" in problems


def test_an_extra_source_not_asked_leaves_the_package_to_the_default_indexes(
    tmp_path: Path,
) -> None:
    """uv applies it only with the extra; without it torch comes from PyPI, as in uv."""
    text = torch_source('{ index = "pytorch-cu128", extra = "cu128" }')
    result = read(tmp_path, text)
    assert result.sources == () and result.pypi == ("torch==2.7.0", "numpy")


def test_a_group_source_holds_only_for_a_dependency_group_of_that_name(tmp_path: Path) -> None:
    """``group = "gpu"`` is a PEP 735 group; an extra of the same name does not choose it."""
    base = torch_source('{ index = "pytorch-cu128", group = "gpu" }')
    as_group = base + '[dependency-groups]\ngpu = ["numpy"]\n'
    as_extra = base.replace("[tool.uv.sources]", '[project.optional-dependencies]\ngpu = ["numpy"]'
                            "\n[tool.uv.sources]")  # fmt: skip
    assert read(tmp_path, as_group, ("gpu",)).sources == (("torch", CU128),)
    assert read(tmp_path, as_extra, ("gpu",)).sources == ()


@pytest.mark.parametrize(
    "marker", ["sys_platform == 'linux'", "os_name == 'posix' and platform_system == 'Linux'"]
)
def test_a_single_source_true_on_every_linux_target_is_a_pin(tmp_path: Path, marker: str) -> None:
    """It was refused as "only for some marker"; on mlenv's targets it always holds."""
    text = torch_source(f'{{ index = "pytorch-cu128", marker = "{marker}" }}')
    assert read(tmp_path, text).sources == (("torch", CU128),)


def test_a_source_false_on_every_linux_target_is_dropped(tmp_path: Path) -> None:
    text = torch_source('{ index = "pytorch-cpu", marker = "sys_platform == \'darwin\'" }')
    assert read(tmp_path, text).sources == ()


def test_a_marker_on_the_machine_is_refused_naming_both_platforms(tmp_path: Path) -> None:
    """True on linux-64, false on linux-aarch64: one [pypi] sources pin cannot say that."""
    text = torch_source(
        '[\n  { index = "pytorch-cu128", marker = "platform_machine == \'x86_64\'" },\n'
        '  { index = "pytorch-cpu", marker = "platform_machine == \'aarch64\'" },\n]'
    )
    problems = refused(tmp_path, text)
    assert problems.startswith(f"{tmp_path / 'pyproject.toml'}: [tool.uv.sources] torch: ")
    assert f"true on {NAMES[0]} and false on {NAMES[1]}" in problems
    assert "make the marker true or false on every Linux target" in problems


def test_a_marker_on_the_python_version_is_refused_naming_the_versions(tmp_path: Path) -> None:
    text = torch_source('{ index = "pytorch-cu128", marker = "python_version >= \'3.12\'" }')
    problems = refused(tmp_path, text)
    newer = [minor for minor in PYTHON_MINORS if tuple(map(int, minor.split("."))) >= (3, 12)]
    older = [minor for minor in PYTHON_MINORS if minor not in newer]
    assert f"true for Python {', '.join(newer)} and false for Python {', '.join(older)}" in (
        problems
    )


def test_two_sources_true_on_linux_are_refused(tmp_path: Path) -> None:
    text = torch_source(
        '[\n  { index = "pytorch-cu128", marker = "sys_platform == \'linux\'" },\n'
        '  { index = "pytorch-cpu", marker = "os_name == \'posix\'" },\n]'
    )
    problems = refused(tmp_path, text)
    assert "2 of uv's sources for torch hold at once" in problems
    assert "keep one source whose marker holds on Linux" in problems


@pytest.mark.parametrize("marker", ["sys_platform === 'linux'", "sys_platform ~= 'linux'", "oops"])
def test_an_invalid_marker_is_a_located_problem(tmp_path: Path, marker: str) -> None:
    text = torch_source(f'{{ index = "pytorch-cu128", marker = "{marker}" }}')
    problems = refused(tmp_path, text)
    assert "[tool.uv.sources] torch marker: " in problems
    assert "is not a PEP 508 environment marker" in problems


def test_a_git_source_for_another_os_is_dropped_one_for_linux_refused(tmp_path: Path) -> None:
    """uv takes httpx from git only where the marker holds: off Linux that is PyPI."""
    git = '{ git = "https://github.com/encode/httpx", tag = "0.27.2", marker = "MARK" }'
    text = PROJECT.replace('"numpy"', '"httpx"') + "[tool.uv.sources]\nhttpx = " + git + "\n"
    assert read(tmp_path, text.replace("MARK", "sys_platform == 'darwin'")).sources == ()
    problems = refused(tmp_path, text.replace("MARK", "sys_platform == 'linux'"))
    assert "uv takes httpx from" in problems and "which mlenv cannot lock" in problems


def test_init_from_the_guides_file_writes_a_manifest_mlenv_reads(tmp_path: Path) -> None:
    """End to end through the CLI: the manifest pins torch to cu128 and `show --json` reads
    it back."""
    (tmp_path / "pyproject.toml").write_text(GUIDE_MARKERS)
    done = run_mlenv(
        ["init", "--from", "pyproject.toml", "--name", "p", "--python", "3.12"], tmp_path
    )
    assert done.returncode == 0, done.stderr
    manifest = loads((tmp_path / "mlenv.toml").read_text())
    assert dict(manifest.pypi.sources) == {"torch": CU128, "torchvision": CU128}
    assert manifest.cuda is not None and manifest.cuda.version == "12.8"
    shown = run_mlenv(["show", "--json"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["pypi"]["sources"] == {"torch": CU128, "torchvision": CU128}
