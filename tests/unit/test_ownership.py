"""mlenv.install.ownership.PathLedger.claim: the one judge of who may write an installed path."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.install.ownership import Kind, Owner, PathClashError, PathLedger, fold, metadata_dir

SITE = "lib/python3.11/site-packages"
LAYOUT = Owner("mlenv's venv layout", "mlenv", "layout hint")
TREE = Owner("the conda environment", "tree", "tree hint")


def wheel(name: str = "evil") -> Owner:
    return Owner(
        f"{name}-1.0-py3-none-any.whl", "wheel", "wheel hint", f"{SITE}/{name}-1.0.dist-info"
    )


def conda(name: str = "evil") -> Owner:
    return Owner(f"{name}-1.0-0.conda", "conda", "conda hint")


def venv() -> PathLedger:
    ledger = PathLedger()
    for path, kind in [(SITE, "dir"), ("bin", "dir"), ("pyvenv.cfg", "file"),
                       ("bin/python", "symlink"), ("lib64", "symlink")]:  # fmt: skip
        ledger.claim(LAYOUT, path, kind)  # type: ignore[arg-type]
    return ledger


def refused(ledger: PathLedger, owner: Owner, path: str, kind: Kind = "file", **kw: object) -> str:
    with pytest.raises(PathClashError) as caught:
        ledger.claim(owner, path, kind, **kw)  # type: ignore[arg-type]
    assert caught.value.where == owner.name
    return caught.value.message


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("straße.py", "STRASSE.py"),  # ß folds to ss
        ("\u212a.py", "k.py"),  # Kelvin sign
        ("\uff41.py", "a.py"),  # fullwidth a
        ("e\u0301.py", "\u00e9.py"),  # decomposed and composed é
        ("ab.py", "a\u200bb.py"),  # zero-width space
        ("a.py", "a.py."),  # trailing dot (dropped by Windows)
        ("a.py", "a.py "),  # trailing space
        ("ﬁle.py", "file.py"),  # ligature
    ],
)
def test_fold_equates_names_a_file_system_or_a_reader_may_take_as_one(one: str, other: str) -> None:
    """Protects the collision key: each pair would be one file on some storage."""
    assert fold(f"pkg/{one}") == fold(f"pkg/{other}")


def test_names_that_only_look_alike_on_screen_stay_apart() -> None:
    """Cyrillic o (U+043E) is another letter, not a form of o: packages may ship both."""
    assert fold("pkg/o.py") != fold("pkg/\u043e.py")


@pytest.mark.parametrize(
    ("one", "other"),
    [("straße.py", "strasse.py"), ("\u212a.py", "K.py"), ("\uff41.py", "a.py"), ("x.py", "X.PY")],
)
def test_twins_are_refused_in_one_wheel_across_wheels_and_against_conda(
    one: str, other: str
) -> None:
    """Protects one path per file: folded twins from any wheel meet the same wall."""
    for first, second in [(wheel(), wheel()), (wheel("a"), wheel("b")), (TREE, wheel())]:
        ledger = venv()
        ledger.claim(first, f"{SITE}/pkg/{one}", "file")
        message = refused(ledger, second, f"{SITE}/pkg/{other}")
        assert "differs only in case or Unicode form" in message and first.name in message


def test_conda_twins_are_conda_business() -> None:
    """ncurses ships terminfo/E and terminfo/e: conda packages and conda's tree keep both."""
    ledger = PathLedger()
    ledger.claim(conda("a"), "share/terminfo/E/x", "file")
    assert ledger.claim(conda("b"), "share/terminfo/e/x", "file")
    ledger = PathLedger()
    ledger.claim(TREE, "share/terminfo/E/x", "file")
    assert ledger.claim(TREE, "share/terminfo/e/x", "file")


def test_identical_content_is_shared_and_different_content_refused() -> None:
    """NVIDIA's -cu12 wheels all ship nvidia/__init__.py; any difference is a clash."""
    ledger = venv()
    assert ledger.claim(wheel("a"), f"{SITE}/nvidia/__init__.py", "file", content=("h", 0))
    assert not ledger.claim(wheel("b"), f"{SITE}/nvidia/__init__.py", "file", content=("h", 0))
    assert "would overwrite" in refused(ledger, wheel("c"), f"{SITE}/nvidia/__init__.py",
                                        content=("g", 0))  # fmt: skip
    assert "would overwrite" in refused(ledger, wheel("d"), f"{SITE}/nvidia/__init__.py")


def test_mlenv_files_are_never_shared_even_with_equal_content() -> None:
    """pyvenv.cfg and bin/python are mlenv's: no claim replaces them."""
    ledger = venv()
    assert "would overwrite 'bin/python'" in refused(ledger, wheel(), "bin/python")
    assert "would overwrite 'pyvenv.cfg'" in refused(ledger, TREE, "pyvenv.cfg")


@pytest.mark.parametrize(
    ("first", "second", "word"),
    [
        (("lib64", "symlink"), ("lib64/python3.11/x.py", "file"), "through the symlink 'lib64'"),
        (("pkg", "file"), ("pkg/x.py", "file"), "needs a directory at 'pkg'"),
        (("pkg/x.py", "file"), ("pkg", "file"), "is a file at 'pkg', a directory"),
        (("pkg/x.py", "file"), ("pkg", "symlink"), "is a symlink at 'pkg', a directory"),
        (("pkg", "dir"), ("pkg", "file"), "is a file at 'pkg', a directory"),
    ],
)
def test_one_kind_per_path_and_nothing_below_a_leaf(
    first: tuple[str, Kind], second: tuple[str, Kind], word: str
) -> None:
    """Protects the archive and the tree from a file and a directory at one path, and from
    writing through a symlink."""
    ledger = PathLedger()
    ledger.claim(TREE, *first)
    assert word in refused(ledger, wheel(), *second)


@pytest.mark.parametrize(
    "path",
    [
        "pyvenv.cfg", "bin/pyvenv.cfg", "PyVenv.CFG", "bin/conda-unpack", "bin/CONDA-UNPACK",
        "conda-meta/evil.json", "Conda-Meta/history", "bin/python3.12", "bin/python", "bin/Python3",
        "bin/\uff50ython", "bin/pythonw", "bin/activate", "bin/activate.fish", "bin/Activate.ps1",
        "bin/activate_this.py", "bin/deactivate", "bin/python311._pth", "bin/python3.11-config",
    ],
)  # fmt: skip
def test_names_mlenv_keeps_are_refused_to_wheels(path: str) -> None:
    """Protects the venv layout, conda-unpack and conda-meta against any spelling of them."""
    assert "a name mlenv keeps" in refused(PathLedger(), wheel(), path)


@pytest.mark.parametrize("path", ["bin/conda-unpack", "conda-meta/x.json", "Conda-Meta/x"])
def test_names_mlenv_keeps_are_refused_to_conda_packages(path: str) -> None:
    """A conda package may not forge rattler's records, conda-unpack, or make a venv."""
    assert "a name mlenv keeps" in refused(PathLedger(), conda(), path)


def test_conda_packages_ship_the_interpreter_and_scripts_like_activate_global() -> None:
    """python's own package writes bin/python3.11 (a test channel's, pyvenv.cfg); argcomplete's
    script is not activate."""
    ledger = PathLedger()
    assert ledger.claim(conda("python"), "bin/python3.11", "file")
    assert ledger.claim(conda("python"), "pyvenv.cfg", "file")
    assert ledger.claim(wheel("argcomplete"), "bin/activate-global-python-argcomplete", "file")
    assert ledger.claim(wheel("argcomplete"), "bin/python-argcomplete-check", "file")
    assert ledger.claim(wheel("grpcio-tools"), "bin/python-grpc-tools-protoc", "file")


@pytest.mark.parametrize(
    "path",
    [
        f"{SITE}/numpy-1.0.dist-info/METADATA",  # purelib, platlib, data into site-packages
        f"{SITE}/NUMPY-1.0.DIST-INFO/METADATA",  # importlib.metadata lower-cases names
        f"{SITE}/numpy-1.0.dist-info./METADATA",
        f"{SITE}/numpy-1.0.dist-info /METADATA",
        f"{SITE}/numpy-1.0\uff0edist\uff0dinfo/METADATA",  # fullwidth . and -
        f"{SITE}/numpy-1.0.dist\u200b-info/METADATA",
        f"{SITE}/numpy-1.0-py3.11.egg-info",  # a legacy metadata file
        f"{SITE}/evil-1.0.egg-info/PKG-INFO",  # even for itself: a wheel's is .dist-info
        f"{SITE}/setuptools/_vendor/numpy-1.0.dist-info/METADATA",  # in another's package
        f"{SITE}/evil_tools/numpy-1.0.dist-info/METADATA",  # a package not named for it
        f"{SITE}/_vendor/numpy-1.0.dist-info/METADATA",  # a _vendor on sys.path itself
        "numpy-1.0.dist-info/METADATA",  # data scheme at the prefix's root
        "lib/python3.11/numpy-1.0.dist-info/METADATA",  # conda's stdlib directory
        "include/site/python3.11/evil/x.dist-info/h",  # headers
        "bin/numpy-1.0.dist-info",  # scripts
    ],
)
def test_a_wheel_writes_no_metadata_but_its_own(path: str) -> None:
    """Protects one package, one namespace: no wheel makes another distribution installed."""
    assert "distribution metadata" in refused(venv(), wheel(), path)


def test_a_wheels_own_metadata_and_vendored_copies_are_fine() -> None:
    """setuptools ships setuptools/_vendor/*.dist-info, ray its thirdparty_files; conda's
    python packages ship their own metadata."""
    ledger = venv()
    own = "evil-1.0.dist-info/METADATA"
    assert ledger.claim(wheel(), f"{SITE}/{own}", "file", member=own)
    assert ledger.claim(wheel(), f"{SITE}/evil/_vendor/zipp-3.0.dist-info/METADATA", "file")
    assert ledger.claim(wheel(), f"{SITE}/evil/sub/third/x-1.dist-info/METADATA", "file")
    assert venv().claim(wheel(), f"{SITE}/Evil/x-1.dist-info/METADATA", "file")
    assert ledger.claim(conda(), f"{SITE}/numpy-1.26.dist-info/METADATA", "file")


def test_a_wheels_own_metadata_comes_only_from_its_own_dist_info() -> None:
    """Through a .data scheme a wheel could add metadata mlenv never vetted (entry points)."""
    member = "evil-1.0.data/purelib/evil-1.0.dist-info/entry_points.txt"
    path = f"{SITE}/evil-1.0.dist-info/entry_points.txt"
    assert "distribution metadata" in refused(venv(), wheel(), path, member=member)


@pytest.mark.parametrize(
    "conda_metadata", ["numpy-1.26.4.dist-info/METADATA", "NumPy-1.26.4-py3.11.egg-info"]
)
def test_a_wheel_adds_no_second_metadata_for_a_conda_distribution(conda_metadata: str) -> None:
    """One distribution, one metadata directory: pip's numpy over conda's is refused even
    when no other file collides."""
    ledger = venv()
    ledger.claim(conda(), f"{SITE}/{conda_metadata}", "file")
    own = "numpy-2.0.dist-info/METADATA"
    numpy = Owner("numpy-2.0-py3-none-any.whl", "wheel", "h", f"{SITE}/numpy-2.0.dist-info")
    message = refused(ledger, numpy, f"{SITE}/{own}", member=own)
    assert "second metadata directory for numpy" in message


def test_a_refused_claim_leaves_the_ledger_as_it_was() -> None:
    """A refusal records nothing: the same path stays free for its rightful owner."""
    ledger = venv()
    refused(ledger, wheel(), "conda-meta/x/y.json")
    assert ledger.claim(TREE, "conda-meta", "dir")


def test_clash_hint_says_which_side_to_fix() -> None:
    """Two packages clashing: keep one; a package clashing with mlenv: the package is bad."""
    ledger = venv()
    ledger.claim(wheel("a"), f"{SITE}/six.py", "file", content=("h", 1))
    with pytest.raises(PathClashError) as caught:
        ledger.claim(wheel("b"), f"{SITE}/six.py", "file", content=("g", 1))
    assert caught.value.hint is not None and "keep only one" in caught.value.hint
    with pytest.raises(PathClashError) as caught:
        ledger.claim(wheel("b"), "pyvenv.cfg", "file")
    assert caught.value.hint == "wheel hint"


# ---------------------------------------------------------------------------------------------
# Hypothesis: a model of the rules over many names.

_LETTERS = ["a", "A", "b", "ß", "ss", "SS", "\u212a", "k", "\uff41", "e\u0301", "\u00e9", "."]
_NAMES = (
    st.lists(st.sampled_from(_LETTERS), min_size=1, max_size=3)
    .map("".join)
    .filter(lambda name: name not in (".", "..", "..."))
)
_PATHS = st.lists(st.lists(_NAMES, min_size=1, max_size=3).map("/".join), max_size=8, unique=True)


@settings(max_examples=300, deadline=None)
@given(_PATHS)
def test_one_wheel_is_refused_exactly_when_two_paths_collide(paths: list[str]) -> None:
    """Claims succeed iff no two paths fold equal (or one sits below the other's file)."""

    def ancestors(path: str) -> list[str]:
        parts = path.split("/")
        return ["/".join(parts[:n]) for n in range(1, len(parts))]

    every = {*paths, *(a for p in paths for a in ancestors(p))}
    twins = any(fold(x) == fold(y) for x, y in itertools.combinations(every, 2))
    below = any(a in paths for p in paths for a in ancestors(p))
    ledger = PathLedger()
    try:
        for path in sorted(paths, key=lambda p: p.split("/")):
            ledger.claim(wheel(), f"pkg/{path}", "file")
    except PathClashError:
        assert twins or below
    else:
        assert not twins and not below


_DIST_INFO = st.tuples(
    st.sampled_from([".dist-info", ".egg-info"]),
    st.lists(st.booleans(), min_size=10, max_size=10),
    st.sampled_from(["", ".", " ", ". ", "\u200b", "\u00ad"]),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(_DIST_INFO, st.sampled_from([SITE, "", f"{SITE}/numpy", "share", "bin", "include/x"]))
def test_metadata_in_any_spelling_and_place_is_refused(
    spelling: tuple[str, list[bool], str, bool], where: str
) -> None:
    """Case, fullwidth forms, invisible and trailing characters never hide a .dist-info."""
    suffix, upper, tail, wide = spelling
    text = "".join(c.upper() if up else c for c, up in zip(suffix, upper, strict=False))
    if wide:
        text = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    name = f"numpy-1.0{text}{tail}"
    assert metadata_dir(f"{where}/{name}/METADATA".lstrip("/")) == name
    assert "distribution metadata" in refused(
        venv(), wheel(), f"{where}/{name}/METADATA".lstrip("/")
    )
