"""Attack 64: which wheel file of a release the lock takes for a target, held to pip's choice.

pip (``pip install --dry-run --no-deps --only-binary=:all: --platform ... --report``) is the
reference: the recorded answers over real release pages (``fixtures/wheel_choice``, with the
command and pip version that made them) are checked for every target of the grid, and a live
pip run on a sample keeps the recording from rotting. The one deliberate difference (plain
``linux_<arch>`` ranked last of all) is asserted as such; README "Locking for the target"
says why.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from packaging.markers import default_environment

from mlenv.target import Target
from tests.support.wheel_choice import mlenv_choice, pip_choices, write_pages

_RECORDED = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "wheel_choice" / "pip_choices.json").read_text()
)
_PAGES = {r["project"]: r["filenames"] for r in _RECORDED["releases"]}
_REQUIREMENTS = [f"{r['project']}=={r['version']}" for r in _RECORDED["releases"]]

_BUILD_TAGS = [
    "buildtag-2.0-1-cp312-cp312-manylinux_2_17_x86_64.whl",
    "buildtag-2.0-2-cp312-cp312-manylinux_2_17_x86_64.whl",
    "buildtag-2.0-10-cp312-cp312-manylinux_2_17_aarch64.whl",
    "buildtag-2.0-9-cp312-cp312-manylinux_2_17_aarch64.whl",
    "buildtag-2.0-cp311-cp311-manylinux_2_17_x86_64.whl",
    "buildtag-2.0-1-cp311-cp311-manylinux_2_17_x86_64.whl",
    "buildtag-2.0-1a-cp310-cp310-manylinux_2_17_x86_64.whl",
    "buildtag-2.0-1b-cp310-cp310-manylinux_2_17_x86_64.whl",
]
# real-world tag shapes mlenv and pip must read alike (compressed sets, abi3 of an older
# minor, free-threaded, debug, PyPy, musllinux, a floor above the target's, another project's
# wheel and another release's on the page, non-normalised names)
_SHAPES = [
    "synth-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "synth-1.0-cp39-abi3-manylinux_2_28_aarch64.whl",
    "synth-1.0-cp313-cp313t-manylinux_2_17_x86_64.whl",
    "synth-1.0-cp311-cp311d-manylinux_2_17_x86_64.whl",
    "synth-1.0-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl",
    "synth-1.0-cp312-cp312-musllinux_1_2_x86_64.whl",
    "synth-1.0-cp312-cp312-manylinux_2_34_x86_64.whl",
    "synth-1.0-cp313-cp313-manylinux_2_39_x86_64.whl",
    "synth-1.0-cp312-cp312-macosx_11_0_arm64.whl",
    "synth-1.0-cp312-cp312-win_amd64.whl",
    "other-1.0-cp310-cp310-manylinux_2_17_x86_64.whl",
    "synth-1.1-cp310-cp310-manylinux_2_17_x86_64.whl",
    "Synth-1.0.0-cp313-none-manylinux_2_17_x86_64.whl",
]
_PLAIN = ["plain-1.0-cp311-cp311-linux_x86_64.whl", "plain-1.0-py3-none-any.whl"]
# the PyTorch index's shapes: CUDA and CPU local versions of one release tagged plain linux
# (no CUDA policy here: the highest local version, as pip; mlenv's CUDA rules rank them)
_LOCALS = [
    "torchlike-2.5.1+cu124-cp311-cp311-linux_x86_64.whl",
    "torchlike-2.5.1+cpu-cp311-cp311-linux_x86_64.whl",
    "torchlike-2.5.1+cu121-cp311-cp311-linux_aarch64.whl",
    "torchlike-2.5.1-cp311-cp311-manylinux1_x86_64.whl",
    "torchlike-2.5.1-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
    "torchlike-2.5.1+cu124-cp311-cp311-win_amd64.whl",
]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> str:
    pages = {
        **_PAGES,
        "buildtag": _BUILD_TAGS,
        "synth": _SHAPES,
        "plain": _PLAIN,
        "torchlike": _LOCALS,
    }
    return write_pages(tmp_path_factory.mktemp("pages"), pages)


def _target(answer: dict[str, object]) -> Target:
    return Target(str(answer["platform"]), str(answer["python"]), str(answer["glibc"]))


def test_the_recording_covers_real_releases_and_the_whole_grid() -> None:
    assert len(_RECORDED["releases"]) >= 10
    assert sum(len(r["filenames"]) for r in _RECORDED["releases"]) >= 400
    grid = {(a["platform"], a["python"], a["glibc"]) for a in _RECORDED["answers"]}
    assert len(grid) == 40
    picked = [f for a in _RECORDED["answers"] for f in a["pip"].values() if f is not None]
    refused = [f for a in _RECORDED["answers"] for f in a["pip"].values() if f is None]
    assert picked and refused  # both a chosen file and "nothing installable" are held


def test_mlenv_takes_pips_recorded_wheel_on_every_target(index: str) -> None:
    wrong = [
        (answer["platform"], answer["python"], answer["glibc"], req, mine, theirs)
        for answer in _RECORDED["answers"]
        for req, theirs in answer["pip"].items()
        if (mine := mlenv_choice(index, req, _target(answer))) != theirs
    ]
    assert wrong == []


@pytest.mark.parametrize(
    "target",
    [
        Target("linux-aarch64", "3.12", "2.28"),
        Target("linux-64", "3.10", "2.17"),
        Target("linux-64", "3.11", "2.35"),
        Target("linux-aarch64", "3.11", "2.17"),
        Target("linux-64", "3.13", "2.31"),
    ],
    ids=str,
)
def test_live_pip_still_makes_the_recording_and_agrees_on_hostile_shapes(
    index: str, target: Target, tmp_path: Path
) -> None:
    """The recording is re-made live for one target (so it cannot rot), and the synthetic
    pages (build tags, odd tag shapes, local versions on plain linux) are held to pip."""
    hostile = ["buildtag==2.0", "synth==1.0", "torchlike==2.5.1"]
    requirements = [*_REQUIREMENTS, *hostile]
    live = pip_choices(index, requirements, target, tmp_path)
    (recorded,) = [a for a in _RECORDED["answers"] if _target(a) == target]
    assert {r: live[r] for r in _REQUIREMENTS} == recorded["pip"]
    for requirement in hostile:
        assert mlenv_choice(index, requirement, target) == live[requirement], requirement


@pytest.mark.parametrize(
    ("python", "machine", "build"), [("3.12", "x86_64", "2"), ("3.11", "x86_64", "1"),
                                     ("3.12", "aarch64", "10"), ("3.10", "x86_64", "1b")],
)  # fmt: skip
def test_the_highest_build_tag_is_taken(index: str, python: str, machine: str, build: str) -> None:
    platform = "linux-64" if machine == "x86_64" else "linux-aarch64"
    chosen = mlenv_choice(index, "buildtag==2.0", Target(platform, python, "2.28"))
    assert chosen is not None and chosen.startswith(f"buildtag-2.0-{build}-")


def test_plain_linux_wheels_rank_last_unlike_pip(index: str, tmp_path: Path) -> None:
    """Deliberate (README "Locking for the target"): a plain linux_x86_64 wheel promises no
    glibc floor, so mlenv takes the pure wheel; pip takes the CPython-specific one."""
    target = Target("linux-64", "3.11", "2.28")
    pip = pip_choices(index, ["plain==1.0"], target, tmp_path)
    assert pip == {"plain==1.0": "plain-1.0-cp311-cp311-linux_x86_64.whl"}
    assert mlenv_choice(index, "plain==1.0", target) == "plain-1.0-py3-none-any.whl"


def test_target_markers_name_every_key_packaging_knows() -> None:
    """mlenv evaluates markers from Target.markers alone; a key packaging's environment has and
    the target lacks would be read from the running interpreter or fail."""
    for target in (Target("linux-64", "3.9", "2.17"), Target("linux-aarch64", "3.13", "2.35")):
        assert set(target.markers) == set(default_environment())
        assert target.markers["python_full_version"] == f"{target.python}.0"  # the oldest patch
        assert target.markers["platform_machine"] == target.machine


def test_target_markers_are_what_this_linux_cpython_reports_but_the_patch_and_kernel() -> None:
    """packaging's environment of the interpreter running the tests is the reference for a
    target of the same minor and machine: every key agrees except the patch release (the
    target assumes .0, README "Locking for the target") and the kernel's release and version
    (unknown for a target: empty)."""
    host = {key: str(value) for key, value in default_environment().items()}
    assert host["sys_platform"] == "linux" and host["implementation_name"] == "cpython"
    platform = {"x86_64": "linux-64", "aarch64": "linux-aarch64"}[host["platform_machine"]]
    target = Target(platform, f"{sys.version_info.major}.{sys.version_info.minor}")
    differ = {key for key, value in target.markers.items() if host[key] != value}
    assert differ <= {"python_full_version", "implementation_version", "platform_release",
                      "platform_version"}  # fmt: skip
    assert host["python_full_version"].startswith(f"{target.python}.")


def test_a_tie_pip_breaks_by_page_order_is_broken_by_filename(tmp_path: Path) -> None:
    """Deliberate (README "Locking for the target"): two wheels of one release that differ in
    nothing pip ranks (the version spelled 1.0 and 1.0.0): pip 26 takes the last on the page;
    mlenv takes the same one whatever order the index lists them in, so a lock does not change
    when a mirror reorders its page."""
    names = ["tie-1.0.0-py3-none-any.whl", "tie-1.0-py3-none-any.whl"]
    target = Target("linux-64", "3.11", "2.28")
    for order in (names, names[::-1]):
        url = write_pages(tmp_path / order[0], {"tie": order})
        assert pip_choices(url, ["tie==1.0"], target, tmp_path) == {"tie==1.0": order[-1]}
        assert mlenv_choice(url, "tie==1.0", target) == min(names)
