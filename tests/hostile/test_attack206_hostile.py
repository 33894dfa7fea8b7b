"""Attack 206: today's changes on main, each pushed to fail open.

Found: ``errors.printable`` hid what ``redact`` knows and then cut, but a userinfo with no
scheme before it (``alice:<password>@proxy``) is hidden only by ``echoed.without_secrets``,
which the CLI applies to the message after the cut: a base image Env entry refused by
``config_problem`` (cut at 60 characters) showed the first 54 characters of its password,
whose '@' the cut had taken. ``printable`` now hides as the CLI does, then cuts.

Found: ``platforms.wheel_machine`` matched ``_aarch64`` as spelled, but packaging (the index's
reading, and pip's) lowercases a platform tag: a ``MANYLINUX_2_28_AARCH64`` torch was locked
for aarch64 and judged by x86_64's arch list. A compressed tag set naming both machines took
the first to match (x86_64), so an arm64 node did not judge it and a T4G fleet passed it. Now
``wheel_machines`` reads every machine in any case and ``framework_archs`` judges on each.

Found: ``verify --host`` passed a node whose nvidia-smi says "Failed to initialize NVML:
Insufficient Permissions" beside a loaded module: the user cannot open /dev/nvidiactl, nor
can CUDA. It is host-no-gpu now.

Held: every LazyPattern made lazy today answers as ``re.compile`` of its source.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import parse_wheel_filename

from mlenv import hints, manifest, overrides, target
from mlenv.conda import records
from mlenv.cuda import packages, versions
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.echoed import shown
from mlenv.index import wheelmeta
from mlenv.lazy_pattern import LazyPattern
from mlenv.oci.model import OciError
from mlenv.oci.read import read_base
from mlenv.platforms import wheel_machines
from tests.support.images import base_with
from tests.support.no_gpu_host import NO_GPU, judged_on, node

_PASSWORD = "Pw" + "q7Zr" * 20  # 82 characters: its '@' falls past any cut of 60


def _env(*entries: str) -> Callable[[dict[str, object]], None]:
    def change(config: dict[str, object]) -> None:
        config["config"] = {"Env": ["PATH=/usr/bin", *entries]}

    return change


@pytest.mark.parametrize(
    "entry",
    [
        f"HTTP_PROXY=alice:{_PASSWORD}@proxy.corp:3128\0",  # a NUL
        f"alice:{_PASSWORD}@proxy.corp:3128",  # no '='
        f"=alice:{_PASSWORD}@proxy.corp:3128",  # an empty name
        f"P=alice:{_PASSWORD}@proxy.corp:3128 " + "x" * 131072,  # past MAX_ARG_STRLEN
    ],
    ids=["nul", "no-equals", "empty-name", "too-long"],
)
def test_a_refused_base_env_entry_shows_no_password(
    small_image: Path, tmp_path: Path, entry: str
) -> None:
    """Before: ``'HTTP_PROXY=alice:Pwq7Zrq7Zr...'``; now ``***@proxy.corp:3128``."""
    base = base_with(small_image, tmp_path, _env(entry))
    with pytest.raises(OciError) as refused:
        read_base(base, platform="linux-64")
    said = shown(f"{refused.value.message}\n{refused.value.hint}")
    assert "config.Env[1]" in said
    assert _PASSWORD[:12] not in said
    assert "alice" not in said


# --- a wheel's machine, as the index and pip read its platform tag ----------------------------

_T4G = ("sm_75",)  # g5g: a T4G on Graviton, below the aarch64 torch's sm_80


def _torch(filename: str) -> PackageNeed:
    need = extract("torch", "2.9.0+cu128", filename)
    assert need is not None
    return PackageNeed.of_wheel("torch", "2.9.0+cu128", need, filename)


def _codes(need: PackageNeed, machine: str = "") -> list[str]:
    target = CudaTarget(CudaVersion(12, 8), DriverVersion.parse("570.26"), _T4G, machine=machine)
    return [f"{f.severity}:{f.code}" for f in judge(target, [need])]


@settings(max_examples=200, deadline=None)
@given(
    tag=st.sampled_from(
        [
            "manylinux_2_28_aarch64",
            "manylinux2014_aarch64",
            "linux_aarch64",
            "musllinux_1_2_aarch64",
            "manylinux_2_28_aarch64.manylinux_2_17_aarch64",
        ]
    ),
    flips=st.lists(st.booleans(), min_size=48, max_size=48),
)
def test_an_aarch64_torch_in_any_case_is_judged_by_the_aarch64_list(
    tag: str, flips: list[bool]
) -> None:
    """packaging (the index's reading, and pip's) lowercases a platform tag, so a wheel named
    ``...-MANYLINUX_2_28_AARCH64.whl`` is offered to, locked for and installed on aarch64.
    Before: ``wheel_machine`` matched ``_aarch64`` as spelled, read no machine, and the need
    fell back to x86_64: a T4G fleet passed the aarch64 cu128 torch. Now: arch-not-built."""
    spelled = "".join(c.upper() if flip else c for c, flip in zip(tag, flips * 2, strict=False))
    filename = f"torch-2.9.0+cu128-cp312-cp312-{spelled}.whl"
    read = {t.platform for t in parse_wheel_filename(filename)[3]}
    assert all(platform.endswith("_aarch64") for platform in read)  # the index's reading
    assert wheel_machines(filename) == ("aarch64",)
    assert _codes(_torch(filename)) == ["error:arch-not-built"]
    assert _codes(_torch(filename), machine="aarch64") == ["error:arch-not-built"]


@pytest.mark.parametrize(
    "tags",
    [
        "manylinux_2_28_x86_64.manylinux_2_28_aarch64",
        "manylinux_2_28_aarch64.manylinux_2_28_x86_64",
        "linux_x86_64.manylinux2014_aarch64",
    ],
)
def test_a_wheel_tagged_for_both_machines_is_judged_on_each(tags: str) -> None:
    """A compressed tag set naming both machines (PEP 425) is offered to, and installed on,
    both. Before: its machine was the first of mlenv's platforms to match, x86_64, so an arm64
    T4G node (``verify --nodes``) did not judge it at all and the fleet judged it by x86_64's
    list alone: both passed. Now each machine it names judges it by its own list."""
    filename = f"torch-2.9.0+cu128-cp312-cp312-{tags}.whl"
    read = {t.platform for t in parse_wheel_filename(filename)[3]}  # the index's reading
    assert {m for m in ("x86_64", "aarch64") if any(p.endswith(f"_{m}") for p in read)} == {
        "x86_64",
        "aarch64",
    }
    assert _codes(_torch(filename), machine="aarch64") == ["error:arch-not-built"]
    assert _codes(_torch(filename)) == ["error:arch-not-built"]
    assert _codes(_torch(filename), machine="x86_64") == []  # x86_64's cu128 list keeps sm_75


# --- verify --host: a loaded module this user cannot reach ------------------------------------

# NVIDIA/nvidia-docker#284 (root runs nvidia-smi, other users get this, exit 4) and
# NVIDIA/nvidia-container-toolkit#33 (a container under SELinux without container_use_devices)
NO_PERMISSION = "Failed to initialize NVML: Insufficient Permissions\n"


def test_a_module_this_user_cannot_open_fails_as_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Input: module 550.144.03 loaded, nvidia-smi exiting 4 with NVML's Insufficient
    Permissions (the user cannot open /dev/nvidiactl, nor can CUDA). Before: the module's
    driver judged, a host-arch-unknown warning, exit 0. Now: host-no-gpu, quoting it."""
    found, message = judged_on(node(NO_PERMISSION, 4), monkeypatch)
    assert NO_GPU in found, found
    assert "Insufficient Permissions" in message and "/dev/nvidia" in message, message


# --- held: a LazyPattern matches as its compiled pattern does ---------------------------------


def _lazy_patterns() -> list[LazyPattern]:
    """Every module-level LazyPattern of the modules today's change made lazy."""
    modules = (records, versions, packages, manifest, overrides, hints, target, wheelmeta)
    return [v for m in modules for v in vars(m).values() if isinstance(v, LazyPattern)]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), text=st.text(alphabet="aZ09_.-=<>!~*,| \t\n[]'\":/@()cuvGRIDx", max_size=60))
def test_a_lazy_pattern_matches_as_re_compile_does(data: st.DataObject, text: str) -> None:
    """Held: each of them, on text drawn from the characters they test, answers match,
    fullmatch, search, findall, sub and split exactly as ``re.compile`` of its source."""
    lazy = data.draw(st.sampled_from(_lazy_patterns()))
    plain = re.compile(lazy.pattern, lazy.flags)
    for method in ("match", "fullmatch", "search"):
        got, want = getattr(lazy, method)(text), getattr(plain, method)(text)
        assert (got and (got.span(), got.groups())) == (want and (want.span(), want.groups()))
    assert lazy.findall(text) == plain.findall(text)
    assert lazy.sub("#", text) == plain.sub("#", text)
    assert lazy.split(text) == plain.split(text)
