"""A CUDA target and a package's verdict against it, spelt as the CUDA judgement tests write
them: ``target("12.8", "570.26")`` and ``verdict(...)`` -> [(severity, code)]."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mlenv.cuda.rules import CudaTarget, Finding, PackageNeed, judge
from mlenv.cuda.tags import CudaNeed, extract
from mlenv.cuda.versions import CudaVersion, DriverVersion


def target(cuda: str, driver: str, archs: tuple[str, ...] = ()) -> CudaTarget:
    return CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(driver), archs)


def verdict(cuda: str, driver: str, name: str, need: CudaNeed | None) -> list[tuple[str, str]]:
    """The findings of ``judge`` for one package ``name`` with ``need`` on the target."""
    assert need is not None, name
    found = judge(target(cuda, driver), [PackageNeed(name, "v", need)])
    return [(finding.severity, finding.code) for finding in found]


@dataclass(frozen=True)
class CaseColumns:
    """The columns every CUDA case row (nvidia_cuda_cases.csv, conda_cuda_cases.csv) has: its
    source, its target (``os`` wsl runs the Windows driver, ``reported`` is the CUDA Version
    the driver reports, ``archs`` the GPUs, comma-separated) and the verdict expected of it."""

    id: str
    source: str
    os: str
    gpu: str
    driver: str
    reported: str
    cuda: str
    archs: str
    expected: str
    hint_has: str
    note: str

    def target(self) -> CudaTarget:
        """The checked target the row describes."""
        return CudaTarget(
            CudaVersion.parse(self.cuda),
            DriverVersion.parse(self.driver),
            tuple(arch for arch in self.archs.split(",") if arch),
            checked=True,
            windows=self.os == "wsl",
            reported=CudaVersion.parse(self.reported) if self.reported else None,
        )


def assert_case(findings: Sequence[Finding], case: CaseColumns) -> None:
    """The row's ``expected`` (``ok`` or ``severity:code`` joined by ``+``) and ``hint_has``
    (text the hints or messages hold; ``!text``: must not hold)."""
    why = (case.id, case.source, case.note)
    got = "+".join(sorted({f"{f.severity}:{f.code}" for f in findings})) or "ok"
    assert got == case.expected, (why, [f.message for f in findings])
    said = " ".join(f"{f.hint} {f.message}" for f in findings)
    if case.hint_has.startswith("!"):
        assert case.hint_has[1:] not in said, (why, said)
    elif case.hint_has:
        assert case.hint_has in said, (why, said)


def aarch64_arch_hint(version: str, arch: str) -> str:
    """The hint of the ``arch-not-built`` refusal of PyTorch's aarch64 torch ``version``
    (a CUDA 12.8 target) for a fleet of ``arch`` GPUs."""
    filename = f"torch-{version}-cp311-cp311-manylinux_2_28_aarch64.whl"
    need = extract("torch", version, filename)
    assert need is not None
    item = PackageNeed.of_wheel("torch", version, need, filename)
    (finding,) = [
        f for f in judge(target("12.8", "570.26", (arch,)), [item]) if f.code == "arch-not-built"
    ]
    return finding.hint
