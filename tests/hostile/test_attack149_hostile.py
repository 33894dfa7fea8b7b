"""Attack 149: outputs that carried the path of a runner's file:// mirror, a Kubernetes
affinity that let an amd64 image onto arm64 nodes, a quiet lock that missed its no-op path,
and conda repodata validators left stale by a 304."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import yaml
import zstandard

from mlenv.conda.install import _normalise
from mlenv.conda.mirror import _fetch
from mlenv.conda.records import CondaRecord
from mlenv.conda.repodata import RepodataCache
from mlenv.index.http import HttpClient
from mlenv.node_affinity import affinity_yaml
from mlenv.sbom import purl
from tests.support.cli import run_mlenv
from tests.support.conda_channel import write_channel
from tests.support.conda_project import channel_packages
from tests.support.golden import build, digests
from tests.support.httpserver import Fault, IndexServer
from tests.support.k8s import admits
from tests.support.locks import locked, make_lock
from tests.support.noop import imported, lock_for, manifest_text
from tests.support.wheels import build_wheel, write_simple_index

WHEELS = [
    build_wheel("app", "1.0", requires_dist=["lib"], files={"app/__init__.py": b"x = 1\n"}),
    build_wheel("lib", "2.0", files={"lib/__init__.py": b"y = 2\n"}),
]


def _streams(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """``data`` and every byte stream inside it: gunzipped, and each member of a tar."""
    yield name, data
    if data[:2] == b"\x1f\x8b":
        yield from _streams(f"{name}|gunzip", gzip.decompress(data))
        return
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for member in archive.getmembers():
                handle = archive.extractfile(member) if member.isfile() else None
                if handle is not None:
                    yield from _streams(f"{name}!{member.name}", handle.read())
                for text in (member.name, member.linkname):
                    yield f"{name}!{member.name} (header)", text.encode()
    except tarfile.TarError:
        pass


def _project(root: Path, mirror: Path) -> tuple[Path, dict[str, str]]:
    """A project locking ``app`` from a file:// mirror at ``mirror``, locked and fetched."""
    url = write_simple_index(mirror, WHEELS)
    root.mkdir(parents=True)
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "mirrored"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["app"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(root.parent / "cache"), "SOURCE_DATE_EPOCH": ""}
    for command in (["lock"], ["fetch"]):
        done = run_mlenv(command, root, env)
        assert done.returncode == 0, done.stderr
    return root, env


def test_outputs_name_no_mirror_path_and_match_across_mirror_paths(tmp_path: Path) -> None:
    """The same wheels from file:// mirrors at two paths: the lock records each index as the
    manifest gives it, but the SBOM named the mirror (purl repository_url, externalReferences),
    so two runners built different bytes and every SBOM told where a runner keeps its mirror.
    Now: the same lock builds byte-identical outputs on both runners, two locks that differ
    only in the mirror path build identical images' layers, archives and SBOM components, and
    no output byte (SBOM, build.json, image.tar and its layers and config, the archive and its
    members) holds the path."""
    a, env_a = _project(tmp_path / "runner-a" / "project", tmp_path / "runner-a" / "srv" / "m")
    b, env_b = _project(tmp_path / "runner-b" / "project", tmp_path / "runner-b" / "mirror")
    assert b"runner-a/srv/m" in (a / "mlenv.lock").read_bytes()  # the lock keeps it, as given
    shared = tmp_path / "runner-b" / "shared"  # runner A's lock built with runner B's cache
    shared.mkdir()
    shutil.copy(a / "mlenv.toml", shared / "mlenv.toml")
    shutil.copy(a / "mlenv.lock", shared / "mlenv.lock")
    for project, env in ((a, env_a), (b, env_b), (shared, env_b)):
        done = build(project, Path(env["MLENV_CACHE_DIR"]))
        assert done.returncode == 0, done.stderr
    assert digests(a / "dist") == digests(shared / "dist")
    sboms = [json.loads((p / "dist" / "sbom.cdx.json").read_bytes()) for p in (a, b)]
    assert sboms[0]["components"] == sboms[1]["components"]
    assert [c["purl"] for c in sboms[0]["components"]] == [
        "pkg:pypi/app@1.0?file_name=app-1.0-py3-none-any.whl",
        "pkg:pypi/lib@2.0?file_name=lib-2.0-py3-none-any.whl",
    ]
    assert (a / "dist" / "mirrored.tar.gz").read_bytes() == (
        b / "dist" / "mirrored.tar.gz"
    ).read_bytes()
    layers = {
        p.name
        for p in (a / "dist" / "oci" / "blobs" / "sha256").iterdir()
        if p.read_bytes()[:2] == b"\x1f\x8b"
    }
    assert layers
    assert layers <= {p.name for p in (b / "dist" / "oci" / "blobs" / "sha256").iterdir()}
    for project in (a, b, shared):
        assert _scan_outputs(project / "dist", str(tmp_path).encode()) > 10


def _scan_outputs(dist: Path, needle: bytes) -> int:
    """How many byte streams in ``dist`` were scanned; fails on any holding ``needle``."""
    scanned = 0
    for path in sorted(dist.rglob("*")):
        if path.is_file():
            for where, data in _streams(str(path), path.read_bytes()):
                assert needle not in data, where
                assert b"file://" not in data, where
                scanned += 1
    return scanned


def test_a_build_from_a_local_conda_channel_names_it_nowhere(tmp_path: Path) -> None:
    """End to end with conda: a channel and an index in this runner's directories; the
    image, its layers and config, the conda-pack archive (conda-meta included), the SBOM and
    build.json hold neither path nor any file:// URL."""
    channel = write_channel(tmp_path / "srv" / "channel", channel_packages())
    index = write_simple_index(tmp_path / "srv" / "pypi", WHEELS)
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "mixed"\npython = "3.11"\nprefix = "/opt/mlenv/mixed"\n'
        f'[conda]\nchannels = ["{channel}"]\ndependencies = ["python 3.11.*", "fastmath"]\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["app"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache"), "SOURCE_DATE_EPOCH": ""}
    for command in (["lock"], ["fetch"], ["build", "--offline"]):
        done = run_mlenv(command, project, env)
        assert done.returncode == 0, (command, done.stderr)
    assert str(tmp_path / "srv").encode() in (project / "mlenv.lock").read_bytes()
    assert _scan_outputs(project / "dist", str(tmp_path).encode()) > 20
    with tarfile.open(project / "dist" / "mixed.tar.gz") as archive:
        meta = archive.extractfile("conda-meta/fastmath-2.1-py311_0.json")
        assert meta is not None
        assert json.loads(meta.read())["channel"] == "<unknown>"


def _local_record(channel: str) -> CondaRecord:
    return CondaRecord(
        name="zlib", version="1.3", build="h0_0", build_number=0, subdir="linux-64",
        channel=channel, url=f"{channel}/linux-64/zlib-1.3-h0_0.conda",
        filename="zlib-1.3-h0_0.conda", sha256="ab" * 32, md5="cd" * 16, size=10,
    )  # fmt: skip


def test_a_local_conda_channel_is_named_nowhere_in_the_outputs(tmp_path: Path) -> None:
    """A conda package from a file:// channel: its purl carried ``channel=file:///…`` and the
    conda-meta record installed into the image and the archive its ``url`` and ``channel``.
    Now the purl has no channel qualifier and conda-meta says ``<unknown>`` as conda does for
    a package of no known channel; an https channel is still named in both."""
    local = _local_record("file:///home/user/mirror/conda")
    assert purl(local) == "pkg:conda/zlib@1.3?build=h0_0&subdir=linux-64&type=conda"
    web = _local_record("https://conda.anaconda.org/conda-forge")
    assert "channel=https%3A%2F%2Fconda.anaconda.org%2Fconda-forge" in purl(web)
    for record in (local, web):
        prefix = tmp_path / record.channel.split(":")[0]
        (prefix / "conda-meta").mkdir(parents=True)
        meta = prefix / "conda-meta" / f"{record.stem}.json"
        written = {"name": "zlib", "url": "file:///c/x.conda", "channel": record.channel}
        meta.write_text(json.dumps({**written, "link": {"source": "/c"}}))
        _normalise(prefix, [record])
        data = json.loads(meta.read_bytes())
        if record is local:
            assert b"/home/user" not in meta.read_bytes()
            assert "url" not in data
            assert data["channel"] == "<unknown>"
        else:
            assert (data["url"], data["channel"]) == (web.url, web.channel)


def _node(goarch: str) -> dict[str, str]:
    """An H100 node on driver 560.35.03 as kubelet and GFD label it."""
    driver = {"major": "560", "minor": "35", "revision": "03"}
    return {
        "kubernetes.io/arch": goarch,
        **{f"nvidia.com/cuda.driver-version.{k}": v for k, v in driver.items()},
        "nvidia.com/gpu.compute.major": "9",
        "nvidia.com/gpu.compute.minor": "0",
    }


def test_the_affinity_keeps_an_amd64_lock_off_arm64_nodes() -> None:
    """``export --format k8s-affinity`` of a linux-64 lock admitted a GH200 (arm64) node whose
    driver and GPU qualify: the image has no arm64 build, so the pod fails to start there. Every
    term now also asks ``kubernetes.io/arch`` for the lock's platforms' GOARCH values."""
    lock = make_lock([locked("torch", "2.6.0+cu124")])
    stanza = yaml.safe_load(affinity_yaml(lock, ("sm_90",)))
    terms = stanza["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"]
    for term in terms["nodeSelectorTerms"]:
        assert {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]} in term[
            "matchExpressions"
        ]
    assert admits(stanza, _node("amd64"))
    assert not admits(stanza, _node("arm64"))
    both = replace(lock, target=replace(lock.target, platforms=("linux-64", "linux-aarch64")))
    stanza = yaml.safe_load(affinity_yaml(both, ("sm_90",)))
    assert admits(stanza, _node("amd64")) and admits(stanza, _node("arm64"))
    assert not admits(stanza, _node("ppc64le"))


HEAVY = {"click", "resolvelib", "mlenv.index", "mlenv.resolver", "mlenv.locking", "rich", "httpx"}


def _importtime(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "MLENV_CACHE_DIR": str(cwd / "cache")}  # fmt: skip
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "mlenv", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, check=False)  # fmt: skip


def test_quiet_or_verbose_after_lock_takes_the_no_op_path(tmp_path: Path) -> None:
    """``mlenv lock -q`` on an unchanged manifest loaded click, the resolver's modules and rich
    (0.78 s against 0.14 s for ``mlenv lock``): the fast path took ``-q``/``-v`` only before
    the command, though the CLI takes them after it too, meaning the same. Now every spelling
    answers without them, says what the same flags before the command say, and a stale lock
    still gets the full CLI's refusal."""
    text = manifest_text({"environment": {"name": "e", "python": "3.11"},
                          "pypi": {"dependencies": ["torch==2.14.1"]}})  # fmt: skip
    (tmp_path / "mlenv.toml").write_text(text)
    (tmp_path / "mlenv.lock").write_text(lock_for(text))
    quiet = (["lock", "-q"], ["lock", "--quiet"], ["lock", "--check", "-q"],
             ["lock", "-q", "--offline"])  # fmt: skip
    for args in (*quiet, ["lock", "-v"], ["lock", "--check", "--verbose"]):
        done = _importtime(args, tmp_path)
        assert done.returncode == 0, done.stderr
        assert not imported(done.stderr) & HEAVY, args
        said = [line for line in done.stderr.splitlines() if "import time:" not in line]
        assert said == ([] if args in quiet else ["mlenv.lock is up to date"]), args
    (tmp_path / "mlenv.toml").write_text(text.replace("2.14.1", "2.14.0"))
    stale = _importtime(["lock", "--check", "-q"], tmp_path)
    assert stale.returncode == 1
    assert "the lock is stale" in stale.stderr
    assert "click" in imported(stale.stderr)


def test_a_304_s_new_validators_replace_the_stored_ones(tmp_path: Path) -> None:
    """A channel's server (a CDN rotating its ETags, a mirror re-synced with the same bytes)
    answers 304 with a new ETag and Last-Modified: the stored copy kept the old ones, so every
    later lock asked with validators the server had replaced (a server that stops matching
    them sends the whole repodata each time). RFC 9111 4.3.4: the stored response takes the
    304's header fields. The next request carries the new validators, the body is the same
    and still read from the cache, and a 304 that carries none leaves them as they are."""
    whole = b'{"info": {"subdir": "linux-64"}, "packages": {}}'
    channel = tmp_path / "channel" / "linux-64"
    channel.mkdir(parents=True)
    (channel / "repodata.json.zst").write_bytes(zstandard.ZstdCompressor().compress(whole))
    cache = RepodataCache(tmp_path / "cache")
    new = {"ETag": '"rotated-2"', "Last-Modified": "Sun, 06 Dec 2026 12:00:00 GMT"}
    with IndexServer(tmp_path / "channel") as server, HttpClient(retries=0) as http:
        url = f"{server.url}/linux-64/repodata.json"

        def fetched(name: str) -> bytes:
            _fetch(http, cache, url, tmp_path / name, server.url)
            return (tmp_path / name / "repodata.json").read_bytes()

        assert fetched("first") == whole
        first_etag = server.requests[-1].headers.get("if-none-match")
        assert first_etag is None
        with cache.open(f"{url}.zst") as found:
            assert found is not None
            old = dict(found[0].headers)
        assert set(old) == {"etag"}
        server.fault("/linux-64/repodata.json.zst", Fault(status=304, headers=new))
        assert fetched("second") == whole
        assert server.requests[-1].headers["if-none-match"] == old["etag"]
        with cache.open(f"{url}.zst") as found:
            assert found is not None
            assert dict(found[0].headers) == {k.lower(): v for k, v in new.items()}
        server.fault("/linux-64/repodata.json.zst", Fault(status=304, headers={}))
        assert fetched("third") == whole
        asked = server.requests[-1]
        assert asked.status == 304
        assert asked.headers["if-none-match"] == new["ETag"]
        assert asked.headers["if-modified-since"] == new["Last-Modified"]
        with cache.open(f"{url}.zst") as found:
            assert found is not None
            assert dict(found[0].headers) == {k.lower(): v for k, v in new.items()}
