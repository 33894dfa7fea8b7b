"""METADATA with plain header lines is read without the email package, to the same result as
packaging's parse_email; everything else still goes to packaging."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.index import MetadataError, model
from mlenv.index.model import CoreMetadata, parse_core_metadata
from tests.support.old_headers import old_plain_headers

PLAIN = [
    b"Name: a\nVersion: 1.0",
    b"Name: a\nVersion: 1.0\n",
    b"Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 2.0rc1\nRequires-Python: >=3.9\n"
    b"Provides-Extra: Socks\nRequires-Dist: x>=1; extra == 'socks'\nRequires-Dist: y\n\nbody\n",
    b"Name: a\nVersion: 1\nDescription: a\n  continued\nRequires-Dist: z\n\n",
    b"Name: a \nVersion: 1\nRequires-Python:\n\n",
    b"Name: a\nVersion: 1\nAuthor: J\xc3\xb6rg\n\n",
    b"Name:a\nVersion:\t1\nRequires-Dist: =?utf-8?q?x?=\n\n",
    b"Name: a\nVersion: 1\n\nRequires-Dist: in the body\n",
]
UNUSUAL = [
    b"Name: a\r\nVersion: 1\r\n\r\n",
    b"Name: a\nname: b\nVersion: 1\n\n",
    b"Name: a\nVersion: 1\nRequires-Dist: x;\n extra == 'y'\n\n",
    b"Name: a\nVersion: 1\nRequires-Python: >=3\nRequires-Python: >=3.8\n\n",
    b"Name: \xc3\xa9\nVersion: 1\n\n",
    b"From nobody\nName: a\nVersion: 1\n\n",
    b"Name: a\nVersion: 1\nbad line\nRequires-Dist: q\n\n",
    b"Name : a\nVersion: 1\n\n",
]


def _by_packaging(data: bytes, monkeypatch: pytest.MonkeyPatch) -> CoreMetadata | str:
    with monkeypatch.context() as patch:
        patch.setattr(model, "_plain_core_metadata", lambda _data: None)
        try:
            return parse_core_metadata(data, where="w")
        except MetadataError as exc:
            return str(exc)


@pytest.mark.parametrize("data", PLAIN)
def test_plain_headers_are_read_without_packaging_to_its_result(
    data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = model._plain_core_metadata(data)
    assert plain is not None
    assert plain == _by_packaging(data, monkeypatch) == parse_core_metadata(data, where="w")


@pytest.mark.parametrize("data", UNUSUAL)
def test_unusual_headers_go_to_packaging(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    assert model._plain_core_metadata(data) is None
    try:
        ours: CoreMetadata | str = parse_core_metadata(data, where="w")
    except MetadataError as exc:
        ours = str(exc)
    assert ours == _by_packaging(data, monkeypatch)


def test_the_fields_are_read_as_the_resolver_needs_them() -> None:
    meta = parse_core_metadata(PLAIN[2], where="w")
    assert (meta.name, str(meta.version), meta.requires_python) == ("foo-bar", "2.0rc1", ">=3.9")
    assert meta.requires_dist == ("x>=1; extra == 'socks'", "y")
    assert meta.provides_extra == ("socks",)


# What real and hostile METADATA headers are made of: the fields the resolver reads in any
# case, others, a blank or colon in the key, continuations, non-ASCII, CR, NUL, "From ".
_KEYS = [
    b"Name",
    b"name",
    b"NAME",
    b"Version",
    b"Requires-Dist",
    b"requires-python",
    b"Provides-Extra",
    b"Provides-Extras",
    b"xname",
    b"Author",
    b"From",
    b"Na me",
    b"",
]
_SEPARATORS = [b":", b": ", b":\t", b" :", b"", b"::"]
_VALUES = [
    b"a",
    b"1.0",
    b">=1",
    b"; extra == 'x'",
    b" ",
    b"\t",
    b":",
    b"\xc3\xa9",
    b"\x7f",
    b"\x00",
    b"\r",
    b"=?utf-8?q?x?=",
    b"\xff",
]
_ENDS = [b"", b"\n", b"\n\n", b"\n\nbody\n", b"\r\n"]
_value = st.lists(st.sampled_from(_VALUES), max_size=4).map(b"".join)
_line = st.one_of(
    st.tuples(st.sampled_from(_KEYS), st.sampled_from(_SEPARATORS), _value).map(b"".join),
    st.tuples(st.sampled_from([b" ", b"\t"]), _value).map(b"".join),
)
_headers = st.tuples(st.lists(_line, max_size=8).map(b"\n".join), st.sampled_from(_ENDS)).map(
    b"".join
)  # fmt: skip


@settings(max_examples=500)
@given(_headers)
def test_the_scans_read_every_header_as_the_line_by_line_reader_did(data: bytes) -> None:
    """Protects: the two-scan header reader answers exactly what the old line loop answered
    (the same fields, or None for packaging) on generated headers, hostile ones included."""
    assert model._plain_headers(data) == old_plain_headers(data)


@given(st.binary(max_size=64))
def test_the_scans_agree_with_the_line_reader_on_any_bytes(data: bytes) -> None:
    """Protects: the same on arbitrary bytes."""
    assert model._plain_headers(data) == old_plain_headers(data)
