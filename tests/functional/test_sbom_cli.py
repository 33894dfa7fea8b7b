"""`mlenv export --format cyclonedx` and the SBOM `mlenv build` writes, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.support.cli import run_mlenv
from tests.support.golden import build, golden_project


def export(project: Path, cache: Path, *extra: str, epoch: str = "") -> str:
    env = {"MLENV_CACHE_DIR": str(cache), "SOURCE_DATE_EPOCH": epoch}
    result = run_mlenv(["export", "--format", "cyclonedx", *extra], project, env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_export_is_valid_and_byte_stable(fetched: tuple[Path, Path]) -> None:
    """Valid CycloneDX 1.6; the same lock and cache give the same bytes; a timestamp only
    from SOURCE_DATE_EPOCH."""
    project, cache = fetched
    text = export(project, cache)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    assert export(project, cache) == text
    data = json.loads(text)
    assert "timestamp" not in data["metadata"]
    (hello,) = data["components"]
    assert hello["purl"] == "pkg:pypi/hello@1.0?file_name=hello-1.0-py3-none-any.whl"
    stamped = json.loads(export(project, cache, epoch="1700000000"))
    assert stamped["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    assert stamped["serialNumber"] == data["serialNumber"]


def test_build_writes_the_same_sbom_export_does(fetched: tuple[Path, Path]) -> None:
    """build's dist/sbom.cdx.json is the export of the built platform, byte for byte."""
    project, cache = fetched
    assert build(project, cache).returncode == 0
    written = (project / "dist" / "sbom.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(written) is None
    assert written == export(project, cache, "--platform", "linux-64")


def test_a_lock_from_a_newer_mlenv_writes_nothing(tmp_path: Path) -> None:
    project = golden_project(tmp_path / "project")
    lock = project / "mlenv.lock"
    lock.write_text(lock.read_text().replace("version = 1\n", "version = 2\n", 1))
    result = run_mlenv(
        ["export", "--format", "cyclonedx", "-o", "sbom.json"],
        project,
        {"MLENV_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.returncode == 1
    assert "lock format 2 is not supported" in result.stderr
    assert not (project / "sbom.json").exists()
