"""Attack 181: a bundle carried into an air gap the ways platform engineers carry them.

``mlenv fetch --bundle`` on one side, a carry (cp, tar as another uid, zip, a read-only mount,
odd paths, a Windows transfer, a merge, a damaged copy), then ``verify --bundle`` and
``build --offline`` with the bundle as the cache on the other. A carry either changes nothing
(the same image bytes as a build without it, nothing written into the bundle) or fails with
exit 1, no traceback, naming the bundle and the fix (``ArtifactCache.repair_hint``,
``BundleVerdict.hint``, ``bundle._measured`` for CRLF). Real wheels, real processes, a real
signal for the interrupted re-fetch.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from mlenv.cache.held import measure, measure_lf
from tests.support.cli import run_mlenv
from tests.support.trickle import TrickleServer
from tests.support.wheels import build_wheel, write_simple_index

MANIFEST = (
    '[environment]\nname = "carry"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
    '[pypi]\nindex-url = "{index}"\n{links}dependencies = [{deps}]\n'
    '[build]\noutputs = ["conda-pack"]\n'
)
# without CAP_DAC_OVERRIDE root is held to the modes, as another user would be
NO_CAPS = ("setpriv", "--bounding-set=-all", "--inh-caps=-all")


def _write_manifest(root: Path, index: str, deps: Sequence[str], links: bool) -> None:
    listed = ", ".join(json.dumps(dep) for dep in deps)
    found = 'find-links = ["wheels"]\n' if links else ""
    (root / "mlenv.toml").write_text(MANIFEST.format(index=index, links=found, deps=listed))


def _ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, str]:
    """A bundle of two wheels (one with an uppercase project name) and the archive a build
    makes without any carry; the lock's sha256."""
    base = tmp_path_factory.mktemp("made")
    project = base / "project"
    (project / "wheels").mkdir(parents=True)
    for name, data in (
        build_wheel("app", "1.0", requires_dist=["Big_Lib"], files={"app/__init__.py": b"x\n"}),
        build_wheel("Big_Lib", "2.0", files={"big_lib/a.bin": os.urandom(60_000)}),
    ):
        (project / "wheels" / name).write_bytes(data)
    _write_manifest(project, "file:///nonexistent-mlenv-index/simple", ["app"], links=True)
    env = {"MLENV_CACHE_DIR": str(base / "cache")}
    _ok(run_mlenv(["lock"], project, env))
    fetched = _ok(run_mlenv(["fetch", "--bundle", str(base / "bundle")], project, env))
    lock_sha = hashlib.sha256((project / "mlenv.lock").read_bytes()).hexdigest()
    assert f"wrote bundle {base / 'bundle'} for mlenv.lock sha256 {lock_sha}" in fetched.stderr
    _ok(run_mlenv(["build", "--offline"], project, env))
    return base / "bundle", (project / "dist" / "carry.tar.gz").read_bytes(), lock_sha


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"/"
        for p in sorted(root.rglob("*"))
    }


def _verify_and_build(
    bundle: Path, out: Path, caps: bool = True
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    env = {"MLENV_CACHE_DIR": str(out / "cache")}
    prefix = () if caps else NO_CAPS
    verified = run_mlenv(["verify", "--bundle", str(bundle)], out, env, prefix=prefix)
    built = run_mlenv(
        ["-m", str(bundle / "mlenv.toml"), "--cache", str(bundle), "build", "--offline",
         "-o", str(out / "dist")], out, env, prefix=prefix,
    )  # fmt: skip
    for done in (verified, built):
        assert "Traceback" not in done.stderr, done.stderr
    return verified, built


def _cp(flags: str) -> Callable[[Path, Path], Path]:
    def carry(bundle: Path, into: Path) -> Path:
        subprocess.run(["cp", flags, str(bundle), str(into / "bundle")], check=True)
        return into / "bundle"

    return carry


def _tar_as_another_uid(bundle: Path, into: Path) -> Path:
    subprocess.run(["tar", "-C", str(bundle.parent), "-cf", str(into / "b.tar"), bundle.name],
                   check=True)  # fmt: skip
    subprocess.run(["tar", "-C", str(into), "-xf", str(into / "b.tar")], check=True)
    for path in [into / bundle.name, *(into / bundle.name).rglob("*")]:
        os.chown(path, 4321, 4321, follow_symlinks=False)
    return into / bundle.name


def _zip(bundle: Path, into: Path) -> Path:
    """zip/unzip as a Windows share or a mail gateway carries it: no modes, no mtimes."""
    with zipfile.ZipFile(into / "b.zip", "w") as archive:
        for path in sorted(bundle.rglob("*")):
            if path.is_file():
                archive.writestr(str(path.relative_to(bundle.parent)), path.read_bytes())
    with zipfile.ZipFile(into / "b.zip") as archive:
        archive.extractall(into)
    return into / bundle.name


def _read_only(bundle: Path, into: Path) -> Path:
    subprocess.run(["cp", "-r", str(bundle), str(into / "ro")], check=True)
    subprocess.run(["chmod", "-R", "a-w", str(into / "ro")], check=True)
    return into / "ro"


def _named(name: str) -> Callable[[Path, Path], Path]:
    def carry(bundle: Path, into: Path) -> Path:
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(bundle, into / name)
        return into / name

    return carry


def _symlink(bundle: Path, into: Path) -> Path:
    (into / "link").symlink_to(_named("real")(bundle, into))
    return into / "link"


def _reformatted(bundle: Path, into: Path) -> Path:
    carried = _named("b")(bundle, into)
    index = json.loads((carried / "bundle.json").read_text())
    files = [dict(reversed(entry.items())) for entry in index["files"]]
    (carried / "bundle.json").write_text(
        json.dumps({"files": files, "bundle-version": index["bundle-version"]}, indent=3)
        .replace("\n", "\r\n")
    )  # fmt: skip
    return carried


def _case_folded(bundle: Path, into: Path) -> Path:
    """A copy where names that differ only by case are one file (FAT, NTFS, APFS default)."""
    seen: dict[str, Path] = {}
    for path in sorted(bundle.rglob("*")):
        folded = str(path.relative_to(bundle)).casefold()
        assert folded not in seen, f"{path} and {seen[folded]} would be one file"
        seen[folded] = path
    return _named("folded")(bundle, into)


CARRIES: dict[str, Callable[[Path, Path], Path]] = {
    "cp -r": _cp("-r"),
    "cp -a": _cp("-a"),
    "tar, owned by another uid": _tar_as_another_uid,
    "zip/unzip": _zip,
    "chmod -R a-w, run without root's override": _read_only,
    "spaces": _named("my bundles/the bundle"),
    "unicode": _named("bündel-束/日本"),
    "leading dash": _named("-bundle"),
    "3,000-byte path": _named("/".join(["d" * 250] * 12) + "/bundle"),
    "symlink to the bundle": _symlink,
    "renamed": _named("renamed-after-the-carry"),
    "index reformatted, CRLF": _reformatted,
    "case-insensitive names": _case_folded,
}


@pytest.mark.parametrize("carry", sorted(CARRIES))
def test_a_carried_bundle_builds_the_same_bytes_and_stays_unwritten(
    made: tuple[Path, bytes, str], tmp_path: Path, carry: str
) -> None:
    """Protects bundle.check_bundle and build's reads through the bundle as a cache: a carry
    that keeps the bytes keeps the image, and mlenv writes nothing into the bundle (read-only
    trees and bundles owned by another uid work)."""
    bundle, archive, lock_sha = made
    carried = CARRIES[carry](bundle, tmp_path)
    before = _tree(carried)
    verified, built = _verify_and_build(carried, tmp_path, caps="chmod" not in carry)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"every sha256 checked; mlenv.lock sha256 {lock_sha})" in verified.stdout
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "dist" / "carry.tar.gz").read_bytes() == archive
    assert _tree(carried) == before


def test_a_read_only_bind_mount_builds_and_dist_beside_it_names_the_fix(
    made: tuple[Path, bytes, str], tmp_path: Path
) -> None:
    """Protects outputs.check_output and the bundle-as-cache reads: on a read-only mount the
    bundle verifies and builds with -o elsewhere; dist/ beside its manifest is refused naming
    the bundle, never a traceback."""
    bundle, archive, _ = made
    script = (
        'set -e; mkdir -p "$1/ro"; mount --bind "$2" "$1/ro"; mount -o remount,bind,ro "$1/ro";'
        f' cd "$1"; {sys.executable} -m mlenv verify --bundle ro;'
        f' {sys.executable} -m mlenv -m ro/mlenv.toml --cache ro build --offline -o "$1/dist";'
        f' cd ro; {sys.executable} -m mlenv --cache . build --offline || echo "exit $?"'
    )
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(tmp_path), str(bundle)],
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "MLENV_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "OK: bundle ro is complete" in done.stdout
    assert (tmp_path / "dist" / "carry.tar.gz").read_bytes() == archive
    assert done.stdout.rstrip().endswith("exit 1"), done.stdout
    assert f"error: {tmp_path}/ro: cannot write dist here: Read-only file system" in done.stderr
    assert "Traceback" not in done.stderr


def _largest(bundle: Path) -> Path:
    wheels = (p for p in (bundle / "artifacts-v1").rglob("*") if p.is_file())
    return max(wheels, key=lambda p: p.stat().st_size)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


def _crlf(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[200] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "verify_says", "build_says"),
    [
        (_truncate, "1000 bytes, bundle.json says", "1000 bytes, the lock says"),
        (_crlf, "its LF line ends became CRLF on the way", "bytes, the lock says"),
        (_flip, "CORRUPTED ", "cached file has sha256"),
        (Path.unlink, "listed in bundle.json but absent", "big-lib 2.0: missing ("),
    ],
)
def test_a_damaged_carry_is_named_with_the_bundle_and_its_fix(
    made: tuple[Path, bytes, str],
    tmp_path: Path,
    damage: Callable[[Path], None],
    verify_says: str,
    build_says: str,
) -> None:
    """Protects ArtifactCache.repair_hint / absent and bundle._measured: before, a truncated
    or CRLF-converted wheel in a bundle used as the cache was reported "missing" with the hint
    to run `mlenv fetch` on a connected machine, and verify --bundle's FAIL said no fix."""
    carried = _named("b")(made[0], tmp_path)
    damage(_largest(carried))
    verified, built = _verify_and_build(carried, tmp_path)
    assert verified.returncode == 1 and built.returncode == 1
    assert verify_says in verified.stdout, verified.stdout
    assert f"error: {carried}: the bundle is not what it lists" in verified.stderr
    assert "carry it again whole and in binary mode" in verified.stderr
    assert build_says in built.stderr, built.stderr
    assert f"`mlenv verify --bundle {carried}` lists every problem" in built.stderr
    assert "connected machine" not in built.stderr
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize("name", ["mlenv.lock", "mlenv.toml"])
def test_a_windows_transfer_of_the_text_files_is_named(
    made: tuple[Path, bytes, str], tmp_path: Path, name: str
) -> None:
    """Protects bundle._measured: a lock or manifest whose LF became CRLF is named as such."""
    carried = _named("b")(made[0], tmp_path)
    _crlf(carried / name)
    verified, _ = _verify_and_build(carried, tmp_path)
    assert verified.returncode == 1
    assert f"CORRUPTED          {name}: " in verified.stdout
    assert "its LF line ends became CRLF on the way" in verified.stdout


@pytest.mark.parametrize("merge", ["extra file", "two bundles in one directory"])
def test_an_extra_entry_is_named_with_its_fix(
    made: tuple[Path, bytes, str], tmp_path: Path, merge: str
) -> None:
    """Protects BundleVerdict.hint: a file added on the way, or a second project's bundle
    copied over the first (its bundle.json, lock and manifest win), fails verify saying what
    to remove; a build from it still builds the lock it holds."""
    bundle, archive, _ = made
    carried = _named("b")(bundle, tmp_path)
    if merge == "extra file":
        (carried / "README.txt").write_text("notes\n")
    else:
        other = tmp_path / "other"
        (other / "wheels").mkdir(parents=True)
        name, data = build_wheel("other", "3.0", files={"other/__init__.py": b""})
        (other / "wheels" / name).write_bytes(data)
        _write_manifest(other, "file:///nonexistent-mlenv-index/simple", ["other"], links=True)
        env = {"MLENV_CACHE_DIR": str(tmp_path / "other-cache")}
        _ok(run_mlenv(["lock"], other, env))
        _ok(run_mlenv(["fetch", "--bundle", str(tmp_path / "b2")], other, env))
        shutil.copytree(tmp_path / "b2", carried, dirs_exist_ok=True)
    verified, built = _verify_and_build(carried, tmp_path)
    assert verified.returncode == 1
    assert verified.stdout.startswith("EXTRA ")
    assert "hint: remove each EXTRA entry" in verified.stderr
    assert "carry it again" not in verified.stderr  # nothing it lists was damaged
    assert built.returncode == 0, built.stderr
    if merge == "extra file":
        assert (tmp_path / "dist" / "carry.tar.gz").read_bytes() == archive


def test_a_refetch_after_a_lock_bump_is_incremental_and_a_signal_keeps_the_old_bundle(
    tmp_path: Path,
) -> None:
    """Protects write_bundle's swap (atomic.replace_dir): a fetch --bundle over an earlier
    bundle, stopped by SIGTERM mid-download, leaves the old complete bundle, and verify names
    its lock; the next run downloads only what the cache lacks and leaves no stale wheel."""
    wheels = [
        build_wheel("app", "1.0", files={"app/__init__.py": b"x\n"}),
        build_wheel("lib", "1.0", files={"lib/a.bin": os.urandom(50_000)}),
        build_wheel("lib", "2.0", files={"lib/a.bin": os.urandom(600_000)}),
    ]
    write_simple_index(tmp_path / "www", wheels)
    project, bundle = tmp_path / "project", tmp_path / "carry" / "bundle"
    project.mkdir()
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    with TrickleServer(tmp_path / "www", chunk=16 * 1024, delay=0.05) as server:
        _write_manifest(project, f"{server.url}/simple", ["app", "lib==1.0"], links=False)
        server.delay = 0
        _ok(run_mlenv(["lock"], project, env))
        _ok(run_mlenv(["fetch", "--bundle", str(bundle)], project, env))
        old_sha = hashlib.sha256((project / "mlenv.lock").read_bytes()).hexdigest()
        old = _tree(bundle)
        _write_manifest(project, f"{server.url}/simple", ["app", "lib==2.0"], links=False)
        _ok(run_mlenv(["lock"], project, env))
        new_sha = hashlib.sha256((project / "mlenv.lock").read_bytes()).hexdigest()
        server.delay = 0.05
        sent = server.bytes_sent
        process = subprocess.Popen(
            [sys.executable, "-m", "mlenv", "fetch", "-j", "1", "--bundle", str(bundle)],
            cwd=project, env={**os.environ, **env},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60  # a stall guard only: the signal waits for bytes
        while server.bytes_sent - sent < 100_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.poll() is None, "the fetch ended before the signal"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode != 0 and "Traceback" not in stderr, stderr
        assert _tree(bundle) == old
        said = _ok(run_mlenv(["verify", "--bundle", str(bundle)], tmp_path, {}))
        assert f"mlenv.lock sha256 {old_sha})" in said.stdout
        server.delay = 0
        server.gets.clear()
        again = _ok(run_mlenv(["fetch", "--bundle", str(bundle)], project, env))
    # incremental: app 1.0 is never downloaded again (lib 2.0 only if the stopped run's
    # download did not end and store it while the run wound down)
    downloaded = [get.rpartition("/")[2] for get in server.gets if get.endswith(".whl")]
    assert downloaded in ([], ["lib-2.0-py3-none-any.whl"]), downloaded
    assert f"{len(downloaded)} fetched" in again.stderr, again.stderr
    said = _ok(run_mlenv(["verify", "--bundle", str(bundle)], tmp_path, {}))
    assert f"mlenv.lock sha256 {new_sha})" in said.stdout
    files = json.loads((bundle / "bundle.json").read_text())["files"]
    listed = {entry["package"] for entry in files if "package" in entry}
    assert listed == {"app 1.0", "lib 2.0"}
    assert len([p for p in (bundle / "artifacts-v1").rglob("*") if p.is_file()]) == 2
    assert sorted(p.name for p in bundle.parent.iterdir()) == ["bundle"]


class _Drip:
    """A reader that hands out one byte a read: every CR ends a read before its LF."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(1)


@pytest.mark.parametrize("text", [b"a\r\nb\r\n", b"\r\r\n\r", b"\r", b"no line end", b""])
def test_crlf_is_undone_across_reads(text: bytes) -> None:
    """Protects held.measure_lf: a CR ending one read and its LF starting the next is one
    line end; a lone CR is kept."""
    expected = measure(io.BytesIO(text.replace(b"\r\n", b"\n")))
    assert measure_lf(_Drip(text)) == expected
    assert measure_lf(io.BytesIO(text)) == expected
