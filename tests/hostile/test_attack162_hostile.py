"""Attack 162: the one "could another user have chosen this" walk (``trusted_path.open_yours``)
and the one hidden-character rule, pushed by hostile and unlucky inputs.

Found and fixed here:
- a file named with a trailing slash (``m/``, ``m/.``) was opened as the file; the kernel says
  ENOTDIR, and so does the walk now;
- a FIFO was opened and returned, a socket failed as "No such device or address", a device
  was opened (an open may act: a tape rewinds, a watchdog starts): the last component is now
  judged without being opened, and only a plain file is opened to be read;
- a file of yours with a second name in a sticky directory others may write (``/tmp``) was
  taken: who put that name there is not told (fs.protected_hardlinks off);
- the walk held one descriptor per directory: a path 1,000 directories deep failed with
  EMFILE under ``ulimit -n 1024``; it holds one now, and checks ".." is the directory judged;
- the lock reader applied the hidden-character rule to [target] only: a package's index,
  source (and every other string) took a bidi override or a zero-width space.

Tests run as root: other users are made-up uids given by ``os.chown``, or a child under
``os.setuid``; group and passwd databases are bind mounts in a private mount namespace."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv import lockfile_read, lockfile_render
from mlenv.conda.records import CondaRecord
from mlenv.discover import find_upward
from mlenv.errors import ProblemsError, UsageError, hidden_problem
from mlenv.manifest_read import loads as manifest_loads
from mlenv.trusted_path import NotYours, open_yours
from tests.support import walk_probe
from tests.support.cli import run_mlenv
from tests.support.locks import conda_record, sample

HEAD = '[environment]\nname = "{name}"\npython = "3.11"\n[pypi]\ndependencies = []\n'
THEM = 4321  # a uid and gid no one on the machine has
ROOT = Path(__file__).resolve().parents[2]


def identity(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


# ---------------------------------------------------------------------------------------------
# Every spelling of a path: the walk agrees with the kernel on what it names


@pytest.fixture(scope="module")
def tree() -> Iterator[Path]:
    """root's tree (all of it yours, as root): directories, a file, links of every kind."""
    with tempfile.TemporaryDirectory(prefix="mlenv-a162-") as name:
        top = Path(name).resolve()
        (top / "a" / "b").mkdir(parents=True)
        (top / "f").write_text("manifest")
        (top / "a" / "g").write_text("other")
        (top / "l").symlink_to("a")  # a directory, relatively
        (top / "up").symlink_to("..")
        (top / "lf").symlink_to("f")
        (top / "ls").symlink_to("f/")  # a file through a trailing slash: ENOTDIR
        (top / "loop").symlink_to("loop")
        (top / "abs").symlink_to(top / "a")
        (top / "a" / "back").symlink_to("../f")
        (top / "none").symlink_to("missing")
        yield top


COMPONENTS = ["a", "b", "f", "g", "l", "up", "lf", "ls", "loop", "abs", "back", "none"]


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.sampled_from([*COMPONENTS, "..", ".", ""]), min_size=1, max_size=6),
    st.sampled_from(["", "/", "/.", "//", "/./"]),
)
def test_the_walk_names_what_the_kernel_names(tree: Path, names: list[str], tail: str) -> None:
    """A plain file the kernel reaches through the path is the very file returned; anything
    else (a directory, a loop, nothing, a file named as a directory) is an OSError. ``m/``
    was opened as ``m``."""
    path = f"{tree}/{'/'.join(names)}{tail}"
    try:
        kernel = os.stat(path)  # noqa: PTH116  (Path drops the trailing slash under test)
    except OSError:
        kernel = None
    if kernel is not None and stat.S_ISREG(kernel.st_mode):
        fd = open_yours(path)
        try:
            assert identity(fd) == (kernel.st_dev, kernel.st_ino), path
        finally:
            os.close(fd)
    else:
        with pytest.raises(OSError):
            os.close(open_yours(path))


def test_a_file_named_with_a_trailing_slash_is_not_a_directory(tree: Path) -> None:
    for spelling in (f"{tree}/f/", f"{tree}/f/.", f"{tree}/lf/", f"{tree}/ls"):
        with pytest.raises(NotADirectoryError):
            open_yours(spelling)


@pytest.mark.parametrize("kind", ["FIFO", "socket", "character device"])
def test_a_special_file_found_upward_is_named_never_opened(tmp_path: Path, kind: str) -> None:
    """A FIFO was opened (and returned), a socket failed as "No such device or address", a
    device was opened. Judged from its name now, each is refused by kind, and the CLI says
    which with exit 1 and no traceback."""
    below = tmp_path / "proj" / "a"
    below.mkdir(parents=True)
    manifest = tmp_path / "proj" / "mlenv.toml"
    held = None
    if kind == "FIFO":
        os.mkfifo(manifest, 0o600)
    elif kind == "socket":
        held = socket.socket(socket.AF_UNIX)
        held.bind(str(manifest))
        manifest.chmod(0o600)
    else:
        os.mknod(manifest, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    try:
        with pytest.raises(OSError) as caught:
            open_yours(str(manifest))
        assert f"is a {kind}, not a plain file" in str(caught.value.strerror)
        with pytest.raises(UsageError, match=f"a {kind}"):
            find_upward(below)
        done = run_mlenv(["show"], below, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
        assert done.returncode == 1 and f"is a {kind}" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    finally:
        if held is not None:
            held.close()


@pytest.fixture
def sticky() -> Iterator[Path]:
    """A /tmp of its own: world-writable and sticky."""
    with tempfile.TemporaryDirectory(prefix="mlenv-a162-") as name:
        top = Path(name).resolve()
        (top / "tmp").mkdir()
        (top / "tmp").chmod(0o1777)
        yield top / "tmp"


def test_a_second_name_in_a_sticky_directory_is_refused(sticky: Path, tmp_path: Path) -> None:
    """Another user may link a file of yours into /tmp under any name (protected_hardlinks
    off); your project's manifest linking there took it. One name only is still taken, and a
    hard link in a directory only you may write is yours."""
    (sticky / "mine").write_text(HEAD.format(name="mine"))
    fd = open_yours(str(sticky / "mine"))
    os.close(fd)
    os.link(sticky / "mine", sticky / "planted")
    for name in ("planted", "mine"):
        with pytest.raises(NotYours, match="2 names"):
            open_yours(str(sticky / name))
    link = sticky / "ln"
    link.symlink_to("mine")
    os.link(link, sticky / "ln2", follow_symlinks=False)  # a link's own second name
    with pytest.raises(NotYours, match="ln2 has 2 names"):
        open_yours(str(sticky / "ln2"))
    below = tmp_path / "proj" / "a"
    below.mkdir(parents=True)
    (tmp_path / "proj" / "mlenv.toml").symlink_to(sticky / "planted")
    with pytest.raises(UsageError, match="hard links"):
        find_upward(below)
    private = tmp_path / "private"
    private.mkdir()
    (private / "m").write_text("x")
    os.link(private / "m", private / "m2")
    os.close(open_yours(str(private / "m2")))


DEEP = """
import os, resource, sys
from mlenv.trusted_path import open_yours
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
fd = open_yours(sys.argv[1])
print(os.read(fd, 10).decode())
"""


def test_a_deep_path_needs_no_descriptor_per_directory(tmp_path: Path) -> None:
    """Each directory walked held a descriptor: 200 deep under ``ulimit -n 64`` was EMFILE
    (1,000 deep under the usual 1024). One link to it, and '..' back up, too."""
    os.chdir(tmp_path)
    try:
        for _ in range(200):
            Path("d").mkdir()
            os.chdir("d")
        Path("m").write_text("deep")
    finally:
        os.chdir(ROOT)
    deep = "/".join(["d"] * 200)
    (tmp_path / "link").symlink_to(f"{deep}/m")
    (tmp_path / "up").symlink_to(f"{deep}/{'/'.join(['..'] * 200)}/{deep}/m")
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] > 64
    for name in (f"{deep}/m", "link", "up"):
        done = subprocess.run(
            [sys.executable, "-c", DEEP, f"{tmp_path}/{name}"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert done.returncode == 0 and done.stdout.strip() == "deep", done.stderr


def test_no_descriptor_is_left_open_by_any_outcome(tree: Path, sticky: Path) -> None:
    """Taken, a loop, a dangling link, another user's file, a FIFO, a trailing slash, a
    second name in /tmp, '..' above /: 300 rounds leave the descriptor table as it was."""
    (sticky / "x").write_text("x")
    os.link(sticky / "x", sticky / "y")
    theirs = sticky / "theirs"
    theirs.write_text("x")
    os.chown(theirs, THEM, THEM)
    fifo = sticky / "fifo"
    os.mkfifo(fifo)
    above = f"{tree}/{'../' * 40}{str(tree)[1:]}/l/back"  # '..' past / stays at /
    paths = [f"{tree}/f", f"{tree}/loop", f"{tree}/none", str(theirs), str(fifo), f"{tree}/f/",
             str(sticky / "y"), above, f"{tree}/a"]  # fmt: skip
    before = sorted(Path("/proc/self/fd").iterdir())
    for _ in range(300):
        for path in paths:
            with contextlib.suppress(OSError):
                os.close(open_yours(path))
    assert sorted(Path("/proc/self/fd").iterdir()) == before


def test_a_name_that_is_not_utf8_is_named_without_a_traceback(tmp_path: Path) -> None:
    top = Path(os.fsdecode(bytes(tmp_path) + b"/\xff\xfe-theirs"))
    below = top / "proj" / "a"
    below.mkdir(parents=True)
    (top / "proj" / "mlenv.toml").write_text(HEAD.format(name="x"))
    os.chown(top, THEM, THEM)
    done = run_mlenv(["show"], below, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 1, done.stderr
    assert "belongs to another user (uid 4321)" in done.stderr
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------------------------------------
# Group and passwd databases: odd ones refuse, a normal setup is taken


@pytest.fixture
def open_tree() -> Iterator[Path]:
    with walk_probe.open_tree("mlenv-a162-") as tree:
        yield tree


def probe(below: Path, group: str, passwd: str, **user: int) -> str:
    """``find_upward(below)`` with ``group`` and ``passwd`` appended to the real databases."""
    files = below.parents[2]
    (files / "group").write_text(Path("/etc/group").read_text() + group)
    (files / "passwd").write_text(Path("/etc/passwd").read_text() + passwd)
    binds = {"/etc/group": files / "group", "/etc/passwd": files / "passwd"}
    return walk_probe.probe(below, binds=binds, **user)


def team_project(open_tree: Path, owner: int) -> Path:
    """``top/proj/mlenv.toml`` below ``top``, group-writable by gid 5162 (umask 002): the walk
    finds the manifest in ``proj`` and judges ``top`` by the group's members."""
    below = open_tree / "top" / "proj" / "a"
    below.mkdir(parents=True)
    (open_tree / "top" / "proj" / "mlenv.toml").write_text(HEAD.format(name="team"))
    for path in (open_tree / "top", *(open_tree / "top").rglob("*")):
        os.chown(path, owner, 5162)
    (open_tree / "top").chmod(0o2775)
    return below


@pytest.mark.parametrize(
    ("group", "passwd", "verdict"),
    [
        ("team:x:5162:\n", "", "taken"),  # no member but root: a private group
        ("team:x:5162:root\n", "", "taken"),
        ("team:x:5162:ghost\n", "", "refused"),  # a member no passwd names
        ("team:x:5162:root,ghost\n", "", "refused"),
        ("team:x:5162:\n", "bob:x:4999:5162::/home/bob:/bin/sh\n", "refused"),  # primary gid
        ("", "", "refused"),  # a gid no group database names (getgrgid: KeyError)
        (
            "".join(f"g{n}:x:{20000 + n}:u{n}\n" for n in range(30000)) + "team:x:5162:\n",
            "",
            "taken",
        ),
    ],
    ids=["private", "root-member", "ghost", "root-and-ghost", "primary-gid", "unknown", "huge"],
)
def test_group_databases_odd_and_huge(
    open_tree: Path, group: str, passwd: str, verdict: str
) -> None:
    said = probe(team_project(open_tree, 0), group, passwd)
    assert said.split(":")[0] == verdict, said
    if verdict == "refused":
        assert "writable by group 5162" in said


def test_a_user_private_group_under_umask_002_is_taken(open_tree: Path) -> None:
    """uid 4321 whose primary group 5162 holds no one else: its 2775 project is its own."""
    below = team_project(open_tree, THEM)
    group = "them:x:5162:\n"
    passwd = f"them:x:{THEM}:5162::/home/them:/bin/sh\n"
    said = probe(below, group, passwd, uid=-1)
    assert said.startswith("refused:") and "another user" in said  # root: not root's tree
    assert probe(below, group, passwd, uid=THEM, gid=5162) == "taken"


# ---------------------------------------------------------------------------------------------
# The lock: every string, not only [target]'s


HIDDEN = ["\u202e", "\u2066", "\u200b", "\u200d", "\ufeff", "\x1b", "\x7f", "\x85", "\u2028",
          "\u00ad", "\U000e0041", "\ufe0f"]  # fmt: skip
STRING_LINE = re.compile(r'^([a-z0-9-]+) = (\[?)"')


def with_conda() -> str:
    """A rendered lock with a conda record too (the reader judges every string before its
    consistency is looked at)."""
    lock = sample()
    record: CondaRecord = conda_record("cudatoolkit")
    platform = lock.platforms[0]
    platforms = (type(platform)(platform.platform, platform.packages, (record,)),
                 *lock.platforms[1:])  # fmt: skip
    return lockfile_render.render(
        type(lock)(lock.inputs_hash, lock.target, platforms, lock.version)
    )


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_every_string_of_the_lock_refuses_a_hidden_character(data: st.DataObject) -> None:
    """A bidi override in a package's index, a zero-width space in its source: accepted, as
    only [target] was judged. Any string key of any table now: the key and the code point."""
    lines = with_conda().split("\n")
    candidates = [n for n, line in enumerate(lines) if STRING_LINE.match(line)]
    number = data.draw(st.sampled_from(candidates))
    line = lines[number]
    key = STRING_LINE.match(line)[1]  # type: ignore[index]
    quote = line.index('"')
    closing = line.index('"', quote + 1)
    at = data.draw(st.integers(quote + 1, closing))
    char = data.draw(st.sampled_from(HIDDEN))
    lines[number] = f"{line[:at]}\\U{ord(char):08x}{line[at:]}"
    with pytest.raises(ProblemsError) as caught:
        lockfile_read.loads("\n".join(lines), "here/mlenv.lock")
    named = [p for p in caught.value.problems if f"U+{ord(char):04X}" in p.message]
    assert named, caught.value.problems
    assert re.search(rf"[ .]{key}(\[0\])?$", named[0].where), named[0].where


def test_visible_text_in_every_lock_string_still_loads() -> None:
    good = lockfile_render.render(sample())
    text = good.replace(
        'driver-floor = "550.54.14"\n',
        'driver-floor = "550.54.14"\nrequires-driver = "550.54.15"\n'
        'requires-driver-because = "lib 2.0 café 漢字 👩\u200d💻 ❤\ufe0f\tx"\n',
    )
    assert (
        lockfile_read.loads(text).target.requires_driver_because
        == "lib 2.0 café 漢字 👩\u200d💻 ❤\ufe0f\tx"
    )


def test_the_cli_names_the_lock_file_key_and_code_point(tmp_path: Path) -> None:
    (tmp_path / "mlenv.toml").write_text(HEAD.format(name="x"))
    lock = lockfile_render.render(sample()).replace(
        'index = "https://pypi.org/simple"', 'index = "https://pypi.org/sim\\u202eple"', 1
    )
    (tmp_path / "mlenv.lock").write_text(lock)
    done = run_mlenv(["verify"], tmp_path, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "mlenv.lock: platform.linux-64.package[0].index" in said
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE) at position 21" in said
    assert "\u202e" not in said and "Traceback" not in said


# ---------------------------------------------------------------------------------------------
# A key holding a hidden character: named by code point, not shown as "?"

MANIFEST_KEYS = [
    '[environment]\nname = "x"\npython = "3.11"\n"ke\\u202ey" = "1"\n[pypi]\ndependencies = []\n',
    '"to\\u200bol" = 1\n' + HEAD.format(name="x"),
    HEAD.format(name="x") + '[build]\n"la\\u2066yers" = 1\n',
]


@pytest.mark.parametrize("text", MANIFEST_KEYS, ids=["environment", "top", "build"])
def test_a_manifest_key_with_a_hidden_character_is_named_by_code_point(
    tmp_path: Path, text: str
) -> None:
    """It was "unknown key" shown as ``ke?y``: which character, and where, was not said."""
    (tmp_path / "mlenv.toml").write_text(text)
    done = run_mlenv(["show"], tmp_path, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert re.search(r"mlenv\.toml: \S+: the key '\S+' holds the format character U\+", done.stderr)
    assert "at position 3" in done.stderr


def test_a_lock_key_with_a_hidden_character_is_named_by_code_point() -> None:
    text = lockfile_render.render(sample())
    for old, new in (("[target]\n", '[target]\n"x\\u202e" = 1\n'),
                     ('name = "app"\n', 'name = "app"\n"\\u200bq" = 1\n'),
                     ("version = 1\n", 'version = 1\n"v\\u2066" = 1\n')):  # fmt: skip
        with pytest.raises(ProblemsError) as caught:
            lockfile_read.loads(text.replace(old, new, 1))
        [problem] = caught.value.problems
        assert problem.message.startswith("unknown key"), problem
        assert "holds the format character U+" in problem.message, problem


# ---------------------------------------------------------------------------------------------
# Components swapped while the walk runs: what is returned is only ever the file judged


def swapping(stop: threading.Event, swap: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                swap()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_directory_swapped_for_a_link_mid_walk_never_lends_its_target(tmp_path: Path) -> None:
    """``proj`` becomes a link to another user's tree and back, over and over: every open is
    refused or reads this user's file, never theirs."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "m").write_text("mine")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "m").write_text("theirs")
    os.chown(theirs, THEM, THEM)
    os.chown(theirs / "m", THEM, THEM)
    proj = tmp_path / "proj"
    (tmp_path / "link").symlink_to(theirs)
    (tmp_path / "mine").rename(proj)

    def swap() -> None:
        proj.rename(tmp_path / "mine")
        (tmp_path / "link").rename(proj)
        proj.rename(tmp_path / "link")
        (tmp_path / "mine").rename(proj)

    stop = threading.Event()
    thread = swapping(stop, swap)
    seen = set()
    try:
        for _ in range(3000):
            try:
                fd = open_yours(str(proj / "m"))
            except OSError:
                seen.add("refused")
                continue
            with os.fdopen(fd, "rb") as handle:
                seen.add(handle.read().decode())
    finally:
        stop.set()
        thread.join()
    assert seen <= {"mine", "refused"}, seen


def test_dot_dot_after_a_moved_directory_is_the_directory_judged(tmp_path: Path) -> None:
    """``a/b/../m`` while ``b`` moves under ``c`` and back: ".." is the kernel's, so it is
    checked to be the ``a`` judged; never ``c/m``."""
    for name, text in (("a", "a"), ("c", "c")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "m").write_text(text)
    (tmp_path / "a" / "b").mkdir()

    def swap() -> None:
        (tmp_path / "a" / "b").rename(tmp_path / "c" / "b")
        (tmp_path / "c" / "b").rename(tmp_path / "a" / "b")

    stop = threading.Event()
    thread = swapping(stop, swap)
    seen = set()
    try:
        for _ in range(3000):
            try:
                fd = open_yours(f"{tmp_path}/a/b/../m")
            except OSError:
                seen.add("refused")
                continue
            with os.fdopen(fd, "rb") as handle:
                seen.add(handle.read().decode())
    finally:
        stop.set()
        thread.join()
    assert seen <= {"a", "refused"} and "a" in seen, seen


# ---------------------------------------------------------------------------------------------
# Legit text passes the one rule; a hidden character inserted anywhere in it does not

LEGIT = [
    "café", "naïve", "漢字", "日本語", "한국어", "👩\u200d💻", "❤\ufe0f", "👨\u200d❤\ufe0f\u200d👨",
    "🧑🏽\u200d💻", "🏳\ufe0f\u200d🌈", "🇯🇵", "1\ufe0f\u20e3", "#\ufe0f\u20e3", "©\ufe0f",
    "क्\u200dष", "ह्\u200cन", "ക്\u200dഷ", "\t", " ", "x", "5.15", "a\u0301",
]  # fmt: skip
INSERTED = ["\u202e", "\u2066", "\u200b", "\ufeff", "\x1b", "\x7f", "\x85", "\u2028", "\u00ad",
            "\U000e0041", "\u061c", "\u180e"]  # fmt: skip
MARKER = '[environment]\nname = "x"\npython = "3.11"\n[pypi]\ndependencies = [{}]\n'


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(LEGIT), min_size=1, max_size=8))
def test_accents_cjk_emoji_keycaps_and_conjuncts_pass(pieces: list[str]) -> None:
    """A keycap (1️⃣) and a Devanagari half form (क्‍ष) were refused: their selector and
    joiner are drawn there. As a marker literal the manifest takes them byte for byte."""
    text = "".join(pieces)
    assert hidden_problem(text) is None, text
    requirement = f"numpy ; platform_release == '{text}'"
    quoted = json.dumps(requirement, ensure_ascii=False)
    assert manifest_loads(MARKER.format(quoted)).pypi.dependencies == (requirement,)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(LEGIT), min_size=1, max_size=8), st.data())
def test_a_hidden_character_inserted_in_legit_text_is_refused(
    pieces: list[str], data: st.DataObject
) -> None:
    text = "".join(pieces)
    at = data.draw(st.integers(0, len(text)))
    char = data.draw(st.sampled_from(INSERTED))
    said = hidden_problem(text[:at] + char + text[at:])
    assert said is not None
    if f"U+{ord(char):04X}" in said:
        assert said.endswith(f"at position {at + 1}"), said
    else:  # it broke a sequence just before it: that joiner or selector is named first
        assert re.search(r"U\+(200D|200C|FE0F|FE0E) ", said), said
