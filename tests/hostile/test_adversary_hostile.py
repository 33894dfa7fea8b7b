"""Attacks on the invariants of docs/security.md through surfaces added after the invariants
were built (registry and layout base images, `init --from`, exports of the lock): each test
names the invariant it attacks, and fails if the enforcing function stops holding it."""

from __future__ import annotations

import bz2
import hashlib
import io
import os
import platform
import tarfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlenv.cache.artifacts import ArtifactCache
from mlenv.cache.download import UrlOpener
from mlenv.index.urls import recordable
from mlenv.install.conda_packages import check_conda_packages
from mlenv.install.safety import InstallError
from mlenv.lockfile_read import loads as load_lock
from mlenv.net.origins import LocalRoots, UnsafeUrlError
from mlenv.oci.model import OciError
from mlenv.oci.read import read_base
from mlenv.oci.write import write_layout
from mlenv.redaction import redact
from mlenv.tarball import Entry
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package
from tests.support.fetch_project import WHEELS
from tests.support.golden import golden_project
from tests.support.httpserver import IndexServer
from tests.support.images import write_image
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.hostile

PLATFORM = {"x86_64": "linux-64", "aarch64": "linux-aarch64"}[platform.machine()]
SECRET = "TOPSECRET-7f3a"


# ---------------------------------------------------------------------------------------------
# Invariant 1: a base image's layers ship as the bytes that were hashed


def base_layout(tmp_path: Path) -> Path:
    (tmp_path / "hello").write_bytes(b"hello from the base\n" * 100)
    entries = [
        Entry("etc", "dir", 0o755),
        Entry("etc/hello", "file", 0o644, source=tmp_path / "hello", size=2000),
    ]
    write_image(tmp_path / "base", [("base", entries)], ref="latest", cmd=["/bin/sh"])
    return tmp_path / "base"


@pytest.mark.parametrize("how", ["rewritten in place", "replaced by rename"])
def test_a_base_layer_changed_after_its_check_never_ships(tmp_path: Path, how: str) -> None:
    """Invariant 1 (`oci._export`): a base layout in the shared cache (a registry base image
    is laid out there) is swapped or rewritten between `read_base`'s check and the image
    write. Before: the layer was hard-linked unchecked, so foreign bytes shipped. Now the copy
    is made by the read that hashes it and the write fails, leaving nothing."""
    layout = base_layout(tmp_path)
    base = read_base(layout, platform=PLATFORM)
    blob = layout / "blobs" / "sha256" / base.layers[0].digest.removeprefix("sha256:")
    forged = bytes(blob.stat().st_size)  # same size: only the hash can tell
    if how == "rewritten in place":
        with open(blob, "r+b") as handle:
            handle.write(forged)
    else:
        (tmp_path / "forged").write_bytes(forged)
        (tmp_path / "forged").replace(blob)
    config = {**base.config, "rootfs": {"type": "layers", "diff_ids": list(base.diff_ids)}}
    with pytest.raises(OciError, match="is corrupt"):
        write_layout(tmp_path / "image", [], config, base, "latest")
    assert not (tmp_path / "image").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".image.")]


def test_a_built_image_shares_no_inode_with_its_base_layout(tmp_path: Path) -> None:
    """Invariant 1 (`oci._export`): the image's base layers are copies. A hard link into the
    shared cache's base layout let anyone who can write the cache change an image already
    built (and checked) without touching dist/."""
    layout = base_layout(tmp_path)
    base = read_base(layout, platform=PLATFORM)
    config = {**base.config, "rootfs": {"type": "layers", "diff_ids": list(base.diff_ids)}}
    write_layout(tmp_path / "image", [], config, base, "latest")
    name = base.layers[0].digest.removeprefix("sha256:")
    source = layout / "blobs" / "sha256" / name
    shipped = tmp_path / "image" / "blobs" / "sha256" / name
    assert shipped.read_bytes() == source.read_bytes()
    assert shipped.stat().st_ino != source.stat().st_ino
    assert source.stat().st_nlink == 1


# ---------------------------------------------------------------------------------------------
# Invariants 5 and 7: `init --from` reads only the project's files, bounded


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory beside a secret the user owns (``~/.netrc`` stands for it)."""
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".netrc").write_text(f"machine h login u password {SECRET}\n")
    root = tmp_path / "home" / "project"
    root.mkdir()
    return root


INCLUDES = {
    "relative escape": "-r ../.netrc",
    "absolute path": "-r {home}/.netrc",
    "long option": "--requirement={home}/.netrc",
    "dot-dot through a subdirectory": "-r sub/../../.netrc",
    "symlink in the project": "-r sub/creds.txt",
    "symlinked directory": "-r linked/.netrc",
}


@pytest.mark.parametrize("case", sorted(INCLUDES))
def test_init_from_cannot_include_a_file_outside_the_project(project: Path, case: str) -> None:
    """Invariants 5 and 7 (`importers.core._read_include`): a requirements file from a cloned
    repository includes the user's secrets; before, mlenv read them and echoed each line in
    its errors ("not a PEP 508 requirement: 'machine h login u password ...'"), straight into
    a CI log. Now -r reads only plain files inside the file's or the project's directory,
    reached without a symlink, and nothing is written."""
    home = project.parent
    (project / "sub").mkdir()
    (project / "sub" / "creds.txt").symlink_to(home / ".netrc")
    (project / "linked").symlink_to(home)
    (project / "requirements.txt").write_text("numpy\n" + INCLUDES[case].format(home=home) + "\n")
    result = run_mlenv(["init", "--from", "requirements.txt"], project)
    assert result.returncode == 1, result.stderr
    assert "cannot read it" in result.stderr and "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert not (project / "mlenv.toml").exists()


def test_init_from_still_reads_includes_inside_the_project(project: Path) -> None:
    """The wall is not a ban: `-r` into a subdirectory and back up (inside the project) and
    `-r` beside the imported file both still work."""
    (project / "reqs").mkdir()
    (project / "reqs" / "base.txt").write_text("numpy\n-r ../extra.txt\n")
    (project / "extra.txt").write_text("requests\n")
    (project / "requirements.txt").write_text("-r reqs/base.txt\n")
    result = run_mlenv(["init", "--from", "requirements.txt"], project)
    assert result.returncode == 0, result.stderr
    text = (project / "mlenv.toml").read_text()
    assert '"numpy"' in text and '"requests"' in text


@pytest.mark.parametrize("what", ["fifo include", "device as the file", "device include"])
def test_init_from_never_blocks_on_a_fifo_or_reads_a_device(project: Path, what: str) -> None:
    """Invariant 7 (`importers.core._bounded`): a FIFO blocks a reader forever, `/dev/zero` fills
    the memory. Before, `init --from` hung or grew without bound; now anything but a plain
    file is refused at once."""
    os.mkfifo(project / "pipe.txt")
    (project / "zero.txt").symlink_to("/dev/zero")
    top = {"fifo include": "-r pipe.txt\n", "device include": "-r /dev/zero\n"}
    if what in top:
        (project / "requirements.txt").write_text(top[what])
        name = "requirements.txt"
    else:
        name = "zero.txt"
    started = time.monotonic()
    result = run_mlenv(["init", "--from", name], project, timeout=60)
    # A stall guard, not a speed target: a FIFO blocks for ever, /dev/zero never ends; the
    # refusal takes under 1 s here, 30x under the bound.
    assert time.monotonic() - started < 30
    assert result.returncode == 1, result.stderr
    assert "not a plain file" in result.stderr or "cannot read it" in result.stderr
    assert "Traceback" not in result.stderr


def test_init_from_diamond_includes_are_bounded(project: Path) -> None:
    """Invariant 7 (`limits.enforce` over files read): every level includes the next one
    twice, a cycle-free chain of 30 files that pip would read 2**30 times. Before, `init
    --from` never finished; now it stops at the bound, naming it. Counted, not timed: the
    message says reading stopped at 1,000 files (the run's timeout catches a stall)."""
    for level in range(30):
        (project / f"r{level}.txt").write_text(f"-r r{level + 1}.txt\n" * 2)
    (project / "r30.txt").write_text("numpy\n")
    result = run_mlenv(["init", "--from", "r0.txt"], project, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "files read through -r: more than 1,000" in result.stderr
    assert not (project / "mlenv.toml").exists()


# ---------------------------------------------------------------------------------------------
# Invariant 5: a secret in an index URL's query never reaches the lock or an export

TOKEN = "q-s3cret-T0ken"


@pytest.fixture
def token_project(tmp_path: Path) -> Iterator[Path]:
    write_simple_index(tmp_path / "www", WHEELS)
    with IndexServer(tmp_path / "www") as server:
        root = tmp_path / "project"
        root.mkdir()
        (root / "mlenv.toml").write_text(
            '[environment]\nname = "s"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
            f'[pypi]\nindex-url = "{server.url}/simple/?token={TOKEN}"\n'
            f'extra-index-urls = ["{server.url}/simple"]\n'
            f'find-links = ["{server.url}/simple/app/?access_token={TOKEN}"]\n'
            'dependencies = ["app"]\n'
        )
        yield root


def test_a_query_token_in_an_index_url_is_written_nowhere(
    tmp_path: Path, token_project: Path
) -> None:
    """Invariant 5 (`index.urls.recordable`): an index URL that authenticates by query
    (`?token=`, `?access_token=`) is used to lock, but the lock records it redacted. Before,
    the lock (committed, shared) held the token and `export --format requirements` printed it
    as `--index-url ...?token=...`."""
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    for args in (["lock"], ["export", "--format", "requirements"], ["export", "--format", "pylock"],
                 ["export", "--format", "cyclonedx"], ["diff", "mlenv.lock", "mlenv.lock"],
                 ["inspect", "--json", "mlenv.lock"]):  # fmt: skip
        result = run_mlenv(["-v", *args], token_project, env)
        assert result.returncode == 0, (args, result.stderr)
        assert TOKEN not in result.stdout + result.stderr, args
    lock = (token_project / "mlenv.lock").read_text()
    assert TOKEN not in lock
    assert "?token=***" in lock


URL_PARTS = st.sampled_from(
    ["token", "access_token", "X-Amz-Signature", "X-Amz-Credential", "sig", "api_key", "auth"]
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=URL_PARTS,
    case=st.sampled_from([str.lower, str.upper, str.title, lambda s: s]),
    secret=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=8),
    user=st.booleans(),
    before=st.sampled_from(["", "a=1&", "a=1;"]),
)
def test_hypothesis_recordable_urls_hold_no_secret(
    key: str, case: object, secret: str, user: bool, before: str
) -> None:
    """Invariant 5 (`index.urls.recordable`): whatever the spelling of a secret parameter and
    wherever it sits in the query, with or without userinfo, the recorded URL keeps the rest
    and holds no secret; recording is idempotent and agrees with `redaction.redact`."""
    assert callable(case)
    name = case(key)
    assume(secret not in name)  # a secret spelled inside the name ('credenti') is the name's
    netloc = f"u:{secret}@h.example" if user else "h.example"
    url = f"https://{netloc}/simple/?{before}{name}={secret}"
    recorded = recordable(url)
    assert secret not in recorded
    assert recorded.startswith("https://h.example/simple/?") and f"{name}=***" in recorded
    assert recordable(recorded) == recorded == redact(recorded)


# ---------------------------------------------------------------------------------------------
# Invariant 3: a lock cannot point fetch at this machine unless the manifest does

LOOPBACK = st.sampled_from(
    [
        "127.0.0.1",
        "127.1",
        "localhost",
        "LOCALHOST.",
        "[::1]",
        "0x7f000001",
        "2130706433",
        "[::ffff:127.0.0.1]",
        "sub.localhost",
        "0.0.0.0",
    ]
)


@settings(max_examples=100)
@given(
    host=LOOPBACK,
    port=st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
    scheme=st.sampled_from(["http", "https", "HTTP"]),
)
def test_hypothesis_a_lock_url_on_loopback_needs_a_loopback_source(
    host: str, port: str, scheme: str
) -> None:
    """Invariant 3 (`origins.follow` with `LocalRoots.loopback`): a lock edited to name
    `http://127.0.0.1:<port>/...` while every index of the manifest is remote made `fetch`
    send a GET to a local service (the hash check comes after the request). Before, a lock's
    local base let any loopback URL through; now only a manifest that names a loopback
    source may lead there."""
    url = f"{scheme}://{host}{port}/admin/x-1.0-py3-none-any.whl"
    opener = UrlOpener(
        _NoHttp(), Path("/project"), LocalRoots.of(indexes=["https://pypi.org/simple"])
    )
    with pytest.raises(UnsafeUrlError, match="at this machine"):
        opener.resolve(url, "x 1.0")
    served = UrlOpener(_NoHttp(), Path("/project"), LocalRoots.of(indexes=[f"http://{host}/s"]))
    assert served.resolve(url, "x 1.0").lower().startswith(scheme.lower())


class _NoHttp:
    def open(self, url: str) -> AbstractContextManager[BinaryIO]:
        raise AssertionError(f"nothing is opened: {url}")


# ---------------------------------------------------------------------------------------------
# Invariant 5: a bundle (directory or registry) carries no credential of the manifest

USER, PASSWORD = "alice", "b5ndle-pa55word"


def test_a_bundle_carries_no_credential_and_still_builds(tmp_path: Path) -> None:
    """Invariant 5 (`fetch.shareable_manifest`, `lock.resolution_inputs`): the index URL's
    password authenticates the lock and fetch; a bundle carried into an air gap or pushed to a
    registry (another origin) held it verbatim in its mlenv.toml. Now the bundle's manifest
    has it as `***`, and the bundle's own manifest and lock still check fresh and build
    offline from the bundle alone."""
    write_simple_index(tmp_path / "www", WHEELS)
    with IndexServer(tmp_path / "www", auth=(USER, PASSWORD)) as server:
        root = tmp_path / "project"
        root.mkdir()
        url = f"http://{USER}:{PASSWORD}@{server.url.removeprefix('http://')}/simple"
        (root / "mlenv.toml").write_text(
            '[environment]\nname = "s"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
            f'[pypi]\nindex-url = "{url}"\ndependencies = ["app"]\n'
        )
        env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
        for args in (["lock"], ["fetch", "--bundle", str(tmp_path / "bundle")]):
            result = run_mlenv(args, root, env)
            assert result.returncode == 0, (args, result.stderr)
    bundle = tmp_path / "bundle"
    for path in bundle.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    assert f"http://***@{server.url.removeprefix('http://')}/simple" in (
        (bundle / "mlenv.toml").read_text()
    )
    offline = {"MLENV_CACHE_DIR": str(tmp_path / "nothing")}
    checks = (
        ["verify", "--bundle", str(bundle)],
        ["lock", "--check"],
        ["--cache", str(bundle), "build", "--offline", "--dist", str(tmp_path / "dist")],
    )
    for args in checks:
        result = run_mlenv(args, bundle, offline)
        assert result.returncode == 0, (args, result.stderr)


# ---------------------------------------------------------------------------------------------
# Invariant 7: `inspect` of a hostile image is bounded


def test_inspect_refuses_a_layer_that_inflates_like_a_bomb(tmp_path: Path) -> None:
    """Invariant 7 (`inspect._Inflated` over `limits.enforce`): a zstd layer of a few KiB that
    inflates to 512 MiB (zeros; a real bomb goes to terabytes). Before, `inspect` inflated it
    all; now it stops at 200x the layer's size (64 MiB at least), naming the layer."""
    zeros = tmp_path / "zeros"
    with open(zeros, "wb") as handle:
        handle.truncate(512 << 20)
    entries = [Entry("big", "file", 0o644, source=zeros, size=512 << 20)]
    write_image(tmp_path / "image", [("bomb", entries)], ref="x", cmd=["/x"], compression="zstd")
    result = run_mlenv(["inspect", str(tmp_path / "image")], tmp_path, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "bytes a layer inflates to: more than" in result.stderr
    assert "Traceback" not in result.stderr


def test_inspect_bounds_the_metadata_it_holds(tmp_path: Path) -> None:
    """Invariant 7 (`inspect._owner` over `limits.enforce`): each RECORD under 16 MiB is read
    whole; five of them are 75 MiB held at once (a thousand would be 16 GiB). Before, all were
    held; now the metadata of one image is bounded, and the refusal names the member."""
    record = tmp_path / "RECORD"
    record.write_bytes(b"a/b.py,,1\n" * ((15 << 20) // 10))
    size = record.stat().st_size
    entries = [Entry("site-packages", "dir", 0o755)]
    for n in range(5):
        entries += [
            Entry(f"site-packages/p{n}-1.0.dist-info", "dir", 0o755),
            Entry(f"site-packages/p{n}-1.0.dist-info/RECORD", "file", 0o644, record, size),
        ]
    write_image(tmp_path / "image", [("meta", entries)], ref="x", cmd=["/x"], compression="zstd")
    result = run_mlenv(["inspect", str(tmp_path / "image")], tmp_path, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "bytes of package metadata: more than" in result.stderr
    assert "dist-info/RECORD" in result.stderr


@pytest.mark.parametrize("shape", ["list", "items"])
def test_verify_nodes_refuses_json_nested_past_the_guard(tmp_path: Path, shape: str) -> None:
    """Invariant 7 (`nodes.read_nodes`): a node list nested 200,000 deep hit the JSON
    parser's recursion guard and `verify --nodes` died with an internal error (exit 2). Now it
    is a clear error (exit 1) naming the file."""
    project = golden_project(tmp_path / "project")
    deep = "[" * 200_000 + "]" * 200_000
    (tmp_path / "nodes.json").write_text(deep if shape == "list" else f'{{"items": {deep}}}')
    result = run_mlenv(["verify", "--nodes", str(tmp_path / "nodes.json")], project)
    assert result.returncode == 1, result.stderr
    assert "nodes.json: not JSON: nested too deeply" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_a_layout_planted_under_a_pinned_digest_is_never_built_on(tmp_path: Path) -> None:
    """Invariant 1 (`oci.read_base(digest=)`, `registry_base.layout_digest`): the shared cache
    keeps a pulled base image's layout under its pinned digest; another user of the cache
    plants a valid layout of *their* image there. Before, the offline build took whatever
    image that layout held (every blob matched its own digest); now the layout must hold the
    pinned digest, and the build is refused before any work."""
    wheel = build_wheel("lib", "2.0", files={"lib/__init__.py": b""})
    write_simple_index(tmp_path / "www", [wheel])
    pinned = "sha256:" + hashlib.sha256(b"the image the manifest pins").hexdigest()
    cache = tmp_path / "cache"
    env = {"MLENV_CACHE_DIR": str(cache)}
    root = tmp_path / "project"
    root.mkdir()
    with IndexServer(tmp_path / "www") as server:
        (root / "mlenv.toml").write_text(
            '[environment]\nname = "b"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
            f'[pypi]\nindex-url = "{server.url}/simple"\ndependencies = ["lib"]\n'
            '[build]\noutputs = ["oci"]\n'
        )
        for args in (["lock"], ["fetch"]):  # the wheels; the base image is planted, not pulled
            result = run_mlenv(args, root, env)
            assert result.returncode == 0, result.stderr
    with (root / "mlenv.toml").open("a") as manifest:
        manifest.write(f'base-image = "registry.invalid:5000/base/img@{pinned}"\n')
    (tmp_path / "evil").write_bytes(b"#!/bin/sh\necho owned\n")
    planted = [Entry("bin", "dir", 0o755), Entry("bin/sh", "file", 0o755, tmp_path / "evil", 21)]
    write_image(cache / "base-v1" / pinned[7:], [("evil", planted)], ref="x", cmd=["/bin/sh"])
    result = run_mlenv(["build", "--offline"], root, env)
    assert result.returncode == 1, result.stderr
    assert f"does not hold the pinned {pinned}" in result.stderr
    assert not (root / "dist").exists()


# ---------------------------------------------------------------------------------------------
# Invariant 6: a conda package's word about its files is measured, not taken


def _lying_package(tmp_path: Path, name: str, claimed: bytes, held: bytes) -> tuple[str, Path]:
    """A .tar.bz2 whose info/paths.json describes ``lib/common.txt`` as ``claimed`` while
    the tar holds ``held`` there."""
    filename, data = build_conda_package(name, "1.0", "0", files={"lib/common.txt": claimed})
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(bz2.decompress(data)), mode="r:") as source,
        tarfile.open(fileobj=out, mode="w:") as target,
    ):
        for member in source:
            content = source.extractfile(member) if member.isreg() else None
            body = held if member.name == "lib/common.txt" else (content.read() if content else b"")
            member.size = len(body)
            target.addfile(member, io.BytesIO(body) if member.isreg() else None)
    path = tmp_path / filename
    path.write_bytes(bz2.compress(out.getvalue()))
    return filename, path


@pytest.mark.parametrize("held", [b"evil", b"evil, and longer"])
def test_a_conda_package_cannot_lie_its_way_into_sharing_a_file(
    tmp_path: Path, held: bytes
) -> None:
    """Invariant 6 (`PathLedger.claim` fed by `install._CondaVetting.measured`): two conda
    packages may share a path only with the same content. Before, that content was what
    `info/paths.json` *said*: a package claiming another's sha256 and size for its own,
    different bytes passed as "the same file" and overwrote the other package's file. Now
    the bytes are measured while the tar is read, and a listing that lies is refused."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    honest = build_conda_package("a", "1.0", "0", files={"lib/common.txt": b"same"})
    (tmp_path / "a" / honest[0]).write_bytes(honest[1])
    liar = _lying_package(tmp_path / "b", "b", b"same", held)
    with pytest.raises(InstallError, match=r"but info/paths\.json says 4 bytes"):
        check_conda_packages([(honest[0], tmp_path / "a" / honest[0]), liar])


# ---------------------------------------------------------------------------------------------
# Invariant 1: an SBOM states what the locked bytes declare


def test_an_sbom_never_takes_a_licence_from_a_swapped_cache_file(tmp_path: Path) -> None:
    """Invariant 1 (`sbom.verified_wheels` over `ArtifactCache.copy_verified`; the build uses
    its own verified copies): the cache file of a locked wheel is replaced by another wheel of
    the same name declaring `LicenseRef-Laundered`. Before, `export --format cyclonedx` read
    the licence from whatever file was in the cache and stated it for the locked sha256; now
    it reads only a copy that matched the lock, and states no licence for a tampered entry."""
    project = golden_project(tmp_path / "project")
    cache = ArtifactCache(tmp_path / "cache")
    env = {"MLENV_CACHE_DIR": str(cache.root), "SOURCE_DATE_EPOCH": ""}
    assert run_mlenv(["fetch"], project, env).returncode == 0
    lock = load_lock((project / "mlenv.lock").read_text())
    package = lock.platforms[0].packages[0]
    _, forged = build_wheel(
        package.name, package.version, extra_metadata=["License-Expression: LicenseRef-Laundered"]
    )
    cached = cache.path(package.sha256)
    cached.chmod(0o644)
    cached.write_bytes(forged)
    result = run_mlenv(["export", "--format", "cyclonedx"], project, env)
    assert result.returncode == 0, result.stderr
    assert "Laundered" not in result.stdout
    assert package.sha256 in result.stdout  # the component is still listed, without a licence


# ---------------------------------------------------------------------------------------------
# Invariant 4: an output spelled through a missing directory is judged where it leads


@pytest.mark.parametrize(
    "args",
    [
        ["build", "--offline", "--dist", "src/missing/.."],
        ["fetch", "--bundle", "src/missing/.."],
        ["build", "--offline", "--dist", "src/a/b/../.."],
        ["export", "--format", "cyclonedx", "-o", "src/missing/../.."],
    ],
)
def test_an_output_through_a_missing_directory_replaces_nothing(
    tmp_path: Path, args: list[str]
) -> None:
    """Invariant 4 (`outputs.check_output`): `src/missing/..` does not exist as spelled (the
    kernel cannot walk `missing`), but its real path is the user's `src/`. Before, the guard
    lstat'ed the spelling and took the output as absent: the whole build ran before the swap's
    re-check refused `src/` (a narrower re-check would have replaced it). Now what is there is
    judged at the real path, before any work, and nothing changes."""
    project = golden_project(tmp_path / "project")
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache"), "SOURCE_DATE_EPOCH": ""}
    assert run_mlenv(["fetch"], project, env).returncode == 0
    (project / "src").mkdir()
    (project / "src" / "app.py").write_text("print('mine')\n")
    result = run_mlenv(args, project, env)
    assert result.returncode == 1, result.stderr
    assert "refusing" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("error:"), result.stderr  # before any work
    assert (project / "src" / "app.py").read_text() == "print('mine')\n"
    assert sorted(p.name for p in (project / "src").iterdir()) == ["app.py"]
