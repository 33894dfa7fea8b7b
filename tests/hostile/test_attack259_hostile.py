"""Two-hundred-and-fifty-ninth adversary pass: conda channels, names and archives as real
mirrors spell them.

One namespace per channel (invariant 6): the relock byte rule holds a conda file to the bytes
the earlier lock pinned within its channel (``conda.records.channel_key``). Spellings rattler
reads as one channel were other channels to mlenv, so a respelt channel let other bytes
through under a pinned file name: ``https://h//chan`` (an empty name), ``https://h/x/../chan``
and ``https://h/x/%2e%2e/chan`` (rattler's URL parser resolves them to ``/chan``), the
directory ``/x/../chan`` (rattler opens ``file:///chan``, links or not), and a host's trailing
dot (``conda.example.org.``, the same DNS host).

Names a mirror's repodata spells in another case: rattler solves a dependency on
``Pytorch-CUDA`` with the record ``pytorch-cuda``, but ``cuda.needs._from_pytorch`` did not
read it as PyTorch's build (so its GPU code went unjudged) and the explicit export's
dependency order did not see the edge (``conda.export._dependency_order``).
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import struct
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.conda.export import explicit_spec
from mlenv.conda.install import install
from mlenv.conda.records import channel_key, public_url
from mlenv.conda.solve import from_repodata
from mlenv.cuda.needs import conda_need
from mlenv.errors import ManifestError
from mlenv.manifest_read import parse
from mlenv.redaction import redact, redact_urls
from mlenv.report import MemoryReporter
from tests.support.conda_channel import (
    assert_install_refuses,
    build_conda_package,
    repodata_record,
)
from tests.support.locks import conda_record
from tests.support.rattler_specs import rattler_channels
from tests.support.raw_tars import padded, plain_member

pytestmark = pytest.mark.hostile

# --- one channel, however spelt -------------------------------------------------------------

_SAME = [
    "https://conda.example.org/chan",
    "https://conda.example.org/chan/",
    "https://conda.example.org//chan",
    "https://conda.example.org/chan//",
    "https://conda.example.org/./chan",
    "https://conda.example.org/x/../chan",
    "https://conda.example.org/x/%2e%2e/chan",
    "https://conda.example.org/%2E%2E/chan",
    "https://CONDA.Example.ORG/chan",
    "https://conda.example.org:443/chan",
    "https://conda.example.org./chan",
    "https://user:secret@conda.example.org/chan",
    "https://conda.example.org/t/tk-123/chan",
    "https://conda.example.org/ch%61n",
]


@pytest.mark.parametrize("spelling", _SAME)
def test_every_spelling_of_a_web_channel_is_one_channel(spelling: str) -> None:
    """Before: ``//chan``, ``x/../chan``, ``x/%2e%2e/chan`` and ``conda.example.org.`` were
    channels other than ``https://conda.example.org/chan``."""
    assert channel_key(spelling) == channel_key(_SAME[0])


@pytest.mark.parametrize(
    "spelling", ["/x/../srv/chan", "file:///x/../srv/chan", "/srv/x/%2e%2e/../chan/"]
)
def test_a_directory_channel_is_read_as_rattler_resolves_its_names(spelling: str) -> None:
    """rattler makes a directory a file: URL and drops ``..`` with the name before it."""
    expected = "/srv/chan" if "%2e" not in spelling else "/srv/x/%2e%2e/../chan"
    assert channel_key(spelling) == channel_key(expected)


@pytest.mark.parametrize(
    "other",
    [
        "https://conda.example.org/chan2",
        "https://conda.example.org/x/chan",
        "http://conda.example.org/chan",
        "https://conda.example.org:8443/chan",
        "https://conda.example.org.evil/chan",
        "https://mirror.example.org/chan",
    ],
)
def test_another_channel_stays_another(other: str) -> None:
    assert channel_key(other) != channel_key(_SAME[0])


_HOSTS = st.sampled_from(["h.example", "H.Example", "h.example.", "h.example:443", "u:p@h.example"])
_NAMES = st.lists(
    st.sampled_from(["chan", "ch%61n", "x", "", ".", "..", "%2e", "%2E%2e", "t", "tk"]), max_size=5
)
_WEB = st.builds(lambda host, names: f"https://{host}/{'/'.join(names)}", _HOSTS, _NAMES)
_DIRECTORY = st.builds(lambda names: "/" + "/".join(names), _NAMES).filter(
    lambda path: not path.startswith("//")  # rattler's host, refused (``misread``)
)


@settings(max_examples=6, deadline=None)
@given(st.lists(_WEB | _DIRECTORY, min_size=100, max_size=200, unique=True))
def test_channels_rattler_reads_as_one_are_one_to_mlenv(spellings: list[str]) -> None:
    """Spellings rattler's ``Channel`` reads as one URL (credentials and a host's trailing dot
    aside) have one ``channel_key``: a channel cannot be another that is really the same.
    Before: ``/chan//..`` (``/chan/`` to rattler), ``/x/../chan``, ``h.example.`` parted."""
    read = rattler_channels(spellings)
    groups: dict[str, set[str]] = {}
    for spelling in spellings:
        groups.setdefault(_web_form(read[spelling]), set()).add(channel_key(spelling))
    assert all(len(keys) == 1 for keys in groups.values()), groups


def _web_form(url: str) -> str:
    """rattler's URL as one server answers it: no credentials or token (``public_url``), the
    host's trailing dot dropped (one DNS name)."""
    return public_url(url).replace(".example./", ".example/").rstrip("/")


# --- a token after names a URL parser drops --------------------------------------------------

_TOKENED = [
    "https://conda.anaconda.org/./t/tk-9sEcReT/chan",
    "https://conda.anaconda.org//t/tk-9sEcReT/chan/",
    "https://conda.anaconda.org/%2e/t/tk-9sEcReT/chan",
    "https://conda.anaconda.org/../t/tk-9sEcReT/chan/linux-64/x-1-0.conda",
]


@pytest.mark.parametrize("url", _TOKENED)
def test_a_token_after_a_dot_or_an_empty_name_is_not_stored(url: str) -> None:
    """rattler sends ``/./t/X/chan`` as ``/t/X/chan`` (the token works); the lock stored it
    whole (``public_url``) and messages showed it (``redaction``)."""
    assert "9sEcReT" not in public_url(url)
    assert "9sEcReT" not in redact_urls(url)
    assert "9sEcReT" not in redact(url)


_RESOLVED = [
    "https://h.example/x/../t/tk-9sEcReT/chan",
    "https://h.example/%74/tk-9sEcReT/chan",
    "https://h.example/x/%2e%2e/t/tk-9sEcReT/chan/",
    "error from https://h.example/a/b/../../%74/tk-9sEcReT/chan: 404",
]


@pytest.mark.parametrize("text", _RESOLVED)
def test_a_token_rattler_finds_after_dots_or_escapes_is_hidden(text: str) -> None:
    """Attack 265: ``public_url`` stripped the token rattler sends from ``/x/../t/X/chan``
    and ``/%74/X/chan``, but messages showed it (``redaction._resolved_token``)."""
    assert "9sEcReT" not in redact(text)
    assert "9sEcReT" not in redact_urls(text)


@pytest.mark.parametrize("scheme", ["s3", "gcs", "oci", "ftp"])
def test_a_t_folder_is_a_token_only_on_the_web(scheme: str) -> None:
    """Attack 265: ``s3://bucket/t/x/chan`` was stored as ``s3://bucket/chan``, another
    folder; anaconda.org tokens are http(s) only."""
    assert public_url(f"{scheme}://bucket/t/x/chan") == f"{scheme}://bucket/t/x/chan"
    assert public_url("HTTPS://bucket/t/x/chan") == "https://bucket/chan"


@pytest.mark.parametrize(
    "channel",
    [
        "https://h.example/t/tok/../chan",
        "https://h.example/t/tok/%2E%2E/chan/",
        "http://h/t/a/b/../c",
    ],
)
def test_a_dot_dot_after_the_token_is_refused(channel: str) -> None:
    """Attack 265: rattler reads ``/t/tok/../chan`` as ``/t/chan``, sending ``chan`` as the
    token; the manifest takes it no more (``records.token_respelt``)."""
    [problem] = _refused_channel(channel).problems
    assert problem.where == "mlenv.toml: [conda].channels[0]"
    assert "has a '..' after its 't' (token) segment" in problem.message


_RESPELT_HOSTS = [
    ("https://\uff48.example/chan", "h.example"),
    ("https://%68.example/chan", "h.example"),
    ("https://127.1/chan", "127.0.0.1"),
    ("https://0x7f.0.0.1/chan", "127.0.0.1"),
    ("https://[0::1]/chan", "[::1]"),
]


def test_a_host_rattler_reads_as_another_spelling_is_refused() -> None:
    """Attack 265: rattler reads these hosts as their canonical spelling, which
    ``channel_key`` kept apart (another channel for the byte rule); mlenv.toml refuses them,
    naming the spelling rattler reads."""
    read = rattler_channels([url for url, _ in _RESPELT_HOSTS])
    for url, canonical in _RESPELT_HOSTS:
        assert read[url].startswith(f"https://{canonical}/"), (url, read[url])
        [problem] = _refused_channel(url).problems
        assert f"write {canonical!r}" in problem.message


@pytest.mark.parametrize("url", ["https://h.example/c", "https://[::1]:8/c", "http://10.0.0.1/c"])
def test_a_canonical_host_is_taken(url: str) -> None:
    parse(tomllib.loads(_manifest(url)))


def _manifest(channel: str) -> str:
    return f'[environment]\nname = "x"\npython = "3.12"\n[conda]\nchannels = ["{channel}"]\n'


def _refused_channel(channel: str) -> ManifestError:
    with pytest.raises(ManifestError) as refused:
        parse(tomllib.loads(_manifest(channel)))
    return refused.value


def test_a_directory_named_t_is_no_token() -> None:
    """Before: ``file:///srv/t/x/chan`` was kept, but ``file:///t/x/chan`` was stored as
    ``file:///chan``, another directory."""
    assert public_url("file:///t/x/chan") == "file:///t/x/chan"
    assert channel_key("file:///t/x/chan") == channel_key("/t/x/chan")


# --- names in another case -------------------------------------------------------------------


def test_a_mixed_case_dependency_on_pytorch_cuda_is_pytorchs_build() -> None:
    """Before: a mirror's ``Pytorch-CUDA`` dependency was not read as PyTorch's own, so its
    build's GPU code was judged for no machine."""
    spelt = [
        conda_record(
            "torchvision", "0.16.0", "py311_cu121", channel="https://mirror.example/remote",
            depends=(depends, "python >=3.11"),
        )
        for depends in ("pytorch-cuda 12.1.*", "Pytorch-CUDA 12.1.*", "PYTORCH-CUDA 12.1.*")
    ]  # fmt: skip
    needs = [conda_need(record) for record in spelt]
    assert all(need is not None and need.machines == ("x86_64",) for need in needs), needs


def test_the_explicit_export_puts_a_mixed_case_dependency_first() -> None:
    """Before: ``Pytorch-CUDA`` (and a spec written without a blank, ``zlib>=1.2``) was no
    edge, so the dependent came first by name."""
    records = [
        conda_record("aaa", depends=("Pytorch-CUDA 12.1.*",)),
        conda_record("pytorch-cuda", depends=("zlib>=1.2",)),
        conda_record("zlib"),
    ]
    lines = explicit_spec(records, "linux-64").splitlines()
    order = [line.rsplit("/", 1)[1].split("-2.5.1")[0] for line in lines if "://" in line]
    assert order == ["zlib", "pytorch-cuda", "aaa"]


# --- sparse tar members ----------------------------------------------------------------------

_BLOCK = 512


def _sparse(name: str, chunks: list[tuple[int, bytes]], real_size: int) -> bytes:
    """An old-GNU sparse member: its header's map (offset, length of each stored chunk) and
    real size, then the chunks stored back to back."""
    stored = b"".join(data for _, data in chunks)
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode = tarfile.GNUTYPE_SPARSE, len(stored), 0o644
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT)[:_BLOCK])
    fields = [value for offset, data in chunks for value in (offset, len(data))] + [real_size]
    at = [386 + 12 * k for k in range(len(fields) - 1)] + [483]
    for start, value in zip(at, fields, strict=True):
        header[start : start + 12] = b"%011o\0" % value
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header) + padded(stored)


def _expanded(chunks: list[tuple[int, bytes]], real_size: int) -> bytes:
    out = bytearray(real_size)
    for offset, data in chunks:
        out[offset : offset + len(data)] = data
    return bytes(out)


def _tar(*members: bytes) -> bytes:
    return b"".join(members) + b"\0" * (2 * _BLOCK)


def _info(sparse: str, data: bytes) -> list[bytes]:
    index = {"name": "sparsy", "version": "1.0", "build": "0", "depends": [],
             "subdir": "linux-64", "arch": "x86_64", "platform": "linux"}  # fmt: skip
    entry = {"_path": "lib/s", "path_type": "hardlink",
             "sha256": hashlib.sha256(data).hexdigest(), "size_in_bytes": len(data)}  # fmt: skip
    paths = json.dumps({"paths": [entry], "paths_version": 1}).encode()
    members = {"info/files": b"lib/s\n", "info/index.json": json.dumps(index).encode(),
               "info/paths.json": paths}  # fmt: skip
    return [
        _sparse(name, [(0, data)], len(data)) if name == sparse else plain_member(name, data)
        for name, data in members.items()
    ]


# aligned blocks in order, which both readers expand alike, and a map only tarfile takes
_MAPS = [
    ([(0, b"A" * _BLOCK), (8 * _BLOCK, b"B" * _BLOCK)], 9 * _BLOCK),
    ([(0, b"AAAA"), (8192, b"BBBB")], 8196),
]


@pytest.mark.parametrize(("chunks", "real_size"), _MAPS)
@pytest.mark.parametrize("where", ["tar.bz2", "pkg", "info"])
def test_a_sparse_member_is_refused_naming_package_and_member(
    tmp_path: Path, where: str, chunks: list[tuple[int, bytes]], real_size: int
) -> None:
    """Before: the vetting expanded it as tarfile does; rattler refused the second map as a
    broken package cache (or, aligned, installed it: two readers, one bytes by luck)."""
    data = _expanded(chunks, real_size)
    sparse = "info/paths.json" if where == "info" else "lib/s"
    payload = (
        plain_member("lib/s", data) if where == "info" else _sparse("lib/s", chunks, real_size)
    )
    info = _info(sparse, data)
    stem = "sparsy-1.0-0"
    if where == "tar.bz2":
        path = tmp_path / f"{stem}.tar.bz2"
        path.write_bytes(bz2.compress(_tar(*info, payload)))
    else:
        path = tmp_path / f"{stem}.conda"
        out = io.BytesIO()
        zstd = zstandard.ZstdCompressor().compress
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("metadata.json", b'{"conda_pkg_format_version": 2}')
            archive.writestr(f"info-{stem}.tar.zst", zstd(_tar(*info)))
            archive.writestr(f"pkg-{stem}.tar.zst", zstd(_tar(payload)))
        path.write_bytes(out.getvalue())
    assert_install_refuses(path, rf"{path.name}: member '{sparse}' is a sparse file")


# --- zip64 .conda entries ----------------------------------------------------------------------


def _zip64_conda(tmp_path: Path) -> Path:
    """A small ``.conda`` whose every entry's local header carries zip64 sizes."""
    name, data = build_conda_package(
        "zsixty", "1.0", "0", files={"lib/a.txt": b"hello\n"}, fmt="conda"
    )
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive,
    ):
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, info.date_time)
            with archive.open(entry, "w", force_zip64=True) as member:
                member.write(source.read(info))
    path = tmp_path / name
    path.write_bytes(out.getvalue())
    return path


def test_a_small_zip64_conda_installs(tmp_path: Path) -> None:
    """Before: refused as a local header the central directory contradicts."""
    path = _zip64_conda(tmp_path)
    record = from_repodata(
        repodata_record(path.name, path.read_bytes()),
        channel=tmp_path.as_uri(), filename=path.name, url=path.as_uri(),
    )  # fmt: skip
    stage = tmp_path / "stage"
    install(
        [record], {record.sha256: path}, stage, target_prefix="/opt/mlenv/x",
        platform="linux-64", reporter=MemoryReporter(),
    )  # fmt: skip
    assert (stage / "lib/a.txt").read_bytes() == b"hello\n"


def test_a_zip64_field_sizing_an_entry_otherwise_is_refused(tmp_path: Path) -> None:
    """The zip64 field is read, not trusted: one naming more bytes than the directory (a
    streaming reader would take the next entry's header into this one) is refused."""
    path = _zip64_conda(tmp_path)
    data = bytearray(path.read_bytes())
    zip64 = data.index(b"\x01\x00\x10\x00")  # metadata.json's field: id 1, 16 bytes
    data[zip64 + 12 : zip64 + 20] = (1 << 20).to_bytes(8, "little")  # its compressed size
    path.write_bytes(bytes(data))
    assert_install_refuses(path, "has a local header that is not what the zip's central")


@pytest.mark.parametrize("kept", [18, 22], ids=["compressed-kept", "uncompressed-kept"])
def test_a_local_header_marking_one_size_alone_is_refused(tmp_path: Path, kept: int) -> None:
    """rattler's zip reader takes one zip64 value per marked header field, the vetting took
    both: with only one size marked the two read different sizes, and a streaming reader found
    entries the vetting never saw (a read-only adversary installed an unvetted ``lib/``
    file). A header marking one size alone is refused, as the field's two values disagree
    with what rattler reads."""
    path = _zip64_conda(tmp_path)
    data = bytearray(path.read_bytes())
    header = data.index(b"PK\x03\x04")
    (real,) = struct.unpack_from("<Q", data, data.index(b"\x01\x00\x10\x00", header) + 4)
    struct.pack_into("<I", data, header + kept, real)  # that size unmarked, the other marked
    path.write_bytes(bytes(data))
    assert_install_refuses(path, "has a local header that is not what the zip's central")
