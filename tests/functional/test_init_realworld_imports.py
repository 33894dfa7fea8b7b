"""`mlenv init --from` on real files of popular ML projects (vLLM, TensorRT-LLM, sglang,
unsloth, axolotl, DeepSpeed, TGI, NeMo, NeMo-RL, Lightning, litgpt, RAPIDS, verl, lmdeploy,
ms-swift, OpenRLHF, GPT-NeoX, LeRobot, LLaMA-Factory, torchtune, TRL, Mamba, flash-attention,
open-instruct, whisperX, prime-rl, Stable Diffusion, text-generation-webui, pixi's examples
and users; origins in
``tests/support/data/realworld_imports/SOURCES.json``), through the real CLI. Each ends in a
manifest keeping every requirement, marker, index and source the file states (read here
independently: ``tests.support.realworld_imports``), or in exit 1 naming the file, the line or
key, and what to do."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_mlenv
from tests.support.realworld_imports import (
    DATA,
    PYPI,
    Said,
    conda_python_allows,
    key,
    read_environment_yml,
    read_pip,
    read_pixi,
    read_pyproject,
    sources,
)

PIP = [
    "vllm/requirements/common.txt", "vllm/requirements/cuda.txt", "vllm/requirements/cpu.txt",
    "vllm/requirements/tpu.txt", "vllm/requirements/build.txt", "trtllm/constraints.txt",
    "pytorch/requirements.txt", "nemo/requirements/requirements.txt",
    "nemo/requirements/requirements_nlp.txt", "deepspeed/requirements/requirements.txt",
    "deepspeed/requirements/requirements-dev.txt", "deepspeed/requirements/requirements-sd.txt",
    "deepspeed/requirements/requirements-triton.txt",
    "diffusers/examples/dreambooth/requirements_flux.txt",
    "diffusers/examples/controlnet/requirements_flax.txt", "lightning/requirements.txt",
    "lightning/requirements/pytorch/test.txt", "accelerate/examples/requirements.txt",
    "axolotl/.runpod/requirements.txt", "tgi/server/requirements_cuda.txt",
    "tgi/server/requirements_rocm.txt", "tgi/backends/gaudi/server/requirements.txt",
    "unsloth-studio/studio/backend/requirements/base.txt",
    "unsloth-studio/studio/backend/requirements/extras.txt",
    "unsloth-studio/studio/backend/requirements/studio.txt",
    "unsloth-studio/studio/backend/requirements/single-env/data-designer.txt",
    "vllm/requirements/rocm-build.txt", "vllm/requirements/nightly_torch_test.txt",
    "verl/requirements.txt", "verl/requirements_sglang.txt", "verl/requirements-cuda.txt",
    "lmdeploy/requirements_cuda.txt", "ms-swift/requirements.txt", "openrlhf/requirements.txt",
    "gpt-neox/requirements/requirements-transformerengine.txt",
    "gpt-neox/requirements/requirements-flashattention.txt",
    "gpt-neox/requirements/requirements-mamba.txt",
    "gpt-neox/requirements/requirements-apex-pip.txt",
]  # fmt: skip
PYPROJECT = [
    ("sglang/python/pyproject.toml", ()), ("sglang/python/pyproject.toml", ("all",)),
    ("sglang/python/pyproject.toml", ("srt", "test")), ("axolotl/pyproject.toml", ()),
    ("axolotl/pyproject.toml", ("deepspeed", "ring-flash-attn")),
    ("tgi/server/pyproject.toml", ("torch", "bnb")), ("tgi/integration-tests/pyproject.toml", ()),
    ("tgi/backends/neuron/server/pyproject.toml", ()), ("cudf/python/cudf/pyproject.toml", ()),
    ("unsloth/pyproject.toml", ()), ("unsloth/pyproject.toml", ("huggingface",)),
    ("hoopoes/poetry2-gpu/pyproject.toml", ()), ("hoopoes/uv-gpu/pyproject.toml", ()),
    ("lerobot/pyproject.toml", ()), ("lerobot/pyproject.toml", ("training", "dataset")),
    ("llamafactory/pyproject.toml", ()), ("torchtune/pyproject.toml", ()),
    ("litgpt/pyproject.toml", ("extra",)), ("trl/pyproject.toml", ("vllm", "peft")),
    ("mamba/pyproject.toml", ()), ("flash-attention/flash_attn/cute/pyproject.toml", ()),
]  # fmt: skip
CONDA = [
    "deepspeed/environment.yml", "cudf/conda/environments/all_cuda-129_arch-x86_64.yaml",
    "cuml/conda/environments/all_cuda-133_arch-x86_64.yaml",
    "cuml/conda/environments/all_cuda-129_arch-aarch64.yaml",
]  # fmt: skip
PIXI = [
    "pixi/examples/pypi/pixi.toml", "pixi/examples/pypi-custom-registry/pixi.toml",
    "pixi/examples/pypi-find-links/pixi.toml", "pixi/examples/solve-groups/pixi.toml",
    "pixi/examples/llama-index-inference/pixi.toml", "pixi/docs-pytorch-conda-forge/pixi.toml",
    "pixi/examples/multi-machine/pixi.toml", "pixi-onnx-cuda/pixi.toml",
]  # fmt: skip


def _init(tmp_path: Path, relative: str, *args: str) -> tuple[int, str, dict[str, Any]]:
    """``init --from`` on a copy of the project's files, run in the file's directory (its
    ``-r`` includes beside it), then ``show --json`` of what it wrote, if it wrote one."""
    import json

    shutil.copytree(DATA, tmp_path / "data")
    path = tmp_path / "data" / relative
    done = run_mlenv(["init", "--from", path.name, "--name", "p", *args], path.parent)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    if not (path.parent / "mlenv.toml").exists():
        return done.returncode, output, {}
    shown = run_mlenv(["show", "--json"], path.parent)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    manifest: dict[str, Any] = json.loads(shown.stdout)
    return done.returncode, output, manifest


def _keeps(manifest: dict[str, Any], said: Said) -> None:
    """The manifest's [pypi] holds exactly the requirements, constraints, indexes and
    sources ``said`` states (duplicates said twice are one requirement)."""
    pypi = manifest["pypi"]
    assert {key(t) for t in pypi["dependencies"]} == {key(t) for _, t in said.requirements}
    assert len(pypi["dependencies"]) == len({key(t) for t in pypi["dependencies"]})
    assert {key(t) for t in pypi.get("constraints", [])} == {key(t) for t in said.constraints}
    assert pypi["index-url"].rstrip("/") == (said.index_url or PYPI).rstrip("/")
    assert [u.rstrip("/") for u in pypi["extra-index-urls"]] == [
        u.rstrip("/") for u in said.extra_index_urls
    ]
    assert pypi["find-links"] == said.find_links
    assert pypi["prerelease"] == ("allow" if said.pre else "fallback")
    assert {n: u.rstrip("/") for n, u in pypi.get("sources", {}).items()} == said.sources


def test_every_stored_file_names_its_origin() -> None:
    """Each stored file is listed with the repository, path and commit it was copied from."""
    stored = {p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file()}
    listed = sources()
    assert stored - {"SOURCES.json"} == set(listed)
    assert len(listed) >= 30
    for origin in listed.values():
        assert origin["url"] == (
            f"https://github.com/{origin['repo']}/blob/{origin['commit']}/{origin['path']}"
        )
        assert len(origin["commit"]) == 40


@pytest.mark.parametrize("relative", PIP)
def test_requirements_files_keep_every_line(tmp_path: Path, relative: str) -> None:
    """Every requirement (with its markers and extras), -c constraint, index, find-links
    page and --pre of the file and its -r includes is in the manifest."""
    said = read_pip(DATA / relative)
    assert not said.direct_references()
    code, output, manifest = _init(tmp_path, relative)
    assert code == 0, output
    _keeps(manifest, said)


@pytest.mark.parametrize(("relative", "extras"), PYPROJECT)
def test_pyprojects_keep_dependencies_extras_and_uv_sources(
    tmp_path: Path, relative: str, extras: tuple[str, ...]
) -> None:
    """[project] dependencies and each asked extra (the project's own ``name[extra]``
    expanded), with uv's and Poetry 2's explicit-index sources that hold on Linux."""
    said = read_pyproject(DATA / relative, extras)
    code, output, manifest = _init(tmp_path, relative, *(f"--group={e}" for e in extras))
    assert code == 0, output
    _keeps(manifest, said)


@pytest.mark.parametrize("relative", CONDA)
def test_environment_ymls_keep_channels_and_packages(tmp_path: Path, relative: str) -> None:
    said = read_environment_yml(DATA / relative)
    code, output, manifest = _init(tmp_path, relative)
    assert code == 0, output
    conda = manifest["conda"]
    assert conda["channels"] == said.channels
    names = [re.split(r"[\s=<>!~]", spec, maxsplit=1)[0] for spec in conda["dependencies"]]
    assert names == said.conda


@pytest.mark.parametrize("relative", PIXI)
def test_pixi_workspaces_keep_linux_packages(tmp_path: Path, relative: str) -> None:
    """The default environment's conda and PyPI packages on linux-64, the PyPI ones with
    their versions and per-package indexes, and the Python the file pins."""
    said = read_pixi(DATA / relative)
    code, output, manifest = _init(tmp_path, relative)
    assert code == 0, output
    names = {spec.split()[0].split("::")[-1] for spec in manifest["conda"]["dependencies"]}
    assert names == set(said.conda)
    pypi = manifest["pypi"]
    assert {key(t) for t in pypi["dependencies"]} == {key(t) for _, t in said.requirements}
    assert {n: u.rstrip("/") for n, u in pypi.get("sources", {}).items()} == said.sources
    pinned = [s for s in manifest["conda"]["dependencies"] if s.split()[0] == "python"]
    minor = manifest["environment"]["python"]
    assert all(conda_python_allows(s.split(maxsplit=1)[1], minor) for s in pinned), minor


def test_pixi_pyproject_keeps_the_cuda_index_of_torch(tmp_path: Path) -> None:
    """pixi's docs: torch and torchvision from the cu124 index on Linux (the osx target's
    CPU index is not for linux-64), under [project]'s Python range."""
    code, output, manifest = _init(tmp_path, "pixi/docs-pyproject-pytorch-pypi/pyproject.toml")
    assert code == 0, output
    cu124 = "https://download.pytorch.org/whl/cu124"
    assert manifest["pypi"]["sources"] == {"torch": cu124, "torchvision": cu124}
    assert {key(t) for t in manifest["pypi"]["dependencies"]} == {
        key("torch>=2.5.1"),
        key("torchvision>=0.20.1"),
    }
    assert manifest["cuda"]["version"] == "12.4"


@pytest.mark.parametrize(
    "relative",
    ["vllm/requirements/rocm.txt", "vllm/requirements/xpu.txt", "trtllm/requirements.txt",
     "unsloth-studio/studio/backend/requirements/triton-kernels.txt"],
)  # fmt: skip
def test_git_and_url_requirements_are_refused_by_line(tmp_path: Path, relative: str) -> None:
    """A requirement taken from git or a wheel URL cannot be locked: exit 1, nothing
    written, each such line named with a hint, and no other line blamed but one no version
    meets beside its constraint (TensorRT-LLM's ``numpy<2`` under ``-c`` ``numpy>=2.0.0,<2.4``,
    which pip refuses too)."""
    said = read_pip(DATA / relative)
    direct = said.direct_references()
    assert direct
    code, output, manifest = _init(tmp_path, relative)
    assert (code, manifest) == (1, {}), output
    assert "nothing was written" in output and "hint:" in output
    blamed = [line.split(": ")[0].strip() for line in output.splitlines()[1:] if ".txt:" in line]
    assert blamed == [where for where, _ in direct] + _CONTRADICTED.get(relative, [])


# lines a constraint leaves no version of, blamed after the direct references
_CONTRADICTED = {"trtllm/requirements.txt": ["requirements.txt:10"]}


@pytest.mark.parametrize(
    ("relative", "args", "where", "hint"),
    [
        ("accelerate/pyproject.toml", (), "pyproject.toml: [project]", "--from requirements.txt"),
        ("diffusers/pyproject.toml", (), "pyproject.toml: [project]", "--from requirements.txt"),
        ("lightning/pyproject.toml", (), "pyproject.toml: [project]", "--from requirements.txt"),
        ("pixi/docs-pytorch-pypi/pixi.toml", (), "line 12", "write each { ... } table on one line"),
        ("pixi/docs-pytorch-conda-forge-envs/pixi.toml", (), "[target.linux-64-cuda]",
         "keeps one linux-64 entry"),
        ("unsloth/pyproject.toml", ("--group", "cu124-torch250"),
         "cu124-torch250[2] -> cu124onlytorch250[0]", "find-links"),
        ("open-instruct/pyproject.toml", (), "[project] dependencies[31]", "find-links"),
        ("nemo-rl/pyproject.toml", (), "[tool.uv] override-dependencies[0]", "find-links"),
        ("whisperx/pyproject.toml", (), "[tool.uv] exclude-newer", "write a UTC timestamp"),
        ("prime-rl/pyproject.toml", (), "[tool.uv.sources] torchtitan", "publish it"),
        ("stable-diffusion/environment.yaml", (), "dependencies[6].pip[16]", "find-links"),
        ("tgwui/requirements/full/requirements.txt", (), "requirements.txt:37", "find-links"),
        ("gpt-neox/requirements/requirements.txt", (), "requirements.txt:1", "find-links"),
        ("gpt-neox/requirements/pyproject.toml", (), "[tool.poetry.dependencies] deepspeed",
         "publish it"),
        ("openrlhf/pyproject.toml", (), "pyproject.toml: [project]", "--from requirements.txt"),
        ("lmdeploy/pyproject.toml", (), "pyproject.toml: [project]", "--from requirements.txt"),
        ("verl/pyproject.toml", (), "[project] dynamic", "--from requirements.txt"),
    ],
)  # fmt: skip
def test_files_mlenv_cannot_express_are_named(
    tmp_path: Path, relative: str, args: tuple[str, ...], where: str, hint: str
) -> None:
    """No [project] table (setup.py projects), dynamic dependencies, TOML 1.1 inline tables,
    two linux-64 environments, direct wheel URLs, git sources and overrides, editable pip:
    lines, uv's relative exclude-newer: exit 1 naming the key or line, and how."""
    code, output, manifest = _init(tmp_path, relative, *args)
    assert (code, manifest) == (1, {}), output
    assert output.startswith("error: ")
    assert where in output and hint in output
