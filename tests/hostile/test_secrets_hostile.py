"""Secrets: credentials in the manifest's index URL are sent to the index and nowhere else: not
to the lock, the exports, dist/, the cache, stdout or stderr (verbose or JSON), nor into error
messages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.fetch_project import WHEELS
from tests.support.httpserver import Fault, IndexServer
from tests.support.wheels import write_simple_index

pytestmark = pytest.mark.hostile

USER, SECRET = "alice", "s3cret-T0ken"


def manifest(index: str, *, dependencies: str = '"app"', extra: str = "") -> str:
    return (
        '[environment]\nname = "s"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = [{dependencies}]\n{extra}'
    )


def assert_clean(text: str, where: object) -> None:
    assert SECRET not in text and f"{USER}:" not in text and f"{USER}@" not in text, where


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str, IndexServer]]:
    """A project whose index URL carries the credentials the loopback index requires."""
    write_simple_index(tmp_path / "www", WHEELS)
    with IndexServer(tmp_path / "www", auth=(USER, SECRET)) as server:
        root = tmp_path / "project"
        root.mkdir()
        secret_url = f"http://{USER}:{SECRET}@{server.url.removeprefix('http://')}/simple"
        (root / "mlenv.toml").write_text(manifest(secret_url))
        yield root, secret_url, server


def test_credentials_are_used_and_written_nowhere(
    tmp_path: Path, served: tuple[Path, str, IndexServer]
) -> None:
    root, _, server = served
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    commands = [
        ["-v", "show"],
        ["show", "--json"],
        ["-v", "lock"],
        ["-v", "--log-format", "json", "lock", "--upgrade"],
        ["-v", "export", "--format", "requirements"],
        ["export", "--format", "pylock", "-o", "pylock.toml"],
        ["-v", "fetch"],
        ["-v", "verify", "--cache"],
        ["-v", "build", "--offline"],
    ]
    for args in commands:
        result = run_mlenv(args, root, env)
        assert result.returncode == 0, (args, result.stderr)
        assert_clean(result.stdout + result.stderr, args)
    assert all(r.status in (200, 206, 304) for r in server.requests)  # all authenticated
    written = [p for p in (root, tmp_path / "cache") for p in p.rglob("*") if p.is_file()]
    assert len([p for p in written if p.parent.name == "dist"]) >= 3
    for path in written:
        if path.name != "mlenv.toml":
            assert_clean(path.read_bytes().decode("latin-1"), path)


@pytest.mark.parametrize(
    "case", ["wrong-password", "unknown-package", "refused", "invalid-url-in-manifest"]
)
def test_error_messages_never_carry_credentials(
    tmp_path: Path, served: tuple[Path, str, IndexServer], case: str
) -> None:
    root, secret_url, server = served
    if case == "wrong-password":
        wrong = secret_url.replace(SECRET, f"{SECRET}-old")
        (root / "mlenv.toml").write_text(manifest(wrong))
    elif case == "unknown-package":
        (root / "mlenv.toml").write_text(manifest(secret_url, dependencies='"app", "nope"'))
    elif case == "refused":
        server.fault("/simple/app/", Fault(403, times=None))
    else:
        extra = f'extra-index-urls = ["{secret_url.replace("http", "htp", 1)} "]\n'
        (root / "mlenv.toml").write_text(manifest(secret_url, extra=extra))
    result = run_mlenv(["-v", "lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1, result.stderr
    assert "error:" in result.stderr and "Traceback" not in result.stderr
    assert_clean(result.stdout + result.stderr, case)
