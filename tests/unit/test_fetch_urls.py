"""Invariant 3 for locks: ``fetch`` reads a lock's URLs only where the manifest allows."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

import pytest

from mlenv.cache.artifacts import Artifact
from mlenv.cache.download import UrlOpener
from mlenv.errors import ProblemsError
from mlenv.net.origins import LocalRoots, UnsafeUrlError


class NoNetwork:
    def __init__(self) -> None:
        self.opened: list[str] = []

    def open(self, url: str) -> AbstractContextManager[BinaryIO]:
        self.opened.append(url)
        raise AssertionError("the network is not used here")


def _project(tmp_path: Path) -> tuple[UrlOpener, NoNetwork]:
    (tmp_path / "project" / "wheels").mkdir(parents=True)
    (tmp_path / "project" / "wheels" / "a-1.0-py3-none-any.whl").write_bytes(b"wheel")
    (tmp_path / "project" / "secret.txt").write_text("not a wheel")
    (tmp_path / "outside").write_text("secret")
    (tmp_path / "project" / "wheels" / "link.whl").symlink_to(tmp_path / "outside")
    base = tmp_path / "project"
    http = NoNetwork()
    return UrlOpener(http, base, LocalRoots.of(find_links=["wheels"], base_dir=base)), http


def test_lock_urls_inside_the_manifest_local_sources_are_read(tmp_path: Path) -> None:
    """Protects usefulness: relative and file:// lock URLs under a find-links dir still work."""
    opener, _http = _project(tmp_path)
    with opener.open("wheels/a-1.0-py3-none-any.whl") as stream:
        assert stream.read() == b"wheel"
    wheel = (tmp_path / "project" / "wheels" / "a-1.0-py3-none-any.whl").as_uri()
    with opener.open(wheel) as stream:
        assert stream.read() == b"wheel"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "/etc/passwd",
        "secret.txt",
        "wheels/../secret.txt",
        "file:wheels/%2e%2e/secret.txt",
        "wheels/link.whl",
        "file://otherhost/etc/passwd",
        "ftp://index.example/a.whl",
        "data:,x",
        "wheels/\\..\\..\\outside",
    ],
)
def test_lock_urls_outside_them_are_refused_before_reading(tmp_path: Path, url: str) -> None:
    """Protects invariant 3: a lock names where bytes come from, never any local file (``..``,
    escapes and symlinks out of a root count as outside) nor another scheme."""
    opener, http = _project(tmp_path)
    with pytest.raises(UnsafeUrlError):
        opener.open(url)
    assert http.opened == []


def test_check_names_every_refused_package_and_url_at_once(tmp_path: Path) -> None:
    """Protects invariant 3's error shape: `fetch` refuses up front, each package named."""
    opener, _http = _project(tmp_path)
    artifacts = [
        Artifact("a 1.0", "wheels/a-1.0-py3-none-any.whl", "0" * 64, 5),
        Artifact("evil 1.0", "file:///etc/shadow", "1" * 64, 5),
        Artifact("worse 2.0", "/root/.ssh/id_rsa", "2" * 64, 5),
    ]
    with pytest.raises(ProblemsError) as info:
        opener.check(artifacts)
    assert [p.where for p in info.value.problems] == ["evil 1.0", "worse 2.0"]
    assert "file:///etc/shadow" in info.value.problems[0].message
