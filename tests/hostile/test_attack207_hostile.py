"""Attack 207: real inputs today's new refusals must not refuse.

Found and fixed: ``init --from`` refused ``-f file:/ABSOLUTE`` (``--find-links
file:$PWD/wheels``, luigi's ``--find-links file:/tmp/packages``), which pip (``url_to_path``) and
uv (the URL's file path) both read as ``/ABSOLUTE``; and ``mlenv lock`` refused a two-machine
fleet (x86_64 T4 beside aarch64 GH200) because the aarch64 torch lacks sm_75, though the x86_64
torch runs it and ``verify --host``/``--nodes``/the k8s affinity judge each GPU by its machine.
Thor's own sm_110 code in a CUDA 13.0 aarch64 build was called "a lower minor's code".
The other shapes held and are kept: real base image Env lists, nvidia-smi's output on
hosts whose GPUs work, and ``file:`` channel spellings conda and rattler read as names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlenv.bare_file import as_path, bare_file_url
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.host_libs import parse_smi_no_gpu
from mlenv.manifest_read import loads
from mlenv.oci.base_config import config_problem
from tests.support.cli import run_mlenv

pytestmark = pytest.mark.hostile


# -- (b) file: find-links -------------------------------------------------------------------


@pytest.mark.parametrize("option", ["-f", "--find-links", "--find-links="])
def test_init_reads_file_colon_absolute_find_links_as_pip_and_uv_do(
    tmp_path: Path, option: str
) -> None:
    """github.com/…/luigi README: ``pip install ... --find-links file:/tmp/packages``; a script's
    ``--find-links=file:"$wheel_path"`` with ``wheel_path="$PWD/requirements/pip/"``."""
    project = tmp_path / "project"
    wheels = tmp_path / "my wheels"
    project.mkdir()
    wheels.mkdir()
    sep = "" if option.endswith("=") else " "
    (project / "requirements.txt").write_text(f"{option}{sep}file:{tmp_path}/my%20wheels\nnumpy\n")
    done = run_mlenv(["init", "--from", "requirements.txt"], project, {})
    assert done.returncode == 0, done.stderr
    assert 'find-links = ["../my wheels"]' in (project / "mlenv.toml").read_text()


def test_relative_file_colon_and_channels_stay_refused() -> None:
    """pip reads ``file:wheels`` from its working directory, mlenv.toml beside itself: not
    converted. A channel ``file:/opt/chan`` is a *name* to conda (``has_scheme`` wants ``://``)
    and rattler (``parse_scheme`` finds ``://``), so the refusal there is right."""
    assert as_path("file:apricot_magic/") == "file:apricot_magic/"
    assert as_path("file:///opt/pkgs") == "file:///opt/pkgs"
    assert as_path("file:/opt/pkgs?x=1") == "file:/opt/pkgs?x=1"
    assert as_path("FILE:/opt/pkgs") == "/opt/pkgs"
    assert bare_file_url("file:/opt/chan") is not None
    assert bare_file_url("file:///opt/chan") is None


# -- (c) aarch64 torch on real fleets ------------------------------------------------------


def _need(version: str, tag: str) -> PackageNeed:
    filename = f"torch-{version}-cp312-cp312-{tag}.whl"
    need = extract("torch", version, filename)
    assert need is not None
    return PackageNeed.of_wheel("torch", version, need, filename)


X86 = "manylinux_2_28_x86_64"
ARM = "manylinux_2_28_aarch64"


def _said(cuda: tuple[int, int], archs: tuple[str, ...], needs: list[PackageNeed],
          machines: tuple[str, ...] = (), machine: str = "") -> set[str]:  # fmt: skip
    target = CudaTarget(CudaVersion(*cuda), DriverVersion.parse("580.65.06"), archs,
                        machine=machine, machines=machines)  # fmt: skip
    return {f"{f.severity}:{f.code}" for f in judge(target, needs)}


def test_a_t4_on_x86_64_beside_gh200s_is_a_warning_not_a_refusal() -> None:
    """torch 2.9.0+cu128 (OpenRAL/openral#167: aarch64 arch_list sm_80 sm_90 sm_100 sm_120)."""
    needs = [_need("2.9.0+cu128", X86), _need("2.9.0+cu128", ARM)]
    both = ("x86_64", "aarch64")
    assert _said((12, 8), ("sm_75", "sm_90"), needs, both) == {"warning:arch-not-built"}
    # a T4G fleet (aarch64 alone) and a T4G host stay refused
    assert "error:arch-not-built" in _said((12, 8), ("sm_75",), needs[1:], ("aarch64",))
    assert "error:arch-not-built" in _said((12, 8), ("sm_75",), needs, both, "aarch64")
    # a GPU neither machine's build runs (Pascal on cu128) stays refused
    assert "error:arch-not-built" in _said((12, 8), ("sm_61", "sm_90"), needs, both)


def test_the_cli_locks_a_two_machine_fleet_with_a_t4(tmp_path: Path) -> None:
    from tests.support.cuda_project import torch_fleet_project as _project

    env = _project(tmp_path, ["linux-64", "linux-aarch64"], ["sm_75", "sm_90"])
    locked = run_mlenv(["lock"], tmp_path, env)
    assert locked.returncode == 0, locked.stderr
    assert "may run it on x86_64 only" in locked.stderr


@pytest.mark.parametrize(
    ("version", "cuda", "arch"),
    [
        ("2.9.1+cu130", (13, 0), "sm_110"),  # Jetson Thor: RELEASE.md 13.0.2 lists 11.0
        ("2.9.1+cu130", (13, 0), "sm_121"),  # DGX Spark GB10: the sm_120 cubin
        ("2.9.1+cu128", (12, 8), "sm_90"),  # GH200
        ("2.9.1+cu128", (12, 8), "sm_100"),  # GB200
        ("2.9.1+cu128", (12, 8), "sm_86"),  # A10 on Ampere Altra: the sm_80 cubin
        ("2.9.1+cu128", (12, 8), "sm_89"),  # L4 / L40S on Ampere Altra
        ("2.9.1+cu126", (12, 6), "sm_80"),  # A100 on Ampere Altra
    ],
)
def test_real_aarch64_gpus_the_wheel_runs_are_not_refused(
    version: str, cuda: tuple[int, int], arch: str
) -> None:
    assert _said(cuda, (arch,), [_need(version, ARM)]) == set()


def test_an_untagged_cu124_aarch64_torch_is_not_judged() -> None:
    """download.pytorch.org/whl/cu124 lists ``torch-2.5.1-cp312-cp312-linux_aarch64.whl`` (no
    ``+cu124``): mlenv cannot read its CUDA, so no arch list refuses a GPU for it."""
    assert extract("torch", "2.5.1", "torch-2.5.1-cp312-cp312-linux_aarch64.whl") is None


# -- (a) real base image Env -----------------------------------------------------------------

_ENVS = {
    # gitlab.com/nvidia/container-images/cuda dist/12.4.1/ubuntu2204/base/Dockerfile
    "nvidia/cuda:12.4.1-runtime-ubuntu22.04": [
        "PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:"
        "/usr/sbin:/usr/bin:/sbin:/bin",
        "NVARCH=x86_64",
        "NVIDIA_REQUIRE_CUDA=cuda>=12.4 brand=tesla,driver>=470,driver<471 "
        "brand=unknown,driver>=470,driver<471 brand=nvidia,driver>=470,driver<471 "
        "brand=geforce,driver>=535,driver<536 brand=rtx,driver>=535,driver<536",
        "NV_CUDA_CUDART_VERSION=12.4.127-1",
        "NV_CUDA_COMPAT_PACKAGE=cuda-compat-12-4",
        "CUDA_VERSION=12.4.1",
        "LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64",
        "NVIDIA_VISIBLE_DEVICES=all",
        "NVIDIA_DRIVER_CAPABILITIES=compute,utility",
        "NV_CUDNN_PACKAGE_NAME=libcudnn9-cuda-12",
        "NVIDIA_PRODUCT_NAME=CUDA",
    ],
    # github.com/docker-library/python 3.12/slim-bookworm/Dockerfile
    "python:3.12-slim": [
        "PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG=C.UTF-8",
        "GPG_KEY=7169605F62C751356D054A26A821E680E5FA6305",
        "PYTHON_VERSION=3.12.7",
        "PYTHON_SHA256=24887b92e2afd4a2ac602419ad4b596372f67ac9b077190f459aba390faf5550",
    ],
    # github.com/mamba-org/micromamba-docker Dockerfile; jupyter/docker-stacks foundation
    "mambaorg/micromamba": [
        "ENV_NAME=base",
        "MAMBA_ROOT_PREFIX=/opt/conda",
        "MAMBA_EXE=/bin/micromamba",
        "MAMBA_USER=mambauser",
        "CONDA_DIR=/opt/conda",
        "SHELL=/bin/bash",
        "NB_USER=jovyan",
        "NB_UID=1000",
        "HOME=/home/jovyan",
        "XDG_CACHE_HOME=/home/jovyan/.cache/",
    ],
    # github.com/pytorch/pytorch Dockerfile (ENV PYTORCH_VERSION ${PYTORCH_VERSION}); an empty
    # value as `ENV FOO=` writes it; distroless's SSL_CERT_FILE
    "pytorch/pytorch + distroless": [
        "NVIDIA_VISIBLE_DEVICES=all",
        "PYTORCH_VERSION=2.5.1",
        "CONDA_PREFIX_1=",
        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
        "A=b=c==",
    ],
}


@pytest.mark.parametrize("image", sorted(_ENVS))
def test_real_base_image_env_lists_are_accepted(image: str) -> None:
    config = {"architecture": "amd64", "os": "linux", "config": {"Env": _ENVS[image]}}
    assert config_problem(config) is None
    broken = {"architecture": "amd64", "os": "linux", "config": {"Env": [*_ENVS[image], "FOO"]}}
    assert config_problem(broken) is not None


# -- (d) nvidia-smi on hosts whose GPUs work -------------------------------------------------


@pytest.mark.parametrize(
    "said",
    [
        # MIG enabled, no instances created (docs.nvidia.com MIG user guide): GPU listed
        "| MIG devices:                                                                |\n"
        "| No MIG devices found                                                        |\n",
        # WSL 2 with the GPU paravirtualised off (microsoft/WSL#9254): not the no-GPU lines
        "Failed to initialize NVML: GPU access blocked by the operating system\n",
        # a query field an older driver lacks (compute_cap before R510): the banner still works
        'Field "compute_cap" is not a valid field to query.\n',
        # one GPU off the bus on an 8-GPU node: the others still run (nvidia-container-toolkit#69)
        "Unable to determine the device handle for GPU 0000:D8:00.0: Not Found\n",
    ],
)
def test_nvidia_smi_lines_of_working_hosts_are_no_no_gpu(said: str) -> None:
    assert parse_smi_no_gpu(said) is None


def test_the_channel_lists_of_real_projects_validate() -> None:
    """conda-forge, nvidia/label/cuda-12.4.0, a URL, pytorch, file:///opt/chan, ./channel."""
    channels = ["conda-forge", "nvidia/label/cuda-12.4.0", "https://conda.anaconda.org/conda-forge",
                "pytorch", "file:///opt/chan", "./channel"]  # fmt: skip
    text = (
        '[environment]\nname = "c"\npython = "3.11"\n'
        f"[conda]\nchannels = {json.dumps(channels)}\ndependencies = []\n"
    )
    assert loads(text).conda.channels == tuple(channels)
