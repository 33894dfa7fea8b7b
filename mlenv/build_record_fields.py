"""The checks of build.json's values, one per kind of field, for ``build_record``: an object
holds exactly its keys (a key mlenv does not write is a record of another format, or not
mlenv's at all), digests are spelt as ``digests`` says, file names are the ones a build
writes (never a path out of ``dist/``), numbers are what they count. Each failure is a
``BuildRecordError`` naming the file and the key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlenv.digests import is_sha256_digest, is_sha256_hex
from mlenv.errors import MlenvError, printable

HINT = "use the build.json `mlenv build` wrote (build again to write a new one)"
# 9999-12-31T23:59:59Z: RFC 3339 has four-digit years (and Python's datetime stops there)
LAST_EPOCH = 253402300799
# the conda-pack archive is named after the environment, with its compression's suffix
ARCHIVE_SUFFIX = {"gzip": ".tar.gz", "zstd": ".tar.zst", "none": ".tar"}


class BuildRecordError(MlenvError):
    """A build.json that is not one mlenv wrote."""


def fields(
    data: object, where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``data`` as an object of the ``required`` keys and any of ``optional``, nothing else
    (``where`` names the file, then the object's key after ": " when it is not the top)."""
    if not isinstance(data, dict):
        raise BuildRecordError("not a JSON object", where=where, hint=HINT)
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        shown = ", ".join(printable(key, 40) for key in unknown[:5])
        raise BuildRecordError(
            f"{where.rpartition(': ')[2] if ': ' in where else 'the record'} holds {shown}, "
            "which no build.json of this mlenv has: a record of a newer "
            "format, or a file mlenv did not write",
            where=where,
            hint=f"{HINT}; a record from a newer mlenv is read by that mlenv",
        )
    missing = [key for key in required if key not in data]
    if missing:
        raise wrong(where, missing[0], "there")
    return data


def wrong(where: str, key: str, expected: str) -> BuildRecordError:
    return BuildRecordError(f"{key} is not {expected}", where=where, hint=HINT)


def text(value: Mapping[str, Any], key: str, where: str) -> str:
    """A non-empty string."""
    found = value.get(key)
    if not isinstance(found, str) or not found:
        raise wrong(where, key, "a string")
    return found


def mapping(value: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    found = value.get(key)
    if not isinstance(found, dict):
        raise wrong(where, key, "an object")
    return found


def number(value: Mapping[str, Any], key: str, where: str, most: int = (1 << 63) - 1) -> int:
    """An integer from 0 to ``most`` (a size, an epoch): never a bool, a float or NaN."""
    found = value.get(key)
    if not isinstance(found, int) or isinstance(found, bool) or not 0 <= found <= most:
        raise wrong(where, key, f"an integer from 0 to {most}")
    return found


def texts(value: Mapping[str, Any], key: str, where: str) -> list[str]:
    found = value.get(key)
    if not isinstance(found, list) or not all(isinstance(x, str) for x in found):
        raise wrong(where, key, "a list of strings")
    return found


def sha256(value: Mapping[str, Any], key: str, where: str) -> str:
    found = value.get(key)
    if not is_sha256_hex(found):
        raise wrong(where, key, "a sha256 of 64 lower-case hex digits")
    return found


def digest(value: Mapping[str, Any], key: str, where: str) -> str:
    found = value.get(key)
    if not is_sha256_digest(found):
        raise wrong(where, key, "a digest (sha256: and 64 lower-case hex digits)")
    return found


def name(value: Mapping[str, Any], key: str, where: str, wanted: str) -> str:
    """The one file name a build gives this output (``oci``, ``image.tar``...)."""
    if value.get(key) != wanted:
        raise wrong(where, key, repr(wanted))
    return wanted


def is_archive_name(file: str) -> bool:
    """Whether ``file`` is one a conda-pack archive gets: an environment's name (as the
    manifest permits it) and a suffix of ``ARCHIVE_SUFFIX``."""
    from mlenv.manifest_values import is_env_name

    return any(
        file.endswith(suffix) and is_env_name(file.removesuffix(suffix))
        for suffix in ARCHIVE_SUFFIX.values()
    )
