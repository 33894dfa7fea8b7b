"""The lock workflow as a uv or pixi user types it, attacked: ``--locked``/``--frozen`` on a lock
the manifest moved past in several ways, ``lock --no-index`` with nothing left to resolve
from, and the manifest found in a parent directory (a planted one refused)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.golden import build, digests, fetched_golden
from tests.support.wheels import build_wheel, write_simple_index

HEAD = '[environment]\nname = "walk"\npython = "3.11"\n'


def locked_project(tmp_path: Path, extra: str = "") -> tuple[Path, dict[str, str], str]:
    """A project locking ``app`` from a file:// index, locked; its environment and index."""
    index = write_simple_index(
        tmp_path / "index",
        [build_wheel("app", "1.0"), build_wheel("bar", "1.0")],
    )
    other = write_simple_index(tmp_path / "other", [build_wheel("app", "1.0")])
    root = tmp_path / "project"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        f'{HEAD}{extra}[pypi]\nindex-url = "{index}"\ndependencies = ["app"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    done = run_mlenv(["lock"], root, env)
    assert done.returncode == 0, done.stderr
    return root, env, other


CUDA = '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n'


def _add_bar(text: str, other: str) -> str:
    return text.replace('["app"]', '["app", "bar"]')


def _cuda_moved(text: str, other: str) -> str:
    return text.replace('"12.4"', '"12.1"').replace('"550.54.14"', '"530.30.02"')


def _index_moved(text: str, other: str) -> str:
    start = text.index('index-url = "') + len('index-url = "')
    return text[:start] + other + text[text.index('"', start) :]


STALE = [
    ("dependency-added", "", _add_bar, "+bar"),
    ("cuda-changed", CUDA, _cuda_moved, "cuda"),
    ("index-changed", "", _index_moved, "index"),
]


@pytest.mark.parametrize(("name", "extra", "edit", "said"), STALE, ids=[s[0] for s in STALE])
def test_a_stale_lock_is_refused_by_locked_and_said_by_frozen(
    tmp_path: Path, name: str, extra: str, edit: object, said: str
) -> None:
    """``lock --locked`` answers as ``--check``; fetch, export and build refuse the stale lock
    with and without ``--locked`` (naming the file and what changed) and take it as it is with
    ``--frozen``, saying so; the lock's bytes never move."""
    root, env, other = locked_project(tmp_path, extra)
    manifest = root / "mlenv.toml"
    assert callable(edit)
    assert run_mlenv(["lock", "--locked"], root, env).returncode == 0
    lock_bytes = (root / "mlenv.lock").read_bytes()
    manifest.write_text(edit(manifest.read_text(), other))
    for args in (["lock", "--locked"], ["lock", "--check"]):
        done = run_mlenv(args, root, env)
        assert done.returncode == 1, done.stderr
        assert "mlenv.lock" in done.stderr and "stale" in done.stderr
        assert said in done.stderr
    export = ["export", "--format", "requirements"]
    for args in ([*export], [*export, "--locked"], ["fetch", "--locked"], ["build", "--locked"]):
        done = run_mlenv(args, root, env)
        assert done.returncode == 1, (args, done.stderr)
        assert "mlenv.lock" in done.stderr and said in done.stderr, (args, done.stderr)
        assert done.stdout == ""
    frozen = run_mlenv([*export, "--frozen"], root, env)
    assert frozen.returncode == 0, frozen.stderr
    assert "app==1.0" in frozen.stdout and "bar" not in frozen.stdout
    assert "--frozen" in frozen.stderr and "mlenv.lock" in frozen.stderr and said in frozen.stderr
    fetched = run_mlenv(["fetch", "--frozen"], root, env)
    assert "--frozen" in fetched.stderr
    if name == "index-changed":
        # --frozen takes the lock's pins, not its reach: a file:// artifact outside every
        # directory the manifest now names is still refused (security invariant: local files
        # only from the manifest's directories)
        assert fetched.returncode == 1 and "refusing to follow" in fetched.stderr
    else:
        assert fetched.returncode == 0, fetched.stderr
    assert (root / "mlenv.lock").read_bytes() == lock_bytes


@pytest.mark.parametrize("command", [["fetch"], ["build"], ["export", "--format", "pylock"]])
def test_locked_and_frozen_together_is_a_usage_error(tmp_path: Path, command: list[str]) -> None:
    root, env, _ = locked_project(tmp_path)
    done = run_mlenv([*command, "--locked", "--frozen"], root, env)
    assert done.returncode == 1
    assert "--locked and --frozen exclude each other" in done.stderr
    assert done.stdout == ""


def test_lock_locked_refuses_a_missing_lock_and_an_upgrade(tmp_path: Path) -> None:
    root, env, _ = locked_project(tmp_path)
    upgraded = run_mlenv(["lock", "--locked", "--upgrade"], root, env)
    assert upgraded.returncode == 1
    assert "--locked and --upgrade exclude each other" in upgraded.stderr
    (root / "mlenv.lock").unlink()
    missing = run_mlenv(["lock", "--locked"], root, env)
    assert missing.returncode == 1
    assert "no lock here" in missing.stderr
    assert not (root / "mlenv.lock").exists()  # --locked never writes one


def test_frozen_builds_the_lock_as_it_is(tmp_path: Path) -> None:
    """A manifest that moved past its lock (a dependency added) builds with ``--frozen`` the
    very bytes the lock built before the edit, and is refused without it."""
    project, env = fetched_golden(tmp_path)
    cache = Path(env["MLENV_CACHE_DIR"])
    first = build(project, cache, env=env)
    assert first.returncode == 0, first.stderr
    before = digests(project / "dist")
    manifest = project / "mlenv.toml"
    manifest.write_text(manifest.read_text().replace('["hello"]', '["hello", "numpy"]'))
    refused = build(project, cache, env=env)
    assert refused.returncode == 1 and "+numpy" in refused.stderr
    assert digests(project / "dist") == before  # the refused build touched nothing
    again = build(project, cache, "--frozen", env=env)
    assert again.returncode == 0, again.stderr
    assert "--frozen" in again.stderr and "+numpy" in again.stderr
    assert digests(project / "dist") == before
