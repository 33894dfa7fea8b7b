"""The names pixi gives platform entries written without ``name``, so a ``[target.NAME]``
table keyed by one applies. Expected names are those pixi's own tests assert
(crates/pixi_manifest/src/toml/platform.rs)."""

from __future__ import annotations

import pytest

from mlenv.importers.pixi_platforms import read_platforms, selects, synthesized_name


@pytest.mark.parametrize(
    ("entry", "name"),
    [
        ({"platform": "linux-64", "cuda": "12.0"}, "linux-64-cuda-12-0"),
        ({"platform": "linux-64", "archspec": "x86_64_v3"}, "linux-64-archspec-x86-64-v3"),
        ({"platform": "linux-64", "__future_pkg": "1.2"}, "linux-64-future-pkg-1-2"),
        (
            {"platform": "linux-64", "cuda": {"driver": "12.0", "arch": "8.6"}},
            "linux-64-cuda-12-0-cuda-arch-8-6",
        ),
        # subdir defaults (glibc 2.28, linux 4.18) are left out; others follow pixi's key order
        ({"platform": "linux-64", "glibc": "2.28", "cuda": "12.9"}, "linux-64-cuda-12-9"),
        ({"platform": "linux-64", "glibc": "2.31", "cuda": "12"}, "linux-64-cuda-12-glibc-2-31"),
        ({"platform": "linux-aarch64", "linux": "5.10"}, "linux-aarch64-linux-5-10"),
        ({"platform": "linux-64"}, "linux-64"),
    ],
)
def test_synthesized_name(entry: dict[str, object], name: str) -> None:
    assert synthesized_name(entry) == name


def test_a_target_selects_an_entry_by_its_synthesized_name() -> None:
    entries, unread = read_platforms(["osx-arm64", {"platform": "linux-64", "cuda": "12.0"}])
    assert not unread
    gpu = entries[1]
    assert selects("linux-64-cuda-12-0", gpu) and selects("linux-64", gpu)
    assert not selects("linux-64-cuda-12-0", entries[0])
    named, _ = read_platforms([{"platform": "linux-64", "name": "gpu", "cuda": "12.0"}])
    assert not selects("linux-64-cuda-12-0", named[0])  # a named entry has its name only
