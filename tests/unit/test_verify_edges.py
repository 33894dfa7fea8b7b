"""verify's edges (issue 13): conda packages judged as lock judges them, the driver's name in
messages, the marks the lock carries, and driver versions read by one strict reader."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.conda.records import CondaRecord
from mlenv.cuda.needs import conda_need
from mlenv.cuda.versions import CudaError, DriverVersion
from mlenv.errors import ManifestError
from mlenv.host_text import (
    HostError,
    parse_driver_override,
    parse_smi_query,
    parse_sys_module_version,
)
from mlenv.judge import Judged, verify_lock
from mlenv.lockfile import LockedPlatform
from mlenv.manifest_read import loads as load_manifest
from tests.support.locks import HASH, codes, locked, make_lock


def conda(name: str, version: str, build: str, depends: tuple[str, ...] = ()) -> CondaRecord:
    return CondaRecord(
        name=name, version=version, build=build, build_number=0, subdir="linux-64",
        channel="https://conda.anaconda.org/conda-forge",
        url=f"https://conda.anaconda.org/conda-forge/linux-64/{name}-{version}-{build}.conda",
        filename=f"{name}-{version}-{build}.conda", sha256="e" * 64, md5="d" * 32, size=10,
        depends=depends,
    )  # fmt: skip


def with_conda(*records: CondaRecord, cuda: str = "12.4") -> object:
    lock = make_lock([], cuda=cuda)
    return dataclasses.replace(lock, platforms=(LockedPlatform("linux-64", (), records),))


PYTORCH_118 = conda("pytorch", "2.5.1", "cuda118_py311h0", ("cuda-version >=11.8,<12",))


def test_conda_packages_are_judged_by_verify_as_by_lock() -> None:
    """Was: verify skipped conda packages, so a CUDA 11.8 pytorch passed a CUDA 12.4 lock."""
    verdict = verify_lock(with_conda(PYTORCH_118), HASH, None)  # type: ignore[arg-type]
    assert ("error", "cuda-major-mismatch", "pytorch") in codes(verdict)
    need = conda_need(PYTORCH_118)
    assert need is not None and need.need.label == "11.8"


def test_conda_cuda_newer_than_the_driver_fails_for_a_checked_driver() -> None:
    record = conda("libcublas", "12.6.4.1", "h0", ("cuda-version >=12.6,<12.7",))
    lock = with_conda(record, cuda="12.6")
    verdict = verify_lock(lock, HASH, Judged("550.54.14", "--driver"))  # type: ignore[arg-type]
    assert ("error", "driver-below-toolkit", "") in codes(verdict)


def test_conda_record_that_disagrees_with_its_recorded_cuda_is_an_error() -> None:
    record = dataclasses.replace(PYTORCH_118, cuda="12.4")
    verdict = verify_lock(with_conda(record, cuda="11.8"), HASH, None)  # type: ignore[arg-type]
    assert ("error", "lock-cuda-mismatch", "pytorch") in codes(verdict)


def test_checked_driver_is_not_called_the_floor() -> None:
    lock = make_lock([locked("torch", "2.6.0+cu126")])
    floor = verify_lock(lock, HASH, None)
    checked = verify_lock(lock, HASH, Judged("550.54.14", "--driver"))
    (f,) = [f for f in floor.findings if f.code == "cuda-newer-minor"]
    (c,) = [f for f in checked.findings if f.code == "cuda-newer-minor"]
    assert f.message.endswith("but the driver floor is 550.54.14")
    assert c.message.endswith("but the driver is 550.54.14 (checked)")
    assert "or raise the driver floor to 560.28.03;" in f.hint
    assert "or upgrade the driver to 560.28.03;" in c.hint
    low = verify_lock(make_lock([]), HASH, Judged("535.104.05", "--driver"))
    (below,) = low.errors
    assert below.message.startswith("driver 535.104.05 (checked) is below 550.54.14")


def test_marks_are_reported_every_time() -> None:
    lock = make_lock([locked("torch", "2.6.0+cpu", cpu_ok=True), locked("lib", "1.1", yanked=True)])
    assert codes(verify_lock(lock, HASH, None)) == [
        ("warning", "cpu-build", "torch"),
        ("warning", "package-yanked", "lib"),
    ]


def test_unmarked_cpu_variant_in_a_cuda_lock_is_an_error() -> None:
    lock = make_lock([locked("torch", "2.6.0+cpu")])
    assert codes(verify_lock(lock, HASH, None)) == [("error", "cpu-fallback", "torch")]
    no_cuda = make_lock([locked("torch", "2.6.0+cpu")], cuda=None, floor=None)
    assert verify_lock(no_cuda, HASH, None).ok


# -- driver versions -----------------------------------------------------------------------

BAD = [
    "", " ", "\uff15\uff15\uff10", "\u0665\u0665\u0660", "550\u00b2", "\u2075\u2075\u2070",
    "+550", "-550", "550..1", ".550", "550.", "0550", "0", "550.54.14a", "550 54", "5_50",
    "550.54.14.1.2", "55000", "550.1234", "\u3000550.54.14", "550.54.14\u00a0",
]  # fmt: skip


@pytest.mark.parametrize("text", BAD)
def test_only_ascii_digits_are_driver_versions_everywhere(text: str) -> None:
    """One reader: the flag/variable reader, the manifest, the lock and the probes agree."""
    with pytest.raises(CudaError):
        DriverVersion.parse(text, trim=True)
    with pytest.raises(HostError):
        parse_driver_override(text)
    assert parse_sys_module_version(text + "\n") is None
    assert parse_smi_query(f"{text}, 8.6, NVIDIA A10\n") is None
    manifest = (
        '[environment]\nname = "x"\npython = "3.11"\n'
        f'[cuda]\nversion = "12.4"\ndriver-floor = "{text}"\n'
    )
    with pytest.raises(ManifestError, match="driver-floor"):
        load_manifest(manifest)


def test_padding_is_trimmed_only_where_text_comes_from_files_and_shells() -> None:
    assert str(DriverVersion.parse(" 550.54.14\n", trim=True)) == "550.54.14"
    assert parse_sys_module_version("550.54.14\n") == "550.54.14"
    with pytest.raises(CudaError):
        DriverVersion.parse(" 550.54.14\n")  # manifest and lock values are exact


@given(st.lists(st.integers(0, 999), min_size=0, max_size=3), st.integers(1, 9999))
def test_ascii_versions_round_trip(rest: list[int], major: int) -> None:
    text = ".".join([str(major), *(f"{n:02d}" for n in rest)])
    parsed = DriverVersion.parse(text)
    assert str(parsed) == text
    assert parse_driver_override(text) == text
    key = [major, *rest]
    while key and key[-1] == 0:
        key.pop()
    assert parsed.key == tuple(key)


@given(st.text(min_size=1, max_size=12))
def test_any_non_ascii_character_is_refused(text: str) -> None:
    if text.isascii():
        text += "\u0665"
    with pytest.raises(CudaError):
        DriverVersion.parse(text, trim=True)
    with pytest.raises(HostError):
        parse_driver_override(text)


@given(st.text(alphabet="0123456789.+- \t\n", max_size=16))
def test_accepts_exactly_the_documented_shape(text: str) -> None:
    """One driver, or the same driver on every line (nvidia-smi prints one line per GPU)."""
    lines = {line.strip(" \t\r") for line in text.split("\n")} - {""}
    one = lines.pop() if len(lines) == 1 else text.strip(" \t\r\n")
    shape = re.fullmatch(r"[1-9][0-9]{0,3}(?:\.[0-9]{1,3}){0,3}", one)
    try:
        DriverVersion.parse(text, trim=True)
    except CudaError:
        assert shape is None
    else:
        assert shape is not None
