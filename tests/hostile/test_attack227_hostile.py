"""Pass 35, attack 227: the three changes of passes 225 and 226, in shapes their tests left out.

- A relock keeps a release yanked since (``OptIns.of``'s earlier-lock pins), by version alone:
  an index that yanked the release and now serves its file with other bytes, and a lock
  edited to name a yanked release it never resolved to, were both locked, said only as "the
  earlier lock pins it"; and a release the manifest pins ``==`` was said to move with
  ``--upgrade-package``, which keeps it; an export still said any yanked pin was "pinned
  with ==".
- PyTorch's GPU lists judged a conda build only from a channel whose last path segment is
  ``pytorch``: the same build through a mirror (``pytorch-remote``), a label
  (``pytorch/label/nightly``) or ``PyTorch`` was accepted for a Blackwell fleet it has no code
  for, and the channel's ``pytorch`` package (torch itself) was never judged.
- ``Target.glibc_above`` read any digits: ``manylinux_2_035`` was "built for glibc 2.35" (no
  floor lists that tag), and a 5,000-digit level on any file of a page ended the lock in a
  ValueError traceback.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from mlenv.cuda.needs import conda_need
from mlenv.cuda.rules import CudaTarget, judge
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.export import requirements_txt
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from mlenv.upgrade import Upgrade
from tests.support.locks import conda_record
from tests.support.relocks import LIB_2, LIB_3, WHEELS, lock_one, pins
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.hostile

# lib 2.0 built again: the same file name, other bytes
REBUILT = {**WHEELS, LIB_2: build_wheel("lib", "2.0", files={"lib/x.py": b"changed"})[1]}


def test_a_kept_yanked_release_served_with_other_bytes_is_refused() -> None:
    """The earlier lock opts into the file it pinned, not into whatever the index now serves
    under that release's name once it yanked it."""
    earlier = lock_one("lib<3", {})
    locked_sha = earlier.platform("linux-64").packages[0].sha256
    with pytest.raises(ResolutionError) as refused:
        lock_one("lib<3", {LIB_2: "bad build"}, earlier, wheels=REBUILT)
    said = str(refused.value)
    assert locked_sha in said and "kept only as the file the lock pinned" in said
    assert "--upgrade-package lib" in said
    moved = lock_one("lib<3", {LIB_2: ""}, earlier, Upgrade.of(False, ["lib"]), wheels=REBUILT)
    assert pins(moved) == {"lib": "1.0"}


def test_a_lock_edited_to_a_yanked_release_does_not_opt_into_it() -> None:
    """A lock whose entry was edited to lib 3.0 (yanked, never resolved to) without its
    file's hash: the relock takes no yanked file on the edit's word."""
    earlier = lock_one("lib<3", {})
    entry = earlier.platform("linux-64").packages[0]
    edited = replace(entry, version="3.0", filename=LIB_3, url=entry.url.replace(LIB_2, LIB_3))
    forged = earlier.with_platforms([replace(earlier.platform("linux-64"), packages=(edited,))])
    with pytest.raises(ResolutionError) as refused:
        lock_one("lib", {LIB_3: ""}, forged)
    assert "lib 3.0 is yanked" in str(refused.value)


def test_a_release_the_manifest_pins_is_not_said_to_move_with_upgrade_package() -> None:
    """``lib==2.0`` in the manifest and in the earlier lock: ``-P lib`` keeps 2.0, so the
    warning names the == pin, not a flag that moves nothing."""
    earlier = lock_one("lib==2.0", {})
    for upgrade in (None, Upgrade.of(False, ["lib"])):
        reporter = MemoryReporter()
        again = lock_one("lib==2.0", {LIB_2: ""}, earlier, upgrade, reporter)
        assert pins(again) == {"lib": "2.0"}
        assert reporter.messages("warning") == [
            "lib 2.0 (linux-64) is yanked; locked only because an == pin names it"
        ]


def test_an_export_of_a_kept_yanked_pin_does_not_say_an_exact_pin_took_it() -> None:
    """``lib<3`` pins nothing exactly: the export's note said "pinned with ==" all the same."""
    kept = lock_one("lib<3", {LIB_2: ""}, lock_one("lib<3", {}))
    assert "# lib 2.0 is yanked (PEP 592): an == pin took it, or a relock kept it\n" in (
        requirements_txt(kept, "linux-64")
    )


TORCH = "https://github.com/pytorch/pytorch/blob/main/RELEASE.md"
_PYTORCH_DEPENDS = ("pytorch-cuda 12.4.*", "pytorch-mutex 1.0 cuda")


@pytest.mark.parametrize(
    "channel",
    [
        "https://conda.anaconda.org/pytorch/label/nightly",
        "https://conda.anaconda.org/PyTorch",
        "https://artifactory.example/api/conda/pytorch-remote",
        "/srv/conda/pytorch-mirror",
    ],
)
@pytest.mark.parametrize(
    ("name", "version", "build"),
    [
        ("torchvision", "0.20.1", "py312_cu124"),
        ("pytorch", "2.5.1", "py3.12_cuda12.4_cudnn9.1.0_0"),
    ],
)
@pytest.mark.parametrize("arch", ["sm_100", "sm_120"])
def test_pytorchs_builds_are_judged_by_its_lists_through_any_channel_spelling(
    channel: str, name: str, version: str, build: str, arch: str
) -> None:
    """PyTorch's CUDA 12.4 builds (torch 2.5, torchvision 0.20) carry code up to sm_90 and
    no PTX (TORCH), so a Blackwell GPU (10.0, 12.0: a newer major) has no kernel to run. A
    mirror, a label or a capital letter does not change the build: its depends on
    ``pytorch-mutex`` and ``pytorch-cuda``, which only PyTorch's channels publish, say whose
    it is."""
    record = conda_record(
        name,
        version,
        build,
        channel=channel,
        url=f"{channel}/linux-64/{name}-{version}-{build}.tar.bz2",
        depends=(*_PYTORCH_DEPENDS, "pytorch 2.5.1") if name == "torchvision" else _PYTORCH_DEPENDS,
        requires_driver=None,
    )
    need = conda_need(record)
    assert need is not None
    target = CudaTarget(
        CudaVersion.parse("12.8"), DriverVersion.parse("570.124.06"), (arch,), checked=True
    )
    assert {(f.severity, f.code) for f in judge(target, [need])} == {("error", "arch-not-built")}, (
        TORCH
    )


@pytest.mark.parametrize(
    "tag",
    ["cp312-cp312-manylinux_2_035_x86_64", "cp312-cp312-manylinux_2_" + "9" * 5000 + "_x86_64"],
    ids=["leading-zero", "5000-digits"],
)
def test_a_manylinux_level_no_floor_lists_is_no_wheel_for_the_tags(tag: str) -> None:
    """No floor lists ``manylinux_2_035`` (pip and uv compare tags as text), so "built for
    glibc 2.35" sent the user to a floor that cannot help; a level past int's digit limit was
    a traceback. Beside it on the page, another release still locks."""
    odd = dict([build_wheel("old", "1.0", tag=tag)])
    with pytest.raises(ResolutionError) as refused:
        lock_one("old", {}, wheels=odd)
    assert "refused: 1.0: no wheel for the target's tags" in str(refused.value)
    assert pins(lock_one("old", {}, wheels={**odd, **dict([build_wheel("old", "0.9")])})) == {
        "old": "0.9"
    }
