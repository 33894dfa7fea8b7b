"""Twenty-ninth adversary pass: a lock edited where no check looked (its [target] locations,
an entry's requires-driver, a conda record another record depends on) and an index that
declares a size of 0. Each test names the invariant it protects and fails if its fix is undone."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from mlenv import lockfile_fresh, lockfile_read, lockfile_render, uptodate
from mlenv.cli.app import main as cli_main
from mlenv.commands.verify import verify
from mlenv.conda.records import CondaRecord
from mlenv.drift import DERIVED, target_drift
from mlenv.index import HttpClient, MemoryIndex, PackageIndexError, SimpleIndex
from mlenv.judge import verify_lock
from mlenv.lockfile import Lock, LockedPackage, LockedPlatform, LockError, LockTarget
from mlenv.locking import lock_target
from mlenv.locking_facts import artifact_facts
from mlenv.locking_sources import open_sources
from mlenv.manifest_read import loads as load_manifest
from mlenv.report import MemoryReporter
from tests.support.locks import (
    HASH,
    codes,
    conda_closed,
    conda_record,
    locked,
    make_lock,
    target_of,
)
from tests.support.noop import lock_for
from tests.support.wheels import build_wheel, write_simple_index

MANIFEST = (
    '[environment]\nname = "e"\npython = "3.11"\n'
    '[pypi]\nindex-url = "https://user:pw@pypi.internal/simple/?token=s3cret"\n'
    'extra-index-urls = ["https://download.pytorch.org/whl/cu124"]\n'
    'find-links = ["wheels", "/srv/wheels/"]\ndependencies = ["lib"]\n'
    '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n'
    '[conda]\nchannels = ["https://u:p@conda.internal/t/tok-123/forge"]\n'
    'dependencies = ["libgomp"]\n'
)
# Each [target] location edited under an unchanged inputs hash: (key, old text, new text).
LOCATION_EDITS = [
    ("indexes", '"https://pypi.internal/simple/?token=***"', '"https://evil.example/simple"'),
    ("indexes", '"https://download.pytorch.org/whl/cu124", ', ""),  # asked first (uv's order)
    ("indexes", "https://download.pytorch.org/whl/cu124", "https://download.pytorch.org/whl/cu118"),
    ("find-links", '"wheels", ', ""),
    ("find-links", '"file:///srv/wheels"', '"file:///tmp/wheels"'),
    ("conda-channels", '"https://conda.internal/forge"', '"https://evil.example/forge"'),
    ("conda-channels", '"https://conda.internal/forge"', ""),
]


def _project(tmp_path: Path, manifest: str, lock: str) -> list[str]:
    (tmp_path / "mlenv.toml").write_text(manifest)
    (tmp_path / "mlenv.lock").write_text(lock)
    return ["--manifest", str(tmp_path / "mlenv.toml"), "lock", "--check"]


def test_the_lock_of_a_manifest_with_secrets_is_fresh_and_holds_none(tmp_path: Path) -> None:
    """Guards the fixture and compares like with like: the lock records the locations
    redacted, and both paths of `lock --check` find it fresh; a rotated password too."""
    text = lock_for(MANIFEST)
    assert "s3cret" not in text and "pw@" not in text and "tok-123" not in text, text
    for manifest in (MANIFEST, MANIFEST.replace("user:pw@", "user:rotated@")):
        args = _project(tmp_path, manifest, text)
        assert uptodate.answer(["-q", *args]) == 0
        assert cli_main(["-q", *args]) == 0


@pytest.mark.parametrize(("key", "old", "new"), LOCATION_EDITS)
def test_an_edited_location_is_stale_for_lock_check_and_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, old: str, new: str
) -> None:
    """Protects `lock --check`, `verify` and the export that follows the lock (drift.target_drift):
    an index URL, find-links location or conda channel edited in [target] passed, and
    `mlenv export` then printed the edited --index-url. The fast path leaves it to the full one."""
    text = lock_for(MANIFEST)
    assert old in text, text
    edited = text.replace(old, new, 1)
    args = _project(tmp_path, MANIFEST, edited)
    assert uptodate.answer(["-q", *args]) is None
    capsys.readouterr()
    assert cli_main(args) == 1
    err = capsys.readouterr().err
    assert f"target.{key}:" in err and "the lock was edited" in err, err
    verdict = verify(load_manifest(MANIFEST), lockfile_read.loads(edited), Path("l"), None, None)
    stale = [f for f in verdict.errors if f.code == "lock-stale"]
    assert stale and f"[target].{key} is" in stale[0].message, verdict.findings


def _other(value: object) -> Any:
    if isinstance(value, tuple):
        return (*value, "extra")
    return f"{value}.9" if value is not None else "12.6"


def test_every_field_of_the_target_from_the_manifest_is_compared() -> None:
    """Protects the invariant as a whole: each [target] field `mlenv lock` writes from the
    manifest (every field but the driver the entries set) drifts when edited alone."""
    made_from = lockfile_fresh.resolution_inputs(load_manifest(MANIFEST))
    target = lockfile_read.loads(lock_for(MANIFEST)).target
    assert target_drift(target, made_from) is None
    fields = [f for f in dataclasses.fields(LockTarget) if f.name.replace("_", "-") not in DERIVED]
    assert (
        len(fields) == 15
    )  # [pypi] sources made it 12, prerelease 13, constraints 14, overrides 15
    for field in fields:
        edited = dataclasses.replace(target, **{field.name: _other(getattr(target, field.name))})
        drift = target_drift(edited, made_from)
        assert drift is not None and drift[0] == field.name.replace("_", "-"), field.name


LOCATIONS = st.sampled_from(
    [
        "https://pypi.org/simple",
        "https://u:p@h.example/simple/",
        "https://h.example/s/?token=abc",
        "https://h.example/t/tok/simple",
        "https://h.example/a%20b/simple",
        "file:///srv/index/",
    ]
)
FIND_LINKS = st.sampled_from(
    ["wheels", "./wheels/", "/abs/dir/", "/abs/a b", "/abs/a?token=x", "https://u:w@h/l/", "w#1"]
)
CHANNELS = st.sampled_from(
    ["conda-forge", "https://u:p@c.example/t/tok/forge", "https://c.example/forge?token=x", "./ch"]
)


@settings(max_examples=40, deadline=None)
@example("https://pypi.org/simple", [], ["wheels", "./wheels/"], [])  # one directory, twice
@given(LOCATIONS, st.lists(LOCATIONS, max_size=2, unique=True),
       st.lists(FIND_LINKS, max_size=2, unique=True),
       st.lists(CHANNELS, max_size=2, unique=True))  # fmt: skip
def test_the_lock_writer_and_the_drift_check_spell_locations_alike(
    index: str, extra: list[str], links: list[str], channels: list[str]
) -> None:
    """Guards the other side: the [target] the lock writer records (locking.lock_target over
    the opened sources) never drifts from its own manifest, whatever secrets, slashes, escapes
    or relative directories its locations hold (two spellings of one directory were both
    recorded as the last)."""
    extra = [url for url in extra if url != index]
    manifest = load_manifest(
        '[environment]\nname = "e"\npython = "3.11"\n'
        f"[pypi]\nindex-url = {json.dumps(index)}\nextra-index-urls = {json.dumps(extra)}\n"
        f"find-links = {json.dumps(links)}\n"
        f"[conda]\nchannels = {json.dumps(channels)}\n"
    )
    sources = open_sources(manifest, HttpClient(), None, Path("/project"))
    head = lock_target(manifest, sources, None, None)
    assert target_drift(head, lockfile_fresh.resolution_inputs(manifest)) is None
    assert head == target_of(manifest)


# --- an entry's requires-driver: exactly what `mlenv lock` writes from the entry's own facts


TORCH = locked("torch", "2.6.0+cu124", "12.4")


def test_the_builder_records_the_driver_lock_writes() -> None:
    """Guards the fixtures: a +cu124 wheel is locked with its floor, a CPU wheel without."""
    assert TORCH.requires_driver == "550.54.14"
    assert locked("numpy", "2.4.6").requires_driver is None
    assert verify_lock(make_lock([TORCH]), HASH, None).ok


@pytest.mark.parametrize(
    ("entry", "recorded"),
    [
        (TORCH, None),  # deleted
        (TORCH, "999.0"),  # raised above any 12.4 release's driver
        (TORCH, "560.28.03"),  # the driver of another minor (12.6 GA)
        (locked("numpy", "2.4.6"), "550.54.14"),  # a CPU wheel given a floor
        (locked("cupy-cuda12x", "13.3.0"), "550.54.14"),  # a major-only build sets none
    ],
)
def test_an_entry_driver_deleted_raised_or_invented_fails_verify(
    entry: LockedPackage, recorded: str | None
) -> None:
    """Protects `verify` (entry_needs._recorded_driver): an entry's requires-driver was judged
    only when present and only from below, so deleting it, raising it past its CUDA minor or
    inventing one passed while the SBOM and `mlenv diff` showed it."""
    edited = dataclasses.replace(entry, requires_driver=recorded)
    verdict = verify_lock(make_lock([edited]), HASH, None)
    assert ("error", "lock-driver-mismatch", edited.name) in codes(verdict), verdict.findings


def test_an_update_release_driver_pinned_by_metadata_still_passes() -> None:
    """Guards the other side: METADATA may pin a 12.4 update, whose driver (550.54.15) is a
    floor `mlenv lock` writes; verify cannot re-read METADATA offline, so it accepts it."""
    raised = dataclasses.replace(TORCH, requires_driver="550.54.15")
    assert verify_lock(make_lock([raised]), HASH, None).ok


def test_the_lock_driver_deleted_from_the_target_fails_verify() -> None:
    """Protects `verify` (judge.verify_lock): [target].requires-driver, which `mlenv lock`
    writes for every CUDA target and the image's NVIDIA_REQUIRE_CUDA carries as driver>=, was
    judged only when present; deleted, the lock verified."""
    assert make_lock([TORCH]).target.requires_driver == "550.54.14"
    verdict = verify_lock(make_lock([TORCH], requires_driver=None), HASH, None)
    assert ("error", "lock-driver-mismatch", "") in codes(verdict), verdict.findings
    assert "records no requires-driver" in verdict.errors[0].message


def test_the_same_release_on_a_second_platform_is_judged_too() -> None:
    """Protects `verify` past its per-release memo: the second platform's entry of one
    release, edited, was never looked at."""
    lock = dataclasses.replace(make_lock([TORCH]), target=dataclasses.replace(
        make_lock([]).target, platforms=("linux-64", "linux-aarch64")))  # fmt: skip
    edited = dataclasses.replace(TORCH, requires_driver=None)
    two = lock.with_platforms(
        [LockedPlatform("linux-64", (TORCH,)), LockedPlatform("linux-aarch64", (edited,))]
    )
    assert ("error", "lock-driver-mismatch", "torch") in codes(verify_lock(two, HASH, None))


@pytest.mark.parametrize("recorded", [None, "560.35.03", "999.0"])
def test_a_conda_entry_driver_deleted_or_raised_fails_verify(recorded: str | None) -> None:
    """Protects `verify` for conda records, whose need it reads whole from the lock: the floor
    is recorded exactly, so deleting it or raising it (even to a 12.6 update's) is an edit."""
    record = conda_record("pytorch", build="cuda126_h0", cuda="12.6")
    assert record.requires_driver == "560.28.03"
    lock = make_lock([], "12.6", "560.28.03")
    assert verify_lock(lock.with_platforms([LockedPlatform("linux-64", (), (record,))]),
                       HASH, None).ok  # fmt: skip
    edited = dataclasses.replace(record, requires_driver=recorded)
    verdict = verify_lock(lock.with_platforms([LockedPlatform("linux-64", (), (edited,))]),
                          HASH, None)  # fmt: skip
    assert ("error", "lock-driver-mismatch", "pytorch") in codes(verdict), verdict.findings


# --- a conda record's own depends


def _conda_lock(*records: CondaRecord) -> Lock:
    target = LockTarget("3.11", "2.28", ("linux-64",), "first-index", (), (), (),
                        conda_requirements=("pytorch",))  # fmt: skip
    return Lock(HASH, target).with_platforms([LockedPlatform("linux-64", (), records)])


@pytest.mark.parametrize(
    ("depends", "kept", "missing"),
    [
        (("libgomp >=12",), (), "libgomp >=12"),
        (("conda-forge::libgomp", "__glibc >=2.17"), (), "conda-forge::libgomp"),
        (("libgomp >=12", "__glibc >=2.17", "__cuda"), ("libgomp",), None),  # virtual: no record
        (("LibGomp",), ("libgomp",), None),
    ],
)
def test_a_conda_record_another_depends_on_cannot_be_deleted(
    depends: tuple[str, ...], kept: tuple[str, ...], missing: str | None
) -> None:
    """Protects the lock reader (closure.unmet) for conda depends: deleting a record another
    record depends on passed `lock --check` and verify; virtual packages are no records."""
    others = (conda_record(name, sha256=f"{i:064x}") for i, name in enumerate(kept))
    lock = _conda_lock(conda_record("pytorch", depends=depends), *others)
    text = lockfile_render.render(lock)
    if missing is None:
        assert lockfile_render.render(lockfile_read.loads(text)) == text
        return
    with pytest.raises(LockError) as info:
        lockfile_read.loads(text, "p/mlenv.lock")
    found = [f"{p.where}: {p.message}" for p in info.value.problems]
    assert any(f"depends on {missing!r}, which has no conda record" in p for p in found), found
    assert any("conda[0] (pytorch 2.5.1)" in p for p in found), found


def test_a_deleted_conda_dependency_fails_lock_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Protects `lock --check` end to end: exit 1 naming the record and what it depends on."""
    manifest = MANIFEST.replace('"libgomp"', '"pytorch"')
    made = load_manifest(manifest)
    forge = "https://conda.internal/forge"  # the manifest's channel, as the lock records it
    whole = conda_closed(conda_record("pytorch", depends=("libgomp >=12",)))
    whole = tuple(
        dataclasses.replace(r, channel=forge, url=f"{forge}/linux-64/{r.filename}") for r in whole
    )
    assert [r.name for r in whole] == ["pytorch", "libgomp"]
    lib = locked("lib", "1.0", index=target_of(made).indexes[0])  # a source the manifest names
    for records, status in ((whole, 0), (whole[:1], 1)):
        lock = Lock(lockfile_fresh.inputs_hash(made), target_of(made)).with_platforms(
            [LockedPlatform("linux-64", (lib,), tuple(records))]
        )
        needed = verify_lock(lock, lock.inputs_hash, None).requires_driver  # as `lock` writes
        lock = dataclasses.replace(
            lock, target=dataclasses.replace(lock.target, requires_driver=needed)
        )
        args = _project(tmp_path, manifest, lockfile_render.render(lock))
        assert cli_main(["-q", *args]) == status
    assert "depends on 'libgomp >=12'" in capsys.readouterr().err


# --- the size an index declares

HELLO = canonicalize_name("hello")


def test_a_declared_size_of_zero_is_measured_not_locked(tmp_path: Path) -> None:
    """Protects `mlenv lock` (locking_facts.artifact_facts): a PEP 691 page's "size": 0 was written
    to the lock, which every verify then called artifact-no-size; now the file is measured."""
    filename, data = build_wheel("hello", "1.0")
    url = write_simple_index(tmp_path, [(filename, data)], json=True)
    page = tmp_path / "simple" / "hello" / "index.json"
    document = json.loads(page.read_text())
    for entry in document["files"]:
        entry["size"] = 0
    page.write_text(json.dumps(document))
    index = SimpleIndex(url, http=HttpClient())
    [file] = index.files(HELLO)
    facts = artifact_facts(index, [file], MemoryReporter())
    assert facts[file.url][1] == len(data)
    memory = MemoryIndex(wheels={filename: data})
    [held] = memory.files(HELLO)
    zero = dataclasses.replace(held, size=0)
    assert artifact_facts(memory, [zero], MemoryReporter())[held.url][1] == len(data)


def test_a_measured_file_must_hash_to_the_declared_sha256() -> None:
    """Protects `mlenv lock`: a file measured because its size was not declared replaced the
    index's sha256 by whatever it served; now that is an error naming the file and its URL."""
    filename, data = build_wheel("hello", "1.0")
    memory = MemoryIndex(wheels={filename: data})
    [held] = memory.files(HELLO)
    lying = dataclasses.replace(held, size=None, sha256="0" * 64)
    with pytest.raises(PackageIndexError) as info:
        artifact_facts(memory, [lying], MemoryReporter())
    assert filename in info.value.message and info.value.where == held.url, info.value
