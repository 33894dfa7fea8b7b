"""Pass 35, attack 228: a relock recorded whatever bytes the index now served under a file
name the earlier lock pinned.

PyPI never lets a file name be used twice, so ``lib-2.0-py3-none-any.whl`` served with other
bytes than the lock pinned means an index, mirror or find-links directory rebuilt or tampered
with. ``mlenv lock`` over the earlier lock wrote the new sha256 without a word (only a yanked
release was held to its file, attack 227); Cargo refuses the same change to a Cargo.lock. Now
every pin whose file name the earlier lock recorded for that package, on any platform, must
be the same sha256, or the relock is refused; ``--upgrade-package`` and ``--upgrade`` take
the new bytes.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from pathlib import Path

import pytest

from mlenv.lockfile import Lock
from mlenv.locking_earlier import Artifact, earlier_files, relock_error
from mlenv.resolver.model import ResolutionError
from mlenv.upgrade import Upgrade
from tests.support.cli import run_mlenv
from tests.support.locks import conda_record
from tests.support.relocks import LIB_2, LIB_3, WHEELS, lock_one, pins
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.hostile

LIB_2_AGAIN = build_wheel("lib", "2.0", files={"lib/x.py": b"changed"})[1]
LIB_3_AGAIN = build_wheel("lib", "3.0", files={"lib/x.py": b"changed"})[1]


def _sha(lock: Lock, name: str, platform: str = "linux-64") -> str:
    (entry,) = [p for p in lock.platform(platform).packages if p.name == name]
    return entry.sha256


def _refused(*args: object, **kw: object) -> ResolutionError:
    with pytest.raises(ResolutionError) as refused:
        lock_one(*args, **kw)  # type: ignore[arg-type]
    return refused.value


def test_a_rebuilt_file_under_a_locked_name_is_refused() -> None:
    """lib 2.0, not yanked, served again with other bytes: the error names the package, the
    file, both sha256s and the way to take the new bytes."""
    earlier = lock_one("lib<3", {})
    was, now = _sha(earlier, "lib"), hashlib.sha256(LIB_2_AGAIN).hexdigest()
    error = _refused("lib<3", {}, earlier, wheels={**WHEELS, LIB_2: LIB_2_AGAIN})
    said = str(error)
    assert f"lib: {LIB_2} is served with sha256 {now}" in said
    assert f"earlier lock pinned that file with sha256 {was} (linux-64)" in said
    assert error.where == "lib (linux-64)"
    assert error.hint is not None and "`mlenv lock --upgrade-package lib` takes the bytes" in (
        error.hint
    )


@pytest.mark.parametrize(
    "upgrade", [Upgrade.of(False, ["lib"]), Upgrade.of(True, [])], ids=["-P lib", "--upgrade"]
)
def test_upgrade_takes_the_bytes_the_index_serves_now(upgrade: Upgrade) -> None:
    earlier = lock_one("lib<3", {})
    again = lock_one("lib<3", {}, earlier, upgrade, wheels={**WHEELS, LIB_2: LIB_2_AGAIN})
    assert _sha(again, "lib") == hashlib.sha256(LIB_2_AGAIN).hexdigest() != _sha(earlier, "lib")


def test_the_same_size_with_other_bytes_is_refused() -> None:
    """The rule is the sha256: a rebuild of the very same size (one byte changed) is no
    pass. (The same sha256 with another size cannot happen; the size follows the bytes.)"""
    built = WHEELS[LIB_2]
    assert built.endswith(b"\x00\x00")  # the zip's comment length: none
    one, other = (built[:-2] + b"\x01\x00" + comment for comment in (b"a", b"b"))
    assert len(one) == len(other) and one != other
    earlier = lock_one("lib<3", {}, wheels={**WHEELS, LIB_2: one})
    error = _refused("lib<3", {}, earlier, wheels={**WHEELS, LIB_2: other})
    assert hashlib.sha256(other).hexdigest() in str(error)
    assert pins(lock_one("lib<3", {}, earlier, wheels={**WHEELS, LIB_2: one})) == {"lib": "2.0"}


def test_a_dependency_rebuilt_is_refused_and_moving_its_dependent_does_not_take_it() -> None:
    """lib is app's dependency, not the manifest's: its earlier file still binds; -P app
    moves app only, -P lib takes lib's new bytes."""
    earlier = lock_one("app", {})
    assert pins(earlier) == {"app": "1.0", "lib": "3.0"}
    rebuilt = {**WHEELS, LIB_3: LIB_3_AGAIN}
    assert "lib: lib-3.0-py3-none-any.whl" in str(_refused("app", {}, earlier, wheels=rebuilt))
    assert (
        _refused("app", {}, earlier, Upgrade.of(False, ["app"]), wheels=rebuilt).where
        == "lib (linux-64)"
    )
    moved = lock_one("app", {}, earlier, Upgrade.of(False, ["lib"]), wheels=rebuilt)
    assert _sha(moved, "lib") == hashlib.sha256(LIB_3_AGAIN).hexdigest()


def test_an_earlier_file_the_relock_does_not_pin_is_ignored() -> None:
    """The rule is about the files the relock pins: the earlier lock's lib 3.0, rebuilt since,
    binds nothing once the manifest asks for lib<3 (another file)."""
    earlier = lock_one("app", {})
    again = lock_one("lib<3", {}, earlier, wheels={**WHEELS, LIB_3: LIB_3_AGAIN})
    assert pins(again) == {"lib": "2.0"}


_TWO = ("linux-64", "linux-aarch64")
_NATIVE = {
    platform: build_wheel("native", "1.0", tag=f"cp312-cp312-manylinux_2_17_{arch}")
    for platform, arch in (("linux-64", "x86_64"), ("linux-aarch64", "aarch64"))
}


def test_a_file_swapped_for_one_of_two_platforms_is_refused_for_that_platform() -> None:
    wheels = {**WHEELS, **dict(_NATIVE.values())}
    earlier = lock_one("native", {}, wheels=wheels, platforms=_TWO)
    name, _ = _NATIVE["linux-aarch64"]
    swapped = build_wheel(
        "native", "1.0", tag="cp312-cp312-manylinux_2_17_aarch64", files={"n.py": b"x"}
    )[1]
    error = _refused("native", {}, earlier, wheels={**wheels, name: swapped}, platforms=_TWO)
    assert error.where == "native (linux-aarch64)"
    assert f"{name} is served" in str(error)
    assert _sha(earlier, "native", "linux-aarch64") in str(error)


def test_a_file_locked_for_two_platforms_binds_on_each() -> None:
    """One py3-none-any file pinned for both platforms; a relock for aarch64 alone still
    holds it to the sha256 the earlier lock recorded (for either platform)."""
    earlier = lock_one("lib<3", {}, platforms=_TWO)
    assert _sha(earlier, "lib", "linux-64") == _sha(earlier, "lib", "linux-aarch64")
    rebuilt = {**WHEELS, LIB_2: LIB_2_AGAIN}
    for platforms in (_TWO, ("linux-aarch64",)):
        assert LIB_2 in str(_refused("lib<3", {}, earlier, wheels=rebuilt, platforms=platforms))


def test_the_refusal_names_no_credential_of_the_index() -> None:
    index = "https://alice:s3cret-token@a.invalid/simple"
    earlier = lock_one("lib<3", {}, index_url=index)
    error = _refused("lib<3", {}, earlier, wheels={**WHEELS, LIB_2: LIB_2_AGAIN}, index_url=index)
    assert LIB_2 in str(error)
    assert all("s3cret" not in text for text in (str(error), error.where, error.hint or ""))


def test_a_conda_file_under_a_locked_name_is_held_to_its_sha256() -> None:
    """Conda packages answer to the same rule (their lock records each file's sha256), in the
    same place; here without a solve: the locked record against what a channel serves."""
    lock = lock_one("lib<3", {})
    record = conda_record("numpy", "2.1.0", "py312h0", sha256="a" * 64)
    earlier = lock.with_platforms([replace(lock.platform("linux-64"), conda=(record,))])
    files = earlier_files(earlier, False, frozenset())
    assert relock_error(files, {}, (), {}, {"linux-64": (record,)}) is None
    served = replace(record, sha256="b" * 64)
    refused = relock_error(files, {}, (), {}, {"linux-64": (served,)})
    assert refused is not None
    assert f"numpy: {record.filename} is served with sha256 {'b' * 64}" in str(refused)
    lib = Artifact("linux-64", "lib", LIB_2, _sha(lock, "lib"))
    moves = Upgrade.of(False, ["numpy"])  # -P numpy: the PyPI name and the conda one
    assert earlier_files(earlier, False, moves.packages, moves.conda) == {lib.same_file(): [lib]}


def test_a_conda_file_of_another_channel_is_another_file() -> None:
    """A conda file is named within its channel and subdir: two channels may build
    ``purepkg-1.0-0`` apart (attack 153's edited lock points at another directory ``chan``),
    so a relock that takes the manifest's channel's file is held to nothing the other
    channel's bytes said; the same channel's file still is."""
    lock = lock_one("lib<3", {})
    record = conda_record("numpy", "2.1.0", "py312h0", sha256="a" * 64)
    earlier = lock.with_platforms([replace(lock.platform("linux-64"), conda=(record,))])
    files = earlier_files(earlier, False, frozenset())
    other = replace(record, channel="file:///srv/elsewhere/chan", sha256="b" * 64)
    assert Artifact.conda("linux-64", other).source != Artifact.conda("linux-64", record).source
    assert relock_error(files, {}, (), {}, {"linux-64": (other,)}) is None
    assert earlier_files(earlier, True, frozenset()) == {}


def test_a_find_links_directory_rebuilt_is_refused_by_the_cli_and_no_memo_answers(
    tmp_path: Path,
) -> None:
    """The real command over a find-links directory: the first lock (kept by the lock memo),
    a relock for another manifest, the wheel rebuilt under its name, then the first manifest
    again, whose memo key matches. The memo answers only a first lock (no lock there): with
    one there, the relock holds the file to its bytes."""
    project = tmp_path / "p"
    (project / "wheels").mkdir(parents=True)
    for name in (LIB_2, "app-1.0-py3-none-any.whl"):
        (project / "wheels" / name).write_bytes(WHEELS[name])
    head = (
        '[environment]\nname = "x"\npython = "3.12"\n[pypi]\n'
        'index-url = "file:///nonexistent-mlenv-index/simple"\nfind-links = ["wheels"]\n'
    )
    manifest = project / "mlenv.toml"
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    for text in ('dependencies = ["lib"]\n', 'dependencies = ["app"]\n'):
        manifest.write_text(head + text)
        time.sleep(0.05)  # past a clock tick: the memo vouches only for files it can stamp
        done = run_mlenv(["lock"], project, env)
        assert done.returncode == 0, done.stderr
    locked = (project / "mlenv.lock").read_text()
    assert hashlib.sha256(WHEELS[LIB_2]).hexdigest() in locked
    (project / "wheels" / LIB_2).write_bytes(LIB_2_AGAIN)
    manifest.write_text(head + 'dependencies = ["lib"]\n')
    time.sleep(0.05)
    again = run_mlenv(["lock"], project, env)
    assert again.returncode != 0
    assert f"lib: {LIB_2} is served with sha256" in again.stderr, again.stderr
    assert (project / "mlenv.lock").read_text() == locked
    moved = run_mlenv(["lock", "--upgrade-package", "lib"], project, env)
    assert moved.returncode == 0, moved.stderr
    assert hashlib.sha256(LIB_2_AGAIN).hexdigest() in (project / "mlenv.lock").read_text()
