"""`mlenv.sbom`: a CycloneDX 1.6 document that the reference validator accepts, names every
locked artifact once with a purl and hashes, and is byte-stable."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from mlenv.conda.records import CondaRecord
from mlenv.lockfile import Lock, LockedPackage, LockedPlatform, LockTarget
from mlenv.sbom import cyclonedx, purl, render, wheel_licences
from tests.support.wheels import build_wheel

TORCH = build_wheel("torch", "2.6.0+cu124", tag="cp311-cp311-manylinux_2_28_x86_64",
                    extra_metadata=["License-Expression: BSD-3-Clause"])  # fmt: skip
NUMPY = build_wheel(
    "numpy",
    "2.1.0",
    extra_metadata=["Classifier: License :: OSI Approved :: BSD License", "License: a\n   text"],
)
SIX = build_wheel("six", "1.17.0", extra_metadata=["License: MIT"])
PLAIN = build_wheel("plain", "1.0")


def sha(wheel: tuple[str, bytes]) -> str:
    return hashlib.sha256(wheel[1]).hexdigest()


def wheel(file: tuple[str, bytes], deps: tuple[str, ...] = (), **extra: Any) -> LockedPackage:
    name, version = file[0].split("-")[:2]
    fields: dict[str, Any] = {"index": "https://pypi.org/simple", **extra}
    return LockedPackage(
        name=name, version=version, filename=file[0], url=f"https://files.example/{file[0]}",
        sha256=sha(file), size=len(file[1]), dependencies=deps, **fields,
    )  # fmt: skip


GOMP = CondaRecord(
    name="libgomp", version="14.2.0", build="h767d61c_2", build_number=2, subdir="linux-64",
    channel="https://conda.anaconda.org/conda-forge", filename="libgomp-14.2.0-h767d61c_2.conda",
    url="https://conda.anaconda.org/conda-forge/linux-64/libgomp-14.2.0-h767d61c_2.conda",
    sha256="ab" * 32, md5="cd" * 16, size=460000,
)  # fmt: skip
SHARED = (wheel(NUMPY), wheel(SIX), wheel(PLAIN, index="https://mirror.example/simple"))
LOCK = Lock(
    "sha256:" + "0" * 64,
    LockTarget(
        python="3.11", glibc="2.28", platforms=("linux-64", "linux-aarch64"),
        index_strategy="first-index", indexes=("https://pypi.org/simple",), find_links=(),
        requirements=("torch==2.6.0", "six"), cuda="12.4", driver_floor="550.54.14",
        requires_driver="550.54.14", conda_channels=("conda-forge",),
        conda_requirements=("libgomp",),
    ),
    (
        LockedPlatform("linux-64", (
            wheel(TORCH, ("numpy",), cuda="12.4", requires_driver="550.54.14"), *SHARED),
            (GOMP,)),
        LockedPlatform("linux-aarch64", SHARED),
    ),
)  # fmt: skip
LOCK_BYTES = b"the lock's bytes"


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    for _, data in (TORCH, NUMPY, SIX, PLAIN):
        (tmp_path / hashlib.sha256(data).hexdigest()).write_bytes(data)
    return tmp_path


def document(artifacts: Path, **options: Any) -> dict[str, Any]:
    licences = wheel_licences(lambda digest: artifacts / digest)
    return cyclonedx(LOCK, LOCK_BYTES, name="demo", licences=licences, **options)


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in doc["components"]}


def props(component: dict[str, Any], key: str) -> list[str]:
    return [p["value"] for p in component["properties"] if p["name"] == f"mlenv:{key}"]


def test_the_reference_validator_accepts_it(artifacts: Path) -> None:
    """The CycloneDX project's own strict 1.6 schema validation passes."""
    for options in ({}, {"timestamp": 1700000000}, {"platforms": ["linux-aarch64"]}):
        text = render(document(artifacts, **options)).decode()
        assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None


def test_every_artifact_once_with_hashes_cuda_and_platforms(artifacts: Path) -> None:
    doc = document(artifacts)
    components = by_name(doc)
    artifacts_in_lock = {p.sha256 for _, p in LOCK.packages()} | {GOMP.sha256}
    assert {c["hashes"][0]["content"] for c in doc["components"]} == artifacts_in_lock
    assert len(doc["components"]) == len(artifacts_in_lock)
    assert props(components["numpy"], "platform") == ["linux-64", "linux-aarch64"]
    assert props(components["torch"], "cuda") == ["12.4"]
    assert props(components["torch"], "requires-driver") == ["550.54.14"]
    assert components["libgomp"]["hashes"][1] == {"alg": "MD5", "content": "cd" * 16}
    meta = doc["metadata"]["component"]
    assert props(meta, "driver-floor") == ["550.54.14"]
    only = by_name(document(artifacts, platforms=["linux-aarch64"]))
    assert set(only) == {"numpy", "six", "plain"}


def test_purls_parse_back_to_the_artifact() -> None:
    """purl-spec encoding: '+' in a version, channel URLs and repository_url survive a parse."""
    torch = PackageURL.from_string(purl(LOCK.platforms[0].packages[0]))
    assert (torch.type, torch.name, torch.version) == ("pypi", "torch", "2.6.0+cu124")
    assert torch.qualifiers == {"file_name": TORCH[0]}
    plain = PackageURL.from_string(purl(SHARED[2]))
    assert plain.qualifiers["repository_url"] == "https://mirror.example/simple"
    gomp = PackageURL.from_string(purl(GOMP))
    assert (gomp.type, gomp.name, gomp.version) == ("conda", "libgomp", "14.2.0")
    assert gomp.qualifiers == {
        "build": "h767d61c_2",
        "channel": "https://conda.anaconda.org/conda-forge",
        "subdir": "linux-64",
        "type": "conda",
    }


def test_licences_come_from_wheel_metadata(artifacts: Path, tmp_path: Path) -> None:
    """License-Expression first, then classifiers, then a one-line License; licence texts and
    artifacts missing from the cache give none."""
    components = by_name(document(artifacts))
    assert components["torch"]["licenses"] == [{"expression": "BSD-3-Clause"}]
    assert components["numpy"]["licenses"] == [{"license": {"name": "BSD License"}}]
    assert components["six"]["licenses"] == [{"license": {"name": "MIT"}}]
    assert "licenses" not in components["plain"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert all("licenses" not in c for c in document(empty)["components"])


def test_dependency_graph(artifacts: Path) -> None:
    doc = document(artifacts)
    refs = {c["name"]: c["bom-ref"] for c in doc["components"]}
    graph = {d["ref"]: d["dependsOn"] for d in doc["dependencies"]}
    assert graph["environment"] == sorted([refs["torch"], refs["six"], refs["libgomp"]])
    assert graph[refs["torch"]] == [refs["numpy"]]


def test_byte_stable_serial_from_the_lock_timestamp_only_when_given(artifacts: Path) -> None:
    first = render(document(artifacts))
    assert render(document(artifacts)) == first
    data = json.loads(first)
    assert "timestamp" not in data["metadata"]
    assert data["serialNumber"].startswith("urn:uuid:")
    other = cyclonedx(LOCK, LOCK_BYTES + b"\n", name="demo")
    assert other["serialNumber"] != data["serialNumber"]
    stamped = document(artifacts, timestamp=1700000000)
    assert stamped["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"


def test_hostile_metadata_gives_no_licence(tmp_path: Path) -> None:
    """A licence "expression" that is a document, and a cached file that is no zip, give no
    licence and no crash: the SBOM never carries what the metadata cannot mean."""
    huge = build_wheel("huge", "1.0", extra_metadata=["License-Expression: " + "MIT OR " * 300])
    broken = build_wheel("broken", "1.0")
    (tmp_path / sha(huge)).write_bytes(huge[1])
    (tmp_path / sha(broken)).write_bytes(b"not a zip")
    licences = wheel_licences(lambda digest: tmp_path / digest)
    assert licences(wheel(huge)) == []
    assert licences(wheel(broken)) == []
