"""A cache write that fails says what to do about that failure: a full disk, a cache this
user cannot write, and a directory that cannot be made (a ``$HOME`` that does not exist) are
fixed differently, and the hint for one must not send the user after another."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from mlenv.cache.artifacts import CacheError, _writing

CASES = {
    errno.ENOSPC: "free space there",
    errno.EDQUOT: "free space there",
    errno.EACCES: "read-only or not yours",
    errno.EPERM: "read-only or not yours",
    errno.EROFS: "read-only or not yours",
    errno.ENOENT: "cannot be made there",
    errno.ENOTDIR: "cannot be made there",
    errno.EIO: "use another cache",
}


@pytest.mark.parametrize(("code", "says"), sorted(CASES.items()))
def test_each_failure_gets_its_own_hint(tmp_path: Path, code: int, says: str) -> None:
    with pytest.raises(CacheError) as caught, _writing(tmp_path):
        raise OSError(code, os.strerror(code))
    error = caught.value
    assert error.where == str(tmp_path) and says in (error.hint or ""), error.hint
    assert "MLENV_CACHE_DIR" in (error.hint or "") and "nothing partial" in (error.hint or "")
    others = {text for other, text in CASES.items() if text != says}
    assert not any(text in (error.hint or "") for text in others), error.hint
