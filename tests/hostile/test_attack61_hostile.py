"""Attack 61: uv's index order (extra-index-urls before index-url), [pypi] sources, and the
resolver's cycle guard and second search."""

from __future__ import annotations

import pytest

from mlenv.errors import ManifestError
from mlenv.manifest import loads

HEAD = '[environment]\nname = "t"\npython = "3.11"\n[pypi]\n'


@pytest.mark.parametrize(
    ("source", "extra"),
    [
        ("https://__token__:s3cret@pkgs.example/simple", "https://pkgs.example/simple"),
        ("https://pkgs.example/simple", "https://deploy:pw@pkgs.example/simple/"),
        ("https://PKGS.Example/simple", "https://pkgs.example/simple"),
    ],
)
def test_a_source_that_is_also_an_extra_index_in_another_spelling_is_refused(
    source: str, extra: str
) -> None:
    # Otherwise the extra index serves every project from the source's URL, and the lock it
    # writes is drift for lock --check forever (an unpinned entry from the source's index).
    text = HEAD + f'extra-index-urls = ["{extra}"]\nsources = {{ torch = "{source}" }}\n'
    with pytest.raises(ManifestError) as caught:
        loads(text)
    shown = "\n".join(f"{p.where} {p.message} {p.hint}" for p in caught.value.problems)
    assert "sources.torch" in shown and "serves every project" in shown
    assert "s3cret" not in shown and "pw@" not in shown
