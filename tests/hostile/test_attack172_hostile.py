"""Attack 172: index pages nobody here wrote. Each page below is the shape a real server
writes (named at its builder), served from a loopback server and locked with ``mlenv lock``:
the right files with the right hashes, yanked and Requires-Python honoured as uv honours them,
and a page whose stated hash the bytes contradict refused, naming the file's URL.

Before: a page stating only ``#md5=``/``#sha512=`` (pypiserver, devpi, Nexus, Artifactory's
older pages) or a JSON ``hashes`` with no sha256 was locked from whatever bytes came, the
stated digest never compared, so a page and its file that disagreed gave a lock pinning the
file; uv refuses such a file (its hash policy checks every digest the index states)."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from mlenv.lockfile_read import loads
from tests.support.cli import run_mlenv
from tests.support.httpserver import Fault, IndexServer
from tests.support.wheels import build_wheel

TORCH = build_wheel("torch", "2.7.0+cu128", tag="cp311-cp311-manylinux_2_28_x86_64")
FOO = {v: build_wheel("foo", v) for v in ("1.7", "1.8", "1.9", "2.0")}


def _sha(data: bytes, algorithm: str = "sha256") -> str:
    return hashlib.new(algorithm, data).hexdigest()


def _lock(root: Path, server_url: str, pypi: str, dependencies: str) -> tuple[int, str, Path]:
    project = root / "project"
    project.mkdir(exist_ok=True)
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "vendors"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        f"[pypi]\n{pypi.format(url=server_url)}\ndependencies = {dependencies}\n"
    )
    done = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(root / "cache")})
    return done.returncode, done.stderr, project / "mlenv.lock"


def _locked(lock: Path) -> dict[str, tuple[str, str, str]]:
    packages = loads(lock.read_text()).platforms[0].packages
    return {p.name: (p.version, p.url, p.sha256) for p in packages}


def test_pytorch_s3_page(tmp_path: Path) -> None:
    """download.pytorch.org/whl/cu128/torch/ as pytorch/test-infra's
    ``s3_management/manage.py`` (``to_simple_package_html``) writes it: a root-relative href
    with ``+`` as ``%2B``, ``#sha256=``, and the PEP 658 hash under both attribute names."""
    name, data = TORCH
    root = tmp_path / "srv" / "whl" / "cu128"
    (root / "torch").mkdir(parents=True)
    (root / name).write_bytes(data)
    metadata = b"Metadata-Version: 2.1\nName: torch\nVersion: 2.7.0+cu128\n\n"
    (root / f"{name}.metadata").write_bytes(metadata)
    meta = f"sha256={_sha(metadata)}"
    href = f"/whl/cu128/{name.replace('+', '%2B')}#sha256={_sha(data)}"
    (root / "torch" / "index.html").write_text(
        "<!DOCTYPE html>\n<html>\n  <body>\n    <h1>Links for torch</h1>\n"
        f'    <a href="{href}" data-dist-info-metadata="{meta}" data-core-metadata="{meta}">'
        f"{name}</a><br/>\n  </body>\n</html>\n"
    )
    with IndexServer(tmp_path / "srv", json_api=False) as server:
        code, err, lock = _lock(tmp_path, server.url, 'index-url = "{url}/whl/cu128"', '["torch"]')
        assert code == 0, err
        path = f"/whl/cu128/{name.replace('+', '%2B')}"
        # hashed and sized by a HEAD, its METADATA from the .metadata file: never downloaded
        assert {r.method for r in server.requests_for(path)} == {"HEAD"}
        assert server.requests_for(f"{path}.metadata")
        url = f"{server.url}{path}"
    assert _locked(lock) == {"torch": ("2.7.0+cu128", url, _sha(data))}


def _artifactory_page(md5_of_18: str) -> bytes:
    """The HTML shapes of Artifactory, Nexus, devpi and pypiserver pages in one: a BOM, upper
    case tags, single-quoted and unquoted attributes, an anchor across lines and one never
    closed, ``&gt;`` in ``data-requires-python``, a bare ``data-yanked``, an ``#md5=``
    fragment (pypiserver's ``--hash-algo md5``, devpi's older pages), a query and ``#egg=``,
    and a decoy link inside a comment."""
    f = {v: n for v, (n, _d) in FOO.items()}
    return "\ufeff".encode() + (
        "<!DOCTYPE HTML PUBLIC '-//W3C//DTD HTML 4.01//EN'>\n<HTML><HEAD><TITLE>Links for foo"
        "</TITLE></HEAD><BODY>\n<!-- <a href='../../x/foo-9.0-py3-none-any.whl'>x</a> -->\n"
        f"<A HREF='../../files/{f['2.0']}' DATA-REQUIRES-PYTHON='&gt;=3.12'>{f['2.0']}</A><BR>\n"
        f"<a href=../../files/{f['1.9']}?t=1#egg=foo DATA-YANKED>{f['1.9']}</a><br>\n"
        f'<a\n  href="../../files/{f["1.8"]}#md5={md5_of_18}"\n  data-requires-python="&gt;=3.8,'
        f'&lt;4"\n>{f["1.8"]}\n</a><br>\n<a href="../../files/{f["1.7"]}">{f["1.7"]}<br>\n'
        "</BODY></HTML>\n"
    ).encode("latin-1")


def _serve_page(server: IndexServer, path: str, body: bytes, content_type: str) -> None:
    headers = {"Content-Type": content_type, "Content-Encoding": "gzip"}
    server.fault(path, Fault(status=200, body=gzip.compress(body), headers=headers, times=None))


def _lock_foo(tmp_path: Path, page: bytes, mime: str) -> tuple[int, str, Path, str]:
    """``page`` served as foo's project page (gzip), locked: exit code, stderr, lock, the
    server's URL."""
    with IndexServer(tmp_path / "srv") as server:
        _serve_page(server, "/simple/foo/", page, mime)
        code, err, lock = _lock(tmp_path, server.url, 'index-url = "{url}/simple"', '["foo"]')
    return code, err, lock, server.url


def _files(tmp_path: Path) -> Path:
    files = tmp_path / "srv" / "files"
    files.mkdir(parents=True)
    for name, data in FOO.values():
        (files / name).write_bytes(data)
    return files


def test_artifactory_shaped_page_picks_the_newest_allowed_file(tmp_path: Path) -> None:
    """2.0 needs Python 3.12, 1.9 is yanked: 1.8, its md5 checked and its sha256 measured."""
    _files(tmp_path)
    page = _artifactory_page(_sha(FOO["1.8"][1], "md5"))
    code, err, lock, server = _lock_foo(tmp_path, page, "text/html; charset=ISO-8859-1")
    assert code == 0, err
    url = f"{server}/files/{FOO['1.8'][0]}"
    assert _locked(lock) == {"foo": ("1.8", url, _sha(FOO["1.8"][1]))}


def _pypiserver_page(algorithm: str, digest: str) -> bytes:
    """pypiserver's ``simple()`` route (``_app.py``): ``../../packages/<relfn>#<algo>=<hex>``
    from ``PkgFile.fname_and_hash``, ``<algo>`` its ``--hash-algo`` (md5 by default before
    2.0), files in a subdirectory of the package root; no requires-python, no yanking."""
    name = FOO["1.8"][0]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n    <head>\n        <meta charset="utf-8">\n'
        "        <title>Links for foo</title>\n    </head>\n    <body>\n"
        "        <h1>Links for foo</h1>\n"
        f'            <a href="../../packages/sub/{name}#{algorithm}={digest}">{name}</a><br>\n'
        "    </body>\n</html>\n"
    ).encode()


def _pypiserver_root(tmp_path: Path) -> str:
    """The package root beside ``files/``; the URL path pypiserver's page links 1.8 at."""
    packages = tmp_path / "srv" / "packages" / "sub"
    packages.mkdir(parents=True)
    (packages / FOO["1.8"][0]).write_bytes(FOO["1.8"][1])
    return f"/packages/sub/{FOO['1.8'][0]}"


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha384", "sha512"])
def test_pypiserver_page_locks_the_file_its_digest_names(tmp_path: Path, algorithm: str) -> None:
    _files(tmp_path)
    path = _pypiserver_root(tmp_path)
    page = _pypiserver_page(algorithm, _sha(FOO["1.8"][1], algorithm))
    code, err, lock, server = _lock_foo(tmp_path, page, "text/html; charset=UTF-8")
    assert code == 0, err
    url = f"{server}{path}"
    assert _locked(lock) == {"foo": ("1.8", url, _sha(FOO["1.8"][1]))}


@pytest.mark.parametrize("vendor", ["artifactory", "pypiserver"])
@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha384", "sha512"])
def test_a_stated_digest_the_bytes_contradict_is_refused_naming_the_url(
    tmp_path: Path, algorithm: str, vendor: str
) -> None:
    """Before: locked, exit 0, the page's digest never compared with the bytes."""
    _files(tmp_path)
    path = _pypiserver_root(tmp_path)
    wrong = _sha(b"other bytes", algorithm)
    if vendor == "pypiserver":
        page = _pypiserver_page(algorithm, wrong)
    else:
        path = f"/files/{FOO['1.8'][0]}"
        page = _artifactory_page("0" * 32).replace(
            b"#md5=" + b"0" * 32, f"#{algorithm}={wrong}".encode()
        )
    code, err, lock, server = _lock_foo(tmp_path, page, "text/html")
    assert code != 0 and not lock.exists()
    assert f"{server}{path}" in err and wrong in err, err


def _json_page(files: dict[str, dict[str, object]], *, api: str = "1.4") -> bytes:
    """PEP 691 JSON as Warehouse writes it at ``meta.api-version`` 1.4: PEP 700's versions,
    size and upload-time, PEP 714's ``core-metadata``, PEP 740's ``provenance``, PEP 792's
    ``project-status``, an ``alternate-locations`` list and a key no PEP names."""
    entries = [
        {"filename": n, "url": f"../../files/{n}", "size": 1, "upload-time": "2025-01-01T00:00:00Z",
         "core-metadata": False, "provenance": None, "x-vendor": {"a": 1}, **extra}
        for n, extra in files.items()
    ]  # fmt: skip
    document = {
        "meta": {"api-version": api, "_last-serial": 7, "project-status": {"status": "active"}},
        "name": "foo",
        "versions": ["1.7", "1.8", "1.9", "2.0"],
        "files": entries,
        "alternate-locations": [],
        "project-status": {"status": "archived", "reason": "done"},
    }
    return json.dumps(document).encode()


@pytest.mark.parametrize("api", ["1.0", "1.1", "1.4"])
@pytest.mark.parametrize(
    "mime", ["application/vnd.pypi.simple.v1+json", "application/vnd.pypi.simple.latest+json"]
)
def test_json_page_of_any_v1_minor(tmp_path: Path, api: str, mime: str) -> None:
    """``yanked`` as a reason, ``requires-python``, a sha512-only entry (checked, then
    measured) and a ``size`` that is wrong (1): the lock holds the measured facts."""
    _files(tmp_path)
    f = {v: n for v, (n, _d) in FOO.items()}
    page = _json_page(
        {
            f["2.0"]: {"hashes": {"sha256": _sha(FOO["2.0"][1])}, "requires-python": ">=3.12"},
            f["1.9"]: {"hashes": {"sha256": _sha(FOO["1.9"][1])}, "yanked": "broken"},
            f["1.8"]: {"hashes": {"sha512": _sha(FOO["1.8"][1], "sha512")}, "yanked": False},
        },
        api=api,
    )
    code, err, lock, server = _lock_foo(tmp_path, page, mime)
    assert code == 0, err
    url = f"{server}/files/{f['1.8']}"
    assert _locked(lock) == {"foo": ("1.8", url, _sha(FOO["1.8"][1]))}
    assert loads(lock.read_text()).platforms[0].packages[0].size == len(FOO["1.8"][1])


def test_find_links_pages_of_jax_and_pyg(tmp_path: Path) -> None:
    """storage.googleapis.com/jax-releases/jax_cuda_releases.html: absolute URLs, no hashes;
    data.pyg.org/whl/torch-2.5.0+cu124.html: ``+`` in the page's own name and relative hrefs
    into a ``%2B`` directory. Both measured; the page name's ``+`` is a path, not a space."""
    jax_name, jax = build_wheel(
        "jaxlib", "0.4.30+cuda12.cudnn91", tag="cp311-cp311-manylinux2014_x86_64"
    )
    pyg_name, pyg = build_wheel("torch-scatter", "2.1.2+pt25cu124", tag="cp311-cp311-linux_x86_64")
    srv = tmp_path / "srv"
    (srv / "jax-releases" / "cuda12").mkdir(parents=True)
    (srv / "jax-releases" / "cuda12" / jax_name).write_bytes(jax)
    (srv / "whl" / "torch-2.5.0+cu124").mkdir(parents=True)
    (srv / "whl" / "torch-2.5.0+cu124" / pyg_name).write_bytes(pyg)
    with IndexServer(srv) as server:
        jax_url = f"{server.url}/jax-releases/cuda12/{jax_name.replace('+', '%2B')}"
        (srv / "jax-releases" / "jax_cuda_releases.html").write_text(
            f"<html>\n<head></head>\n<body>\n<a href='{jax_url}'>cuda12/{jax_name}</a><br>\n"
        )
        pyg_href = f"torch-2.5.0%2Bcu124/{pyg_name.replace('+', '%2B')}"
        (srv / "whl" / "torch-2.5.0+cu124.html").write_text(
            f'<html>\n<body>\n<a href="{pyg_href}">torch-2.5.0+cu124/{pyg_name}</a><br>\n'
        )
        code, err, lock = _lock(
            tmp_path,
            server.url,
            'index-url = "{url}/empty/simple"\nfind-links = ["{url}/jax-releases/jax_cuda_'
            'releases.html", "{url}/whl/torch-2.5.0%2Bcu124.html"]',
            '["jaxlib", "torch-scatter"]',
        )
        assert code == 0, err
        pyg_url = f"{server.url}/whl/{pyg_href}"
    assert _locked(lock) == {
        "jaxlib": ("0.4.30+cuda12.cudnn91", jax_url, _sha(jax)),
        "torch-scatter": ("2.1.2+pt25cu124", pyg_url, _sha(pyg)),
    }


@pytest.mark.parametrize("mime", ["text/html", "application/vnd.pypi.simple.v1+json"])
def test_a_quarantined_project_is_said_to_be_quarantined(tmp_path: Path, mime: str) -> None:
    """PyPI's page of a quarantined project (PEP 792): no files, the status in a ``<meta>`` or
    ``project-status``. Before: "listed on ..., but with no wheel or sdist mlenv can read"
    and a hint to add an index that has it; archived and deprecated lock as uv locks them."""
    if mime == "text/html":
        page = (
            b'<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" '
            b'content="1.4">\n    <meta name="pypi:project-status" content="quarantined">\n'
            b"  </head>\n  <body>\n    <h1>Links for foo</h1>\n  </body>\n</html>\n"
        )
    else:
        status = {"status": "quarantined", "reason": "malware"}
        document = {"meta": {"api-version": "1.4"}, "name": "foo", "files": [], "versions": []}
        page = json.dumps({**document, "project-status": status}).encode()
    _files(tmp_path)
    code, err, lock, _server = _lock_foo(tmp_path, page, mime)
    assert code == 1 and not lock.exists()
    assert "foo: quarantined on" in err and "PEP 792" in err, err
