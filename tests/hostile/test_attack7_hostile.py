"""Seventh adversary pass: the build's overlapped stages (handoff threads, the layer cache's
background copy, the tidy thread), the sixth pass's security checks in other shapes, and the
local lock's path checks. Each test names the invariant it attacks and fails if the enforcing
function stops holding it."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlenv.errors import MlenvError
from mlenv.install.conda_packages import check_conda_packages
from mlenv.install.ports import each
from mlenv.install.safety import InstallError
from mlenv.limits import LimitError
from mlenv.net.origins import LocalRoots, follow
from mlenv.report import MemoryReporter, Task
from mlenv.userfiles import InputError, read_input
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package
from tests.support.fetch_project import WHEELS, make_project
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.httpserver import IndexServer
from tests.support.installs import install_test_wheels
from tests.support.wheels import build_wheel, write_simple_index


@pytest.mark.parametrize("escape", ["%00", "%0a", "%1b", "%7f"])
def test_file_url_escaping_a_control_character_is_refused(tmp_path: Path, escape: str) -> None:
    """origins.follow: a local page's link decoding to a NUL made realpath raise ValueError,
    an internal error of lock instead of a refusal naming the link."""
    with pytest.raises(MlenvError, match="control character"):
        follow(
            f"../../evil-1.0-py3-none-any.whl{escape}",
            base=f"{tmp_path.as_uri()}/simple/evil/",
            where="page",
            local=LocalRoots((tmp_path,)),
        )


def test_local_index_page_linking_a_nul_is_refused_by_lock(tmp_path: Path) -> None:
    """End to end: a file:// index whose page links ``…whl%00`` fails lock with exit 1 and the
    refusal, never a traceback or 'internal error'."""
    page = tmp_path / "idx" / "simple" / "evil"
    page.mkdir(parents=True)
    (page / "index.html").write_text('<a href="../../evil-1.0-py3-none-any.whl%00">evil</a>\n')
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "n"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{(tmp_path / "idx" / "simple").as_uri()}"\n'
        'dependencies = ["evil"]\n'
    )
    done = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 1, done.stderr
    assert "control character" in done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------------------------------------
# Invariant 6: an entry point is a name and module:function, judged in linear time
# (install.safety.entry_point_problem, for wheels and noarch conda packages alike)


def _blanks(count: int) -> str:
    """An entry point with two runs of blanks side by side: quadratic for a backtracking
    pattern (200,000 blanks took minutes)."""
    return "tool = a:b" + " " * count + "x"


def test_a_wheels_entry_point_of_many_blanks_is_refused_in_linear_time(tmp_path: Path) -> None:
    """A wheel's entry_points.txt of 200 kB of blanks inside the value kept the vetting busy
    for minutes (a few MB: hours) in _CALLABLE's backtracking; now refused, in time linear
    in the blanks: 4x the blanks cost under LINEAR_BOUND times as long (the backtracking
    form: 16x), whatever the runner's speed. Checked against the old pattern."""

    def wheel(count: int) -> str:
        name, data = build_wheel(
            "evil",
            "1.0",
            files={"evil/__init__.py": b""},
            entry_points=f"[console_scripts]\n{_blanks(count)}\n",
        )
        (tmp_path / str(count)).mkdir()
        (tmp_path / str(count) / name).write_bytes(data)
        return str(tmp_path / str(count) / name)

    def refused(path: str) -> None:
        with pytest.raises(InstallError, match="not module:function"):
            install_test_wheels([Path(path)], tmp_path / "stage")

    # Every run refuses (20,000 blanks at most: the backtracking form fails this in tens of
    # seconds instead of grinding for minutes on 200,000 before any assertion).
    assert growth(refused, wheel, small=5_000) < LINEAR_BOUND
    assert not (tmp_path / "stage").exists()


def test_a_noarch_conda_entry_point_of_many_blanks_is_refused_in_linear_time(
    tmp_path: Path,
) -> None:
    """The same value in a noarch python package's link.json (random bytes keep the package
    under the inflation ratio, as an attacker's would); growth, not seconds, as above."""

    def package(count: int) -> str:
        link = {"noarch": {"type": "python", "entry_points": [_blanks(count)]}}
        files = {
            "site-packages/tool/pad.bin": os.urandom(8192),
            "info/link.json": json.dumps(link).encode(),
        }
        name, data = build_conda_package("evil", "1.0", "0", files=files, noarch="python")
        (tmp_path / str(count)).mkdir()
        (tmp_path / str(count) / name).write_bytes(data)
        return str(tmp_path / str(count) / name)

    def refused(path: str) -> None:
        with pytest.raises(InstallError, match="not module:function"):
            check_conda_packages([(Path(path).name, Path(path))])

    assert growth(refused, package, small=5_000) < LINEAR_BOUND  # every run refuses


# ---------------------------------------------------------------------------------------------
# Invariant 7: what the user names is read only if it cannot block for ever
# (userfiles._judge): a pipe the shell hands over as /dev/fd/N is the user's own command


def _pipe(data: bytes) -> int:
    """The read end of a pipe holding ``data``, its writer closed (what ``<(cmd)`` gives)."""
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)
    return read


@pytest.mark.parametrize("spelling", ["/dev/fd/{}", "/proc/self/fd/{}"])
def test_a_pipe_handed_over_by_the_shell_is_read(spelling: str) -> None:
    """`verify --nodes <(kubectl get nodes -o json)` worked with click.File and was refused
    as 'a FIFO' once the node list went through userfiles (so was `diff <(git show …)`)."""
    small, big = _pipe(b'{"items": []}'), _pipe(b"x" * 100)
    try:
        assert read_input(Path(spelling.format(small)), "node list") == b'{"items": []}'
        with pytest.raises(LimitError):  # bounded like a file
            read_input(Path(spelling.format(big)), "lock", limit=10)
    finally:
        os.close(small)
        os.close(big)


def test_a_named_fifo_or_a_link_to_a_descriptor_is_still_refused(tmp_path: Path) -> None:
    """Only the shell's spelling of an anonymous pipe is taken: a FIFO planted under a name
    (even reached through /proc/self/fd), or a symlink to /dev/fd/N, never blocks a read."""
    fifo = tmp_path / "nodes.json"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="FIFO"):
        read_input(fifo, "node list")
    held = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    fd = _pipe(b"{}")
    try:
        with pytest.raises(InputError, match="FIFO"):
            read_input(Path(f"/proc/self/fd/{held}"), "node list")
        link = tmp_path / "link.json"
        link.symlink_to(f"/proc/self/fd/{fd}")
        with pytest.raises(InputError, match="FIFO"):
            read_input(link, "node list")
    finally:
        os.close(held)
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Ctrl-C ends a build at once: the wheels not yet installed or compiled are never started
# (install.ports.each, the pool of installs and bytecode compiles)


class _Interrupted:
    """A progress task whose first advance is where Ctrl-C lands in the main thread."""

    def advance(self, amount: int = 1) -> None:
        raise KeyboardInterrupt


class _InterruptingReporter(MemoryReporter):
    @contextlib.contextmanager
    def task(
        self, description: str, total: int | None = None, unit: str = "items"
    ) -> Iterator[Task]:
        yield _Interrupted()


def test_ctrl_c_while_installing_starts_no_more_wheels() -> None:
    """Ctrl-C during `Installing wheels` waited for every wheel left in the queue (20 s of a
    95-wheel build, minutes of a torch stack) before the build stopped."""
    started: list[int] = []

    def call(number: int) -> int:
        started.append(number)
        time.sleep(0.05)
        return number

    calls = [functools.partial(call, number) for number in range(200)]
    with pytest.raises(KeyboardInterrupt):
        each(_InterruptingReporter(), "Installing wheels", "wheels", 2, calls)
    assert len(started) < 10  # counted, not timed: the queue's 200 calls never started


# ---------------------------------------------------------------------------------------------
# A lock names what lock read: a relative find-links directory's name is escaped in its URLs
# (locking_sources.Sources.portable), as UrlOpener.resolve decodes them


@pytest.mark.parametrize("directory", ["w%41", "w#1", "w?x"])
def test_a_find_links_directory_with_url_characters_fetches(tmp_path: Path, directory: str) -> None:
    """'../w%41/app.whl' in the lock was read back as 'wA' (refused, or another directory's
    file), and 'w#1' as 'w' and a fragment: lock passed and fetch failed on the same manifest."""
    wheels = tmp_path / directory
    wheels.mkdir()
    for name, data in (build_wheel("app", "1.0", requires_dist=["lib"]), build_wheel("lib", "2.0")):
        (wheels / name).write_bytes(data)
    (tmp_path / "wA").mkdir()  # what 'w%41' decodes to, were it not escaped
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "n"\npython = "3.11"\n[pypi]\n'
        'index-url = "file:///nonexistent-mlenv-index/simple"\n'
        f'find-links = ["../{directory}"]\ndependencies = ["app"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    for command in (["lock"], ["fetch"], ["lock", "--check"]):
        done = run_mlenv(command, project, env)
        assert done.returncode == 0, (command, done.stderr)


def test_fetch_bounds_the_requires_dist_of_a_wheel_that_differs_from_its_range_read(
    tmp_path: Path,
) -> None:
    """Attacks the fetch-time METADATA check (cache.locked_metadata): the range requests the
    lock read showed a small METADATA, the download carries 10,001 Requires-Dist lines, each
    costing packaging's marker parser. The check refuses it by the resolver's own bound before
    parsing a line, naming the package and the URL."""
    files = {"app/__init__.py": b"x = 1\n"}
    genuine = build_wheel("app", "1.0", requires_dist=["lib"], files=files)
    lines = ["lib", *(f'dep{n}; python_version < "{n % 9}.{n}"' for n in range(10_000))]
    twin = build_wheel("app", "1.0", requires_dist=lines, files=files)
    write_simple_index(tmp_path / "www", [twin, WHEELS[1]], metadata_files=False)
    with IndexServer(tmp_path / "www") as server:
        server.ranged[f"/files/{twin[0]}"] = genuine[1]  # what the lock's range reads get
        root = make_project(tmp_path, f"{server.url}/simple/")
        env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
        locked = run_mlenv(["lock"], root, env)
        assert locked.returncode == 0, locked.stderr
        fetched = run_mlenv(["fetch"], root, env)
    assert fetched.returncode == 1, fetched.stderr
    assert "app 1.0" in fetched.stderr and f"/files/{genuine[0]}" in fetched.stderr
    assert "Requires-Dist lines: more than 10,000" in fetched.stderr
    assert "Traceback" not in fetched.stderr
