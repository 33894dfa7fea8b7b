"""The fast path spells paths as text (``mlenv.plainpath``) and the full CLI through pathlib:
a lock path named in "is up to date", a memo key, a recorded read and the cache directory must
be the same text either way, so each function is held to the pathlib expression it stands for."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv import plainpath
from mlenv.cache import cache_dir, cache_root

# the pieces that make pathlib's spelling differ from the text: roots of one, two and three
# slashes, empty and "." names, "..", "~" (a home), and names pathlib keeps as they are
PIECES = ["/", "//", "///", ".", "..", "~", "~root", "~nobody-such-user", "a", "b.c", " ",
          "\\", "é", "\udcff", "\n", ":", "mlenv.toml"]  # fmt: skip
paths = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=8).map("".join),
    st.lists(st.sampled_from(PIECES), max_size=6).map("/".join),
    st.text(alphabet=st.characters(blacklist_characters="\0"), max_size=12),
)
names = st.text(alphabet=st.characters(blacklist_characters="/\0"), min_size=1, max_size=8).filter(
    lambda name: name != "."
)
HOMES = [None, "", "/", "/home/u/", "//h", "///h//x/", "rel/home", "~"]


@settings(max_examples=400)
@given(path=paths)
def test_normal_and_parent_spell_as_pathlib(path: str) -> None:
    assert plainpath.normal(path) == str(Path(path))
    assert plainpath.parent(path) == str(Path(path).parent)


@settings(max_examples=300)
@given(directory=paths, name=names)
def test_child_spells_as_pathlib(directory: str, name: str) -> None:
    assert plainpath.child(directory, name) == str(Path(directory) / name)


@pytest.mark.parametrize("where", ["/", "tmp"])
@settings(max_examples=100, deadline=None)
@given(path=paths)
def test_absolute_spells_as_pathlib(
    where: str, path: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cwd = "/" if where == "/" else str(tmp_path_factory.getbasetemp())
    before = Path.cwd()
    os.chdir(cwd)
    try:
        expected = path if path.startswith("/") else str(Path.cwd() / path)
        assert plainpath.absolute(path) == expected
    finally:
        os.chdir(before)


def _outcome(call: object) -> tuple[str, str]:
    try:
        return "ok", str(call())  # type: ignore[operator]
    except RuntimeError:
        return "no home", ""
    except ValueError:  # a home name pwd cannot look up (a lone surrogate)
        return "bad name", ""


@pytest.mark.parametrize("home", HOMES)
@settings(max_examples=150, deadline=None)
@given(path=paths)
def test_expanduser_spells_as_pathlib(home: str | None, path: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        if home is None:
            patch.delenv("HOME", raising=False)
        else:
            patch.setenv("HOME", home)
        assert _outcome(lambda: plainpath.expanduser(path)) == _outcome(
            lambda: Path(path).expanduser()
        )


def _pathlib_cache_dir(env: dict[str, str]) -> Path:
    """``cache_dir`` as it was written with pathlib, before the fast path needed text."""
    if env.get("MLENV_CACHE_DIR"):
        return Path(env["MLENV_CACHE_DIR"]).expanduser()
    xdg = env.get("XDG_CACHE_HOME")
    base = xdg if xdg and Path(xdg).is_absolute() else str(Path.home() / ".cache")
    return Path(base) / "mlenv"


@pytest.mark.parametrize("home", HOMES)
@settings(max_examples=150, deadline=None)
@given(cache=st.one_of(st.none(), paths), xdg=st.one_of(st.none(), paths))
def test_cache_root_is_the_cache_directory_as_text(
    home: str | None, cache: str | None, xdg: str | None
) -> None:
    env = {k: v for k, v in (("MLENV_CACHE_DIR", cache), ("XDG_CACHE_HOME", xdg)) if v is not None}
    with pytest.MonkeyPatch.context() as patch:
        if home is None:
            patch.delenv("HOME", raising=False)
        else:
            patch.setenv("HOME", home)
        mine = _outcome(lambda: cache_root(env))
        theirs = _outcome(lambda: _pathlib_cache_dir(env))
        assert mine == theirs
        if mine[0] == "ok":
            assert cache_dir(env) == Path(mine[1])
