"""Attack 210: the a208 hints and exit-14 reading, the a209 channel spellings. A channel path
holding a backslash (``./x\\..\\..\\shared\\chan``) was judged by the import and held by the
roots as one name below the project, while rattler, which makes the path a file: URL, reads
``\\`` as ``/`` and opened ``../shared/chan``, a directory anyone may write; a ``.`` or ``..``
in a Windows spelling (``\\\\a\\b\\..\\c``, ``C:/a/../../etc``) was resolved by mlenv and
dropped or made a host by rattler. An aarch64 torch refused for a GPU no aarch64 build
carries was told to run it on x86_64 hosts when any x86_64 row carried it, whatever its CUDA:
x86_64's CUDA 12.8 torch carries no sm_60, its CUDA 12.6 builds do."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.conda.channel_paths import channel_path
from mlenv.conda.records import CondaError
from tests.support.channel_projects import (
    libgomp_channel,
    libgomp_manifest,
    refused_channel_import,
)
from tests.support.cli import run_mlenv
from tests.support.cuda_verdicts import aarch64_arch_hint

pytestmark = pytest.mark.hostile


def _shared_channel(tmp_path: Path) -> Path:
    """A channel in a directory anyone may write, beside the project."""
    shared = tmp_path / "shared"
    libgomp_channel(shared / "chan")
    shared.chmod(0o777)
    project = tmp_path / "project"
    project.mkdir()
    return project


# --- a backslash in a channel path ---------------------------------------------------------------

_BACKSLASHED = ["./x\\..\\..\\shared\\chan", "./x/..\\..\\shared/chan", "..\\shared\\chan"]


@pytest.mark.parametrize("channel", _BACKSLASHED)
def test_init_from_refuses_a_backslash_in_a_channel_path(tmp_path: Path, channel: str) -> None:
    """The judge read ``<project>/x\\..\\..\\shared\\chan`` as one missing name in the project
    (yours) and wrote the channel; rattler reads ``<tmp>/shared/chan``, which anyone may
    write."""
    project = _shared_channel(tmp_path)
    path, refused = refused_channel_import(project, channel)
    [problem] = refused.problems
    assert problem.where == f"{path}: channel {channel}"
    assert "holds a backslash, which rattler reads as '/'" in problem.message
    assert "'/' between its names" in str(problem.hint)


@pytest.mark.parametrize("channel", _BACKSLASHED)
def test_lock_refuses_a_backslash_in_a_channel_path(tmp_path: Path, channel: str) -> None:
    """mlenv.toml took the channel, and lock solved from the shared directory rattler read,
    the manifest's roots holding a name that is not there."""
    project = _shared_channel(tmp_path)
    (project / "mlenv.toml").write_text(libgomp_manifest(channel))
    done = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "c")})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "holds a backslash, which rattler reads as '/'" in done.stderr
    assert not (project / "mlenv.lock").exists()


@pytest.mark.parametrize("channel", ["\\\\a\\b\\..\\c", "\\\\..\\x", "C:/a/../../etc", "C:\\.\\x"])
def test_a_dot_name_in_a_windows_channel_is_refused(tmp_path: Path, channel: str) -> None:
    """rattler reads ``\\\\a\\b\\..\\c`` as ``file://a/b/c`` and ``C:/a/../../etc`` as
    ``/C:/etc``; mlenv judged ``./a/c`` and ``/etc``."""
    (tmp_path / "mlenv.toml").write_text(libgomp_manifest(channel.replace("\\", "\\\\")))
    done = run_mlenv(["lock"], tmp_path, {"MLENV_CACHE_DIR": str(tmp_path / "c")})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "names '.' or '..' in a Windows path" in done.stderr


def test_the_windows_spellings_without_dots_are_still_read(tmp_path: Path) -> None:
    assert channel_path("\\\\a\\b") == ".//a/b"
    assert channel_path("c:\\x") == "/C:/x"  # rattler's drive letter is upper case


_WINDOWS = re.compile(r"\\\\|[A-Za-z]:[/\\]")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="./\\a~C:[]", max_size=14))
def test_a_channel_path_names_what_rattler_reads(spelled: str) -> None:
    """Any directory mlenv takes a channel for holds no backslash (rattler's ``/``) and, from
    a Windows spelling, no ``.`` or ``..`` name past its start (which rattler drops)."""
    try:
        place = channel_path(spelled)
    except CondaError:
        return
    if place is None or "://" in place:
        return
    assert "\\" not in place
    if _WINDOWS.match(spelled):
        names = place.removeprefix("./").split("/")
        assert "." not in names and ".." not in names, place


# --- the hint of an aarch64 arch refusal ---------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "arch"),
    [("2.7.0+cu128", "sm_60"), ("2.9.0+cu128", "sm_61"), ("2.9.0+cu128", "sm_52")],
)
def test_an_arch_hint_names_no_machine_whose_build_for_this_cuda_lacks_the_gpu(
    version: str, arch: str
) -> None:
    """Input: aarch64 torch +cu128, a P100 (sm_60) fleet. Before: "run the sm_60 GPUs on
    x86_64 (linux-64) hosts, whose builds carry it", from x86_64's CUDA 12.6 row, while its
    CUDA 12.8 builds start at sm_70. Now: no machine is named, and the way out is another
    [cuda] version or dropping the GPU."""
    hint = aarch64_arch_hint(version, arch)
    assert "x86_64" not in hint, hint
    assert f"nor does another machine's CUDA 12.8 build of torch {version}" in hint
    assert f"drop {arch} from the fleet, or lock a [cuda] version" in hint


def test_an_arch_hint_still_names_the_machine_whose_build_carries_the_gpu() -> None:
    assert "run the sm_75 GPUs on x86_64 (linux-64) hosts" in aarch64_arch_hint(
        "2.7.0+cu128", "sm_75"
    )
