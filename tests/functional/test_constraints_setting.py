"""`[pypi] constraints` and `overrides` end to end: a lock bounded by them, the lock recording
them, a change making it stale, pip's `-c` file importing to them, and fetch's METADATA check
applying the overrides."""

from __future__ import annotations

from pathlib import Path

from mlenv.lockfile_read import loads as load_lock
from mlenv.manifest_read import loads as load_manifest
from tests.support.cli import run_mlenv
from tests.support.pypi_settings import locked_pins, settings_project

WHEELS = [("b", "1.0", ["c"]), ("c", "1.0", []), ("c", "2.0", []), ("d", "1.0", [])]


def _project(tmp_path: Path, constraints: str) -> Path:
    pypi = f'dependencies = ["b"]\nconstraints = [{constraints}]\n'
    return settings_project(tmp_path, WHEELS, pypi)


def test_a_constraint_bounds_what_is_required_and_adds_nothing(tmp_path: Path) -> None:
    project = _project(tmp_path, '"d<2", "c<2"')
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    result = run_mlenv(["lock"], project, env)
    assert result.returncode == 0, result.stderr
    assert locked_pins(project) == {"b": "1.0", "c": "1.0"}  # d is bounded, never added
    target = load_lock((project / "mlenv.lock").read_text()).target
    assert target.constraints == ("c<2", "d<2")
    assert run_mlenv(["lock", "--check"], project, env).returncode == 0
    manifest = project / "mlenv.toml"
    manifest.write_text(manifest.read_text().replace('"c<2"', '"c<3"'))
    check = run_mlenv(["lock", "--check"], project, env)
    assert check.returncode == 1 and "stale" in check.stderr
    assert run_mlenv(["lock", "--upgrade"], project, env).returncode == 0
    assert locked_pins(project) == {"b": "1.0", "c": "2.0"}


def test_a_constraint_no_version_meets_is_named_and_no_lock_written(tmp_path: Path) -> None:
    project = _project(tmp_path, '"c>5"')
    result = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1
    assert "refused: 2.0: outside the constraint c>5 ([pypi] constraints)" in result.stderr
    assert "hint: relax [pypi] constraints" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "mlenv.lock").exists()


def test_a_constraint_with_extras_is_refused_naming_the_key(tmp_path: Path) -> None:
    project = _project(tmp_path, '"c[gpu]<2"')
    result = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1
    assert "[pypi].constraints[0]: 'c[gpu]<2' is not valid: a constraint bounds versions only" in (
        result.stderr
    )


def test_a_pip_constraints_file_imports_to_constraints(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("numpy\n-c pins/constraints.txt\n")
    (tmp_path / "pins").mkdir()
    (tmp_path / "pins" / "constraints.txt").write_text("numpy<2  # old ABI\nscipy==1.13.1\n")
    result = run_mlenv(["init", "--from", "requirements.txt"], tmp_path)
    assert result.returncode == 0, result.stderr
    pypi = load_manifest((tmp_path / "mlenv.toml").read_text()).pypi
    assert pypi.dependencies == ("numpy",)
    assert pypi.constraints == ("numpy<2", "scipy==1.13.1")


def test_an_override_replaces_a_dependencys_bound_and_fetch_holds_the_lock_to_it(
    tmp_path: Path,
) -> None:
    """b requires c (any); the override drops c on this target (its marker is false there):
    the lock has no c, and fetch's check of b's own METADATA (which requires c) applies the
    override instead of calling the lock contradicted."""
    project = _project(tmp_path, "")
    manifest = project / "mlenv.toml"
    manifest.write_text(manifest.read_text() + "overrides = [\"c<1; python_version < '3.10'\"]\n")
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    result = run_mlenv(["lock"], project, env)
    assert result.returncode == 0, result.stderr
    assert locked_pins(project) == {"b": "1.0"}
    target = load_lock((project / "mlenv.lock").read_text()).target
    assert target.overrides == ("c<1; python_version < '3.10'",)
    fetched = run_mlenv(["fetch"], project, env)
    assert fetched.returncode == 0, fetched.stderr
    manifest.write_text(manifest.read_text().replace("c<1; python_version < '3.10'", "c>=2"))
    assert run_mlenv(["lock"], project, env).returncode == 0
    assert locked_pins(project) == {"b": "1.0", "c": "2.0"}
    assert run_mlenv(["fetch"], project, env).returncode == 0


def test_an_override_no_version_meets_is_named_as_one(tmp_path: Path) -> None:
    project = _project(tmp_path, "")
    manifest = project / "mlenv.toml"
    manifest.write_text(manifest.read_text() + 'overrides = ["c>5"]\n')
    result = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1
    assert "c>5 ([pypi] overrides) (from b 1.0" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_an_override_dropping_a_cuda_builds_components_locks_what_verify_accepts(
    tmp_path: Path,
) -> None:
    """torch's METADATA pins CUDA 12.8 Update 1's runtime; the override drops it, so only
    torch's entry carries that update's driver. verify holds [target] to it (it used to derive
    the GA's and call the lock edited), and a second lock keeps it."""
    wheels = [
        ("torch", "2.8.0", ["nvidia-cuda-runtime-cu12==12.8.90"]),
        ("nvidia-cuda-runtime-cu12", "12.8.90", []),
    ]
    pypi = (
        'dependencies = ["torch==2.8.0"]\n'
        "overrides = [\"nvidia-cuda-runtime-cu12; python_version < '3'\"]\n"
        '[cuda]\nversion = "12.8"\ndriver-floor = "570.26"\n'
    )
    project = settings_project(tmp_path, wheels, pypi)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["lock"], project, env).returncode == 0
    before = (project / "mlenv.lock").read_bytes()
    assert load_lock(before.decode()).target.requires_driver == "570.124.06"
    verified = run_mlenv(["verify"], project, env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "needs driver 570.124.06 or newer" in verified.stdout
    assert run_mlenv(["lock", "--check"], project, env).returncode == 0
    assert run_mlenv(["lock"], project, env).returncode == 0
    assert (project / "mlenv.lock").read_bytes() == before


def test_a_pin_edited_past_a_constraint_is_stale_and_lock_moves_it_back(tmp_path: Path) -> None:
    """The inputs hash covers the manifest, not the pins: c edited from 1.0 to 2.0 (file, URL
    and all) past ``c<2`` used to pass verify and reach build."""
    wheels = [("b", "1.0", ["c"]), ("c", "1.0", []), ("c", "2.0", [])]
    project = settings_project(tmp_path, wheels, 'dependencies = ["b"]\nconstraints = ["c<2"]\n')
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["lock"], project, env).returncode == 0
    lock = project / "mlenv.lock"
    text = lock.read_text()
    head, _, entry = text.partition('name = "c"')
    lock.write_text(head + 'name = "c"' + entry.replace('"1.0"', '"2.0"').replace("c-1.0", "c-2.0"))
    verified = run_mlenv(["verify"], project, env)
    assert verified.returncode == 1
    assert "(c 2.0).version is 2.0" in verified.stdout
    assert "'c<2' of [target].constraints" in verified.stdout
    assert run_mlenv(["lock", "--check"], project, env).returncode == 1
    assert run_mlenv(["lock"], project, env).returncode == 0
    assert locked_pins(project) == {"b": "1.0", "c": "1.0"}
