"""136th adversary pass: today's merges (local roots lent to ``simple-…`` indexes, sizes read
from the cache, the no-op's own sha256, conda CUDA readings). Each test names what it
protects and fails if its enforcement is removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.noop import entries, manifest_text, project, run

pytestmark = pytest.mark.hostile

ROOT = Path(__file__).resolve().parents[2]
TEXT = manifest_text({"environment": {"name": "e", "python": "3.11"},
                      "pypi": {"dependencies": ["torch==2.14.1"]}})  # fmt: skip
STALE = TEXT.replace("2.14.1", "2.14.0")  # a lock made for TEXT is stale for it

# a sha256 that answers one digest for every input: every verdict key would be one key
CONSTANT_SHA256 = '''
class sha256:
    def __init__(self, data=b""):
        pass

    def update(self, data):
        pass

    def digest(self):
        return bytes(32)

    def hexdigest(self):
        return "0" * 64
'''


@pytest.mark.parametrize("name", ["_sha2", "_sha256", "hashlib"])
def test_a_sha256_module_shadowed_in_the_working_directory_never_answers_fresh(
    tmp_path: Path, name: str
) -> None:
    """Protects the no-op's code identity for the hash its key is made with: ``python -m
    mlenv`` searches the working directory first, so a ``_sha2.py`` there (a name no
    standard module has before Python 3.12), ``_sha256.py`` or ``hashlib.py`` would be what
    computes the verdict key; one that answers a single digest would make a stale lock's key
    the key of a fresh verdict. A stale lock is never "up to date" there."""
    where = tmp_path / "p"
    project(where, TEXT)
    (where / f"{name}.py").write_text(CONSTANT_SHA256)
    cache = tmp_path / "cache"
    run(where, cache, ROOT)  # whatever it answers, it may keep a verdict on fresh bytes
    (where / "mlenv.toml").write_text(STALE)
    refused = run(where, cache, ROOT)
    assert refused.returncode != 0 and "up to date" not in refused.stderr, (
        refused.stderr, entries(cache))  # fmt: skip
