"""Attack 102: hostile operating conditions on a CI runner or an air-gapped host, around
``lock``, ``fetch`` (cache and ``--bundle``), ``build --offline`` and ``cache prune``: the
umask a job inherits, a layer cache this user cannot change (a read-only mount, another
user's cache), a relative ``XDG_CACHE_HOME``, and SIGTERM from a cancelled job.

Each test names what it protects and fails if its enforcement is removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from mlenv.cache import LAYERS
from mlenv.cache.layers import LayerCache
from tests.support.cli import run_mlenv
from tests.support.faultpoints import Held, changes, points
from tests.support.golden import build, fetched_golden, golden_project

pytestmark = pytest.mark.hostile

NOBODY = 65534


def _mlenv(
    args: Sequence[str], cwd: Path, env: Mapping[str, str], *, umask: int | None = None,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``mlenv ARGS`` in a subprocess under ``umask``, run through ``prefix`` (another user)."""

    def set_umask() -> None:
        if umask is not None:
            os.umask(umask)

    return subprocess.run(
        [*prefix, sys.executable, "-m", "mlenv", *args],
        cwd=cwd,
        env={**os.environ, "PIP_CONFIG_FILE": "/dev/null", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=set_umask,
    )


def _modes(root: Path) -> dict[str, int]:
    """Every path below ``root`` (itself as ".") with its permission bits."""
    found = {".": stat.S_IMODE(root.lstat().st_mode)}
    for path in root.rglob("*"):
        found[path.relative_to(root).as_posix()] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return fetched_golden(tmp_path_factory.mktemp("a102"))


@pytest.mark.parametrize("mask", [0o000, 0o002, 0o077])
def test_dist_and_bundle_modes_do_not_follow_the_umask(
    tmp_path: Path, fetched: tuple[Path, dict[str, str]], mask: int
) -> None:
    """Protects outputs.published_modes: dist/ and a bundle are published 0755 / 0644 (0444
    read-only) whatever the umask. A job run under umask 000 (some CI images set it) put a
    world-writable bundle and dist/ in place: any local user could swap an artifact or a blob
    after its hash was recorded; 077 made outputs no other user (a later job, a pusher) could
    read, and the modes differed from a run under 022."""
    project, env = fetched
    work = tmp_path / "project"
    shutil.copytree(project, work)
    built = build(work, Path(env["MLENV_CACHE_DIR"]), umask=mask)
    assert built.returncode == 0, built.stderr
    bundled = _mlenv(["fetch", "--bundle", str(tmp_path / "bundle")], work, env, umask=mask)
    assert bundled.returncode == 0, bundled.stderr
    for root in (work / "dist", tmp_path / "bundle"):
        modes = _modes(root)
        for name, mode in modes.items():
            assert not mode & 0o022, f"{root.name}/{name} is {oct(mode)}: others could write it"
        for name, mode in modes.items():
            wanted = (0o755,) if (root / name).is_dir() else (0o644, 0o444)
            assert mode in wanted, f"{root.name}/{name} is {oct(mode)}"


def test_the_same_modes_under_umask_000_and_077(
    tmp_path: Path, fetched: tuple[Path, dict[str, str]]
) -> None:
    """Protects outputs.published_modes as a whole: the two extremes give one mode per path."""
    project, env = fetched
    seen = []
    for mask in (0o000, 0o077):
        work = tmp_path / f"p{mask:o}"
        shutil.copytree(project, work)
        assert build(work, Path(env["MLENV_CACHE_DIR"]), umask=mask).returncode == 0
        out = tmp_path / f"b{mask:o}"
        assert _mlenv(["fetch", "--bundle", str(out)], work, env, umask=mask).returncode == 0
        seen.append((_modes(work / "dist"), _modes(out)))
    assert seen[0] == seen[1]


@contextmanager
def _read_only(directory: Path) -> Iterator[None]:
    """``directory`` bind-mounted read-only onto itself (a cache on a read-only volume, as an
    air-gapped host mounts a carried disk); always unmounted."""
    subprocess.run(["mount", "--bind", str(directory), str(directory)], check=True)
    try:
        subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(directory), str(directory)], check=True
        )
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def _nobody(cache: Path) -> list[str]:
    """Run as uid/gid 65534 (another user than the cache's owner, root): it may read what it
    is given (this Python lives in root's home) but write nothing of root's."""
    assert os.getuid() == 0 and cache.stat().st_uid == 0
    caps = ["--inh-caps", "+dac_read_search", "--ambient-caps", "+dac_read_search"]
    return ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups", *caps]


@pytest.mark.parametrize("shape", ["read-only mount", "another user's cache"])
def test_a_prune_that_cannot_remove_is_an_error_not_a_false_count(
    tmp_path: Path, shape: str
) -> None:
    """Protects LayerCache.prune(strict=True) for ``cache prune``: an entry it cannot remove
    (EROFS, EACCES) is counted as kept and the command fails naming the cache with a hint. It
    said "removed 2 layer(s), 3.8 KiB" with exit 0 while every byte stayed, so a CI step that
    prunes to make room went on to fill the disk."""
    project, env = fetched_golden(tmp_path)
    cache = Path(env["MLENV_CACHE_DIR"])
    assert build(project, cache).returncode == 0
    entries = LayerCache(cache).entries()
    assert entries
    args = ["cache", "prune", "--max-size", "0"]
    if shape == "read-only mount":
        with _read_only(cache):
            result = _mlenv(args, project, env)
    else:
        result = _mlenv(args, project, {**env, "HOME": "/nonexistent"}, prefix=_nobody(cache))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert str(cache / LAYERS) in result.stderr and "hint:" in result.stderr
    assert "0 removed" in result.stderr
    assert LayerCache(cache).entries() == entries  # nothing was removed, nothing half-removed
    again = run_mlenv(args, project, env)  # the owner, on a writable disk, can
    assert again.returncode == 0, again.stderr
    assert f"removed {len(entries)} layer(s)" in again.stderr
    assert LayerCache(cache).entries() == []


def test_a_relative_xdg_cache_home_is_ignored(tmp_path: Path) -> None:
    """Protects cache.cache_root: a relative ``XDG_CACHE_HOME`` is invalid (XDG base directory
    spec) and the default ``~/.cache/mlenv`` is used. It was taken relative to where the run
    started: ``fetch`` filled a cache inside the project (which a later bundle or image
    context then carried), each CI step's checkout got its own cache so the offline build did
    not find what fetch stored, and ``XDG_CACHE_HOME=~/c`` made a directory named ``~``."""
    project = golden_project(tmp_path / "project")
    home = tmp_path / "home"
    home.mkdir()
    for relative in ("rel", "~/c"):
        env = {"HOME": str(home), "MLENV_CACHE_DIR": "", "XDG_CACHE_HOME": relative}
        fetched = run_mlenv(["fetch"], project, env)
        assert fetched.returncode == 0, fetched.stderr
        assert str(home / ".cache" / "mlenv") in fetched.stderr
        assert not (project / relative.split("/")[0]).exists()
        built = run_mlenv(["build", "--offline"], project, env)
        assert built.returncode == 0, built.stderr
    assert sorted(p.name for p in project.iterdir()) == sorted(
        ["dist", *(p.name for p in golden_project(tmp_path / "pristine").iterdir())]
    )


@pytest.mark.parametrize("command", ["build", "bundle"])
def test_sigterm_cleans_up_as_ctrl_c_does(tmp_path: Path, command: str) -> None:
    """Protects terminate.terminate_as_interrupt: SIGTERM (a cancelled CI job, ``timeout``,
    ``docker stop``) at any change a build or a bundle's fetch makes ends the run with 143,
    "terminated" and no traceback, and leaves nothing beside the output: no work directory
    holding copies of every artifact and the installed tree (Python's default death left one
    per cancelled run until the next run of that same output), and the output absent or
    whole."""
    project, env = fetched_golden(tmp_path)
    before = sorted(p.name for p in project.iterdir())
    out = tmp_path / "bundle"
    args = ["build", "--offline"] if command == "build" else ["fetch", "--bundle", str(out)]
    watched, output = (project, project / "dist") if command == "build" else (tmp_path, out)
    around = sorted(p.name for p in watched.iterdir())
    assert run_mlenv(args, project, env).returncode == 0  # the layer cache as the runs find it
    shutil.rmtree(output)
    events = changes(args, project, env, tmp_path / "scratch" / "count")
    shutil.rmtree(output)
    for number, point in enumerate(points(events, 12, seed=102)):
        scratch = tmp_path / "scratch" / f"held{number}"
        with Held(point, args, project, env, scratch, entry=True) as held:
            held._process.send_signal(signal.SIGTERM)
        assert held.returncode == 143, (point, held.returncode, held.stderr)
        assert held.stderr.rstrip().endswith("terminated") and "Traceback" not in held.stderr
        left = sorted(p.name for p in watched.iterdir() if p.name != "scratch")
        assert left in (around, sorted([*around, output.name])), (point, left)
        assert sorted(p.name for p in project.iterdir() if p.name != "dist") == [
            n for n in before if n != "dist"
        ]
        if output.exists():  # swapped in before the signal: whole
            check = ["verify", "--bundle", str(out)] if command == "bundle" else ["inspect",
                     str(output / "image.tar")]  # fmt: skip
            assert run_mlenv(check, project, env).returncode == 0, point
            shutil.rmtree(output)


@pytest.mark.parametrize("command", ["build", "bundle"])
def test_an_output_on_a_read_only_file_system_is_a_clear_error(
    tmp_path: Path, fetched: tuple[Path, dict[str, str]], command: str
) -> None:
    """Protects atomic.work_dir's ``_unwritable``: an output directory on a read-only mount
    (an artifacts volume mounted ro, a read-only checkout) is refused with exit 1, naming the
    directory, with a hint, and the previous output is left as it was. It was "internal error:
    mlenv failed unexpectedly" (exit 2) from mkdtemp's EROFS."""
    project, env = fetched
    outputs = tmp_path / "outputs"
    out = outputs / ("dist" if command == "build" else "bundle")
    args = ["build", "--offline", "--dist", str(out)] if command == "build" else [
        "fetch", "--bundle", str(out)]  # fmt: skip
    first = run_mlenv(args, project, env)
    assert first.returncode == 0, first.stderr
    before = {p.relative_to(outputs): p.read_bytes() for p in outputs.rglob("*") if p.is_file()}
    with _read_only(outputs):
        again = run_mlenv(args, project, env)
    assert again.returncode == 1, again.stderr
    assert "Traceback" not in again.stderr and "internal error" not in again.stderr
    assert f"error: {outputs}: cannot write {out.name} here: Read-only file system" in again.stderr
    assert "hint:" in again.stderr
    after = {p.relative_to(outputs): p.read_bytes() for p in outputs.rglob("*") if p.is_file()}
    assert after == before
