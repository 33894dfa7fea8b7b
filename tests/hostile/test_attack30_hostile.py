"""Thirtieth adversary pass: the resolver and the index readers fed metadata a hostile or sloppy
index serves: a first index that lists a project with nothing usable, transitive direct
references, markers packaging parses but cannot evaluate, filenames and Requires-Python with
Unicode blanks or look-alike letters, and a resolution of endlessly many distinct projects.
Each test names what it protects and fails if its fix is undone."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.cache.locked_metadata import metadata_problem
from mlenv.errors import MlenvError
from mlenv.index import CoreMetadata, IndexGroup, MemoryIndex, MetadataError
from mlenv.limits import LimitError
from mlenv.lockfile import LockedPackage
from mlenv.lockfile_read import loads as load_lock
from mlenv.report import MemoryReporter
from mlenv.resolver import candidates as candidates_module
from mlenv.resolver.model import Resolution, ResolutionError
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.hostile

X86_311 = Target("linux-64", "3.11", "2.28")
FOKO = canonicalize_name("foko")


def _resolve(root: str, index: object, **kw: object) -> Resolution:
    return resolve(
        [Requirement(root)],
        X86_311,
        index,  # type: ignore[arg-type]
        reporter=MemoryReporter(),
        workers=0,
        **kw,  # type: ignore[arg-type]
    )


def _pins(result: Resolution) -> dict[str, str]:
    return {str(p.name): str(p.version) for p in result.pins}


def _page(root: Path, project: str, files: Sequence[tuple[str, bytes]], **extra: object) -> str:
    """A file:// PEP 691 index under ``root`` with one project page listing ``files`` (names
    percent-escaped in their URLs, as a server would); returns the index URL."""
    (root / "files").mkdir(parents=True, exist_ok=True)
    entries = []
    for filename, data in files:
        (root / "files" / filename).write_bytes(data)
        entries.append(
            {
                "filename": filename,
                "url": "../../files/" + quote(filename),
                "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
                **extra,
            }
        )
    page = root / "simple" / project
    page.mkdir(parents=True)
    document = {"meta": {"api-version": "1.1"}, "name": project, "files": entries}
    (page / "index.json").write_text(json.dumps(document))
    return (root / "simple").as_uri()


def _project(tmp_path: Path, index_url: str, deps: Sequence[str], extra: str = "") -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "p"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{index_url}"\n{extra}dependencies = {json.dumps(list(deps))}\n'
    )
    return root


def _lock(root: Path, tmp_path: Path) -> tuple[int, str]:
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    return result.returncode, result.stderr


# -- first-index: an index that answers for a project owns it -----------------------------------

_UNUSABLE = {
    "an empty page": [],
    "only a .tar.bz2 sdist and an egg": [
        ("foo_bar-1.0.tar.bz2", b"internal"),
        ("foo_bar-1.0-py3.11.egg", b"internal"),
    ],
    "only a wheel whose name has a line separator": [
        ("foo_bar-1.0\u2028-py3-none-any.whl", build_wheel("foo_bar", "1.0")[1])
    ],
}


@pytest.mark.parametrize("shape", sorted(_UNUSABLE))
def test_the_first_index_that_lists_a_project_owns_it_even_with_nothing_usable(
    tmp_path: Path, shape: str
) -> None:
    """Protects first-index against dependency confusion (`index.group.IndexGroup.files`, over
    each index's `knows`): the internal index (an extra one, asked first as uv asks it) has a
    page for foo-bar that lists no file mlenv can use; the public index-url's foo-bar 9.0 is
    never taken (uv stops at the first index that answers for a name). Before, an empty page
    let the public 9.0 into the lock."""
    internal = _page(tmp_path / "internal", "foo-bar", _UNUSABLE[shape])
    public = _page(tmp_path / "public", "foo-bar", [build_wheel("foo_bar", "9.0")])
    root = _project(tmp_path, public, ["Foo.Bar"], extra=f'extra-index-urls = ["{internal}"]\n')
    status, stderr = _lock(root, tmp_path)
    assert status == 1, stderr
    assert "foo-bar: listed on" in stderr
    assert not (root / "mlenv.lock").exists()


_SHAPES_OF_A = {
    "a wheel": [build_wheel("Foo_Bar", "1.0")],
    "a yanked wheel only": [build_wheel("foo_bar", "1.0")],
    "a wheel for another platform only": [build_wheel("foo.bar", "1.0", tag="cp311-cp311-win32")],
    "an sdist only": [("FOO_bar-1.0.tar.gz", b"sdist")],
    "a skipped filename only": [
        ("foo_bar-1.0 -py3-none-any.whl", build_wheel("foo_bar", "1.0")[1])
    ],
}


@pytest.mark.parametrize("spelling", ["foo-bar", "Foo_Bar", "foo.bar", "FOO-bar"])
@pytest.mark.parametrize("shape", sorted(_SHAPES_OF_A))
def test_first_index_never_takes_a_name_the_first_index_has_from_a_later_one(
    spelling: str, shape: str
) -> None:
    """Protects first-index (`IndexGroup.files`) in every spelling of the name and whatever the
    first index offers for it (usable, yanked, another platform's, an sdist, a filename mlenv
    skips): the later index's higher version is never a candidate, and never asked for."""
    wheels = dict(_SHAPES_OF_A[shape])
    yanked = dict.fromkeys(wheels, "") if shape == "a yanked wheel only" else None
    internal = MemoryIndex("memory://internal", wheels, yanked=yanked)
    public = MemoryIndex("memory://public", dict([build_wheel("foo_bar", "9.0")]))
    group = IndexGroup([internal, public])
    try:
        pins = _pins(_resolve(spelling, group))
    except ResolutionError as error:
        assert "9.0" not in error.message
    else:
        assert pins == {"foo-bar": "1.0"}
    assert ("files", "foo-bar") not in public.calls


# -- transitive direct references ---------------------------------------------------------------

_DIRECT = [
    "x @ https://evil.example/x-1.0-py3-none-any.whl",
    "x @ file:///etc/passwd",
    "x@git+https://evil.example/x.git",
    'x @ file:///etc/shadow ; extra == "gpu"',
]


@pytest.mark.parametrize("line", _DIRECT)
def test_a_transitive_direct_reference_is_refused_naming_who_declared_it(line: str) -> None:
    """Protects `resolver.requirements._dependency`: a Requires-Dist line of an index's distribution
    that names a URL is an error naming the distribution and the URL (as uv and pip refuse it),
    and nothing of x is read. Before, the URL was dropped and x was taken from the index."""
    index = MemoryIndex(
        "memory://a",
        dict(
            [
                build_wheel("app", "1.0", requires_dist=[line], provides_extra=["gpu"]),
                build_wheel("x", "1.0"),
            ]
        ),
    )
    with pytest.raises(MetadataError) as info:
        _resolve("app[gpu]", index)
    assert info.value.where == "app 1.0 (memory://a/files/app-1.0-py3-none-any.whl)"
    assert "direct URL" in info.value.message
    assert line.split("@", 1)[1].split(";")[0].strip() in info.value.message
    assert not [call for call in index.calls if call[1].startswith("x")]


def test_a_direct_reference_the_target_never_needs_is_ignored() -> None:
    """Protects the other side of `resolver.requirements._dependency`: only a dependency that
    applies is judged, so a URL under a marker false on the target (or an extra not asked for) costs
    nothing, as in uv."""
    index = MemoryIndex(
        "memory://a",
        dict(
            [
                build_wheel(
                    "app",
                    "1.0",
                    requires_dist=[
                        'x @ file:///etc/passwd ; sys_platform == "win32"',
                        'y @ file:///etc/passwd ; extra == "dev"',
                    ],
                    provides_extra=["dev"],
                )
            ]
        ),
    )
    assert _pins(_resolve("app", index)) == {"app": "1.0"}


def test_lock_refuses_a_transitive_file_reference_with_exit_1(tmp_path: Path) -> None:
    """Protects `resolver.requirements._dependency` through the CLI: exit 1, the error names the
    package that declared the URL, and no lock is written."""
    url = _page(
        tmp_path / "index",
        "app",
        [build_wheel("app", "1.0", requires_dist=["x @ file:///etc/passwd"])],
    )
    root = _project(tmp_path, url, ["app"])
    status, stderr = _lock(root, tmp_path)
    assert status == 1, stderr
    assert "app 1.0" in stderr and "file:///etc/passwd" in stderr
    assert not (root / "mlenv.lock").exists()


# -- markers packaging parses but cannot evaluate ------------------------------------------------

_UNEVALUABLE = [
    'python_version ~= "abc"',
    'python_full_version ~= "3"',
    'sys_platform ~= "linux"',
    'os_name === "posix"',
    'extra ~= "1.0"',
    '"a" in extras',
    'dependency_groups == "dev"',
    '"5.0" ~= platform_release',
]


@pytest.mark.parametrize("marker", _UNEVALUABLE)
def test_a_requires_dist_marker_no_target_can_evaluate_is_a_clear_error(marker: str) -> None:
    """Protects `pep508.requirement` (tries each marker once): a Requires-Dist line whose
    marker raises when evaluated (UndefinedComparison, UndefinedEnvironmentName) is a
    MetadataError naming the distribution, the index's file and the reason. Before, an
    internal error (exit 2)."""
    index = MemoryIndex(
        "memory://a",
        dict([build_wheel("app", "1.0", requires_dist=[f"x ; {marker}"]), build_wheel("x", "1.0")]),
    )
    with pytest.raises(MetadataError) as info:
        _resolve("app", index)
    assert info.value.where == "app 1.0 (memory://a/files/app-1.0-py3-none-any.whl)"
    assert "Requires-Dist" in info.value.message and "cannot be evaluated" in info.value.message


@pytest.mark.parametrize("marker", _UNEVALUABLE)
def test_fetch_judges_a_wheel_with_an_unevaluable_marker_without_crashing(marker: str) -> None:
    """Protects `pep508.requirement` where fetch and `verify --cache` hold the lock to a
    wheel's own METADATA (`cache.locked_metadata.metadata_problem`): a wheel whose METADATA
    differs from what the index served at lock time, with such a marker, is a clear MlenvError.
    Before, UndefinedComparison escaped from the marker's evaluation (exit 2)."""
    meta = CoreMetadata(canonicalize_name("app"), Version("1.0"), (f"x ; {marker}",), None, ())
    package = LockedPackage(
        "app", "1.0", "app-1.0-py3-none-any.whl", "https://x/app-1.0-py3-none-any.whl",
        "0" * 64, 1, "https://x",
    )  # fmt: skip
    with pytest.raises(MlenvError, match="not a PEP 508 requirement"):
        metadata_problem(package, meta, X86_311)


@pytest.mark.parametrize("where", ["index", "manifest"])
def test_lock_says_which_marker_it_cannot_evaluate_with_exit_1(tmp_path: Path, where: str) -> None:
    """Protects `pep508.requirement` through the CLI, for an index's Requires-Dist line and for
    the manifest's own requirement: exit 1 naming the distribution or the manifest key."""
    lines = ['x ; sys_platform ~= "linux"'] if where == "index" else []
    url = _page(tmp_path / "index", "app", [build_wheel("app", "1.0", requires_dist=lines)])
    root = _project(
        tmp_path, url, ['app ; python_version ~= "abc"' if where == "manifest" else "app"]
    )
    status, stderr = _lock(root, tmp_path)
    assert status == 1, stderr
    assert ("app 1.0" if where == "index" else "[pypi].dependencies[0]") in stderr


# -- filenames and Requires-Python: what a page says reaches the lock as printable ASCII ---------

_ODD_FILENAMES = [
    "fo\u212ao-1.0-py3-none-any.whl",  # KELVIN SIGN: packaging lowercases it to "k"
    "foko-1.0\u2028-py3-none-any.whl",  # LINE SEPARATOR: a Unicode blank ends a version
    "foko-1.0\x85-py3-none-any.whl",  # NEL, a C1 control
    "foko-1.0\u3000-py3-none-any.whl",  # IDEOGRAPHIC SPACE
    "foko-1.0 -py3-none-any.whl",
]


@pytest.mark.parametrize("filename", _ODD_FILENAMES)
def test_a_file_not_named_in_printable_ascii_is_never_a_candidate(filename: str) -> None:
    """Protects `index.model.make_file`: packaging reads foko-1.0<U+2028>-... as foko 1.0 and
    fo<KELVIN SIGN>o-... as foko, so the lock held a filename with an invisible character or
    a look-alike letter under foko 1.0. Such a file is skipped like any bad filename, and
    sorting first (a blank before "-") no longer lets it stand in for the real file."""
    _, data = build_wheel("foko", "1.0")
    alone = MemoryIndex("memory://a", {filename: data})
    assert alone.files(FOKO) == ()
    both = MemoryIndex("memory://a", {filename: data, "foko-1.0-py3-none-any.whl": data})
    assert [f.filename for f in both.files(FOKO)] == ["foko-1.0-py3-none-any.whl"]


def test_lock_never_records_a_look_alike_filename(tmp_path: Path) -> None:
    """Protects `index.model.make_file` through the CLI: a page for foko listing only
    fo<KELVIN SIGN>o-1.0 (its URL percent-escaped) gives no lock. Before, the lock pinned
    foko 1.0 with filename "foKo-1.0-py3-none-any.whl"."""
    _, data = build_wheel("foko", "1.0")
    url = _page(tmp_path / "index", "foko", [("fo\u212ao-1.0-py3-none-any.whl", data)])
    root = _project(tmp_path, url, ["foko"])
    status, stderr = _lock(root, tmp_path)
    assert status == 1, stderr
    assert not (root / "mlenv.lock").exists()


@pytest.mark.parametrize("odd", ["\u2028", "\x85", "\u3000", "\x1f", "\x0b"])
def test_a_requires_python_with_a_unicode_blank_never_reaches_the_lock(
    tmp_path: Path, odd: str
) -> None:
    """Protects `resolver.pages._Pages._reject`: the page's Requires-Python is written into the
    lock as it is, and packaging reads ">=3.8" followed by any Unicode blank; such a text is
    unreadable (the file refused, with its reason shown without the character), never a line
    separator or a C1 control in the lock. ASCII blanks are still read."""
    wheel = build_wheel("foko", "1.0")
    url = _page(tmp_path / "index", "foko", [wheel], **{"requires-python": f">=3.8{odd}"})
    root = _project(tmp_path, url, ["foko"])
    status, stderr = _lock(root, tmp_path)
    assert status == 1, stderr
    assert "unreadable Requires-Python" in stderr and odd not in stderr

    url = _page(tmp_path / "plain", "foko", [wheel], **{"requires-python": ">=3.8 "})
    (root / "mlenv.toml").write_text(
        (root / "mlenv.toml").read_text().replace("/index/", "/plain/")
    )
    status, stderr = _lock(root, tmp_path)
    assert status == 0, stderr
    lock = load_lock((root / "mlenv.lock").read_text())
    assert [pkg.requires_python for _, pkg in lock.packages()] == [">=3.8 "]


# -- a resolution of endlessly many distinct projects ---------------------------------------------


@pytest.mark.parametrize("shape", ["chain", "tree"])
def test_a_resolution_meets_a_bounded_number_of_projects(
    monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    """Protects invariant 7 (`resolver.candidates._Candidates._load`): each distribution may name
    1,000 dependencies, but a chain or a tree of distinct names had no bound at all, and
    resolvelib's work grows with the square of the names (a 4x longer chain took 14x as
    long). Past MAX_PROJECTS the resolution stops, naming the project and who required it,
    having asked the index about no more projects than the bound."""
    limit = 40
    monkeypatch.setattr(candidates_module, "MAX_PROJECTS", limit)
    if shape == "chain":
        wheels = [build_wheel(f"p{i}", "1.0", requires_dist=[f"p{i + 1}"]) for i in range(60)]
    else:
        wheels = [build_wheel("p0", "1.0", requires_dist=[f"m{i}" for i in range(8)])]
        wheels += [
            build_wheel(f"m{i}", "1.0", requires_dist=[f"l{i}x{j}" for j in range(8)])
            for i in range(8)
        ]
        wheels += [build_wheel(f"l{i}x{j}", "1.0") for i in range(8) for j in range(8)]
    index = MemoryIndex("memory://a", dict(wheels))
    with pytest.raises(LimitError, match="distinct projects in one resolution") as info:
        _resolve("p0", index)
    assert "required by" in info.value.where
    assert len({project for call, project in index.calls if call == "files"}) <= limit


# -- PEP 592 yanks files, not releases ------------------------------------------------------------


@pytest.mark.parametrize("pinned", [False, True])
def test_a_release_with_an_unyanked_wheel_is_not_yanked_by_its_other_wheel(pinned: bool) -> None:
    """Protects `resolver.candidates._Candidates._load_candidates` (the one file per release): a
    sloppy index yanked only the manylinux wheel of x 1.0; the pure wheel still stands for the
    release, as pip and uv read PEP 592. Before, the better-tagged yanked wheel was chosen, so x 1.0
    looked yanked and `x` had no version at all (and `x==1.0` locked the yanked file)."""
    yanked = build_wheel("x", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    kept = build_wheel("x", "1.0")
    index = MemoryIndex("memory://a", dict([yanked, kept]), yanked={yanked[0]: "broken build"})
    result = _resolve("x==1.0" if pinned else "x", index)
    assert [pin.file.filename for pin in result.pins] == [kept[0]]
