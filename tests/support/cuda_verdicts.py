"""A CUDA target and a package's verdict against it, spelt as the CUDA judgement tests write
them: ``target("12.8", "570.26")`` and ``verdict(...)`` -> [(severity, code)]."""

from __future__ import annotations

from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import CudaNeed
from mlenv.cuda.versions import CudaVersion, DriverVersion


def target(cuda: str, driver: str, archs: tuple[str, ...] = ()) -> CudaTarget:
    return CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(driver), archs)


def verdict(cuda: str, driver: str, name: str, need: CudaNeed | None) -> list[tuple[str, str]]:
    """The findings of ``judge`` for one package ``name`` with ``need`` on the target."""
    assert need is not None, name
    found = judge(target(cuda, driver), [PackageNeed(name, "v", need)])
    return [(finding.severity, finding.code) for finding in found]
