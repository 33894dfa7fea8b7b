"""Digests a page states besides sha256: which claims count (``index.declared``), that both
page formats carry them, and that a measured file must meet them
(``locking_facts.artifact_facts``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from packaging.utils import canonicalize_name

from mlenv.index import MemoryIndex, PackageIndexError
from mlenv.index.declared import MALFORMED, page_digests
from mlenv.index.pages import parse_html, parse_json
from mlenv.locking_facts import artifact_facts
from mlenv.report import MemoryReporter
from tests.support.wheels import build_wheel

PAGE = "https://nexus.example/repository/pypi/simple/demo/"
MD5 = "0123456789abcdef0123456789abcdef"
SHA512 = "ab" * 64


def test_claims_of_known_algorithms_count_and_a_malformed_one_is_met_by_no_bytes() -> None:
    pairs = [
        ("MD5", MD5.upper()),  # case as Artifactory's fragments may spell it
        ("sha512", SHA512),
        ("sha512", SHA512),  # named twice with one value: one claim
        ("sha1", "nothex" * 7),  # malformed: a claim no bytes meet (pip and uv refuse it)
        ("sha384", "ab" * 10),  # wrong length: likewise
        ("blake2b", "ab" * 64),  # hashlib's 64 bytes (pypiserver); uv's 32 count too
        ("blake2s", "ab" * 32),  # not one a simple page may name
        ("egg", "demo"),
        ("sha256", "a" * 64),  # Link.sha256's, not a declared extra
        ("size", 12),
    ]
    assert page_digests(pairs) == (
        "a" * 64,
        (
            ("blake2b", "ab" * 64),
            ("md5", MD5),
            ("sha1", MALFORMED),
            ("sha384", MALFORMED),
            ("sha512", SHA512),
        ),
    )


def test_html_fragment_and_json_hashes_state_the_same_claims() -> None:
    (html,) = parse_html(
        f'<a href="../../f/demo-1.0-py3-none-any.whl#md5={MD5}&amp;egg=demo&amp;sha512={SHA512}">',
        PAGE,
    )
    document = {
        "meta": {"api-version": "1.4"},
        "name": "demo",
        "files": [
            {
                "filename": "demo-1.0-py3-none-any.whl",
                "url": "../../f/demo-1.0-py3-none-any.whl",
                "hashes": {"md5": MD5, "sha512": SHA512},
            }
        ],
    }
    (from_json,) = parse_json(json.dumps(document).encode(), PAGE)
    assert html.declared == from_json.declared == (("md5", MD5), ("sha512", SHA512))
    assert html.sha256 is None and from_json.sha256 is None


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha224", "sha384", "sha512"])
def test_a_measured_file_must_meet_every_declared_digest(algorithm: str) -> None:
    """Before: the stated digest was never compared; the lock pinned whatever bytes came."""
    filename, data = build_wheel("demo", "1.0")
    memory = MemoryIndex(wheels={filename: data})
    [held] = memory.files(canonicalize_name("demo"))
    unhashed = dataclasses.replace(held, sha256=None, size=None)
    right = hashlib.new(algorithm, data).hexdigest()
    stated = dataclasses.replace(unhashed, declared=((algorithm, right),))
    facts = artifact_facts(memory, [stated], MemoryReporter())
    assert facts[held.url] == (hashlib.sha256(data).hexdigest(), len(data))
    wrong = hashlib.new(algorithm, b"other").hexdigest()
    lying = dataclasses.replace(unhashed, declared=((algorithm, wrong),))
    with pytest.raises(PackageIndexError) as info:
        artifact_facts(memory, [lying], MemoryReporter())
    assert info.value.where == held.url and wrong in info.value.message, info.value
