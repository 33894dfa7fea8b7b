"""`mlenv init --from FILE` through the real CLI, on real projects' requirements files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlenv.importers.core import Imported
from mlenv.importers.manifest import guess_cuda
from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "import"
REAL = ["whisper-requirements.txt", "diffusers-text-to-image-requirements.txt",
        "nanogpt-requirements.txt"]  # fmt: skip


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split(" #")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith(("#", "-"))]


def show(root: Path) -> dict[str, object]:
    result = run_mlenv(["show", "--json"], root)
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


@pytest.mark.parametrize("name", REAL)
def test_real_requirements_round_trip(tmp_path: Path, name: str) -> None:
    """Every requirement line of a real project's file comes back, in order, as mlenv reads
    the written manifest; none of these projects pins a CUDA build, so none is guessed."""
    result = run_mlenv(["init", "--from", str(FIXTURES / name), "--name", "p"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "guessed CUDA" not in result.stderr
    manifest = show(tmp_path)
    assert manifest["pypi"]["dependencies"] == requirement_lines(FIXTURES / name)  # type: ignore[index]
    assert "cuda" not in manifest


def test_includes_indexes_hashes_and_the_cuda_guess(tmp_path: Path) -> None:
    """-r pulls in the included file, --extra-index-url becomes best-match (pip's rule),
    --hash lines stay == pins, and CUDA 12.4 with its minimum driver is guessed and said."""
    result = run_mlenv(["init", "--from", str(FIXTURES / "cu124-pinned.txt")], tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        "guessed CUDA 12.4 from torch==2.5.1+cu124; driver floor 550.54.14 (the minimum for "
        "CUDA 12.4)" in result.stderr
    )
    assert "--hash pins are kept as == pins" in result.stderr
    manifest = show(tmp_path)
    pypi = manifest["pypi"]
    assert pypi["dependencies"] == [  # type: ignore[index]
        *requirement_lines(FIXTURES / "nanogpt-requirements.txt"),
        "torch==2.5.1+cu124",
        'nvidia-cudnn-cu12==9.1.0.70 ; platform_machine == "x86_64"',
    ]
    assert pypi["extra-index-urls"] == ["https://download.pytorch.org/whl/cu124"]  # type: ignore[index]
    assert pypi["index-strategy"] == "best-match"  # type: ignore[index]
    assert manifest["cuda"] == {"version": "12.4", "driver-floor": "550.54.14", "archs": []}


def test_flags_override_the_guess(tmp_path: Path) -> None:
    args = ["init", "--from", str(FIXTURES / "cu124-pinned.txt"), "--cuda", "12.6"]
    result = run_mlenv(args, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "guessed" not in result.stderr
    assert show(tmp_path)["cuda"] == {"version": "12.6", "driver-floor": "560.28.03", "archs": []}
    again = run_mlenv([*args, "--force", "--driver-floor", "570.86.15"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert show(tmp_path)["cuda"]["driver-floor"] == "570.86.15"  # type: ignore[index]


def test_pyproject_with_groups(tmp_path: Path) -> None:
    pyproject = str(FIXTURES / "pyproject.toml")
    result = run_mlenv(["init", "--from", pyproject, "--group", "dev", "--group", "cuda"], tmp_path)
    assert result.returncode == 0, result.stderr
    dependencies = show(tmp_path)["pypi"]["dependencies"]  # type: ignore[index]
    assert dependencies[:2] == ["more-itertools", "numba"]
    assert dependencies[-6:] == [
        "black",
        "flake8",
        "isort",
        "pytest",
        "scipy",
        "torch==2.5.1+cu124",
    ]
    assert "guessed CUDA 12.4" in result.stderr
    (tmp_path / "mlenv.toml").unlink()
    unknown = run_mlenv(["init", "--from", pyproject, "--group", "docs"], tmp_path)
    assert unknown.returncode == 1
    assert "group 'docs': no such optional-dependencies or dependency-groups entry" in (
        unknown.stderr
    )
    assert "groups here: cuda, dev" in unknown.stderr
    assert not (tmp_path / "mlenv.toml").exists()


def test_what_mlenv_cannot_express_is_reported_at_once_and_nothing_written(
    tmp_path: Path,
) -> None:
    """Editable, VCS and URL requirements, --no-index, a -c file not there and a broken line:
    each named with its line, in one run, and an existing manifest is left byte for byte."""
    (tmp_path / "mlenv.toml").write_bytes(b"# mine\n")
    args = ["init", "--from", str(FIXTURES / "unexpressible.txt"), "--force"]
    result = run_mlenv(args, tmp_path)
    assert result.returncode == 1
    assert "6 requirement(s) mlenv cannot express; nothing was written" in result.stderr
    for line in ("2: editable", "3: 'git+https", "4: 'mylib @", "5: the option --no-index",
                 "6: -c ", "7: not a PEP 508"):  # fmt: skip
        assert f"unexpressible.txt:{line}" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "mlenv.toml").read_bytes() == b"# mine\n"


def test_include_cycle_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("numpy\n-r b.txt\n")
    (tmp_path / "b.txt").write_text("-r a.txt\n")
    result = run_mlenv(["init", "--from", "a.txt"], tmp_path)
    assert result.returncode == 1
    assert "includes itself through -r" in result.stderr
    assert not (tmp_path / "mlenv.toml").exists()


def test_pylock_round_trip_locks_the_same_artifact(tmp_path: Path) -> None:
    """lock -> export pylock.toml -> init --from -> lock: the same file, the same sha256."""
    project = tmp_path / "p"
    shutil.copytree(ROOT / "fixtures" / "golden", project)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["export", "--format", "pylock", "-o", "pylock.toml"], project).returncode == 0
    before = load_lock((project / "mlenv.lock").read_text()).packages()
    (project / "mlenv.lock").unlink()
    (project / "mlenv.toml").unlink()
    result = run_mlenv(["init", "--from", "pylock.toml", "--name", "golden"], project)
    assert result.returncode == 0, result.stderr
    assert run_mlenv(["lock"], project, env).returncode == 0
    after = load_lock((project / "mlenv.lock").read_text()).packages()
    assert [(p, x.name, x.version, x.sha256) for p, x in after] == [
        (p, x.name, x.version, x.sha256) for p, x in before
    ]


@pytest.mark.parametrize(
    ("imported", "expected"),
    [
        (Imported(pypi=("torch==2.4.0+cu121", "nvidia-cuda-runtime-cu12==12.4.127")), "12.4"),
        (Imported(pypi=("cupy-cuda12x==13.3.0",)), None),  # only the major: no guess
        (Imported(pypi=("torch>=2",)), None),
        (
            Imported(pypi=("torch",), extra_index_urls=("https://download.pytorch.org/whl/cu118",)),
            "11.8",
        ),
        (Imported(conda=("pytorch-cuda=12.1", "python 3.11.*")), "12.1"),
    ],
)
def test_cuda_guess(imported: Imported, expected: str | None) -> None:
    guess = guess_cuda(imported)
    assert (guess.version if guess else None) == expected


def test_environment_yml_conda_pip_and_python(tmp_path: Path) -> None:
    """channels and conda specs go to [conda], the pip: list is read as pip reads it (options
    included), and the file's python=3.12 sets [environment].python unless --python says."""
    env_file = tmp_path / "environment.yml"
    text = (FIXTURES / "environment.yml").read_text().replace("python=3.11", "python=3.12")
    env_file.write_text(text)
    result = run_mlenv(["init", "--from", str(env_file)], tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = show(tmp_path)
    assert manifest["environment"]["python"] == "3.12"  # type: ignore[index]
    assert manifest["conda"] == {
        "channels": ["conda-forge"],
        "dependencies": ["python=3.12", "libgomp", "cuda-version 12.4", "numpy >=1.26,<2", "pip"],
    }
    pypi = manifest["pypi"]
    assert pypi["dependencies"] == ["torch==2.5.1+cu124", "timm>=1.0"]  # type: ignore[index]
    assert pypi["extra-index-urls"] == ["https://download.pytorch.org/whl/cu124"]  # type: ignore[index]
    assert manifest["cuda"]["version"] == "12.4"  # type: ignore[index]
    (tmp_path / "mlenv.toml").unlink()
    chosen = run_mlenv(["init", "--from", "environment.yml", "--python", "3.11"], tmp_path)
    assert chosen.returncode == 1
    assert "environment.yml pins Python 3.12, but --python says 3.11" in chosen.stderr
    assert not (tmp_path / "mlenv.toml").exists()


def test_environment_yml_problems_name_the_entry(tmp_path: Path) -> None:
    (tmp_path / "environment.yml").write_text(
        "channels: [conda-forge]\ndependencies:\n  - numpy\n  - pip:\n    - -e .\n    - ok\n"
        "  - {weird: 1}\n"
    )
    result = run_mlenv(["init", "--from", "environment.yml"], tmp_path)
    assert result.returncode == 1
    assert "environment.yml: dependencies[1].pip[0]: editable requirement '.'" in result.stderr
    assert "environment.yml: dependencies[2]: cannot read {'weird': 1}" in result.stderr
    assert not (tmp_path / "mlenv.toml").exists()


def test_conda_lock_pins_the_first_platform(tmp_path: Path) -> None:
    result = run_mlenv(["init", "--from", str(FIXTURES / "conda-lock.yml")], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "pins come from linux-64" in result.stderr
    manifest = show(tmp_path)  # each conda pin keeps its locked build, as conda-lock does
    assert manifest["environment"]["python"] == "3.12"  # type: ignore[index]
    assert manifest["conda"] == {
        "channels": ["conda-forge"],
        "dependencies": ["python ==3.12.7 hc5c86c4_0_cpython", "cuda-version ==12.4 h3060b56_3"],
    }
    assert manifest["pypi"]["dependencies"] == ["tqdm==4.66.5"]  # type: ignore[index]
    assert manifest["cuda"]["driver-floor"] == "550.54.14"  # type: ignore[index]


def test_relative_find_links_keep_pointing_at_the_same_directory(tmp_path: Path) -> None:
    """pip reads `-f ./wheels` from the requirements file's directory, mlenv from the
    manifest's: the path is rewritten so the lock finds the same wheel."""
    sub = tmp_path / "deploy"
    (sub / "wheels").mkdir(parents=True)
    shutil.copy(next((ROOT / "fixtures" / "golden" / "wheels").glob("*.whl")), sub / "wheels")
    (sub / "requirements.txt").write_text(
        "--index-url file:///nonexistent-mlenv-index/simple\n-f ./wheels\nhello==1.0\n"
    )
    result = run_mlenv(["init", "--from", "deploy/requirements.txt", "--name", "t"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert show(tmp_path)["pypi"]["find-links"] == ["deploy/wheels"]  # type: ignore[index]
    locked = run_mlenv(["lock"], tmp_path, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert locked.returncode == 0, locked.stderr
    (pin,) = load_lock((tmp_path / "mlenv.lock").read_text()).packages()
    assert pin[1].url == "deploy/wheels/hello-1.0-py3-none-any.whl"
