"""Twenty-fifth adversary pass: a lock edited by hand where its inputs hash cannot see it. The
hash covers the manifest, not the lock's own [target] table nor the entries below it, so an
edited CUDA target (which the image then promises in NVIDIA_REQUIRE_CUDA), a dropped
requirement or a deleted entry passed `lock --check`, `lock` and `verify` as fresh. Each test
names what it protects and fails if the check that catches it is taken out."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from mlenv import lockfile_read, lockfile_render, uptodate
from mlenv.cli.app import main as cli_main
from mlenv.commands.verify import verify
from mlenv.errors import ManifestError
from mlenv.index.model import PackageIndexError, make_file
from mlenv.index.pages import parse_json
from mlenv.judge import verify_lock
from mlenv.lockfile import Lock, LockedPlatform, LockError, LockTarget
from mlenv.manifest_read import loads as load_manifest
from tests.support.golden import golden_project
from tests.support.locks import HASH, codes, conda_record, locked, make_lock, package
from tests.support.noop import lock_for

MANIFEST = (
    '[environment]\nname = "e"\npython = "3.11"\n'
    '[pypi]\ndependencies = ["lib"]\nindex-strategy = "first-index"\n'
    '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n'
    '[conda]\nchannels = ["conda-forge"]\ndependencies = ["libgomp"]\n'
)
# Each edit of the lock's [target] that the inputs hash does not cover: (key, old line, new).
TARGET_EDITS = [
    ("cuda", 'cuda = "12.4"', 'cuda = "11.8"'),
    ("cuda", 'cuda = "12.4"\n', ""),
    ("driver-floor", 'driver-floor = "550.54.14"', 'driver-floor = "520.61.05"'),
    ("requirements", 'requirements = ["lib"]', "requirements = []"),
    ("requirements", 'requirements = ["lib"]', 'requirements = ["lib>=2"]'),
    (
        "conda-requirements",
        'conda-requirements = ["libgomp"]',
        'conda-requirements = ["libgomp >=12"]',
    ),
    ("index-strategy", 'index-strategy = "first-index"', 'index-strategy = "best-match"'),
]


def _project(tmp_path: Path, lock: str) -> list[str]:
    (tmp_path / "mlenv.toml").write_text(MANIFEST)
    (tmp_path / "mlenv.lock").write_text(lock)
    return ["--manifest", str(tmp_path / "mlenv.toml"), "lock", "--check"]


def test_the_unedited_lock_is_fresh(tmp_path: Path) -> None:
    """Guards the fixture: the lock made for the manifest passes both paths of `lock --check`,
    so the refusals below are the edits' doing."""
    args = _project(tmp_path, lock_for(MANIFEST))
    assert uptodate.answer(["-q", *args]) == 0
    assert cli_main(["-q", *args]) == 0


@pytest.mark.parametrize(("key", "old", "new"), TARGET_EDITS)
def test_an_edited_target_is_stale_for_lock_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, old: str, new: str
) -> None:
    """Protects `lock --check` and `lock` (drift.target_drift): a [target] value the lock
    records from the manifest, edited under an unchanged inputs hash, is stale (exit 1, naming
    target.KEY); the fast path leaves it to the full reader."""
    text = lock_for(MANIFEST)
    assert old in text
    args = _project(tmp_path, text.replace(old, new, 1))
    assert uptodate.answer(["-q", *args]) is None
    capsys.readouterr()
    assert cli_main(args) == 1
    err = capsys.readouterr().err
    assert f"target.{key}:" in err and "the lock was edited" in err, err


@pytest.mark.parametrize(("key", "old", "new"), TARGET_EDITS)
def test_an_edited_target_is_an_error_for_verify(key: str, old: str, new: str) -> None:
    """Protects `verify` (commands.verify.verify): it judges CUDA by the lock's [target], so an
    edited one is a lock-stale error naming the key, not a verdict on a target nobody asked for."""
    manifest = load_manifest(MANIFEST)
    lock = lockfile_read.loads(lock_for(MANIFEST).replace(old, new, 1))
    verdict = verify(manifest, lock, Path("mlenv.lock"), None, None)
    stale = [f for f in verdict.errors if f.code == "lock-stale"]
    assert stale and f"[target].{key} is" in stale[0].message, verdict.findings


def _chain(length: int, requirements: tuple[str, ...] = ("p0",)) -> Lock:
    """A closed lock: p0 depends on p1, ... on p{length-1}; the target requires ``requirements``."""
    entries = [
        package(f"p{i}", sha256=f"{i:064x}", dependencies=(f"p{i + 1}",) if i + 1 < length else ())
        for i in range(length)
    ]
    target = LockTarget("3.11", "2.28", ("linux-64",), "first-index", (), (), requirements)
    return Lock(HASH, target).with_platforms([LockedPlatform("linux-64", tuple(entries))])


def _problems(lock: Lock) -> list[str]:
    with pytest.raises(LockError) as info:
        lockfile_read.loads(lockfile_render.render(lock), "p/mlenv.lock")
    return [f"{p.where}: {p.message}" for p in info.value.problems]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 8).flatmap(
        lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1), min_size=1))
    )
)
def test_any_entry_deleted_from_a_closed_lock_is_refused(shape: tuple[int, set[int]]) -> None:
    """Protects the lock reader (closure.unmet, from lockfile_consistency.consistency_problems):
    every entry
    of a resolved lock is needed, so deleting any of them leaves a requirement or a dependency
    unmet, and the reader names it; the closed lock itself loads."""
    length, deleted = shape
    lock = _chain(length)
    assert lockfile_read.loads(lockfile_render.render(lock)) == lock
    kept = tuple(p for i, p in enumerate(lock.platforms[0].packages) if i not in deleted)
    problems = _problems(lock.with_platforms([LockedPlatform("linux-64", kept)]))
    first = min(deleted)
    who = "[target].requirements" if first == 0 else f"depends on 'p{first}'"
    assert any(who in p for p in problems), problems


def test_a_lock_emptied_of_its_entries_is_refused_by_lock_check_and_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Protects `lock --check`, `lock` and `verify`: a lock with every entry deleted (no platform
    table left) was "up to date" and verified "OK: 0 packages"; now each exits 1 naming the
    requirement that has no entry."""
    text = lock_for(MANIFEST)
    emptied = text[: text.index("\n[[platform")] + "\n"
    args = _project(tmp_path, emptied)
    for command in (args, [*args[:-1]], [*args[:2], "verify"]):
        assert cli_main(command) == 1, command
        err = capsys.readouterr().err
        assert "platform.linux-64: has no entry for 'lib' of [target].requirements" in err, err


@pytest.mark.parametrize(
    ("requirement", "entries", "conda"),
    [
        ("p0; platform_machine == 'aarch64'", ("p_1",), ()),  # a root for another machine
        ("P0[Extra]>=1.0", ("p0", "p_1"), ()),  # names compare as PEP 503 spells them
        ("p0", ("p0",), ("P-1",)),  # a PyPI name conda installs: the resolver takes it
    ],
)
def test_what_a_resolution_leaves_out_on_purpose_still_loads(
    requirement: str, entries: tuple[str, ...], conda: tuple[str, ...]
) -> None:
    """Guards the other side: a requirement whose marker excludes the platform, spellings that
    normalise alike and a dependency a conda record provides are not missing entries."""
    packages = tuple(
        package(name, sha256=f"{i:064x}", dependencies=("P.1",) if name == "p0" else ())
        for i, name in enumerate(entries)
    )
    target = LockTarget("3.11", "2.28", ("linux-64",), "first-index", (), (), (requirement,))
    platform = LockedPlatform("linux-64", packages, tuple(conda_record(n) for n in conda))
    lock = Lock(HASH, target).with_platforms([platform])
    assert lockfile_read.loads(lockfile_render.render(lock)) == lock


# Manifest values checked by a pattern: (table, key, a valid value). The rest of each table is
# whatever makes the manifest valid, so only the value under test can be refused.
PATTERNED = [
    ("environment", "name", "e"),
    ("environment", "glibc", "2.28"),
    ("cuda", "version", "12.4"),
    ("cuda", "archs", ["sm_80"]),
    ("pypi", "index-url", "https://pypi.org/simple"),
    ("pypi", "extra-index-urls", ["https://x.example/simple"]),
    ("conda", "channels", ["conda-forge"]),
    ("conda", "dependencies", ["numpy"]),
]
_DIGIT_FORMS = {"fullwidth": 0xFF10, "arabic-indic": 0x0660, "devanagari": 0x0966}


def _manifest(table: str, key: str, value: object) -> str:
    tables: dict[str, dict[str, object]] = {
        "environment": {"name": "e", "python": "3.11"},
        "cuda": {"version": "12.4", "driver-floor": "550.54.14"},
        "conda": {"channels": ["conda-forge"], "dependencies": ["numpy"]},
        "pypi": {},
    }
    tables[table][key] = value
    return "".join(
        f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
        for name, keys in tables.items()
    )


def _mangle(value: object, change: Callable[[str], str]) -> object:
    return [change(v) for v in value] if isinstance(value, list) else change(str(value))


@pytest.mark.parametrize(("table", "key", "value"), PATTERNED)
def test_a_patterned_value_with_a_final_line_break_is_refused(
    table: str, key: str, value: object
) -> None:
    """Protects the manifest reader's patterns (manifest_values._pattern and its kin): "$" matched
    before a final line break, so "2.28\\n", "12.4\\n" or an index URL ending in a line break
    passed, and went into the lock, the image and every request. Each is refused, naming it."""
    load_manifest(_manifest(table, key, value))
    with pytest.raises(ManifestError) as info:
        load_manifest(_manifest(table, key, _mangle(value, lambda v: v + "\n")))
    assert any(f"[{table}].{key}" in p.where for p in info.value.problems), info.value.problems


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([p for p in PATTERNED if any(c.isdigit() for c in json.dumps(p[2]))]),
    st.sampled_from(sorted(_DIGIT_FORMS)),
)
def test_a_version_in_other_digits_is_refused(
    patterned: tuple[str, str, object], form: str
) -> None:
    """Protects [cuda].version and [environment].glibc: "\\d" took fullwidth and Arabic-Indic
    digits (fullwidth "12.4" was shown and locked as the CUDA target); versions are ASCII."""
    table, key, value = patterned
    zero = _DIGIT_FORMS[form]

    def other(text: str) -> str:
        return "".join(chr(zero + int(c)) if c.isdigit() else c for c in text)

    with pytest.raises(ManifestError) as info:
        load_manifest(_manifest(table, key, _mangle(value, other)))
    assert any(f"[{table}].{key}" in p.where for p in info.value.problems), info.value.problems


def test_a_damaged_lock_names_a_command_that_mends_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects the lock reader's hint (lockfile_read._REGENERATE): it said "regenerate it with
    `mlenv lock`", which reads the damaged lock for its pins and refuses it again; the command
    it names now writes a lock that `lock --check` finds fresh."""
    project = golden_project(tmp_path / "p")
    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / "cache"))
    text = (project / "mlenv.lock").read_text()
    (project / "mlenv.lock").write_text(text[: text.index("\n[[platform")] + "\n")
    base = ["--manifest", str(project / "mlenv.toml")]
    assert cli_main([*base, "lock"]) == 1
    hint = capsys.readouterr().err.split("hint: ")[1]
    command = hint.split("`")[1].split()
    assert command[0] == "mlenv"
    assert cli_main([*base, *command[1:]]) == 0
    assert cli_main([*base, "lock", "--check"]) == 0


WHEEL = "hello-1.0-py3-none-any.whl"


@pytest.mark.parametrize(
    ("url", "names_it"),
    [
        ("../../files/blob-123", False),  # a content-addressed store
        (f"../../files/{WHEEL}/download", False),
        (f"../../files/download?file={WHEEL}", False),
        (f"../../files/other-1.0-py3-none-any.whl#{WHEEL}", False),
        (f"../../files/{WHEEL}?token=x", True),  # a query is not the name
        ("../../files/hello-1.0-py3-none-any%2Ewhl", True),  # percent-encoded, the same name
        (f"https://files.example/a/b/{WHEEL}#sha256=" + "0" * 64, True),
    ],
)
def test_a_json_file_at_a_url_that_names_another_file_is_refused(url: str, names_it: bool) -> None:
    """Protects `lock` (index.model.make_file): a PEP 691 page names a file and its URL apart,
    and a file whose URL names another was locked into a lock its own reader then refused
    ("url names the file 'blob-123'"), with a hint that only repeated it. It is refused where
    the index offers it, naming the URL; a URL that does name it is taken."""
    page = {"meta": {"api-version": "1.1"}, "files": [{"filename": WHEEL, "url": url}]}
    base = "https://index.example/simple/hello/"
    (link,) = parse_json(json.dumps(page).encode(), base)
    if names_it:
        assert make_file(link, project=canonicalize_name("hello"), index_url=base) is not None
        return
    with pytest.raises(PackageIndexError) as info:
        make_file(link, project=canonicalize_name("hello"), index_url=base)
    assert link.url in info.value.message and info.value.hint, info.value


@pytest.mark.parametrize("recorded", ["450.80.02", "550.54", "525.60.13", "latest"])
def test_an_entry_driver_floor_edited_by_hand_fails_verify(recorded: str) -> None:
    """Protects `verify` (entry_needs._recorded_driver): an entry's requires-driver is shown by the
    SBOM and the lock diff but was never judged, so a +cu124 torch claiming driver 450 passed.
    One below the floor its CUDA build sets (or no version) is a lock-driver-mismatch."""
    kept = locked("torch", "2.6.0+cu124", cuda="12.4", requires_driver="550.54.14")
    assert verify_lock(make_lock([kept]), HASH, None).ok
    raised = dataclasses.replace(kept, requires_driver="550.54.15")  # METADATA's update release
    assert verify_lock(make_lock([raised]), HASH, None).ok
    edited = dataclasses.replace(kept, requires_driver=recorded)
    verdict = verify_lock(make_lock([edited]), HASH, None)
    assert ("error", "lock-driver-mismatch", "torch") in codes(verdict), verdict.findings
    assert recorded in verdict.errors[0].message


def test_a_conda_entry_driver_floor_edited_by_hand_fails_verify() -> None:
    """Protects `verify` for conda records as for wheels: the same rule, the same finding."""
    record = conda_record("pytorch", build="cuda126_h0")
    lock = make_lock([], "12.6", "560.28.03")
    platform = LockedPlatform("linux-64", (), (dataclasses.replace(record, cuda="12.6"),))
    fine = verify_lock(lock.with_platforms([platform]), HASH, None)
    floor = fine.requires_driver
    assert floor and fine.ok, fine.findings
    edited = dataclasses.replace(record, cuda="12.6", requires_driver="450.80.02")
    verdict = verify_lock(
        lock.with_platforms([LockedPlatform("linux-64", (), (edited,))]), HASH, None
    )
    assert ("error", "lock-driver-mismatch", "pytorch") in codes(verdict), verdict.findings


@pytest.mark.parametrize(
    ("specs", "records", "missing"),
    [
        (("libgomp >=12",), (), "libgomp >=12"),
        (("conda-forge::pytorch=2.5",), ("libgomp",), "conda-forge::pytorch=2.5"),
        (("conda-forge::pytorch=2.5", "__cuda >=12"), ("pytorch",), None),  # virtual: no record
        (("LibGomp",), ("libgomp",), None),
    ],
)
def test_a_conda_requirement_without_its_record_is_refused(
    specs: tuple[str, ...], records: tuple[str, ...], missing: str | None
) -> None:
    """Protects the lock reader (closure.unmet) for conda as for PyPI: a deleted conda record
    passed every command; a spec's name is read as `mlenv add --conda` reads it."""
    target = LockTarget("3.11", "2.28", ("linux-64",), "first-index", (), (), (),
                        conda_requirements=specs)  # fmt: skip
    platform = LockedPlatform("linux-64", (), tuple(conda_record(n) for n in records))
    lock = Lock(HASH, target).with_platforms([platform])
    if missing is None:
        assert lockfile_read.loads(lockfile_render.render(lock)) == lock
        return
    assert f"has no conda record for {missing!r}" in "\n".join(_problems(lock))
