"""Attack 93: the exports' rebased find-links, the address walk, redaction before a cut, and
URL schemes in any case.

- ``export --format pylock`` wrote a wheel under a find-links directory named ``w#1`` as
  ``path = ".../w%231/..."``: the lock's reference escapes '%', '#' and '?', a PEP 751 path
  is read as it is, and uv looked for a directory named ``w%231``. It is unescaped now.
- ``export -o lnk/pylock.toml`` where ``lnk`` is a symlink to a deeper directory wrote the
  manifest's directory as ``../../../proj/...`` from the symlink's target; uv reads ``..``
  lexically from the path it was given and looked outside the project. Where the two readings
  part, the manifest's directory is written absolute.
- ``inspect`` showed a base image's history (``RUN curl https://u:TOKEN@host``) unredacted:
  the table cut it at 32 characters (the token's start, without its '@'), ``--json`` whole.
- ``[pypi] index-url = "HTTP://host/simple"`` was refused; a scheme's case does not count
  (RFC 3986 3.1), pip and uv take it. It is accepted and recorded in lower case.
- Held as they were, asserted so they stay: a walk over silent addresses ends at the exchange
  deadline, a certificate refused by the first address is not retried on the next one, and a
  resolution a caller gave up on still answers the caller that waits longer.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import jsonschema
import pytest
from packaging.utils import canonicalize_name

from mlenv.errors import MlenvError
from mlenv.lockfile_read import loads as load_lock
from mlenv.manifest_read import loads as load_manifest
from mlenv.net.dns import addresses
from mlenv.net.exchange import DeadlineTransport, ExchangeTimeout
from mlenv.net.origins import OWN_HOSTS
from mlenv.tarball import Entry
from tests.support.cli import run_mlenv
from tests.support.images import write_image
from tests.support.siteca import make_ca
from tests.support.wheels import build_wheel, write_simple_index

# the test servers stand for the user's own index: a name the manifest names may resolve here
USERS = {OWN_HOSTS: ("pkgs.test",)}

pytestmark = pytest.mark.hostile

ENV = {"PIP_CONFIG_FILE": "/dev/null", "UV_NO_CONFIG": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
MANIFEST = "proj/other/dir/mlenv.toml"  # given with -m from the root
FIND_LINKS = "../shared/w#1 é"  # outside the manifest's directory, '#', a blank, non-ASCII
SCHEMA = Path(__file__).parents[2] / "schemas" / "mlenv.schema.json"


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found is not None, f"{name} is needed on PATH for this differential test"
    return found


def _run(args: list[str], cwd: Path, **extra: str) -> str:
    done = subprocess.run(
        args, cwd=cwd, env={**os.environ, **ENV, **extra}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _frozen(text: str) -> dict[str, str]:
    pins = (line.split("==", 1) for line in text.splitlines() if "==" in line)
    return {canonicalize_name(name): version for name, version in pins}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A project locked with -m from its root: (root, env); ``lnk`` is a symlink to a
    directory two levels deeper than itself, ``elsewhere`` the installers' working directory."""
    root = tmp_path_factory.mktemp("attack93")
    index = write_simple_index(root / "index", [build_wheel("app", "1.0", requires_dist=["fl"])])
    manifest = root / MANIFEST
    wheels = manifest.parent / FIND_LINKS
    wheels.mkdir(parents=True)
    name, data = build_wheel("fl", "0.5")
    (wheels / name).write_bytes(data)
    manifest.write_text(
        '[environment]\nname = "t"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{index}"\nfind-links = ["{FIND_LINKS}"]\ndependencies = ["app"]\n'
    )
    env = {**ENV, "MLENV_CACHE_DIR": str(root / "cache")}
    locked = run_mlenv(["-m", MANIFEST, "lock"], root, env)
    assert locked.returncode == 0, locked.stderr
    (root / "real" / "a" / "b").mkdir(parents=True)
    (root / "lnk").symlink_to(root / "real" / "a" / "b")
    (root / "elsewhere").mkdir()
    return root, env


def _export(root: Path, env: dict[str, str], fmt: str, output: str) -> str:
    done = run_mlenv(["-m", MANIFEST, "export", "--format", fmt, "-o", output], root, env)
    assert done.returncode == 0, done.stderr
    return (root / output).read_text()


def _uv_install(root: Path, name: str, *args: str) -> dict[str, str]:
    uv, venv = _tool("uv"), root / name
    _run([uv, "venv", "-q", "-p", sys.executable, str(venv)], root)
    _run(
        [uv, "pip", "install", "--offline", "-q", *args], root / "elsewhere", VIRTUAL_ENV=str(venv)
    )
    return _frozen(_run([uv, "pip", "freeze"], root, VIRTUAL_ENV=str(venv)))


def test_requirements_to_an_absolute_path_install_with_pip(
    world: tuple[Path, dict[str, str]],
) -> None:
    """-m names a manifest two levels down, -o an absolute path, the find-links directory is
    outside the manifest's directory: pip, run elsewhere, finds the wheel. Its '#' is written
    as a file: URL's %23: uv cut ``--find-links '../proj/other/shared/w#1 é'`` at the '#'."""
    root, env = world
    (root / "out").mkdir(exist_ok=True)
    text = _export(root, env, "requirements", str(root / "out" / "r.txt"))
    wheels = (root.resolve() / "proj/other/shared/w#1 é").as_uri()
    assert f"--find-links {wheels}\n" in text and "%23" in wheels  # uv: '#' starts a comment
    _tool("pip")
    venv = root / "pip-venv"
    _run([sys.executable, "-m", "venv", str(venv)], root)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    _run([*pip, "install", "-q", "--require-hashes", "--no-deps", "-r", str(root / "out/r.txt")],
         root / "elsewhere")  # fmt: skip
    assert _frozen(_run([*pip, "freeze"], root)) == {"app": "1.0", "fl": "0.5"}
    found = _uv_install(root, "uv-out-req", "--require-hashes", "-r", str(root / "out/r.txt"))
    assert found == {"app": "1.0", "fl": "0.5"}


def test_pylock_under_a_hash_named_directory_installs_with_uv(
    world: tuple[Path, dict[str, str]],
) -> None:
    """Before: ``path = "../proj/other/shared/w%231 é/..."`` and uv found no such file."""
    root, env = world
    (root / "out").mkdir(exist_ok=True)
    text = _export(root, env, "pylock", "out/pylock.toml")
    assert "%23" not in text and 'path = "../proj/other/shared/w#1 é/fl-0.5' in text
    lock = (root / MANIFEST).with_name("mlenv.lock").read_text()
    assert "w%231 é/fl-0.5" in lock  # the lock's own reference stays escaped
    found = _uv_install(root, "uv-out", "-r", "../out/pylock.toml", "--preview-features", "pylock")
    assert found == {"app": "1.0", "fl": "0.5"}


@pytest.mark.parametrize("fmt", ["pylock", "requirements"])
def test_exports_written_through_a_symlinked_directory_install_with_uv(
    world: tuple[Path, dict[str, str]], fmt: str
) -> None:
    """``lnk`` points two levels deeper: ``../../../proj`` is right on disk and wrong read
    lexically from ``lnk`` (uv: /tmp/.../proj missing). The manifest's directory is written
    absolute there, and stays relative where no symlink is crossed (the tests above)."""
    root, env = world
    name = "pylock.toml" if fmt == "pylock" else "requirements.txt"
    text = _export(root, env, fmt, f"lnk/{name}")
    wheels = root.resolve() / "proj/other/shared/w#1 é"
    assert (f'path = "{wheels}/' if fmt == "pylock" else f"--find-links {wheels.as_uri()}") in text
    extra = ["--preview-features", "pylock"] if fmt == "pylock" else ["--require-hashes"]
    found = _uv_install(root, f"uv-lnk-{fmt}", "-r", f"../lnk/{name}", *extra)
    assert found == {"app": "1.0", "fl": "0.5"}


def test_a_base_image_history_is_redacted_before_inspect_cuts_it(tmp_path: Path) -> None:
    """Before: the table showed ``curl https://u:SECRETTOKEN012345`` (cut at 32 characters,
    the '@' gone) and ``--json`` the whole token."""
    (tmp_path / "f.txt").write_bytes(b"hello")
    entries = [Entry("opt", "dir", 0o755), Entry("opt/x.txt", "file", 0o644, tmp_path / "f.txt", 5)]
    secret = "SECRETTOKEN0123456789abcdef"
    history = f"curl https://u:{secret}@h.test/x?token={secret}z | sh"
    write_image(tmp_path / "layout", [(history, entries)], ref="latest", cmd=["sh"])
    for extra in ([], ["--json"]):
        shown = run_mlenv(["inspect", *extra, str(tmp_path / "layout")], tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert "curl https://***@h.test" in shown.stdout
        assert "SECRET" not in shown.stdout + shown.stderr


# -- URL schemes in any case --------------------------------------------------------------


def _manifest(pypi: str) -> str:
    return f'[environment]\nname = "t"\npython = "3.11"\n[pypi]\n{pypi}'


@pytest.mark.parametrize("scheme", ["HTTP", "Https", "hTTp"])
def test_an_index_url_scheme_in_any_case_is_taken_in_lower_case(scheme: str) -> None:
    url = f"{scheme}://Mirror.Example/Simple/"
    pypi = load_manifest(
        _manifest(
            f'index-url = "{url}"\nextra-index-urls = ["{url}x"]\n'
            f'find-links = ["{scheme}://h/links", "./{scheme}://dir"]\n'
            f'sources = {{ torch = "{url}torch" }}\n'
        )
    ).pypi
    lowered = f"{scheme.lower()}://Mirror.Example/Simple/"  # host and path as written
    assert pypi.index_url == lowered and pypi.extra_index_urls == (lowered + "x",)
    assert pypi.find_links == (f"{scheme.lower()}://h/links", f"./{scheme}://dir")
    assert pypi.sources == (("torch", lowered + "torch"),)
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    document = {"environment": {"name": "t", "python": "3.11"}, "pypi": {"index-url": url}}
    assert list(validator.iter_errors(document)) == []


@pytest.mark.parametrize("url", ["ftp://h/simple", "HTTPX://h/simple", "http:/h/simple"])
def test_other_schemes_stay_refused(url: str) -> None:
    with pytest.raises(MlenvError) as caught:
        load_manifest(_manifest(f'index-url = "{url}"\n'))
    assert "expected an http://, https:// or file:// URL" in str(caught.value.render())


def test_an_upper_case_file_index_locks_as_the_lower_case_one(tmp_path: Path) -> None:
    """The lock records one spelling: locks of FILE:// and file:// are byte for byte equal."""
    index = write_simple_index(tmp_path / "index", [build_wheel("app", "1.0")])
    assert index.startswith("file://")
    locks: list[bytes] = []
    for spelled in (index, "FILE" + index[4:]):
        project = tmp_path / f"p{len(locks)}"
        project.mkdir()
        pypi = f'index-url = "{spelled}"\ndependencies = ["app"]\n'
        (project / "mlenv.toml").write_text(_manifest(pypi))
        env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
        done = run_mlenv(["lock"], project, env)
        assert done.returncode == 0, done.stderr
        locks.append((project / "mlenv.lock").read_bytes())
    assert locks[0] == locks[1]
    assert load_lock(locks[1].decode()).target.indexes == (index,)


# -- the address walk and shared lookups --------------------------------------------------


@pytest.fixture
def dropped_port() -> Iterator[int]:
    """A port at which 127.0.0.1 never answers a connect: a listener whose full accept queue
    makes the kernel drop each new SYN."""
    black = socket.socket()
    black.bind(("127.0.0.1", 0))
    black.listen(0)
    port = int(black.getsockname()[1])
    queued = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        queued.append(filler)
    try:
        yield port
    finally:
        for filler in queued:
            filler.close()
        black.close()


def test_a_walk_over_silent_addresses_ends_at_the_exchange_deadline(
    dropped_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six silent addresses with a 1 s connect timeout each: the 1.5 s deadline ends it."""
    monkeypatch.setenv("MLENV_DOWNLOAD_SECONDS", "1.5")
    transport = DeadlineTransport(resolve=lambda host, port: ["127.0.0.1"] * 6)
    started = time.monotonic()
    with (
        httpx.Client(transport=transport, timeout=httpx.Timeout(30, connect=1)) as client,
        pytest.raises(ExchangeTimeout) as caught,
    ):
        client.get(f"http://pkgs.test:{dropped_port}/simple/", extensions=USERS)
    took = time.monotonic() - started
    assert 1.4 < took < 2.5, took
    assert "within 1.5 s" in caught.value.message and "connecting" in caught.value.message


class _Served(http.server.BaseHTTPRequestHandler):
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.asked.append(self.server.server_address[0])  # type: ignore[index]
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _tls_server(address: str, port: int, certificate: Path, key: Path) -> Iterator[None]:
    server = http.server.HTTPServer((address, port), _Served)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def test_a_certificate_refused_at_the_first_address_is_not_tried_at_the_next(
    tmp_path: Path,
) -> None:
    """127.0.0.1 shows a certificate of a CA not trusted, 127.0.0.2 one that is: the walk is
    for addresses that do not connect, so the refusal surfaces and 127.0.0.2 is never asked."""
    trusted = make_ca(tmp_path / "trusted", dns_names=("pkgs.test",))
    stranger = make_ca(tmp_path / "stranger", name="other CA", dns_names=("pkgs.test",))
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    context = ssl.create_default_context(cafile=str(trusted.ca))
    _Served.asked = []
    with (
        _tls_server("127.0.0.1", port, stranger.certificate, stranger.key),
        _tls_server("127.0.0.2", port, trusted.certificate, trusted.key),
    ):
        good = DeadlineTransport(context, resolve=lambda host, port: ["127.0.0.2"])
        with httpx.Client(transport=good) as client:  # the premise: 127.0.0.2 is trusted
            assert client.get(f"https://pkgs.test:{port}/", extensions=USERS).text == "ok"
        both = DeadlineTransport(context, resolve=lambda host, port: ["127.0.0.1", "127.0.0.2"])
        with httpx.Client(transport=both) as client, pytest.raises(httpx.ConnectError) as caught:
            client.get(f"https://pkgs.test:{port}/", extensions=USERS)
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert _Served.asked == ["127.0.0.2"]  # the premise's request only


def test_a_lookup_given_up_by_one_caller_still_answers_a_later_longer_wait() -> None:
    """The first caller waits 0.2 s and gives up; the second joins the same resolution (one
    resolver call) with 5 s and gets its answer when it comes at 0.5 s."""
    release = threading.Event()
    asked: list[str] = []

    def slow(host: str, port: int) -> list[str]:
        asked.append(host)
        release.wait(10)
        return ["192.0.2.7"]

    host = f"shared-{time.monotonic_ns()}.test"
    assert addresses(slow, host, 443, 0.2) is None
    timer = threading.Timer(0.3, release.set)
    timer.start()
    started = time.monotonic()
    assert addresses(slow, host, 443, 5) == ["192.0.2.7"]
    assert time.monotonic() - started < 3 and asked == [host]
    timer.join()


def test_output_dash_is_standard_output(world: tuple[Path, dict[str, str]]) -> None:
    """Before: ``export -o -`` wrote a file named ``-`` in the working directory (and said
    "wrote -"); '-' is standard output, read from the working directory as without -o."""
    root, env = world
    args = ["-m", f"../{MANIFEST}", "export", "--format", "pylock"]
    plain = run_mlenv(args, root / "elsewhere", env)
    dash = run_mlenv([*args, "-o", "-"], root / "elsewhere", env)
    assert dash.returncode == 0 == plain.returncode, dash.stderr
    assert dash.stdout == plain.stdout and 'path = "../proj/other/shared/w#1 é/' in dash.stdout
    assert not (root / "elsewhere" / "-").exists()
