"""Attack 211: framework_archs' three readings merged today (a wheel judged on each machine it
names, a fleet's refusal turned warning where another machine's build runs the GPU, hints naming
another machine only where its build carries the GPU). Found and fixed: a Jetson's GPU (Orin's
sm_87, Xavier's sm_72), which only aarch64 (Tegra) hosts have, was called carried by x86_64's
build: an aarch64 torch 2.7 +cu128 lacking sm_87 was a warning "the fleet may run it on x86_64
only", and an aarch64 torch lacking sm_72 was told to run it on x86_64 hosts; an Orin an aarch64
torch 2.7 lacks was sent to torch 2.9, whose sm_80 code mlenv itself does not judge on a Jetson
(it now names a JetPack build); a P100 was offered torch 2.8 to 2.10 +cu128 (from sm_70).
The invariants (no GPU silent where no build of the lock's machines carries it, no hint naming a
machine whose build lacks it, one host judged by its machine's wheels alone, the lock's refusal
held on each host) are kept as property tests over the table's rows."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from mlenv.cuda.rules import CudaTarget, Finding, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import JETSON_ONLY_CCS, CudaVersion, DriverVersion

pytestmark = pytest.mark.hostile

_TAGS = {"x86_64": "manylinux_2_28_x86_64", "aarch64": "manylinux_2_28_aarch64"}
_ROWS = json.loads(resources.files("mlenv.data").joinpath("cuda.json").read_text())[
    "framework_archs"
]


def _need(version: str, machines: tuple[str, ...]) -> PackageNeed:
    """torch ``version`` (``2.7.1+cu128``) as a wheel tagged for ``machines``."""
    tags = ".".join(_TAGS[m] for m in machines)
    need = extract("torch", version, f"torch-{version}-cp311-cp311-{tags}.whl")
    assert need is not None
    return PackageNeed("torch", version, need, machines)


def _fleet(archs: tuple[str, ...], machines: tuple[str, ...], host: str = "") -> CudaTarget:
    """A CUDA 12.8 target of ``archs`` on the fleet's ``machines`` (one ``host``'s if set)."""
    return CudaTarget(
        CudaVersion.parse("12.8"), DriverVersion.parse("580.65"), archs, machine=host,
        machines=machines,
    )  # fmt: skip


def _arch_findings(target: CudaTarget, item: PackageNeed) -> list[Finding]:
    return [f for f in judge(target, [item]) if f.code == "arch-not-built"]


# --- the oracle: cuda.json's rows read again, by the rule the module docstring states ---------


def _row(version: str, cuda: str, machine: str) -> dict[str, str] | None:
    """The first row naming torch, this CUDA, this release and ``machine``."""
    release = Version(Version(version).base_version)
    for row in _ROWS:
        spec = row["packages"].get("torch")
        if spec is None or row.get("machine", "x86_64") != machine:
            continue
        low, high = CudaVersion.parse(row["cuda_from"]), CudaVersion.parse(row["cuda_to"])
        if low <= CudaVersion.parse(cuda) <= high and SpecifierSet(spec).contains(release, True):
            return dict(row)
    return None


def _placed(cc: int, machine: str) -> bool:
    """Whether a GPU of ``cc`` can sit in a ``machine`` host: a Jetson's is on aarch64 only."""
    return cc not in JETSON_ONLY_CCS or machine == "aarch64"


def _runs(version: str, cuda: str, machine: str, cc: int) -> bool | None:
    """Whether ``machine``'s build carries code a GPU of ``cc`` runs; None: no row judges it."""
    row = _row(version, cuda, machine)
    if row is None:
        return None
    lowest = int(row["lowest"].removeprefix("sm_"))
    highest = int(row["highest"].removeprefix("sm_")) if "highest" in row else None
    return cc >= lowest and (highest is None or cc // 10 <= highest // 10)


# --- found: a Jetson's GPU is never carried by x86_64 --------------------------------------------


def test_an_orin_an_aarch64_build_lacks_is_not_sent_to_x86_64() -> None:
    """Orin's sm_87 against aarch64 torch 2.7 +cu128 (9.0;10.0;12.0): x86_64's 2.7 build starts
    at sm_75, but no Orin sits in an x86_64 host; it was a warning sending it there."""
    item = _need("2.7.1+cu128", ("aarch64",))
    [finding] = _arch_findings(_fleet(("sm_87",), ("x86_64", "aarch64")), item)
    assert finding.severity == "error", finding.message
    assert "x86_64" not in finding.hint, finding.hint


def test_a_xavier_no_aarch64_build_carries_is_not_sent_to_x86_64_hosts() -> None:
    """Xavier's sm_72 against aarch64 torch 2.9 +cu128 (from sm_80): no aarch64 row carries it,
    and the hint said x86_64's CUDA 12.8 build, from sm_70, does."""
    item = _need("2.9.0+cu128", ("aarch64",))
    [finding] = _arch_findings(_fleet(("sm_72",), ("aarch64",)), item)
    assert finding.severity == "error"
    assert "x86_64" not in finding.hint, finding.hint
    assert "JetPack build of torch" in finding.hint, finding.hint


# --- kept: the invariants over the table's rows --------------------------------------------------

_VERSIONS = ["2.6.0", "2.7.1", "2.8.0", "2.9.1", "2.10.0", "2.11.0"]
_CUDAS = ["cu124", "cu126", "cu128", "cu129", "cu130"]
_ARCHS = [
    "sm_50", "sm_60", "sm_61", "sm_70", "sm_72", "sm_75", "sm_80", "sm_86", "sm_87", "sm_89",
    "sm_90", "sm_90a", "sm_100", "sm_100f", "sm_101", "sm_103", "sm_110", "sm_120", "sm_121",
]  # fmt: skip
_MACHINES = st.sampled_from([("x86_64",), ("aarch64",), ("x86_64", "aarch64")])


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(_VERSIONS),
    st.sampled_from(_CUDAS),
    _MACHINES,
    _MACHINES,
    st.lists(st.sampled_from(_ARCHS), min_size=1, max_size=3, unique=True),
    st.sampled_from(["", "x86_64", "aarch64"]),
)
def test_no_gpu_silent_nor_sent_where_no_build_runs_it(
    release: str,
    cu: str,
    wheel: tuple[str, ...],
    fleet: tuple[str, ...],
    archs: list[str],
    host: str,
) -> None:
    """(1) a GPU some judged machine's build lacks, that no build of the fleet's machines runs,
    is never silent; (2) a warning or a hint naming another machine names one whose build runs
    it; (3) on one host no arch refusal is a warning."""
    version = f"{release}+{cu}"
    item = _need(version, wheel)
    cuda = f"{cu[2:-1]}.{cu[-1]}"
    target = CudaTarget(
        CudaVersion.parse(cuda), DriverVersion.parse("580.65"), tuple(archs), machine=host,
        machines=fleet,
    )  # fmt: skip
    found = _arch_findings(target, item)
    judged = [m for m in wheel if host in ("", m)]
    for arch in archs:
        cc = int(arch.removeprefix("sm_").rstrip("af"))
        said = [f for f in found if f" {arch} " in f" {f.message.replace(')', ' ')} "]
        lacking = [m for m in judged if _placed(cc, m) and _runs(version, cuda, m, cc) is False]
        anywhere = host == "" and any(_placed(cc, m) and _runs(version, cuda, m, cc) for m in fleet)
        if lacking and not anywhere:
            assert any(f.severity == "error" for f in said), (arch, lacking, found)
        for finding in said:
            assert not (host and finding.severity == "warning"), finding.message
            for other in ("x86_64", "aarch64"):
                if f"on {other}" in finding.hint or f"{other} (" in finding.hint:
                    placed = _placed(cc, other) and _runs(version, cuda, other, cc)
                    assert placed, (arch, other, finding.hint)


# --- found: a remedy naming a release whose build lacks the GPU -----------------------------------


@pytest.mark.parametrize("version", ["2.7.1+cu128", "2.11.0+cu128"])
def test_a_p100_is_not_sent_to_torch_2_8_cu128(version: str) -> None:
    """torch 2.8 to 2.10 +cu128 start at sm_70: the hint offered them to a P100 (sm_60) as to a
    V100; only the CUDA 12.6 build carries sm_60."""
    item = _need(version, ("x86_64",))
    found = _arch_findings(_fleet(("sm_60", "sm_70"), ("x86_64",)), item)
    hints = {f.message.split("no code for ")[1].split(" ")[0]: f.hint for f in found}
    assert "2.8 to 2.10" not in hints["sm_60"], hints["sm_60"]
    assert "+cu126" in hints["sm_60"]
    assert "torch 2.8 to 2.10 (+cu128" in hints["sm_70"], hints["sm_70"]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_VERSIONS),
    st.sampled_from(_CUDAS),
    _MACHINES,
    st.lists(st.sampled_from(_ARCHS), min_size=1, max_size=3, unique=True),
)
def test_a_gpu_the_lock_refuses_no_host_runs(
    release: str, cu: str, fleet: tuple[str, ...], archs: list[str]
) -> None:
    """(4) The fleet's torch for each of its machines: a GPU the lock refuses is refused or
    warned on each host that can hold it and whose machine's build mlenv knows (verify --host,
    --nodes and the k8s affinity judge one machine's wheels); a remedy naming torch 2.8 to 2.10
    +cu128 names it to sm_70 and newer alone."""
    version = f"{release}+{cu}"
    cuda = CudaVersion.parse(f"{cu[2:-1]}.{cu[-1]}")
    items = [_need(version, (m,)) for m in fleet]
    floor = DriverVersion.parse("580.65")

    def said(arch: str, machine: str) -> list[Finding]:
        target = CudaTarget(cuda, floor, (arch,), machine=machine, machines=fleet)
        return [f for item in items for f in _arch_findings(target, item)]

    for arch in archs:
        locked = said(arch, "")
        if any(f.severity == "error" for f in locked):
            cc = int(arch.removeprefix("sm_").rstrip("af"))
            known = [m for m in fleet if _row(version, str(cuda), m) and _placed(cc, m)]
            assert all(said(arch, m) for m in known), (arch, locked)
        if int(arch.removeprefix("sm_").rstrip("af")) < 70:
            assert not any("2.8 to 2.10" in f.hint for f in locked), locked


# --- found: a Jetson's GPU sent to an SBSA release that only covers it by a lower minor ---------


@pytest.mark.parametrize(
    ("version", "arch"),
    [("2.7.1+cu128", "sm_87"), ("2.8.0+cu129", "sm_87"), ("2.6.0+cu126", "sm_87")],
)
def test_an_orin_refused_is_sent_to_jetpack_not_to_torch_2_9(version: str, arch: str) -> None:
    """aarch64 torch 2.7 lacks Orin's sm_87; the hint said "use a 2.9 or later release", whose
    sm_80 code mlenv itself does not judge on a Jetson (arch-not-judged: use a JetPack build)."""
    item = _need(version, ("aarch64",))
    [finding] = _arch_findings(_fleet((arch,), ("aarch64",)), item)
    assert finding.severity == "error"
    assert "JetPack build of torch" in finding.hint, finding.hint
    assert "2.9 or later" not in finding.hint


def test_thor_keeps_the_cu130_way_out() -> None:
    """Thor's sm_110 has its own code in the aarch64 CUDA 13.0 build: that remedy stays."""
    item = _need("2.9.1+cu126", ("aarch64",))
    target = CudaTarget(CudaVersion.parse("12.6"), DriverVersion.parse("580.65"), ("sm_110",))
    [finding] = _arch_findings(target, item)
    assert "a CUDA 13.0 build (+cu130)" in finding.hint, finding.hint
