"""Every file an earlier build output holds that its build wrote (the write gate's view of a
``dist/``, invariant 4 of docs/security.md).

``build_files`` names what a build.json says sits beside it; a directory among
them (the OCI layout, a multi-platform build's ``<platform>/``) is not taken to cover whatever
is below it, since a user's file put there would be replaced by the next build unseen. Each is
opened up to the files a build writes there: the layout's ``index.json``, ``oci-layout`` and
``blobs/sha256/<hex>`` for each digest the record names (the manifest, config and layers; a
multi-platform record's index and its platforms' blobs), so an image a user copied into the
layout (``skopeo copy ... oci:dist/oci``) is not taken as the build's; a platform's directory
as its own build.json accounts for it (a single-platform record, read from that directory,
never through a symlink). Anything else below is a stranger, and the build is refused naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlenv.build_record import BUILD_RECORD, IMAGE_TAR, MULTI_PLATFORM, BuildRecordError
from mlenv.build_record import read_record as typed_record
from mlenv.build_record_fields import is_archive_name
from mlenv.digests import is_sha256_hex
from mlenv.limits import LimitError, parse_record_json
from mlenv.outputs import OutputKind, read_record

LAYOUT = "oci"
_LAYOUT_FILES = ("index.json", "oci-layout")
_BLOBS = "blobs/sha256"
_BLOBS_AT = f"{LAYOUT}/{_BLOBS}/"


def build_written(record: Any, directory: Path) -> frozenset[str] | None:
    """The files (relative, "/"-separated, each a regular file) the build.json ``record`` in
    ``directory`` accounts for; None when it is not a build record (``build_record``'s reader
    refuses it: a user's JSON with a record's keys, or a newer format's, is not the build's)."""
    try:
        typed_record(record, str(directory / BUILD_RECORD))
    except BuildRecordError:
        return None
    names = build_files(record)
    if names is None:
        return None
    multi = isinstance(record, dict) and record.get("kind") == MULTI_PLATFORM
    found: set[str] = set()
    digests = _digests(record)
    for name in sorted(names):
        if multi and name not in (LAYOUT, BUILD_RECORD):
            platform = _platform(directory / name)
            found |= {f"{name}/{path}" for path in platform}
            digests |= {path.rsplit("/", 1)[1] for path in platform if path.startswith(_BLOBS_AT)}
    for name in names:
        if name == LAYOUT:
            found |= {f"{LAYOUT}/{file}" for file in _LAYOUT_FILES}
            found |= {f"{_BLOBS_AT}{digest}" for digest in digests}
        elif not multi or name == BUILD_RECORD:
            found.add(name)
    return frozenset(found)


def build_files(record: Any) -> frozenset[str] | None:
    """The files a build.json says its build wrote beside it; None when it is not one. A
    multi-platform record accounts for its platforms' directories and the joined layout."""
    try:
        multi = isinstance(record, dict) and record.get("kind") == MULTI_PLATFORM
        outputs = record["outputs"]
        names = {BUILD_RECORD}
        listed = set()
        if multi:
            names |= {"oci"} & set(outputs)
            listed |= set(record["platforms"].keys())
        if "oci" in outputs and not multi:
            names.add("oci")
            if "image-tar" in outputs["oci"]:  # absent: the layout only (image-tar = false)
                listed.add(outputs["oci"]["image-tar"]["file"])
        if "conda-pack" in outputs:
            listed.add(outputs["conda-pack"]["file"])
        if "sbom" in record:  # written beside the outputs since the SBOM came in
            listed.add(record["sbom"]["file"])
        valid = isinstance(record["mlenv"], str) and isinstance(record["lock-sha256"], str)
    except (KeyError, TypeError, AttributeError):
        return None
    if not valid or not set(outputs) <= ({"oci"} if multi else {"oci", "conda-pack"}):
        return None
    if not all(isinstance(name, str) and name and "/" not in name for name in listed):
        return None
    # Only a name a build writes: a build.json listing "thesis" as a platform or its archive
    # must not make a user's file there the build's to replace (attack 70): left a stranger.
    from mlenv.platforms import NAMES
    from mlenv.sbom import FILENAME

    held = set(NAMES) if multi else {IMAGE_TAR, FILENAME}
    names |= {n for n in listed if n in held or (not multi and is_archive_name(n))}
    return frozenset(names)


def _digests(record: Any) -> set[str]:
    """The sha256 hex of each blob the record names in its layout: a single platform's
    manifest, config and layers; a multi-platform record's index and platform manifests."""
    try:
        oci = record["outputs"]["oci"]
        named = [oci.get("manifest-digest"), oci.get("config-digest"), oci.get("index-digest")]
        named += [layer.get("digest") for layer in oci.get("layers") or ()]
        named += list((oci.get("manifests") or {}).values())
    except (KeyError, TypeError, AttributeError):
        return set()
    hexes = {n.removeprefix("sha256:") for n in named if isinstance(n, str)}
    return {h for h in hexes if is_sha256_hex(h)}


def _platform(directory: Path) -> frozenset[str]:
    """What one platform's build wrote in a multi-platform output's ``directory``: its own
    build.json's account, which must be a single platform's; nothing when there is none."""
    try:
        record = parse_record_json(read_record(directory, BUILD_RECORD), where=str(directory))
    except (OSError, ValueError, LimitError):
        return frozenset()
    if isinstance(record, dict) and record.get("kind") == MULTI_PLATFORM:
        return frozenset()  # a platform holds one build, never another join
    return build_written(record, directory) or frozenset()


BUILD_OUTPUT = OutputKind("build output", "--dist", BUILD_RECORD, build_written)
