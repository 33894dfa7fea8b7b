"""A platform engineer's second walk through mlenv: what uv, pixi and docker users expect and
mlenv did not yet do (a dozen copies of one CUDA warning, global flags after the subcommand, an
interrupted fetch that did not say what it kept, a closed pipe, a raw DNS error)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlenv.cache.artifacts import Artifact, ArtifactCache
from mlenv.cache.lock_artifacts import artifacts_of
from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.trickle import TrickleServer
from tests.support.wheels import build_wheel, write_simple_index

ANY = "py3-none-manylinux_2_27_x86_64"  # NVIDIA component wheels
# Three CUDA 13.0 Update 2 components (cuda-toolkit 13.0.2 pins them): each needs driver
# 580.95.05 for its full feature set, above the 13.0 GA floor 580.65.06.
UPDATE2 = (("nvidia-cublas", "13.1.0.3"), ("nvidia-cuda-runtime", "13.0.96"))


def _cuda_project(tmp_path: Path) -> Path:
    wheels = [build_wheel(name, version, tag=ANY) for name, version in UPDATE2]
    url = write_simple_index(tmp_path / "index", wheels)
    root = tmp_path / "project"
    root.mkdir()
    deps = ", ".join(f'"{name}=={version}"' for name, version in UPDATE2)
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "walk"\npython = "3.11"\ninterpreter = "/usr/bin/python3"\n'
        '[cuda]\nversion = "13.0"\ndriver-floor = "580.65.06"\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = [{deps}]\n'
    )
    return root


def _env(tmp_path: Path) -> dict[str, str]:
    return {"MLENV_CACHE_DIR": str(tmp_path / "cache")}


def test_one_warning_per_driver_a_later_cuda_update_needs(tmp_path: Path) -> None:
    """A torch CUDA 13 lock printed about a dozen ~400-character warnings that differed only in
    the package: one per (driver, reason) now, naming every package and what each uses."""
    root = _cuda_project(tmp_path)
    done = run_mlenv(["lock"], root, _env(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "580.95.05" in line]
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert "nvidia-cublas 13.1.0.3 uses CUDA 13.0.2" in line
    assert "nvidia-cuda-runtime 13.0.96 uses CUDA 13.0.2" in line
    assert line.index("nvidia-cublas 13.1") < line.index("nvidia-cuda-runtime 13.0")
    assert "needs driver 580.95.05 (CUDA 13.0 Update 2)" in line
    assert "hint: raise the driver floor to 580.95.05" in line
    assert line.count("minor-version compatibility") == 1

    verified = run_mlenv(["verify"], root, _env(tmp_path))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    warned = [line for line in verified.stdout.splitlines() if line.startswith("WARNING")]
    assert len(warned) == 1, verified.stdout
    assert "nvidia-cublas, nvidia-cuda-runtime:" in warned[0]
    assert "OK: 0 error(s), 2 warning(s)" in verified.stdout  # each package still counted

    as_json = run_mlenv(["verify", "--json"], root, _env(tmp_path))
    findings = json.loads(as_json.stdout)["findings"]  # scripts still get one per package
    assert sorted(f["package"] for f in findings) == ["nvidia-cublas", "nvidia-cuda-runtime"]


def _plain_project(tmp_path: Path, extra: str = "", conda: str = "") -> Path:
    url = write_simple_index(tmp_path / "index", [build_wheel("lib", "1.0")])
    root = tmp_path / "project"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        f'[environment]\nname = "walk"\npython = "3.12"\n{extra}{conda}'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["lib"]\n'
    )
    return root


INTERPRETER = "[environment] interpreter is not set"
WRITE = 'interpreter = "/usr/bin/python3.12" under [environment]'


def test_lock_and_show_say_early_that_build_needs_an_interpreter(tmp_path: Path) -> None:
    """`init` leaves ``interpreter`` commented out: `lock` and a multi-GB `fetch` succeeded and
    only `build` said so. The `lock` that writes the lock says it once, with the line to write
    (a no-op `lock` stays quiet: it was said when the lock was written), and so does `show`."""
    root = _plain_project(tmp_path)
    for args in (["lock"], ["show"]):
        done = run_mlenv(args, root, _env(tmp_path))
        assert done.returncode == 0, done.stderr
        assert done.stderr.count(INTERPRETER) == 1, (args, done.stderr)
        assert WRITE in done.stderr
    (root / "mlenv.lock").unlink()  # a first lock again: now answered from the lock memo
    again = run_mlenv(["lock"], root, _env(tmp_path))
    assert again.stderr.count(INTERPRETER) == 1, again.stderr
    built = run_mlenv(["build"], root, _env(tmp_path))  # what the warning foretold
    assert built.returncode != 0 and "[environment].interpreter" in built.stderr


def test_no_interpreter_warning_when_build_has_one(tmp_path: Path) -> None:
    """Set, the key silences it; the build would run, so a warning would be noise."""
    root = _plain_project(tmp_path, extra='interpreter = "/usr/bin/python3.12"\n')
    for args in (["lock"], ["show"]):
        done = run_mlenv(args, root, _env(tmp_path))
        assert done.returncode == 0, done.stderr
        assert INTERPRETER not in done.stderr


def test_quiet_and_verbose_after_the_command_mean_what_they_mean_before(tmp_path: Path) -> None:
    """``mlenv lock -v`` was refused with a hint to move the flag; uv, pixi and docker take it
    there. It means the same as before the command: ``-q`` silences progress, ``-v`` adds
    the debug lines, and each command's --help lists them."""
    root = _plain_project(tmp_path, extra='interpreter = "/usr/bin/python3.12"\n')
    quiet = run_mlenv(["lock", "-q"], root, _env(tmp_path))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and (root / "mlenv.lock").exists()
    (root / "mlenv.lock").unlink()
    loud = run_mlenv(["lock", "-v"], root, _env(tmp_path))
    before = run_mlenv(["-v", "lock", "--upgrade"], root, _env(tmp_path))
    assert loud.returncode == 0 and before.returncode == 0, loud.stderr + before.stderr
    assert "debug: " in loud.stderr and "debug: " in before.stderr
    both = run_mlenv(["-q", "cache", "prune", "-v"], root, _env(tmp_path))
    assert both.returncode == 0, both.stderr
    helped = run_mlenv(["fetch", "--help"], root, _env(tmp_path))
    assert "-v, --verbose" in helped.stdout and "-q, --quiet" in helped.stdout
    still = run_mlenv(["show", "--cache", "x"], root, _env(tmp_path))  # a value: before it
    assert still.returncode == 1 and "mlenv --cache DIRECTORY show" in still.stderr


def _blob(seed: str, size: int) -> bytes:
    """Bytes that do not compress (a wheel's zip would shrink zeros to nothing)."""
    blocks = (hashlib.sha256(f"{seed}{i}".encode()).digest() for i in range(size // 32))
    return b"".join(blocks)


def test_fetch_says_nothing_to_fetch_without_a_zero_file_task(tmp_path: Path) -> None:
    """A second fetch announced "fetching 0 file(s)": only the count of what is there now."""
    root = _plain_project(tmp_path, extra='interpreter = "/usr/bin/python3.12"\n')
    assert run_mlenv(["lock"], root, _env(tmp_path)).returncode == 0
    first = run_mlenv(["fetch"], root, _env(tmp_path))
    assert first.returncode == 0 and "fetching 1 file(s)" in first.stderr, first.stderr
    again = run_mlenv(["fetch"], root, _env(tmp_path))
    assert again.returncode == 0, again.stderr
    assert "fetching" not in again.stderr and "1 already there" in again.stderr


def _kept(cache: Path, artifacts: list[Artifact]) -> int:
    return sum(1 for artifact in artifacts if ArtifactCache(cache).has(artifact))


def test_an_interrupted_fetch_says_how_many_files_it_kept(tmp_path: Path) -> None:
    """Ctrl-C said only "aborted": the completed downloads are kept in the cache, and the user
    must know the next fetch will not download them again."""
    names = ("aa", "bb", "cc")
    # the first file small, the others long in coming: however loaded the runner, the fetch
    # is still running when the first file is seen whole and the interrupt is sent
    sizes = {"aa": 40_000, "bb": 2_000_000, "cc": 2_000_000}
    wheels = [build_wheel(n, "1.0", files={f"{n}/blob.bin": _blob(n, sizes[n])}) for n in names]
    write_simple_index(tmp_path / "www", wheels)
    cache = tmp_path / "cache"
    with TrickleServer(tmp_path / "www", chunk=16 * 1024, delay=0.02) as server:
        root = tmp_path / "project"
        root.mkdir()
        (root / "mlenv.toml").write_text(
            '[environment]\nname = "f"\npython = "3.11"\ninterpreter = "/usr/bin/python3"\n'
            f'[pypi]\nindex-url = "{server.url}/simple"\ndependencies = ["aa", "bb", "cc"]\n'
        )
        assert run_mlenv(["lock"], root, _env(tmp_path)).returncode == 0
        process = subprocess.Popen(
            [sys.executable, "-m", "mlenv", "fetch", "-j", "1"],
            cwd=root,
            env={**os.environ, **_env(tmp_path)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            # Ctrl-C as at a terminal, even when the suite runs as a background job (which a
            # non-interactive shell starts with SIGINT ignored, and the child would inherit)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        # Interrupted once one file is whole and another is on its way: counted, not timed
        # (the deadline only guards a stall; at it the test fails, never passes).
        artifacts = artifacts_of(load_lock((root / "mlenv.lock").read_text()))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _kept(cache, artifacts) == 0:
            time.sleep(0.01)
        assert process.poll() is None, "the fetch ended before it was interrupted"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    kept = _kept(cache, artifacts)
    assert 1 <= kept < 3, stderr
    assert f"interrupted: {kept} of 3 file(s) fetched and kept in the cache" in stderr
    assert f"fetches only the {3 - kept} left" in stderr


def test_every_command_ends_alike_when_its_reader_has_gone(tmp_path: Path) -> None:
    """``mlenv inspect … | head`` exited 1 (rich's own broken-pipe exit), other commands
    through click's: a reader that had enough is no failure (``set -o pipefail`` scripts),
    so every command exits 0 and says nothing, and no "Exception ignored" at exit."""
    root = _plain_project(tmp_path, extra='interpreter = "/usr/bin/python3.12"\n')
    assert run_mlenv(["lock"], root, _env(tmp_path)).returncode == 0
    for args in (
        ["inspect", "mlenv.lock"],
        ["export", "--format", "cyclonedx"],
        ["show", "--json"],
        ["--log-format", "json", "export", "--format", "requirements"],
    ):
        read, write = os.pipe()
        os.close(read)  # the reader is gone before the first write: EPIPE, every time
        try:
            done = subprocess.run(
                [sys.executable, "-m", "mlenv", *args],
                cwd=root,
                env={**os.environ, **_env(tmp_path)},
                stdout=write,
                stderr=subprocess.PIPE,
                text=True,
                check=False,
            )
        finally:
            os.close(write)
        assert done.returncode == 0, (args, done.stderr)
        assert done.stderr == "", (args, done.stderr)


def test_a_host_no_resolver_knows_is_said_so_with_what_to_check(tmp_path: Path) -> None:
    """A typo in the index host printed ``ConnectError: [Errno -2] Name or service not known``:
    it now says the host could not be resolved, names the URL (its password redacted) and
    what to check. ``.invalid`` is reserved (RFC 2606): no resolver ever knows it."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "w"\npython = "3.11"\ninterpreter = "/usr/bin/python3"\n'
        '[pypi]\nindex-url = "https://me:s3cret@pypi.example.invalid/simple"\n'
        'dependencies = ["lib"]\n'
    )
    env = {**_env(tmp_path), "HTTPS_PROXY": "", "HTTP_PROXY": "", "ALL_PROXY": ""}
    done = run_mlenv(["lock"], root, env)
    assert done.returncode == 1, done.stderr
    assert "the host pypi.example.invalid could not be resolved" in done.stderr
    assert "https://pypi.example.invalid/simple/lib/" in done.stderr
    assert "hint: check the host name pypi.example.invalid in the URL" in done.stderr
    assert "HTTPS_PROXY" in done.stderr
    assert "Errno" not in done.stderr and "s3cret" not in done.stderr

    proxied = run_mlenv(["lock"], root, {**env, "HTTPS_PROXY": "http://proxy.corp.invalid:3128"})
    assert proxied.returncode == 1, proxied.stderr
    assert "the proxy host proxy.corp.invalid could not be resolved" in proxied.stderr
