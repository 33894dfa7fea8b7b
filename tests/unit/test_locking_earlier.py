"""The relock rules of ``locking_earlier`` on in-memory values: the pins a relock keeps, the
bytes of each file name the earlier lock pinned, a kept yanked release held to its file, and
what is said of each yanked pin (whole locks test them through ``lock_manifest`` too)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from mlenv.index import MemoryIndex
from mlenv.lockfile import Lock, LockedPackage, LockedPlatform
from mlenv.locking import lock_manifest
from mlenv.locking_earlier import Artifact, earlier_files, kept_pins, relock_error, yank_warnings
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.resolver.model import Pin, Resolution, to_req
from mlenv.resolver.pypi_rules import OptIns
from mlenv.target import Target
from mlenv.upgrade import Upgrade
from tests.support.index_files import plain_wheel_file
from tests.support.locks import conda_record
from tests.support.relocks import LIB_2, WHEELS, lock_one

LIB = canonicalize_name("lib")
OLD, NEW = "a" * 64, "b" * 64
URL = "https://files.example/lib-2.0-py3-none-any.whl"
NO_OPT_INS = OptIns.of((), {})
NOTHING_KEPT: dict[str, dict[NormalizedName, LockedPackage]] = {"linux-64": {}}


def _entry(filename: str = LIB_2, sha256: str = OLD, version: str = "2.0") -> LockedPackage:
    return LockedPackage("lib", version, filename, URL, sha256, 10, "https://a.example/simple")


def _earlier(*entries: LockedPackage, platforms: tuple[str, ...] = ("linux-64",)) -> Lock:
    """A lock of ``entries`` on each of ``platforms`` (its target made by a real lock)."""
    lock = lock_one("lib<3", {}, platforms=platforms)
    return lock.with_platforms([LockedPlatform(p, entries) for p in platforms])


def _resolution(
    filename: str = LIB_2,
    yanked: str | None = None,
    opt_ins: OptIns = NO_OPT_INS,
    platform: str = "linux-64",
) -> Resolution:
    file = replace(
        plain_wheel_file("lib", URL, "https://a.example/simple"),
        filename=filename,
        version=Version("2.0"),
        yanked=yanked,
    )
    pin = Pin(LIB, Version("2.0"), file, ())
    return Resolution(Target(platform, "3.12", "2.28"), (pin,), opt_ins)


def _served(sha256: str) -> dict[str, tuple[str, int]]:
    return {URL: (sha256, 10)}


def test_kept_pins_leave_out_what_an_upgrade_moves() -> None:
    earlier = _earlier(_entry())
    assert kept_pins(earlier, "linux-64", False, frozenset()) == {LIB: _entry()}
    assert kept_pins(earlier, "linux-64", False, frozenset({LIB})) == {}
    assert kept_pins(earlier, "linux-64", True, frozenset()) == {}
    assert kept_pins(earlier, "linux-aarch64", False, frozenset()) == {}
    assert kept_pins(None, "linux-64", False, frozenset()) == {}


def test_earlier_files_are_keyed_once_by_what_makes_them_one_file() -> None:
    """Each recorded file once, under the key the byte rule looks a served file up by: a
    respelt wheel name finds it, and every platform that pinned it is listed."""
    earlier = _earlier(_entry(), platforms=("linux-64", "linux-aarch64"))
    files = earlier_files(earlier, False, frozenset())
    respelt = Artifact("linux-64", "LIB", "LIB-2.0.0-py3-none-any.whl", NEW)
    assert [a.platform for a in files[respelt.same_file()]] == ["linux-64", "linux-aarch64"]
    assert earlier_files(earlier, False, frozenset({LIB})) == {}


def test_a_respelt_file_with_other_bytes_names_the_spelling_the_lock_pinned() -> None:
    files = earlier_files(_earlier(_entry()), False, frozenset())
    respelt = _resolution("LIB-2.0-py3-none-any.whl")
    assert relock_error(files, NOTHING_KEPT, [respelt], _served(OLD), {}) is None
    error = relock_error(files, NOTHING_KEPT, [respelt], _served(NEW), {})
    assert error is not None
    assert error.message.startswith(
        f"lib: LIB-2.0-py3-none-any.whl is served with sha256 {NEW}, but the earlier lock "
        f"pinned that file as {LIB_2} with sha256 {OLD} (linux-64)"
    )
    assert error.where == "lib (linux-64)"


def test_a_kept_yanked_release_is_said_as_yanked_before_any_other_file() -> None:
    """The yank's own message comes first, even after a conda file whose bytes changed, and
    for its own bytes changed (the byte rule would name them too)."""
    record = conda_record("numpy", sha256=OLD)
    earlier = _earlier(_entry()).with_platforms(
        [LockedPlatform("linux-64", (_entry(),), (record,))]
    )
    files = earlier_files(earlier, False, frozenset())
    kept = {"linux-64": kept_pins(earlier, "linux-64", False, frozenset())}
    yanked = _resolution(yanked="bad build")
    rebuilt = {"linux-64": (replace(record, sha256=NEW),)}
    error = relock_error(files, kept, [yanked], _served(NEW), rebuilt)
    assert error is not None and error.message.startswith("lib 2.0 is yanked, and the index now ")
    assert error.hint is not None and error.hint.endswith("ask the index why its bytes changed")
    error = relock_error(files, kept, [yanked], _served(OLD), rebuilt)
    assert error is not None and error.message.startswith(f"numpy: {record.filename} is served")


def test_a_kept_yanked_release_served_as_another_file_is_refused() -> None:
    """Another wheel of the release (other tags) has no earlier bytes to differ from: only the
    yank rule refuses it."""
    earlier = _earlier(_entry())
    files = earlier_files(earlier, False, frozenset())
    kept = {"linux-64": kept_pins(earlier, "linux-64", False, frozenset())}
    other = _resolution("lib-2.0-py2.py3-none-any.whl", yanked="")
    error = relock_error(files, kept, [other], _served(NEW), {})
    assert error is not None and "a yanked release is kept only as the file" in str(error)
    assert error.hint is not None and error.hint.endswith("picks another of its wheels")
    assert relock_error(files, kept, [replace(other, pins=())], _served(NEW), {}) is None
    assert relock_error(files, {"linux-64": {}}, [other], _served(NEW), {}) is None


@given(
    st.lists(st.sampled_from([OLD, NEW]), min_size=1, max_size=3),
    st.sampled_from([OLD, NEW]),
)
def test_any_file_the_earlier_lock_pinned_with_other_bytes_is_refused(
    was: list[str], now: str
) -> None:
    """Whatever the earlier platforms recorded under the name, the relock passes exactly when
    each of them recorded the bytes served now."""
    platforms = tuple(f"p{i}" for i in range(len(was)))
    recorded = [Artifact(p, "lib", LIB_2, sha) for p, sha in zip(platforms, was, strict=True)]
    files = {recorded[0].same_file(): recorded}
    error = relock_error(files, NOTHING_KEPT, [_resolution()], _served(now), {})
    assert (error is None) == all(sha == now for sha in was)


def test_yank_warnings_say_who_opted_in() -> None:
    kept = OptIns.of((), {LIB: Version("2.0")})
    assert yank_warnings([_resolution(yanked="bad build", opt_ins=kept)]) == [
        "lib 2.0 (linux-64) is yanked: bad build; locked only because the earlier lock pins it "
        "(--upgrade-package lib moves it)"
    ]
    pinned = OptIns.of([to_req(Requirement("lib==2.0"))], {LIB: Version("2.0")})
    assert yank_warnings([_resolution(yanked="", opt_ins=pinned)]) == [
        "lib 2.0 (linux-64) is yanked; locked only because an == pin names it"
    ]
    assert yank_warnings([_resolution()]) == []


def test_an_overridden_exact_pin_does_not_keep_a_yanked_release() -> None:
    """``lib==2.0`` replaced by the override ``lib>=2`` opts into nothing: the earlier lock
    keeps lib 2.0, yanked since, and ``--upgrade-package lib`` moves it (it said "an == pin
    names it", read from the manifest's requirements before the override replaced them)."""
    manifest = loads(
        '[environment]\nname = "x"\npython = "3.12"\nplatforms = ["linux-64"]\n'
        '[pypi]\nindex-url = "https://a.invalid/simple"\ndependencies = ["lib==2.0"]\n'
        'overrides = ["lib>=2"]\n'
    )

    def lock(
        yanked: dict[str, str],
        previous: Lock | None,
        reporter: MemoryReporter,
        wheels: dict[str, bytes],
        upgrade: Upgrade | None = None,
    ) -> Lock:
        index = MemoryIndex("memory://a", wheels, yanked=yanked)
        sources = Sources(index, ("memory://a",), ())
        return lock_manifest(
            manifest, sources, reporter=reporter, previous=previous, upgrade=upgrade
        )

    before = {k: v for k, v in WHEELS.items() if not k.startswith("lib-3.0")}
    earlier = lock({}, None, MemoryReporter(), before)
    assert [p.version for _, p in earlier.packages()] == ["2.0"]
    reporter = MemoryReporter()
    again = lock({LIB_2: ""}, earlier, reporter, WHEELS)
    assert [p.version for _, p in again.packages()] == ["2.0"]
    assert reporter.messages("warning") == [
        "lib 2.0 (linux-64) is yanked; locked only because the earlier lock pins it "
        "(--upgrade-package lib moves it)"
    ]
    moved = lock({LIB_2: ""}, earlier, MemoryReporter(), WHEELS, Upgrade.of(False, ["lib"]))
    assert [p.version for _, p in moved.packages()] == ["3.0"]


def test_a_conda_upgrade_frees_only_the_files_of_that_conda_name() -> None:
    """Before (a review of attack 240): the earlier conda files were freed by PyPI names, so
    ``-P typing_extensions`` let conda-forge's ``typing-extensions``, another package the
    solve held, take other bytes under its pinned file name."""
    dash, under = conda_record("typing-extensions"), conda_record("typing_extensions")
    lock = lock_one("lib<3", {})
    earlier = lock.with_platforms([replace(lock.platform("linux-64"), conda=(dash, under))])
    upgrade = Upgrade.of(False, ["typing_extensions"])
    files = earlier_files(earlier, False, upgrade.packages, upgrade.conda)
    conda_files = [a.package for found in files.values() for a in found if a.source]
    assert conda_files == ["typing-extensions"]


def test_a_conda_file_respelt_in_case_is_the_file_the_lock_pinned() -> None:
    """A last adversary: a conda file's key was its name as written, so ``Numpy-...`` served
    with other bytes was another file and passed; conda folds names' case."""
    pinned = Artifact.conda("linux-64", conda_record("numpy", "1.26.4", "py311h0_0"))
    respelt = replace(pinned, filename=pinned.filename.replace("numpy", "Numpy"), sha256=NEW)
    assert respelt.same_file() == pinned.same_file()
