"""Conda solving with py-rattler for the target rather than this machine, in the child process
of ``mlenv.conda.worker``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from mlenv.conda.explain import solve_error
from mlenv.conda.records import CondaError, CondaRecord, public_url
from mlenv.conda.virtual import cuda_version_constraint, virtual_packages
from mlenv.conda.worker import ChildFailure, run_child
from mlenv.cuda.tags import extract_conda
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
    driver_floor: str = "",
) -> tuple[CondaRecord, ...]:
    """Solve the specs for the target platform (plus noarch), sorted by name.

    ``locked`` records that the channels still publish are preferred, so a re-lock changes
    only what it must.
    """
    virtual = virtual_packages(platform, cuda=cuda, glibc=glibc, driver_floor=driver_floor)
    request = {
        "channels": list(channels),
        "specs": list(specs),
        "platform": platform,
        "virtual": [asdict(package) for package in virtual],
        "constraints": [] if cuda is None else [cuda_version_constraint(cuda)],
        "locked": sorted({(record.name, record.sha256) for record in locked}),
    }
    with reporter.task(f"solving conda packages for {platform}", unit="packages") as task:
        try:
            entries = run_child("solve", request)
        except ChildFailure as failure:
            raise solve_error(
                failure, channels, platform, cuda=cuda, glibc=glibc, driver_floor=driver_floor
            ) from None
        task.advance(len(entries))
    records = (
        from_repodata(entry, channel=entry["channel"], filename=entry["fn"], url=entry["url"])
        for entry in entries
    )
    return tuple(sorted(records, key=lambda record: record.name))


def from_repodata(
    entry: Mapping[str, Any], *, channel: str, filename: str, url: str
) -> CondaRecord:
    """A record from a repodata.json entry (what channels publish and rattler returns)."""
    where = f"{channel} {filename}"
    for key in ("md5", "size"):
        if entry.get(key) is None:
            raise CondaError(
                f"the channel's repodata gives no {key} for {filename}",
                where=where,
                hint="use a channel indexed by conda-index or rattler-index",
            )
    if entry.get("sha256") is None:
        raise CondaError(
            f"the channel publishes no sha256 for {filename}",
            where=public_url(url),
            hint="mlenv locks only artifacts it can verify; use a channel whose repodata has "
            "sha256 (conda-forge's does)",
        )
    name, version, build = str(entry["name"]), str(entry["version"]), str(entry["build"])
    depends = tuple(str(spec) for spec in entry.get("depends") or ())
    constrains = tuple(str(spec) for spec in entry.get("constrains") or ())
    need = extract_conda(name, version, build, depends, constrains)
    noarch = entry.get("noarch")
    return CondaRecord(
        name=name,
        version=version,
        build=build,
        build_number=int(entry.get("build_number", 0)),
        subdir=str(entry["subdir"]),
        channel=public_url(channel).rstrip("/"),
        url=public_url(url),
        filename=filename,
        sha256=str(entry["sha256"]),
        md5=str(entry["md5"]),
        size=int(entry["size"]),
        depends=depends,
        constrains=constrains,
        # conda-build's legacy ``noarch: true`` is what conda and rattler read as generic
        noarch=None if noarch in (None, False) else "generic" if noarch is True else str(noarch),
        cuda=None if need is None else need.label,
    )
