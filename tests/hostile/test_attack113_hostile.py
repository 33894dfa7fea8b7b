"""Hundred-and-thirteenth adversary pass: the package-index client against the shapes real
index servers serve, which nobody on this team wrote.

PyTorch's index (download.pytorch.org, S3 behind CloudFront) answers 403, not 404, for a
project it does not have and for a file it does not hold; its pages link files with ``../``
and spell ``+`` as ``%2B``. uv knows the 403 (it ignores that status on pytorch.org hosts and
only there: elsewhere a 403 is an authorization failure, which must stop a first-index lock
before a public index can answer for a private project).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.forward_proxy import ForwardProxy
from tests.support.httpserver import Fault, IndexServer
from tests.support.wheels import build_wheel, write_simple_index

_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
BLANK = dict.fromkeys((*_VARIABLES, *(v.upper() for v in _VARIABLES)), "")


def _project(root: Path, index_url: str, extra: Sequence[str], dependencies: Sequence[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    extras = ", ".join(json.dumps(url) for url in extra)
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "p"\npython = "3.12"\n[pypi]\n'
        f'index-url = "{index_url}"\nextra-index-urls = [{extras}]\n'
        f"dependencies = {json.dumps(list(dependencies))}\n"
    )
    return root


def _env(tmp_path: Path, **more: str) -> dict[str, str]:
    return {
        **BLANK,
        "MLENV_CACHE_DIR": str(tmp_path / "cache"),
        "NETRC": str(tmp_path / "no-netrc"),
        **more,
    }


def _pins(project: Path) -> dict[str, tuple[str, str]]:
    lock = load_lock((project / "mlenv.lock").read_text())
    return {package.name: (package.version, package.url) for _, package in lock.packages()}


def _torch_index(root: Path) -> tuple[str, bytes]:
    """download.pytorch.org's shape: ``/whl/cu130/torch/`` links ``../../<file>`` with ``+`` as
    ``%2B``, a sha256 fragment, ``&gt;=`` in data-requires-python, and a ``.metadata`` it
    advertises (data-dist-info-metadata, the pre-PEP 714 name) but does not hold."""
    name, data = build_wheel("torch", "2.9.0+cu130", requires_python=">=3.10")
    (root / "whl" / "cu130" / "torch").mkdir(parents=True)
    (root / "whl" / name).write_bytes(data)
    href = f"../../{name.replace('+', '%2B')}#sha256={hashlib.sha256(data).hexdigest()}"
    metadata = "sha256=" + "0" * 64
    (root / "whl" / "cu130" / "torch" / "index.html").write_text(
        "<!DOCTYPE html>\n<html>\n  <body>\n    <h1>Links for torch</h1>\n"
        f'    <a href="{href}" data-requires-python="&gt;=3.10" '
        f'data-dist-info-metadata="{metadata}">{name}</a><br/>\n  </body>\n</html>\n'
    )
    return name, data


def test_pytorch_index_answering_403_for_what_it_lacks_is_no_error(tmp_path: Path) -> None:
    """Before: ``extra-index-urls = ["https://download.pytorch.org/whl/cu130"]`` with any project
    PyTorch does not mirror failed the lock ("HTTP 403 Forbidden ... check that the credentials
    for download.pytorch.org are valid"), and so did its advertised, absent ``.metadata``."""
    torch_root = tmp_path / "torch-index"
    _torch_index(torch_root)
    pypi = tmp_path / "pypi"
    write_simple_index(pypi, [build_wheel("numpy", "2.0"), build_wheel("torch", "2.9.0")])
    with (
        IndexServer(torch_root, json_api=False, missing_status=403) as torch_server,
        IndexServer(pypi) as pypi_server,
        ForwardProxy() as proxy,
    ):
        port = torch_server.url.rsplit(":", 1)[1]
        torch_url = f"http://download.pytorch.org:{port}/whl/cu130"
        project = _project(
            tmp_path / "p", f"{pypi_server.url}/simple", [torch_url], ["torch", "numpy"]
        )
        env = _env(tmp_path, HTTP_PROXY=proxy.url, NO_PROXY="127.0.0.1")
        result = run_mlenv(["lock"], project, env)
        assert result.returncode == 0, result.stderr
        pins = _pins(project)
        assert pins["torch"] == (
            "2.9.0+cu130",
            f"http://download.pytorch.org:{port}/whl/torch-2.9.0%2Bcu130-py3-none-any.whl",
        )
        assert pins["numpy"][0] == "2.0" and pins["numpy"][1].startswith(pypi_server.url)
        asked = [r.path for r in torch_server.requests if r.status == 403]
        assert "/whl/cu130/numpy/" in asked, asked  # PyTorch's index was asked first
        assert any(p.endswith(".whl.metadata") for p in asked), asked
        fetched = run_mlenv(["fetch"], project, env)
        assert fetched.returncode == 0, fetched.stderr


def test_a_403_elsewhere_still_stops_the_lock(tmp_path: Path) -> None:
    """The rule is PyTorch's hosts' only: a 403 from another extra index (a private one whose
    credentials lapsed), a look-alike host included, must not let the next index answer."""
    pypi = tmp_path / "pypi"
    write_simple_index(pypi, [build_wheel("numpy", "2.0")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with (
        IndexServer(empty, missing_status=403) as private,
        IndexServer(pypi) as pypi_server,
        ForwardProxy() as proxy,
    ):
        port = private.url.rsplit(":", 1)[1]
        for host in ("pkgs.corp.example", "notpytorch.org", "download.pytorch.org.example"):
            project = _project(
                tmp_path / host, f"{pypi_server.url}/simple", [f"http://{host}:{port}/simple"],
                ["numpy"],
            )  # fmt: skip
            env = _env(tmp_path, HTTP_PROXY=proxy.url, NO_PROXY="127.0.0.1")
            result = run_mlenv(["lock"], project, env)
            assert result.returncode == 1, (host, result.stderr)
            assert "HTTP 403" in result.stderr and host in result.stderr, result.stderr
            assert not (project / "mlenv.lock").exists()


def test_a_page_or_metadata_cut_off_mid_body_is_asked_again(tmp_path: Path) -> None:
    """A server (or a proxy) that sends a Content-Length and hangs up before the last byte: the
    answer is transient, as uv's client reads a broken body. Before, the lock failed at once on
    the first cut ("broke off ... hint: retry"), a retry nobody made."""
    index = tmp_path / "index"
    write_simple_index(index, [build_wheel("numpy", "2.0")], json=True)
    with IndexServer(index) as server:
        server.fault("/simple/numpy/", Fault(serve_after_delay=True, truncate=40))
        metadata = "/files/numpy-2.0-py3-none-any.whl.metadata"
        server.fault(metadata, Fault(serve_after_delay=True, truncate=10))
        project = _project(tmp_path / "p", f"{server.url}/simple", [], ["numpy"])
        result = run_mlenv(["lock"], project, _env(tmp_path))
        assert result.returncode == 0, result.stderr
        assert _pins(project)["numpy"][0] == "2.0"
        assert [r.body_bytes for r in server.requests_for("/simple/numpy/")][:1] == [40]
        assert len(server.requests_for("/simple/numpy/")) == 2
        assert len(server.requests_for(metadata)) == 2


def test_a_page_cut_off_every_time_fails_after_bounded_tries(tmp_path: Path) -> None:
    index = tmp_path / "index"
    write_simple_index(index, [build_wheel("numpy", "2.0")], json=True)
    with IndexServer(index) as server:
        server.fault("/simple/numpy/", Fault(serve_after_delay=True, truncate=40, times=None))
        project = _project(tmp_path / "p", f"{server.url}/simple", [], ["numpy"])
        result = run_mlenv(["lock"], project, _env(tmp_path))
        assert result.returncode == 1, result.stderr
        assert "broke off" in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert 2 <= len(server.requests_for("/simple/numpy/")) <= 4


def _wheel_requests(server: IndexServer, name: str) -> list[tuple[str, int]]:
    return [(r.method, r.status) for r in server.requests_for(f"/files/{name}")]


def test_lock_learns_a_hashed_files_size_without_downloading_it(tmp_path: Path) -> None:
    """An HTML index (PyTorch's, devpi, Nexus, Artifactory, GitLab, pypiserver: every one but
    Warehouse's JSON) lists a sha256 and no size. Before, `mlenv lock` downloaded every locked
    file whole to learn its size (a CUDA torch stack: gigabytes), and `fetch` downloaded it all
    again. The server states the size in a HEAD answer; `fetch` still holds the bytes to the
    lock's sha256 and size."""
    name, data = build_wheel("demo", "1.0", files={"demo/blob.bin": bytes(range(256)) * 64})
    index = tmp_path / "index"
    write_simple_index(index, [(name, data)])
    with IndexServer(index, json_api=False) as server:
        project = _project(tmp_path / "p", f"{server.url}/simple", [], ["demo"])
        result = run_mlenv(["lock"], project, _env(tmp_path))
        assert result.returncode == 0, result.stderr
        lock = load_lock((project / "mlenv.lock").read_text())
        ((_, locked),) = lock.packages()
        assert (locked.sha256, locked.size) == (hashlib.sha256(data).hexdigest(), len(data))
        assert _wheel_requests(server, name) == [("HEAD", 200)]
        fetched = run_mlenv(["fetch"], project, _env(tmp_path))
        assert fetched.returncode == 0, fetched.stderr
        assert _wheel_requests(server, name) == [("HEAD", 200), ("GET", 200)]


def test_a_stated_size_that_lies_is_caught_by_fetch(tmp_path: Path) -> None:
    """The stated size is a claim like PEP 700's: a server whose HEAD answer states another
    length gets a lock whose fetch refuses the file, naming it; nothing is stored."""
    name, data = build_wheel("demo", "1.0")
    index = tmp_path / "index"
    write_simple_index(index, [(name, data)])
    with IndexServer(index, json_api=False) as server:
        server.fault(f"/files/{name}", Fault(status=200, body=data + b"\0" * 100))
        project = _project(tmp_path / "p", f"{server.url}/simple", [], ["demo"])
        assert run_mlenv(["lock"], project, _env(tmp_path)).returncode == 0
        fetched = run_mlenv(["fetch"], project, _env(tmp_path))
        assert fetched.returncode == 1 and name in fetched.stderr, fetched.stderr
        assert f"has {len(data)} bytes, the lock says {len(data) + 100}" in fetched.stderr
        assert "Traceback" not in fetched.stderr
        assert not list((tmp_path / "cache").rglob(name))


def test_a_server_refusing_head_gets_its_file_measured(tmp_path: Path) -> None:
    """A server that answers HEAD with 405 (some registry front ends do) states nothing: the
    file is measured as before, and the lock holds its true size."""
    name, data = build_wheel("demo", "1.0")
    index = tmp_path / "index"
    write_simple_index(index, [(name, data)])
    with IndexServer(index, json_api=False, ranges=False) as server:
        server.fault(f"/files/{name}", Fault(status=405))
        project = _project(tmp_path / "p", f"{server.url}/simple", [], ["demo"])
        result = run_mlenv(["lock"], project, _env(tmp_path))
        assert result.returncode == 0, result.stderr
        ((_, locked),) = load_lock((project / "mlenv.lock").read_text()).packages()
        assert locked.size == len(data)
        assert _wheel_requests(server, name)[-2:] == [("HEAD", 405), ("GET", 200)]


def test_a_metadata_file_beside_a_link_with_a_query_keeps_the_query(tmp_path: Path) -> None:
    """A private index whose links carry its token as a query (``...whl?key=K``) and offer a
    PEP 658 ``.metadata``: its URL is the file's path plus ``.metadata``, the query kept (uv
    sets the path so). Before, mlenv asked for ``...whl?key=K.metadata``: the wheel itself
    came back (here: a hash mismatch that stopped the lock; a token-checking index answers
    401 or 403)."""
    name, data = build_wheel("demo", "1.0")
    index = tmp_path / "index"
    write_simple_index(index, [(name, data)], json=True)
    page = index / "simple" / "demo" / "index.json"
    document = json.loads(page.read_text())
    document["files"][0]["url"] += "?key=K"
    page.write_text(json.dumps(document))
    with IndexServer(index) as server:
        project = _project(tmp_path / "p", f"{server.url}/simple", [], ["demo"])
        result = run_mlenv(["lock"], project, _env(tmp_path))
        assert result.returncode == 0, result.stderr
        assert len(server.requests_for(f"/files/{name}.metadata")) == 1
        assert ("GET", 200) not in _wheel_requests(server, name)


def test_a_text_answer_to_head_states_no_size(tmp_path: Path) -> None:
    """A proxy that answers a HEAD with its sign-in page (200, text/html) states the page's
    length, not the file's: the file is measured, and the lock holds its true size."""
    name, data = build_wheel("demo", "1.0")
    index = tmp_path / "index"
    write_simple_index(index, [(name, data)])
    with IndexServer(index, json_api=False) as server:
        sign_in = Fault(
            status=200, body=b"<html>sign in</html>", headers={"Content-Type": "text/html"}
        )
        server.fault(f"/files/{name}", sign_in)
        project = _project(tmp_path / "p", f"{server.url}/simple", [], ["demo"])
        result = run_mlenv(["lock"], project, _env(tmp_path))
        assert result.returncode == 0, result.stderr
        ((_, locked),) = load_lock((project / "mlenv.lock").read_text()).packages()
        assert locked.size == len(data)
        assert _wheel_requests(server, name) == [("HEAD", 200), ("GET", 200)]
