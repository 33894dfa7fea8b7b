"""One line per driver a later CUDA update needs: a torch CUDA 13 lock holds about a dozen
NVIDIA components from the same toolkit update, and a warning for each repeated the same driver,
reason and hint a dozen times. ``judge`` keeps one finding per package (``verify --json`` and
the tests read them); the prose says each distinct (driver, reason, hint) once, naming every
package it covers, at the place of its first package."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from mlenv.cuda.minor_said import COMPAT_NEEDS
from mlenv.cuda.rules import Finding

_GROUPED = "driver-minor-compat"


def _key(finding: Finding) -> tuple[str, str, str, str] | None:
    """What the findings of one group share: the driver and reason (the message after the
    package), the hint and the target; None for a finding said on its own."""
    if (
        finding.code != _GROUPED
        or finding.severity != "warning"
        or COMPAT_NEEDS not in finding.message
    ):
        return None
    tail = finding.message.split(COMPAT_NEEDS, 1)[1]
    return (finding.needs, tail, finding.hint, finding.promised)


def grouped(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """``findings`` in their order, each group of driver-minor-compat warnings merged into one
    whose ``package`` lists the packages and whose message keeps what each one uses."""
    groups: dict[tuple[str, str, str, str], list[Finding]] = {}
    for finding in findings:
        if (key := _key(finding)) is not None:
            groups.setdefault(key, []).append(finding)
    out: list[Finding] = []
    for finding in findings:
        key = _key(finding)
        if key is None:
            out.append(finding)
            continue
        members = groups[key]
        if members[0] is not finding:
            continue
        if len(members) == 1:
            out.append(finding)
            continue
        heads = "; ".join(m.message.split(COMPAT_NEEDS, 1)[0] for m in members)
        tail = key[1].replace(" runs it only under ", " runs them only under ", 1)
        message = (
            f"{len(members)} packages from a later CUDA update: {heads}; "
            f"their full feature set needs driver {tail}"
        )
        names = ", ".join(m.package for m in members)
        out.append(dataclasses.replace(finding, package=names, message=message))
    return tuple(out)
