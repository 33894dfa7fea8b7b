"""A registry behind TLS from a site's own CA and htpasswd auth (Debian's docker-registry with
a certificate from a CA the test makes): mlenv trusts that CA only when told to
(``MLENV_CA_BUNDLE``, or ``SSL_CERT_FILE``), and then pushes the image, pushes the bundle and
fetches from it exactly as over plain http."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.daemons import Registry, registry
from tests.support.httpserver import IndexServer
from tests.support.siteca import SiteCA, make_ca
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.integration

USER, PASSWORD = "ci", "tls-s3cret"
WHEELS = [
    build_wheel("app", "1.0", requires_dist=["lib"], files={"app/__init__.py": b"x = 1\n"}),
    build_wheel("lib", "2.0", files={"lib/__init__.py": b"y = 2\n"}),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, SiteCA, Path]]:
    root = tmp_path_factory.mktemp("tls")
    ca = make_ca(root / "ca")
    with registry(htpasswd=(USER, PASSWORD), tls=ca) as secured:
        yield secured, ca, root


@pytest.fixture
def project(tmp_path: Path, site: tuple[Registry, SiteCA, Path]) -> tuple[Path, dict[str, str]]:
    """A locked, fetched and built project and an environment holding the credentials."""
    reg, _, _ = site
    url = write_simple_index(tmp_path / "www", WHEELS)
    root = tmp_path / "project"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "t"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["app"]\n[build]\noutputs = ["oci"]\n'
    )
    docker = tmp_path / "docker"
    docker.mkdir()
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (docker / "config.json").write_text(json.dumps({"auths": {reg.host: {"auth": token}}}))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache"), "DOCKER_CONFIG": str(docker)}
    for step in (["lock"], ["fetch"], ["build", "--offline"]):
        done = run_mlenv(step, root, env)
        assert done.returncode == 0, f"{step}: {done.stderr}"
    return root, env


def test_an_untrusted_ca_is_refused_everywhere(
    site: tuple[Registry, SiteCA, Path], project: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Guards certificate verification: without the site CA, or trusting another CA, push,
    bundle push and fetch --from all fail on the certificate, and the hint names the fix."""
    reg, _, root_dir = site
    root, env = project
    other = make_ca(root_dir / "other-ca", name="someone else")
    for extra in ({}, {"MLENV_CA_BUNDLE": str(other.ca)}):
        for args in (
            ["push", f"{reg.host}/team/img:1"],
            ["fetch", "--bundle", f"oci://{reg.host}/team/bundle:1"],
            ["fetch", "--from", f"oci://{reg.host}/team/bundle:1"],
        ):
            done = run_mlenv(args, root, {**env, **extra})
            assert done.returncode == 1, (args, done.stderr)
            assert "CERTIFICATE_VERIFY_FAILED" in done.stderr, done.stderr
            assert "MLENV_CA_BUNDLE" in done.stderr
            assert "Traceback" not in done.stderr


def test_with_the_site_ca_push_bundle_and_fetch_from_work(
    site: tuple[Registry, SiteCA, Path], project: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Guards the documented ways to trust a site CA over TLS with auth: MLENV_CA_BUNDLE
    (added to the default trust) carries push, bundle push and fetch --from; SSL_CERT_FILE
    (replacing it) carries a push too; the credentials are still required."""
    reg, ca, _ = site
    root, env = project
    trusted = {**env, "MLENV_CA_BUNDLE": str(ca.ca)}
    image = run_mlenv(["push", f"{reg.host}/team/img:1"], root, trusted)
    assert image.returncode == 0, image.stderr
    assert image.stdout.strip().startswith(f"{reg.host}/team/img:1@sha256:")
    bundle = f"oci://{reg.host}/team/bundle:1"
    pushed = run_mlenv(["fetch", "--bundle", bundle], root, trusted)
    assert pushed.returncode == 0, pushed.stderr
    fresh = {**trusted, "MLENV_CACHE_DIR": str(tmp_path / "fresh")}
    pulled = run_mlenv(["fetch", "--from", bundle], root, fresh)
    assert pulled.returncode == 0, pulled.stderr
    assert "2 fetched" in pulled.stderr
    replaced = {**env, "SSL_CERT_FILE": str(ca.ca)}
    again = run_mlenv(["push", f"{reg.host}/team/img:2"], root, replaced)
    assert again.returncode == 0, again.stderr
    anonymous = {**trusted, "DOCKER_CONFIG": str(tmp_path / "nobody")}
    refused = run_mlenv(["push", f"{reg.host}/team/img:3"], root, anonymous)
    assert refused.returncode == 1 and "HTTP 401" in refused.stderr


def test_an_unreadable_ca_bundle_is_an_error_naming_the_variable(
    project: tuple[Path, dict[str, str]], site: tuple[Registry, SiteCA, Path], tmp_path: Path
) -> None:
    """Guards MLENV_CA_BUNDLE's loading: a missing or non-PEM file is an error naming the
    variable, never a silent fall back to the default trust."""
    reg, _, _ = site
    root, env = project
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for value in (str(tmp_path / "missing.pem"), str(junk)):
        done = run_mlenv(
            ["push", f"{reg.host}/team/img:9"], root, {**env, "MLENV_CA_BUNDLE": value}
        )
        assert done.returncode == 1
        assert f"MLENV_CA_BUNDLE={value}" in done.stderr and "Traceback" not in done.stderr


def test_an_index_behind_the_site_ca_is_trusted_through_the_same_setting(
    site: tuple[Registry, SiteCA, Path], tmp_path: Path
) -> None:
    """Guards that MLENV_CA_BUNDLE reaches the package-index client too (one TLS context for
    every client): an https index signed by the site CA locks with it and is refused, with
    the hint, without it."""
    _, ca, _ = site
    write_simple_index(tmp_path / "www", WHEELS)
    with IndexServer(tmp_path / "www", tls=ca) as server:
        root = tmp_path / "project"
        root.mkdir()
        (root / "mlenv.toml").write_text(
            '[environment]\nname = "t"\npython = "3.11"\n'
            f'[pypi]\nindex-url = "{server.url}/simple"\ndependencies = ["app"]\n'
        )
        env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
        refused = run_mlenv(["lock"], root, env)
        assert refused.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr
        assert "MLENV_CA_BUNDLE" in refused.stderr
        locked = run_mlenv(["lock"], root, {**env, "MLENV_CA_BUNDLE": str(ca.ca)})
        assert locked.returncode == 0, locked.stderr
        assert f"{server.url}/files/app-1.0-py3-none-any.whl" in (root / "mlenv.lock").read_text()
