"""Conda solving with py-rattler for the target rather than this machine, in the child process
of ``mlenv.conda.worker``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from mlenv.conda.explain import solve_error
from mlenv.conda.records import CondaRecord
from mlenv.conda.virtual import cuda_version_constraint, virtual_packages
from mlenv.conda.worker import ChildFailure, run_child
from mlenv.report import Reporter


def solve(
    channels: Sequence[str],
    specs: Sequence[str],
    platform: str,
    *,
    cuda: str | None,
    glibc: str,
    reporter: Reporter,
    locked: Sequence[CondaRecord] = (),
) -> tuple[CondaRecord, ...]:
    """Solve the specs for the target platform (plus noarch), sorted by name.

    ``locked`` records that the channels still publish are preferred, so a re-lock changes
    only what it must.
    """
    virtual = virtual_packages(platform, cuda=cuda, glibc=glibc)
    request = {
        "channels": list(channels),
        "specs": list(specs),
        "platform": platform,
        "virtual": [asdict(package) for package in virtual],
        "constraints": [] if cuda is None else [cuda_version_constraint(cuda)],
        "locked": sorted({(record.name, record.sha256 or record.md5) for record in locked}),
    }
    with reporter.task(f"solving conda packages for {platform}", unit="packages") as task:
        try:
            entries = run_child("solve", request)
        except ChildFailure as failure:
            raise solve_error(failure, channels, platform, cuda=cuda, glibc=glibc) from None
        task.advance(len(entries))
    records = (
        CondaRecord.from_repodata(
            entry, channel=entry["channel"], filename=entry["fn"], url=entry["url"]
        )
        for entry in entries
    )
    return tuple(sorted(records, key=lambda record: record.name))
