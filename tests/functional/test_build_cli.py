"""`mlenv build --offline`: the outputs, their determinism under varied conditions, and failures."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import jsonschema

from mlenv.build_record import BuildRecord
from mlenv.cache.artifacts import ArtifactCache
from mlenv.cache.lock_artifacts import artifacts_of
from mlenv.lockfile_read import loads as load_lock
from mlenv.oci.model import canonical_json
from tests.support.cli import run_mlenv
from tests.support.golden import ROOT, build, digests, golden_project

# Pinned for zlib 1.2.13 / zstandard 0.25.0 (libzstd 1.5.7) as recorded in build.json: a change
# here means the bytes users get changed, which must be deliberate and noted in the CHANGELOG.
GOLDEN_DIGESTS = {
    "image.tar": "1e8a4e8af52399fe30e6dd4a89a8fdbd9c991a5f82b603385ce89ee55e0dcbeb",
    "golden.tar.gz": "f476084960b837466fcf7d17c65e28de0a7dfdd90a5ad4fb068b67b5ba1e6015",
    "manifest": "sha256:8b95400fd1a9761b9c548f78277fb7673998d01e7219cb67e4a0778f9714f9bb",
}


def test_build_writes_every_output_and_a_record(fetched: tuple[Path, Path]) -> None:
    project, cache = fetched
    result = build(project, cache)
    assert result.returncode == 0, result.stderr
    dist = project / "dist"
    assert sorted(p.name for p in dist.iterdir()) == [
        "build.json", "golden.tar.gz", "image.tar", "oci", "sbom.cdx.json"
    ]  # fmt: skip
    record = json.loads((dist / "build.json").read_text())
    lock_sha = __import__("hashlib").sha256((project / "mlenv.lock").read_bytes()).hexdigest()
    assert record["lock-sha256"] == lock_sha
    assert record["source-date-epoch"] == 315532800
    assert set(record["compressors"]) == {"python", "zlib", "zstandard", "libzstd"}
    pack = record["outputs"]["conda-pack"]
    assert pack["sha256"] == digests(dist)["golden.tar.gz"]
    assert record["outputs"]["oci"]["image-tar"]["sha256"] == digests(dist)["image.tar"]
    assert "dist/image.tar  golden:latest, sha256:" in result.stdout
    # the SBOM beside the image: named by build.json and, by its sha256, by the image config
    assert record["sbom"] == {
        "file": "sbom.cdx.json",
        "format": "CycloneDX 1.6",
        "sha256": digests(dist)["sbom.cdx.json"],
    }
    config_digest = record["outputs"]["oci"]["config-digest"].removeprefix("sha256:")
    config = json.loads((dist / "oci" / "blobs" / "sha256" / config_digest).read_bytes())
    assert config["config"]["Labels"]["dev.mlenv.sbom-sha256"] == record["sbom"]["sha256"]


def test_golden_digests(fetched: tuple[Path, Path]) -> None:
    project, cache = fetched
    assert build(project, cache).returncode == 0
    record = json.loads((project / "dist" / "build.json").read_text())
    found = digests(project / "dist")
    assert found["image.tar"] == GOLDEN_DIGESTS["image.tar"]
    assert found["golden.tar.gz"] == GOLDEN_DIGESTS["golden.tar.gz"]
    assert record["outputs"]["oci"]["manifest-digest"] == GOLDEN_DIGESTS["manifest"]
    # build.json is written from BuildRecord: the schema holds, and reading it back renders
    # the very bytes on disk.
    data = (project / "dist" / "build.json").read_bytes()
    schema = json.loads((ROOT / "schemas" / "build.schema.json").read_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(record)) == []
    assert canonical_json(BuildRecord.from_dict(record).to_dict()) + b"\n" == data


def test_identical_bytes_under_varied_conditions(tmp_path: Path) -> None:
    """Build dir, umask, TZ, locale, hash seed, SOURCE_DATE_EPOCH unset vs its default value,
    file mtimes and creation order: none may change a byte of any output."""
    a = golden_project(tmp_path / "a" / "project")
    b = golden_project(tmp_path / "elsewhere" / "deeper" / "b")
    cache_a, cache_b = tmp_path / "cache-a", tmp_path / "cache-b"
    assert run_mlenv(["fetch"], a, {"MLENV_CACHE_DIR": str(cache_a)}).returncode == 0
    assert run_mlenv(["fetch"], b, {"MLENV_CACHE_DIR": str(cache_b)}).returncode == 0
    for path in cache_b.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))  # other mtimes on every input
    first = build(a, cache_a, umask=0o022, env={"TZ": "UTC", "LC_ALL": "C.UTF-8",
                                                "PYTHONHASHSEED": "0"})  # fmt: skip
    second = build(b, cache_b, umask=0o077, env={"TZ": "Asia/Kolkata", "LANG": "fr_FR.UTF-8",
                   "LC_ALL": "POSIX", "PYTHONHASHSEED": "12345",
                   "SOURCE_DATE_EPOCH": "315532800"})  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert digests(a / "dist") == digests(b / "dist")


def test_source_date_epoch_sets_the_file_times(fetched: tuple[Path, Path]) -> None:
    project, cache = fetched
    assert build(project, cache, env={"SOURCE_DATE_EPOCH": "1700000000"}).returncode == 0
    with tarfile.open(project / "dist" / "golden.tar.gz") as archive:
        assert {member.mtime for member in archive.getmembers()} == {1700000000}
        assert {(m.uid, m.gid, m.uname, m.gname) for m in archive.getmembers()} == {(0, 0, "", "")}
    bad = build(project, cache, env={"SOURCE_DATE_EPOCH": "yesterday"})
    assert bad.returncode == 1
    assert "error: SOURCE_DATE_EPOCH: SOURCE_DATE_EPOCH='yesterday' is not a number" in bad.stderr


def test_check_builds_twice(fetched: tuple[Path, Path]) -> None:
    project, cache = fetched
    result = build(project, cache, "--check")
    assert result.returncode == 0, result.stderr
    assert "check: two builds are byte-identical (" in result.stderr


def test_missing_artifacts_are_listed(fetched: tuple[Path, Path], tmp_path: Path) -> None:
    project, _ = fetched
    result = build(project, tmp_path / "empty-cache")
    assert result.returncode == 1
    assert "error: 1 artifact(s) of the lock are not in the cache" in result.stderr
    assert "hello 1.0: missing" in result.stderr
    assert not (project / "dist").exists()


def test_tampered_cache_is_refused(fetched: tuple[Path, Path]) -> None:
    project, cache = fetched
    (artifact,) = artifacts_of(load_lock((project / "mlenv.lock").read_text()))
    path = ArtifactCache(cache).path(artifact.sha256)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    result = build(project, cache)
    assert result.returncode == 1
    assert "do not match the lock" in result.stderr
    assert "hello 1.0: cached file has sha256" in result.stderr


def test_a_failed_build_keeps_the_previous_dist(fetched: tuple[Path, Path]) -> None:
    project, cache = fetched
    assert build(project, cache).returncode == 0
    before = digests(project / "dist")
    manifest = project / "mlenv.toml"
    manifest.write_text(manifest.read_text().replace('interpreter = "/usr/bin/python3.11"\n', ""))
    failed = build(project, cache)
    assert failed.returncode == 1
    assert "[environment].interpreter" in failed.stderr
    assert digests(project / "dist") == before


def test_conda_pack_archive_unpacks_relocates_and_runs(
    fetched: tuple[Path, Path], tmp_path: Path
) -> None:
    project, cache = fetched
    assert build(project, cache).returncode == 0
    if not Path("/usr/bin/python3.11").exists():
        raise AssertionError("this test needs /usr/bin/python3.11 (apt-get install python3.11)")
    target = tmp_path / "unpacked here"
    target.mkdir()
    with tarfile.open(project / "dist" / "golden.tar.gz") as archive:
        archive.extractall(target, filter="tar")
    unpack = subprocess.run([str(target / "bin" / "conda-unpack")], capture_output=True, text=True)
    assert unpack.returncode == 0, unpack.stderr
    script = (target / "bin" / "hello").read_text()
    # The path has a space: the kernel cannot run it from a shebang, so sh does.
    assert script.startswith("#!/bin/sh\n" + "'" * 3 + f"exec' '{target}/bin/python' ")
    ran = subprocess.run([str(target / "bin" / "hello")], capture_output=True, text=True)
    assert (ran.returncode, ran.stderr) == (1, "hello\n")  # greet() returns it to sys.exit
    code = "import hello, sys; print(hello.greet(), sys.prefix)"
    imported = subprocess.run(
        [str(target / "bin" / "python"), "-c", code], capture_output=True, text=True
    )
    assert imported.stdout == f"hello {target}\n", imported.stderr


def test_verify_checks_an_output_against_build_json(fetched: tuple[Path, Path]) -> None:
    project, cache = fetched
    assert build(project, cache).returncode == 0
    env = {"MLENV_CACHE_DIR": str(cache)}
    for name in ("image.tar", "golden.tar.gz"):
        ok = run_mlenv(["verify", f"dist/{name}"], project, env)
        assert ok.returncode == 0, ok.stdout
    archive = project / "dist" / "golden.tar.gz"
    archive.write_bytes(archive.read_bytes()[:-10])
    bad = run_mlenv(["verify", "dist/golden.tar.gz"], project, env)
    assert bad.returncode == 1
    assert "output-digest-mismatch" in bad.stdout
    record = project / "dist" / "build.json"
    recorded = json.loads(record.read_text())["lock-sha256"]  # another lock's (a whole sha256)
    record.write_text(record.read_text().replace(recorded, "0" * 64))
    stale = run_mlenv(["verify", "dist/image.tar"], project, env)
    assert "output-lock-mismatch" in stale.stdout
