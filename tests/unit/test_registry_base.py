"""Which [build] base-image values name a registry image, and platform choice in an index."""

from __future__ import annotations

import pytest

from mlenv.oci.base import BaseImageError, _descriptor, _platform_entry, registry_base

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("value", "registry"),
    [
        ("build/base", None),  # a layout directory beside the manifest
        ("./base", None),
        ("../images/base.d/x", None),
        ("build.d/base", None),  # a dotted directory without tag or digest is still a path
        ("/srv/images/base", None),
        (f"registry.internal/base/py@{DIGEST}", "registry.internal"),
        (f"127.0.0.1:5000/base@{DIGEST}", "127.0.0.1:5000"),
        ("localhost:5000/base:1", "localhost:5000"),
        ("registry.internal/base/py:3.11", "registry.internal"),
    ],
)
def test_registry_images_are_told_from_layout_paths(value: str, registry: str | None) -> None:
    """Guards that a local layout is never sent to the network and a registry image never
    read from disk."""
    reference = registry_base(value)
    assert (reference.registry if reference else None) == registry


def index(*platforms: tuple[str, str]) -> dict[str, object]:
    return {
        "manifests": [
            {"digest": DIGEST, "size": 1, "platform": {"architecture": arch, "os": os}}
            for arch, os in platforms
        ]
    }


def test_an_index_is_narrowed_to_the_lock_platform() -> None:
    """Guards platform selection: linux-64 takes amd64, linux-aarch64 arm64, others never."""
    both = index(("amd64", "linux"), ("arm64", "linux"), ("amd64", "windows"))
    assert _platform_entry(both, "linux-64", "x")["platform"]["architecture"] == "amd64"
    assert _platform_entry(both, "linux-aarch64", "x")["platform"]["architecture"] == "arm64"
    with pytest.raises(BaseImageError, match="0 manifests for linux/arm64"):
        _platform_entry(index(("amd64", "linux")), "linux-aarch64", "x")
    with pytest.raises(BaseImageError, match="2 manifests for linux/amd64"):
        _platform_entry(index(("amd64", "linux"), ("amd64", "linux")), "linux-64", "x")


@pytest.mark.parametrize(
    "item",
    [
        {"digest": "sha256:../../../etc/passwd", "size": 1},
        {"digest": "sha512:" + "a" * 128, "size": 1},
        {"digest": DIGEST, "size": "1"},
        {"digest": DIGEST},
        {"digest": DIGEST, "size": -1},
        {"digest": DIGEST, "size": False},
        "not a descriptor",
    ],
)
def test_a_hostile_descriptor_never_becomes_a_path(item: object) -> None:
    """Guards the cache against digests from a registry that would name a path outside it, and
    against sizes no blob has (refused at download before; now before any request)."""
    with pytest.raises(BaseImageError, match="not a descriptor"):
        _descriptor(item, "registry.test/base")
