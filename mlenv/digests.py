"""The one rule for a hex digest's spelling: a sha256 (or md5) is exactly its length in ASCII
lower-case hex digits, nothing else. No ``re`` (its ``$`` takes a trailing newline, and ``\\d``
or ``str.isdigit``/``isalnum`` take Arabic-Indic and fullwidth digits), nothing imported at
all: the no-op ``lock`` (``cache.fresh``) and the cache walks use it too."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeGuard

_HEX = frozenset("0123456789abcdef")
SHA256_PREFIX = "sha256:"


def is_lower_hex(text: object, length: int) -> TypeGuard[str]:
    """Whether ``text`` is a str of exactly ``length`` ASCII lower-case hex digits."""
    return isinstance(text, str) and len(text) == length and _HEX.issuperset(text)


def is_sha256_hex(text: object) -> TypeGuard[str]:
    """Whether ``text`` is a sha256 as hex: exactly 64 of ``0-9a-f`` (no upper case, no
    newline, no other script's digits)."""
    return is_lower_hex(text, 64)


def is_md5_hex(text: object) -> TypeGuard[str]:
    """Whether ``text`` is an md5 as hex: exactly 32 of ``0-9a-f``."""
    return is_lower_hex(text, 32)


def is_sha256_digest(text: object) -> TypeGuard[str]:
    """Whether ``text`` is a digest mlenv accepts: ``sha256:`` and 64 of ``0-9a-f``."""
    return (
        isinstance(text, str)
        and text.startswith(SHA256_PREFIX)
        and is_sha256_hex(text[len(SHA256_PREFIX) :])
    )
