"""Attack 99: `mlenv init --from` on real-world shapes nobody here wrote, judged against what
pip 26 (``pip/_internal/req/req_file.py``) makes of the same file.

Findings (input: what mlenv did -> what it does now):

- ``--extra-index-url https://download.pytorch.org/whl/cu121`` then ``--index-url
  https://pypi.org/simple`` (the order READMEs and Dockerfiles write them in; in one file or
  across ``-r``): pip's ``handle_option_line`` resets its index list at ``-i``, so the
  PyTorch index is dropped and ``torch==2.1.0+cu121`` cannot be found; mlenv kept both and
  locked from an index pip never asks -> refused naming both lines.
- ``torch==2.1.0 --index-url https://download.pytorch.org/whl/cu118`` (a conda
  environment.yml pip: entry, copied from PyTorch's install command): pip parses a file-wide
  option after a requirement and drops it (torch comes from PyPI); mlenv said "per-requirement
  options ... build the wheel with that option", the wrong fix -> "pip ignores --index-url
  after a requirement", with how to apply it to the file. ``torch==2.1.0 -i URL`` was "not a
  PEP 508 requirement".
- ``init --from uv.lock`` (or poetry.lock, pixi.lock, pdm.lock, Pipfile.lock): "it is an
  mlenv lock", and ``inspect uv.lock`` judged it as a damaged mlenv lock -> "another tool's
  lock", with the file to import in its place.
- Poetry's own PyTorch recipe (``torch = {version = "^2.1", source = "pytorch"}`` with an
  explicit ``[[tool.poetry.source]]``, Poetry 1 or Poetry 2's [project] layout) was refused
  ("comes from a Poetry source"), though an explicit source is exactly a [pypi] source (the
  package from that index only, the index serving nothing else) -> written as one. A source
  that is not explicit, or sources chosen by marker, are still refused, naming the fix.
- ``[tool.uv] override-dependencies`` / ``constraint-dependencies`` (``numpy<2``) were dropped
  silently: uv locks numpy 1.x, the manifest 2.x -> refused naming the key. The dev group uv
  installs by default (``default-groups``) was left out without a word -> a note.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.importers.core import FILE_OPTIONS, ImportFileError, read_requirements
from mlenv.importers.files import import_file
from mlenv.subjects import judge
from tests.support.cli import run_mlenv

_TORCH = "https://download.pytorch.org/whl/cu121"


def _refusal(path: Path) -> str:
    with pytest.raises(ImportFileError) as refused:
        read_requirements(path, (path.parent,))
    return "\n".join(f"{p.where}: {p.message} ({p.hint})" for p in refused.value.problems)


@pytest.mark.parametrize(
    "files",
    [
        # README/Dockerfile order: the CUDA index first, PyPI after it
        {"requirements.txt": f"--extra-index-url {_TORCH}\n--index-url https://pypi.org/simple\n"
         "torch==2.1.0+cu121\n"},
        # vllm's requirements/cuda.txt shape: -r common.txt holds an extra index, -i after it
        {"requirements.txt": "-r common.txt\n-i https://pypi.org/simple\ntorch==2.1.0\n",
         "common.txt": f"--extra-index-url={_TORCH}\nnumpy\n"},
    ],
)  # fmt: skip
def test_an_index_url_after_an_extra_index_is_refused_as_pip_drops_it(
    tmp_path: Path, files: dict[str, str]
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    said = _refusal(tmp_path / "requirements.txt")
    assert "requirements.txt:2" in said and "drop the --extra-index-url" in said
    assert ("common.txt:1" if "common.txt" in files else "requirements.txt:1") in said
    assert "put --index-url before every --extra-index-url" in said


def test_an_index_url_before_the_extra_index_keeps_both(tmp_path: Path) -> None:
    """pip reads both in this order, so mlenv does; a second ``-i`` alone replaces the first,
    as pip's does."""
    path = tmp_path / "requirements.txt"
    path.write_text(f"-i https://a.example/simple\n-i https://pypi.org/simple\n"
                    f"--extra-index-url {_TORCH}\ntorch==2.1.0+cu121\n")  # fmt: skip
    imported = read_requirements(path)
    assert imported.index_url == "https://pypi.org/simple"
    assert imported.extra_index_urls == (_TORCH,)
    assert imported.pypi == ("torch==2.1.0+cu121",)


def test_a_file_option_after_a_requirement_says_pip_ignores_it(tmp_path: Path) -> None:
    """A conda environment.yml pip: entry copied from PyTorch's install command."""
    (tmp_path / "environment.yml").write_text(
        "channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip:\n"
        "    - torch==2.1.0 --index-url https://download.pytorch.org/whl/cu118\n"
    )
    with pytest.raises(ImportFileError) as refused:
        import_file(tmp_path / "environment.yml")
    (problem,) = refused.value.problems
    assert problem.where.endswith("dependencies[1].pip[0]")
    assert "pip ignores --index-url after a requirement" in problem.message
    assert "'torch==2.1.0'" in problem.message
    assert problem.hint is not None and "line of its own" in problem.hint
    assert "build the wheel" not in problem.hint


_NAMES = st.sampled_from(["torch", "numpy", "flash-attn", "nvidia-cutlass-dsl[cu13]"])
_SPECS = st.sampled_from(["", "==2.1.0", " == 2.1.0", ">=1.0,<3", "~=1.26"])
_MARKERS = st.sampled_from(["", '; platform_system == "Linux"', "; python_version > '3.11'",
                            ';platform_version == "-1"'])  # fmt: skip
_VALUE = st.sampled_from(["https://download.pytorch.org/whl/cu118", ":all:", "x.txt", "h"])


@settings(max_examples=150, deadline=None)
@given(_NAMES, _SPECS, _MARKERS, st.sampled_from(sorted(FILE_OPTIONS)), _VALUE, st.booleans())
def test_any_file_option_after_any_requirement_is_named(
    name: str, spec: str, marker: str, option: str, value: str, equals: bool
) -> None:
    """pip's break_args_options: the options begin at the first word starting with "-", and
    of those only --hash and --config-settings belong to the requirement; whatever the option
    and its spelling, the refusal names it and the requirement before it."""
    requirement = f"{name}{spec}{marker}"
    tail = f"{option}={value}" if equals and option.startswith("--") else f"{option} {value}"
    with tempfile.TemporaryDirectory() as place:
        path = Path(place) / "requirements.txt"
        path.write_text(f"{requirement} {tail}\n")
        said = _refusal(path)
    assert f"pip ignores {option} after a requirement" in said
    assert repr(" ".join(requirement.split())) in said or repr(requirement) in said


@settings(max_examples=150, deadline=None)
@given(_NAMES, _SPECS, _MARKERS, st.sampled_from(["", " --hash=sha256:ab", "\t--hash=sha256:ab"]))
def test_a_requirement_line_round_trips(name: str, spec: str, marker: str, tail: str) -> None:
    """A requirement (a marker's quoted "-1" is no option) is kept as written, its hashes
    dropped; a hash needs a pin."""
    requirement = f"{name}{spec}{marker}"
    with tempfile.TemporaryDirectory() as place:
        path = Path(place) / "requirements.txt"
        path.write_text(f"{requirement}{tail}\n")
        if tail and "==" not in spec:
            assert "has --hash but no == pin" in _refusal(path)
            return
        assert read_requirements(path).pypi == (" ".join(requirement.split()),)


@pytest.mark.parametrize(
    ("name", "instead"),
    [("uv.lock", "pyproject.toml"), ("poetry.lock", "pyproject.toml"),
     ("pixi.lock", "pixi.toml"), ("Pipfile.lock", "pipenv requirements")],
)  # fmt: skip
def test_another_tools_lock_is_named_with_what_to_import(
    tmp_path: Path, name: str, instead: str
) -> None:
    path = tmp_path / name
    path.write_text('version = 1\nrequires-python = ">=3.10"\n\n[[package]]\nname = "six"\n')
    assert judge(path) == "tool-lock"
    result = run_mlenv(["init", "--from", name], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "another tool's lock" in result.stderr and "mlenv lock" not in result.stderr
    assert instead in result.stderr
    assert not (tmp_path / "mlenv.toml").exists()
    shown = run_mlenv(["inspect", name], tmp_path)
    assert shown.returncode == 1 and "another tool's lock" in shown.stderr


def test_an_mlenv_lock_under_a_tools_name_is_still_an_mlenv_lock(tmp_path: Path) -> None:
    """Contents decide first: mlenv's own lock copied to uv.lock is still read as one."""
    path = tmp_path / "uv.lock"
    path.write_text("# mlenv.lock: written by `mlenv lock`\n\nversion = 1\n")
    assert judge(path) == "lock"
    (tmp_path / "other.lock").write_text("version = 1\n")
    assert judge(tmp_path / "other.lock") == "lock"


_POETRY_SOURCE = """
[[tool.poetry.source]]
name = "pytorch"
url = "https://download.pytorch.org/whl/cu121"
priority = "{priority}"
"""


@pytest.mark.parametrize(
    "layout",
    [
        # Poetry 1, as Poetry's documentation writes the PyTorch source
        '[tool.poetry]\nname = "p"\nversion = "0"\n\n[tool.poetry.dependencies]\n'
        'python = "^3.10"\ntorch = {{ version = "^2.1.0", source = "pytorch" }}\n'
        'numpy = "^1.26"\n',
        # Poetry 2: [project] dependencies, the source named in Poetry's table
        '[project]\nname = "p"\nversion = "0"\nrequires-python = ">=3.10"\n'
        'dependencies = ["torch>=2.1", "numpy"]\n\n[tool.poetry.dependencies]\n'
        'torch = {{ source = "pytorch" }}\n',
    ],
)
def test_a_poetry_explicit_source_becomes_a_pypi_source(tmp_path: Path, layout: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(layout.format() + _POETRY_SOURCE.format(priority="explicit"))
    imported = import_file(path)
    assert imported.sources == (("torch", "https://download.pytorch.org/whl/cu121"),)
    assert "https://download.pytorch.org/whl/cu121" not in (
        imported.index_url,
        *imported.extra_index_urls,
    )
    assert any(line.startswith("torch") for line in imported.pypi)
    result = run_mlenv(["init", "--from", "pyproject.toml"], tmp_path)
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "mlenv.toml").read_text()
    assert 'sources = {torch = "https://download.pytorch.org/whl/cu121"}' in written


def test_a_poetry_source_that_is_not_explicit_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.poetry.dependencies]\npython = "^3.10"\n'
                    'torch = { version = "^2.1.0", source = "pytorch" }\n'
                    + _POETRY_SOURCE.format(priority="supplemental"))  # fmt: skip
    with pytest.raises(ImportFileError) as refused:
        import_file(path)
    (problem,) = refused.value.problems
    assert problem.where.endswith("[tool.poetry.dependencies] torch")
    assert "'pytorch'" in problem.message and problem.hint == (
        "give the source 'pytorch' priority = \"explicit\""
    )


@pytest.mark.parametrize("linux", ["sys_platform == 'linux'", "platform_machine == 'x86_64'"])
def test_poetry_sources_by_marker_hold_only_when_linux_agrees(tmp_path: Path, linux: str) -> None:
    """The Linux table's explicit source is torch's on every mlenv target (the macOS table's
    line stays, false there); a marker that splits the Linux targets is refused (a [pypi]
    source holds on every platform), as uv's sources are judged."""
    path = tmp_path / "pyproject.toml"
    darwin = "sys_platform == 'darwin'"
    path.write_text('[tool.poetry.dependencies]\npython = "^3.10"\ntorch = [\n'
                    f'  {{ version = "^2.1", source = "pytorch", markers = "{linux}" }},\n'
                    f'  {{ version = "^2.1", markers = "{darwin}" }},\n]\n'
                    + _POETRY_SOURCE.format(priority="explicit"))  # fmt: skip
    if "machine" not in linux:
        assert [name for name, _ in import_file(path).sources] == ["torch"]
        return
    with pytest.raises(ImportFileError) as refused:
        import_file(path)
    assert any("true on linux-64 and false on linux-aarch64" in p.message
               for p in refused.value.problems)  # fmt: skip


def test_uv_overrides_and_constraints_are_kept_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    text = '[project]\nname = "p"\nversion = "0"\ndependencies = ["numpy"]\n\n[tool.uv]\n'
    path.write_text(text + 'override-dependencies = ["numpy<2"]\n')
    assert import_file(path).overrides == ("numpy<2",)  # [pypi] overrides since
    path.write_text(text + 'constraint-dependencies = ["numpy<2"]\n')
    assert import_file(path).constraints == ("numpy<2",)  # [pypi] constraints since
    path.write_text(text + 'override-dependencies = "numpy<2"\n')
    with pytest.raises(ImportFileError) as refused:
        import_file(path)
    (problem,) = refused.value.problems
    assert problem.where.endswith("[tool.uv] override-dependencies")
    assert "not an array of strings" in problem.message


@pytest.mark.parametrize(
    ("defaults", "chosen", "noted"),
    [(None, (), "dev"), ('["dev", "lint"]', ("lint",), "dev"), ('"all"', (), "dev, lint"),
     ("[]", (), None), (None, ("dev",), None)],
)  # fmt: skip
def test_uv_default_groups_left_out_are_noted(
    tmp_path: Path, defaults: str | None, chosen: tuple[str, ...], noted: str | None
) -> None:
    path = tmp_path / "pyproject.toml"
    setting = "" if defaults is None else f"default-groups = {defaults}\n"
    path.write_text('[project]\nname = "p"\nversion = "0"\ndependencies = ["numpy"]\n\n'
                    '[dependency-groups]\ndev = ["pytest"]\nlint = ["ruff"]\n\n'
                    f"[tool.uv]\n{setting}")  # fmt: skip
    notes = [n for n in import_file(path, chosen).notes if "by default" in n]
    assert notes == ([] if noted is None else [
        f"uv installs the group(s) {noted} by default (default-groups); not imported: pass "
        "--group to import"
    ])  # fmt: skip


def test_uvs_legacy_dev_dependencies_are_its_dev_group(tmp_path: Path) -> None:
    """``[tool.uv] dev-dependencies`` (uv before PEP 735, still in many projects): uv installs
    it as the dev group by default; `--group dev` was "no such entry"."""
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "p"\nversion = "0"\ndependencies = ["numpy"]\n\n'
                    '[dependency-groups]\ndev = ["ruff"]\n\n'
                    '[tool.uv]\ndev-dependencies = ["pytest>=8"]\n')  # fmt: skip
    left_out = import_file(path)
    assert left_out.pypi == ("numpy",)
    assert any("group(s) dev by default" in note for note in left_out.notes)
    chosen = import_file(path, ("dev",))
    assert set(chosen.pypi) == {"numpy", "pytest>=8", "ruff"}
    assert not any("by default" in note for note in chosen.notes)


def test_a_default_group_included_by_a_chosen_one_is_not_noted(tmp_path: Path) -> None:
    """`--group dev` where dev includes lint (PEP 735): lint is imported, so not "left out"."""
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "p"\nversion = "0"\ndependencies = ["numpy"]\n\n'
                    '[dependency-groups]\ndev = ["pytest", {include-group = "Lint"}]\n'
                    'lint = ["ruff"]\n\n[tool.uv]\ndefault-groups = ["dev", "lint"]\n')  # fmt: skip
    imported = import_file(path, ("dev",))
    assert set(imported.pypi) == {"numpy", "pytest", "ruff"}
    assert not any("by default" in note for note in imported.notes)
