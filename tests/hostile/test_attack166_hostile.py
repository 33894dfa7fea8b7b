"""Attack 166: invariants 1 and 2 (docs/security.md) through the artifact cache, bundles and
the checks that read an artifact's bytes to vouch for the lock.

The check that holds a lock to its wheels' METADATA (``locked_metadata.check_locked_metadata``,
run by ``fetch``, ``verify --cache`` and ``verify --bundle``) read each cached wheel in place,
unhashed, and hashed it only when it found a contradiction. So a wheel someone else could put
in the cache (a shared cache's bucket, a file of another user) was vouched for by bytes no
hash covered: another wheel of the same name, version and size, whose METADATA agrees with a
lock a hostile index made, passed, and the locked wheel, which contradicts it, shipped later.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mlenv.cache.artifacts import relative_path
from tests.support.cli import run_mlenv
from tests.support.fetch_project import WHEELS, build_refusal, make_project
from tests.support.httpserver import IndexServer
from tests.support.raw_wheels import METADATA, WHEEL, raw_wheel, record_hash
from tests.support.swapper import SWAPPER
from tests.support.wheels import build_wheel, write_simple_index

_APP_FILES = {"app/__init__.py": b"x = 1\n"}


def _app(requires: list[str]) -> tuple[str, bytes]:
    return build_wheel("app", "1.0", requires_dist=requires, files=_APP_FILES)


def padded(data: bytes, size: int) -> bytes:
    """The zip ``data`` grown to exactly ``size`` bytes by its end-of-archive comment: the
    same members, so the same wheel to every reader."""
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.comment = b"#" * (size - len(data))
    assert len(buffer.getvalue()) == size
    return buffer.getvalue()


def _twin_locked(tmp_path: Path) -> tuple[Path, dict[str, str], bytes, bytes]:
    """A project locked against a hostile index: its page and hashed `.metadata` describe a
    twin of ``app`` requiring ``evil``, its wheel file (the hash the page gives) requires
    ``lib``. The project, its environment, the genuine wheel and the twin, of one size; the
    cache holds the lock's other wheel."""
    genuine, twin = _app(["lib"]), _app(["evil"])
    size = max(len(genuine[1]), len(twin[1])) + 64
    genuine_bytes, twin_bytes = padded(genuine[1], size), padded(twin[1], size)
    evil = build_wheel("evil", "1.0", files={"evil/__init__.py": b""})
    www = tmp_path / "www"
    write_simple_index(www, [(twin[0], twin_bytes), WHEELS[1], evil])
    page = www / "simple" / "app" / "index.html"
    twin_sha, genuine_sha = (hashlib.sha256(b).hexdigest() for b in (twin_bytes, genuine_bytes))
    page.write_text(page.read_text().replace(twin_sha, genuine_sha))
    (www / "files" / genuine[0]).write_bytes(genuine_bytes)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    with IndexServer(www) as server:
        root = make_project(tmp_path, f"{server.url}/simple/")
        assert run_mlenv(["lock"], root, env).returncode == 0
    assert "evil" in (root / "mlenv.lock").read_text()
    evil_path = tmp_path / "cache" / relative_path(hashlib.sha256(evil[1]).hexdigest())
    evil_path.parent.mkdir(parents=True, exist_ok=True)
    evil_path.write_bytes(evil[1])  # the rest of the lock, fetched as it should be
    return root, env, genuine_bytes, twin_bytes


def _plant(cache: Path, sha256: str, data: bytes, shape: str) -> Path:
    """``data`` at the cache's file for ``sha256``, as someone other than this user could have
    put it there: in a bucket anyone may write, or as another user's file."""
    path = cache / relative_path(sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o644)
    if shape == "bucket anyone may write":
        path.parent.chmod(0o777)
    elif shape == "another user's file":
        os.chown(path, 4242, 4242)
    else:
        raise AssertionError(shape)
    return path


_SHAPES = ["bucket anyone may write", "another user's file"]


@pytest.mark.parametrize("shape", _SHAPES)
@pytest.mark.parametrize("command", [["fetch", "--offline"], ["verify", "--cache"]])
def test_a_planted_twin_never_vouches_for_the_lock_s_metadata(
    tmp_path: Path, shape: str, command: list[str]
) -> None:
    """Someone who can write the shared cache puts the twin (same name, version and size, its
    METADATA agreeing with the lock) at the genuine wheel's name. `fetch --offline` took the
    twin's METADATA for the locked wheel's and said every artifact was there: once the genuine
    wheel is back, `build --offline` installs it without lib. Now the METADATA is read from
    bytes hashed to the lock's sha256: refused, naming the cache file, exit 1."""
    root, env, genuine, twin = _twin_locked(tmp_path)
    sha256 = hashlib.sha256(genuine).hexdigest()
    planted = _plant(tmp_path / "cache", sha256, twin, shape)
    result = run_mlenv(command, root, env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert str(planted) in result.stderr and "sha256" in result.stderr, result.stderr


def _bundle(tmp_path: Path, root: Path, genuine: bytes) -> Path:
    """A bundle of the twin-locked project holding the genuine wheel (what `fetch --bundle`
    would carry, had the hostile index not been caught), its buckets writable by anyone, as
    on a shared transfer disk."""
    from mlenv.cache.artifacts import ArtifactCache
    from mlenv.cache.bundle import write_bundle
    from mlenv.cache.lock_artifacts import artifacts_of
    from mlenv.lockfile_read import loads

    cache = ArtifactCache(tmp_path / "cache")
    genuine_path = cache.path(hashlib.sha256(genuine).hexdigest())
    genuine_path.parent.mkdir(parents=True, exist_ok=True)
    genuine_path.write_bytes(genuine)
    lock = loads((root / "mlenv.lock").read_text())
    bundle = write_bundle(
        tmp_path / "bundle", root / "mlenv.toml", root / "mlenv.lock", artifacts_of(lock), cache
    )
    for bucket in (bundle / "artifacts-v1" / "sha256").iterdir():
        bucket.chmod(0o777)
    return bundle


def _swapped(
    tmp_path: Path, root: Path, env: dict[str, str], target: Path, data: bytes, after: int,
    args: list[str],
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    (tmp_path / "other").write_bytes(data)
    return subprocess.run(
        [sys.executable, "-c", SWAPPER, target.name, str(target), str(tmp_path / "other"),
         str(after), *args],
        cwd=root, env={**os.environ, **env}, capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("after", [0, 1, 2])
def test_verify_bundle_never_passes_a_wheel_swapped_after_its_hash(
    tmp_path: Path, after: int
) -> None:
    """The bundle holds the genuine wheel, which contradicts the lock (its METADATA requires
    lib, the lock says evil). Someone who can write the bundle's bucket swaps the twin in
    after `verify --bundle` hashed every file: the METADATA check read the twin in place,
    unhashed, agreed with the lock, and verify said the bundle was complete with every sha256
    checked, though it then held a file no sha256 of it matched. Now, whenever the swap
    comes, verify fails naming the file (or the contradiction of the genuine wheel), exit 1."""
    root, env, genuine, twin = _twin_locked(tmp_path)
    bundle = _bundle(tmp_path, root, genuine)
    named = relative_path(hashlib.sha256(genuine).hexdigest())
    target = bundle / named
    result = _swapped(tmp_path, root, env, target, twin, after, ["verify", "--bundle", str(bundle)])
    assert target.read_bytes() == twin, "the swap must have happened"
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "OK" not in result.stdout
    said = result.stdout + result.stderr
    assert named in said or "lock depends on evil" in said, said


def _plain_bundle(tmp_path: Path) -> Path:
    """A complete bundle of a project locking app and lib from a local index."""
    root = make_project(tmp_path, write_simple_index(tmp_path / "www", WHEELS))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    for command in (["lock"], ["fetch", "--bundle", "../bundle"]):
        assert run_mlenv(command, root, env).returncode == 0
    return tmp_path / "bundle"


def _list_instead(bundle: Path, name: str, data: bytes) -> None:
    """bundle.json rewritten to vouch for ``data`` as ``name`` (anyone who can change a
    bundle can)."""
    index = json.loads((bundle / "bundle.json").read_text())
    for entry in index["files"]:
        if entry["path"] == name:
            entry.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    (bundle / "bundle.json").write_text(json.dumps(index))


@pytest.mark.parametrize("name", ["mlenv.lock", "mlenv.toml"])
def test_verify_bundle_judges_the_lock_and_manifest_it_hashed(tmp_path: Path, name: str) -> None:
    """`verify --bundle` read the lock to judge the bundle by, then read it again to hash it
    (and hashed the manifest, then read it again to judge it against the lock). bundle.json
    vouches for a stale file (a lock of other inputs, a manifest with another dependency);
    the fresh one is there for the read that judges, the stale one for the read that hashes:
    verify said the bundle was complete, and the air-gapped build then refused its stale
    lock or manifest. Now one read does both: the stale file is named, exit 1."""
    bundle = _plain_bundle(tmp_path)
    fresh = (bundle / name).read_bytes()
    if name == "mlenv.lock":
        stale = re.sub(rb'inputs-hash = "sha256:\w+"', b'inputs-hash = "sha256:' + b"0" * 64 + b'"',
                       fresh)  # fmt: skip
        first, then = fresh, stale  # judged, then hashed
    else:
        stale = fresh.replace(b'dependencies = ["app"]', b'dependencies = ["app", "lib"]')
        first, then = stale, fresh  # hashed, then judged
    assert stale != fresh
    _list_instead(bundle, name, stale)
    (bundle / name).write_bytes(first)
    result = _swapped(tmp_path, tmp_path, {}, bundle / name, then, 1,
                      ["verify", "--bundle", str(bundle)])  # fmt: skip
    assert (bundle / name).read_bytes() == then, "the swap must have happened"
    said = result.stdout + result.stderr
    assert result.returncode == 1, said
    assert "Traceback" not in said and "OK" not in result.stdout
    assert name in said and "FAIL" in said, said


# ---------------------------------------------------------------------------------------------
# Wheels whose RECORD or zip structure lies: what mlenv already refused, held as regressions.


def _local_name_swapped(data: bytes, name: bytes, other: bytes) -> bytes:
    """The wheel with the local header of member ``name`` renamed ``other`` (same length):
    the central directory still says ``name``."""
    assert len(name) == len(other)
    at = data.index(b"PK\x03\x04")
    while data[at + 30 : at + 30 + len(name)] != name:
        at = data.index(b"PK\x03\x04", at + 4)
    return data[: at + 30] + other + data[at + 30 + len(name) :]


def _hostile_wheel(tmp_path: Path, shape: str) -> tuple[bytes, str]:
    """A wheel of ``evil`` in one lying shape, and the member the refusal must name."""
    code, big = b"x = 1\n", os.urandom(1 << 20) + b"padding"
    if shape == "member differs from its RECORD hash":
        rows = f"evil/a.py,{record_hash(b'x = 2' + bytes([10]))},6\n"
        path = raw_wheel(tmp_path, [("evil/a.py", code)], record=rows + _DIST_ROWS)
    elif shape == "member missing from RECORD":
        path = raw_wheel(tmp_path, [("evil/a.py", code)], record=_DIST_ROWS)
    elif shape == "member named twice with two contents":
        path = raw_wheel(tmp_path, [("evil/a.py", code), ("evil/a.py", b"x = 2\n")])
    elif shape == "RECORD size lies":
        rows = f"evil/a.py,{record_hash(code)},5\n"
        path = raw_wheel(tmp_path, [("evil/a.py", code)], record=rows + _DIST_ROWS)
    elif shape in ("local header names another member", "big member's local header lies"):
        data = code if shape.startswith("local") else big
        path = raw_wheel(tmp_path, [("evil/a.py", data), ("evil/b.py", data)])
        path.write_bytes(_local_name_swapped(path.read_bytes(), b"evil/a.py", b"evil/c.py"))
    else:
        raise AssertionError(shape)
    return path.read_bytes(), "evil/a.py"


_DIST_ROWS = (
    f"evil-1.0.dist-info/METADATA,{record_hash(METADATA)},{len(METADATA)}\n"
    f"evil-1.0.dist-info/WHEEL,{record_hash(WHEEL)},{len(WHEEL)}\nevil-1.0.dist-info/RECORD,,\n"
)


_WHEEL_SHAPES = [
    "member differs from its RECORD hash",
    "member missing from RECORD",
    "member named twice with two contents",
    "RECORD size lies",
    "local header names another member",
    "big member's local header lies",
]


@pytest.mark.parametrize("shape", _WHEEL_SHAPES)
def test_a_wheel_whose_record_or_zip_lies_is_refused_naming_it(tmp_path: Path, shape: str) -> None:
    """Locked, fetched and hashed like any wheel, but its RECORD or its zip structure lies:
    `build --offline` exits 1 naming the wheel and the member, and writes nothing (these
    shapes were refused already; kept so they stay refused)."""
    (tmp_path / "made").mkdir()
    data, member = _hostile_wheel(tmp_path / "made", shape)
    stderr = build_refusal(tmp_path / "project", ("evil-1.0-py3-none-any.whl", data))
    assert "evil-1.0-py3-none-any.whl" in stderr and member in stderr, stderr


def _tamper(bundle: Path, shape: str) -> str:
    """``bundle`` changed in one shape after `fetch --bundle`; the name the report must give."""
    index = json.loads((bundle / "bundle.json").read_text())
    wheels: list[str] = sorted(
        e["path"] for e in index["files"] if e["path"].startswith("artifacts-v1/")
    )
    first, second = (bundle / w for w in wheels)
    if shape == "truncated":
        first.write_bytes(first.read_bytes()[:-1])
        return wheels[0]
    if shape == "two artifacts swapped":
        a, b = first.read_bytes(), second.read_bytes()
        first.write_bytes(b)
        second.write_bytes(a)
        return wheels[0]
    if shape == "another case of an artifact's bucket":
        upper = bundle / wheels[0].replace("/sha256/", "/SHA256/")
        upper.parent.mkdir(parents=True)
        upper.write_bytes(first.read_bytes())
        return "artifacts-v1/SHA256"
    if shape == "index lists a name in NFD":
        index["files"].append({"path": "artifacts-v1/cafe\u0301", "sha256": "0" * 64, "size": 0})
        (bundle / "bundle.json").write_text(json.dumps(index))
        return "artifacts-v1/cafe"
    if shape == "artifact hard-linked to other bytes":
        outside = bundle.parent / "outside.whl"
        outside.write_bytes(b"\0" * first.stat().st_size)
        first.unlink()
        os.link(outside, first)
        return wheels[0]
    if shape == "index rewritten for a wheel with other bytes":
        data = bytearray(first.read_bytes())
        data[-30] ^= 1  # in the end-of-archive record
        moved = relative_path(hashlib.sha256(data).hexdigest())
        (bundle / moved).parent.mkdir(exist_ok=True)
        (bundle / moved).write_bytes(bytes(data))
        first.unlink()
        for entry in index["files"]:
            if entry["path"] == wheels[0]:
                entry.update(path=moved, sha256=moved.rpartition("/")[2], size=len(data))
        (bundle / "bundle.json").write_text(json.dumps(index))
        return wheels[0]
    raise AssertionError(shape)


@pytest.mark.parametrize(
    "shape",
    ["truncated", "two artifacts swapped", "another case of an artifact's bucket",
     "index lists a name in NFD", "artifact hard-linked to other bytes",
     "index rewritten for a wheel with other bytes"],
)  # fmt: skip
def test_a_bundle_tampered_after_fetch_is_reported_naming_the_file(
    tmp_path: Path, shape: str
) -> None:
    """`verify --bundle` of a bundle changed after `fetch --bundle` exits 1 naming the file
    (these shapes were refused already; kept so they stay refused)."""
    bundle = _plain_bundle(tmp_path)
    named = _tamper(bundle, shape)
    result = run_mlenv(["verify", "--bundle", str(bundle)], tmp_path)
    said = result.stdout + result.stderr
    assert result.returncode == 1, said
    assert named in said and "Traceback" not in said, said


def test_a_shared_cache_of_the_locked_bytes_still_passes(tmp_path: Path) -> None:
    """The other side of the METADATA fix: a cache others share (one wheel another user's,
    another in a bucket anyone may write) holding exactly the locked bytes passes `fetch
    --offline` and `verify --cache`, read from the hashed copy or the hashed descriptor."""
    root = make_project(tmp_path, write_simple_index(tmp_path / "www", WHEELS))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    for command in (["lock"], ["fetch"]):
        assert run_mlenv(command, root, env).returncode == 0
    app, lib = (
        tmp_path / "cache" / relative_path(hashlib.sha256(w[1]).hexdigest()) for w in WHEELS
    )
    os.chown(app, 4242, 4242)
    lib.parent.chmod(0o777)
    for command in (["fetch", "--offline"], ["verify", "--cache"]):
        result = run_mlenv(command, root, env)
        assert result.returncode == 0, result.stderr
