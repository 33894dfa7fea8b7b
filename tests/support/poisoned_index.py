"""Two indexes on disk where one lies about a wheel the other serves, in each SHAPE metadata can
arrive in: the shared metadata cache must never carry the lie across (docs/security.md,
invariant 2), tested in the unit tests and end to end in the hostile ones."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tests.support.wheels import build_wheel, write_simple_index


def honest_and_poisoned(tmp_path: Path, shape: str, *, json_page: bool = False) -> tuple[str, str]:
    """Index B serves lib 1.0 with no dependencies; index A serves a lib 1.0 whose page claims
    B's wheel sha256 but whose metadata requires ``evil``. Returns (url A, url B)."""
    honest = build_wheel("lib", "1.0")
    evil = build_wheel("evil", "1.0")
    url_b = write_simple_index(tmp_path / "b", [honest, evil], metadata_files=False)
    poisoned = build_wheel("lib", "1.0", requires_dist=["evil"])
    url_a = write_simple_index(
        tmp_path / "a", [poisoned, evil], metadata_files=shape != "wheel", json=json_page
    )
    page = tmp_path / "a" / "simple" / "lib" / ("index.json" if json_page else "index.html")
    text = page.read_text().replace(
        hashlib.sha256(poisoned[1]).hexdigest(), hashlib.sha256(honest[1]).hexdigest()
    )
    if shape == "metadata-unhashed":
        text = re.sub(r'data-core-metadata="[^"]*"', 'data-core-metadata="true"', text)
        text = re.sub(r'"core-metadata": \{[^}]*\}', '"dist-info-metadata": true', text)
    page.write_text(text)
    return url_a, url_b


SHAPES = ["wheel", "metadata-unhashed", "metadata-hashed"]
