"""Host detection: parsers on recorded tool output, probe order on an in-memory host."""

from __future__ import annotations

import os
import sys
import time
import types
from pathlib import Path

import pytest

from mlenv.errors import MlenvError
from mlenv.host import (
    DRIVER_LIBRARIES,
    KERNEL_VERSION,
    LDCONFIG_ARGV,
    LDCONFIG_TIMEOUT,
    LDD_ARGV,
    LDD_TIMEOUT,
    LIBRARY_DIRS,
    NVIDIA_SMI_TIMEOUT,
    NVML_SOURCE,
    PROC_DRIVER_VERSION,
    SMI_BANNER_ARGV,
    SMI_QUERY_ARGV,
    SYS_MODULE_VERSION,
    TEGRA_RELEASE,
    UNAME_ARGV,
    UNAME_TIMEOUT,
    WSL_GPU_DEVICE,
    WSL_NVIDIA_SMI,
    HostFacts,
    NvmlSnapshot,
    ProbeResult,
    RealHost,
    detect,
)
from mlenv.host_text import (
    COMPUTE_CAP_ENV,
    DRIVER_ENV,
    Gpu,
    HostError,
    SmiBanner,
    cuda_version_from_int,
    parse_compute_cap_override,
    parse_confstr_glibc,
    parse_driver_override,
    parse_ldd_version,
    parse_proc_driver_version,
    parse_smi_banner,
    parse_smi_query,
    parse_sys_module_version,
)
from tests.support.fake_host import FakeHost

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "host"
QUERY = " ".join(SMI_QUERY_ARGV)
BANNER = " ".join(SMI_BANNER_ARGV)
CONFSTR = "os.confstr('CS_GNU_LIBC_VERSION')"


def sample(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


GLIBC_236 = {"CS_GNU_LIBC_VERSION": "glibc 2.36"}
RTX = (
    Gpu("NVIDIA GeForce RTX 3090", "8.6", "550.54.14"),
    Gpu("NVIDIA GeForce RTX 3090", "8.6", "550.54.14"),
    Gpu("NVIDIA GeForce RTX 4090", "8.9", "550.54.14"),
)


def gpu_node() -> FakeHost:
    """A driver 550.54.14 workstation where every source works."""
    return FakeHost(
        files={
            SYS_MODULE_VERSION: sample("sys_module_nvidia_version.txt"),
            PROC_DRIVER_VERSION: sample("proc_version_x86_64.txt"),
        },
        outputs={
            SMI_QUERY_ARGV: sample("smi_query_noheader.csv"),
            SMI_BANNER_ARGV: sample("smi_banner_550.txt"),
        },
        confstrs=GLIBC_236,
    )


# --- pure parsers on recorded samples ---------------------------------------------------------


def test_sys_module_version_sample() -> None:
    assert parse_sys_module_version(sample("sys_module_nvidia_version.txt")) == "550.54.14"


@pytest.mark.parametrize(
    "text", ["", "\n", "nvidia\n", "550.54.14 extra\n", "550..54\n", "\uff15\uff15\uff10.54.14\n"]
)
def test_sys_module_version_garbage_is_none(text: str) -> None:
    assert parse_sys_module_version(text) is None


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("proc_version_x86_64.txt", "550.54.14"),
        ("proc_version_open_x86_64.txt", "550.144.03"),
        ("proc_version_aarch64.txt", "550.120"),
        ("proc_version_open_aarch64.txt", "550.144.03"),
    ],
)
def test_proc_driver_version_samples(name: str, version: str) -> None:
    assert parse_proc_driver_version(sample(name)) == version


@pytest.mark.parametrize(
    "text",
    [
        "",
        "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14) \n",
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  unknown  Thu Feb 22 2024\n",
        "\x00\xff\x10 binary\n",
    ],
)
def test_proc_driver_version_garbage_is_none(text: str) -> None:
    assert parse_proc_driver_version(text) is None


def test_smi_query_several_gpus() -> None:
    assert parse_smi_query(sample("smi_query_noheader.csv")) == RTX


def test_smi_query_header_variant() -> None:
    assert parse_smi_query(sample("smi_query_header.csv")) == (
        Gpu("NVIDIA A100-SXM4-80GB", "8.0", "535.104.05"),
        Gpu("NVIDIA A100-SXM4-80GB", "8.0", "535.104.05"),
        Gpu("NVIDIA H100 80GB HBM3", "9.0", "535.104.05"),
    )


def test_smi_query_unavailable_compute_cap_is_none() -> None:
    assert parse_smi_query("470.256.02, [N/A], Tesla K80\n") == (
        Gpu("Tesla K80", None, "470.256.02"),
    )


def test_smi_query_empty_output_lists_no_gpus() -> None:
    assert parse_smi_query("") == ()


@pytest.mark.parametrize(
    "text",
    [
        sample("smi_no_driver.txt"),
        "No devices were found\n",
        "550.54.14, 8.6\n",
        "550.54.14, 8.6, NVIDIA GeForce RTX 3090\n550.54.14, eight, NVIDIA GeForce RTX 3090\n",
        "latest, 8.6, NVIDIA GeForce RTX 3090\n",
        "550.54.14, 8.6, \n",
    ],
)
def test_smi_query_garbage_is_none(text: str) -> None:
    assert parse_smi_query(text) is None


def test_smi_banner_current_layout() -> None:
    assert parse_smi_banner(sample("smi_banner_550.txt")) == SmiBanner("550.54.14", "12.4")


def test_smi_banner_pre_530_layout() -> None:
    assert parse_smi_banner(sample("smi_banner_525.txt")) == SmiBanner("525.85.12", "12.0")


def test_smi_banner_cuda_not_available() -> None:
    text = sample("smi_banner_550.txt").replace("CUDA Version: 12.4", "CUDA Version: N/A ")
    assert parse_smi_banner(text) == SmiBanner("550.54.14", None)


@pytest.mark.parametrize("text", [sample("smi_no_driver.txt"), "", "Driver Version: ???\n"])
def test_smi_banner_garbage_is_none(text: str) -> None:
    assert parse_smi_banner(text) is None


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("glibc 2.36", "2.36"),
        ("glibc 2.17", "2.17"),
        ("", None),
        ("glibc", None),
        ("musl 1.2", None),
    ],
)
def test_confstr_glibc(text: str, version: str | None) -> None:
    assert parse_confstr_glibc(text) == version


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("ldd_version_debian.txt", "2.36"),
        ("ldd_version_fedora.txt", "2.39"),
        ("ldd_version_musl.txt", None),
    ],
)
def test_ldd_version_samples(name: str, version: str | None) -> None:
    assert parse_ldd_version(sample(name)) == version


@pytest.mark.parametrize("text", ["", "\n", "ldd (GNU libc) two\n", "ldd: command not found\n"])
def test_ldd_version_garbage_is_none(text: str) -> None:
    assert parse_ldd_version(text) is None


@pytest.mark.parametrize(
    ("value", "version"),
    [(12040, "12.4"), (11080, "11.8"), (12090, "12.9"), (13000, "13.0"), (0, None), (-1, None)],
)
def test_cuda_version_from_int(value: int, version: str | None) -> None:
    assert cuda_version_from_int(value) == version


@pytest.mark.parametrize(
    ("value", "version"),
    [("550.54.14", "550.54.14"), (" 535.104.05\n", "535.104.05"), ("580", "580")],
)
def test_driver_override_accepts_digits_and_dots(value: str, version: str) -> None:
    assert parse_driver_override(value) == version


@pytest.mark.parametrize(
    "value", ["", " ", "latest", "v550.54", "550.54.14a", "550..54", "\uff15\uff15\uff10"]
)
def test_driver_override_rejects_anything_else(value: str) -> None:
    with pytest.raises(HostError) as caught:
        parse_driver_override(value)
    assert isinstance(caught.value, MlenvError)
    assert caught.value.where == DRIVER_ENV
    assert caught.value.hint is not None
    assert "550.54.14" in caught.value.hint


@pytest.mark.parametrize(
    ("value", "caps"),
    [("8.6", ("8.6",)), ("8.0,9.0", ("8.0", "9.0")), ("8.0, 8.0", ("8.0", "8.0"))],
)
def test_compute_cap_override(value: str, caps: tuple[str, ...]) -> None:
    assert parse_compute_cap_override(value) == caps


@pytest.mark.parametrize(
    ("value", "caps"),
    [
        ("9.0\n9.0", ("9.0", "9.0")),  # $(nvidia-smi --query-gpu=compute_cap ... noheader)
        ("8.0\n8.6\n7.5\n", ("8.0", "8.6", "7.5")),  # A100, A10 and T4 in one node
        ("compute_cap\n12.0\n", ("12.0",)),  # --format=csv keeps its header
        ("10.0\r\n10.0\r\n", ("10.0", "10.0")),  # captured with Windows line endings
    ],
)
def test_compute_cap_override_takes_nvidia_smi_lines(value: str, caps: tuple[str, ...]) -> None:
    """nvidia-smi prints one line per GPU, a header first without noheader (nvidia-smi docs,
    --query-gpu); MLENV_DRIVER_VERSION takes that shape, MLENV_GPU_COMPUTE_CAP refused it."""
    assert parse_compute_cap_override(value) == caps


@pytest.mark.parametrize(
    "value", ["", "86", "8.6,", "sm_86", "8.6;9.0", "8", "\n", "compute_cap", "8.6\n[N/A]"]
)
def test_compute_cap_override_rejects_garbage(value: str) -> None:
    with pytest.raises(HostError) as caught:
        parse_compute_cap_override(value)
    assert caught.value.where == COMPUTE_CAP_ENV
    assert caught.value.hint is not None


# --- detect() on fakes: probe order and fall-through ------------------------------------------


def test_detect_gpu_node_uses_sys_first_and_runs_each_tool_once() -> None:
    host = gpu_node()
    assert detect(host) == HostFacts(
        driver="550.54.14",
        driver_source=SYS_MODULE_VERSION,
        cuda_driver_version="12.4",
        gpus=RTX,
        glibc="2.36",
        probes=(
            ProbeResult(SYS_MODULE_VERSION, True, "550.54.14"),
            ProbeResult(QUERY, True, "3 GPU(s), driver 550.54.14"),
            ProbeResult(BANNER, True, "driver 550.54.14, CUDA Version 12.4"),
            ProbeResult(CONFSTR, True, "2.36"),
        ),
    )
    assert host.calls == [
        ("read", SYS_MODULE_VERSION),
        ("exists", WSL_NVIDIA_SMI),  # not WSL 2: the nvidia-smi on the PATH
        ("run", SMI_QUERY_ARGV, NVIDIA_SMI_TIMEOUT),
        ("read", TEGRA_RELEASE),
        ("run", SMI_BANNER_ARGV, NVIDIA_SMI_TIMEOUT),
        ("run", LDCONFIG_ARGV, LDCONFIG_TIMEOUT),  # the kernel module's user-space libraries
        *[("resolve_link", f"{d}/{so}") for so in DRIVER_LIBRARIES for d in LIBRARY_DIRS],
        ("confstr", "CS_GNU_LIBC_VERSION"),
        ("run", UNAME_ARGV, UNAME_TIMEOUT),  # the machine, last: verify's host-platform
    ]


def test_detect_falls_back_to_proc_when_sys_missing() -> None:
    host = gpu_node()
    del host.files[SYS_MODULE_VERSION]
    host.files[PROC_DRIVER_VERSION] = sample("proc_version_open_x86_64.txt")
    host.outputs[SMI_BANNER_ARGV] = sample("smi_banner_550.txt").replace("550.54.14", "550.144.03")
    facts = detect(host)
    assert (facts.driver, facts.driver_source, facts.cuda_driver_version) == (
        "550.144.03",
        PROC_DRIVER_VERSION,
        "12.4",
    )
    assert facts.probes[:2] == (
        ProbeResult(SYS_MODULE_VERSION, False, "not present"),
        ProbeResult(PROC_DRIVER_VERSION, True, "550.144.03"),
    )


def test_detect_skips_unreadable_sys_content() -> None:
    host = gpu_node()
    host.files[SYS_MODULE_VERSION] = "garbage\n"
    facts = detect(host)
    assert (facts.driver, facts.driver_source) == ("550.54.14", PROC_DRIVER_VERSION)
    assert facts.probes[0] == ProbeResult(
        SYS_MODULE_VERSION, False, "unrecognised content: 'garbage\\n'"
    )


def test_detect_container_without_kernel_files_uses_nvidia_smi() -> None:
    host = gpu_node()
    host.files.clear()
    facts = detect(host)
    assert (facts.driver, facts.driver_source, facts.gpus) == ("550.54.14", QUERY, RTX)
    assert facts.cuda_driver_version == "12.4"


def test_detect_old_driver_without_compute_cap_query_uses_banner() -> None:
    host = FakeHost(outputs={SMI_BANNER_ARGV: sample("smi_banner_525.txt")}, confstrs=GLIBC_236)
    assert detect(host) == HostFacts(
        driver="525.85.12",
        driver_source=BANNER,
        cuda_driver_version="12.0",
        gpus=(),
        glibc="2.36",
        probes=(
            ProbeResult(SYS_MODULE_VERSION, False, "not present"),
            ProbeResult(PROC_DRIVER_VERSION, False, "not present"),
            ProbeResult(QUERY, False, "failed, timed out or not installed"),
            ProbeResult(BANNER, True, "driver 525.85.12, CUDA Version 12.0"),
            ProbeResult(NVML_SOURCE, False, "pynvml not importable or NVML failed"),
            ProbeResult(CONFSTR, True, "2.36"),
        ),
    )


def test_detect_nvml_is_the_last_resort() -> None:
    a100 = Gpu("NVIDIA A100-SXM4-80GB", "8.0", "550.54.14")
    host = FakeHost(nvml_snapshot=NvmlSnapshot("550.54.14", 12040, (a100,)), confstrs=GLIBC_236)
    facts = detect(host)
    assert (facts.driver, facts.driver_source, facts.cuda_driver_version, facts.gpus) == (
        "550.54.14",
        NVML_SOURCE,
        "12.4",
        (a100,),
    )
    assert facts.probes[4] == ProbeResult(
        NVML_SOURCE, True, "driver 550.54.14, CUDA 12.4, 1 GPU(s)"
    )
    assert host.calls.count(("nvml",)) == 1


def test_detect_rejects_garbage_nvml_driver() -> None:
    host = FakeHost(nvml_snapshot=NvmlSnapshot("not-a-version", 12040, ()), confstrs=GLIBC_236)
    facts = detect(host)
    assert (facts.driver, facts.cuda_driver_version) == (None, None)
    assert ProbeResult(NVML_SOURCE, False, "driver unknown, CUDA 12.4, 0 GPU(s)") in facts.probes


def test_detect_nothing_found_on_a_cpu_machine() -> None:
    assert detect(FakeHost(confstrs=GLIBC_236)) == HostFacts(
        driver=None,
        driver_source=None,
        cuda_driver_version=None,
        gpus=(),
        glibc="2.36",
        probes=(
            ProbeResult(SYS_MODULE_VERSION, False, "not present"),
            ProbeResult(PROC_DRIVER_VERSION, False, "not present"),
            ProbeResult(QUERY, False, "failed, timed out or not installed"),
            ProbeResult(BANNER, False, "failed, timed out or not installed"),
            ProbeResult(NVML_SOURCE, False, "pynvml not importable or NVML failed"),
            ProbeResult(CONFSTR, True, "2.36"),
        ),
    )


def test_detect_survives_garbage_from_nvidia_smi() -> None:
    host = FakeHost(
        outputs={SMI_QUERY_ARGV: "No devices were found\n", SMI_BANNER_ARGV: "\x00\x01"},
        confstrs=GLIBC_236,
    )
    facts = detect(host)
    assert (facts.driver, facts.gpus, facts.cuda_driver_version) == (None, (), None)
    assert facts.probes[2:4] == (
        ProbeResult(QUERY, False, "unrecognised output: 'No devices were found\\n'"),
        ProbeResult(BANNER, False, "unrecognised output: '\\x00\\x01'"),
    )


def test_driver_override_wins_and_skips_kernel_files() -> None:
    host = gpu_node()
    host.env = {DRIVER_ENV: "550.54.14"}
    facts = detect(host)
    assert (facts.driver, facts.driver_source, facts.cuda_driver_version) == (
        "550.54.14",
        DRIVER_ENV,
        "12.4",
    )
    assert facts.probes[0] == ProbeResult(DRIVER_ENV, True, "550.54.14")
    assert not [call for call in host.calls if call[0] == "read"]


def test_driver_override_never_borrows_another_drivers_cuda_version() -> None:
    host = gpu_node()
    host.env = {DRIVER_ENV: "535.104.05"}
    facts = detect(host)
    assert (facts.driver, facts.cuda_driver_version, facts.gpus) == ("535.104.05", None, RTX)
    assert (
        ProbeResult(BANNER, False, "CUDA Version 12.4 is for driver 550.54.14, not 535.104.05")
        in facts.probes
    )


def test_compute_cap_override_replaces_the_gpu_query() -> None:
    host = gpu_node()
    host.env = {DRIVER_ENV: "535.104.05", COMPUTE_CAP_ENV: "8.0,9.0"}
    facts = detect(host)
    assert facts.gpus == (Gpu(None, "8.0", "535.104.05"), Gpu(None, "9.0", "535.104.05"))
    assert ProbeResult(COMPUTE_CAP_ENV, True, "8.0,9.0") in facts.probes
    assert ("run", SMI_QUERY_ARGV, NVIDIA_SMI_TIMEOUT) not in host.calls


@pytest.mark.parametrize(
    ("env", "where"),
    [
        ({DRIVER_ENV: "latest"}, DRIVER_ENV),
        ({COMPUTE_CAP_ENV: "sm_86"}, COMPUTE_CAP_ENV),
        ({DRIVER_ENV: "550.54.14", COMPUTE_CAP_ENV: "8.6,"}, COMPUTE_CAP_ENV),
    ],
)
def test_bad_override_fails_before_probing(env: dict[str, str], where: str) -> None:
    host = gpu_node()
    host.env = env
    with pytest.raises(HostError) as caught:
        detect(host)
    assert caught.value.where == where
    assert host.calls == []


def test_glibc_falls_back_to_ldd() -> None:
    host = FakeHost(outputs={LDD_ARGV: sample("ldd_version_debian.txt")})
    facts = detect(host)
    assert facts.glibc == "2.36"
    assert facts.probes[-2:] == (
        ProbeResult(CONFSTR, False, "not glibc"),
        ProbeResult("ldd --version", True, "2.36"),
    )
    assert ("run", LDD_ARGV, LDD_TIMEOUT) in host.calls


def test_glibc_unknown_on_musl() -> None:
    facts = detect(FakeHost(confstrs={"CS_GNU_LIBC_VERSION": "musl 1.2.4"}))
    assert facts.glibc is None
    assert facts.probes[-2:] == (
        ProbeResult(CONFSTR, False, "unrecognised: 'musl 1.2.4'"),
        ProbeResult("ldd --version", False, "failed or not glibc"),
    )


# --- the real machine (no GPU here) -----------------------------------------------------------


def test_detect_real_host_without_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DRIVER_ENV, raising=False)
    monkeypatch.delenv(COMPUTE_CAP_ENV, raising=False)
    facts = detect(RealHost())
    assert (facts.driver, facts.driver_source, facts.cuda_driver_version, facts.gpus) == (
        None,
        None,
        None,
        (),
    )
    confstr = os.confstr("CS_GNU_LIBC_VERSION")
    assert confstr is not None
    assert facts.glibc == confstr.split()[1]


def test_detect_real_host_honours_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DRIVER_ENV, "550.54.14")
    monkeypatch.setenv(COMPUTE_CAP_ENV, "8.6")
    facts = detect(RealHost())
    assert (facts.driver, facts.driver_source, facts.gpus) == (
        "550.54.14",
        DRIVER_ENV,
        (Gpu(None, "8.6", "550.54.14"),),
    )


def test_real_run_returns_stdout_in_the_c_locale() -> None:
    argv = [sys.executable, "-c", "import os; print(os.environ['LC_ALL'])"]
    assert RealHost().run(argv, timeout=30) == "C\n"


@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-c", "import sys; print('partial'); sys.exit(9)"],
        ["/nonexistent/nvidia-smi"],
    ],
)
def test_real_run_failure_is_none(argv: list[str]) -> None:
    assert RealHost().run(argv, timeout=30) is None


def test_real_run_timeout_is_none() -> None:
    started = time.monotonic()
    assert RealHost().run([sys.executable, "-c", "import time; time.sleep(30)"], 0.5) is None
    # A stall guard, not a speed target: without the timeout the child runs its 30 s; with
    # it the run ends in about 0.5 s here, 20x under the bound.
    assert time.monotonic() - started < 10


def test_real_read_text(tmp_path: Path) -> None:
    host = RealHost()
    assert host.read_text(str(FIXTURES / "sys_module_nvidia_version.txt")) == "550.54.14\n"
    assert host.read_text(str(tmp_path / "missing")) is None
    assert host.read_text(str(tmp_path)) is None


def test_real_confstr() -> None:
    assert RealHost().confstr("CS_GNU_LIBC_VERSION") == os.confstr("CS_GNU_LIBC_VERSION")
    assert RealHost().confstr("CS_NOT_A_REAL_NAME") is None


def fake_pynvml(*, init_error: bool = False) -> tuple[types.ModuleType, list[str]]:
    """A stand-in for nvidia-ml-py shaped like its real API (older releases return bytes)."""
    calls: list[str] = []
    module = types.ModuleType("pynvml")

    def init() -> None:
        calls.append("init")
        if init_error:
            raise RuntimeError("NVML Shared Library Not Found")

    vars(module).update(
        nvmlInit=init,
        nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlSystemGetDriverVersion=lambda: b"550.54.14",
        nvmlSystemGetCudaDriverVersion=lambda: 12040,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda index: index,
        nvmlDeviceGetCudaComputeCapability=lambda handle: [(8, 0), (9, 0)][handle],
        nvmlDeviceGetName=lambda handle: [b"NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3"][
            handle
        ],
    )
    return module, calls


def test_real_nvml_reads_pynvml_when_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    module, calls = fake_pynvml()
    monkeypatch.setitem(sys.modules, "pynvml", module)
    assert RealHost().nvml() == NvmlSnapshot(
        "550.54.14",
        12040,
        (
            Gpu("NVIDIA A100-SXM4-80GB", "8.0", "550.54.14"),
            Gpu("NVIDIA H100 80GB HBM3", "9.0", "550.54.14"),
        ),
    )
    assert calls == ["init", "shutdown"]


def test_real_nvml_init_failure_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    module, calls = fake_pynvml(init_error=True)
    monkeypatch.setitem(sys.modules, "pynvml", module)
    assert RealHost().nvml() is None
    assert calls == ["init"]


def test_real_nvml_without_pynvml_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert RealHost().nvml() is None


WSL_BANNER = """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.40.06              Driver Version: 551.23         CUDA Version: 12.3     |
|-----------------------------------------+------------------------+----------------------+
|   0  NVIDIA GeForce RTX 4090        On  |   00000000:01:00.0  On |                  Off |
+-----------------------------------------+------------------------+----------------------+
"""


def test_detect_wsl_reports_the_windows_driver_and_its_cuda_version() -> None:
    """CUDA on WSL 2 (NVIDIA's WSL user guide): no Linux kernel module, nvidia-smi prints the
    Windows driver (551.23) and the CUDA it supports; both are kept together, so verify can
    judge the CUDA version where Linux's Table 3 cannot rank a Windows number."""
    host = FakeHost(
        outputs={
            SMI_QUERY_ARGV: "551.23, 8.9, NVIDIA GeForce RTX 4090\n",
            SMI_BANNER_ARGV: WSL_BANNER,
        },
        confstrs=GLIBC_236,
    )
    facts = detect(host)
    assert (facts.driver, facts.driver_source) == ("551.23", QUERY)
    assert facts.cuda_driver_version == "12.3"


CUSTOM_WSL_KERNEL = "Linux version 6.6.36.6-custom (me@build) (gcc 12.2.0) #1 SMP\n"


@pytest.mark.parametrize(
    ("files", "windows"),
    [
        ({KERNEL_VERSION: CUSTOM_WSL_KERNEL, WSL_GPU_DEVICE: ""}, True),
        ({WSL_GPU_DEVICE: ""}, True),  # /proc/version unreadable, as under some sandboxes
        ({KERNEL_VERSION: CUSTOM_WSL_KERNEL}, False),
        (
            {KERNEL_VERSION: CUSTOM_WSL_KERNEL, WSL_GPU_DEVICE: "", SYS_MODULE_VERSION: "551.23"},
            False,
        ),
    ],
)
def test_dxg_device_marks_wsl_when_the_kernel_release_does_not(
    files: dict[str, str], windows: bool
) -> None:
    """A WSL 2 kernel built with .wslconfig's ``kernel=`` keeps whatever release its builder
    chose; ``/dev/dxg`` (dxgkrnl, WSL's GPU device, passed into containers too) still says the
    nvidia-smi driver is Windows'. A kernel module's own version is Linux's whatever exists."""
    host = FakeHost(
        files=dict(files),
        outputs={SMI_QUERY_ARGV: "551.23, 8.9, NVIDIA GeForce RTX 4090\n"},
        confstrs=GLIBC_236,
    )
    assert detect(host).windows_driver is windows


SMI_Q = """\
==============NVSMI LOG==============

Timestamp                                 : Thu Feb 29 10:00:00 2024
Driver Version                            : 550.54.14
CUDA Version                              : 12.4

Attached GPUs                             : 8
GPU 00000000:07:00.0
    Product Name                          : NVIDIA H100 80GB HBM3
    MIG Mode
        Current                           : Enabled
        Pending                           : Enabled
"""


def test_smi_banner_reads_the_nvidia_smi_q_report() -> None:
    """`nvidia-smi -q` writes "Driver Version      : 550.54.14" (padded before the colon),
    also with MIG mode enabled; same driver and CUDA as the banner table."""
    assert parse_smi_banner(SMI_Q) == SmiBanner("550.54.14", "12.4")
