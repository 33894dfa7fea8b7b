"""Attack 55: real-world project files fed to `mlenv init --from`, judged against what Poetry,
uv, pip and conda mean by them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from mlenv.importers.core import ImportFileError
from mlenv.importers.files import import_file
from mlenv.importers.poetry_constraints import PoetryConstraintError, translate
from mlenv.manifest_read import loads
from tests.support.cli import run_mlenv


def init_from(tmp_path: Path, name: str, text: str, *args: str) -> tuple[int, str]:
    (tmp_path / name).write_text(text)
    result = run_mlenv(["init", "--from", name, "--name", "p", *args], tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stderr


def imported(tmp_path: Path, name: str, text: str, groups: tuple[str, ...] = ()) -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    return list(import_file(path, groups).pypi)


# ---------------------------------------------------------------------------------------------
# Poetry's constraints, as Poetry's documentation defines them


@pytest.mark.parametrize(
    ("poetry", "pep440"),
    [
        ("^1.2.3", ">=1.2.3,<2.0.0"),
        ("^1.2", ">=1.2,<2.0.0"),
        ("^1", ">=1,<2.0.0"),
        ("^0.2.3", ">=0.2.3,<0.3.0"),
        ("^0.0.3", ">=0.0.3,<0.0.4"),
        ("^0.0", ">=0.0,<0.1.0"),
        ("^0", ">=0,<1.0.0"),
        ("~1.2.3", ">=1.2.3,<1.3.0"),
        ("~1.2", ">=1.2,<1.3.0"),
        ("~1", ">=1,<2.0.0"),
        ("~=1.2", "~=1.2"),
        ("1.2.*", "==1.2.*"),
        ("*", ""),
        ("2.1.4", "==2.1.4"),
        (">= 1.2, < 1.5", ">=1.2,<1.5"),
        (">=1.2 <1.5", ">=1.2,<1.5"),
        ("^2.0.0rc1", ">=2.0.0rc1,<3.0.0"),
    ],
)
def test_poetry_constraints_mean_what_poetry_says(poetry: str, pep440: str) -> None:
    assert translate(poetry) == pep440


@pytest.mark.parametrize(
    ("union", "pep440"),
    [
        ("^1 || ^2", ">=1,<3.0.0"),
        ("^1|^2", ">=1,<3.0.0"),
        ("^1.24 || ^2.0", ">=1.24,<3.0.0"),
        (">=1.0,<2.0 || >=2.0,<3.0", ">=1.0,<3.0"),
        ("~1.2 || ~1.3", ">=1.2,<1.4.0"),
        ("^2 || ^1", ">=1,<3.0.0"),
        (">=1,<2 || >=1.2,<1.5", ">=1,<2"),
        ("^1 || >=1.5", ">=1"),
        ("<1.0 || 1.0", "<=1.0"),
        ("1.0 || >=1.0,<2", ">=1.0,<2"),
        ("* || ^1", ""),
        ("^3.8 || ^3.9", ">=3.8,<4.0.0"),
        ("<=2 || >=2, <3", "<3"),
        ("~=1.2 || ^2", ">=1.2,<3.0.0"),  # attack 75: ~= was refused
    ],
)
def test_a_contiguous_poetry_union_is_one_range(union: str, pep440: str) -> None:
    assert translate(union) == pep440


@pytest.mark.parametrize(
    ("union", "hint"),
    [
        ("^1 || ^3", "versions 2.x are excluded"),
        ("~1.3 || ~1.5", "versions 1.4.x are excluded"),
        (">=1.0,<1.5 || >=2.0", "versions >=1.5,<2.0 are excluded"),
        ("<2 || >2", "version 2 is excluded"),
        ("1.0 || >1.0", "post-releases of 1.0"),
        ("<=1.0 || >1.0,<2", "post-releases of 1.0"),
        ("1.0 || 1.1", "versions >1.0,<1.1 are excluded"),
        ("!=1.5 || ^2", "'!=1.5' is not a plain range"),
        ("1.2.* || ^2", "'==1.2.*' is not a plain range"),
        ("^2.0rc1 || ^1", "pre-, post- or local release"),
        ("^1 || 2.0.post1", "pre-, post- or local release"),
        (">=2,<1 || ^1", "drop that alternative"),
    ],
)
def test_a_poetry_union_that_is_not_one_range_is_refused(union: str, hint: str) -> None:
    with pytest.raises(PoetryConstraintError) as caught:
        translate(union)
    assert union in str(caught.value) and hint in (caught.value.hint or "")


def test_init_from_a_poetry_project_with_unions(tmp_path: Path) -> None:
    """A contiguous union (dependency and Python) is written as one range; a gap is refused
    on the command line, naming the versions it leaves out."""
    head = '[tool.poetry]\nname = "x"\n[tool.poetry.dependencies]\npython = "^3.10 || ^3.11"\n'
    code, err = init_from(tmp_path, "pyproject.toml", head + 'numpy = "^1.24 || ^2.0"\n')
    assert code == 0, err
    manifest = loads((tmp_path / "mlenv.toml").read_text())
    assert "numpy>=1.24,<3.0.0" in manifest.pypi.dependencies
    code, err = init_from(tmp_path, "pyproject.toml", head + 'numpy = "^1 || ^3"\n', "--force")
    assert code == 1 and "numpy" in err and "versions 2.x are excluded" in err, err


@pytest.mark.parametrize("union", ["^1 ||", "|| ^1", "^1 || || ^2"])
def test_a_poetry_union_with_an_empty_alternative_is_refused(union: str) -> None:
    with pytest.raises(PoetryConstraintError, match="empty alternative"):
        translate(union)


_RELEASES = [f"{x}.{y}.{z}" for x in range(5) for y in range(5) for z in range(5)]
# Every X.Y.Z, and beside X.Y.0 the versions PEP 440 treats specially at a bound.
_GRID = [
    Version(v)
    for v in _RELEASES
    + [f"{x}.{y}.0{tail}" for x in range(5) for y in range(5) for tail in ("rc1", ".post1", "+l")]
]
_POINT = st.sampled_from(["0", "1", "2", "3", "1.2", "1.3", "2.0", "2.0.0", "1.2.3", "3.4"])


@st.composite
def _alternative(draw: st.DrawFn) -> str:
    """A simple interval as Poetry writes it: caret, tilde, pin or explicit bounds."""
    kind = draw(st.sampled_from(["^", "~", "pin", "bounds"]))
    if kind != "bounds":
        return f"{'' if kind == 'pin' else kind}{draw(_POINT)}"
    low = draw(st.sampled_from(["", ">=", ">"]))
    high = draw(st.sampled_from(["", "<", "<="]))
    parts = [f"{op}{draw(_POINT)}" for op in (low, high) if op]
    return ",".join(parts) or "*"


@settings(max_examples=200)
@given(st.lists(_alternative(), min_size=2, max_size=3))
def test_a_merged_poetry_union_allows_what_its_alternatives_allow(alts: list[str]) -> None:
    """Against packaging's reading of each alternative: the merged range holds exactly the
    grid versions some alternative holds, or is refused. Pre-releases are read as mlenv's
    resolver reads them when no bound names one: not allowed (``^0 || ^1`` leaves 1.0.0rc1
    outside both alternatives, as ``<1.0.0`` excludes it, but inside ``>=0,<2.0.0``)."""
    try:
        merged = SpecifierSet(translate(" || ".join(alts)))
    except PoetryConstraintError:
        return
    each = [SpecifierSet(translate(alt)) for alt in alts]
    for version in _GRID:
        expected = any(spec.contains(version, prereleases=False) for spec in each)
        assert merged.contains(version, prereleases=False) == expected, (version, merged)


POETRY = """\
[tool.poetry]
name = "mlproj"
version = "0.1.0"

[tool.poetry.dependencies]
python = "^3.10"
numpy = "^1.26"
scipy = "~1.11.2"
pandas = "2.1.4"
requests = "*"
transformers = { version = "^4.40", extras = ["torch"] }
pywin32 = { version = "^306", platform = "win32" }
dataclasses = { version = "^0.8", python = "~3.6" }
wandb = { version = "^0.16", optional = true }

[tool.poetry.extras]
track = ["wandb"]

[tool.poetry.group.dev.dependencies]
pytest = "^8.0"
"""


def test_a_poetry_1_project_is_imported_with_its_ranges(tmp_path: Path) -> None:
    """It was refused whole ("Poetry's own table is not read"): every Poetry project."""
    assert imported(tmp_path, "pyproject.toml", POETRY) == [
        "numpy>=1.26,<2.0.0",
        "scipy>=1.11.2,<1.12.0",
        "pandas==2.1.4",
        "requests",
        "transformers[torch]>=4.40,<5.0.0",
        'pywin32>=306,<307.0.0; sys_platform == "win32"',
        'dataclasses>=0.8,<0.9.0; (python_full_version >= "3.6" and python_full_version < "3.7.0")',
    ]


def test_poetry_groups_and_extras_are_chosen_by_group(tmp_path: Path) -> None:
    pins = imported(tmp_path, "pyproject.toml", POETRY, ("track", "dev"))
    assert "wandb>=0.16,<0.17.0" in pins and "pytest>=8.0,<9.0.0" in pins


def test_poetry_python_range_is_checked_and_an_unknown_group_refused(tmp_path: Path) -> None:
    code, err = init_from(tmp_path, "pyproject.toml", POETRY, "--python", "3.9")
    assert code == 1 and "[tool.poetry.dependencies] python" in err and ">=3.10,<4.0.0" in err
    code, err = init_from(tmp_path, "pyproject.toml", POETRY, "--group", "docs")
    assert code == 1 and "group 'docs'" in err
    code, err = init_from(tmp_path, "pyproject.toml", POETRY, "--python", "3.11")
    assert code == 0, err
    assert "numpy>=1.26,<2.0.0" in loads((tmp_path / "mlenv.toml").read_text()).pypi.dependencies


def test_poetry_entries_mlenv_cannot_express_are_named(tmp_path: Path) -> None:
    text = (
        '[tool.poetry]\nname = "x"\n[tool.poetry.dependencies]\npython = "^3.10"\n'
        'numpy = "^1.2 || ^3.0"\ntorch = {version = "^2.1", source = "pytorch"}\n'
        'mylib = {git = "https://example.com/mylib.git"}\nbad = 3\n'
    )
    with pytest.raises(ImportFileError) as caught:
        imported(tmp_path, "pyproject.toml", text)
    where = {problem.where.rsplit(" ", 1)[-1] for problem in caught.value.problems}
    assert where == {"numpy", "torch", "mylib", "bad"}


# ---------------------------------------------------------------------------------------------
# uv's indexes: priority order, explicit indexes, legacy settings

UV = '[project]\nname = "p"\nversion = "0.1"\ndependencies = ["torch==2.7.0", "numpy"]\n'
CU128 = "https://download.pytorch.org/whl/cu128"


def test_a_uv_explicit_index_becomes_a_source_not_an_index_for_every_package(
    tmp_path: Path,
) -> None:
    """It became an extra index under best-match: numpy could then come from the PyTorch
    index, which uv never asks for numpy. It is now a [pypi] sources pin: torch from it
    alone, and nothing else (it was refused while mlenv had no per-package index)."""
    text = UV + (
        '[tool.uv.sources]\ntorch = { index = "pytorch-cu128" }\n'
        f'[[tool.uv.index]]\nname = "pytorch-cu128"\nurl = "{CU128}"\nexplicit = true\n'
    )
    code, err = init_from(tmp_path, "pyproject.toml", text)
    assert code == 0, err
    manifest = loads((tmp_path / "mlenv.toml").read_text())
    assert manifest.pypi.sources == (("torch", CU128),)
    assert manifest.pypi.index_url == "https://pypi.org/simple"
    assert CU128 not in manifest.pypi.extra_index_urls
    assert manifest.cuda is not None and manifest.cuda.version == "12.8"  # guessed from it


@pytest.mark.parametrize(
    ("condition", "sources"),
    [
        # true on every Linux target mlenv builds for: the pin holds everywhere mlenv builds
        ("marker = \"sys_platform == 'linux'\"", (("torch", CU128),)),
        # an extra not asked for: uv takes torch from its default indexes, and so does mlenv
        ('extra = "cu128"', ()),
    ],
)
def test_a_conditional_uv_explicit_source_is_judged_on_mlenvs_targets(
    tmp_path: Path, condition: str, sources: tuple[tuple[str, str], ...]
) -> None:
    """It was refused outright ("only for some marker"); what uv applies on every Linux target
    is a pin, what it applies on none is no source."""
    text = UV + (
        f'[tool.uv.sources]\ntorch = {{ index = "pytorch-cu128", {condition} }}\n'
        f'[[tool.uv.index]]\nname = "pytorch-cu128"\nurl = "{CU128}"\nexplicit = true\n'
    )
    code, err = init_from(tmp_path, "pyproject.toml", text, "--python", "3.12")
    assert code == 0, err
    assert loads((tmp_path / "mlenv.toml").read_text()).pypi.sources == sources


def test_a_uv_explicit_source_for_one_linux_machine_is_still_refused(tmp_path: Path) -> None:
    """mlenv's sources hold for every platform: a pin uv applies on x86_64 only cannot be one."""
    text = UV + (
        '[tool.uv.sources]\ntorch = { index = "pytorch-cu128", '
        "marker = \"platform_machine == 'x86_64'\" }\n"
        f'[[tool.uv.index]]\nname = "pytorch-cu128"\nurl = "{CU128}"\nexplicit = true\n'
    )
    code, err = init_from(tmp_path, "pyproject.toml", text)
    assert code == 1 and "[tool.uv.sources] torch" in err
    assert "true on linux-64 and false on linux-aarch64" in err
    assert not (tmp_path / "mlenv.toml").exists()


@pytest.mark.parametrize(
    ("uv", "index", "extras", "strategy"),
    [
        # uv searches [[tool.uv.index]] before PyPI and takes a package from the first: an
        # extra index, which mlenv's first-index asks before index-url as uv does
        (f'[[tool.uv.index]]\nname = "cu"\nurl = "{CU128}/"\n', "https://pypi.org/simple",
         [CU128], "first-index"),
        # legacy settings were dropped without a word
        (f'[tool.uv]\nextra-index-url = ["{CU128}"]\n', "https://pypi.org/simple",
         [CU128], "first-index"),
        (f'[tool.uv]\nextra-index-url = ["{CU128}"]\nindex-strategy = "unsafe-best-match"\n',
         "https://pypi.org/simple", [CU128], "best-match"),
        (f'[[tool.uv.index]]\nname = "in"\nurl = "https://pypi.corp/simple"\ndefault = true\n'
         f'[[tool.uv.index]]\nname = "cu"\nurl = "{CU128}"\n', "https://pypi.corp/simple",
         [CU128], "first-index"),
    ],
)  # fmt: skip
def test_uv_index_order_and_strategy_are_kept(
    tmp_path: Path, uv: str, index: str, extras: list[str], strategy: str
) -> None:
    code, err = init_from(tmp_path, "pyproject.toml", UV + uv, "--python", "3.12")
    assert code == 0, err
    pypi = loads((tmp_path / "mlenv.toml").read_text()).pypi
    assert (pypi.index_url, list(pypi.extra_index_urls), pypi.index_strategy) == (
        index,
        extras,
        strategy,
    )


def test_a_uv_source_on_a_later_index_is_refused(tmp_path: Path) -> None:
    """mlenv would take torch from the first index that lists it, not the one uv pins."""
    text = UV + (
        '[tool.uv.sources]\ntorch = { index = "cu" }\n'
        '[[tool.uv.index]]\nname = "corp"\nurl = "https://pypi.corp/simple"\n'
        f'[[tool.uv.index]]\nname = "cu"\nurl = "{CU128}"\n'
    )
    code, err = init_from(tmp_path, "pyproject.toml", text)
    assert code == 1 and "list [[tool.uv.index]] 'cu' first" in err


# ---------------------------------------------------------------------------------------------
# pixi.toml: it was "unknown kind of file", with a hint to rename it

PIXI = """\
[workspace]
name = "ml"
channels = ["conda-forge", {channel = "nvidia", priority = 1}]
platforms = ["linux-64", "osx-arm64"]

[system-requirements]
cuda = "12"

[dependencies]
python = "3.11.*"
numpy = ">=1.26,<2"
pytorch = { version = "2.3.*", channel = "pytorch" }

[pypi-dependencies]
accelerate = { version = ">=0.30", extras = ["testing"] }

[target.linux-64.dependencies]
nccl = "*"

[target.osx-arm64.dependencies]
mlx = "*"

[feature.dev.pypi-dependencies]
ruff = "==0.4.0"

[environments]
lint = ["dev"]

[pypi-options]
extra-index-urls = ["https://download.pytorch.org/whl/cu121"]
"""


def test_a_pixi_workspace_is_imported_for_its_linux_platform(tmp_path: Path) -> None:
    path = tmp_path / "pixi.toml"
    path.write_text(PIXI)
    result = import_file(path, ("lint",))
    assert result.conda == (
        "python 3.11.*",
        "numpy >=1.26,<2",
        "pytorch::pytorch 2.3.*",
        "nccl *",
    )
    assert result.channels == ("nvidia", "conda-forge")  # pixi: a higher priority first
    assert result.pypi == ("accelerate[testing]>=0.30", "ruff==0.4.0")
    assert result.platforms == ("linux-64",) and result.python == "3.11"
    # pixi resolves PyPI with uv: the extra index is consulted before PyPI, as mlenv does
    assert result.index_url == "https://pypi.org/simple"
    assert result.extra_index_urls == ("https://download.pytorch.org/whl/cu121",)
    assert result.index_strategy == "first-index"


def test_pixi_entries_mlenv_cannot_express_are_named(tmp_path: Path) -> None:
    text = (
        '[workspace]\nname = "x"\nchannels = ["conda-forge"]\n'
        'platforms = ["linux-64", "linux-aarch64"]\n'
        '[dependencies]\nmylib = { path = "../mylib" }\n'
        '[target.linux-64.dependencies]\ncuda-nvcc = "*"\n'
        '[target.linux-64.pypi-dependencies]\nflash-attn = "*"\n'
        'torch = { version = "*", index = "https://download.pytorch.org/whl/cu121" }\n'
    )
    with pytest.raises(ImportFileError) as caught:
        imported(tmp_path, "pixi.toml", text, ("gpu",))
    where = sorted(problem.where.split(": ", 1)[1] for problem in caught.value.problems)
    assert where == [
        "[dependencies] mylib",
        "[target.linux-64.dependencies] cuda-nvcc",
        "[target.linux-64.pypi-dependencies] torch",  # an index for some platforms only
        "group 'gpu'",
    ]


def test_a_pixi_per_package_index_becomes_a_source(tmp_path: Path) -> None:
    """It was refused while mlenv had no per-package index: pixi takes torch from that index
    alone, which [pypi] sources say."""
    text = (
        '[workspace]\nname = "x"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        '[pypi-dependencies]\nnumpy = "*"\n'
        f'Torch = {{ version = "==2.7.0", index = "{CU128}/" }}\n'
    )
    path = tmp_path / "pixi.toml"
    path.write_text(text)
    result = import_file(path, ())
    assert result.sources == (("torch", CU128),) and CU128 not in result.extra_index_urls
    code, err = init_from(tmp_path, "pixi.toml", text)
    assert code == 0, err
    assert loads((tmp_path / "mlenv.toml").read_text()).pypi.sources == (("torch", CU128),)


def test_a_pixi_file_without_linux_is_refused_by_the_cli(tmp_path: Path) -> None:
    text = '[workspace]\nname = "x"\nchannels = ["conda-forge"]\nplatforms = ["osx-arm64"]\n'
    code, err = init_from(tmp_path, "pixi.toml", text)
    assert code == 1 and "[workspace] platforms" in err and "linux-64" in err


# ---------------------------------------------------------------------------------------------
# requirements.txt includes


def test_a_missing_or_circular_include_names_the_r_line(tmp_path: Path) -> None:
    """It named only the included file: in a tree of -r files, not which line asked for it."""
    (tmp_path / "base.txt").write_text("-r requirements.txt\nnumpy\n")
    code, err = init_from(tmp_path, "requirements.txt", "-r base.txt\n-r missing.txt\n")
    assert code == 1
    assert "base.txt:1: -r " in err and "includes itself" in err
    assert "requirements.txt:2: -r " in err and "missing.txt: cannot read it" in err
    assert "including file's directory" in err


@pytest.mark.parametrize(
    ("sources", "index", "extras", "strategy"),
    [
        # a supplemental source is asked only for what PyPI lacks: it was dropped; asked after
        # PyPI, it is index-url, which first-index asks after the extra indexes
        (f'name = "cu"\nurl = "{CU128}"\npriority = "supplemental"\n', CU128,
         ["https://pypi.org/simple"], "first-index"),
        # a primary source disables the implicit PyPI
        ('name = "corp"\nurl = "https://pypi.corp/simple/"\n', "https://pypi.corp/simple", [],
         None),
        (f'name = "cu"\nurl = "{CU128}"\n[[tool.poetry.source]]\nname = "PyPI"\n'
         'priority = "primary"\n', "https://pypi.org/simple", [CU128], "best-match"),
        # an explicit source no dependency names is never asked
        (f'name = "cu"\nurl = "{CU128}"\npriority = "explicit"\n', "https://pypi.org/simple", [],
         None),
    ],
)  # fmt: skip
def test_poetry_sources_become_indexes_in_poetry_order(
    tmp_path: Path, sources: str, index: str, extras: list[str], strategy: str | None
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(POETRY + "[[tool.poetry.source]]\n" + sources)
    result = import_file(path)
    assert result.index_url == index and list(result.extra_index_urls) == extras
    if strategy is not None:
        assert result.index_strategy == strategy


@pytest.mark.parametrize("group", ["Dev_Tools", "dev-tools", "dev.tools", "GPU_Extra"])
def test_group_names_compare_normalised(tmp_path: Path, group: str) -> None:
    """`--group dev-tools` for a `Dev_Tools` extra was "no such entry"; pip and uv find it."""
    text = (
        '[project]\nname = "x"\nversion = "1"\ndependencies = []\n'
        '[project.optional-dependencies]\ngpu-extra = ["cupy"]\n'
        '[dependency-groups]\nDev_Tools = ["pytest"]\n'
    )
    assert imported(tmp_path, "pyproject.toml", text, (group,)) in (["pytest"], ["cupy"])


def test_a_pixi_workspace_in_pyproject_is_imported(tmp_path: Path) -> None:
    """[tool.pixi] tables were refused with a hint to export an environment.yml first."""
    text = (
        '[project]\nname = "m"\nversion = "0.1"\ndependencies = ["transformers>=4.40"]\n'
        '[tool.pixi.workspace]\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        '[tool.pixi.dependencies]\npython = "3.11.*"\npytorch-gpu = ">=2.3"\n'
        '[tool.pixi.feature.test.dependencies]\npytest = "*"\n'
    )
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    result = import_file(path, ("test",))
    assert result.pypi == ("transformers>=4.40",)
    assert result.conda == ("python 3.11.*", "pytorch-gpu >=2.3", "pytest *")
    assert result.channels == ("conda-forge",) and result.python == "3.11"
    code, err = init_from(tmp_path, "pyproject.toml", text, "--group", "nope")
    assert code == 1 and "groups here: test" in err


def test_poetry_2_dynamic_dependencies_are_read_from_poetry_table(tmp_path: Path) -> None:
    """Poetry 2's documented layout: [project] with dynamic dependencies, kept in
    [tool.poetry.dependencies]; it was refused as "computed by the build backend"."""
    text = (
        '[project]\nname = "m"\nversion = "0.1"\nrequires-python = ">=3.10"\n'
        'dynamic = ["dependencies"]\n'
        '[tool.poetry.dependencies]\nnumpy = "^1.26"\n'
        '[build-system]\nrequires = ["poetry-core>=2"]\n'
        'build-backend = "poetry.core.masonry.api"\n'
    )
    assert imported(tmp_path, "pyproject.toml", text) == ["numpy>=1.26,<2.0.0"]


def test_uv_sources_chosen_by_marker_on_a_later_index_are_refused(tmp_path: Path) -> None:
    """uv's CPU-on-macOS, CUDA-on-Linux setup with the indexes not explicit: the hint said to
    publish torch. The Linux source now holds, but uv would ask the CPU index (listed first)
    for every other package and the CUDA one for torch, which mlenv's one order cannot say."""
    text = UV + (
        "[tool.uv.sources]\ntorch = [\n"
        '  { index = "cpu", marker = "sys_platform != \'linux\'" },\n'
        '  { index = "cu", marker = "sys_platform == \'linux\'" },\n]\n'
        '[[tool.uv.index]]\nname = "cpu"\nurl = "https://download.pytorch.org/whl/cpu"\n'
        f'[[tool.uv.index]]\nname = "cu"\nurl = "{CU128}"\n'
    )
    code, err = init_from(tmp_path, "pyproject.toml", text)
    assert code == 1 and f"uv takes torch only from {CU128}" in err
    assert "list [[tool.uv.index]] 'cu' first" in err


# ---------------------------------------------------------------------------------------------
# environment.yml


def test_a_double_equals_build_spec_is_written_as_the_lock_reads_it(tmp_path: Path) -> None:
    """conda reads `pytorch==2.0.1=BUILD` as version plus build; it was copied verbatim, a
    spec the lock's strict parser refuses (the build would be `=py3.11_...`)."""
    path = tmp_path / "environment.yml"
    path.write_text(
        "channels: [pytorch]\ndependencies:\n  - pytorch==2.0.1=py3.11_cuda11.8_cudnn8.7.0_0\n"
    )
    assert import_file(path).conda == (
        'pytorch[version="==2.0.1", build="py3.11_cuda11.8_cudnn8.7.0_0"]',
    )


def test_a_pip_section_that_is_not_a_list_says_how_to_write_it(tmp_path: Path) -> None:
    code, err = init_from(
        tmp_path,
        "environment.yml",
        "channels: [conda-forge]\ndependencies:\n  - pip:\n      pandas\n",
    )
    assert code == 1 and "pip: holds 'pandas'" in err and "under `- pip:`" in err


def test_a_pixi_find_links_path_is_pixi_tomls(tmp_path: Path) -> None:
    """pixi reads `{path = "./wheels"}` from pixi.toml's directory, wherever mlenv.toml goes."""
    (tmp_path / "proj" / "wheels").mkdir(parents=True)
    path = tmp_path / "proj" / "pixi.toml"
    path.write_text(
        '[workspace]\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        '[pypi-options]\nfind-links = [{path = "./wheels"}, {url = "https://h/w/"}]\n'
    )
    assert import_file(path).find_links == (str(tmp_path / "proj" / "wheels"), "https://h/w/")


def test_poetry_2_groups_beside_project_dependencies_are_chosen(tmp_path: Path) -> None:
    """Poetry 2's usual layout: [project] dependencies, dev tools in a Poetry group; `--group
    dev` was "no such optional-dependencies or dependency-groups entry"."""
    text = (
        '[project]\nname = "m"\nversion = "0.1"\ndependencies = ["numpy>=1.26"]\n'
        '[tool.poetry.group.dev.dependencies]\npytest = "^8.0"\n'
    )
    assert imported(tmp_path, "pyproject.toml", text, ("dev",)) == [
        "numpy>=1.26",
        "pytest>=8.0,<9.0.0",
    ]
