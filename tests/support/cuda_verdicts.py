"""A CUDA target and a package's verdict against it, spelt as the CUDA judgement tests write
them: ``target("12.8", "570.26")`` and ``verdict(...)`` -> [(severity, code)]."""

from __future__ import annotations

from collections.abc import Sequence

from mlenv.cuda.rules import CudaTarget, Finding, PackageNeed, judge
from mlenv.cuda.tags import CudaNeed
from mlenv.cuda.versions import CudaVersion, DriverVersion


def target(cuda: str, driver: str, archs: tuple[str, ...] = ()) -> CudaTarget:
    return CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(driver), archs)


def verdict(cuda: str, driver: str, name: str, need: CudaNeed | None) -> list[tuple[str, str]]:
    """The findings of ``judge`` for one package ``name`` with ``need`` on the target."""
    assert need is not None, name
    found = judge(target(cuda, driver), [PackageNeed(name, "v", need)])
    return [(finding.severity, finding.code) for finding in found]


def case_target(cuda: str, driver: str, archs: str, os: str, reported: str) -> CudaTarget:
    """A checked target from a case row's columns (``os`` wsl: WSL 2 runs the Windows driver)."""
    return CudaTarget(
        CudaVersion.parse(cuda),
        DriverVersion.parse(driver),
        tuple(arch for arch in archs.split(",") if arch),
        checked=True,
        windows=os == "wsl",
        reported=CudaVersion.parse(reported) if reported else None,
    )


def assert_case(findings: Sequence[Finding], expected: str, hint_has: str, why: object) -> None:
    """A case row's ``expected`` (``ok`` or ``severity:code`` joined by ``+``) and ``hint_has``
    (text the hints or messages hold; ``!text``: must not hold)."""
    got = "+".join(sorted({f"{f.severity}:{f.code}" for f in findings})) or "ok"
    assert got == expected, (why, [f.message for f in findings])
    said = " ".join(f"{f.hint} {f.message}" for f in findings)
    if hint_has.startswith("!"):
        assert hint_has[1:] not in said, (why, said)
    elif hint_has:
        assert hint_has in said, (why, said)
