"""Conda solving with py-rattler for the target rather than this machine, in the child process
of ``mlenv.conda.worker``."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlenv.conda.explain import solve_error
from mlenv.conda.mirror import Mirrored, channel_url, judged, mirror
from mlenv.conda.records import CondaError, CondaRecord, public_url
from mlenv.conda.virtual import cuda_version_constraint, virtual_packages
from mlenv.conda.worker import ChildFailure, run_child
from mlenv.cuda.tags import extract_conda
from mlenv.report import Reporter

if TYPE_CHECKING:
    from mlenv.index import HttpClient


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
    http: HttpClient | None = None,
) -> tuple[CondaRecord, ...]:
    """Solve the specs for the target platform (plus noarch), sorted by name.

    ``locked`` records that the channels still publish are preferred, so a re-lock changes
    only what it must. With ``http``, every http(s) channel's repodata is fetched by it
    (``mirror``): rattler's own client never goes on the network.
    """
    if http is None:
        web = [c for c in channels if channel_url(c).lower().startswith(("http://", "https://"))]
        if web:  # rattler's own client would fetch it, judged by none of mlenv's rules
            raise CondaError(
                f"the conda channel {public_url(web[0])} needs mlenv's HTTP client to be read",
                where="conda.channels",
                hint="this is a bug in the caller of mlenv.conda.solve.solve: pass http=",
            )
        return _solve(channels, (), specs, platform, cuda, glibc, reporter, locked, driver_floor)
    with tempfile.TemporaryDirectory(prefix="mlenv-channels-") as scratch:
        handed, mirrored = mirror(channels, (platform, "noarch"), http, Path(scratch))
        return _solve(
            channels, mirrored, specs, platform, cuda, glibc, reporter, locked, driver_floor,
            handed=handed,
        )  # fmt: skip


def _solve(
    channels: Sequence[str],
    mirrored: Sequence[Mirrored],
    specs: Sequence[str],
    platform: str,
    cuda: str | None,
    glibc: str,
    reporter: Reporter,
    locked: Sequence[CondaRecord],
    driver_floor: str,
    *,
    handed: Sequence[str] | None = None,
) -> tuple[CondaRecord, ...]:
    """The solve over ``handed`` (the channels as rattler reads them), mapped back."""
    virtual = virtual_packages(platform, cuda=cuda, glibc=glibc, driver_floor=driver_floor)
    request = {
        "channels": list(channels if handed is None else handed),
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
            message = failure.message
            for copy in mirrored:  # rattler names the private copy; the user named the channel
                message = copy.shown(message)
            raise solve_error(
                ChildFailure(failure.kind, message), channels, platform,
                cuda=cuda, glibc=glibc, driver_floor=driver_floor,
            ) from None  # fmt: skip
        task.advance(len(entries))
    records = (_mapped(entry, mirrored) for entry in entries)
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


def _mapped(entry: Mapping[str, Any], mirrored: Sequence[Mirrored]) -> CondaRecord:
    """The record rattler solved, its channel and url those of the channel the manifest names
    when rattler read mlenv's private copy of it; a url elsewhere must be one to follow."""
    channel, url = str(entry["channel"]), str(entry["url"])
    for copy in mirrored:
        if channel.rstrip("/") == copy.local:
            channel, url = copy.back(channel), judged(copy.back(url), copy.real)
            break
    return from_repodata(entry, channel=channel, filename=entry["fn"], url=url)
