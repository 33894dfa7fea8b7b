"""Twenty-fifth adversary pass: a lock edited by hand where its inputs hash cannot see it. The
hash covers the manifest, not the lock's own [target] table nor the entries below it, so an
edited CUDA target (which the image then promises in NVIDIA_REQUIRE_CUDA), a dropped
requirement or a deleted entry passed `lock --check`, `lock` and `verify` as fresh. Each test
names what it protects and fails if the check that catches it is taken out."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv import cli, lockfile, uptodate
from mlenv.commands.verify import verify
from mlenv.manifest import loads as load_manifest
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
    ("requirements", 'requirements = ["lib"]', 'requirements = ["lib", "evil"]'),
    ("conda-requirements", 'conda-requirements = ["libgomp"]', 'conda-requirements = ["x"]'),
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
    assert cli.main(["-q", *args]) == 0


@pytest.mark.parametrize(("key", "old", "new"), TARGET_EDITS)
def test_an_edited_target_is_stale_for_lock_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, old: str, new: str
) -> None:
    """Protects `lock --check` and `lock` (lockfile.target_drift): a [target] value the lock
    records from the manifest, edited under an unchanged inputs hash, is stale (exit 1, naming
    target.KEY); the fast path leaves it to the full reader."""
    text = lock_for(MANIFEST)
    assert old in text
    args = _project(tmp_path, text.replace(old, new, 1))
    assert uptodate.answer(["-q", *args]) is None
    capsys.readouterr()
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert f"target.{key}:" in err and "the lock was edited" in err, err


@pytest.mark.parametrize(("key", "old", "new"), TARGET_EDITS)
def test_an_edited_target_is_an_error_for_verify(key: str, old: str, new: str) -> None:
    """Protects `verify` (commands.verify.verify): it judges CUDA by the lock's [target], so an
    edited one is a lock-stale error naming the key, not a verdict on a target nobody asked for."""
    manifest = load_manifest(MANIFEST)
    lock = lockfile.loads(lock_for(MANIFEST).replace(old, new, 1))
    verdict = verify(manifest, lock, Path("mlenv.lock"), None, None)
    stale = [f for f in verdict.errors if f.code == "lock-stale"]
    assert stale and f"[target].{key} is" in stale[0].message, verdict.findings
