"""Adversary pass 79: WSL 2 leftovers of pass 71, and `mlenv init --from` leftovers of pass 75.

WSL 2 (shared/reference/cuda.md): nvidia-smi on WSL 2 prints the *Windows* host's driver, which
Table 3's Windows column ranks (cuda.md §1), and Table 2's Windows minor-version compatibility
floors are 452.39 for 11.x and 527.41 for 12.x (cuda.md §2). §2 notes a conflicting 528.33 for
12.x (uv, TensorFlow pip.md, the 12.0 *Update 1* Table 3 row); 527.41 is the value of NVIDIA's
own minor-version compatibility guide (the primary source §2 cites, "confirmed" per the header)
and of Table 3's 12.0 GA row, the first 12.x toolkit, so it is followed here. For 13.x the
Windows column is N/A (§1); nvidia-smi's "CUDA Version" is the newest CUDA the driver supports
(§4) and is what the container runtime compares (§7), so it decides there.

Pass 71 taught the target judgement the Windows columns; a lock with *no* CUDA target still
judged each package's need on a WSL host by the Linux column, and a newer-minor package on a
WSL 13.x target was "driver-unconfirmed" even when the reported CUDA Version covered it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlenv.cuda.versions import DriverVersion
from mlenv.importers.core import ImportFileError, read_requirements
from mlenv.importers.pixi import read_pixi
from mlenv.importers.poetry_constraints import PoetryConstraintError, translate
from mlenv.judge import Judged, verify_lock
from mlenv.lockfile import Lock
from mlenv.manifest_read import loads
from tests.support.cli import run_mlenv
from tests.support.locks import HASH, codes, locked, make_lock

# (torch local tag, Table 3 GA Linux, Table 3 GA Windows): typed from cuda.md §1
TORCH_ROWS = [
    ("cu129", "575.51.03", "576.02"),
    ("cu128", "570.26", "570.65"),
    ("cu126", "560.28.03", "560.76"),
    ("cu124", "550.54.14", "551.61"),
    ("cu121", "530.30.02", "531.14"),
    ("cu118", "520.61.05", "520.06"),
    ("cu117", "515.43.04", "516.01"),
    ("cu113", "465.19.01", "465.89"),
    ("cu111", "455.23", "456.38"),
    ("cu102", "440.33", "441.22"),
]
# Table 2 minor-version compatibility floors, cuda.md §2: (Linux, Windows)
MAJOR_FLOORS = {"cupy-cuda11x": ("450.80.02", "452.39"), "cupy-cuda12x": ("525.60.13", "527.41")}


def _untargeted(name: str, version: str) -> Lock:
    return make_lock([locked(name, version)], cuda=None, floor=None, requires_driver=None)


def _errors(lock: Lock, judged: Judged) -> list[tuple[str, str, str]]:
    return [c for c in codes(verify_lock(lock, HASH, judged)) if c[0] == "error"]


def _wsl(driver: str, cuda: str = "") -> Judged:
    return Judged(driver, "nvidia-smi", cuda=cuda, windows=True)


def test_an_untargeted_cu124_torch_on_wsl_is_ranked_by_the_windows_column() -> None:
    """12.4 GA: Linux >= 550.54.14, Windows >= 551.61. Windows 551.23 passed by Linux's."""
    lock = _untargeted("torch", "2.6.0+cu124")
    verdict = verify_lock(lock, HASH, _wsl("551.23"))
    assert [(f.code, f.needs) for f in verdict.findings if f.severity == "error"] == [
        ("driver-below-package", "driver >= 551.61")
    ]
    message = next(f.message for f in verdict.findings if f.severity == "error")
    assert "the Windows driver is 551.23 (checked, WSL 2)" in message
    assert _errors(lock, _wsl("551.61")) == []
    assert _errors(lock, Judged("551.23", "nvidia-smi")) == []  # a Linux 551.23 is enough


@pytest.mark.parametrize(("tag", "linux", "windows"), TORCH_ROWS)
def test_each_untargeted_torch_build_takes_its_own_column(
    tag: str, linux: str, windows: str
) -> None:
    lock = _untargeted("torch", f"2.0.0+{tag}")
    below = [("error", "driver-below-package", "torch")]
    assert _errors(lock, _wsl(windows)) == []
    assert _errors(lock, Judged(linux, "nvidia-smi")) == []
    assert _errors(lock, _wsl(_less(windows))) == below
    assert _errors(lock, Judged(_less(linux), "nvidia-smi")) == below


def _less(driver: str) -> str:
    parts = driver.split(".")
    if int(parts[-1]) > 0:
        return ".".join([*parts[:-1], str(int(parts[-1]) - 1).zfill(len(parts[-1]))])
    return f"{int(parts[0]) - 1}.99"


@settings(max_examples=120)
@given(
    row=st.sampled_from(TORCH_ROWS),
    major=st.integers(400, 600),
    minor=st.integers(0, 99),
    windows=st.booleans(),
)
def test_any_checked_driver_is_below_exactly_when_its_column_says(
    row: tuple[str, str, str], major: int, minor: int, windows: bool
) -> None:
    tag, linux, win = row
    driver = f"{major}.{minor:02d}"
    floor = DriverVersion.parse(win if windows else linux)
    judged = Judged(driver, "nvidia-smi", windows=windows)
    found = _errors(_untargeted("torch", f"2.0.0+{tag}"), judged)
    assert (found == [("error", "driver-below-package", "torch")]) == (
        DriverVersion.parse(driver) < floor
    )
    assert found in ([], [("error", "driver-below-package", "torch")])


@pytest.mark.parametrize("name", sorted(MAJOR_FLOORS))
def test_a_major_only_build_on_wsl_takes_table_2s_windows_floor(name: str) -> None:
    """cupy-cuda12x on WSL: 527.41 (cuda.md §2's primary value, not 528.33); Linux 525.60.13."""
    linux, windows = MAJOR_FLOORS[name]
    lock = _untargeted(name, "13.0.0")
    below = [("error", "driver-below-package", name)]
    assert _errors(lock, _wsl(windows)) == []
    assert _errors(lock, _wsl(_less(windows))) == below
    assert _errors(lock, _wsl(linux)) == below  # Linux's floor is below Windows'
    assert _errors(lock, Judged(linux, "nvidia-smi")) == []
    needs = [f.needs for f in verify_lock(lock, HASH, _wsl(linux)).findings]
    assert f"driver >= {windows}" in needs


@pytest.mark.parametrize(
    ("name", "version"), [("torch", "2.9.0+cu130"), ("cupy-cuda13x", "13.6.0")]
)
def test_an_untargeted_13x_build_on_wsl_is_judged_by_the_reported_cuda(
    name: str, version: str
) -> None:
    """Table 3's Windows column is N/A for 13.x (cuda.md §1); nvidia-smi's CUDA Version decides."""
    lock = _untargeted(name, version)
    assert _errors(lock, _wsl("581.15", cuda="13.0")) == []
    assert _errors(lock, _wsl("581.15", cuda="13.2")) == []
    assert _errors(lock, _wsl("576.02", cuda="12.9")) == [("error", "driver-below-package", name)]
    # without the reported number nothing ranks a Windows 13.x driver: refused, not guessed
    assert _errors(lock, _wsl("581.15")) == [("error", "driver-unconfirmed", name)]
    said = [f for f in verify_lock(lock, HASH, _wsl("581.15")).findings if f.severity == "error"]
    assert "no Windows driver" in said[0].message and "CUDA Version" in said[0].hint


def _wsl_13(package: str) -> Lock:
    return make_lock([locked("torch", package)], cuda="13.0", floor="580.65.06")


def test_a_newer_minor_build_on_a_wsl_13x_target_is_judged_by_the_reported_cuda() -> None:
    """A +cu132 torch on a 13.0 target: NVIDIA's example (cuda.md §2) is a driver reporting
    CUDA 13.0 running the 13.4 runtime only under minor-version compatibility, which the rules
    refuse for a newer minor (no PTX JIT); a driver reporting 13.2 supports 13.2 fully (§4)."""
    lock = _wsl_13("2.10.0+cu132")
    assert _errors(lock, _wsl("595.79", cuda="13.2")) == []
    assert _errors(lock, _wsl("595.79", cuda="13.3")) == []
    verdict = verify_lock(lock, HASH, _wsl("581.15", cuda="13.0"))
    assert [(f.code, f.needs) for f in verdict.findings if f.severity == "error"] == [
        ("cuda-newer-minor", "CUDA Version >= 13.2")
    ]
    assert "reports CUDA Version 13.0" in verdict.findings[0].message
    assert "reports CUDA Version 13.2 or newer" in verdict.findings[0].hint
    # not on WSL: Linux's Table 3 ranks the number (13.2 GA needs 595.45.04)
    assert _errors(lock, Judged("595.45.04", "nvidia-smi", cuda="13.2")) == []
    assert _errors(lock, Judged("581.15", "nvidia-smi", cuda="13.0")) == [
        ("error", "cuda-newer-minor", "torch")
    ]


# ---------------------------------------------------------------------------------------------
# `mlenv init --from`: Poetry. poetry-core's parse_single_constraint (src/poetry/core/
# constraints/version/parser.py) reads ``(?i)^v?[xX*](\.[xX*])*$`` as any version, and its
# BASIC_CONSTRAINT operators are ``<>|!=|>=?|<=?|==?``: no ``===``, so ``===1.2`` fails to parse.


@pytest.mark.parametrize("wild", ["*", "*.*", "*.*.*", "x", "X.x", "v*", "x.*.X"])
def test_every_poetry_spelling_of_any_version_is_any_version(wild: str) -> None:
    """``*.*`` was "'*' is not a version"."""
    assert translate(wild) == ""
    assert translate(f">=1.2, {wild}") == ">=1.2"
    assert translate(f"{wild} || ^2") == ""


@settings(max_examples=60)
@given(parts=st.lists(st.sampled_from(["*", "x", "X"]), min_size=1, max_size=5), v=st.booleans())
def test_any_wildcard_run_means_any_version(parts: list[str], v: bool) -> None:
    assert translate(("v" if v else "") + ".".join(parts)) == ""


@pytest.mark.parametrize("constraint", ["===1.2", ">=1.0, ===1.2", "=== 1.2"])
def test_arbitrary_equality_is_refused_as_poetry_refuses_it(constraint: str) -> None:
    with pytest.raises(PoetryConstraintError) as caught:
        translate(constraint)
    assert "no === operator" in str(caught.value)
    assert caught.value.hint == 'write "==1.2" (or "1.2") to pin the version'


def _init(tmp_path: Path, name: str, text: str, *extra: str) -> tuple[int, str]:
    (tmp_path / name).write_text(text)
    result = run_mlenv(["init", "--from", name, "--name", "p", *extra], tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stderr


def test_init_reads_a_star_star_poetry_dependency(tmp_path: Path) -> None:
    text = '[tool.poetry]\nname = "x"\n[tool.poetry.dependencies]\nnumpy = "*.*"\n'
    code, err = _init(tmp_path, "pyproject.toml", text)
    assert code == 0, err
    assert loads((tmp_path / "mlenv.toml").read_text()).pypi.dependencies == ("numpy",)


def test_init_refuses_a_poetry_triple_equals_naming_its_key(tmp_path: Path) -> None:
    text = '[tool.poetry]\nname = "x"\n[tool.poetry.dependencies]\nnumpy = "===1.2"\n'
    code, err = _init(tmp_path, "pyproject.toml", text)
    assert code == 1, err
    assert "numpy" in err and "'===1.2'" in err and 'hint: write "==1.2"' in err
    assert not (tmp_path / "mlenv.toml").exists()


# ---------------------------------------------------------------------------------------------
# requirements files: one project pinned twice. pip 20.3+ (resolvelib; pip's
# resolution/resolvelib/factory.py) keeps every root requirement and refuses a pair no version
# satisfies: "Cannot install numpy==1.0 and numpy==2.0 because these package versions have
# conflicting dependencies". "Double requirement given" is only the legacy resolver's.


def _read(tmp_path: Path, files: dict[str, str]) -> list[tuple[str, str]]:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    try:
        read_requirements(tmp_path / "requirements.txt")
    except ImportFileError as exc:
        return [(p.where.split("/")[-1], p.message) for p in exc.problems]
    return []


@pytest.mark.parametrize(
    ("first", "second"),
    [("numpy==1.0", "numpy==2.0"), ("Numpy==1.0", "numpy==2.0"), ("NumPy==1", "numpy===2"),
     ("num-py==1", "Num_Py==2"), ("numpy==1.0", "numpy>=2"), ("numpy<2", "numpy==2.0")],
)  # fmt: skip
def test_two_lines_no_version_satisfies_are_refused_naming_both(
    tmp_path: Path, first: str, second: str
) -> None:
    problems = _read(tmp_path, {"requirements.txt": f"{first}\nscipy\n{second}\n"})
    assert [where for where, _ in problems] == ["requirements.txt:3"]
    assert f"contradicts {first} at " in problems[0][1] and "requirements.txt:1" in problems[0][1]


def test_a_conflict_across_an_include_names_both_files(tmp_path: Path) -> None:
    files = {"requirements.txt": "numpy==1.0\n-r more.txt\n", "more.txt": "numpy==2.0\n"}
    problems = _read(tmp_path, files)
    assert [where for where, _ in problems] == ["more.txt:1"]
    assert "requirements.txt:1" in problems[0][1]


@pytest.mark.parametrize(
    "pair",
    [("numpy==1.0", "num_py==2.0"), ("numpy==1.0", "numpy==1.0.0"),
     ("torch==2.1", "torch==2.1+cu118"), ("numpy==1.0", "numpy"), ("numpy>=1", "numpy<2"),
     ("numpy==1.*", "numpy==1.2"),
     ("numpy==1.0; python_version<'3.9'", "numpy==2.0; python_version>='3.9'")],
)  # fmt: skip
def test_pairs_some_version_satisfies_or_markers_separate_are_kept(
    tmp_path: Path, pair: tuple[str, str]
) -> None:
    assert _read(tmp_path, {"requirements.txt": "\n".join(pair) + "\n"}) == []


VERSIONS = ["1.0", "1.0.0", "1.0+cu118", "1.0.post1", "1.1", "2.0", "2.0rc1", "2.0+cpu"]
# every version a pair below could share: each drawn one and its local variants
GRID = sorted({v for base in VERSIONS for v in (base, base.split("+")[0] + "+cu118",
                                                 base.split("+")[0] + "+cpu")})  # fmt: skip


@st.composite
def _requirement(draw: st.DrawFn, names: list[str]) -> str:
    version = draw(st.sampled_from(VERSIONS))
    local_ok = ["==", "===", "!="]
    operator = draw(st.sampled_from(local_ok if "+" in version else [*local_ok, ">=", "<", "~="]))
    return f"{draw(st.sampled_from(names))}{operator}{version}"


@settings(max_examples=200)
@given(one=_requirement(["numpy", "NumPy", "num-py"]), other=_requirement(["numpy", "num_py"]))
def test_a_pair_is_refused_exactly_when_a_pin_leaves_no_common_version(
    tmp_path_factory: pytest.TempPathFactory, one: str, other: str
) -> None:
    """packaging is the reference, over every version the pair could share: where one pins
    (== without a wildcard, or ===), refused exactly when the two name one PEP 503 project and
    no version satisfies both; two ranges are refused only when no version satisfies both
    (attack 260: when their bounds leave none; the rest is left to the resolver)."""
    first, second = Requirement(one), Requirement(other)
    pinned = any(s.operator in ("==", "===") for r in (first, second) for s in r.specifier)
    common = [v for v in GRID if all(r.specifier.contains(v, prereleases=True)
                                     for r in (first, second))]  # fmt: skip
    same = canonicalize_name(first.name) == canonicalize_name(second.name)
    problems = _read(tmp_path_factory.mktemp("pair"), {"requirements.txt": f"{one}\n{other}\n"})
    if pinned:
        assert bool(problems) == (same and not common), (one, other, problems)
    else:
        assert not problems or (same and not common), (one, other, problems)


def test_init_refuses_conflicting_pins_and_writes_nothing(tmp_path: Path) -> None:
    code, err = _init(tmp_path, "requirements.txt", "numpy==1.0\nNumpy==2.0\n")
    assert code == 1, err
    assert "requirements.txt:2: Numpy==2.0 contradicts numpy==1.0 at " in err
    assert "hint: keep one of the two lines" in err
    assert not (tmp_path / "mlenv.toml").exists()


@pytest.mark.parametrize(
    ("line", "option"),
    [("numpy --config-settings=a=b", "--config-settings"), ("numpy -C a=b", "-C"),
     ("numpy --global-option=--x", "--global-option"), ("numpy -Ca=b", "-C"),
     (f"numpy==1 --hash=sha256:{'a' * 64} --config-settings a=b", "--config-settings")],
)  # fmt: skip
def test_a_per_requirement_option_is_refused_with_what_to_do(
    tmp_path: Path, line: str, option: str
) -> None:
    """A --config-settings after a --hash was dropped silently (the line kept as its pin)."""
    code, err = _init(tmp_path, "requirements.txt", f"scipy\n{line}\n")
    assert code == 1, err
    assert f"requirements.txt:2: per-requirement options cannot be expressed: {option} in" in err
    assert "hint: mlenv locks built wheels and builds none: build the wheel" in err
    assert "[pypi].find-links" in err
    assert not (tmp_path / "mlenv.toml").exists()


# ---------------------------------------------------------------------------------------------
# pixi: a feature no selected environment has was left out without a word.

PIXI = """[workspace]
name = "x"
channels = ["conda-forge"]
platforms = ["linux-64"]
[dependencies]
python = "3.11.*"
[feature.cuda.dependencies]
cuda-version = "12.4.*"
[feature.lint.dependencies]
ruff = "*"
[environments]
gpu = ["cuda"]
"""


def test_features_left_out_are_named_with_the_group_that_selects_them(tmp_path: Path) -> None:
    (tmp_path / "pixi.toml").write_text(PIXI)
    notes = read_pixi(tmp_path / "pixi.toml", ()).notes
    assert (
        "feature(s) in no selected environment, not imported: "
        "cuda (--group cuda or --group gpu), lint (--group lint)"
    ) in notes
    chosen = read_pixi(tmp_path / "pixi.toml", ("gpu",))
    assert "cuda-version 12.4.*" in chosen.conda
    assert [n for n in chosen.notes if "not imported" in n] == [
        "feature(s) in no selected environment, not imported: lint (--group lint)"
    ]
    every = read_pixi(tmp_path / "pixi.toml", ("gpu", "lint")).notes
    assert not [n for n in every if "not imported" in n]


def test_a_redefined_default_environment_brings_its_features(tmp_path: Path) -> None:
    """pixi's `default` environment, when [environments] defines it, has those features."""
    (tmp_path / "pixi.toml").write_text(PIXI + 'default = ["lint"]\n')
    imported = read_pixi(tmp_path / "pixi.toml", ())
    assert any(spec.startswith("ruff") for spec in imported.conda)
    assert [n for n in imported.notes if "not imported" in n] == [
        "feature(s) in no selected environment, not imported: cuda (--group cuda or --group gpu)"
    ]


def test_init_prints_the_left_out_note_through_the_reporter(tmp_path: Path) -> None:
    code, err = _init(tmp_path, "pixi.toml", PIXI)
    assert code == 0, err
    assert "note: feature(s) in no selected environment, not imported: cuda (--group cuda" in err
    quiet = run_mlenv(["-q", "init", "--from", "pixi.toml", "--name", "q", "--force"], tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "not imported" not in quiet.stderr
