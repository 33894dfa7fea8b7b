"""The true reason for every refusal: best-fitting file, yanked, == pins to missing versions."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement

from mlenv.cuda.policy import CudaPolicy
from mlenv.cuda.rules import CudaTarget
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.export import pylock_toml, requirements_txt
from mlenv.index import MemoryIndex
from mlenv.lockfile_read import loads
from mlenv.lockfile_render import render
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads as load_manifest
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.wheels import build_wheel

X86 = Target("linux-64", "3.11", "2.28")


def fail(reqs: list[str], *wheels: tuple[str, bytes], **kw: object) -> str:
    """The resolution error's text for ``reqs`` on an in-memory index."""
    index = MemoryIndex("memory://a", dict(wheels), **kw)  # type: ignore[arg-type]
    policy = CudaPolicy(CudaTarget(CudaVersion(12, 1), DriverVersion.parse("530.30.02")))
    with pytest.raises(ResolutionError) as caught:
        resolve(
            [Requirement(r) for r in reqs],
            X86,
            index,
            reporter=MemoryReporter(),
            policy=policy,
            indexes_searched=("memory://a",),
        )
    return caught.value.message


def test_reason_is_that_of_the_file_that_fits_the_target() -> None:
    """Was: the first file's reason, "no wheel for the target's tags" from the aarch64 one
    (which sorts, and is listed, before the x86_64 one)."""
    wheels = [
        build_wheel("vllm", "0.8.5+cu124", tag="cp311-cp311-manylinux_2_28_aarch64"),
        build_wheel("vllm", "0.8.5+cu124", tag="cp311-cp311-manylinux_2_28_x86_64"),
        build_wheel("vllm", "0.8.4+cu118", tag="cp311-cp311-manylinux_2_28_aarch64"),
    ]
    message = fail(["vllm>=0.8.4", "other"], *wheels, build_wheel("other", "1.0"))
    refused = [line.strip() for line in message.splitlines() if "refused:" in line]
    assert refused[0].startswith(
        "refused: 0.8.5+cu124: vllm 0.8.5+cu124 is built for CUDA 12.4, newer than the target"
    )
    # a release with no x86_64 file keeps its tag reason
    assert "0.8.4+cu118: no wheel for the target's tags" in message


def test_plain_linux_tag_fits_better_than_another_architecture() -> None:
    wheels = [
        build_wheel("torch", "2.6.0+cu124", tag="cp311-cp311-manylinux_2_28_aarch64"),
        build_wheel("torch", "2.6.0+cu124", tag="cp311-cp311-linux_x86_64"),
    ]
    message = fail(["torch"], *wheels)
    assert "1 file(s): no wheel for the target's tags" in message
    assert "newer than the target CUDA 12.1" in message


def test_yanked_is_its_own_reason_with_the_index_reason() -> None:
    old, bad = build_wheel("lib", "0.9"), build_wheel("lib", "1.0")
    message = fail(["lib>=1"], old, bad, yanked={bad[0]: "broken build"})
    assert "versions available for the target: 1.0 (yanked), 0.9" in message
    reason = "1.0 is yanked (broken build); only a manifest pin ==1.0 selects it"
    assert f"refused: 1.0: {reason}" in message


def test_yanked_without_a_reason() -> None:
    bad = build_wheel("lib", "1.0")
    message = fail(["lib>=1"], bad, yanked={bad[0]: ""})
    assert "refused: 1.0: 1.0 is yanked; only a manifest pin ==1.0 selects it" in message


def test_pin_to_a_version_that_does_not_exist_says_so() -> None:
    wheels = [build_wheel("lib", v) for v in ("1.0", "1.1", "1.4", "2.0", "3.0")]
    message = fail(["lib==1.5"], *wheels)
    assert "lib 1.5 does not exist on memory://a (nearest versions: 1.1, 1.4, 2.0, 3.0)" in message


def test_nearest_versions_are_releases_not_each_variant() -> None:
    tag = "cp311-cp311-manylinux_2_28_x86_64"
    versions = ("2.5.0+cu121", "2.5.1+cu121", "2.5.1+cu124", "2.6.0+cu124")
    message = fail(["torch==2.5.9"], *[build_wheel("torch", v, tag=tag) for v in versions])
    assert "torch 2.5.9 does not exist on memory://a (nearest versions: 2.5.0, 2.5.1, 2.6.0)" in (
        message
    )


def test_pin_to_an_existing_version_is_not_called_missing() -> None:
    wheels = [build_wheel("lib", "1.0", requires_python=">=3.12"), build_wheel("lib", "2.0")]
    message = fail(["lib==1.0"], *wheels)
    assert "does not exist" not in message
    assert "requires Python >=3.12" in message


def test_pin_without_local_label_matches_local_versions() -> None:
    """torch==2.6.0 names 2.6.0+cu124 too (PEP 440): it exists, it was refused."""
    wheels = [build_wheel("torch", "2.6.0+cu124", tag="cp311-cp311-manylinux_2_28_x86_64")]
    message = fail(["torch==2.6.0"], *wheels)
    assert "does not exist" not in message


def test_yanked_file_taken_through_an_exact_pin_warns_and_is_marked() -> None:
    good, bad = build_wheel("lib", "1.0"), build_wheel("lib", "1.1")
    index = MemoryIndex("memory://a", dict([good, bad]), yanked={bad[0]: "broken build"})
    text = (
        '[environment]\nname = "x"\npython = "3.11"\n'
        '[pypi]\nindex-url = "https://a.invalid/simple"\ndependencies = ["lib==1.1"]\n'
    )
    reporter = MemoryReporter()
    locked = lock_manifest(
        load_manifest(text), Sources(index, ("memory://a",), ()), reporter=reporter
    )
    (lib,) = locked.platform("linux-64").packages
    assert lib.yanked is True
    assert reporter.messages("warning") == [
        "lib 1.1 (linux-64) is yanked: broken build; locked only because an == pin names it"
    ]
    rendered = render(locked)
    assert "\nyanked = true\n" in rendered and loads(rendered) == locked
    note = "# lib 1.1 is yanked (PEP 592): an == pin took it, or a relock kept it\nlib==1.1 \\"
    assert note in requirements_txt(locked, "linux-64")
    assert "[packages.tool.mlenv]\nyanked = true" in pylock_toml(locked)


def test_a_lock_without_marks_writes_no_mark_keys() -> None:
    """Locks that use neither yanked nor cpu-ok keep their bytes (golden digests)."""
    index = MemoryIndex("memory://a", dict([build_wheel("lib", "1.0")]))
    text = (
        '[environment]\nname = "x"\npython = "3.11"\n'
        '[pypi]\nindex-url = "https://a.invalid/simple"\ndependencies = ["lib"]\n'
    )
    locked = lock_manifest(
        load_manifest(text), Sources(index, ("memory://a",), ()), reporter=MemoryReporter()
    )
    rendered = render(locked)
    assert "yanked" not in rendered and "cpu-ok" not in rendered
    assert "tool" not in pylock_toml(locked)
