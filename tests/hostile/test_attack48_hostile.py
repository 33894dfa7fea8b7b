"""Attack 48: `mlenv init --from FILE` on the shapes real pip, conda, conda-lock, uv, poetry and
pixi projects have. What is imported must mean what the source tool means; what cannot be
must be refused naming the file and the entry, with nothing written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.manifest_read import loads
from tests.support.cli import run_mlenv


def init_from(tmp_path: Path, name: str, text: str | bytes, *args: str) -> tuple[int, str]:
    """``mlenv init --from NAME`` in a fresh project holding ``text`` as NAME."""
    source = tmp_path / name
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = run_mlenv(["init", "--from", name, "--name", "p", *args], tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stderr


def written(tmp_path: Path) -> dict[str, object]:
    text = (tmp_path / "mlenv.toml").read_text()
    return loads(text).to_dict()


def strict_matchspecs(specs: list[str]) -> list[str]:
    """The specs the lock's strict MatchSpec parser refuses (rattler runs in a child process,
    as the lock runs it)."""
    code = (
        "import json, sys, rattler\n"
        "bad = []\n"
        "for s in json.load(sys.stdin):\n"
        "    try: rattler.MatchSpec(s, strict=True)\n"
        "    except Exception: bad.append(s)\n"
        "print(json.dumps(bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(specs), capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    refused: list[str] = json.loads(done.stdout)
    return refused


# ---------------------------------------------------------------------------------------------
# environment.yml


# `conda env export` writes name=version=build; real ML repos commit those files as they are.
EXPORTED = """\
name: ml
channels:
  - pytorch
  - nvidia
  - conda-forge
  - nodefaults
dependencies:
  - _libgcc_mutex=0.1=conda_forge
  - python=3.10.13=hd12c33a_1_cpython
  - numpy=1.26.4=py310hb13e2d6_0
  - pytorch=2.1.0=py3.10_cuda12.1_cudnn8.9.2_0
  - pytorch-cuda=12.1=ha16c6d3_5
  - pip:
    - einops==0.7.0
prefix: /home/someone/miniconda3/envs/ml
"""


def test_conda_env_export_is_written_as_specs_the_lock_parses(tmp_path: Path) -> None:
    """`numpy=1.26.4=py310hb13e2d6_0` was copied as is: the manifest was written and `mlenv
    lock` then refused every such line (rattler's strict syntax has no `=build`), and a build
    string with a dot (`py3.10_cuda12.1_...`) only parses in the bracket form."""
    code, err = init_from(tmp_path, "environment.yml", EXPORTED)
    assert code == 0, err
    conda = written(tmp_path)["conda"]
    assert conda["dependencies"] == [  # type: ignore[index]
        "_libgcc_mutex ==0.1 conda_forge",
        "python ==3.10.13 hd12c33a_1_cpython",
        "numpy ==1.26.4 py310hb13e2d6_0",
        'pytorch[version="==2.1.0", build="py3.10_cuda12.1_cudnn8.9.2_0"]',
        "pytorch-cuda ==12.1 ha16c6d3_5",
    ]
    assert strict_matchspecs(conda["dependencies"]) == []  # type: ignore[index]
    assert written(tmp_path)["environment"]["python"] == "3.10"  # type: ignore[index]
    assert "guessed CUDA 12.1" in err


@pytest.mark.parametrize(
    ("spec", "cuda"),
    [
        ("pytorch=2.1.0=py3.10_cuda12.1_cudnn8.9.2_0", "12.1"),
        ("pytorch::pytorch=2.1.0=py3.10_cuda11.8_cudnn8.7.0_0", "11.8"),
        ("pytorch-cuda=12.1", "12.1"),
        ("cudatoolkit=11.8", "11.8"),
        ("cudatoolkit=11.8.0=h6a678d5_0", "11.8"),
    ],
)
def test_the_cuda_guess_reads_conda_builds(tmp_path: Path, spec: str, cuda: str) -> None:
    """The guess read only `name=X.Y`: a CUDA build string went unread."""
    text = f"channels: [pytorch, nvidia, conda-forge]\ndependencies:\n  - {spec}\n"
    code, err = init_from(tmp_path, "environment.yml", text)
    assert code == 0, err
    assert written(tmp_path)["cuda"]["version"] == cuda  # type: ignore[index]


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        (["conda-forge", "nodefaults"], ["conda-forge"]),
        (["nodefaults", "pytorch"], ["pytorch"]),
        (
            ["pytorch", "defaults"],
            ["pytorch", "https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r"],
        ),
    ],
)
def test_channels_mean_what_conda_means(
    tmp_path: Path, channels: list[str], expected: list[str]
) -> None:
    """`nodefaults` is not a channel (it was written as conda.anaconda.org/nodefaults, a 404
    at lock) and `defaults` is Anaconda's main and r channels, not conda.anaconda.org/defaults."""
    text = f"channels: {json.dumps(channels)}\ndependencies:\n  - numpy\n"
    code, err = init_from(tmp_path, "environment.yml", text)
    assert code == 0, err
    assert written(tmp_path)["conda"]["channels"] == expected  # type: ignore[index]


@pytest.mark.parametrize(
    "text",
    [
        "channels: [conda-forge]\ndependencies:\n  - numpy\ndependencies:\n  - scipy\n",
        "channels: [conda-forge]\nchannels: [pytorch]\ndependencies:\n  - numpy\n",
        "channels: [conda-forge]\ndependencies:\n  - pip:\n    - a\n    pip:\n    - b\n",
    ],
)
def test_a_key_given_twice_is_refused(tmp_path: Path, text: str) -> None:
    """PyYAML kept the last of two `dependencies:` keys and dropped the first silently;
    conda's reader refuses the file."""
    code, err = init_from(tmp_path, "environment.yml", text)
    assert code == 1
    assert "environment.yml" in err and "given twice" in err and "line" in err
    assert not (tmp_path / "mlenv.toml").exists()


def test_a_yaml_file_without_dependencies_is_not_an_empty_environment(tmp_path: Path) -> None:
    """A YAML mapping without `dependencies` (a renamed conda-lock file, a CI file) was
    imported as an empty environment and a manifest written."""
    code, err = init_from(tmp_path, "env.yml", "name: x\nchannels: [conda-forge]\n")
    assert code == 1
    assert "env.yml" in err and "dependencies list" in err
    assert not (tmp_path / "mlenv.toml").exists()


# ---------------------------------------------------------------------------------------------
# conda-lock.yml


def lock_entry(name: str, version: str, platform: str, url: str, **extra: object) -> str:
    lines = [f"- name: {name}", f"  version: '{version}'", "  manager: conda",
             f"  platform: {platform}", "  dependencies: {}", f"  url: {url}",
             "  hash: {md5: 0123456789abcdef0123456789abcdef}"]  # fmt: skip
    lines += [f"  {key}: {json.dumps(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def conda_lock(platforms: list[str], entries: str, version: int = 1) -> str:
    return (
        f"version: {version}\nmetadata:\n  channels:\n  - url: pytorch\n    used_env_vars: []\n"
        f"  - url: conda-forge\n    used_env_vars: []\n  platforms: {json.dumps(platforms)}\n"
        f"package:\n{entries}"
    )


CF = "https://conda.anaconda.org/conda-forge"
PT = "https://conda.anaconda.org/pytorch"
MULTI = conda_lock(
    ["osx-arm64", "linux-64"],
    lock_entry("libcxx", "17.0.6", "osx-arm64", f"{CF}/osx-arm64/libcxx-17.0.6-h5f092b4_0.conda")
    + lock_entry("pytorch", "2.1.0", "linux-64",
                 f"{PT}/linux-64/pytorch-2.1.0-py3.10_cuda12.1_cudnn8.9.2_0.tar.bz2",
                 category="main", optional=False)
    + lock_entry("pytest", "8.0.0", "linux-64", f"{CF}/noarch/pytest-8.0.0-pyhd8ed1ab_0.conda",
                 category="dev", optional=True),
)  # fmt: skip


def test_conda_lock_takes_linux_builds_and_leaves_optional_categories(tmp_path: Path) -> None:
    """The first platform listed (osx-arm64 here) gave the pins of a linux-64 manifest, the
    build was dropped (so a CPU build of pytorch 2.1.0 could replace the locked CUDA one), and
    an optional `dev` category was imported as a runtime requirement."""
    code, err = init_from(tmp_path, "conda-lock.yml", MULTI)
    assert code == 0, err
    manifest = written(tmp_path)
    assert manifest["conda"]["dependencies"] == [  # type: ignore[index]
        'pytorch[version="==2.1.0", build="py3.10_cuda12.1_cudnn8.9.2_0"]'
    ]
    assert manifest["environment"]["platforms"] == ["linux-64"]  # type: ignore[index]
    assert manifest["cuda"]["version"] == "12.1"  # type: ignore[index]
    assert "optional categories not imported: dev" in err


def test_conda_lock_optional_category_on_request(tmp_path: Path) -> None:
    code, err = init_from(tmp_path, "conda-lock.yml", MULTI, "--group", "dev")
    assert code == 0, err
    assert "pytest ==8.0.0 pyhd8ed1ab_0" in written(tmp_path)["conda"]["dependencies"]  # type: ignore[index]


def test_conda_lock_for_aarch64_only_targets_aarch64(tmp_path: Path) -> None:
    url = f"{CF}/linux-aarch64/numpy-1.26.4-py311h69ead2a_0.conda"
    text = conda_lock(["linux-aarch64"], lock_entry("numpy", "1.26.4", "linux-aarch64", url))
    code, err = init_from(tmp_path, "env.conda-lock.yml", text)
    assert code == 0, err
    assert written(tmp_path)["environment"]["platforms"] == ["linux-aarch64"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (conda_lock(["osx-arm64"], lock_entry("a", "1", "osx-arm64", f"{CF}/osx-arm64/a-1-0.conda")),  # noqa: E501
         "no Linux platform is locked"),
        (conda_lock(["linux-64"], "- platform: linux-64\n  manager: conda\n  version: '1'\n"),
         "package[0]: has no name or no version"),
        (conda_lock(["linux-64"], lock_entry("a", "1", "linux-64", f"{CF}/linux-64/a-1-0.conda"),
                    version=2),
         "lock format version 2 is not read"),
    ],
)  # fmt: skip
def test_conda_lock_refusals_name_what_and_where(tmp_path: Path, text: str, message: str) -> None:
    """A macOS-only lock gave a linux manifest macOS pins; an entry without a name became the
    pin `None ==None`; an unknown format version was read as v1."""
    code, err = init_from(tmp_path, "conda-lock.yml", text)
    assert code == 1
    assert "conda-lock.yml" in err and message in err
    assert not (tmp_path / "mlenv.toml").exists()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.from_regex(r"[a-z][a-z0-9_\-]{0,12}", fullmatch=True),
    version=st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}", fullmatch=True),
    build=st.from_regex(r"[a-z0-9][a-z0-9_.]{0,24}", fullmatch=True),
)
def test_hypothesis_exported_specs_round_trip(name: str, version: str, build: str) -> None:
    """Any `name=version=build` is written as a spec meaning that exact version and build."""
    from mlenv.importers.conda import conda_parts, conda_spec

    spec = conda_spec(f"{name}={version}={build}")
    assert conda_parts(spec) == (name, version, build)
    assert re.search(r"^[^\s\[=]+=[^=\s]+=", spec) is None  # no `=build` left
    assert conda_spec(spec) == spec


# ---------------------------------------------------------------------------------------------
# pyproject.toml


PROJECT = '[project]\nname = "x"\nversion = "1"\n'


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (PROJECT + 'dynamic = ["dependencies"]\n', "[project] dynamic", "dependencies are dynamic"),
        ('[tool.poetry]\nname = "x"\n[tool.poetry.dependencies]\npython = "^3.10"\n'
         'numpy = "^1.26"\ntorch = {version = "~2.1", source = "pytorch"}\n',
         "[tool.poetry.dependencies] torch", "comes from a Poetry source"),
        (PROJECT + 'dependencies = ["numpy"]\n[tool.pixi.dependencies]\ncudatoolkit = "11.8.*"\n',
         "[tool.pixi.dependencies]", "pixi's tables without [tool.pixi.workspace]"),
        (PROJECT + 'dependencies = ["torch"]\n[tool.poetry.dependencies]\n'
         'torch = {source = "pytorch"}\n', "[tool.poetry.dependencies] torch", "Poetry source"),
        (PROJECT + 'dependencies = ["mylib"]\n[tool.uv.sources]\n'
         'mylib = {git = "https://github.com/o/mylib", tag = "v1"}\n',
         "[tool.uv.sources] mylib", "uv takes mylib from"),
        (PROJECT + 'dependencies = ["mylib"]\n[tool.uv.sources]\nmylib = {workspace = true}\n',
         "[tool.uv.sources] mylib", "uv takes mylib from"),
        (PROJECT + 'dependencies = ["torch"]\n[tool.uv.sources]\ntorch = {index = "cu121"}\n',
         "[tool.uv.sources] torch", "no [[tool.uv.index]] defines"),
    ],
)  # fmt: skip
def test_requirements_only_another_tool_reads_are_refused(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    """Each of these was imported as if the table were not there: an empty manifest for a
    dynamic or Poetry-only project, pixi's conda packages and uv's git source dropped."""
    code, err = init_from(tmp_path, "pyproject.toml", text)
    assert code == 1, err
    assert f"pyproject.toml: {where}" in err and message in err
    assert not (tmp_path / "mlenv.toml").exists()


def test_dependency_groups_include_groups(tmp_path: Path) -> None:
    """PEP 735 `{include-group = "test"}` was skipped: `--group dev` lost pytest."""
    text = (PROJECT + 'dependencies = ["numpy"]\n[dependency-groups]\n'
            'Test = ["pytest>=8"]\ntyping = ["mypy"]\n'
            'dev = [{include-group = "test"}, {include-group = "typing"}, "ruff"]\n')  # fmt: skip
    code, err = init_from(tmp_path, "pyproject.toml", text, "--group", "dev")
    assert code == 0, err
    assert written(tmp_path)["pypi"]["dependencies"] == ["numpy", "pytest>=8", "mypy", "ruff"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ('a = [{include-group = "b"}]\nb = [{include-group = "a"}]\n', "includes itself"),
        ('a = [{include-group = "nope"}]\n', "includes an unknown group"),
        ('a = [{include = "b"}]\nb = ["x"]\n', "cannot read {'include': 'b'}"),
    ],
)
def test_dependency_group_mistakes_are_refused(tmp_path: Path, groups: str, message: str) -> None:
    text = PROJECT + "dependencies = []\n[dependency-groups]\n" + groups
    code, err = init_from(tmp_path, "pyproject.toml", text, "--group", "a")
    assert code == 1, err
    assert "pyproject.toml: [dependency-groups]" in err and message in err


def test_uv_index_source_becomes_an_index_and_the_cuda_guess(tmp_path: Path) -> None:
    """uv's PyTorch setup with the index not explicit: uv searches it before PyPI for every
    package, which is mlenv's first-index over extra-index-urls then index-url. (An explicit
    index becomes a [pypi] sources pin: attack 55.)"""
    text = (PROJECT + 'dependencies = ["torch>=2.4", "numpy"]\n[tool.uv.sources]\n'
            'torch = {index = "pytorch-cu121"}\n'
            '[[tool.uv.index]]\nname = "pytorch-cu121"\n'
            'url = "https://download.pytorch.org/whl/cu121"\n')  # fmt: skip
    code, err = init_from(tmp_path, "pyproject.toml", text)
    assert code == 0, err
    pypi = written(tmp_path)["pypi"]
    assert pypi["index-url"] == "https://pypi.org/simple"  # type: ignore[index]
    assert pypi["extra-index-urls"] == ["https://download.pytorch.org/whl/cu121"]  # type: ignore[index]
    assert pypi["index-strategy"] == "first-index"  # type: ignore[index]
    assert pypi["dependencies"] == ["torch>=2.4", "numpy"]  # type: ignore[index]
    assert written(tmp_path)["cuda"]["version"] == "12.1"  # type: ignore[index]


# ---------------------------------------------------------------------------------------------
# requirements.txt


@pytest.mark.parametrize(
    ("text", "index", "extras"),
    [
        ("--index-url https://a.example/simple --extra-index-url https://b.example/simple\nx\n",
         "https://a.example/simple", ["https://b.example/simple"]),
        ("--trusted-host b.example --extra-index-url https://b.example/simple\nx\n",
         "https://pypi.org/simple", ["https://b.example/simple"]),
        ("--extra-index-url=https://b.example/simple --extra-index-url https://c.example/simple\nx\n",
         "https://pypi.org/simple", ["https://b.example/simple", "https://c.example/simple"]),
        ("-ihttps://a.example/simple\nx\n", "https://a.example/simple", []),
    ],
)  # fmt: skip
def test_every_option_of_a_line_is_read(
    tmp_path: Path, text: str, index: str, extras: list[str]
) -> None:
    """pip reads every option of a line; only the first was read, so the second index of
    `--index-url A --extra-index-url B` was dropped without a word."""
    code, err = init_from(tmp_path, "requirements.txt", text)
    assert code == 0, err
    pypi = written(tmp_path)["pypi"]
    assert pypi["index-url"] == index  # type: ignore[index]
    assert pypi["extra-index-urls"] == extras  # type: ignore[index]


@pytest.mark.parametrize(
    "encoding", ["utf-16", "utf-16-le-bom", "utf-16-be-bom", "utf-8-sig", "utf-32"]
)
def test_a_file_with_a_byte_order_mark_reads_as_pip_reads_it(tmp_path: Path, encoding: str) -> None:
    """`pip freeze > requirements.txt` in Windows PowerShell writes UTF-16 with a BOM, which
    pip reads; mlenv refused it ('utf-8' codec can't decode), and a UTF-8 BOM made the first
    requirement unreadable."""
    text = "numpy==1.26.4\r\ntorch==2.4.1+cu121\r\n"
    boms = {"utf-16-le-bom": ("\ufeff", "utf-16-le"), "utf-16-be-bom": ("\ufeff", "utf-16-be")}
    prefix, codec = boms.get(encoding, ("", encoding))
    code, err = init_from(tmp_path, "requirements.txt", (prefix + text).encode(codec))
    assert code == 0, err
    assert written(tmp_path)["pypi"]["dependencies"] == ["numpy==1.26.4", "torch==2.4.1+cu121"]  # type: ignore[index]


@pytest.mark.parametrize(
    "line",
    [
        "--extra-index-url https://__token__:${PYPI_TOKEN}@pypi.example.com/simple",
        "-i https://${ARTIFACTORY_USER}:${ARTIFACTORY_KEY}@art.example.com/api/pypi/simple",
        "-r ${CONFIG_DIR}/base.txt",
    ],
)
def test_an_environment_variable_is_refused_naming_the_line(tmp_path: Path, line: str) -> None:
    """pip expands `${NAME}`; mlenv wrote the text `${PYPI_TOKEN}` into the manifest's URL,
    which the lock then sent as the password."""
    code, err = init_from(tmp_path, "requirements.txt", f"numpy\n{line}\n")
    assert code == 1
    assert "requirements.txt:2: pip would put the environment variable ${" in err
    assert "~/.netrc" in err
    assert not (tmp_path / "mlenv.toml").exists()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    urls=st.lists(
        st.from_regex(r"https://[a-z]{1,8}\.example/[a-z]{1,6}", fullmatch=True),
        min_size=1, max_size=4, unique=True,
    ),
    inline=st.lists(st.booleans(), min_size=4, max_size=4),
)  # fmt: skip
def test_hypothesis_options_on_one_line_match_one_a_line(
    tmp_path_factory: pytest.TempPathFactory, urls: list[str], inline: list[bool]
) -> None:
    """Any run of `--extra-index-url` options imports the same as one option a line."""
    from mlenv.importers.core import read_requirements

    root = tmp_path_factory.mktemp("r")
    words = [f"--extra-index-url={u}" if eq else f"--extra-index-url {u}"
             for u, eq in zip(urls, inline, strict=False)]  # fmt: skip
    (root / "one.txt").write_text(" ".join(words) + "\nx\n")
    (root / "many.txt").write_text("\n".join(words) + "\nx\n")
    one, many = read_requirements(root / "one.txt"), read_requirements(root / "many.txt")
    assert one.extra_index_urls == many.extra_index_urls == tuple(urls)


# Shapes that held: what pip means is imported, or refused naming the line.
HELD = [
    ("-r base.txt\ntorch==2.4.1+cu121\n--extra-index-url https://download.pytorch.org/whl/cu121\n",
     0, "guessed CUDA 12.1"),
    ("numpy==1.26.4 \\\n    --hash=sha256:" + "a" * 64
     + " \\\n    --hash=sha256:" + "b" * 64 + "\n",
     0, "--hash pins are kept"),
    ("pkg [a, b] >= 1 ; python_version >= '3.8'  # comment\n", 0, "wrote"),
    ("-e .\n", 1, "requirements.txt:1: editable requirement '.'"),
    ("-e git+https://github.com/o/r.git#egg=r\n", 1, "requirements.txt:1: editable requirement"),
    ("x @ https://example.com/x-1-py3-none-any.whl\n", 1, "requirements.txt:1: 'x @ https"),
    ("./wheels/x-1-py3-none-any.whl\n", 1, "is a URL or path"),
    ("-c constraints.txt\nnumpy\n", 1, "pip reads -r and -c paths"),  # imported since 106
    ("--pre\nnumpy\n", 0, "wrote"),  # [pypi] prerelease since attack 101
    ("numpy --global-option=--x\n", 1, "per-requirement options"),
    ("", 0, "wrote"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "code", "said"), HELD)
def test_shapes_that_held(tmp_path: Path, text: str, code: int, said: str) -> None:
    (tmp_path / "base.txt").write_text("einops==0.7.0\n")
    got, err = init_from(tmp_path, "requirements.txt", text)
    assert (got, said in err) == (code, True), err
    assert (tmp_path / "mlenv.toml").exists() == (code == 0)


# ---------------------------------------------------------------------------------------------
# pylock.toml


def pylock_package(
    name: str, version: str, marker: str, index: str = "https://pypi.org/simple"
) -> str:
    wheel = f"{index}/{name}-{version}-py3-none-any.whl".replace("/simple", "/packages")
    return (f'[[packages]]\nname = "{name}"\nversion = "{version}"\nmarker = "{marker}"\n'
            f'index = "{index}"\n[[packages.wheels]]\nurl = "{wheel}"\n'
            'hashes = {sha256 = "' + "a" * 64 + '"}\n')  # fmt: skip


NUMPY = ['numpy==1.26.4; python_version < "3.12"', 'numpy==2.1.0; python_version >= "3.12"']
PYLOCK = (
    'lock-version = "1.0"\ncreated-by = "uv"\nrequires-python = ">=3.10"\n'
    'extras = ["gpu"]\ndependency-groups = ["dev", "docs"]\ndefault-groups = ["docs"]\n\n'
    + pylock_package("numpy", "1.26.4", "python_version < '3.12'")
    + pylock_package("numpy", "2.1.0", "python_version >= '3.12'")
    + pylock_package("pytest", "8.0.0", "'dev' in dependency_groups")
    + pylock_package("sphinx", "7.0.0", "'docs' in dependency_groups")
    + pylock_package("torch", "2.4.1+cu121", "'gpu' in extras",
                     "https://download.pytorch.org/whl/cu121")
)  # fmt: skip


@pytest.mark.parametrize(
    ("groups", "expected", "cuda"),
    [
        ((), [*NUMPY, "sphinx==7.0.0"], None),
        (("--group", "gpu", "--group", "dev"),
         [*NUMPY, "pytest==8.0.0", "sphinx==7.0.0", "torch==2.4.1+cu121"], "12.1"),
    ],
)  # fmt: skip
def test_pylock_extras_and_groups_install_as_an_installer_decides(
    tmp_path: Path, groups: tuple[str, ...], expected: list[str], cuda: str | None
) -> None:
    """PEP 751 markers `'gpu' in extras` / `'dev' in dependency_groups` were copied into the
    manifest, which mlenv then refused ("mlenv.toml: [pypi].dependencies[2] ... cannot be
    evaluated", naming a file that was never written); the CUDA guess came from an extra."""
    code, err = init_from(tmp_path, "pylock.toml", PYLOCK, *groups)
    assert code == 0, err
    manifest = written(tmp_path)
    assert manifest["pypi"]["dependencies"] == expected  # type: ignore[index]
    assert manifest.get("cuda", {}).get("version") == cuda  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("extra", "args", "message"),
    [
        ("", ("--group", "nope"), "group 'nope': the lock has no such extra or dependency group"),
        (pylock_package("x", "1", "'gpu' in extras and sys_platform == 'linux'"), (),
         "package x: its marker"),
    ],
)  # fmt: skip
def test_pylock_groups_it_cannot_decide_are_refused(
    tmp_path: Path, extra: str, args: tuple[str, ...], message: str
) -> None:
    code, err = init_from(tmp_path, "pylock.toml", PYLOCK + extra, *args)
    assert code == 1, err
    assert f"pylock.toml: {message}" in err
    assert not (tmp_path / "mlenv.toml").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("numpy  # pinned for abi \\\nscipy\nrich\n", ["numpy", "rich"]),  # pip: scipy is comment
        ("numpy>=1.2\\\n6\n", ["numpy>=1.26"]),  # pip joins without a space
        ("numpy \\\n# a comment ends the continuation\nscipy\n", ["numpy", "scipy"]),
        ("numpy \\", ["numpy"]),
    ],
)
def test_continuations_join_before_comments_as_pip_does(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    """pip joins `\\` continuations before it removes comments (req_file.join_lines, then
    ignore_comments), and joins with nothing between; mlenv did the opposite, importing a
    line pip reads as part of a comment and refusing `numpy>=1.2\\` + `6`."""
    code, err = init_from(tmp_path, "requirements.txt", text)
    assert code == 0, err
    assert written(tmp_path)["pypi"]["dependencies"] == expected  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("requirements.txt", "numpy\n"),
        ("environment.yml", "channels: [x]\ndependencies: [numpy]\n"),
    ],
)
def test_group_on_a_file_without_groups_is_refused(tmp_path: Path, name: str, text: str) -> None:
    """`--group dev` on a requirements file or environment.yml was ignored without a word."""
    code, err = init_from(tmp_path, name, text, "--group", "dev")
    assert code == 1
    assert f"--group dev: {name} has no optional groups to choose" in err
    assert not (tmp_path / "mlenv.toml").exists()


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("environment.yml", "channels: [conda-forge]\ndependencies:\n  - python>=3.12\n",
         "environment.yml: dependencies[0] (python>=3.12)"),
        ("environment.yml", "channels: [conda-forge]\ndependencies:\n  - python >=3.8,<3.10\n",
         "environment.yml: dependencies[0]"),
        ("pyproject.toml", PROJECT + 'requires-python = ">=3.12"\ndependencies = ["numpy"]\n',
         "pyproject.toml: [project] requires-python"),
    ],
)  # fmt: skip
def test_a_python_outside_the_files_range_is_refused(
    tmp_path: Path, name: str, text: str, where: str
) -> None:
    """`python>=3.12` (or requires-python) gave a manifest for the default Python 3.11, which
    the lock cannot satisfy (conda) or which runs a Python the project does not support."""
    code, err = init_from(tmp_path, name, text, "--python", "3.11")
    assert code == 1, err
    assert where in err and "the manifest's Python 3.11 is outside what the file allows" in err
    fits = "3.9" if "3.10" in text else "3.12"
    assert f"hint: pass --python {fits}, the oldest" in err
    assert not (tmp_path / "mlenv.toml").exists()
    code, err = init_from(tmp_path, name, text, "--python", fits)
    assert code == 0, err


@pytest.mark.parametrize(
    ("name", "text", "key", "expected"),
    [
        ("requirements.txt", "-r base.txt\nnumpy>=1.26\npytest\n", "dependencies",
         ["numpy>=1.26", "scipy", "pytest"]),
        ("requirements.txt", "-r base.txt\n--extra-index-url https://x.example/simple\nnumpy>=1.26\n",
         "extra-index-urls", ["https://x.example/simple"]),
        ("requirements.txt", "-r base.txt\n--find-links wheels\n", "find-links", ["wheels"]),
        ("environment.yml", "channels: [conda-forge]\ndependencies:\n  - numpy\n  - numpy\n"
         "  - pip:\n    - einops\n    - einops\n", "dependencies", ["einops"]),
    ],
)  # fmt: skip
def test_a_requirement_listed_twice_means_it_once(
    tmp_path: Path, name: str, text: str, key: str, expected: list[str]
) -> None:
    """base.txt and dev.txt both listing numpy (or the same index) is fine for pip; the
    manifest got it twice and `init` failed with "mlenv.toml: ... listed more than once",
    naming a file it had not written."""
    (tmp_path / "wheels").mkdir()
    (tmp_path / "base.txt").write_text(
        "numpy>=1.26\nscipy\n--extra-index-url https://x.example/simple\n--find-links wheels\n"
    )
    code, err = init_from(tmp_path, name, text)
    assert code == 0, err
    assert written(tmp_path)["pypi"][key] == expected  # type: ignore[index]


@pytest.mark.parametrize(
    "line",
    ["--extra-index-url ./local/simple", "--index-url", "-i pypi.example.com/simple"],
)
def test_an_index_that_is_not_a_url_is_refused_naming_the_line(tmp_path: Path, line: str) -> None:
    """pip takes a path (or nothing) there; the manifest takes only URLs, and the error named
    `mlenv.toml: [pypi].extra-index-urls[0]`, a file not written, instead of the line."""
    code, err = init_from(tmp_path, "requirements.txt", f"numpy\n{line}\n")
    assert code == 1
    assert "requirements.txt:2: " in err and "is not an http://, https:// or file:// URL" in err
    assert not (tmp_path / "mlenv.toml").exists()


def test_a_problem_left_for_the_manifest_check_names_the_imported_file(tmp_path: Path) -> None:
    """Whatever the readers let through and the manifest check refuses is reported against the
    imported file, not against an mlenv.toml that does not exist."""
    code, err = init_from(tmp_path, "environment.yml", 'channels: [""]\ndependencies: [numpy]\n')
    assert code == 1
    assert "(not written; imported from environment.yml)" in err
    assert not (tmp_path / "mlenv.toml").exists()


SELF = (
    '[project]\nname = "My_Pkg"\nversion = "1"\ndependencies = ["numpy"]\n'
    "[project.optional-dependencies]\n"
    'gpu = ["cupy-cuda12x"]\ntest = ["pytest"]\n'
    'dev = ["my-pkg[test]", "ruff"]\nall = ["my_pkg[gpu,dev]"]\n'
)


def test_the_projects_own_extras_are_expanded(tmp_path: Path) -> None:
    """`all = ["my_pkg[gpu,dev]"]` (transformers, jax and many more do this) means the
    project's own extras; it was imported as a requirement on a package named my_pkg from
    PyPI, someone else's package or none."""
    code, err = init_from(tmp_path, "pyproject.toml", SELF, "--group", "all")
    assert code == 0, err
    assert written(tmp_path)["pypi"]["dependencies"] == [  # type: ignore[index]
        "numpy", "pytest", "ruff", "cupy-cuda12x",  # extras in name order: dev, gpu
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('bad = ["my-pkg[nope]"]\n', "My_Pkg has no optional-dependencies entry 'nope'"),
        ('bad = ["my-pkg"]\n', "requires the project itself"),
    ],
)
def test_own_extras_that_cannot_be_expanded_are_refused(
    tmp_path: Path, extra: str, message: str
) -> None:
    code, err = init_from(tmp_path, "pyproject.toml", SELF + extra, "--group", "bad")
    assert code == 1, err
    assert "pyproject.toml: [project.optional-dependencies] bad[0]" in err and message in err


def test_an_include_by_url_is_refused_naming_the_line(tmp_path: Path) -> None:
    """pip reads `-r https://...`; mlenv read it as the path `https:/...` and reported
    "No such file or directory: 'https:'" against that mangled path, not the line."""
    code, err = init_from(tmp_path, "requirements.txt", "numpy\n-r https://example.com/r.txt\n")
    assert code == 1
    assert "requirements.txt:2: -r https://example.com/r.txt: mlenv reads included files" in err
