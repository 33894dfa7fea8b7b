"""Multi-platform images: a lock for linux-64 and linux-aarch64 builds into one OCI image index
(a manifest per platform, each with that platform's wheels), byte-identical twice, which skopeo
reads and copies whole and `mlenv push` sends to a real registry (Debian's docker-registry).

The local indexes here (/opt/pypi) carry no aarch64 wheel of numpy or of anything else, so the
set is a compiled-looking package with one wheel per architecture (different bytes for each)
plus a pure-Python dependency, served from a file:// index."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_mlenv
from tests.support.daemons import Access, Registry
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.integration

ARCHES = {"linux-64": ("x86_64", "amd64"), "linux-aarch64": ("aarch64", "arm64")}
WHEELS = [
    *(
        build_wheel(
            "fastmath",
            "1.0",
            requires_dist=["helper"],
            tag=f"cp311-cp311-manylinux_2_17_{machine}",
            files={"fastmath/_core.so": f"machine code for {machine}\n".encode() * 5000},
        )
        for machine, _ in ARCHES.values()
    ),
    build_wheel("helper", "2.0", files={"helper/__init__.py": b"HELP = 1\n"}),
]


def skopeo(*args: str) -> str:
    program = shutil.which("skopeo")
    assert program, "skopeo is missing: apt-get install -y skopeo"
    result = subprocess.run(
        [program, *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"skopeo {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A two-platform project, locked, fetched and built with --check."""
    tmp = tmp_path_factory.mktemp("multi")
    url = write_simple_index(tmp / "www", WHEELS)
    root = tmp / "project"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "multi"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        'platforms = ["linux-64", "linux-aarch64"]\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["fastmath"]\n'
        '[build]\noutputs = ["oci", "conda-pack"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp / "cache")}
    for step in (["lock"], ["fetch"], ["build", "--offline", "--check"]):
        done = run_mlenv(step, root, env)
        assert done.returncode == 0, f"{step}: {done.stderr}"
        assert "byte-identical" in done.stderr or step != ["build", "--offline", "--check"]
    yield root, env


def read_index(dist: Path) -> tuple[dict[str, Any], bytes]:
    top = json.loads((dist / "oci" / "index.json").read_bytes())
    (entry,) = top["manifests"]
    data = (dist / "oci" / "blobs" / "sha256" / entry["digest"][7:]).read_bytes()
    return entry, data


def test_one_index_with_a_manifest_per_platform_that_skopeo_reads(
    built: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Guards the multi-platform layout: index.json names one image index under the tag, the
    index lists each platform's manifest with its platform, each manifest carries that
    platform's own wheel layer, and skopeo resolves each architecture and copies all."""
    root, _ = built
    dist = root / "dist"
    entry, data = read_index(dist)
    assert entry["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    index = json.loads(data)
    record = json.loads((dist / "build.json").read_bytes())
    assert record["outputs"]["oci"]["index-digest"] == entry["digest"] == sha256(data)
    assert [m["platform"] for m in index["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux"},
    ]
    raw = skopeo("inspect", "--raw", f"oci:{dist / 'oci'}:latest")
    assert sha256(raw.encode()) == entry["digest"]  # skopeo serves the index itself
    layers = {}
    for platform, (machine, arch) in ARCHES.items():
        one = json.loads((dist / platform / "build.json").read_bytes())
        digest = one["outputs"]["oci"]["manifest-digest"]
        assert record["outputs"]["oci"]["manifests"][platform] == digest
        seen = json.loads(skopeo("inspect", "--override-arch", arch, f"oci:{dist / 'oci'}:latest"))
        assert seen["Architecture"] == arch
        assert seen["Layers"] == [layer["digest"] for layer in one["outputs"]["oci"]["layers"]]
        layers[platform] = set(seen["Layers"])
        # The platform's own build is complete: its image.tar is one docker-loadable image.
        tar = json.loads(skopeo("inspect", f"docker-archive:{dist / platform / 'image.tar'}"))
        assert tar["Architecture"] == arch
        assert (dist / platform / "multi.tar.gz").is_file(), machine
    assert not layers["linux-64"] & layers["linux-aarch64"]  # each has its own wheel bytes
    assert not (dist / "image.tar").exists()  # one docker-archive per platform, documented
    copy = tmp_path / "copy"
    skopeo("copy", "--all", f"oci:{dist / 'oci'}:latest", f"oci:{copy}:latest")
    copied = json.loads((copy / "index.json").read_bytes())["manifests"][0]
    assert copied["digest"] == entry["digest"]


def test_build_platform_still_builds_one_and_matches_the_multi_build(
    built: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Guards `build --platform P`: one image as before, the same bytes as P's part of the
    multi-platform build (so either can be pushed or verified)."""
    root, env = built
    single = tmp_path / "single"
    done = run_mlenv(
        ["build", "--offline", "--platform", "linux-aarch64", "-o", str(single)], root, env
    )
    assert done.returncode == 0, done.stderr
    part = root / "dist" / "linux-aarch64"
    for name in ("image.tar", "build.json", "multi.tar.gz"):
        assert (single / name).read_bytes() == (part / name).read_bytes(), name
    assert json.loads((single / "build.json").read_bytes())["platform"] == "linux-aarch64"
    # --load takes one image: refused up front, before anything is built
    loaded = run_mlenv(["build", "--offline", "--load", "-o", str(tmp_path / "x")], root, env)
    assert loaded.returncode == 1 and "--load takes one platform's image" in loaded.stderr
    assert not (tmp_path / "x").exists()


def test_verify_checks_a_platform_build_against_the_multi_platform_record(
    built: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Guards `verify dist/<platform>/image.tar` in a multi-platform dist/: it passes as
    built, and fails when the platform's build.json is not the one the top record names."""
    root, env = built
    dist = tmp_path / "dist"
    shutil.copytree(root / "dist", dist)
    image = dist / "linux-aarch64" / "image.tar"
    ok = run_mlenv(["verify", str(image)], root, env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    record = json.loads((dist / "build.json").read_bytes())
    record["platforms"]["linux-aarch64"]["sha256"] = "0" * 64
    (dist / "build.json").write_text(json.dumps(record))
    bad = run_mlenv(["verify", str(image)], root, env)
    assert bad.returncode == 1
    assert "output-platform-mismatch" in bad.stdout + bad.stderr


def blob_puts(accesses: list[Access]) -> list[Access]:
    return [a for a in accesses if a.method == "PUT" and "/blobs/uploads/" in a.path]


def test_push_sends_the_index_and_every_manifest(
    built: tuple[Path, dict[str, str]], reg: Registry
) -> None:
    """Guards `mlenv push` of a multi-platform image: the registry serves the same index
    (skopeo --raw, by tag), each platform's manifest by architecture, and a second push
    uploads no blob."""
    root, env = built
    entry, data = read_index(root / "dist")
    ref = f"{reg.host}/team/multi:1"
    pushed = run_mlenv(["push", ref, "--insecure"], root, env)
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.strip() == f"{ref}@{entry['digest']}"
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}")
    assert raw.encode() == data
    record = json.loads((root / "dist" / "build.json").read_bytes())
    for platform, (_, arch) in ARCHES.items():
        digest = record["outputs"]["oci"]["manifests"][platform]
        served = skopeo(
            "inspect", "--raw", "--tls-verify=false", f"docker://{reg.host}/team/multi@{digest}"
        )
        assert sha256(served.encode()) == digest
        seen = json.loads(
            skopeo("inspect", "--tls-verify=false", "--override-arch", arch, f"docker://{ref}")
        )
        assert seen["Architecture"] == arch
        assert seen["Layers"] == [layer["digest"] for layer in json.loads(served)["layers"]]
    before = len(blob_puts(reg.accesses()))
    assert before > 0
    again = run_mlenv(["push", ref, "--insecure"], root, env)
    assert again.returncode == 0, again.stderr
    assert len(blob_puts(reg.accesses())) == before
    assert "pushed 0 blob(s)" in again.stderr
