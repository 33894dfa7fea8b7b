"""Third adversary pass: the layer cache, the multi-platform build, the `lock --check` fast
path, the shared cache's lease, and the inputs read by verify, inspect and the lock reader.
Each test names the invariant of docs/security.md it attacks and fails if the enforcing
function stops holding it."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import platform
import random
import shutil
import socket
import stat
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv import inspect
from mlenv.cache import LAYERS as LAYOUT
from mlenv.cache.layer_keys import BuildInputs, wheel_key
from mlenv.cache.layers import LayerCache, _sealed
from mlenv.commands import verify as verify_command
from mlenv.errors import MlenvError
from mlenv.importers.files import import_file
from mlenv.index.caches import HttpCache, MetadataCache
from mlenv.inspect import inspect_image
from mlenv.install.conda_packages import check_conda_packages
from mlenv.install.wheels import WheelClaims
from mlenv.limits import LimitError
from mlenv.manifest_read import loads as load_manifest
from mlenv.oci import auth, credentials, model, push_image, registry_errors
from mlenv.oci import base as registry_base
from mlenv.oci import bundle as registry_bundle
from mlenv.oci.lease import HOLDER, LEASE_TYPE, Clock, coordinated
from mlenv.oci.lease import _parse as parse_lease
from mlenv.oci.read import read_base
from mlenv.report import MemoryReporter
from mlenv.tarball import LayerBlob
from mlenv.uptodate import answer
from tests.support import build_records
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package
from tests.support.fake_registry import FakeRegistry
from tests.support.golden import build as golden_build
from tests.support.golden import digests
from tests.support.layered import configure, layered_project
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.hostile

PLATFORM = {"x86_64": "linux-64", "aarch64": "linux-aarch64"}[platform.machine()]
OTHER_UID = 54321  # a user who shares the cache directory (the tests run as root)
KEY = "ab" * 32


def tree(root: Path) -> dict[str, tuple[int, bytes | str | None]]:
    """Every path below ``root`` with its mode and content (a symlink's target), unfollowed."""
    found: dict[str, tuple[int, bytes | str | None]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        content: bytes | str | None = None
        if stat.S_ISLNK(info.st_mode):
            content = str(path.readlink())
        elif stat.S_ISREG(info.st_mode):
            content = path.read_bytes()
        found[path.relative_to(root).as_posix()] = (info.st_mode, content)
    return found


# ---------------------------------------------------------------------------------------------
# Invariant 1: a layer cache entry is used only when this user wrote it


def blob_of(data: bytes) -> LayerBlob:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return LayerBlob(digest, digest, len(data), len(data), "application/x", "none", None)


def put(cache: LayerCache, key: str, data: bytes) -> Path:
    """A valid entry for ``data`` under ``key``, as ``put`` writes it; returns its directory."""
    with cache.keeping() as kept:
        kept.write(data)
    cache.put(key, blob_of(data), kept, ("opt",), MemoryReporter())
    return cache.root / key[:2] / key


def chown_tree(path: Path, uid: int) -> None:
    for part in [path, *path.rglob("*")]:
        os.chown(part, uid, -1, follow_symlinks=False)


def _owned_by_another_user(entry: Path, outside: Path) -> None:
    chown_tree(entry, OTHER_UID)


def _blob_owned_by_another_user(entry: Path, outside: Path) -> None:
    os.chown(entry / "blob", OTHER_UID, -1)


def _record_owned_by_another_user(entry: Path, outside: Path) -> None:
    os.chown(entry / "layer.json", OTHER_UID, -1)


def _directory_owned_by_another_user(entry: Path, outside: Path) -> None:
    os.chown(entry, OTHER_UID, -1)


def _group_writable_blob(entry: Path, outside: Path) -> None:
    (entry / "blob").chmod(0o664)
    os.chown(entry / "blob", -1, 4321)  # a group others are in (attack 157)


def _world_writable_record(entry: Path, outside: Path) -> None:
    (entry / "layer.json").chmod(0o646)


def _world_writable_directory(entry: Path, outside: Path) -> None:
    entry.chmod(0o777)


def _symlinked_record(entry: Path, outside: Path) -> None:
    (outside / "layer.json").write_bytes((entry / "layer.json").read_bytes())
    (entry / "layer.json").unlink()
    (entry / "layer.json").symlink_to(outside / "layer.json")


def _symlinked_blob(entry: Path, outside: Path) -> None:
    (outside / "blob").write_bytes((entry / "blob").read_bytes())
    (entry / "blob").unlink()
    (entry / "blob").symlink_to(outside / "blob")


def _symlinked_entry(entry: Path, outside: Path) -> None:
    shutil.copytree(entry, outside / "entry")
    shutil.rmtree(entry)
    entry.symlink_to(outside / "entry")


def _symlinked_shard(entry: Path, outside: Path) -> None:
    shutil.copytree(entry.parent, outside / "shard")
    shutil.rmtree(entry.parent)
    entry.parent.symlink_to(outside / "shard")


PLANTS = [
    _owned_by_another_user,
    _blob_owned_by_another_user,
    _record_owned_by_another_user,
    _directory_owned_by_another_user,
    _group_writable_blob,
    _world_writable_record,
    _world_writable_directory,
    _symlinked_record,
    _symlinked_blob,
    _symlinked_entry,
    _symlinked_shard,
]


@pytest.mark.parametrize("plant", PLANTS)
def test_a_layer_entry_another_user_could_have_written_is_a_miss(
    tmp_path: Path, plant: Callable[[Path, Path], None]
) -> None:
    """Attacks invariant 1 through the shared layer cache: an entry another user planted (a
    self-consistent record for their own bytes) or could rewrite, or one reached through a
    symlink, is never used: `get` is a miss (rebuilt), copies nothing and says why."""
    cache = LayerCache(tmp_path / "cache")
    outside = tmp_path / "outside"
    outside.mkdir()
    entry = put(cache, KEY, b"planted layer bytes")
    plant(entry, outside)
    reporter = MemoryReporter()
    assert cache.get(KEY, tmp_path / "copy", reporter) is None
    assert not (tmp_path / "copy").exists()
    assert any("rebuilt" in message for _, message in reporter.events), reporter.events


def test_put_writes_entries_read_only_and_get_accepts_them(tmp_path: Path) -> None:
    """Guards the other side of the rule: what `put` writes is this user's, read-only, and
    comes back verified."""
    cache = LayerCache(tmp_path / "cache")
    entry = put(cache, KEY, b"layer bytes")
    for name in ("blob", "layer.json"):
        assert stat.S_IMODE((entry / name).stat().st_mode) == 0o444
    assert not (entry.stat().st_mode & 0o022)
    assert cache.get(KEY, tmp_path / "copy", MemoryReporter()) is not None
    assert (tmp_path / "copy").read_bytes() == b"layer bytes"


def test_put_never_writes_through_a_symlinked_shard(tmp_path: Path) -> None:
    """Attacks invariant 1 from the writing side: a shard directory replaced by a symlink
    would put the new entry wherever it points; `put` keeps nothing instead."""
    cache = LayerCache(tmp_path / "cache")
    outside = tmp_path / "outside"
    outside.mkdir()
    cache.root.mkdir(parents=True)
    (cache.root / KEY[:2]).symlink_to(outside)
    reporter = MemoryReporter()
    with cache.keeping() as kept:
        kept.write(b"bytes")
    cache.put(KEY, blob_of(b"bytes"), kept, (), reporter)
    assert list(outside.iterdir()) == []
    assert not list(cache.root.glob(".tmp-*"))
    assert any("cannot keep the layer" in message for _, message in reporter.events)


def _plant_as_another_user(entry: Path) -> None:
    chown_tree(entry, OTHER_UID)


def _plant_writable_by_all(entry: Path) -> None:
    for path in (entry, entry / "blob", entry / "layer.json"):
        path.chmod(0o777 if path.is_dir() else 0o666)


@pytest.mark.parametrize("plant", [_plant_as_another_user, _plant_writable_by_all])
def test_a_build_never_ships_a_layer_another_user_planted(
    tmp_path: Path, plant: Callable[[Path], None]
) -> None:
    """Attacks invariant 1 end to end (`mlenv build --offline`): another user of the shared
    cache replaces the biggest layer's entry with another layer's bytes and a record that
    checks out for them (keys are computable by anyone). The build rebuilds that layer and
    ships exactly the bytes of the first build."""
    project = layered_project(tmp_path / "project", '"auto"')
    configure(project, '"auto"', "1.0", 'outputs = ["oci"]\n')
    cache = tmp_path / "cache"
    first_build = golden_build(project, cache)
    assert first_build.returncode == 0, first_build.stderr
    first = digests(project / "dist")
    found = sorted(
        (p.parent for p in (cache / LAYOUT).glob("??/*/blob")),
        key=lambda p: (p / "blob").stat().st_size,
    )
    victim_entry, donor = found[-1], found[0]
    donor_record = json.loads((donor / "layer.json").read_text())["body"]
    shutil.rmtree(victim_entry)
    victim_entry.mkdir()
    shutil.copyfile(donor / "blob", victim_entry / "blob")
    (victim_entry / "layer.json").write_bytes(_sealed({**donor_record, "key": victim_entry.name}))
    plant(victim_entry)
    again = golden_build(project, cache)
    assert again.returncode == 0, again.stderr
    assert digests(project / "dist") == first
    assert "rebuilt" in again.stderr


# ---------------------------------------------------------------------------------------------
# Invariant 7: a non-regular file in the layer cache neither blocks nor crashes a build


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _directory(path: Path) -> None:
    path.mkdir()


def _socket(path: Path) -> None:
    short = Path(tempfile.mkdtemp(dir=path.parents[4])) / "s"  # AF_UNIX paths are short
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(short))
    short.rename(path)
    short.parent.rmdir()


def _null_device(path: Path) -> None:
    os.mknod(path, 0o444 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is


@pytest.mark.parametrize("make", [_fifo, _directory, _socket, _null_device])
@pytest.mark.parametrize("name", ["layer.json", "blob"])
def test_a_non_regular_file_in_a_layer_entry_is_a_miss_at_once(
    tmp_path: Path, make: Callable[[Path], None], name: str
) -> None:
    """Attacks invariant 7 through the layer cache: a FIFO planted as `layer.json` blocked the
    build forever (a read waits for a writer); a FIFO, directory, socket or device at either
    file of an entry is a miss, answered at once."""
    cache = LayerCache(tmp_path / "cache")
    entry = put(cache, KEY, b"layer bytes")
    (entry / name).unlink()
    make(entry / name)
    answers: list[object] = []
    worker = threading.Thread(
        target=lambda: answers.append(cache.get(KEY, tmp_path / "copy", MemoryReporter())),
        daemon=True,
    )
    worker.start()
    worker.join(10)
    if worker.is_alive() and stat.S_ISFIFO((entry / name).lstat().st_mode):
        os.close(os.open(entry / name, os.O_WRONLY | os.O_NONBLOCK))  # let the reader go
    assert not worker.is_alive() and answers == [None]
    assert not (tmp_path / "copy").exists()


# ---------------------------------------------------------------------------------------------
# Invariant 4 (cache side): `cache prune` removes nothing outside the layer cache


def victim(path: Path) -> Path:
    """A tree outside the cache shaped like layer cache entries, so a pruner that follows a
    symlink would take it for its own."""
    for shard, key in (("ab", KEY), ("cd", "cd" * 32)):
        entry = path / shard / key
        entry.mkdir(parents=True)
        (entry / "layer.json").write_text("{}")
        (entry / "blob").write_bytes(b"the user's data" * 100)
    entry = path / KEY
    entry.mkdir()
    (entry / "layer.json").write_text("{}")
    (path / "notes.txt").write_text("keep me")
    return path


def _link_layout(cache: Path, outside: Path) -> None:
    (cache / LAYOUT).symlink_to(outside)


def _link_shard(cache: Path, outside: Path) -> None:
    (cache / LAYOUT).mkdir()
    (cache / LAYOUT / "ef").symlink_to(outside / "ab")


def _link_entry(cache: Path, outside: Path) -> None:
    (cache / LAYOUT / "ef").mkdir(parents=True)
    (cache / LAYOUT / "ef" / ("ef" * 32)).symlink_to(outside / "ab" / KEY)


def _link_stale_work_dir(cache: Path, outside: Path) -> None:
    (cache / LAYOUT).mkdir()
    (cache / LAYOUT / ".tmp-killed").symlink_to(outside)
    os.utime(cache / LAYOUT / ".tmp-killed", (1, 1), follow_symlinks=False)


def _link_record(cache: Path, outside: Path) -> None:
    entry = cache / LAYOUT / "ef" / ("ef" * 32)
    entry.mkdir(parents=True)
    (entry / "layer.json").symlink_to(outside / "ab" / KEY / "layer.json")
    (entry / "blob").symlink_to(outside / "ab" / KEY / "blob")


LINKS = [_link_layout, _link_shard, _link_entry, _link_stale_work_dir, _link_record]


@pytest.mark.parametrize("link", LINKS)
def test_cache_prune_never_follows_a_symlink_out_of_the_cache(
    tmp_path: Path, link: Callable[[Path, Path], None]
) -> None:
    """Attacks `mlenv cache prune` (the CLI, `--max-size 0`): a symlink at the layer cache
    itself, a shard, an entry, a killed build's work directory or an entry's files must not
    lead the pruner outside: the tree it points at is byte-for-byte unchanged."""
    outside = victim(tmp_path / "outside")
    before = tree(outside)
    cache = tmp_path / "cache"
    cache.mkdir()
    link(cache, outside)
    result = run_mlenv(
        ["cache", "prune", "--max-size", "0"], tmp_path, env={"MLENV_CACHE_DIR": str(cache)}
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert tree(outside) == before


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    links=st.lists(
        st.tuples(
            st.sampled_from(["ab", "cd", "ef", ".tmp-x", "ab/" + "ab" * 32, "cd/" + "ab" * 32]),
            st.sampled_from(["", "ab", f"ab/{KEY}", KEY, "notes.txt", f"ab/{KEY}/blob"]),
        ),
        max_size=4,
        unique_by=lambda pair: pair[0].split("/")[0],
    ),
    real=st.integers(0, 3),
)
def test_hypothesis_prune_stays_inside_the_cache(
    tmp_path_factory: pytest.TempPathFactory, links: list[tuple[str, str]], real: int
) -> None:
    """Attacks `LayerCache.prune` with any mix of real entries and symlinks (at shards, at
    entries, at work directories) into a tree shaped like the cache: everything outside is
    unchanged, and every real entry is removed."""
    where = tmp_path_factory.mktemp("prune")
    outside = victim(where / "outside")
    before = tree(outside)
    cache = LayerCache(where / "cache")
    for index in range(real):
        put(cache, f"{index:02x}" * 32, b"x" * (index + 1))
    for name, target in links:
        link = cache.root / name
        if link.parent.is_symlink() or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(outside / target)
        if name.startswith(".tmp-"):
            os.utime(link, (1, 1), follow_symlinks=False)
    cache.prune(0)
    assert tree(outside) == before
    assert cache.entries() == []


# ---------------------------------------------------------------------------------------------
# Invariant 4: a multi-platform build replaces only what mlenv wrote

MULTI_WHEELS = [
    build_wheel(
        "fastmath",
        "1.0",
        tag=f"cp311-cp311-manylinux_2_17_{machine}",
        files={"fastmath/_core.so": machine.encode() * 100},
    )
    for machine in ("x86_64", "aarch64")
]


@pytest.fixture(scope="module")
def multi_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A two-platform project, locked and fetched, whose plain `build` is multi-platform."""
    tmp = tmp_path_factory.mktemp("multi")
    url = write_simple_index(tmp / "www", MULTI_WHEELS)
    root = tmp / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "model.py").write_text("weights = 1\n")
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "multi"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        'platforms = ["linux-64", "linux-aarch64"]\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["fastmath"]\n'
        '[build]\noutputs = ["oci"]\n'
    )
    home = tmp / "home"
    home.mkdir()
    (home / ".bashrc").write_text("export PATH\n")
    env = {"MLENV_CACHE_DIR": str(tmp / "cache"), "HOME": str(home)}
    for step in (["lock"], ["fetch"]):
        done = run_mlenv(step, root, env)
        assert done.returncode == 0, f"{step}: {done.stderr}"
    return root, env


def _project_dir(root: Path, env: dict[str, str]) -> str:
    return "."


def _home(root: Path, env: dict[str, str]) -> str:
    return env["HOME"]


def _users_directory(root: Path, env: dict[str, str]) -> str:
    return "src"


def _the_cache(root: Path, env: dict[str, str]) -> str:
    return env["MLENV_CACHE_DIR"]


def _above_the_project(root: Path, env: dict[str, str]) -> str:
    return "src/../.."


def _symlink_to_an_empty_directory(root: Path, env: dict[str, str]) -> str:
    (root.parent / "empty").mkdir(exist_ok=True)
    with_link = root / "dist-link"
    if not with_link.is_symlink():
        with_link.symlink_to(root.parent / "empty")
    return "dist-link"


def _an_earlier_single_build_plus_a_user_file(root: Path, env: dict[str, str]) -> str:
    dist = root / "old-dist"
    dist.mkdir(exist_ok=True)
    record = build_records.single(sbom=None)  # a whole record: only results.csv is a stranger
    (dist / "build.json").write_text(json.dumps(record))
    (dist / "results.csv").write_text("a,b\n")
    return "old-dist"


DISTS = [
    _project_dir,
    _home,
    _users_directory,
    _the_cache,
    _above_the_project,
    _symlink_to_an_empty_directory,
    _an_earlier_single_build_plus_a_user_file,
]


@pytest.mark.parametrize("dist", DISTS)
def test_a_multi_platform_build_refuses_what_mlenv_did_not_write(
    multi_project: tuple[Path, dict[str, str]], dist: Callable[[Path, dict[str, str]], str]
) -> None:
    """Attacks invariant 4 through the multi-platform build (a lock with two platforms and no
    --platform): `--dist .`, `~`, a user's directory, the cache, a symlink or an old output
    holding a user's file is refused before any work, exit 1, nothing changed."""
    root, env = multi_project
    target = dist(root, env)
    watched = root.parent
    before = tree(watched)
    result = run_mlenv(["build", "--offline", "--dist", target], root, env)
    assert result.returncode == 1, result.stderr
    assert "refusing to write the build output" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree(watched) == before


def test_a_multi_platform_build_replaces_its_own_output_and_only_that(
    multi_project: tuple[Path, dict[str, str]],
) -> None:
    """Guards the other side: a second multi-platform build replaces the first (its
    build.json accounts for each platform's directory and the joined layout), a
    single-platform build may replace it too, and a file the user adds to it is kept."""
    root, env = multi_project
    dist = root / "multi-dist"
    for _ in range(2):
        done = run_mlenv(["build", "--offline", "--dist", str(dist)], root, env)
        assert done.returncode == 0, done.stderr
    assert {p.name for p in dist.iterdir()} == {"build.json", "oci", "linux-64", "linux-aarch64"}
    (dist / "linux-64" / "oci").rename(dist / "kept")  # a stranger at the top: refused
    (dist / "kept" / "mine.txt").write_text("mine")
    refused = run_mlenv(["build", "--offline", "--dist", str(dist)], root, env)
    assert refused.returncode == 1 and "kept" in refused.stderr, refused.stderr
    assert (dist / "kept" / "mine.txt").read_text() == "mine"
    shutil.rmtree(dist / "kept")
    single = ["build", "--offline", "--platform", "linux-64", "--dist", str(dist)]
    one = run_mlenv(single, root, env)
    assert one.returncode == 0, one.stderr
    assert json.loads((dist / "build.json").read_text())["platform"] == "linux-64"


# ---------------------------------------------------------------------------------------------
# Invariant 9: `lock --check` judges the prefix and interpreter even when the lock is fresh


@pytest.fixture(scope="module")
def fresh_lock(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, str]]:
    """A project with a fresh lock, and its manifest text with a placeholder environment."""
    tmp = tmp_path_factory.mktemp("fresh")
    url = write_simple_index(tmp / "www", [build_wheel("tiny", "1.0")])
    root = tmp / "project"
    root.mkdir()
    text = (
        '[environment]\nname = "fresh"\npython = "3.11"\n{placement}\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["tiny"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp / "cache")}
    (root / "mlenv.toml").write_text(text.format(placement=""))
    done = run_mlenv(["lock"], root, env)
    assert done.returncode == 0, done.stderr
    return root, text, env


HOSTILE_PLACEMENTS = [
    ('prefix = "/usr"', "prefix"),
    ('prefix = "/"', "prefix"),
    ('prefix = "/opt/../usr/lib"', "prefix"),
    ('prefix = "/opt/a:b"', "prefix"),
    ('prefix = "/opt/$(reboot)"', "prefix"),
    ('prefix = "relative/env"', "prefix"),
    ('prefix = "/home/alice"', "prefix"),
    ('interpreter = "/usr/bin/env"', "interpreter"),
    ('interpreter = "/proc/self/exe"', "interpreter"),
    ('prefix = "/opt/env"\ninterpreter = "/opt/env/bin/python3"', "interpreter"),
    ('interpreter = "/usr/bin/python3.9"', "interpreter"),
]


@pytest.mark.parametrize(("placement", "key"), HOSTILE_PLACEMENTS)
def test_lock_check_refuses_a_hostile_placement_though_the_lock_is_fresh(
    fresh_lock: tuple[Path, str, dict[str, str]], placement: str, key: str
) -> None:
    """Attacks invariant 9 through the no-op fast path of `mlenv lock --check` (and `lock`):
    the prefix and interpreter are not in the inputs hash, so editing them leaves the lock
    fresh; the check must still refuse them with the key path, exit 1, no traceback."""
    root, text, env = fresh_lock
    (root / "mlenv.toml").write_text(text.format(placement=placement))
    lock_before = (root / "mlenv.lock").read_bytes()
    try:
        for command in (["lock", "--check"], ["-q", "lock", "--check"], ["lock"]):
            result = run_mlenv(command, root, env)
            assert result.returncode == 1, (command, result.stderr)
            assert f"environment.{key}" in result.stderr or f"].{key}" in result.stderr
            assert "up to date" not in result.stderr and "Traceback" not in result.stderr
        assert (root / "mlenv.lock").read_bytes() == lock_before
    finally:
        (root / "mlenv.toml").write_text(text.format(placement=""))


segments = st.sampled_from(
    ["usr", "opt", "lib", "local", "bin", "home", "alice", "tmp", "proc", "var", "..", ".", "",
     "env", "a:b", "a b", "$x", "é", "python3", "python3.11"]
)  # fmt: skip


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prefix=st.lists(segments, max_size=5).map(lambda parts: "/" + "/".join(parts)),
    interpreter=st.none() | st.lists(segments, min_size=1, max_size=4).map("/".join),
)
def test_hypothesis_the_fast_path_never_passes_a_placement_the_full_reader_refuses(
    fresh_lock: tuple[Path, str, dict[str, str]], prefix: str, interpreter: str | None
) -> None:
    """Attacks the fast path over generated prefixes and interpreters (system trees, detours
    of `.`, `..` and `//`, unsafe names): it answers "up to date" only for a placement the
    full manifest reader accepts."""
    root, text, _ = fresh_lock
    placement = f"prefix = {json.dumps(prefix)}"
    if interpreter is not None:
        placement += f"\ninterpreter = {json.dumps('/' + interpreter)}"
    manifest = text.format(placement=placement)
    project = root.parent / "generated"
    project.mkdir(exist_ok=True)
    (project / "mlenv.toml").write_text(manifest)
    shutil.copyfile(root / "mlenv.lock", project / "mlenv.lock")
    fast = answer(["-q", "--manifest", str(project / "mlenv.toml"), "lock", "--check"])
    try:
        load_manifest(manifest)
        accepted = True
    except MlenvError:
        accepted = False
    assert fast is None or (fast == 0 and accepted)
    if accepted:
        assert fast == 0


# ---------------------------------------------------------------------------------------------
# Invariant 7: JSON from a registry, an image or a build record nested past the parser's guard


def nested(kind: str, depth: int) -> bytes:
    opening, closing, inner = {
        "array": (b"[", b"]", b"1"),
        "object": (b'{"a":', b"}", b"1"),
        "mixed": (b'[{"a":', b"}]", b"null"),
    }[kind]
    return opening * depth + inner + closing * depth


depths = st.integers(min_value=20_000, max_value=200_000)
kinds = st.sampled_from(["array", "object", "mixed"])


@settings(max_examples=30, deadline=None)
@given(kind=kinds, depth=depths, wrapped=st.booleans())
def test_hypothesis_a_deep_lease_is_a_clear_error_never_a_traceback(
    kind: str, depth: int, wrapped: bool
) -> None:
    """Attacks invariant 7 through the shared cache's lease tag (anyone with push rights
    writes it): a lease document nested past the JSON parser's guard, bare or inside a lease's
    annotations, is a LimitError naming the tag, never a RecursionError."""
    data = nested(kind, depth)
    if wrapped:
        data = (
            b'{"artifactType":"%s","annotations":{"%s":'
            % (
                LEASE_TYPE.encode(),
                HOLDER.encode(),
            )
            + data
            + b"}}"
        )
    with pytest.raises(LimitError, match="nested too deeply") as caught:
        parse_lease(data, "registry.test/cache:lease-x")
    assert caught.value.where == "registry.test/cache:lease-x"


def test_a_deep_lease_under_the_tag_leaves_the_fetch_uncoordinated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attacks `registry_lease.coordinated` end to end over the in-memory registry: a deep
    lease under the tag is a warning ("fetching anyway") and the fetch starts, never a
    traceback and never a wait."""
    config = {"auths": {"registry.test": {"auth": base64.b64encode(b"ci:pw").decode()}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    fake = FakeRegistry()
    tag = "lease-" + "0" * 32
    fake.manifests[tag] = nested("object", 100_000)
    reporter = MemoryReporter()
    slept: list[float] = []
    with coordinated(
        "oci://registry.test/fleet/cache", tag, ["sha256:" + "a" * 64], claim=True,
        insecure=False, reporter=reporter, clock=Clock(lambda: 1e6, slept.append),
        transport=fake.transport(),
    ) as held:  # fmt: skip
        assert held is False
    warnings = [text for kind, text in reporter.events if kind == "warning"]
    assert any("nested too deeply" in text for text in warnings), reporter.events
    assert slept == []


READERS: list[Callable[[bytes], object]] = [
    lambda data: push_image._parse_object(data, "registry.test/x"),
    lambda data: registry_base._document(data, "registry.test/x"),
    lambda data: registry_bundle._listed(data, "registry.test/x"),
    lambda data: model.parse_json(data, "image.tar/index.json"),
    lambda data: inspect._conda_owner("opt/env/conda-meta/x.json", data),
]


@pytest.mark.parametrize("read", READERS, ids=["registry", "base", "bundle", "oci", "inspect"])
@pytest.mark.parametrize("kind", ["array", "object", "mixed"])
def test_every_json_reader_of_untrusted_bytes_refuses_deep_nesting_clearly(
    read: Callable[[bytes], object], kind: str
) -> None:
    """Attacks invariant 7 at every reader of JSON from a registry or an image (manifests,
    indexes, bundle manifests, image layouts, an image's conda-meta): deep nesting is a
    LimitError (exit 1), not a RecursionError (exit 2, "internal error")."""
    with pytest.raises(LimitError, match="nested too deeply"):
        read(nested(kind, 100_000))


def test_inspect_an_image_with_a_deep_index_exits_1(tmp_path: Path) -> None:
    """Attacks `mlenv inspect image.tar` through the CLI: an image whose index.json is nested
    past the guard is a clear error (exit 1), not an internal error."""
    image = tmp_path / "image.tar"
    with tarfile.open(image, "w") as archive:
        for name, data in (("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                           ("index.json", nested("array", 100_000))):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    result = run_mlenv(["inspect", str(image)], tmp_path)
    assert result.returncode == 1, result.stderr
    assert "nested too deeply" in result.stderr and "internal error" not in result.stderr


RECORDS = [
    b"[]",
    b'"a string"',
    b'{"outputs": []}',
    b'{"outputs": {"oci": []}}',
    b'{"outputs": {"oci": {"image-tar": {"sha256": "x"}}}}',
    b'{"outputs": {"oci": {"image-tar": {"file": [], "sha256": "x"}}}}',
    b'{"outputs": {"conda-pack": {"file": "image.tar", "sha256": {}}}}',
    nested("array", 100_000),
]


@pytest.mark.parametrize("record", RECORDS, ids=range(len(RECORDS)))
def test_verify_an_output_beside_a_hostile_build_record_exits_1(
    fresh_lock: tuple[Path, str, dict[str, str]], record: bytes
) -> None:
    """Attacks `mlenv verify dist/image.tar`, whose dist/ may come from anyone: a build.json
    that is not an object, has outputs of the wrong shape, or nests past the parser's guard
    is a clear failure (exit 1), never an internal error (exit 2)."""
    root, _, env = fresh_lock
    dist = root / "hostile-dist"
    dist.mkdir(exist_ok=True)
    (dist / "image.tar").write_bytes(b"not really an image")
    (dist / "build.json").write_bytes(record)
    result = run_mlenv(["verify", "hostile-dist/image.tar"], root, env)
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stderr


MULTI_RECORDS = [b'{"kind": "multi-platform", "platforms": []}', *RECORDS]


@pytest.mark.parametrize("multi", MULTI_RECORDS, ids=range(len(MULTI_RECORDS)))
def test_verify_a_platform_output_below_a_hostile_multi_record_exits_1(
    fresh_lock: tuple[Path, str, dict[str, str]], multi: bytes
) -> None:
    """Attacks the multi-platform side of `verify dist/<platform>/image.tar`: whatever the
    build.json one directory up holds, the answer is a verdict, never an internal error."""
    root, _, env = fresh_lock
    dist = root / "hostile-multi"
    (dist / "linux-64").mkdir(parents=True, exist_ok=True)
    (dist / "linux-64" / "image.tar").write_bytes(b"x")
    (dist / "linux-64" / "build.json").write_text('{"outputs": {}}')
    (dist / "build.json").write_bytes(multi)
    result = run_mlenv(["verify", "hostile-multi/linux-64/image.tar"], root, env)
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stderr


def test_verify_never_blocks_on_a_fifo_build_record(
    fresh_lock: tuple[Path, str, dict[str, str]],
) -> None:
    """Attacks `verify` with a FIFO where build.json goes (beside the output or above it): it
    answers at once instead of waiting for a writer."""
    root, _, env = fresh_lock
    dist = root / "fifo-dist"
    (dist / "linux-64").mkdir(parents=True, exist_ok=True)
    (dist / "linux-64" / "image.tar").write_bytes(b"x")
    os.mkfifo(dist / "build.json")
    os.mkfifo(dist / "linux-64" / "build.json")
    result = run_mlenv(["verify", "fifo-dist/linux-64/image.tar"], root, env, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "build.json" in result.stderr


# ---------------------------------------------------------------------------------------------
# Invariant 7: `init --from` a cloned file of the wrong shape, nested deeply or full of aliases

WRONG_SHAPES = [
    'project = "x"\n',
    '[project]\ndependencies = "numpy"\n',  # read as the letters n, u, m, p, y before
    "[project]\ndependencies = [1, 2]\n",
    '[project]\noptional-dependencies = ["gpu"]\n',
    '[project]\ndependencies = []\n[project.optional-dependencies]\ngpu = "torch"\n',
    'dependency-groups = "gpu"\n',
]


@pytest.mark.parametrize("text", WRONG_SHAPES, ids=range(len(WRONG_SHAPES)))
def test_init_from_a_pyproject_of_the_wrong_shape_is_a_clear_error(
    tmp_path: Path, text: str
) -> None:
    """Attacks `mlenv init --from pyproject.toml` with PEP 621 keys of the wrong type: each
    is named (exit 1) and nothing is written, never an internal error or a guessed manifest."""
    (tmp_path / "pyproject.toml").write_text(text)
    result = run_mlenv(["init", "--from", "pyproject.toml", "--group", "gpu"], tmp_path)
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stderr
    assert "must be a" in result.stderr or "no such optional" in result.stderr
    assert not (tmp_path / "mlenv.toml").exists()


def deep_file(name: str, depth: int) -> str:
    if name.endswith(".toml"):
        return f"[project]\ndependencies = {'[' * depth}1{']' * depth}\n"
    return f"dependencies: {'[' * depth}x{']' * depth}\n"


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(
        ["pyproject.toml", "pylock.toml", "environment.yml", "conda-lock.yml", "env.yaml"]
    ),
    depth=st.integers(min_value=2_000, max_value=50_000),
)
def test_hypothesis_a_deeply_nested_import_is_a_clear_error(
    tmp_path_factory: pytest.TempPathFactory, name: str, depth: int
) -> None:
    """Attacks every TOML and YAML reader of `init --from` with nesting past the parser's
    recursion limit: an ImportFileError naming the file, never a RecursionError."""
    path = tmp_path_factory.mktemp("deep") / name
    path.write_text(deep_file(name, depth))
    with pytest.raises(MlenvError, match="cannot be read"):
        import_file(path)


def billion_laughs(levels: int) -> str:
    """YAML whose last anchor stands for 9**levels strings, in a few hundred bytes."""
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


LAUGHS = {
    "environment.yml": "channels: [conda-forge]\ndependencies: [*a7]\n",
    "pip.yml": "channels: [conda-forge]\ndependencies: [{pip: [*a7]}]\n",
    "channels.yml": "channels: [*a7]\ndependencies: []\n",
    "conda-lock.yml": "metadata: {platforms: [linux-64]}\npackage: [{name: *a7, version: 1}]\n",
}


@pytest.mark.parametrize("name", list(LAUGHS))
def test_init_from_yaml_aliases_cannot_expand_without_bound(tmp_path: Path, name: str) -> None:
    """Attacks `init --from` with a YAML alias bomb (a few hundred bytes standing for 43
    million strings): printing or walking it took 20 s and hundreds of MB of error output per
    level of 9x. Aliases are refused at once: exit 1, a short message, nothing written."""
    (tmp_path / name).write_text(billion_laughs(8) + LAUGHS[name])
    started = time.monotonic()
    result = run_mlenv(["init", "--from", name], tmp_path, timeout=120)
    # A stall guard, not a speed target: expanding the aliases takes minutes; the refusal
    # takes under 1.5 s here, 10x under the bound (a subprocess's work cannot be counted).
    assert time.monotonic() - started < 15
    assert result.returncode == 1, result.stderr[:2000]
    assert "aliases are not read" in result.stderr
    assert len(result.stderr) < 2000
    assert not (tmp_path / "mlenv.toml").exists()


# ---------------------------------------------------------------------------------------------
# Invariant 2/7: what another user plants in the shared index caches is a miss, at once


def _plant_fifo(path: Path) -> None:
    os.mkfifo(path)


def _plant_deep_json(path: Path) -> None:
    path.write_bytes(nested("object", 100_000) + b"\n")


def _plant_link_to_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _plant_directory(path: Path) -> None:
    path.mkdir()


CACHE_PLANTS = [_plant_fifo, _plant_deep_json, _plant_link_to_zero, _plant_directory]


def answers_at_once(call: Callable[[], object]) -> list[object]:
    """What ``call`` returns, run in a thread that must finish within 10 s."""
    answers: list[object] = []
    worker = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "blocked"
    return answers


@pytest.mark.parametrize("plant", CACHE_PLANTS)
def test_a_planted_metadata_record_is_a_miss_at_once(
    tmp_path: Path, plant: Callable[[Path], None]
) -> None:
    """Attacks the shared parsed-metadata cache (`MetadataCache.get`): a FIFO (blocked the
    lock forever), a record nested past the JSON guard (a RecursionError: exit 2), a symlink
    to /dev/zero or a directory where a record goes is a miss."""
    cache = MetadataCache(tmp_path / "cache")
    key = "sha256:" + "c" * 64
    path = cache._path(key)
    path.parent.mkdir(parents=True)
    plant(path)
    assert answers_at_once(lambda: cache.get(key)) == [None]


@pytest.mark.parametrize("plant", CACHE_PLANTS)
def test_a_planted_page_is_a_miss_at_once(tmp_path: Path, plant: Callable[[Path], None]) -> None:
    """Attacks the shared HTTP page cache (`HttpCache.load`) the same ways: a miss, at once,
    never a hang, a crash or a read of /dev/zero until memory runs out."""
    cache = HttpCache(tmp_path / "cache")
    url, accept = "https://pypi.example/simple/torch/", "text/html"
    path = cache._path(url, accept)
    path.parent.mkdir(parents=True)
    plant(path)
    assert answers_at_once(lambda: cache.load(url, accept)) == [None]


# ---------------------------------------------------------------------------------------------
# Invariant 7: a conda package's own metadata nested past the JSON guard

NOISE = random.Random(3).randbytes(100_000)  # keeps the package under the inflation ratio


@settings(max_examples=10, deadline=None)
@given(
    depth=st.integers(min_value=3_000, max_value=20_000),
    kind=kinds,
    fmt=st.sampled_from(["tar.bz2", "conda"]),
)
def test_hypothesis_a_conda_package_with_deep_paths_json_is_refused_clearly(
    depth: int, kind: str, fmt: Literal["tar.bz2", "conda"]
) -> None:
    """Attacks `install.check_conda_packages` (every conda package of a build is vetted by
    it) with an `info/paths.json` nested past the JSON guard, small enough to pass the bomb
    bounds: a clear error naming the package, never a RecursionError (exit 2)."""
    files = {"lib/libx.so": NOISE, "info/paths.json": nested(kind, depth)}
    name, data = build_conda_package("pkg", "1.0", "0", files=files, fmt=fmt)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / name
        path.write_bytes(data)
        with pytest.raises(MlenvError, match="nested too deeply") as caught:
            check_conda_packages([(name, path)])
    assert name in str(caught.value.where)


# ---------------------------------------------------------------------------------------------
# Invariants 7 and 5's outputs: a registry's error and token answers


ERROR_BODIES = {
    "escape sequences": {
        "errors": [{"code": "\x1b[2J\x1b[31mDENIED", "message": "\x1b]0;pwned\x07"}]
    },
    "newlines": {"errors": [{"code": "X", "message": "ok\nerror: forged second line"}]},
    "a megabyte": {"errors": [{"code": "X", "message": "m" * (1 << 20)}]},
    "ten thousand errors": {"errors": [{"code": "X", "message": "m"}] * 10_000},
}


@pytest.mark.parametrize("body", list(ERROR_BODIES))
def test_a_registry_error_body_cannot_drive_the_terminal(body: str) -> None:
    """Attacks the registry client's error messages (`registry_errors.error_detail`, in every
    failed request's RegistryError): a registry's error text reaches the message shortened,
    at most three errors, and without control characters (no escape sequence, no forged
    line)."""
    response = httpx.Response(500, json=ERROR_BODIES[body])
    detail = registry_errors.error_detail(response)
    assert detail.startswith(" (") and len(detail) < 1_000
    assert all(char.isprintable() for char in detail)


def test_a_deep_registry_error_or_token_answer_is_clear() -> None:
    """Attacks the same client with answers nested past the JSON guard: an error body is
    simply not shown, a token answer is a clear error naming the token service; neither is a
    RecursionError."""
    deep = nested("object", 100_000)
    assert registry_errors.error_detail(httpx.Response(500, content=deep)) == ""
    request = httpx.Request("GET", "https://auth.test/token")
    with pytest.raises(MlenvError, match="nested too deeply") as caught:
        auth._token(httpx.Response(200, content=deep, request=request))
    assert "auth.test" in str(caught.value.where)


# ---------------------------------------------------------------------------------------------
# Invariant 7: an image whose index, manifest or config has fields of the wrong type

WRONG_VALUES: list[object] = [None, 1, -1, True, "", "x", [], {}, [1], {"a": 1}, ["x"], [{"a": []}]]


def mutated(document: Any, rng: random.Random) -> Any:
    """``document`` with one value somewhere inside it replaced, or one key removed."""
    copy = json.loads(json.dumps(document))
    node = copy
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return copy
        key = rng.choice(keys)
        child = node[key]
        if not isinstance(child, dict | list) or not child or rng.random() < 0.4:
            if isinstance(node, dict) and rng.random() < 0.2:
                del node[key]
            else:
                node[key] = rng.choice(WRONG_VALUES)
            return copy
        node = child


def blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.removeprefix("sha256:")


def put_blob(layout: Path, document: Any) -> dict[str, Any]:
    data = json.dumps(document).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blob(layout, digest).write_bytes(data)
    return {"digest": digest, "size": len(data)}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rng=st.randoms(use_true_random=False), which=st.sampled_from(["index", "manifest", "config"])
)
def test_hypothesis_an_image_with_fields_of_the_wrong_type_is_a_clear_error(
    small_image: Path, tmp_path_factory: pytest.TempPathFactory, rng: random.Random, which: str
) -> None:
    """Attacks the OCI readers (`read_base`, the base image of every build, and `inspect`)
    with one field of the index, the manifest or the config (re-hashed, so the digests hold)
    replaced by a value of another type or removed: each reads or fails with a clear error,
    never a TypeError or AttributeError (exit 2). Before: 47 of 1,500 such images crashed."""
    layout = tmp_path_factory.mktemp("mutated") / "layout"
    shutil.copytree(small_image, layout)
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(blob(layout, index["manifests"][0]["digest"]).read_text())
    config = json.loads(blob(layout, manifest["config"]["digest"]).read_text())
    if which == "config":
        manifest["config"].update(put_blob(layout, mutated(config, rng)))
    if which == "manifest":
        manifest = mutated(manifest, rng)
    if which != "index":
        index["manifests"][0].update(put_blob(layout, manifest))
    else:
        index = mutated(index, rng)
    (layout / "index.json").write_text(json.dumps(index))
    for read in (lambda: read_base(layout, platform=PLATFORM), lambda: inspect_image(layout)):
        with contextlib.suppress(MlenvError):
            read()


ESCAPES = "\x1b[2J\x1b]0;pwned\x07 Forbidden"


@pytest.fixture
def escaping_server() -> Iterator[str]:
    """An HTTP server on loopback whose every answer is a 403 with terminal escape sequences
    in its reason phrase (h11 lets any non-space, non-NUL byte through)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)
                head = f"HTTP/1.1 403 {ESCAPES}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                connection.sendall(head.encode("latin-1"))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    server.close()


def test_an_index_reason_phrase_cannot_drive_the_terminal(
    tmp_path: Path, escaping_server: str
) -> None:
    """Attacks `mlenv lock` through an index whose HTTP reason phrase carries escape sequences
    (clear the screen, retitle the terminal): the error names the status, and no control
    character of the server's reaches stderr."""
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "x"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{escaping_server}/simple"\ndependencies = ["tiny"]\n'
    )
    result = run_mlenv(["lock"], tmp_path, env={"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1, result.stderr
    assert "403" in result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


def test_a_registry_reason_phrase_cannot_drive_the_terminal() -> None:
    """Attacks the registry client the same way (a refused token request): the message keeps
    the status and none of the registry's control characters."""
    request = httpx.Request("GET", "https://auth.test/token")
    response = httpx.Response(
        401, request=request, extensions={"reason_phrase": ESCAPES.encode("latin-1")}
    )
    with pytest.raises(MlenvError, match="401") as caught:
        auth._token(response)
    assert all(char.isprintable() or char == "\n" for char in caught.value.render())


BAD_REQUIRES_DIST = [
    "bad (((",
    "evil \x1b[2J\x1b]0;pwned\x07",
    "x; python_version >>> '3'",
    "x[",
    "x @ ",
]


@pytest.mark.parametrize("line", BAD_REQUIRES_DIST, ids=range(len(BAD_REQUIRES_DIST)))
def test_a_malformed_requires_dist_from_an_index_is_a_clear_error(
    tmp_path: Path, line: str
) -> None:
    """Attacks `mlenv lock` with a wheel whose Requires-Dist line is not PEP 508 (an index's
    metadata is untrusted): an error naming the distribution, exit 1, without the line's
    control characters; before, an internal error (InvalidRequirement, exit 2)."""
    url = write_simple_index(tmp_path / "www", [build_wheel("tiny", "1.0", requires_dist=[line])])
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "mlenv.toml").write_text(
        '[environment]\nname = "x"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["tiny"]\n'
    )
    result = run_mlenv(["lock"], tmp_path / "p", env={"MLENV_CACHE_DIR": str(tmp_path / "c")})
    assert result.returncode == 1, result.stderr
    assert "tiny 1.0" in result.stderr and "Requires-Dist" in result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


def _wheel_record_entry(cache: LayerCache) -> tuple[str, Path, WheelClaims]:
    claims = WheelClaims(
        "alpha",
        "alpha-1.0-py3-none-any.whl",
        "lib/python3.11/site-packages/alpha-1.0.dist-info",
        (("lib/python3.11/site-packages/alpha/__init__.py", "alpha/__init__.py", None),),
        (),
    )
    inputs = BuildInputs("/opt/env", "/usr/bin/python3.11", "3.11", "none", "gzip", 0, True, ())
    key = wheel_key(claims.filename, "a" * 64, inputs)
    cache.put_wheel(key, claims, [], MemoryReporter())
    return key, cache.root / key[:2] / key, claims


def _fifo_wheel_record(entry: Path) -> None:
    (entry / "wheel.json").unlink()
    os.mkfifo(entry / "wheel.json")


def _symlinked_wheel_record(entry: Path) -> None:
    (entry / "wheel.json").rename(entry.parent / "elsewhere.json")
    (entry / "wheel.json").symlink_to(entry.parent / "elsewhere.json")


@pytest.mark.parametrize(
    "plant",
    [
        lambda entry: chown_tree(entry, OTHER_UID),
        lambda entry: os.chown(entry / "wheel.json", OTHER_UID, -1),
        lambda entry: (entry / "wheel.json").chmod(0o666),
        lambda entry: entry.chmod(0o777),
        _fifo_wheel_record,
        _symlinked_wheel_record,
    ],
    ids=["entry-other-uid", "record-other-uid", "record-writable", "dir-writable", "fifo", "link"],
)
def test_a_wheel_record_another_user_could_have_written_is_a_miss(
    tmp_path: Path, plant: Callable[[Path], None]
) -> None:
    """Attacks the wheel records a rebuild trusts instead of reading a wheel (what it installs
    decides every path's owner and the SBOM's licences): one planted by another user, one anyone
    could rewrite, a FIFO or a symlink is a miss at once (the wheel is read again), never used."""
    cache = LayerCache(tmp_path / "cache")
    key, entry, claims = _wheel_record_entry(cache)
    assert cache.get_wheel(key) == (claims, [])  # the control: this user's record is used
    plant(entry)
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(cache.get_wheel, key).result(timeout=10) is None


# ---------------------------------------------------------------------------------------------
# Review pass: shapes an attacker found after the merge


@pytest.mark.parametrize("shape", ["fifo", "dev-zero", "directory"])
def test_verify_reads_only_a_plain_output(tmp_path: Path, shape: str) -> None:
    """Attacks `verify OUTPUT` with an output that is a FIFO (blocked for a writer) or a
    symlink to /dev/zero (hashed for ever) beside a good build.json: refused at once, exit 1;
    a plain file is hashed as before."""
    output = tmp_path / "image.tar"
    if shape == "fifo":
        os.mkfifo(output)
    elif shape == "dev-zero":
        output.symlink_to("/dev/zero")
    else:
        output.mkdir()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(verify_command._output_sha256, output)
        with pytest.raises(MlenvError, match="cannot read the output"):
            future.result(timeout=10)
    plain = tmp_path / "plain.tar"
    plain.write_bytes(b"image")
    assert verify_command._output_sha256(plain) == hashlib.sha256(b"image").hexdigest()


TOKEN_BODIES = {
    "huge-integer": b'{"token": ' + b"9" * 5000 + b"}",
    "not-ascii": '{"token": "\u00ff\u4e00"}'.encode(),
    "newline": b'{"token": "a\\nAuthorization: x"}',
    "nul": b'{"token": "a\\u0000b"}',
    "space": b'{"token": "a b"}',
}


@pytest.mark.parametrize("body", sorted(TOKEN_BODIES))
def test_a_token_answer_that_cannot_go_into_a_header_is_clear(body: str) -> None:
    """Attacks the Bearer token flow: a token answer past the integer-digit limit, or a token
    that is not visible ASCII (it becomes an Authorization header), is a clear registry error,
    never an internal ValueError/UnicodeEncodeError or a forged header line."""
    request = httpx.Request("GET", "https://auth.test/token")
    with pytest.raises(MlenvError) as caught:
        auth._token(httpx.Response(200, content=TOKEN_BODIES[body], request=request))
    assert "auth.test" in str(caught.value.where)
    good = httpx.Response(200, content=b'{"token": "eyJhbGciOi.J9-_"}', request=request)
    assert auth._token(good) == "eyJhbGciOi.J9-_"


def test_a_docker_config_past_the_integer_digit_limit_is_clear(tmp_path: Path) -> None:
    """Attacks the Docker config reader with a number JSON cannot turn into an int: a clear
    error naming the file, not an internal error."""
    (tmp_path / "config.json").write_bytes(b'{"auths": ' + b"9" * 5000 + b"}")
    with pytest.raises(MlenvError, match="cannot be read") as caught:
        credentials.docker_credentials("registry.test", {"DOCKER_CONFIG": str(tmp_path)})
    assert "config.json" in str(caught.value.where)


WHEEL_SHAPES: dict[str, dict[str, Any]] = {
    "content-a-string": {"claims": [["a/b.py", "b.py", "x"]]},
    "content-empty": {"claims": [["a/b.py", "b.py", []]]},
    "target-not-a-string": {"claims": [[1, "b.py", None]]},
    "member-an-object": {"claims": [["a/b.py", {"k": 1}, None]]},
    "target-escapes": {"claims": [["../../etc/passwd", "m", None]]},
    "target-absolute": {"claims": [["/etc/passwd", "m", None]]},
    "dropped-a-string": {"dropped": "abc"},
    "dist-info-escapes": {"dist_info": "../x.dist-info"},
    "licences-a-string": {"licences": "MIT"},
    "licences-an-object": {"licences": {"x": 1}},
}


@pytest.mark.parametrize("shape", sorted(WHEEL_SHAPES))
def test_a_sealed_wheel_record_of_the_wrong_shape_is_a_miss(tmp_path: Path, shape: str) -> None:
    """Attacks the wheel records a rebuild trusts with well-sealed bodies of the wrong shape
    (written by a buggy or older mlenv, or by hand): each is a miss, never a traceback, a path
    outside the tree or a licence of the wrong type reaching the SBOM."""
    cache = LayerCache(tmp_path / "cache")
    key, entry, claims = _wheel_record_entry(cache)
    assert cache.get_wheel(key) == (claims, [])  # the control: the record as written is used
    body = json.loads((entry / "wheel.json").read_bytes())["body"]
    change = dict(WHEEL_SHAPES[shape])
    if "licences" in change:
        body["licences"] = change.pop("licences")
    body["wheel"].update(change)
    (entry / "wheel.json").write_bytes(_sealed(body))
    assert cache.get_wheel(key) is None
