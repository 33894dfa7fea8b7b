"""Attack 83: proxy credentials and NO_PROXY under spellings the earlier proxy attacks (76)
did not try; a user's file in a bundle's lock directory.

A password a user did not percent-encode may hold "/", "#", "?", "@" or "://"; every error that
names the proxy must still hide it. A NO_PROXY host written in Unicode must match the IDNA
(punycode) form httpx sends, and the reverse, or a request the user meant to go direct goes
through the proxy. A bundle's ``locks-v1/`` was taken whole as mlenv's, so a user's file put
in it was deleted unseen when the bundle was rewritten."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import string
from pathlib import Path

import httpx
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mlenv.cache.bundle import BUNDLE_OUTPUT, BUNDLE_VERSION
from mlenv.net.proxy import ProxyRouter, proxy_for, shown
from mlenv.outputs import OutputError, check_output
from tests.support.cli import run_mlenv
from tests.support.forward_proxy import ForwardProxy
from tests.support.wheels import build_wheel

_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
BLANK = dict.fromkeys((*_VARIABLES, *(v.upper() for v in _VARIABLES)), "")
SECRET = "pr0xy-s3cret"


@settings(max_examples=200)
@given(
    user=st.text(string.ascii_letters + "/#?@:%", max_size=8),
    password=st.text(string.printable.strip(), max_size=16),
    scheme=st.sampled_from(["http://", "HTTP://", "socks5://", ""]),
)
def test_shown_hides_any_userinfo(user: str, password: str, scheme: str) -> None:
    """Before: a "/" in the password ended the authority, so ``http://u:pa/ss@proxy:3128`` was
    shown whole, password and all."""
    assume(scheme or "://" not in user)  # with no scheme, a user "A://" is the scheme
    proxy = f"{scheme}{user}:{password}@proxy.corp:3128"
    assert shown(proxy) == f"{scheme}***@proxy.corp:3128"


@pytest.mark.parametrize(
    "proxy",
    [
        f"http://corp:{SECRET[:5]}/{SECRET[6:]}@127.0.0.1:9",
        f"http://corp:a://{SECRET}@127.0.0.1:9",
        f"socks5://corp:{SECRET}://x@127.0.0.1:9",
    ],
)
def test_an_unusable_proxy_error_hides_a_password_with_a_slash(proxy: str) -> None:
    """The router's own error (httpx refuses the URL) names the proxy, never its password."""
    router = ProxyRouter(ssl.create_default_context(), {**BLANK, "https_proxy": proxy})
    with pytest.raises(httpx.ProxyError) as caught:
        router.handle_request(httpx.Request("GET", "https://pkgs.example/simple/"))
    message = str(caught.value)
    assert "via proxy " in message and "127.0.0.1:9" in message, message
    for part in (SECRET, SECRET[:5], SECRET[6:]):
        assert part not in message, message


def test_the_cli_error_hides_a_password_with_a_slash(tmp_path: Path) -> None:
    """The same through `mlenv lock` (and -v): stderr names the proxy, not its password (the
    CLI's own redaction caught this one before too; kept so neither layer alone is relied on)."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "p"\npython = "3.11"\n'
        '[pypi]\nindex-url = "https://pkgs.example/simple"\ndependencies = ["lib"]\n'
    )
    proxy = f"http://corp:{SECRET[:5]}/{SECRET[6:]}@127.0.0.1:9"
    env = {
        **BLANK,
        "MLENV_CACHE_DIR": str(tmp_path / "cache"),
        "NETRC": str(tmp_path / "no-netrc"),
        "HTTPS_PROXY": proxy,
    }
    for argv in (["lock"], ["-v", "lock"]):
        result = run_mlenv(argv, root, env)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert "via proxy http://***@127.0.0.1:9" in result.stderr, result.stderr
        for text in (result.stdout, result.stderr):
            assert SECRET[:5] not in text and SECRET[6:] not in text, text


@pytest.mark.parametrize(
    ("entry", "url"),
    [
        ("bücher.example", "https://bücher.example/simple/"),
        ("xn--bcher-kva.example", "https://bücher.example/simple/"),
        ("bücher.example", "https://xn--bcher-kva.example/simple/"),
        (".BÜCHER.example.", "https://idx.bücher.example/simple/"),
        ("*.école.example", "https://idx.xn--cole-9oa.example/simple/"),
    ],
)
def test_no_proxy_matches_a_unicode_host_in_either_spelling(entry: str, url: str) -> None:
    """What the router sees is httpx's URL, whose host is IDNA: before, a Unicode NO_PROXY
    entry never matched it, so the host went through the proxy."""
    env = {**BLANK, "https_proxy": "http://proxy.corp:3128", "no_proxy": entry}
    sent = str(httpx.Request("GET", url).url)
    assert sent.isascii()
    assert proxy_for(sent, env) is None
    assert proxy_for(url, env) is None
    assert proxy_for("https://other.example/simple/", env) is not None


def test_a_unicode_no_proxy_host_never_reaches_the_proxy() -> None:
    """End to end through the router and a real forward proxy: the bypassed host goes direct
    (and fails there, as ``pkgs`` hosts resolve only through the proxy); the proxy sees nothing."""
    with ForwardProxy() as proxy:
        env = {**BLANK, "http_proxy": proxy.url, "no_proxy": "bücher.example"}
        router = ProxyRouter(ssl.create_default_context(), env)
        with pytest.raises(httpx.ConnectError):
            router.handle_request(httpx.Request("GET", "http://bücher.example:9/simple/"))
        router.close()
    assert proxy.seen == []


MANIFEST = (
    '[environment]\nname = "b"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
    '[pypi]\nindex-url = "file:///nonexistent-mlenv-index/simple"\nfind-links = ["wheels"]\n'
    'dependencies = ["app"]\n'
)


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project, locked and fetched into the bundle ``B``."""
    root = tmp_path_factory.mktemp("attack83")
    (root / "wheels").mkdir()
    name, data = build_wheel("app", "1.0", files={"app/__init__.py": b"x = 1\n"})
    (root / "wheels" / name).write_bytes(data)
    (root / "mlenv.toml").write_text(MANIFEST)
    for command in (["lock"], ["fetch"], ["fetch", "--bundle", "B"]):
        done = run_mlenv(command, root, {"MLENV_CACHE_DIR": str(root / "cache")})
        assert done.returncode == 0, done.stderr
    return root


@pytest.mark.parametrize("planted", ["notes.txt", "mine/notes.txt", "x.lock/notes.txt"])
def test_a_users_file_in_the_bundles_lock_directory_is_never_replaced(
    bundled: Path, tmp_path: Path, planted: str
) -> None:
    """Before: ``locks-v1/`` covered whatever was below it, so `fetch --bundle` deleted a
    user's file there with the earlier bundle. Now it is a stranger and the write refused."""
    bundle = Path(shutil.copytree(bundled / "B", tmp_path / "B"))
    (bundle / "locks-v1").mkdir(exist_ok=True)
    (bundle / "locks-v1" / "a.lock").write_bytes(b"")
    users = bundle / "locks-v1" / planted
    users.parent.mkdir(parents=True, exist_ok=True)
    users.write_text("the user's")
    env = {"MLENV_CACHE_DIR": str(bundled / "cache")}
    done = run_mlenv(["fetch", "--bundle", str(bundle)], bundled, env)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"locks-v1/{planted.split('/')[0]}" in done.stderr, done.stderr
    assert users.read_text() == "the user's"
    users.unlink()  # only the cache's lock files left: the earlier bundle is replaced
    if users.parent != bundle / "locks-v1":
        users.parent.rmdir()
    done = run_mlenv(["fetch", "--bundle", str(bundle)], bundled, env)
    assert done.returncode == 0, done.stderr


_NAMES = st.text("abcxyz.-_", min_size=1, max_size=8).filter(lambda n: n not in (".", ".."))


@settings(max_examples=100, deadline=None)
@given(locks=st.sets(_NAMES, max_size=4), other=st.sets(_NAMES, max_size=3))
def test_hypothesis_only_lock_files_in_the_lock_directory_are_the_bundles(
    tmp_path_factory: pytest.TempPathFactory, locks: set[str], other: set[str]
) -> None:
    """The gate itself: any name below ``locks-v1/`` that is no ``*.lock`` regular file makes
    it refuse, naming that entry; only ``*.lock`` files (or none) pass."""
    root = tmp_path_factory.mktemp("gate")
    (root / "bundle.json").write_text(json.dumps({"bundle-version": BUNDLE_VERSION, "files": []}))
    (root / "locks-v1").mkdir()
    lock_names = {f"{name}.lock" for name in locks}
    for name in lock_names:
        (root / "locks-v1" / name).write_bytes(b"")
    strangers = {name for name in other if not name.endswith(".lock")} - lock_names
    for name in strangers:
        (root / "locks-v1" / name).write_text("mine")
    if not strangers:
        assert check_output(root, BUNDLE_OUTPUT, keep={}) == Path(os.path.realpath(root))
        return
    with pytest.raises(OutputError) as caught:
        check_output(root, BUNDLE_OUTPUT, keep={})
    assert f"locks-v1/{min(strangers)}" in caught.value.message
