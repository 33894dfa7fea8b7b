"""Adversary pass 161: multi-CUDA wheels (bitsandbytes) and the generic-CUDA-extra rule.

Findings, each fixed where its rule lives:
- ``cuda-library-missing`` paired a bitsandbytes with whichever torch of the whole lock came
  last by version, across platforms: torch 2.8.0+cu129 on linux-64 beside bitsandbytes 0.46.0
  (no 12.9 library) passed when linux-aarch64 held a torch 2.9.0+cu126 (``rules.judge``'s
  ``together``, one group per platform);
- a conda ``pytorch`` (pytorch channel, conda-forge) was never the torch bitsandbytes follows,
  so bitsandbytes 0.43.0 beside a CUDA 12.4 conda pytorch passed (``multi._CONDA_NAMES``);
- verify with a checked driver and no CUDA target held bitsandbytes 0.50.2 (11.x|12.x|13.x) to
  CUDA 13's driver 580 and refused a 550 driver its 12.x libraries run on
  (``judge._oldest_major``);
- an extra naming a major with a separator (``cuda_13``, ``cuda-12x``: PEP 685 keeps the ``-``)
  was read as a generic CUDA extra, so jax-style per-major extras were a cuda-contradiction
  (``requires_said.generic_cuda_extra``);
- bitsandbytes up to 0.42.0 is one py3-none-any wheel whose libraries are all x86_64 ELF (read
  from PyPI's 0.42.0 wheel); pip installs it on aarch64 and mlenv judged it runnable there
  (the rows' ``machines``, held per platform in ``multi.unloadable``);
- ``mlenv diff --format markdown`` wrote a multi-CUDA label ``11.x|12.x|13.x`` unescaped into
  its table, splitting the row into extra columns (``diff._cell``).
Guards: hand-edited ``cuda`` labels of bitsandbytes, of torch and of a package without a row.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.cuda.multi import MultiCuda
from mlenv.cuda.requires_said import generic_cuda_extra
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract, extract_conda
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.diff import compare, render_markdown
from mlenv.judge import Judged, verify_lock
from mlenv.lockfile import Lock, LockedPackage
from mlenv.target import Target
from tests.support.cli import run_mlenv
from tests.support.locks import HASH, codes, locked, make_lock
from tests.support.wheels import build_wheel, write_simple_index

BNB = "bitsandbytes-{}-py3-none-manylinux_2_24_{}.whl"
MARKERS = Target("linux-64", "3.11", "2.28").markers


def bnb(version: str, machine: str = "x86_64", cuda: str | None = None) -> LockedPackage:
    need = extract("bitsandbytes", version, BNB.format(version, machine))
    assert need is not None
    return locked(
        "bitsandbytes", version, cuda or need.label, filename=BNB.format(version, machine)
    )


def torch(version: str) -> LockedPackage:
    need = extract("torch", version)
    assert need is not None
    return locked("torch", version, need.label)


def two_platform_lock(x86: list[LockedPackage], arm: list[LockedPackage], cuda: str) -> Lock:
    return make_lock(x86, cuda, "575.51.03", aarch64=arm)


def missing(lock: Lock) -> list[str]:
    return [
        f.message
        for f in verify_lock(lock, HASH, None).findings
        if f.code == "cuda-library-missing"
    ]


def test_bitsandbytes_is_held_to_the_torch_of_its_own_platform() -> None:
    """linux-64's torch cu129 has no 12.9 library in bitsandbytes 0.46.0, whatever torch the
    aarch64 half of the lock holds (it sorted last and hid it)."""
    lock = two_platform_lock(
        [torch("2.8.0+cu129"), bnb("0.46.0")],
        [torch("2.9.0+cu126"), bnb("0.46.0", "aarch64")],
        "12.9",
    )
    said = missing(lock)
    assert len(said) == 1 and "torch 2.8.0+cu129 is built for (12.9)" in said[0]


def test_a_torch_of_another_platform_is_no_torch_of_this_bitsandbytes() -> None:
    """bitsandbytes only where torch cu126 is: the cu129 torch of the other platform never
    loads it."""
    lock = two_platform_lock(
        [torch("2.8.0+cu129")], [torch("2.9.0+cu126"), bnb("0.46.0", "aarch64")], "12.9"
    )
    assert missing(lock) == []


def test_one_pair_on_two_platforms_is_said_once() -> None:
    lock = two_platform_lock(
        [torch("2.8.0+cu129"), bnb("0.46.0")],
        [torch("2.8.0+cu129"), bnb("0.46.0", "aarch64")],
        "12.9",
    )
    assert len(missing(lock)) == 1


TARGET = CudaTarget(CudaVersion(12, 4), DriverVersion.parse("550.54.14"))


@pytest.mark.parametrize(
    ("build", "depends"),
    [
        ("py3.11_cuda12.4_cudnn9.1.0_0", ("pytorch-cuda 12.4.*",)),  # the pytorch channel
        ("cuda124_generic_py311_h0000000_300", ("cuda-version >=12.4,<13",)),  # conda-forge
    ],
)
def test_a_conda_pytorch_is_the_torch_bitsandbytes_follows(
    build: str, depends: tuple[str, ...]
) -> None:
    """bitsandbytes 0.43.0 ships libraries up to CUDA 12.3 and loads torch.version.cuda's
    exactly: beside a CUDA 12.4 conda pytorch its GPU functions fail."""
    pytorch = extract_conda("pytorch", "2.5.1", build, depends, ())
    assert pytorch is not None and pytorch.cuda == CudaVersion(12, 4)
    bits = extract("bitsandbytes", "0.43.0", BNB.format("0.43.0", "x86_64"))
    assert bits is not None
    found = judge(
        TARGET,
        [PackageNeed("bitsandbytes", "0.43.0", bits), PackageNeed("pytorch", "2.5.1", pytorch)],
    )
    assert [f.code for f in found] == ["cuda-library-missing"]
    assert "pytorch 2.5.1 is built for (12.4)" in found[0].message


@pytest.mark.parametrize(
    ("version", "driver", "refused"),
    [
        ("0.50.2", "550.54.14", False),  # its 12.x libraries run on a CUDA 12 driver
        ("0.50.2", "450.80.02", False),  # and its 11.8 one on CUDA 11's compat floor
        ("0.50.2", "440.33.01", True),  # below every major it ships
        ("0.45.5", "525.60.13", False),
        ("0.45.5", "418.39", True),
    ],
)
def test_a_checked_driver_is_held_to_the_oldest_major_bitsandbytes_ships(
    version: str, driver: str, refused: bool
) -> None:
    """verify --driver of a lock with no CUDA target: a multi-CUDA wheel runs on a driver of
    any major it ships a library for (the torch beside it is judged on its own)."""
    lock = make_lock([bnb(version)], cuda=None, floor=None)
    verdict = verify_lock(lock, HASH, Judged(driver, "--driver"))
    below = [f for f in verdict.findings if f.package == "bitsandbytes" and f.severity == "error"]
    assert bool(below) is refused, below
    assert all(f.code == "driver-below-package" for f in below)


# Extras naming one CUDA major, however a project spells the separator (PEP 685: "-")
_MAJOR_EXTRA = st.builds(
    lambda head, sep, major, x, tail: f"{head}cuda{sep}{major}{x}{tail}",
    st.sampled_from(["", "with-", "gpu_", "And."]),
    st.sampled_from(["", "-", "_", ".", "--"]),
    st.integers(10, 13),
    st.sampled_from(["", "x", "X"]),
    st.sampled_from(["", "-local", "_pip", ".full"]),
)


@given(_MAJOR_EXTRA)
def test_an_extra_naming_a_major_is_a_choice_of_build_not_a_claim(extra: str) -> None:
    assert not generic_cuda_extra(extra)
    requires = [
        "nvidia-cuda-runtime-cu12==12.8.90",
        f'nvidia-cuda-runtime~=13.0; extra == "{extra}"',
    ]
    need = extract(
        "foo", "1.0", "foo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", requires, "", MARKERS
    )
    assert need is not None and need.cuda.major == 12 and need.conflicts == ()


@pytest.mark.parametrize(
    "extra", ["cuda", "with_cuda", "And-CUDA", "cudnn", "cuda-tools", "gpu.cuda"]
)
def test_a_generic_cuda_extra_of_another_major_still_contradicts(extra: str) -> None:
    requires = [
        "nvidia-cuda-runtime-cu12==12.8.90",
        f'nvidia-cuda-runtime~=13.0; extra == "{extra}"',
    ]
    need = extract(
        "foo", "1.0", "foo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", requires, "", MARKERS
    )
    assert need is not None and [c.cuda.major for c in need.conflicts] == [13]


def test_a_multi_cuda_label_keeps_the_markdown_diff_table_whole() -> None:
    """Each row of the changed-packages table has the header's columns."""
    old = make_lock([torch("2.5.1+cu124")])
    new = make_lock([torch("2.5.1+cu124"), bnb("0.50.2")])
    changed = make_lock([torch("2.5.1+cu124"), bnb("0.45.5")])
    for before, after in ((old, new), (new, changed)):
        text = render_markdown(compare(before, after, "old", "new"))
        rows = [line for line in text.splitlines() if line.startswith("|")]
        cells = {len(re.split(r"(?<!\\)\|", row)) for row in rows}
        assert len(rows) >= 3 and len(cells) == 1, text
        assert "11.x\\|12.x" in text


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        (bnb("0.45.5", cuda="13.x"), "lock-cuda-mismatch"),
        (bnb("0.45.5", cuda="12.x|13.x"), "lock-cuda-mismatch"),
        (bnb("0.45.5", cuda="11.x|12.x|13.x"), "lock-cuda-mismatch"),
        (bnb("0.50.2", cuda="12.x"), "lock-cuda-mismatch"),
        (locked("numpy", "2.1.0", "11.x|12.x"), "lock-cuda-unreadable"),
        (locked("torch", "2.5.1+cu124", "11.x|12.x|13.x"), "lock-cuda-mismatch"),
        (locked("torch", "2.5.1", "12.x|13.x"), "lock-cuda-unreadable"),
    ],
)
def test_a_hand_edited_cuda_label_is_caught(entry: LockedPackage, code: str) -> None:
    lock = make_lock([entry], requires_driver=None)
    assert ("error", code, entry.name) in codes(verify_lock(lock, HASH, None))


def test_an_x86_64_only_bitsandbytes_is_refused_on_aarch64() -> None:
    """0.42.0's one wheel is py3-none-any with x86_64 libraries: fine on linux-64, none loads
    on linux-aarch64; 0.46.0 has an aarch64 wheel of its own."""
    old = "bitsandbytes-0.42.0-py3-none-any.whl"
    lock = two_platform_lock(
        [locked("bitsandbytes", "0.42.0", "11.x|12.x", filename=old)],
        [locked("bitsandbytes", "0.42.0", "11.x|12.x", filename=old)],
        "12.4",
    )
    said = missing(lock)
    assert len(said) == 1 and "built for x86_64 only, none for aarch64" in said[0]
    newer = two_platform_lock([bnb("0.46.0")], [bnb("0.46.0", "aarch64")], "12.4")
    assert missing(newer) == []


def test_a_lock_of_an_x86_64_only_bitsandbytes_for_aarch64_is_refused(tmp_path: Path) -> None:
    """End to end: the resolver takes the py3-none-any wheel for both platforms, as pip does;
    the lock fails naming the platform it has no library for."""
    wheel = build_wheel("bitsandbytes", "0.42.0", files={"bitsandbytes/__init__.py": b""})
    index = write_simple_index(tmp_path / "feeds" / "pypi.org", [wheel])
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "gpu"\npython = "3.11"\nglibc = "2.28"\n'
        'platforms = ["linux-64", "linux-aarch64"]\n'
        '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["bitsandbytes==0.42.0"]\n'
    )
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode != 0, result.stderr
    assert "built for x86_64 only, none for aarch64" in result.stderr
    assert not (root / "mlenv.lock").exists()


ROWS = [
    row
    for row in json.loads((resources.files("mlenv") / "data" / "gpu_packages.json").read_text())[
        "packages"
    ]
    if row["cuda"] == "multi"
]
MACHINES = {"linux-64": "x86_64", "linux-aarch64": "aarch64"}
_CUDAS = st.builds(CudaVersion, st.integers(11, 13), st.integers(0, 9))
_PLATFORM = st.tuples(st.none() | st.sampled_from(ROWS), st.none() | _CUDAS)


def _expected(row: dict[str, object], cuda: CudaVersion | None, machine: str) -> bool:
    """Whether bitsandbytes of ``row`` loads no library beside a torch for ``cuda``, by the
    row's facts restated: its CPUs, its builds and its loader."""
    machines = row.get("machines") or [machine]
    assert isinstance(machines, list)
    if machine not in machines:
        return True
    if cuda is None:
        return False
    builds = {CudaVersion.parse(str(b)) for b in row["builds"]}  # type: ignore[attr-defined]
    same = row["loader"] == "same-major" and any(b.major == cuda.major for b in builds)
    return cuda not in builds and not same


@given(st.fixed_dictionaries(dict.fromkeys(MACHINES, _PLATFORM)))
def test_each_platform_is_judged_by_its_own_packages(
    platforms: dict[str, tuple[dict[str, object] | None, CudaVersion | None]],
) -> None:
    """Any bitsandbytes release and torch build per platform: a finding exactly for each
    platform whose bitsandbytes loads no library there, each said once."""
    together: dict[str, list[PackageNeed]] = {}
    expected = set()
    for platform, (row, cuda) in platforms.items():
        group = together.setdefault(platform, [])
        if cuda is not None:
            cu = f"cu{cuda.major}{cuda.minor}"
            need = extract("torch", f"2.8.0+{cu}")
            assert need is not None and need.cuda == cuda
            group.append(PackageNeed("torch", f"2.8.0+{cu}", need))
        if row is not None:
            version = str(row["example_version"])
            bits = extract("bitsandbytes", version, BNB.format(version, MACHINES[platform]))
            assert bits is not None and isinstance(bits.multi, MultiCuda)
            group.append(PackageNeed("bitsandbytes", version, bits))
            if _expected(row, cuda, MACHINES[platform]):
                expected.add(version)
    needs = list(dict.fromkeys(item for group in together.values() for item in group))
    found = [f for f in judge(TARGET, needs, together) if f.code == "cuda-library-missing"]
    assert {f.message.split()[1] for f in found} == expected
    assert len({f.message for f in found}) == len(found)
