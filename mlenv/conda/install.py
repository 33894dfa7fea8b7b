"""Verified conda archives installed by rattler into a staging prefix, then cleaned of what
names this machine or this run."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlenv.conda.records import CondaError, CondaRecord
from mlenv.conda.worker import ChildFailure, run_child
from mlenv.install.conda_packages import check_conda_packages
from mlenv.placement import path_problem
from mlenv.published import published
from mlenv.report import Reporter

_SHELF = "__clobbers__"
UNKNOWN_CHANNEL = "<unknown>"  # conda's own spelling for a package of no known channel
# Fields rattler writes into conda-meta/*.json that name this machine or this moment.
_MACHINE_KEYS = ("extracted_package_dir", "indexed_timestamp", "link", "package_tarball_full_path")


def install(
    records: Sequence[CondaRecord],
    cache_paths: Mapping[str, Path],
    prefix_staging: Path,
    *,
    target_prefix: str,
    platform: str,
    reporter: Reporter,
) -> None:
    """Install verified archives into ``prefix_staging`` as if it lived at ``target_prefix``.

    ``cache_paths`` maps sha256 to archive files the caller has verified. rattler installs
    whatever its package cache holds without checking, so it gets a fresh, private cache that
    only these archives (reached through file:// links) ever enter, and nothing is downloaded.
    The tree is then normalised: no CACHEDIR.TAG, no machine paths in conda-meta, an empty
    history, modes 0644/0755.
    """
    if problem := path_problem(target_prefix):
        raise CondaError(
            f"the deploy prefix {target_prefix!r} {problem}",
            where="environment.prefix",
            hint="write an absolute path such as /opt/mlenv/detector",
        )
    missing = [r.filename for r in records if r.sha256 not in cache_paths]
    if missing:
        raise CondaError(
            f"not in the artifact cache: {', '.join(sorted(missing))}",
            where="mlenv.lock",
            hint="run mlenv fetch first",
        )
    if prefix_staging.exists() and any(prefix_staging.iterdir()):
        raise CondaError(
            f"the staging prefix {prefix_staging} is not empty",
            where=str(prefix_staging),
            hint="conda packages go first, into an empty directory",
        )
    vetted = [(r.filename, Path(cache_paths[r.sha256])) for r in records]
    site = _python_site(records)
    noarch = [r.filename for r in records if r.noarch == "python"] if site else []
    scripts_of = check_conda_packages(
        vetted, target_prefix=target_prefix, noarch_python=noarch, python_site=site
    )
    for filename, scripts in scripts_of.items():
        # A build runs no package code: conda would run these at install (a post-link script
        # finishes the install), so what they do is missing from this environment.
        reporter.warning(
            f"{filename}: mlenv installs {', '.join(scripts)} as files and has not run them "
            "(conda runs a package's link scripts; a build never runs package code): check that "
            "the package works without what they do"
        )
    prefix_staging.mkdir(parents=True, exist_ok=True)
    # Beside the staging prefix, so rattler hardlinks instead of copying; removed afterwards.
    with tempfile.TemporaryDirectory(prefix=".mlenv-conda-", dir=prefix_staging.parent) as work:
        archives = Path(work) / "archives"
        archives.mkdir()
        entries = []
        for record in records:
            link = archives / record.filename
            link.symlink_to(Path(cache_paths[record.sha256]).resolve())
            entries.append({**asdict(record), "url": link.as_uri()})
        request = {
            "records": entries,
            "prefix": str(prefix_staging.resolve()),
            "target_prefix": target_prefix,
            "platform": platform,
            "cache_dir": str(Path(work) / "pkgs"),
        }
        with reporter.task("installing conda packages", len(records), "packages") as task:
            try:
                run_child("install", request)
            except ChildFailure as failure:
                raise CondaError(
                    f"installing the conda packages failed: {failure.message}",
                    where=str(prefix_staging),
                    hint="re-run mlenv fetch to re-verify the cached archives",
                ) from None
            task.advance(len(records))
    _normalise(prefix_staging, records)


def _python_site(records: Sequence[CondaRecord]) -> str:
    """The conda python's site-packages, where noarch python packages go ('' without one)."""
    for record in records:
        if record.name == "python":
            major_minor = ".".join(record.version.split(".")[:2])
            return f"lib/python{major_minor}/site-packages"
    return ""


def _normalise(prefix: Path, records: Sequence[CondaRecord]) -> None:
    """Remove what rattler writes about this machine and this run, and its ``__clobbers__``
    shelf: a path two packages share holds the same bytes for both (the vetting refuses
    anything else), so each package's record names the path itself, as conda's does."""
    (prefix / "CACHEDIR.TAG").unlink(missing_ok=True)
    shutil.rmtree(prefix / _SHELF, ignore_errors=True)
    meta = prefix / "conda-meta"
    (meta / "history").write_bytes(b"")
    by_stem = {record.stem: record for record in records}
    for path in sorted(meta.glob("*.json")):
        data = json.loads(path.read_bytes())
        record = by_stem[path.name.removesuffix(".json")]
        for key in _MACHINE_KEYS:
            data.pop(key, None)
        _unshelved(data, record.name)
        if published(record.url) is None:  # a local channel: its path is this runner's
            data.pop("url", None)
            data["channel"] = UNKNOWN_CHANNEL
        else:
            data["url"] = record.url
            data["channel"] = record.channel
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    prefix.chmod(0o755)
    for root, dirs, files in os.walk(prefix):
        for name in dirs + files:
            path = Path(root) / name
            if path.is_symlink():
                continue
            executable = path.is_dir() or path.stat().st_mode & 0o111
            path.chmod(0o755 if executable else 0o644)


def _unshelved(data: dict[str, Any], name: str) -> None:
    """A record's paths without rattler's ``__clobbers__/<name>/`` in front."""
    shelf = f"{_SHELF}/{name}/"
    if isinstance(data.get("files"), list):
        data["files"] = [str(path).removeprefix(shelf) for path in data["files"]]
    paths = data.get("paths_data", {}).get("paths", [])
    for entry in paths if isinstance(paths, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("_path"), str):
            entry["_path"] = entry["_path"].removeprefix(shelf)
