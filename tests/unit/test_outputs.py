"""Invariant 4: mlenv replaces only what it wrote. ``mlenv.outputs.check_output`` is the one
gate for every path a user names as an output; these tests attack it in every shape found."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.cache.artifacts import relative_path
from mlenv.cache.bundle import BUNDLE_OUTPUT
from mlenv.commands.build import BUILD_OUTPUT
from mlenv.outputs import OutputError, OutputKind, check_output, replace_output

EXPORT = OutputKind("export", "--output")
# a whole record, as `mlenv build` writes one: the gate reads nothing less as a build's
BUILD_JSON = {"mlenv": "0", "lock-sha256": "0" * 64, "platform": "linux-64",
              "source-date-epoch": 0, "compression": "gzip", "compressors": {},
              "outputs": {"conda-pack": {"file": "env.tar.gz", "sha256": "1" * 64, "size": 1,
                                         "uncompressed-sha256": "2" * 64}}}  # fmt: skip


class World:
    """A fake home holding a project (manifest, lock) and a cache, under one temporary root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.project = self.home / "project"
        self.cache = self.home / ".cache" / "mlenv"
        self.project.mkdir(parents=True)
        self.cache.mkdir(parents=True)
        (self.project / "mlenv.toml").write_text("[environment]\n")
        (self.project / "mlenv.lock").write_text("# lock\n")
        (self.root / "empty").mkdir()

    @property
    def keep(self) -> dict[str, Path]:
        return {"the project directory": self.project, "the cache": self.cache}

    def check(self, dest: Path | str, kind: OutputKind = BUILD_OUTPUT) -> Path:
        return check_output(Path(dest), kind, keep=self.keep)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    made = World(tmp_path)
    monkeypatch.setenv("HOME", str(made.home))
    return made


def earlier_build(where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "build.json").write_text(json.dumps(BUILD_JSON))
    (where / "env.tar.gz").write_bytes(b"archive")
    return where


def test_absent_empty_and_earlier_outputs_are_accepted(world: World) -> None:
    """The three things mlenv may replace: nothing, an empty directory, its own output."""
    assert world.check(world.project / "dist") == world.project / "dist"
    assert world.check(world.root / "empty") == world.root / "empty"
    assert world.check(earlier_build(world.project / "dist")) == world.project / "dist"
    bundle = world.root / "bundle"
    bundle.mkdir()
    artifact = relative_path("ab" * 32)  # a name a bundle holds (not "artifacts-v1/x")
    (bundle / "bundle.json").write_text(
        json.dumps({"bundle-version": 1, "files": [{"path": artifact}]})
    )
    (bundle / artifact).parent.mkdir(parents=True)
    assert world.check(bundle, BUNDLE_OUTPUT) == bundle


@pytest.mark.parametrize(
    ("dest", "says"),
    [
        (".", "is the project directory"),
        ("dist/..", "is the project directory"),
        ("..", "is the home directory"),
        ("../..", "holds the home directory"),
        ("~", "is the home directory"),
        ("~/..", "holds the home directory"),
        ("/", "is the root directory"),
        ("//", "is the root directory"),
        ("~/.cache/mlenv", "is the cache"),
        ("~/.cache", "holds the cache"),
        ("~/.cache/mlenv/../mlenv/.", "is the cache"),
    ],
)
def test_what_the_run_reads_and_where_it_lives_are_never_outputs(
    world: World, monkeypatch: pytest.MonkeyPatch, dest: str, says: str
) -> None:
    """Protects the project, home, cache and root against `--dist .` and its relatives, even
    when an earlier build record was planted in them."""
    monkeypatch.chdir(world.project)
    earlier_build(world.project)  # a planted record does not make the project replaceable
    earlier_build(world.home)
    with pytest.raises(OutputError, match=says) as info:
        world.check(Path(dest).expanduser())
    assert info.value.where == f"--dist {Path(dest).expanduser()}"
    assert "nothing was changed" in info.value.message


def test_a_symlink_is_refused_even_to_an_empty_directory_or_an_earlier_output(
    world: World,
) -> None:
    """Replacing a symlink would swap where it points, or delete the link the user made."""
    for target in (world.root / "empty", earlier_build(world.root / "old")):
        link = world.root / f"link-{target.name}"
        link.symlink_to(target)
        with pytest.raises(OutputError, match="is a symlink"):
            world.check(link)
        with pytest.raises(OutputError, match="is a symlink"):
            world.check(f"{link}/")


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p.write_text("mine"), "is not a directory \\(a plain file\\)"),
        (lambda p: os.mkfifo(p), "is not a directory \\(a FIFO\\)"),
        (lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")), "no valid build.json"),
        (lambda p: (p.mkdir(), (p / "build.json").write_text("{}")), "no valid build.json"),
        (lambda p: (p.mkdir(), (p / "build.json").write_text("not json")), "no valid build.json"),
        (lambda p: (p.mkdir(), (p / "build.json").mkdir()), "no valid build.json"),
        (
            lambda p: (
                p.mkdir(),
                (p / "bundle.json").write_text('{"bundle-version": 1, "files": []}'),
            ),
            "no valid build.json",
        ),
    ],
    ids=[
        "file",
        "fifo",
        "user-dir",
        "empty-record",
        "garbage-record",
        "record-dir",
        "other-kind",
    ],
)
def test_anything_mlenv_did_not_write_is_refused(world: World, make: object, says: str) -> None:
    """Protects user files and directories named by mistake as an output."""
    dest = world.root / "target"
    assert callable(make)
    make(dest)
    with pytest.raises(OutputError, match=says):
        world.check(dest)


def test_a_record_reached_through_a_symlink_does_not_count(world: World) -> None:
    """A user directory cannot be made replaceable by linking a real record into it."""
    real = earlier_build(world.root / "old")
    dest = world.root / "mine"
    dest.mkdir()
    (dest / "build.json").symlink_to(real / "build.json")
    with pytest.raises(OutputError, match=r"no valid build\.json"):
        world.check(dest)


def test_an_earlier_output_holding_a_stranger_is_refused(world: World) -> None:
    """Files the user added to an earlier output are not the build's to delete."""
    dist = earlier_build(world.project / "dist")
    (dist / "my-notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match=r"holds my-notes\.txt, which the earlier build"):
        world.check(dist)


def test_a_bundle_record_names_only_what_it_lists(world: World) -> None:
    """bundle.json accounts for the top-level names of its files; anything else is the user's."""
    bundle = world.root / "bundle"
    bundle.mkdir()
    (bundle / "bundle.json").write_text(json.dumps({"bundle-version": 1, "files": []}))
    (bundle / "photos").mkdir()
    with pytest.raises(OutputError, match="holds photos"):
        world.check(bundle, BUNDLE_OUTPUT)
    (bundle / "bundle.json").write_text(json.dumps({"bundle-version": 2, "files": []}))
    with pytest.raises(OutputError, match=r"no valid bundle\.json"):
        world.check(bundle, BUNDLE_OUTPUT)


@pytest.mark.parametrize("what", ["symlink", "directory", "fifo", "lock", "manifest"])
def test_a_single_output_file_replaces_only_a_plain_file_nobody_reads(
    world: World, what: str
) -> None:
    """`export -o`: never over a directory, a symlink, a FIFO, or the lock the run reads."""
    keep = {"the manifest": world.project / "mlenv.toml", "the lock": world.project / "mlenv.lock"}
    dest = world.root / "out.txt"
    if what == "symlink":
        dest.symlink_to(world.project / "mlenv.lock")
    elif what == "directory":
        dest.mkdir()
    elif what == "fifo":
        os.mkfifo(dest)
    else:
        dest = world.project / f"mlenv.{'lock' if what == 'lock' else 'toml'}"
    with pytest.raises(OutputError):
        check_output(dest, EXPORT, keep=keep)
    plain = world.root / "plain.txt"
    plain.write_text("old")
    assert check_output(plain, EXPORT, keep=keep) == plain


def test_the_swap_checks_again(world: World) -> None:
    """A destination that became the user's while the run worked is not replaced."""
    dest = world.project / "dist"
    assert world.check(dest) == dest
    new = world.root / "new"
    new.mkdir()
    (new / "build.json").write_text(json.dumps(BUILD_JSON))
    dest.mkdir()
    (dest / "thesis.tex").write_text("mine")
    with pytest.raises(OutputError):
        replace_output(new, dest, BUILD_OUTPUT, keep=world.keep)
    assert (dest / "thesis.tex").read_text() == "mine"
    assert (new / "build.json").exists()
    (dest / "thesis.tex").unlink()
    replace_output(new, dest, BUILD_OUTPUT, keep=world.keep)
    assert (dest / "build.json").exists()


# ---------------------------------------------------------------------------------------------
# Hypothesis: any path spelled from the places that matter, with '..', '.', '//' and symlinks


USER_FILES = ("home/notes.txt", "home/project/mlenv.toml", "home/project/mlenv.lock",
              "home/project/src/app.py", "home/.cache/mlenv/artifacts-v1/entry")  # fmt: skip
PLACES = ["", ".", "..", "dist", "sub", "src", "project", ".cache", "mlenv", "to-project",
          "to-home", "to-cache", "to-dist", "empty"]  # fmt: skip
BASES = ["", "home", "home/project", "home/.cache/mlenv", "home/project/dist"]


@contextmanager
def hostile_world() -> Iterator[World]:
    """A world with user files, an earlier build and symlinks to every protected place."""
    with tempfile.TemporaryDirectory() as scratch:
        made = World(Path(scratch).resolve())
        for name in USER_FILES:
            (made.root / name).parent.mkdir(parents=True, exist_ok=True)
            (made.root / name).write_text(name)
        earlier_build(made.project / "dist")
        # Forged records that account for everything beside them: only the rule that the
        # cache and its parents are never outputs keeps these.
        for where, holds in ((made.cache, "artifacts-v1"), (made.cache.parent, "mlenv")):
            forged = {**BUILD_JSON, "outputs": {"conda-pack": {"file": holds}}}
            (where / "build.json").write_text(json.dumps(forged))
        for where in (made.root, made.project, made.home):
            for name, target in (
                ("to-project", made.project),
                ("to-home", made.home),
                ("to-cache", made.cache),
                ("to-dist", made.project / "dist"),
            ):
                (where / name).symlink_to(target)  # fmt: skip
        yield made


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(BASES), st.lists(st.sampled_from(PLACES), max_size=6))
def test_no_spelling_of_a_path_lets_an_output_replace_what_the_user_owns(
    base: str, parts: list[str]
) -> None:
    """Whatever '..', '.', '//' and symlinks spell: check_output accepts only a path whose
    replacement loses no user file, and is never /, home, the project, the cache or a parent."""
    with hostile_world() as world:
        old_home = os.environ.get("HOME")
        os.environ["HOME"] = str(world.home)
        try:
            dest = f"{world.root}/{base}/" + "/".join(parts)
            try:
                real = world.check(dest)
            except OutputError:
                real = None
            if real is not None:
                for protected in (Path("/"), world.home, world.project, world.cache):
                    assert not protected.is_relative_to(real), (dest, real)
                real.parent.mkdir(parents=True, exist_ok=True)  # as work_dir does
                new = Path(tempfile.mkdtemp(dir=world.root))
                (new / "build.json").write_text(json.dumps(BUILD_JSON))
                replace_output(new, Path(dest), BUILD_OUTPUT, keep=world.keep)
                assert (real / "build.json").is_file()
        finally:
            if old_home is not None:
                os.environ["HOME"] = old_home
        for name in USER_FILES:
            assert (world.root / name).read_text() == name, (dest, name)


def test_a_path_that_cannot_be_examined_is_refused_not_a_crash(world: World) -> None:
    """A NUL byte (or an unreadable parent) is a clear refusal, never an internal error."""
    with pytest.raises(OutputError, match="cannot be examined"):
        world.check(f"{world.root}/a\0b")
