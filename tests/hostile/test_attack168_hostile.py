"""Hundred-sixty-eighth adversary pass: hand-edited locks and the work their readers do.

Four holes, each closed where its invariant is enforced: TOML that tomllib holds many times
over, or whose dotted keys cost it quadratic time and memory (``limits.parse_toml``: 25 kB of
``x.a.a.a...`` held 600 MB for half a minute, 64 MB of ``[],`` 1.7 GB, in every reader of a
manifest or a lock), a lock reader that judged and printed a million problems
(``lockfile_read._Reader``), two conda records of one package spelt in
another case (``lockfile_consistency.consistency_problems``: rattler folds the case, the lock
reader did
not), and a requirement of tens of thousands of specifier clauses checked against every file of
a project (``resolver.provider._Provider._spend``: hours of work, no bound)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement

from mlenv import limits, lockfile_read, lockfile_render
from mlenv.index import CoreMetadata
from mlenv.index.model import IndexFile, parse_core_metadata
from mlenv.limits import LimitError, parse_toml
from mlenv.lockfile import Lock, LockedPlatform, LockError, LockTarget
from mlenv.report import MemoryReporter
from mlenv.resolver import provider as provider_module
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.cli import run_in_process
from tests.support.huge_project import HugeProject
from tests.support.locks import HASH, package
from tests.support.noop import lock_for

MANIFEST = (
    '[environment]\nname = "e"\npython = "3.11"\n'
    '[pypi]\ndependencies = ["lib"]\nindex-strategy = "first-index"\n'
    '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n'
    '[conda]\nchannels = ["conda-forge"]\ndependencies = ["libgomp"]\n'
)
COMMANDS = (
    ["lock", "--check"],
    ["verify"],
    ["build", "--offline"],
    ["fetch"],
    ["export", "--format", "explicit"],
)
DEEP = "x" + ".a" * 12_000 + " = 1\n"  # 24 kB: 600 MB and 33 s of `lock --check` before


def _run(tmp_path: Path, manifest: str, lock: str, args: list[str]) -> tuple[int, str]:
    (tmp_path / "mlenv.toml").write_text(manifest)
    (tmp_path / "mlenv.lock").write_text(lock)
    code, _, err = run_in_process(args, tmp_path, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert "Traceback" not in err, err
    return code, err


def test_the_unedited_lock_passes_every_reader(tmp_path: Path) -> None:
    """Guards the fixture: the refusals below are the edits' doing."""
    code, err = _run(tmp_path, MANIFEST, lock_for(MANIFEST), ["lock", "--check"])
    assert code == 0, err


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
@pytest.mark.parametrize(
    "shape",
    [
        DEEP,  # a dotted key
        "[" + ".".join(["a"] * 40) + "]\n",  # a table header
        "[[" + ".".join(['"q"'] * 40) + "]]\n",  # an array-of-tables header, quoted parts
        "x = {" + "a . " * 40 + "b = 1}\n",  # inside an inline table, blanks around the dots
    ],
    ids=["dotted", "header", "array-header", "inline"],
)
def test_a_lock_with_a_key_of_thousands_of_parts_is_refused_at_once(
    tmp_path: Path, args: list[str], shape: str
) -> None:
    """Invariant 7 (``limits.parse_toml``): a lock whose keys would cost tomllib quadratic
    work is "not valid TOML", naming the file and the line, exit 1, before any parse."""
    lock = lock_for(MANIFEST).replace("[target]", shape + "[target]", 1)
    code, err = _run(tmp_path, MANIFEST, lock, args)
    assert code == 1, err
    assert "mlenv.lock" in err and "dotted parts (at line 6)" in err, err


@pytest.mark.parametrize("args", [["show"], ["lock", "--check"], ["lock"]], ids=" ".join)
def test_a_manifest_with_a_key_of_thousands_of_parts_is_refused_at_once(
    tmp_path: Path, args: list[str]
) -> None:
    """Invariant 7: the manifest's reader (870 MB for `show` of a 25 kB manifest before)."""
    code, err = _run(tmp_path, MANIFEST + DEEP, lock_for(MANIFEST), args)
    assert code == 1, err
    assert "mlenv.toml" in err and "more than 16 dotted parts" in err, err


def test_keys_of_few_parts_but_too_many_in_all_are_refused() -> None:
    """Each dotted part of a key costs tomllib about a kilobyte: 200,001 of them in short keys
    are refused as a whole, 200,000 read."""
    many = "".join(f"k{i}.a = 0\n" for i in range(limits.MAX_KEY_DOTS))
    assert len(parse_toml(many)) == limits.MAX_KEY_DOTS
    with pytest.raises(tomllib.TOMLDecodeError, match="dotted key parts in all"):
        parse_toml(many + "z.a = 0\n")


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
@pytest.mark.parametrize(
    ("padding", "said"),
    [
        ("#" * limits.MAX_TOML_CHARS + "\n", "characters, more than"),  # 64 MB: 1.7 GB, 56-89 s
        ("x = [" + "[]," * (limits.MAX_TOML_VALUES // 2) + "]\n", "values, arrays and tables"),
        ("".join(f"k{i}=0\n" for i in range(limits.MAX_TOML_VALUES)), "values, arrays"),
        ("".join(f"k{i}=[]\n" for i in range(limits.MAX_TOML_KEYED_CONTAINERS + 1)), "as values"),
    ],
    ids=["size", "arrays", "keys", "keyed-arrays"],
)
def test_a_lock_tomllib_would_hold_many_times_over_is_refused_unparsed(
    tmp_path: Path, args: list[str], padding: str, said: str
) -> None:
    """Invariant 7 (``limits.parse_toml``): tomllib holds 10-25 times a document (64 MB of
    ``[],`` was 1.7 GB and a minute; 14 MB of ``k0=0`` lines 836 MB and 107 s), ~900 bytes
    for an array given as a key's value: past each bound the lock is refused before any
    parse, naming the file, exit 1."""
    code, err = _run(tmp_path, MANIFEST, padding + lock_for(MANIFEST), args)
    assert code == 1, err
    assert "mlenv.lock: invalid TOML" in err and said in err, err


def test_the_largest_real_lock_is_within_every_toml_bound() -> None:
    """Guards the bounds against refusing a real lock: 10,000 entries (more than 3,000 projects
    on each of two platforms, with conda records), 20 dependencies each, read as tomllib reads
    them."""
    entries = [
        package(f"p{i}", dependencies=tuple(f"zope.interface{j}" for j in range(20)))
        for i in range(10_000)
    ]
    target = LockTarget("3.11", "2.28", ("linux-64",), "first-index", (), (), ("p0",))
    text = lockfile_render.render(Lock(HASH, target, (LockedPlatform("linux-64", tuple(entries)),)))
    assert parse_toml(text) == tomllib.loads(text)


def test_the_lock_reader_stops_at_its_problem_bound() -> None:
    """A lock of a million unknown keys took 40 s to judge and wrote 50 MB of errors: the
    reader reports MAX_PROBLEMS of them and says it stopped."""
    keys = "".join(f"k{i} = 0\n" for i in range(lockfile_read.MAX_PROBLEMS * 3))
    with pytest.raises(LockError) as info:
        lockfile_read.loads(keys + lock_for(MANIFEST))
    problems = info.value.problems
    assert len(problems) == lockfile_read.MAX_PROBLEMS + 1
    assert (
        problems[-1].message
        == f"more than {lockfile_read.MAX_PROBLEMS:,} problems: reading stopped"
    )
    assert all(p.message == "unknown key" for p in problems[:-1])


_PART = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{1,6}", fullmatch=True),
    st.from_regex(r'"[a-z.= \]]{0,6}"', fullmatch=True),
    st.from_regex(r"'[a-z.= \]]{0,6}'", fullmatch=True),
)
_DOT = st.sampled_from([".", " .", ". ", "\t.\t"])


def _key(parts: list[str], dots: list[str]) -> str:
    return parts[0] + "".join(d + p for d, p in zip(dots, parts[1:], strict=False))


@settings(max_examples=150, deadline=None)
@given(
    st.integers(2, 40).flatmap(
        lambda n: st.tuples(
            st.lists(_PART, min_size=n, max_size=n),
            st.lists(_DOT, min_size=n - 1, max_size=n - 1),
            st.sampled_from(["{k} = 1\n", "[{k}]\n", "[[{k}]]\n", "x = {{{k} = 1}}\n"]),
        )
    )
)
def test_hypothesis_a_key_is_refused_exactly_past_its_parts(
    shape: tuple[list[str], list[str], str],
) -> None:
    """Whatever its parts (bare, basic or literal strings holding dots, `=` or `]`), its blanks
    and where it stands, a key of more than MAX_KEY_PARTS parts is refused and a shorter one
    reads as tomllib reads it: the scan neither misses a key nor refuses a real document."""
    parts, dots, template = shape
    text = template.format(k=_key(parts, dots))
    if len(parts) > limits.MAX_KEY_PARTS:
        with pytest.raises(tomllib.TOMLDecodeError, match="dotted parts"):
            parse_toml(text)
    else:
        try:
            expected = tomllib.loads(text)
        except tomllib.TOMLDecodeError:  # two parts of one name: tomllib's own refusal
            return
        assert parse_toml(text) == expected


def test_dotted_strings_and_versions_are_not_keys() -> None:
    """A value's dots are no key's: URLs, versions, requirements with `==` and floats."""
    text = (
        'u = "https://a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r/x"\n'
        'v = ["1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18"]\n'
        'r = ["a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r==1.0"]\n'
    )
    assert parse_toml(text) == tomllib.loads(text)


CONDA_TWICE = [
    ("LibGomp", "e"),
    ("LIBGOMP", "f"),
    ("libGOMP", "0"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
@pytest.mark.parametrize(("name", "digit"), CONDA_TWICE)
def test_a_conda_package_pinned_twice_in_two_cases_is_refused(
    tmp_path: Path, args: list[str], name: str, digit: str
) -> None:
    """Invariant 8 (``lockfile_consistency.consistency_problems``): rattler reads `LibGomp` and
    `libgomp`
    as one package, so a second record of it in another case is a second pin of one package
    (lock --check and verify passed it: the closure reaches both by the folded name)."""
    base = lock_for(MANIFEST)
    record = base[base.index("[[platform.linux-64.conda]]") :]
    twin = record.replace("libgomp", name).replace('sha256 = "d', f'sha256 = "{digit}', 1)
    code, err = _run(tmp_path, MANIFEST, base + "\n" + twin, args)
    assert code == 1, err
    assert f"platform.linux-64.conda[1] ({name} 1.0): names the package of" in err, err


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=7, max_size=7).filter(any))
def test_hypothesis_any_case_of_a_pinned_conda_name_is_the_same_package(
    upper: list[bool],
) -> None:
    """Any case-folded spelling of a pinned conda name, added as a record of its own, is
    refused by the lock reader naming both entries."""
    name = "".join(c.upper() if u else c for c, u in zip("libgomp", upper, strict=True))
    base = lock_for(MANIFEST)
    record = base[base.index("[[platform.linux-64.conda]]") :]
    twin = record.replace("libgomp", name).replace('sha256 = "d', 'sha256 = "e', 1)
    with pytest.raises(LockError) as info:
        lockfile_read.loads(base + "\n" + twin)
    assert any("names the package of platform.linux-64.conda[0]" in p.message
               for p in info.value.problems)  # fmt: skip


class _ManyClauses(HugeProject):
    """app requires dep with ``clauses`` distinct `!=` clauses; dep has ``count`` files."""

    def __init__(self, count: int, clauses: int) -> None:
        super().__init__(count)
        self.specifier = ",".join(f"!=9999.{i}" for i in range(clauses))

    def metadata(self, file: IndexFile) -> CoreMetadata:
        requires = (f"dep{self.specifier}",) if file.name == "app" else ()
        return CoreMetadata(file.name, file.version, requires, None, ())


def _resolve(index: _ManyClauses) -> object:
    return resolve(
        [Requirement("app")],
        Target("linux-64", "3.11", "2.28"),
        index,  # type: ignore[arg-type]
        reporter=MemoryReporter(),
    )


@pytest.mark.parametrize(("count", "clauses"), [(2_000, 500), (50, 20_000), (20_000, 50)])
def test_specifier_work_past_its_budget_is_refused_naming_the_project(
    monkeypatch: pytest.MonkeyPatch, count: int, clauses: int
) -> None:
    """Invariant 7 (``resolver.provider._Provider._spend``): a requirement of many clauses against a
    project of many files is clauses x files checks (80,000 x 20,000 took 40 minutes); past
    MAX_SPECIFIER_WORK the resolution stops with a LimitError naming the project. The budget is
    lowered here so each shape (many clauses, many files, both) reaches it in a second."""
    monkeypatch.setattr(provider_module, "MAX_SPECIFIER_WORK", 200_000)
    with pytest.raises(LimitError, match="specifier clauses evaluated") as info:
        _resolve(_ManyClauses(count, clauses))
    assert info.value.where == "dep"


def test_a_resolution_under_the_specifier_budget_is_untouched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same resolution under the budget pins what it pinned: the bound counts, never
    changes a choice."""
    monkeypatch.setattr(provider_module, "MAX_SPECIFIER_WORK", 200_000)
    result = _resolve(_ManyClauses(100, 500))
    assert {(str(p.name), str(p.version)) for p in result.pins} == {  # type: ignore[attr-defined]
        ("app", "0.0"),
        ("dep", "99.0"),
    }


_HEAD = b"Metadata-Version: 2.1\nName: app\nVersion: 1.0\n"


@pytest.mark.parametrize(
    "lines",
    [
        lambda n: _HEAD + b"X-A: b\n" * n,  # plain headers (the fast reader)
        lambda n: _HEAD + b"X-\xc3\xa9: 1\n" + b"X-A: b\n" * n,  # packaging's email reader
        lambda n: _HEAD + b"Requires-Dist: dep\n" + b" x\n" * n,  # one continued header
        lambda n: _HEAD + b"\n" + b"b\n" * n,  # the description
    ],
    ids=["plain", "email", "continued", "body"],
)
def test_metadata_of_too_many_lines_is_refused_before_it_is_read(
    lines: Callable[[int], bytes],
) -> None:
    """Invariant 7 (``index.model.parse_core_metadata``): each reader holds every line of
    METADATA as an object (60 MB of ``X-A: b`` lines held 1.2 GB, once for each prefetch
    thread); past MAX_METADATA_LINES it is a LimitError naming the file, below it is read."""
    assert parse_core_metadata(lines(limits.MAX_METADATA_LINES - 5), where="w").name == "app"
    with pytest.raises(LimitError, match="lines of METADATA") as info:
        parse_core_metadata(lines(limits.MAX_METADATA_LINES), where="app-1.0.whl")
    assert info.value.where == "app-1.0.whl"
