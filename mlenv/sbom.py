"""A CycloneDX 1.6 SBOM of a lock: what security scanners (Trivy, Grype) read.

Every PyPI wheel and conda package of the chosen platforms is one component, keyed by its
artifact's sha256, with a package URL, its hashes, the licence its metadata declares when the
artifact is at hand, and the CUDA it needs as properties. The document is byte-stable: the
serial number is derived from the lock's bytes, and a timestamp appears only when the caller
passes one (SOURCE_DATE_EPOCH).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
from packaging.metadata import parse_email
from packaging.utils import canonicalize_name

from mlenv import __version__
from mlenv.cache.artifacts import ArtifactCache, CacheError
from mlenv.cache.lock_artifacts import artifacts_of
from mlenv.cache.locked_metadata import locked_metadata_member
from mlenv.conda.records import CondaRecord, conda_name
from mlenv.edit import Section, spec_name
from mlenv.errors import MlenvError
from mlenv.lockfile import Lock, LockedPackage
from mlenv.oci.model import rfc3339
from mlenv.published import published

SPEC_VERSION = "1.6"
FILENAME = "sbom.cdx.json"
_SERIAL_NAMESPACE = uuid.UUID("6f1c1f5e-3b57-4c44-9a3e-6d6c656e7601")  # mlenv's, fixed forever
_PYPI = "https://pypi.org/simple"
_LICENCE_NAME_MAX = 120  # a License: field longer than this is the licence text, not its name
_EXPRESSION_MAX = 1000  # an SPDX expression, not a document

Licences = Callable[[LockedPackage], list[dict[str, Any]]]


def _purl_part(text: str) -> str:
    return quote(text, safe="-._~")


def purl(package: LockedPackage | CondaRecord) -> str:
    """The package URL (purl-spec types ``pypi`` and ``conda``) naming this exact artifact."""
    if isinstance(package, CondaRecord):
        kind = "conda" if package.filename.endswith(".conda") else "tar.bz2"
        qualifiers = {"build": package.build, "subdir": package.subdir, "type": kind}
        if (channel := published(package.channel)) is not None:
            qualifiers["channel"] = channel
        head = f"pkg:conda/{_purl_part(package.name.lower())}@{_purl_part(package.version)}"
    else:
        qualifiers = {"file_name": package.filename}
        if package.index != _PYPI and (index := published(package.index)) is not None:
            qualifiers["repository_url"] = index
        name = canonicalize_name(package.name)
        head = f"pkg:pypi/{_purl_part(name)}@{_purl_part(package.version)}"
    query = "&".join(f"{k}={_purl_part(v)}" for k, v in sorted(qualifiers.items()))
    return f"{head}?{query}"


def _ref(package: LockedPackage | CondaRecord) -> str:
    return f"{package.source if isinstance(package, LockedPackage) else 'conda'}:{package.sha256}"


def _properties(pairs: Iterable[tuple[str, str | None]]) -> list[dict[str, str]]:
    return [{"name": f"mlenv:{k}", "value": v} for k, v in pairs if v is not None]


def _component(
    package: LockedPackage | CondaRecord, platforms: Sequence[str], licences: Licences
) -> dict[str, Any]:
    hashes = [{"alg": "SHA-256", "content": package.sha256}]
    if isinstance(package, CondaRecord):
        hashes.append({"alg": "MD5", "content": package.md5})
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": _ref(package),
        "name": package.name,
        "version": package.version,
        "purl": purl(package),
        "hashes": hashes,
        "properties": _properties(
            [
                ("source", "conda" if isinstance(package, CondaRecord) else package.source),
                ("filename", package.filename),
                ("size", str(package.size)),
                ("cuda", package.cuda),
                ("requires-driver", package.requires_driver),
                *(("platform", p) for p in platforms),
            ]
        ),
    }
    if (url := published(package.url)) is not None:
        component["externalReferences"] = [{"type": "distribution", "url": url}]
    if isinstance(package, LockedPackage) and (found := licences(package)):
        component["licenses"] = found
    return component


def _no_licences(package: LockedPackage) -> list[dict[str, Any]]:
    return []


def cyclonedx(
    lock: Lock,
    lock_bytes: bytes,
    *,
    name: str,
    platforms: Sequence[str] | None = None,
    licences: Licences = _no_licences,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """The SBOM of ``platforms`` of the lock (all by default) as a CycloneDX JSON document."""
    chosen = tuple(sorted(platforms or [p.platform for p in lock.platforms]))
    entries: dict[str, tuple[LockedPackage | CondaRecord, list[str]]] = {}
    depends: dict[str, set[str]] = {}
    roots: set[str] = set()
    for platform in chosen:
        locked = lock.platform(platform)
        refs: dict[tuple[str, str], str] = {
            ("pypi", canonicalize_name(p.name)): _ref(p) for p in locked.packages
        }
        refs |= {("conda", conda_name(c.name)): _ref(c) for c in locked.conda}
        items: list[tuple[LockedPackage | CondaRecord, Section, Sequence[str]]] = [
            *((p, "pypi", p.dependencies) for p in locked.packages),
            *((c, "conda", c.depends) for c in locked.conda),
        ]
        for package, kind, needs in items:
            ref = _ref(package)
            entries.setdefault(ref, (package, []))[1].append(platform)
            targets = {refs.get((kind, spec_name(need, kind))) for need in needs}
            depends.setdefault(ref, set()).update(t for t in targets if t is not None)
        for requirement in lock.target.requirements:
            roots.add(refs.get(("pypi", spec_name(requirement, "pypi")), ""))
        for requirement in lock.target.conda_requirements:
            roots.add(refs.get(("conda", spec_name(requirement, "conda")), ""))
    roots.discard("")
    target = lock.target
    lock_sha256 = hashlib.sha256(lock_bytes).hexdigest()
    metadata: dict[str, Any] = {
        "tools": {"components": [{"type": "application", "name": "mlenv", "version": __version__}]},
        "component": {
            "type": "application",
            "bom-ref": "environment",
            "name": name,
            "properties": _properties(
                [
                    ("python", target.python),
                    ("glibc", target.glibc),
                    ("cuda", target.cuda),
                    ("driver-floor", target.driver_floor),
                    ("requires-driver", target.requires_driver),
                    ("lock-sha256", lock_sha256),
                    *(("platform", p) for p in chosen),
                ]
            ),
        },
    }
    if timestamp is not None:
        metadata = {"timestamp": rfc3339(timestamp), **metadata}
    seed = f"{lock_sha256} {' '.join(chosen)}"
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid5(_SERIAL_NAMESPACE, seed)}",
        "version": 1,
        "metadata": metadata,
        "components": [
            _component(package, found, licences)
            for _, (package, found) in sorted(
                entries.items(), key=lambda e: (e[1][0].name, e[1][0].version, e[0])
            )
        ],
        "dependencies": [
            {"ref": "environment", "dependsOn": sorted(roots)},
            *({"ref": ref, "dependsOn": sorted(depends[ref])} for ref in sorted(depends)),
        ],
    }


def render(document: dict[str, Any]) -> bytes:
    """Canonical bytes: sorted keys, two-space indent, one final newline."""
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def verified_wheels(cache: ArtifactCache, lock: Lock, scratch: Path) -> Callable[[str], Path]:
    """``path_of`` for ``wheel_licences`` over the cache: each wheel copied into ``scratch``
    by the read that hashes it (``ArtifactCache.copy_verified``, security invariant 1), so the
    SBOM states what the locked bytes declare, never what a swapped cache file says; a wheel
    absent or not matching the lock gives a path that does not exist (no licence)."""
    artifacts = {a.sha256: a for a in artifacts_of(lock)}

    def path_of(sha256: str) -> Path:
        dest = scratch / sha256
        if sha256 in artifacts and not dest.exists():
            with contextlib.suppress(CacheError):  # verify --cache reports it; no licence
                cache.copy_verified(artifacts[sha256], dest)
        return dest

    return path_of


def _said(text: str, limit: int) -> bool:
    """Whether a licence field is one printable line a reader of the SBOM sees as it is: a
    line break, a bidi override, an escape sequence or a zero-width character would show a
    licence other than the one the wheel's metadata holds (the SBOM then has none for it)."""
    return bool(text) and len(text) <= limit and text.isprintable()


def _spdx(text: str) -> str | None:
    """A License-Expression as an SPDX expression, in PEP 639's canonical spelling; None for
    text that is none (``MIT AND ((``, ``Proprietary``): written as CycloneDX's
    ``expression``, an SPDX reader failed on it or read a licence the wheel never named."""
    try:
        return canonicalize_license_expression(text)
    except InvalidLicenseExpression:
        return None


def wheel_licences(path_of: Callable[[str], Path]) -> Licences:
    """Licences from each wheel's METADATA, where the file at ``path_of(sha256)`` exists:
    License-Expression (PEP 639) first, then License classifiers, then a short License field
    or a short License-Expression that is no SPDX expression, as a licence's name.
    ``path_of`` gives verified copies only (``verified_wheels``, or the build's own)."""

    def licences(package: LockedPackage) -> list[dict[str, Any]]:
        path = path_of(package.sha256)
        if not package.filename.endswith(".whl") or not path.is_file():
            return []
        try:
            with path.open("rb") as handle:
                raw, _ = parse_email(locked_metadata_member(package, handle, path.as_uri()))
        except MlenvError:
            return []  # a broken wheel is verify's to report; the SBOM just has no licence
        expression = (raw.get("license_expression") or "").strip()
        if _said(expression, _EXPRESSION_MAX) and (spdx := _spdx(expression)):
            return [{"expression": spdx}]
        names = [
            name
            for c in raw.get("classifiers", [])
            if c.startswith("License ::") and c.count("::") >= 2
            if _said(name := c.rsplit("::", 1)[-1].strip(), _LICENCE_NAME_MAX)
        ]
        texts = (expression, (raw.get("license") or "").strip())  # an expression that is none
        names = names or [text for text in texts if _said(text, _LICENCE_NAME_MAX)][:1]
        return [{"license": {"name": n}} for n in sorted(set(names))]

    return licences
