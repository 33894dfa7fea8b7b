"""Attack 103: ``[pypi] prerelease`` and the ``init --from`` changes of attack 99, against uv
0.13.9, pip 26 and pixi on the same inputs.

Findings (input: what mlenv did -> what it does now):

- ``[tool.uv] prerelease = "if-necessary"`` (a pyproject spelling uv's default: uv 0.13.9's
  ``uv lock`` names its default mode ``if-necessary``, and it locks exactly what mlenv's
  "fallback" locks) was refused as "no mlenv equivalent" -> imported as the default.
- pixi's ``[pypi-options] prerelease-mode = "allow"`` (or ``"disallow"``) was dropped without
  a word: pixi resolves with uv under it, the manifest locked final releases -> imported to
  ``[pypi] prerelease`` as uv's key is; a mode mlenv cannot spell is refused, naming the key.
- ``--extra-index-url E --index-url I`` on one line: pip applies a line's ``-i`` before its
  extra indexes (``handle_option_line``), so it asks I then E; mlenv refused the line as an
  ``-i`` that drops an earlier extra index -> both, as pip reads them.
- ``--pre -r base.txt`` (or ``-r base.txt --pre``, ``-r a.txt -r b.txt``, ``-r base.txt -i
  URL``): pip reads only the first ``-r`` of such a line and ignores every other option on it
  (``_parse_and_recurse``; pip 26 locks ``a 1.0`` for ``--pre -r base.txt``); mlenv applied
  them all (``prerelease = "allow"``, both files, the index) -> refused, naming what pip
  ignores and how to write it.
- pip 26's own spellings ``--all-releases :all:`` (what pip turns ``--pre`` into) and
  ``--only-final :all:`` (never a pre-release, even pinned, as uv's disallow) were refused
  while ``--pre`` was imported -> "allow" and "disallow"; a per-package value, or both in one
  file (pip's outcome then hangs on their order), is refused naming the option.

Held: uv's ``--prerelease allow|disallow`` and mlenv's setting agreed on resolvability over
six hundred random worlds (pre-, dev-, post-releases, local versions, yanked files, extras,
``!=``, ``<V``, ``==V.*``, pins, transitive requirements); uv keeps a lock's pins when the mode
changes, as mlenv does; a lock spelling the default, a lock without the key, a lock edited to
another value (stale, re-locked by ``lock``) behave as documented.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from mlenv.importers.core import ImportFileError, read_requirements
from mlenv.importers.files import import_file
from mlenv.index import MemoryIndex
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from tests.support.peers import clean_env, pins_of, tool
from tests.support.wheels import build_wheel, write_simple_index

URL = "https://attack103.invalid/simple"
_I1, _I2 = "https://i1.example/simple", "https://i2.example/simple"


def _refusal(path: Path) -> str:
    with pytest.raises(ImportFileError) as refused:
        import_file(path, project=path.parent)
    return "\n".join(f"{p.where}: {p.message} ({p.hint})" for p in refused.value.problems)


def _write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory / next(iter(files))


# -- uv's "if-necessary" ------------------------------------------------------------------

_WORLDS = [
    # (files: name, version, yanked), requirement
    ([("a", "1.0", False), ("a", "2.0a1", False)], "a"),
    ([("a", "1.0", False), ("a", "2.0a1", False)], "a>1.0"),
    ([("a", "1.0", True), ("a", "1.1rc1", False)], "a"),
    ([("a", "1.0", False), ("a", "2.0a1", False)], "a>=0.5a1"),
]


def _uv_pins(tmp_path: Path, files: list[tuple[str, str, bool]], root: str, mode: str) -> str:
    built = [(build_wheel(n, v), y) for n, v, y in files]
    url = write_simple_index(
        tmp_path / "index", [w for w, _ in built], yanked={w[0]: "" for w, y in built if y}
    )
    (tmp_path / "r.in").write_text(root + "\n")
    done = subprocess.run(
        [tool("uv"), "pip", "compile", str(tmp_path / "r.in"), "-o", str(tmp_path / "r.txt"),
         "--no-cache", "--quiet", "--no-header", "--python-version", "3.11",
         "--python-platform", "x86_64-manylinux_2_28", "--only-binary", ":all:",
         "--default-index", url, "--prerelease", mode],
        env=clean_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return pins_of((tmp_path / "r.txt").read_text())["a"]


def _mlenv_pin(files: list[tuple[str, str, bool]], root: str) -> str:
    built = [(build_wheel(n, v), y) for n, v, y in files]
    index = MemoryIndex(URL, dict(w for w, _ in built), yanked={w[0]: "" for w, y in built if y})
    text = (
        '[environment]\nname = "d"\npython = "3.11"\nplatforms = ["linux-64"]\n'
        f'[pypi]\nindex-url = "{URL}"\ndependencies = ["{root}"]\n'
    )
    lock = lock_manifest(loads(text), Sources(index, (URL,), ()), reporter=MemoryReporter())
    return {canonicalize_name(p.name): p.version for _, p in lock.packages()}[
        canonicalize_name("a")
    ]


@pytest.mark.parametrize(("files", "root"), _WORLDS)
def test_uv_if_necessary_locks_what_mlenv_s_default_locks(
    tmp_path: Path, files: list[tuple[str, str, bool]], root: str
) -> None:
    """Protects the mapping of uv's "if-necessary" to mlenv's default: uv 0.13.9 takes a
    pre-release under it exactly where mlenv's "fallback" does (a range of pre-releases only,
    a yanked final), and a final release otherwise."""
    assert _uv_pins(tmp_path, files, root, "if-necessary") == _mlenv_pin(files, root)


def test_a_pyproject_spelling_uv_s_default_mode_imports(tmp_path: Path) -> None:
    """Protects `init --from` on ``prerelease = "if-necessary"``: uv's default, spelled out,
    is mlenv's default, not a refusal."""
    path = _write(tmp_path, {"pyproject.toml": (
        '[project]\nname = "x"\nversion = "1"\ndependencies = ["numpy"]\n'
        '[tool.uv]\nprerelease = "if-necessary"\n')})  # fmt: skip
    imported = import_file(path)
    assert imported.pypi == ("numpy",)
    assert imported.prerelease is None


# -- pixi's prerelease-mode -----------------------------------------------------------------


def _pixi(mode: str) -> str:
    return (
        '[workspace]\nname = "x"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        '[dependencies]\npython = "3.11.*"\n'
        f'[pypi-options]\nprerelease-mode = "{mode}"\n'
        '[pypi-dependencies]\ntorch = "*"\n'
    )


@pytest.mark.parametrize(
    ("mode", "setting"),
    [("allow", "allow"), ("disallow", "disallow"), ("if-necessary", None),
     ("if-necessary-or-explicit", None)],
)  # fmt: skip
def test_pixi_s_prerelease_mode_is_imported(tmp_path: Path, mode: str, setting: str | None) -> None:
    """Protects pixi's pre-release rule across `init --from`: pixi resolves its PyPI
    dependencies with uv under ``prerelease-mode``; dropping it locked final releases where
    pixi takes a nightly."""
    imported = import_file(_write(tmp_path, {"pixi.toml": _pixi(mode)}))
    assert imported.prerelease == setting


def test_a_pixi_prerelease_mode_mlenv_cannot_spell_is_refused(tmp_path: Path) -> None:
    problems = _refusal(_write(tmp_path, {"pixi.toml": _pixi("explicit")}))
    assert "prerelease-mode" in problems and "'explicit'" in problems


# -- pip's option lines ---------------------------------------------------------------------


def test_an_index_url_after_an_extra_index_on_its_own_line_is_both(tmp_path: Path) -> None:
    """Protects pip's reading of one line: ``-i`` is applied before the line's extra
    indexes, so both are asked (only an ``-i`` on a later line drops earlier extras)."""
    path = _write(tmp_path, {"requirements.txt": f"--extra-index-url {_I2} -i {_I1}\na\n"})
    imported = import_file(path, project=tmp_path)
    assert (imported.index_url, imported.extra_index_urls) == (_I1, (_I2,))
    later = _write(tmp_path, {"r2.txt": f"--extra-index-url {_I2}\n-i {_I1}\na\n"})
    assert "makes pip drop the --extra-index-url" in _refusal(later)


@pytest.mark.parametrize(
    "line",
    ["--pre -r base.txt", "-r base.txt --pre", "-r base.txt -r more.txt",
     f"-r base.txt -i {_I1}", f"--extra-index-url={_I2} -r base.txt"],
)  # fmt: skip
def test_options_beside_an_include_are_refused_as_pip_ignores_them(
    tmp_path: Path, line: str
) -> None:
    """Protects `init --from` against applying what pip drops: pip reads only the first
    ``-r`` of a line and ignores every other option on it."""
    path = _write(tmp_path, {"requirements.txt": f"{line}\n", "base.txt": "a\n", "more.txt": "b\n"})
    problems = _refusal(path)
    assert "pip ignores" in problems and "beside -r" in problems
    assert "line of its own" in problems


def test_pip_ignores_pre_beside_an_include(tmp_path: Path) -> None:
    """The peer's reading the refusal above rests on: pip 26 installs the final release for
    ``--pre -r base.txt`` and the pre-release for ``--pre`` on a line of its own."""
    url = write_simple_index(
        tmp_path / "index", [build_wheel("a", "1.0"), build_wheel("a", "2.0a1")]
    )
    (tmp_path / "base.txt").write_text("a\n")
    picked = {}
    for name, text in (("beside.txt", "--pre -r base.txt\n"), ("own.txt", "--pre\n-r base.txt\n")):
        (tmp_path / name).write_text(f"-i {url}\n{text}")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
             "--report", "-", "-r", str(tmp_path / name)],
            env=clean_env(), capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        picked[name] = json.loads(done.stdout)["install"][0]["metadata"]["version"]
    assert picked == {"beside.txt": "1.0", "own.txt": "2.0a1"}


def test_a_line_of_its_own_beside_an_include_still_imports(tmp_path: Path) -> None:
    path = _write(tmp_path, {"requirements.txt": "--pre\n-r base.txt\n", "base.txt": "a\n"})
    imported = import_file(path, project=tmp_path)
    assert imported.pypi == ("a",) and imported.prerelease == "allow"


@pytest.mark.parametrize(
    ("text", "setting"),
    [("--all-releases :all:\na\n", "allow"), ("--all-releases=:all:\na\n", "allow"),
     ("--only-final=:all:\na\n", "disallow"), ("--only-final :all:\n--only-final :all:\na\n",
                                               "disallow")],
)  # fmt: skip
def test_pip_26_release_controls_for_every_project_import(
    tmp_path: Path, text: str, setting: str
) -> None:
    """Protects pip 26's spellings of the rule: ``--all-releases :all:`` is ``--pre``,
    ``--only-final :all:`` refuses every pre-release, pinned or not (as uv's disallow)."""
    imported = import_file(_write(tmp_path, {"requirements.txt": text}), project=tmp_path)
    assert imported.prerelease == setting


@pytest.mark.parametrize(
    "text",
    ["--all-releases torch\ntorch\n", "--only-final=numpy\nnumpy\n",
     "--pre\n--only-final :all:\na\n", "--only-final :all:\n--all-releases :all:\na\n"],
)  # fmt: skip
def test_a_release_control_mlenv_cannot_spell_is_refused(tmp_path: Path, text: str) -> None:
    problems = _refusal(_write(tmp_path, {"requirements.txt": text}))
    assert "--all-releases" in problems or "--only-final" in problems


def test_read_requirements_and_import_file_agree(tmp_path: Path) -> None:
    """The CLI's reader (``read_requirements``) takes the same rule as ``import_file``."""
    path = _write(tmp_path, {"requirements.txt": "--only-final :all:\na\n"})
    assert read_requirements(path, (tmp_path,)).prerelease == "disallow"
