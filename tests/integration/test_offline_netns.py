"""--offline proven for real: commands run in a network namespace with no interface up."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.httpserver import IndexServer
from tests.support.netns import network_is_gone, run_mlenv_offline
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.integration

WHEELS = [
    build_wheel("app", "1.0", requires_dist=["lib"], files={"app/__init__.py": b"x = 1\n"}),
    build_wheel("lib", "2.0", files={"lib/__init__.py": b""}),
]


@pytest.fixture
def fetched(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A project locked and fetched over loopback HTTP, then the server is gone."""
    write_simple_index(tmp_path / "www", WHEELS)
    root = tmp_path / "project"
    root.mkdir()
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    with IndexServer(tmp_path / "www") as server:
        (root / "mlenv.toml").write_text(
            '[environment]\nname = "o"\npython = "3.11"\n'
            f'[pypi]\nindex-url = "{server.url}/simple"\ndependencies = ["app"]\n'
        )
        assert run_mlenv(["lock"], root, env).returncode == 0
        fetch = run_mlenv(["fetch", "--bundle", str(tmp_path / "bundle")], root, env)
        assert fetch.returncode == 0, fetch.stderr
    return root, env, tmp_path


def test_the_namespace_really_has_no_network() -> None:
    assert network_is_gone()


def test_offline_commands_succeed_from_a_filled_cache(fetched) -> None:  # type: ignore[no-untyped-def]
    root, env, _ = fetched
    for args in (["fetch", "--offline"], ["lock", "--offline"], ["verify", "--cache"]):
        result = run_mlenv_offline(args, root, env)
        assert result.returncode == 0, (args, result.stderr)


def test_offline_fetch_from_an_empty_cache_fails_clearly(fetched) -> None:  # type: ignore[no-untyped-def]
    root, _, tmp_path = fetched
    empty = {"MLENV_CACHE_DIR": str(tmp_path / "empty")}
    result = run_mlenv_offline(["fetch", "--offline"], root, empty)
    assert result.returncode == 1
    assert "error: 2 artifact(s) of the lock are not in the cache" in result.stderr
    assert "hint: run `mlenv fetch` on a connected machine" in result.stderr
    online = run_mlenv_offline(["fetch"], root, empty)
    assert online.returncode == 1
    assert "Traceback" not in online.stderr


def test_carried_bundle_works_without_network(fetched) -> None:  # type: ignore[no-untyped-def]
    _, _, tmp_path = fetched
    site = tmp_path / "airgap" / "bundle"
    shutil.copytree(tmp_path / "bundle", site)
    checked = run_mlenv_offline(["verify", "--bundle", str(site)], tmp_path, {})
    assert checked.returncode == 0, checked.stdout
    used = run_mlenv_offline(["--cache", str(site), "fetch", "--offline"], site, {})
    assert used.returncode == 0, used.stderr
    assert "2 already there" in used.stderr
