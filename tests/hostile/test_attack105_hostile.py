"""Attack 105: three gaps against what pip 26 and uv 0.13 do with the same input.

Findings (input: what mlenv did -> what it does now):

- ``attrs[tests]`` where the locked attrs declares no ``tests`` extra, or a dependency's
  ``lib[gpu]`` that lib lacks: pip warns ("does not provide the extra"), uv too; ``mlenv
  lock`` said nothing -> a warning naming package, version, extra and who asked, the pins
  and lock unchanged, said again by the lock memo. Extras compare PEP 685-normalised.
- ``init --from pylock.toml`` written by ``uv export --format pylock.toml`` with a package
  from an explicit index (each entry carries its own ``index``): every index became an extra
  index under best-match for all packages -> a project every entry of which names one index
  other than the default is a ``[pypi] sources`` entry, and that index is no extra index.
- ``x==1 \\  # note`` in a requirements file: "cannot split the line: No escaped character"
  -> pip's reading: the backslash continues nothing (spaces or a comment follow it), so pip
  refuses ``x==1 \\`` as an invalid requirement; mlenv says so, naming the file and line.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from mlenv.importers.core import ImportFileError, read_requirements
from mlenv.importers.files import import_file
from mlenv.importers.pylock import explicit_sources
from mlenv.index import MemoryIndex
from mlenv.report import MemoryReporter
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.cli import run_mlenv
from tests.support.memo import first_lock
from tests.support.peers import CUDA_INDEX, LOCAL_INDEX, clean_env, tool
from tests.support.wheels import build_wheel, write_simple_index

X86_311 = Target("linux-64", "3.11", "2.28")
WHEELS = [
    build_wheel("attrs", "26.1.0", provides_extra=["benchmark"]),
    build_wheel("app", "1.0", requires_dist=["lib[GPU,Fast_Path]>=1"]),
    build_wheel(
        "lib",
        "1.0",
        provides_extra=["fast-path"],
        requires_dist=["attrs; extra == 'fast-path'"],
    ),
]


def _resolve(requirements: list[str]) -> tuple[dict[str, str], list[str]]:
    reporter = MemoryReporter()
    index = MemoryIndex("memory://a", dict(WHEELS))
    found = resolve([Requirement(r) for r in requirements], X86_311, index, reporter=reporter)
    return {p.name: str(p.version) for p in found.pins}, reporter.messages("warning")


def test_an_extra_the_pinned_release_lacks_is_a_warning_naming_who_asked() -> None:
    pins, warnings = _resolve(["attrs[tests]", "app"])
    assert pins == _resolve(["attrs", "app"])[0] == {"attrs": "26.1.0", "app": "1.0", "lib": "1.0"}
    assert sorted(warnings) == [
        "attrs 26.1.0 (linux-64) does not provide the extra 'tests' (asked by the manifest); "
        "locked without it",
        "lib 1.0 (linux-64) does not provide the extra 'gpu' (asked by app 1.0); locked without it",
    ]  # Fast_Path is lib's fast-path (PEP 685): no warning for it


def test_extras_every_release_defines_say_nothing() -> None:
    assert _resolve(["attrs[Benchmark]", "lib[fast_path]"])[1] == []


def test_the_lock_memo_says_the_warning_again(tmp_path: Path) -> None:
    index = write_simple_index(tmp_path / "index", WHEELS)
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "x"\npython = "3.11"\n[pypi]\n'
        f'index-url = "{index}"\ndependencies = ["attrs[tests]"]\n'
    )
    full = first_lock(project, tmp_path / "cache")
    again = first_lock(project, tmp_path / "cache")
    assert full.status == again.status == 0 and not full.recalled and again.recalled
    assert again.lock == full.lock and again.said == full.said
    assert any("does not provide the extra 'tests'" in line for line in again.said), again.said


def _uv_pylock(tmp_path: Path) -> Path:
    """A real ``uv export --format pylock.toml``: pycountry from an explicit index, the rest
    from the default one (the local mirrors; a proxy on a dead port keeps uv off the net)."""
    project = tmp_path / "uv"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["six", "iniconfig", "pycountry"]\n'
        f'[[tool.uv.index]]\nname = "more"\nurl = "{CUDA_INDEX}"\nexplicit = true\n'
        '[tool.uv.sources]\npycountry = { index = "more" }\n'
    )
    dead = "http://127.0.0.1:9"
    env = clean_env(UV_CACHE_DIR=str(tmp_path / "uv-cache"), HTTP_PROXY=dead, HTTPS_PROXY=dead,
                    ALL_PROXY=dead)  # fmt: skip
    for args in (["lock"], ["export", "--format", "pylock.toml", "--no-emit-project",
                            "-o", "pylock.toml"]):  # fmt: skip
        subprocess.run([tool("uv"), *args, "--default-index", LOCAL_INDEX], cwd=project, env=env,
                       check=True, capture_output=True)  # fmt: skip
    return project / "pylock.toml"


def test_uv_pylock_with_an_explicit_index_imports_as_a_source(tmp_path: Path) -> None:
    path = _uv_pylock(tmp_path)
    packages = tomllib.loads(path.read_text())["packages"]
    assert {p["name"]: p["index"] for p in packages}["pycountry"] == CUDA_INDEX
    imported = import_file(path)
    assert imported.sources == (("pycountry", CUDA_INDEX),)
    assert imported.index_url == LOCAL_INDEX and imported.extra_index_urls == ()
    assert {Requirement(r).name for r in imported.pypi} == {"six", "iniconfig", "pycountry"}
    run = run_mlenv(["init", "--from", str(path)], path.parent)
    assert run.returncode == 0, run.stderr
    pypi = tomllib.loads((path.parent / "mlenv.toml").read_text())["pypi"]
    assert pypi["sources"] == {"pycountry": CUDA_INDEX} and pypi["extra-index-urls"] == []
    assert pypi["index-url"] == LOCAL_INDEX and "pycountry: every entry" in run.stderr


def test_a_project_split_between_indexes_keeps_its_index_shared() -> None:
    """torch for Linux from PyTorch's index and for macOS from PyPI: no source can say that,
    so the index stays an extra one, and torchvision on it is no source either."""
    pypi, torch_index = "https://pypi.org/simple", "https://download.pytorch.org/whl/cu124"
    entries = {"numpy": [pypi], "torch": [torch_index, pypi], "torchvision": [torch_index]}
    assert explicit_sources(entries, pypi) == {}
    entries["torch"] = [torch_index, torch_index]
    assert explicit_sources(entries, pypi) == {"torch": torch_index, "torchvision": torch_index}


@pytest.mark.parametrize(
    ("line", "refusal"),
    [("x==1 \\  # note", "pip refuses the requirement 'x==1 \\\\'"),
     ("x==1 \\   ", "pip refuses the requirement 'x==1 \\\\'"),
     ("--pre \\ # note", "pip cannot split the options '--pre \\\\'")],
)  # fmt: skip
def test_a_backslash_before_a_comment_is_pips_refusal(
    tmp_path: Path, line: str, refusal: str
) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(f"six==1.17.0\n{line}\ny==2\n")
    with pytest.raises(ImportFileError) as refused:
        read_requirements(path)
    [problem] = refused.value.problems
    assert problem.where == f"{path}:2"
    assert refusal in problem.message and "No escaped character" not in problem.message
    assert problem.hint is not None and "comment on a line of its own" in problem.hint


def test_pip_refuses_the_same_line(tmp_path: Path) -> None:
    """What the message claims: pip 26 reads ``x==1 \\`` and refuses it."""
    path = tmp_path / "requirements.txt"
    path.write_text("x==1 \\  # note\n")
    result = subprocess.run(
        [tool("pip"), "install", "--dry-run", "--no-index", "-r", str(path)],
        env=clean_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Invalid requirement: 'x==1 \\\\'" in result.stderr and "line 1" in result.stderr
