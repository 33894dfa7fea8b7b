"""Attack 87: a JSON file that holds a build record's keys, in a dist/ or named to verify or
push, but is not a record mlenv wrote.

Findings (before the fix): build.json had three readers, none strict. ``verify`` and ``push``
took any object whose known keys had the right types: a user's JSON with an empty
``outputs``, a record of a newer format (an extra ``format`` key, an unknown ``kind``), a
``lock-sha256`` of "x" or in upper case, an image.tar recorded as ``../../etc/passwd``, a
source-date-epoch of 10**40. ``json.loads`` of the bytes took a byte-order mark and UTF-16,
kept the last of two equal keys (a streaming reader keeps the first: two documents in one
file) and read ``NaN``. The output gate (``build_written``) read the same file by hand, with
its own, looser rules. Now ``build_record.parse_record`` is the one reader of build.json's
bytes (``limits.parse_record_json`` under it, also for the gate): exactly the keys mlenv
writes, digests as ``digests`` spells them, every file name the one a build gives that
output, and a ``BuildRecordError`` naming the file and how to get a record it reads.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mlenv.build_record import BuildRecord, BuildRecordError, MultiPlatformRecord, parse_record
from mlenv.commands.build import BUILD_OUTPUT
from mlenv.commands.push import recorded_digest
from mlenv.errors import UsageError
from mlenv.oci.model import canonical_json
from mlenv.outputs import OutputError, check_output
from tests.support import build_records

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = jsonschema.Draft202012Validator(
    json.loads((ROOT / "schemas" / "build.schema.json").read_text())
)
Edit = Callable[[dict[str, Any]], object]


def _whole() -> dict[str, Any]:
    return build_records.single(build_records.image(), build_records.archive())


def _multi() -> dict[str, Any]:
    return build_records.multi(["linux-64", "linux-aarch64"])


def _set(path: str, value: object) -> Edit:
    """An edit setting the key at ``path`` ("outputs.oci.layout") to ``value``."""

    def edit(record: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = record
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value

    return edit


# (what, the record it starts from, its edit, what the error says)
SHAPES: list[tuple[str, Callable[[], dict[str, Any]], Edit, str]] = [
    ("a newer format's key", _whole, _set("format", 2), "holds format"),
    ("a newer format's kind", _whole, _set("kind", "multi-platform-v2"), "kind"),
    ("an unknown output", _whole, _set("outputs.wheel", {}), "outputs holds wheel"),
    ("an extra key in a layer", _whole, _set("outputs.oci.layers.0.note", "x"), "holds note"),
    ("an extra key in a platform", _multi, _set("platforms.linux-64.path", "/"), "holds path"),
    ("a lock sha256 that is no sha256", _whole, _set("lock-sha256", "x"), "lock-sha256"),
    ("an upper-case sha256", _whole, _set("lock-sha256", "A" * 64), "lock-sha256"),
    (
        "a sha256 and a newline",
        _whole,
        _set("outputs.conda-pack.sha256", "2" * 64 + "\n"),
        "sha256",
    ),
    ("fullwidth hex", _whole, _set("outputs.oci.image-tar.sha256", "\uff11" * 64), "sha256"),
    (
        "a digest of 63",
        _whole,
        _set("outputs.oci.manifest-digest", "sha256:" + "a" * 63),
        "manifest-digest",
    ),
    (
        "a sha512 digest",
        _whole,
        _set("outputs.oci.config-digest", "sha512:" + "a" * 128),
        "config-digest",
    ),
    (
        "an image.tar outside dist/",
        _whole,
        _set("outputs.oci.image-tar.file", "../../etc/passwd"),
        "file",
    ),
    ("an archive outside dist/", _whole, _set("outputs.conda-pack.file", "../env.tar.gz"), "file"),
    (
        "an archive named for a user's file",
        _whole,
        _set("outputs.conda-pack.file", "thesis"),
        "file",
    ),
    ("an SBOM in a subdirectory", _whole, _set("sbom.file", "x/sbom.cdx.json"), "file"),
    ("a layout elsewhere", _whole, _set("outputs.oci.layout", "/home/user"), "layout"),
    (
        "a platform's record outside",
        _multi,
        _set("platforms.linux-64.build", "../linux-64/build.json"),
        "build",
    ),
    (
        "a platform mlenv never builds",
        _multi,
        _set("platforms.photos", {"build": "photos/build.json", "sha256": "5" * 64}),
        "platforms",
    ),
    ("a joined layout elsewhere", _multi, _set("outputs.oci.layout", ".."), "layout"),
    ("an epoch past 9999", _whole, _set("source-date-epoch", 10**15), "source-date-epoch"),
    ("a negative size", _whole, _set("outputs.oci.image-tar.size", -1), "size"),
    ("a size that is true", _whole, _set("outputs.conda-pack.size", True), "size"),
    ("an epoch as a float", _whole, _set("source-date-epoch", 1.0), "source-date-epoch"),
    ("an unknown compression", _whole, _set("compression", "brotli"), "compression"),
    ("no layers", _whole, _set("outputs.oci.layers", []), "layers"),
    (
        "a user's JSON with the keys",
        lambda: {"mlenv": "1", "lock-sha256": "0" * 64, "outputs": {}},
        lambda _: None,
        "platform",
    ),
    ("a list", lambda: {"x": 1}, lambda r: r.clear(), "not a JSON object"),
]


@pytest.mark.parametrize(("what", "start", "edit", "says"), SHAPES, ids=[s[0] for s in SHAPES])
def test_a_record_mlenv_did_not_write_is_refused_by_the_one_reader(
    what: str, start: Callable[[], dict[str, Any]], edit: Edit, says: str
) -> None:
    record = copy.deepcopy(start())
    edit(record)
    data = [] if what == "a list" else record
    with pytest.raises(BuildRecordError) as refused:
        parse_record(json.dumps(data).encode(), "dist/build.json")
    assert says in refused.value.message, refused.value.message
    assert refused.value.where.startswith("dist/build.json") and refused.value.hint


@pytest.mark.parametrize(("what", "start", "edit", "says"), SHAPES, ids=[s[0] for s in SHAPES])
def test_the_schema_the_docs_publish_is_no_looser_than_the_reader_on_names_and_digests(
    what: str, start: Callable[[], dict[str, Any]], edit: Edit, says: str
) -> None:
    """The published schema (checked by jsonschema, the reference) refuses each shape too,
    except those it cannot state: a platform name mlenv builds, a path inside the platform's
    hex with a trailing newline (``$`` in Python's ``re`` takes one), a float integer."""
    record = copy.deepcopy(start())
    edit(record)
    beyond_schema = {
        "a platform mlenv never builds",
        "a sha256 and a newline",
        "an epoch as a float",  # JSON Schema's integer takes 1.0
    }
    assert SCHEMA.is_valid(record) == (what in beyond_schema)


@pytest.mark.parametrize(
    ("what", "data", "says"),
    [
        ("a byte-order mark", b"\xef\xbb\xbf" + canonical_json(_whole()), "byte-order mark"),
        ("UTF-16", json.dumps(_whole()).encode("utf-16"), "not UTF-8"),
        ("a key given twice", b'{"mlenv": "0", "mlenv": "1"}', "given twice"),
        ("NaN", b'{"source-date-epoch": NaN}', "NaN is not a JSON number"),
        ("Infinity", b'{"size": -Infinity}', "-Infinity is not a JSON number"),
        ("an integer of 5000 digits", b'{"size": ' + b"9" * 5000 + b"}", "integer of 5000"),
        ("nesting", b"[" * 100_000, "nested too deeply"),
        ("no JSON", b"<html>", "Expecting value"),
    ],
)
def test_bytes_two_readers_would_read_differently_are_refused(
    what: str, data: bytes, says: str
) -> None:
    with pytest.raises(BuildRecordError) as refused:
        parse_record(data, "dist/build.json")
    assert says in refused.value.message and refused.value.where == "dist/build.json"


def test_a_duplicated_key_is_refused_even_when_the_last_value_is_a_whole_record() -> None:
    """The standard reader keeps the last of two equal keys: a file whose first ``outputs``
    names the user's files and whose last is honest read as honest before."""
    honest = canonical_json(_whole())
    assert honest.startswith(b'{"compression"')
    twice = b'{"outputs": {"conda-pack": {"file": "thesis"}}, ' + honest[1:]
    assert json.loads(twice) == _whole()  # what json.loads alone makes of it
    with pytest.raises(BuildRecordError, match="outputs"):
        parse_record(twice, "dist/build.json")


@pytest.mark.parametrize(
    "record",
    [
        _whole(),
        build_records.single(),
        build_records.single(build_records.image(tar=None), sbom=None),
        build_records.single(None, build_records.archive("my-env.tar.zst")),
        _multi(),
        build_records.multi(["linux-64"], index=None),
    ],
)
def test_every_record_mlenv_writes_is_read(record: dict[str, Any]) -> None:
    """Guards the other side: the records a build writes (canonical JSON) still read, and
    each is what the schema describes."""
    read = parse_record(canonical_json(record) + b"\n", "dist/build.json")
    assert isinstance(read, MultiPlatformRecord if "kind" in record else BuildRecord)
    assert read.to_dict() == record
    assert SCHEMA.is_valid(record)


def test_the_output_gate_replaces_no_dist_whose_record_is_not_mlenvs(tmp_path: Path) -> None:
    """A dist/ whose build.json is a newer format's (or a user's) is not an earlier build:
    the build refuses to replace it, and everything in it stays."""
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "env.tar.gz").write_bytes(b"built")
    (dist / "build.json").write_bytes(
        canonical_json(build_records.single(None, build_records.archive()))
    )
    assert check_output(dist, BUILD_OUTPUT, keep={}) == dist.resolve()
    for shape in ({"format": 2}, {"kind": "v2"}):
        (dist / "build.json").write_text(
            json.dumps({**json.loads((dist / "build.json").read_text()), **shape})
        )
        with pytest.raises(OutputError, match=r"no valid build\.json"):
            check_output(dist, BUILD_OUTPUT, keep={})
        (dist / "build.json").write_bytes(
            canonical_json(build_records.single(None, build_records.archive()))
        )
    (dist / "build.json").write_bytes(b"\xef\xbb\xbf" + (dist / "build.json").read_bytes())
    with pytest.raises(OutputError, match=r"no valid build\.json"):
        check_output(dist, BUILD_OUTPUT, keep={})
    assert (dist / "env.tar.gz").read_bytes() == b"built"


def test_push_names_the_record_and_why(tmp_path: Path) -> None:
    """`push` holds the layout to the record beside it: a record of a newer format is a
    located error saying what it holds, never a silent read of what it knows."""
    (tmp_path / "build.json").write_text(json.dumps({**_whole(), "format": 2}))
    with pytest.raises(UsageError) as refused:
        recorded_digest(tmp_path)
    assert "holds format" in refused.value.message
    assert refused.value.where == str(tmp_path / "build.json")
    (tmp_path / "build.json").write_bytes(canonical_json(_whole()))
    assert recorded_digest(tmp_path) == "sha256:" + "a" * 64
