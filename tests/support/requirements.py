"""The fast Requires-Dist reader held to packaging's: one comparison for every generator."""

from __future__ import annotations

import pytest
from packaging.requirements import InvalidRequirement, Requirement

from mlenv.pep508 import requirement


def assert_read_as_packaging_reads(text: str) -> None:
    """For ``text``, ``pep508.requirement`` gives packaging's requirement (name, extras,
    specifier, url, marker, as objects and as text) or packaging's very error."""
    try:
        full = Requirement(text)
    except InvalidRequirement as exc:
        with pytest.raises(InvalidRequirement) as refused:
            requirement(text)
        assert str(refused.value) == str(exc)
        return
    ours = requirement(text)
    assert (ours.name, ours.extras, ours.specifier, ours.url, ours.marker) == (
        full.name, full.extras, full.specifier, full.url, full.marker
    )  # fmt: skip
    assert (str(ours.specifier), str(ours.marker)) == (str(full.specifier), str(full.marker))
    assert str(ours) == str(full) and ours == full
