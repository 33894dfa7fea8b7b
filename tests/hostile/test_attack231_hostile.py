"""Pass 35, attack 231: the relock rules of 227 and 228 (a kept yanked release, a locked file
name) attacked through the spellings of a file name.

Both rules compared file names as written. A wheel is its name, version, build and tags
(PEP 427), however its file name spells them: ``LIB-2.0-py3-none-any.whl``,
``lib-2.0.0-py3-none-any.whl`` and ``lib-2-py3-none-any.whl`` are ``lib-2.0-py3-none-any.whl``
to pip and uv. An index or mirror that served the locked wheel rebuilt under such a spelling had
its other bytes locked without a word; and a kept yanked release served with its very bytes
under another spelling was refused as "another file". And ``mlenv add`` of a locked package
took its rebuilt file as ``--upgrade-package`` does; either reported no change.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from mlenv.lockfile import Lock
from mlenv.locking_earlier import earlier_files, relock_error
from mlenv.resolver.model import ResolutionError
from mlenv.upgrade import Upgrade
from tests.support.cli import run_mlenv
from tests.support.locks import conda_record
from tests.support.relocks import LIB_2, WHEELS, lock_one, pins
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.hostile

LIB_2_AGAIN = build_wheel("lib", "2.0", files={"lib/x.py": b"changed"})[1]
SPELLINGS = [
    "LIB-2.0-py3-none-any.whl",
    "Lib-2.0-py3-none-any.whl",
    "lib-2.0.0-py3-none-any.whl",
    "lib-2-py3-none-any.whl",
]


def _serving(filename: str, data: bytes) -> dict[str, bytes]:
    """The index's wheels with lib 2.0 served only as ``filename``, holding ``data``."""
    return {**{k: v for k, v in WHEELS.items() if k != LIB_2}, filename: data}


def _file(lock: Lock) -> tuple[str, str]:
    (entry,) = [p for _, p in lock.packages() if p.name == "lib"]
    return entry.filename, entry.sha256


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_locked_wheel_rebuilt_under_another_spelling_is_refused(spelling: str) -> None:
    """The refusal names the file served, the spelling the lock pinned, and both digests."""
    earlier = lock_one("lib<3", {})
    was, now = _file(earlier)[1], hashlib.sha256(LIB_2_AGAIN).hexdigest()
    with pytest.raises(ResolutionError) as refused:
        lock_one("lib<3", {}, earlier, wheels=_serving(spelling, LIB_2_AGAIN))
    said = str(refused.value)
    assert f"lib: {spelling} is served with sha256 {now}" in said
    assert f"pinned that file as {LIB_2} with sha256 {was} (linux-64)" in said
    assert refused.value.where == "lib (linux-64)"


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_upgrade_package_takes_the_respelt_rebuild(spelling: str) -> None:
    earlier = lock_one("lib<3", {})
    moved = lock_one(
        "lib<3", {}, earlier, Upgrade.of(False, ["lib"]), wheels=_serving(spelling, LIB_2_AGAIN)
    )
    assert _file(moved) == (spelling, hashlib.sha256(LIB_2_AGAIN).hexdigest())


@pytest.mark.parametrize("yanked", [False, True], ids=["listed", "yanked"])
def test_the_same_bytes_under_another_spelling_are_the_same_file(yanked: bool) -> None:
    """The very bytes the lock pinned, now listed as ``LIB-2.0-...``: no rule is broken, the
    kept yanked release included (it is the file the lock pinned)."""
    spelling = SPELLINGS[0]
    earlier = lock_one("lib<3", {})
    again = lock_one(
        "lib<3",
        {spelling: "bad build"} if yanked else {},
        earlier,
        wheels=_serving(spelling, WHEELS[LIB_2]),
    )
    assert pins(again) == {"lib": "2.0"}
    assert _file(again) == (spelling, _file(earlier)[1])


def test_a_wheel_with_other_tags_is_another_file() -> None:
    """A tag set the lock did not pin (``py2.py3``) is another wheel of the release: its bytes
    are its own, as a second platform's wheel's are."""
    earlier = lock_one("lib<3", {})
    other = "lib-2.0-py2.py3-none-any.whl"
    again = lock_one("lib<3", {}, earlier, wheels=_serving(other, LIB_2_AGAIN))
    assert _file(again) == (other, hashlib.sha256(LIB_2_AGAIN).hexdigest())


def test_add_of_a_locked_package_takes_no_rebuild_of_its_file(tmp_path: Path) -> None:
    """``mlenv add`` moves the names it edits so their pins fit the edit; it took the rebuilt
        lib 2.0 with it (reported "0 change(s)"). Now it is refused as a relock is, writing
        neither file, and ``lock -P lib`` is the way to the new bytes, reported as a change (it
    said "0 change(s)" too)."""
    project = tmp_path / "p"
    (project / "wheels").mkdir(parents=True)
    for name in (LIB_2, "app-1.0-py3-none-any.whl"):
        (project / "wheels" / name).write_bytes(WHEELS[name])
    manifest = project / "mlenv.toml"
    manifest.write_text(
        '[environment]\nname = "x"\npython = "3.12"\n[pypi]\n'
        'index-url = "file:///nonexistent-mlenv-index/simple"\nfind-links = ["wheels"]\n'
        'dependencies = ["app"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["lock"], project, env).returncode == 0
    before = (manifest.read_text(), (project / "mlenv.lock").read_text())
    (project / "wheels" / LIB_2).write_bytes(LIB_2_AGAIN)
    added = run_mlenv(["add", "lib>=2"], project, env)
    assert added.returncode == 1
    assert f"error: lib (linux-64): lib: {LIB_2} is served with sha256" in added.stderr
    assert "Traceback" not in added.stderr
    assert (manifest.read_text(), (project / "mlenv.lock").read_text()) == before
    moved = run_mlenv(["lock", "-P", "lib"], project, env)
    assert moved.returncode == 0, moved.stderr
    was, now = (hashlib.sha256(data).hexdigest() for data in (WHEELS[LIB_2], LIB_2_AGAIN))
    assert f"~ lib 2.0 (sha256 {was}) -> 2.0 (sha256 {now}) (linux-64)" in moved.stderr
    assert "1 change(s)" in moved.stderr
    assert run_mlenv(["add", "lib>=2"], project, env).returncode == 0
    assert hashlib.sha256(LIB_2_AGAIN).hexdigest() in (project / "mlenv.lock").read_text()


def test_a_conda_build_in_the_other_format_is_another_file() -> None:
    """A channel's ``.conda`` and ``.tar.bz2`` of one build are two files with their own
    bytes: a relock moving from one to the other breaks no rule (no wheel spelling joins
    them)."""
    lock = lock_one("lib<3", {})
    bz2 = conda_record("numpy", "2.1.0", "py312h0", sha256="a" * 64)
    bz2 = replace(bz2, filename=bz2.filename.replace(".conda", ".tar.bz2"))
    earlier = lock.with_platforms([replace(lock.platform("linux-64"), conda=(bz2,))])
    files = earlier_files(earlier, False, frozenset())
    conda = replace(bz2, filename="numpy-2.1.0-py312h0.conda", sha256="b" * 64)
    assert relock_error(files, {}, (), {}, {"linux-64": (conda,)}) is None
    rebuilt = replace(bz2, sha256="b" * 64)
    assert isinstance(relock_error(files, {}, (), {}, {"linux-64": (rebuilt,)}), ResolutionError)
