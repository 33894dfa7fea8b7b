"""The export use case: the lock in a format another tool reads (requirements, pylock.toml, a
CycloneDX SBOM, Kubernetes node affinity, conda-lock, a conda explicit spec)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from mlenv import lockfile
from mlenv.commands.session import Session
from mlenv.frozen import judge_lock
from mlenv.manifest import Manifest
from mlenv.outputs import OutputKind

EXPORT_FILE = OutputKind("export", "--output")
# PEP 751: "A lock file MUST be named pylock.toml or match" this; pip and uv go by the name.
# Matched whole: "$" passed "pylock.toml\n", written with no warning and read by neither
PYLOCK_NAME = re.compile(r"pylock\.([^.]+\.)?toml")


def export_keep(session: Session) -> dict[str, Path]:
    """What an export written to a path must never replace."""
    return {
        "the manifest": session.manifest_path,
        "the lock": session.lock_path,
        **session.kept_cache(),
    }


def render_export(
    session: Session,
    fmt: str,
    platform: str | None,
    output: Path | None = None,
    *,
    frozen: bool = False,
) -> str:
    """The fresh lock rendered as ``fmt`` (for ``platform``, else the lock's first);
    ``output``: where it is written (None: stdout, read as the working directory). A URL
    written with ``***`` where the manifest holds a secret is warned of."""
    manifest = session.load_manifest()
    lock_ = session.load_lock()
    judge_lock(session, lock_, manifest, frozen=frozen)
    text = _rendered(session, manifest, lock_, fmt, platform, output)
    if fmt == "pylock" and output is not None and not PYLOCK_NAME.fullmatch(output.name):
        session.reporter.warning(
            f"export: {output.name} is not a PEP 751 file name (pylock.toml or "
            "pylock.<name>.toml): uv refuses to read it as a lock and pip reads it as a "
            "requirements file; name it so"
        )
    for key, shown in _secrets_left_out(manifest, text):
        session.reporter.warning(
            f"export: {key} is written as {shown}, without the secret the manifest gives it "
            "(mlenv records no secret): pip and uv send '***' as it is. Give them the real URL "
            "at install time (PIP_INDEX_URL / PIP_EXTRA_INDEX_URL, UV_INDEX_URL / "
            "UV_EXTRA_INDEX_URL, or --index-url on their command line), or keep the secret in "
            "a keyring or ~/.netrc for the host and leave it out of the manifest's URL"
        )
    return text


def _secrets_left_out(manifest: Manifest, text: str) -> list[tuple[str, str]]:
    """Each manifest location whose secret the lock replaced by ``***`` and that the export
    writes so: the key naming it and the URL as written."""
    from mlenv.redaction import redact_urls

    pypi, found = manifest.pypi, []
    places = [
        ("[pypi].index-url", pypi.index_url),
        *((f"[pypi].extra-index-urls[{i}]", u) for i, u in enumerate(pypi.extra_index_urls)),
        *((f"[pypi].find-links[{i}]", u) for i, u in enumerate(pypi.find_links)),
        *((f"[pypi].sources.{name}", u) for name, u in pypi.sources),
        *((f"[conda].channels[{i}]", u) for i, u in enumerate(manifest.conda.channels)),
    ]
    for key, url in places:
        shown = redact_urls(url)
        if shown != url and shown.rstrip("/") in text:
            found.append((key, shown))
    return found


def _rendered(
    session: Session,
    manifest: Manifest,
    lock_: lockfile.Lock,
    fmt: str,
    platform: str | None,
    output: Path | None,
) -> str:
    from mlenv.conda.export import conda_lock_yml, explicit_spec
    from mlenv.export import pylock_toml, requirements_txt

    chosen = platform or lock_.target.platforms[0]
    # a relative find-links directory is the manifest's; pip reads one from the requirements
    # file's directory (then the working directory's), PEP 751 from the pylock file's
    given = output.absolute().parent if output is not None else Path.cwd()
    manifest_dir = session.manifest_path.absolute().parent.resolve()
    relative = Path(os.path.relpath(manifest_dir, given.resolve())).as_posix()
    if Path(os.path.normpath(given / relative)).resolve() != manifest_dir:
        # the file's directory is reached through a symlink: '..' read lexically from the path
        # given (uv) and '..' read on disk (pip) part, so the manifest's directory is absolute
        relative = manifest_dir.as_posix()
    if fmt == "requirements":
        return requirements_txt(lock_, chosen, relative, manifest_dir.as_posix())
    if fmt == "pylock":
        return pylock_toml(lock_, relative)
    if fmt == "cyclonedx":
        return _sbom(session, manifest, lock_, platform)
    if fmt == "k8s-affinity":
        from mlenv.node_affinity import affinity_yaml

        return affinity_yaml(lock_, manifest.cuda.archs if manifest.cuda else ())
    if fmt in ("conda-lock", "explicit"):
        _held_to_the_channels(manifest, lock_, manifest_dir)
    if fmt == "conda-lock":
        # Every target platform, one with nothing pinned (no table in the lock) too.
        records = {name: lock_.platform(name).conda for name in lock_.target.platforms}
        return conda_lock_yml(records, lock_.target.conda_channels, lock_.inputs_hash)
    return explicit_spec(lock_.platform(chosen).conda, chosen)


_RELOCK = "run `mlenv lock` where the channel's directory is, or take the lock back from git"


def _held_to_the_channels(manifest: Manifest, lock_: lockfile.Lock, base: Path) -> None:
    """Refuse a conda record whose ``file:`` URL is outside the manifest's local directories
    (``locking_sources.local_roots``), as ``fetch`` refuses to read it, once a relative channel is
    missing here: ``drift._is_channel`` holds its records by their tail alone then, so an
    edited lock could name another directory of its name, which conda reads unjudged. With
    every relative channel here, drift held each record to its directory: a lock exported for
    machines with an absolute channel this one lacks is written."""
    from mlenv.conda.channel_paths import channel_path
    from mlenv.errors import Problem, ProblemsError
    from mlenv.locking_sources import local_roots
    from mlenv.net.origins import file_url_to_path

    places = [place for place in map(channel_path, manifest.conda.channels) if place]
    if all("://" in place or place.startswith("/") or (base / place).is_dir() for place in places):
        return
    roots = local_roots(manifest, base)
    outside = [
        Problem(f"platform.{platform.platform}.conda[{number}] ({record.name} {record.version})",
                f"{record.url} is outside the local directories the manifest names", _RELOCK)
        for platform in lock_.platforms
        for number, record in enumerate(platform.conda)
        if record.url[:5].lower() == "file:" and not roots.holds(file_url_to_path(record.url))
    ]  # fmt: skip
    if outside:
        raise ProblemsError(
            f"the lock names {len(outside)} conda package file(s) conda would read from a "
            "directory the manifest does not name; nothing was exported",
            outside,
        )


def _sbom(session: Session, manifest: Manifest, lock_: lockfile.Lock, platform: str | None) -> str:
    """The CycloneDX SBOM of the lock; licences from the artifacts the cache holds, a
    timestamp only from SOURCE_DATE_EPOCH."""
    from mlenv.commands.build import source_date_epoch
    from mlenv.sbom import cyclonedx, render, verified_wheels, wheel_licences

    epoch = source_date_epoch(os.environ) if os.environ.get("SOURCE_DATE_EPOCH") else None
    with tempfile.TemporaryDirectory(prefix="mlenv-sbom-") as scratch:
        wheels = verified_wheels(session.artifact_cache(), lock_, Path(scratch))
        document = cyclonedx(
            lock_,
            session.lock_bytes(),
            name=manifest.environment.name,
            platforms=[platform] if platform else None,
            licences=wheel_licences(wheels),
            timestamp=epoch,
        )
    return render(document).decode()
