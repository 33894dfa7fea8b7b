"""The no-op and remembered lock without pathlib, typing and importlib.util attacked (pass 21).

The fast path (``mlenv.uptodate``) must answer as the full CLI does: the same lines, the same
exit status, the same keys; and what it asks of the import system must be what
``importlib.util.find_spec`` would ask.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv import uptodate
from mlenv.atomic import atomic_writer, write_atomic
from mlenv.cache import fresh
from mlenv.cli.app import main as cli_main
from mlenv.redaction import redact
from tests.support.noop import lock_for, manifest_text

ROOT = Path(__file__).resolve().parents[2]
TEXT = manifest_text({"environment": {"name": "e", "python": "3.11"}})


def _project(where: Path) -> list[str]:
    """A project with a fresh lock at ``where``; the arguments of a (not quiet) ``lock --check``."""
    where.mkdir(parents=True)
    (where / "mlenv.toml").write_text(TEXT)
    (where / "mlenv.lock").write_text(lock_for(TEXT))
    return ["--cache", str(where.parent / "cache"), "-m", str(where / "mlenv.toml"),
            "lock", "--check"]  # fmt: skip


@pytest.mark.parametrize("name", ["Bearer abc", "a?token=s3cret", "x?sig=1", "é?key=v"])
def test_up_to_date_names_a_lock_path_as_the_full_cli_redacts_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Protects invariant (1), the fast path's lines equal the full CLI's: the full CLI's
    reporter says every line through ``redaction.redact``, so a project directory named like a
    secret (``Bearer abc``, ``a?token=...``) shows as ``***`` there; the fast path printed it
    as it is. Both must say the same, from the kept verdict too."""
    args = _project(tmp_path / name)
    assert cli_main(args) == 0
    full = capsys.readouterr().err
    assert "***" in full
    for _ in range(2):  # judged, then answered from the kept verdict
        assert uptodate.answer(args) == 0
        assert capsys.readouterr().err == full


@settings(max_examples=500)
@given(st.text())
def test_a_text_without_a_redactable_mark_is_never_redacted(text: str) -> None:
    """Protects the fast path's shortcut: it skips ``redaction.redact`` (and its import) for a
    text holding none of ``uptodate.REDACTABLE``, which is only right if redact would leave
    every such text as it is."""
    if not any(mark in text for mark in uptodate.REDACTABLE):
        assert redact(text) == text


class _StrictFinder:
    """A meta path finder as the import system calls it, ``find_spec(fullname, path,
    target)``, with no default for ``target``."""

    @classmethod
    def find_spec(cls, fullname: str, path: object, target: object) -> None:
        return None


def test_judge_origins_ask_a_strict_finder_as_find_spec_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects invariant (2), keys unchanged, and (5), no traceback: ``fresh._spec`` stands
    for ``importlib.util.find_spec``, which calls every finder with three arguments; with two,
    a conforming finder whose ``target`` has no default raised TypeError out of every no-op."""
    (tmp_path / "attack21_judge.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", [_StrictFinder, *sys.meta_path])
    spec = importlib.util.find_spec("attack21_judge")
    assert spec is not None and "attack21_judge" not in sys.modules
    assert fresh._judge_origins(("attack21_judge",)) == f"attack21_judge={spec.origin}"


def test_a_no_op_check_with_a_strict_finder_installed_answers(tmp_path: Path) -> None:
    """Protects invariant (5), no traceback without -v: a finder installed at start-up (an
    editable install's ``.pth``, a ``sitecustomize``) that requires ``target`` must not turn
    a no-op ``lock --check`` into a TypeError; it answers, then answers from its verdict."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\n"
        "class Strict:\n"
        "    @classmethod\n"
        "    def find_spec(cls, fullname, path, target):\n"
        "        return None\n"
        "sys.meta_path.insert(0, Strict)\n"
    )
    args = _project(tmp_path / "project")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(site)])}
    for _ in range(2):
        result = subprocess.run([sys.executable, "-m", "mlenv", *args], env=env,
                                capture_output=True, text=True, check=False,
                                timeout=120)  # fmt: skip
        assert (result.returncode, result.stderr) == (
            0,
            f"{tmp_path / 'project' / 'mlenv.lock'} is up to date\n",
        )


def _no_home(monkeypatch: pytest.MonkeyPatch) -> None:
    """An arbitrary uid in a container: no ``$HOME`` and no passwd entry for it."""
    import pwd

    def missing(uid: int) -> pwd.struct_passwd:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    for name in ("HOME", "MLENV_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", missing)


@pytest.mark.parametrize("how", ["fast", "full"])
def test_a_check_without_a_home_judges_the_lock_as_with_one(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
) -> None:
    """Protects invariant (1) and (5): with no cache to name (no home), the fast path judges
    ``lock --check`` without one; the full CLI (and the entry point's own ``lock``, which a
    stale lock reaches) named the cache first and ended in "internal error" (exit 2) for a
    fresh and a stale lock alike. ``lock --check`` needs no cache: it says what it says with
    a home, and only a command that uses the cache says it cannot be named (exit 1)."""
    args = _project(tmp_path / "project")[2:]  # no --cache
    monkeypatch.chdir(tmp_path)
    _no_home(monkeypatch)
    main = uptodate.main if how == "fast" else cli_main
    assert main(args) == 0
    assert capsys.readouterr().err.endswith("mlenv.lock is up to date\n")
    manifest = tmp_path / "project" / "mlenv.toml"
    manifest.write_text(TEXT.replace("3.11", "3.12"))
    assert main(args) == 1
    assert "the lock is stale" in capsys.readouterr().err
    assert main(args[:-1]) == 1  # a lock to resolve: it needs the cache
    said = capsys.readouterr().err
    assert "cannot tell where the cache is" in said and "internal error" not in said


def test_a_symlink_swapped_in_at_the_temporary_name_is_never_followed(tmp_path: Path) -> None:
    """Protects invariant (3), a write never follows a symlink at its temporary name: in a
    directory others may write (a group's project), the temporary file can be swapped for a
    symlink to the writer's own private file while it is written; setting the final mode
    by name then made that file 0644 (readable by all). The mode is set by descriptor."""
    victim = tmp_path / "id_key"
    victim.write_text("secret")
    victim.chmod(0o600)
    with atomic_writer(tmp_path / "mlenv.lock") as handle:
        handle.write(b"lock")
        [temporary] = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        temporary.unlink()
        temporary.symlink_to(victim)
    assert victim.stat().st_mode & 0o777 == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("variable", "where"),
    [("MLENV_CACHE_DIR", "file"), ("MLENV_CACHE_DIR", "fifo"), ("MLENV_CACHE_DIR", "file/sub"),
     ("XDG_CACHE_HOME", "file"), ("--cache", "file/sub"), ("--cache", "loop")],
)  # fmt: skip
def test_a_cache_the_full_cli_refuses_is_refused_by_the_fast_path_too(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    where: str,
) -> None:
    """Protects invariant (1): the full CLI opens its session by refusing a cache that is no
    directory (a file, a FIFO, a name through a file, a symlink loop), with exit 1 and a
    hint; the fast path checked only ``--cache`` (and took a name through a file for a
    missing one), so a default cache from the environment gave "up to date" (0) there."""
    args = _project(tmp_path / "project")[2:]
    (tmp_path / "file").write_text("not a cache")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for name in ("MLENV_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    if variable == "--cache":
        args = ["--cache", str(tmp_path / where), *args]
    else:
        monkeypatch.setenv(variable, str(tmp_path / where))
    for check in (args, args[:-1]):  # lock --check, lock
        assert cli_main(check) == 1
        full = capsys.readouterr().err
        assert uptodate.main(check) == 1
        assert capsys.readouterr().err == full


def test_a_long_output_name_mkstemp_could_write_is_written(tmp_path: Path) -> None:
    """Protects what atomic writes could write before they made their own temporary file:
    mkstemp's ``.NAME.XXXXXXXX.tmp`` is 14 bytes longer than NAME, and a longer random part
    refused every name of 238 to 241 bytes (an export's ``-o``) with ENAMETOOLONG."""
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    path = tmp_path / ("n" * (limit - 14))
    write_atomic(path, b"data")
    assert path.read_bytes() == b"data"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
