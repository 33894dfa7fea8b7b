"""build.json through one model: ``BuildRecord``/``MultiPlatformRecord`` write the dict the file
is rendered from, read it back, refuse what mlenv did not write, and agree with
schemas/build.schema.json."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mlenv.build_record import (
    ArchiveOutput,
    BuildRecord,
    BuildRecordError,
    ImageOutput,
    ImageTar,
    IndexOutput,
    LayerRecord,
    MultiPlatformRecord,
    PlatformEntry,
    SbomRecord,
    read_record,
)
from mlenv.build_written import build_files
from mlenv.oci.model import canonical_json

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((ROOT / "schemas" / "build.schema.json").read_text())
)
SHA = "ab" * 32
DIGEST = f"sha256:{'cd' * 32}"

IMAGE = ImageOutput(
    "oci",
    "latest",
    DIGEST,
    DIGEST,
    (LayerRecord(DIGEST, DIGEST), LayerRecord(DIGEST, DIGEST, "environment", ("hello",))),
    ImageTar("image.tar", SHA, 10240, "golden:latest"),
)
RECORD = BuildRecord(
    mlenv="0.1.0",
    lock_sha256=SHA,
    platform="linux-64",
    source_date_epoch=315532800,
    compression="gzip",
    compressors={"python": "3.11.7", "zlib": "1.2.13"},
    image=IMAGE,
    archive=ArchiveOutput("golden.tar.gz", SHA, 2405, SHA),
    sbom=SbomRecord("sbom.cdx.json", SHA, "CycloneDX 1.6"),
)
# [build] image-tar = false: the layout only.
LAYOUT_ONLY = dataclasses.replace(RECORD, image=dataclasses.replace(IMAGE, image_tar=None))
MULTI = MultiPlatformRecord(
    mlenv="0.1.0",
    lock_sha256=SHA,
    platforms={"linux-64": PlatformEntry("linux-64/build.json", SHA)},
    source_date_epoch=315532800,
    index=IndexOutput("oci", "latest", DIGEST, {"linux-64": DIGEST}),
)
# A conda-pack-only build.json, byte for byte as builds wrote it before the record was typed.
GOLDEN_BYTES = (
    b'{"compression":"gzip","compressors":{"python":"3.11.7","zlib":"1.2.13"},"lock-sha256":"'
    + SHA.encode()
    + b'","mlenv":"0.1.0","outputs":{"conda-pack":{"file":"golden.tar.gz","sha256":"'
    + SHA.encode()
    + b'","size":2405,"uncompressed-sha256":"'
    + SHA.encode()
    + b'"}},"platform":"linux-64","source-date-epoch":315532800}'
)


@pytest.mark.parametrize(
    "record",
    [
        RECORD,
        LAYOUT_ONLY,
        MULTI,
        BuildRecord("0.1.0", SHA, "linux-64", 0, "zstd", {}, None, None, None),
        MultiPlatformRecord("0.1.0", SHA, MULTI.platforms, 0, None),
    ],
)
def test_a_record_round_trips_and_matches_the_schema(
    record: BuildRecord | MultiPlatformRecord,
) -> None:
    """Guards build.json's shape: what is written validates and reads back equal."""
    data = record.to_dict()
    assert list(VALIDATOR.iter_errors(data)) == []
    assert read_record(json.loads(canonical_json(data))) == record


def test_the_bytes_of_an_untyped_record_are_kept() -> None:
    """Guards byte identity: a record read from the bytes earlier builds wrote renders them
    again, so typing the record changed no digest."""
    record = read_record(json.loads(GOLDEN_BYTES))
    assert canonical_json(record.to_dict()) == GOLDEN_BYTES


def test_what_a_record_names() -> None:
    """Guards the output guard and verify: the files beside build.json and their digests."""
    assert RECORD.files() == {"build.json", "oci", "image.tar", "golden.tar.gz", "sbom.cdx.json"}
    assert RECORD.digests() == {"image.tar": SHA, "golden.tar.gz": SHA}
    assert RECORD.platform_names() == ("linux-64",)
    assert MULTI.platform_names() == ("linux-64",)


def test_a_layout_only_record_names_no_image_tar_and_earlier_records_still_read() -> None:
    """Guards [build] image-tar = false: build.json has no image-tar entry, so neither the
    output guard (``build_files``) nor verify expects an image.tar; a record with one (every
    build before the key) still reads as it did."""
    data = LAYOUT_ONLY.to_dict()
    assert "image-tar" not in data["outputs"]["oci"]
    assert LAYOUT_ONLY.files() == {"build.json", "oci", "golden.tar.gz", "sbom.cdx.json"}
    assert LAYOUT_ONLY.digests() == {"golden.tar.gz": SHA}
    assert build_files(data) == LAYOUT_ONLY.files()
    assert build_files(RECORD.to_dict()) == RECORD.files()
    earlier = read_record(json.loads(canonical_json(RECORD.to_dict())))
    assert isinstance(earlier, BuildRecord) and earlier.image is not None
    assert earlier.image.image_tar == IMAGE.image_tar


def _without(data: dict[str, Any], *path: str) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(data))
    holder = copy
    for key in path[:-1]:
        holder = holder[key]
    del holder[path[-1]]
    return copy


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ([], "not a JSON object"),
        (_without(RECORD.to_dict(), "lock-sha256"), "lock-sha256"),
        (_without(RECORD.to_dict(), "outputs", "oci", "image-tar", "size"), "size"),
        (
            {**RECORD.to_dict(), "outputs": {"oci": {**IMAGE.to_dict(), "image-tar": None}}},
            "not a JSON object",
        ),
        ({**RECORD.to_dict(), "outputs": {"wheel": {}}}, "outputs"),
        ({**RECORD.to_dict(), "source-date-epoch": True}, "source-date-epoch"),
        ({**MULTI.to_dict(), "platforms": {"linux-64": {"sha256": SHA}}}, "build"),
    ],
)
def test_a_record_mlenv_did_not_write_is_refused_naming_the_key(data: object, named: str) -> None:
    """Guards the reader: a damaged build.json is an error naming what is wrong, never a
    KeyError, and the schema refuses it too."""
    with pytest.raises(BuildRecordError) as caught:
        read_record(data, "dist/build.json")
    assert named in caught.value.message and caught.value.where
    assert list(VALIDATOR.iter_errors(data))
