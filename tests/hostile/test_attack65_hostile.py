"""Attack 65: a platform engineer's first week with mlenv, coming from uv, pixi and Docker.

Every case runs the real CLI in a project locked from a tiny local index and asserts: exit 1,
stderr names the thing and carries the hint, no traceback, manifest and lock unchanged byte for
byte (and the JSON error event well-formed on stderr, stdout empty).

Findings (input: what mlenv did -> what it does now):
1. any command where only a pyproject.toml / pixi.toml / requirements.txt exists: "no manifest
   here, run `mlenv init`" -> the hint names the file: `mlenv init --from pyproject.toml`
   (commands.session.read_manifest). Fixed.
2. a global option after the command (`mlenv lock -q`, `lock -v`, `fetch --cache DIR`, as uv
   and pixi accept them): click's bare "No such option '-q'" -> a hint to put it before the
   command, in the JSON event too (cli.exit_status). Fixed; since then `-q`/`-v` are taken
   after the command (mlenv.cli_flags), and the hint stays for the options taking a value.
3. a key in the wrong table (`cuda` under [pypi], `driver-floor` under [environment],
   top-level `dependencies`) listed "valid keys" of the wrong table -> the hint names the table
   it belongs in; pyproject/pixi tables ([project], [tool], [workspace]) point at
   `mlenv init --from` (manifest_checker._Checker.table, hints.key_elsewhere). Fixed.
4. a value of the wrong TOML type (`python = 3.11`, `platforms = "linux-64"`, dependencies as a
   string) said what was expected but not how to write it -> a hint with the quoted or array
   spelling (manifest_checker._Checker.wrong_type). Fixed.
5. `mlenv add torch=2.1` (conda/pixi spelling) and `lib>=2.*` got the generic "write a name and
   an optional version" -> "did you mean torch==2.1" / the wildcard goes only with == or !=,
   for `add` and for the manifest's [pypi].dependencies alike (hints.requirement). Fixed.
6. `mlenv remove lib>=2` (a spec, not a name) said "not in the manifest" -> the hint gives the
   name (edit.remove). Fixed.
7. `mlenv lock --check --upgrade` / `--check -P NAME` silently ignored the upgrade and said "up
   to date" -> a usage error: the flags exclude each other (commands.lock). Fixed.
Judged fine as they were: typo'd commands and flags (click's did-you-mean appears, exit 1);
`verify --driver X --host`; `build` / `fetch --offline` / `build --offline` with an empty cache
(every missing artifact listed, hint to fetch); MLENV_DRIVER_VERSION "", "abc", fullwidth digits
(named, hint) while "535", "535.54.03.1" and " 535.54.03\\n" are documented valid spellings;
MLENV_CACHE_DIR a file (named, hint); SOURCE_DATE_EPOCH -1, 1e9, abc, huge, " 1700000000"
(named, hint); `[cuda] driver_floor`, `extra-index-url`, `index_url` (did-you-mean); `mlenv add`
of an unknown package (lock fails, nothing written). Not fixed: manifest problems name the key
path but no line number; `verify DIR-that-is-no-layout` reports "<parent>/build.json" as where;
`inspect DIR` without oci-layout has no hint; a relative MLENV_CACHE_DIR is taken relative to
the working directory (as uv does) without a word. As root, read-only and no-permission cache
directories cannot be tested here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.hostile

HEAD = '[environment]\nname = "f"\npython = "3.11"\n'


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("attack65")
    index = write_simple_index(
        root / "index",
        [build_wheel("app", "1.0", requires_dist=["lib"]), build_wheel("lib", "2.0")],
    )
    project = root / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        # build judges SOURCE_DATE_EPOCH once it knows the interpreter
        f'{HEAD}interpreter = "/usr/bin/python3"\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["app"]\n'
    )
    done = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(root / "cache")})
    assert done.returncode == 0, done.stderr
    return project


def _files(project: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(project.iterdir()) if p.is_file()}


def _refused(args: list[str], cwd: Path, *needles: str) -> str:
    before = _files(cwd)
    done = run_mlenv(args, cwd, {"MLENV_CACHE_DIR": str(cwd.parent / "cache")})
    assert done.returncode == 1, (args, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in done.stderr, (args, needle, done.stderr)
    assert _files(cwd) == before, args
    return done.stderr


CLI_MISTAKES = [
    (["fetch", "--cache", "/tmp/x"], ["--cache", "mlenv --cache DIRECTORY fetch"]),
    (["show", "--manifest=x.toml"], ["--manifest", "mlenv --manifest FILE show"]),
    (["show", "--log-format", "json"], ["--log-format", "mlenv --log-format FORMAT show"]),
    (["lcok"], ["No such command 'lcok'", "Did you mean 'lock'?"]),
    (["build", "--ofline"], ["--ofline", "Did you mean '--offline'?"]),
    (["lock", "--check", "--upgrade"], ["--check and --upgrade exclude each other", "hint:"]),
    (["lock", "--check", "-P", "lib"], ["--upgrade-package", "mlenv lock --check"]),
    (["verify", "--driver", "550.54.14", "--host"], ["exclude each other", "hint:"]),
    (["add", "torch=2.1"], ["'torch=2.1'", 'did you mean "torch==2.1"?']),
    (["add", "lib>=2.*"], ["'lib>=2.*'", '"lib==2.*" or "lib>=2"']),
    (["remove", "lib>=2"], ["lib>=2", "mlenv remove lib"]),
    (["add", "nosuchpkg"], ["nosuchpkg: not found"]),
    (["fetch", "--offline"], ["app 1.0: missing", "hint: run `mlenv fetch`"]),
]


@pytest.mark.parametrize(
    ("args", "needles"), CLI_MISTAKES, ids=[" ".join(a) for a, _ in CLI_MISTAKES]
)
def test_cli_mistake_is_named_with_a_hint_and_changes_nothing(
    locked: Path, args: list[str], needles: list[str]
) -> None:
    _refused(args, locked, *needles)


def test_json_usage_error_is_one_event_on_stderr(locked: Path) -> None:
    done = run_mlenv(["--log-format", "json", "show", "--cache", "/tmp/x"], locked)
    assert done.returncode == 1
    assert done.stdout == ""
    event = json.loads(done.stderr.strip().splitlines()[-1])
    assert event["event"] == "error" and event["exit_code"] == 1
    assert "mlenv --cache DIRECTORY show" in event["message"]


FOREIGN = [
    ("pyproject.toml", '[project]\nname = "x"\ndependencies = ["numpy"]\n'),
    ("pixi.toml", '[workspace]\nname = "x"\n'),
    ("requirements.txt", "numpy\n"),
]


@pytest.mark.parametrize(("name", "text"), FOREIGN, ids=[n for n, _ in FOREIGN])
@pytest.mark.parametrize("command", [["show"], ["lock"], ["add", "numpy"], ["verify"]])
def test_no_manifest_beside_another_tools_file_suggests_init_from(
    tmp_path: Path, name: str, text: str, command: list[str]
) -> None:
    (tmp_path / name).write_text(text)
    _refused(command, tmp_path, "mlenv.toml: no manifest here", f"mlenv init --from {name}")


def test_no_manifest_in_an_empty_directory_suggests_init(tmp_path: Path) -> None:
    _refused(["lock"], tmp_path, "no manifest here", "run `mlenv init`")


MANIFESTS = [
    (
        "cuda-in-pypi",
        '[pypi]\ncuda = "12.4"\n',
        ["[pypi].cuda: unknown key", "write a [cuda] table"],
    ),
    (
        "floor-in-environment",
        'driver-floor = "550.54.14"\n',
        ["[environment].driver-floor", "move it to [cuda].driver-floor"],
    ),
    (
        "top-level-dependencies",
        '[dependencies]\nnumpy = "*"\n',
        ["[dependencies]: unknown key", "[conda].dependencies or [pypi].dependencies"],
    ),
    ("pyproject-table", "[project]\n", ["[project]", "mlenv init --from pyproject.toml"]),
    ("pixi-table", "[feature.gpu]\n", ["[feature]", "mlenv init --from pixi.toml"]),
    ("extra-index-url", "[pypi]\nextra-index-url = []\n", ['did you mean "extra-index-urls"?']),
    (
        "driver_floor",
        "[cuda]\nversion = '12.4'\ndriver_floor = '550.54.14'\n",
        ['did you mean "driver-floor"?'],
    ),
    (
        "platforms-string",
        'platforms = "linux-64"\n',
        ["[environment].platforms: expected an array", 'platforms = ["linux-64"]'],
    ),
    (
        "dependencies-string",
        '[pypi]\ndependencies = "numpy"\n',
        ["[pypi].dependencies: expected an array", 'dependencies = ["numpy"]'],
    ),
    (
        "one-equals-in-manifest",
        '[pypi]\ndependencies = ["torch=2.1"]\n',
        ["[pypi].dependencies[0]", 'did you mean "torch==2.1"?'],
    ),
]


@pytest.mark.parametrize(
    ("tail", "needles"), [m[1:] for m in MANIFESTS], ids=[m[0] for m in MANIFESTS]
)
def test_manifest_mistake_names_key_and_fix(tmp_path: Path, tail: str, needles: list[str]) -> None:
    (tmp_path / "mlenv.toml").write_text(HEAD + tail)
    _refused(["show"], tmp_path, *needles)


def test_python_as_a_float_says_to_quote_it(tmp_path: Path) -> None:
    (tmp_path / "mlenv.toml").write_text(HEAD.replace('"3.11"', "3.11"))
    _refused(["lock"], tmp_path, "[environment].python: expected a string", 'python = "3.11"')


ENV_GARBAGE = [
    ({"MLENV_DRIVER_VERSION": ""}, ["verify", "--host"], ["MLENV_DRIVER_VERSION", "hint:"]),
    ({"MLENV_DRIVER_VERSION": "abc"}, ["verify", "--host"], ["'abc'", "unset"]),
    ({"SOURCE_DATE_EPOCH": "-1"}, ["build", "--offline"], ["SOURCE_DATE_EPOCH", "hint:"]),
    ({"SOURCE_DATE_EPOCH": "1e9"}, ["build", "--offline"], ["'1e9'", "hint:"]),
    ({"SOURCE_DATE_EPOCH": "9" * 30}, ["build", "--offline"], ["9999-12-31", "hint:"]),
]


@pytest.mark.parametrize(("env", "args", "needles"), ENV_GARBAGE, ids=lambda v: str(v)[:30])
def test_garbage_in_the_environment_is_named(
    locked: Path, env: dict[str, str], args: list[str], needles: list[str]
) -> None:
    before = _files(locked)
    done = run_mlenv(args, locked, env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in done.stderr
    assert _files(locked) == before


def test_cache_dir_that_is_a_file_is_named(locked: Path) -> None:
    blocker = locked.parent / "not-a-dir"
    blocker.write_text("")
    before = _files(locked)
    done = run_mlenv(["fetch"], locked, {"MLENV_CACHE_DIR": str(blocker)})
    assert done.returncode == 1
    assert str(blocker) in done.stderr and "not a directory" in done.stderr
    assert "Traceback" not in done.stderr
    assert _files(locked) == before
