"""The docs name the function that enforces each invariant (docs/security.md) and the one that
handles each fault (docs/reliability.md): every such dotted name must still exist, so a move or
rename of the code cannot leave the threat model pointing at nothing."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("docs/security.md", "docs/reliability.md", "docs/architecture.md")
# `mlenv.module.name` in backticks, optionally followed by a call or a further attribute
NAME = re.compile(r"`(mlenv(?:\.[A-Za-z_]\w*)+)")


def named_in_docs() -> list[str]:
    found = {m[1] for doc in DOCS for m in NAME.finditer((ROOT / doc).read_text())}
    return sorted(found - {"mlenv.lock", "mlenv.toml"})  # the files, not modules


def resolves(dotted: str) -> bool:
    """Whether ``dotted`` is a module, or a module followed by attributes."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def test_the_docs_name_code() -> None:
    """Guards the scan: the docs do name enforcing functions."""
    assert len(named_in_docs()) > 30


@pytest.mark.parametrize("dotted", named_in_docs())
def test_every_name_in_the_docs_exists(dotted: str) -> None:
    """Guards docs/security.md and friends against renames: the named function is real."""
    assert resolves(dotted), f"{dotted} is named in {', '.join(DOCS)} but does not exist"


def test_a_missing_name_is_caught() -> None:
    """Guards the check itself."""
    assert resolves("mlenv.net.origins.follow")
    assert not resolves("mlenv.net.origins.no_such_function")
    assert not resolves("mlenv.no_such_module.follow")
