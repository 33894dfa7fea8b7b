"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.daemons import Registry, registry


@pytest.fixture(scope="module")
def reg() -> Iterator[Registry]:
    """Debian's docker-registry on loopback, one per test module (started and stopped here)."""
    with registry() as running:
        yield running
