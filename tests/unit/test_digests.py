"""The one hex-digest rule (``mlenv.digests``): exactly the length, ASCII ``0-9a-f`` only. Judged
against ``bytes.fromhex(...).hex()`` as the reference (what a digest's bytes print as), over text
built from the spellings that slip past looser checks: upper case, a trailing newline (``re``'s
``$``), Arabic-Indic and fullwidth digits and letters (``\\d``, ``isdigit``, ``isalnum``), spaces
and underscores (``int(x, 16)``, ``bytes.fromhex``); then at the places that read a digest."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mlenv.digests import is_lower_hex, is_md5_hex, is_sha256_digest, is_sha256_hex
from mlenv.index.model import valid_sha256
from mlenv.oci.model import OciError, hex_of
from mlenv.oci.reference import RegistryError, parse_reference

# hex, upper hex, and lookalikes: Arabic-Indic zero, fullwidth 0/a/A, superscript 2, Kelvin sign
ODD = "0123456789abcdefABCDEF\n \t_\u0660\uff10\uff41\uff21\u00b2\u212a"
NEAR = st.text(alphabet=ODD, min_size=62, max_size=66)


def reference(text: str, length: int) -> bool:
    """What the hex of ``length // 2`` bytes prints as, and only that."""
    try:
        return len(text) == length and bytes.fromhex(text).hex() == text
    except ValueError:
        return False


@settings(max_examples=200, deadline=None)
@given(NEAR)
@example("a" * 64 + "\n")
@example("a" * 63 + "\u0660")
@example("a" * 63 + "\uff41")
@example("A" * 64)
@example("a" * 63)
@example("a" * 65)
@example("ab " * 21 + "a")
def test_sha256_hex_is_exactly_what_a_digest_prints_as(text: str) -> None:
    assert is_sha256_hex(text) == reference(text, 64)
    assert is_sha256_digest(f"sha256:{text}") == reference(text, 64)
    assert is_sha256_hex(text) == bool(re.fullmatch(r"[0-9a-f]{64}", text, re.ASCII))


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=64))
def test_every_real_digest_passes_and_its_upper_case_does_not(data: bytes) -> None:
    digest = hashlib.sha256(data).hexdigest()
    assert is_sha256_hex(digest) and is_sha256_digest(f"sha256:{digest}")
    assert is_md5_hex(hashlib.md5(data).hexdigest())
    assert not is_sha256_hex(digest.upper()) and not is_sha256_digest(f"SHA256:{digest}")
    assert not is_sha256_hex(digest + "\n") and not is_sha256_hex(digest[:-1])
    assert not is_sha256_digest(f"sha512:{digest}") and not is_sha256_digest(digest)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=66), st.integers(min_value=0, max_value=66))
def test_any_text_any_length(text: str, length: int) -> None:
    assert is_lower_hex(text, length) == reference(text, length)


@pytest.mark.parametrize("value", [None, 64, b"a" * 64, ["a" * 64], "a" * 64 + "\0"])
def test_what_is_not_text_is_no_digest(value: object) -> None:
    assert not is_sha256_hex(value) and not is_sha256_digest(value)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=ODD + "\u0130\u212a\u1e9e", min_size=64, max_size=64))
def test_an_index_hash_lowered_is_never_one_of_lookalikes(text: str) -> None:
    """The index's hashes may be upper case; lowering one never turns another script into hex."""
    got = valid_sha256(text)
    assert got == (text.lower() if reference(text.lower(), 64) else None)
    assert got is None or text.isascii()


@pytest.mark.parametrize(
    "digest",
    [
        f"sha256:{'a' * 64}\n",
        f"sha256:{'a' * 63}\uff41",
        f"sha256:{'A' * 64}",
        f"sha256:{'a' * 63}",
    ],
)
def test_readers_refuse_lookalike_digests(digest: str) -> None:
    with pytest.raises(OciError):
        hex_of(digest)
    with pytest.raises(RegistryError):
        parse_reference(f"registry.test/team/env@{digest}")


def test_no_other_hex_rule_in_the_package() -> None:
    """The rule lives in mlenv.digests alone: another copy would drift from it."""
    package = Path(__file__).parents[2] / "mlenv"
    copies = [
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if path.name != "digests.py"
        and re.search(r'\[0-9a-f\]\{\d+\}|"0123456789abcdef"|hexdigits', path.read_text())
    ]
    assert copies == []
