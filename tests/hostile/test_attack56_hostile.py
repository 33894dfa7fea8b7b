"""Attack pass 56: a lock edited to fetch a conda package from a channel the manifest does not
name (the record's ``channel`` and ``url`` were never compared with [conda] channels), and
what an index or mirror answers to a resumed or redirected download. Each test names what it
protects and fails if its fix is undone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mlenv import lockfile
from mlenv.drift import lock_drift
from mlenv.errors import MlenvError, ProblemsError
from mlenv.lockfile import Lock, LockedPlatform
from mlenv.manifest import loads as load_manifest
from tests.support.cli import run_mlenv
from tests.support.locks import conda_record, target_of

pytestmark = pytest.mark.hostile

FORGE = "https://conda.anaconda.org/conda-forge"
MANIFEST = (
    '[environment]\nname = "e"\npython = "3.11"\nplatforms = ["linux-64"]\n[pypi]\n'
    '[conda]\nchannels = ["conda-forge"]\ndependencies = ["libgomp"]\n'
)


def _lock_text(manifest: str, **edit: str) -> str:
    """A lock of ``manifest`` holding one conda-forge record of libgomp, edited by ``edit``."""
    made = load_manifest(manifest)
    record = conda_record("libgomp", "14.2.0", "h0")
    record = replace(record, channel=edit.get("channel", record.channel), url=edit["url"])
    lock = Lock(lockfile.inputs_hash(made), target_of(made)).with_platforms(
        [LockedPlatform("linux-64", (), (record,))]
    )
    return lockfile.render(lock)


OTHER = "https://evil.example/conda-forge"
FILE = "libgomp-14.2.0-h0.conda"
EDITS = [
    # the channel and its URL both moved to a host the manifest does not name
    ({"channel": OTHER, "url": f"{OTHER}/linux-64/{FILE}"}, ".channel", "the lock was edited"),
    # another channel of the same alias: conda-forge is named, pytorch is not
    (
        {"channel": "https://conda.anaconda.org/pytorch",
         "url": f"https://conda.anaconda.org/pytorch/linux-64/{FILE}"},
        ".channel", "the lock was edited",
    ),
    # the channel left alone, the URL moved: fetch reads the URL
    ({"url": f"{OTHER}/linux-64/{FILE}"}, "conda[0] (libgomp 14.2.0)", "is not below"),
    ({"url": f"{FORGE}/linux-64/../../pytorch/linux-64/{FILE}"}, "conda[0]", "is not below"),
    ({"url": f"{FORGE}/noarch/{FILE}"}, "conda[0]", "is not below"),
    ({"url": f"{FORGE}/linux-64/{FILE}?x=1"}, "conda[0]", "is not below"),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "where", "why"), EDITS)
def test_a_conda_record_from_a_channel_the_manifest_does_not_name_is_refused(
    tmp_path: Path, edit: dict[str, str], where: str, why: str
) -> None:
    """``drift.conda_channel_drift`` holds each record's ``channel`` to [target].conda-channels
    (which ``target_drift`` holds to the manifest's) and ``lockfile._conda_problems`` holds its
    ``url`` to ``<channel>/<subdir>/<file>``: before, a lock edited to fetch libgomp from
    evil.example passed `lock --check` and `verify`, and `fetch` downloaded it."""
    (tmp_path / "mlenv.toml").write_text(MANIFEST)
    (tmp_path / "mlenv.lock").write_text(_lock_text(MANIFEST, **edit))
    for args in (["lock", "--check"], ["verify"], ["fetch"]):
        result = run_mlenv(args, cwd=tmp_path)
        shown = result.stdout + result.stderr
        assert result.returncode == 1, (args, shown)
        assert "mlenv.lock" in shown and where in shown and why in shown, (args, shown)
        assert "Traceback" not in shown, shown


@pytest.mark.parametrize(
    ("channel", "locked"),
    [
        ("conda-forge", FORGE),
        ("conda-forge/", FORGE),
        ("https://conda.anaconda.org/conda-forge/", FORGE),
        ("https://u:p@conda.internal/t/tok-1/forge", "https://conda.internal/forge"),
        ("/srv/my channel", "file:///srv/my%20channel"),
        ("./channel", "file:///home/me/project/channel"),
        ("../shared/channel", "file:///home/me/shared/channel"),
    ],
)
def test_a_record_from_the_manifests_channel_is_fresh(channel: str, locked: str) -> None:
    """The rule takes each spelling the solver records for a channel the manifest names: a
    name below anaconda.org's alias, a URL without its credentials, a directory as its file:
    URL (a relative one from wherever lock ran)."""
    manifest = MANIFEST.replace('"conda-forge"', f'"{channel}"')
    made = load_manifest(manifest)
    record = conda_record("libgomp", "14.2.0", "h0")
    record = replace(record, channel=locked, url=f"{locked}/linux-64/{record.filename}")
    lock = Lock(lockfile.inputs_hash(made), target_of(made)).with_platforms(
        [LockedPlatform("linux-64", (), (record,))]
    )
    loaded = lockfile.loads(lockfile.render(lock))
    assert lock_drift(loaded, lockfile.resolution_inputs(made)) is None
    moved = replace(record, channel="file:///elsewhere", url=f"file:///elsewhere/linux-64/{FILE}")
    drift = lock_drift(replace(loaded, platforms=(LockedPlatform("linux-64", (), (moved,)),)),
                       lockfile.resolution_inputs(made))  # fmt: skip
    assert drift is not None and drift[0].endswith("conda[0] (libgomp 14.2.0).channel"), drift


def test_a_url_outside_its_channel_is_refused_by_the_reader() -> None:
    """The reader names the file, the entry and the URL (``lock`` reads back what it writes,
    so no solver answer of another layout can be written either)."""
    text = _lock_text(MANIFEST, url=f"{OTHER}/linux-64/{FILE}")
    with pytest.raises(MlenvError) as caught:
        lockfile.loads(text, "p/mlenv.lock")
    assert isinstance(caught.value, ProblemsError)
    shown = "".join(f"{p.where}: {p.message}\n" for p in caught.value.problems)
    assert "p/mlenv.lock: platform.linux-64.conda[0] (libgomp 14.2.0)" in shown, shown
    assert f"is not below '{FORGE}/linux-64'/" in shown, shown
