"""Attack 53: the exact-pin rules at the edges of PEP 440 and PEP 592.

A yanked local variant (``1.0+cu124``) must not ride in on ``==1.0``: PEP 440's ``==1.0``
matches it, but PEP 592's opt-in is for the version pinned, and uv allows a yank only for the
exact version a manifest ``==``/``===`` names. And a ``===`` pin nothing matches must point at
the versions that exist, as an ``==`` pin does, including one spelled differently (``1.0`` for
``===1.0.0``), which is the version the user most likely meant.
"""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement

from mlenv.cuda.cpufallback import NOT_CHOSEN, CpuFallbackError
from mlenv.index import MemoryIndex
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads as load_manifest
from mlenv.report import MemoryReporter
from mlenv.resolver.model import Resolution, ResolutionError
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.wheels import build_wheel

X86 = Target("linux-64", "3.12", "2.28")
URL = "memory://a"


def _resolve(
    reqs: list[str], *wheels: tuple[str, bytes], yanked: tuple[str, ...] = ()
) -> Resolution:
    index = MemoryIndex(URL, dict(wheels), yanked=dict.fromkeys(yanked, ""))
    return resolve(
        [Requirement(r) for r in reqs],
        X86,
        index,
        reporter=MemoryReporter(),
        indexes_searched=(URL,),
    )


def _pins(
    reqs: list[str], *wheels: tuple[str, bytes], yanked: tuple[str, ...] = ()
) -> dict[str, str]:
    return {p.name: str(p.version) for p in _resolve(reqs, *wheels, yanked=yanked).pins}


def _error(reqs: list[str], *wheels: tuple[str, bytes], yanked: tuple[str, ...] = ()) -> str:
    with pytest.raises(ResolutionError) as caught:
        _resolve(reqs, *wheels, yanked=yanked)
    return caught.value.message


def test_a_yanked_local_variant_is_not_taken_through_a_pin_of_its_public_version() -> None:
    old, local = build_wheel("lib", "0.9"), build_wheel("lib", "1.0+cu124")
    message = _error(["lib==1.0"], old, local, yanked=(local[0],))
    assert "1.0+cu124 is yanked; only a manifest pin ==1.0+cu124 selects it" in message
    assert _pins(["lib==1.0+cu124"], old, local, yanked=(local[0],)) == {"lib": "1.0+cu124"}
    assert _pins(["lib===1.0+cu124"], old, local, yanked=(local[0],)) == {"lib": "1.0+cu124"}


def test_pin_of_the_public_version_takes_the_unyanked_release_over_a_yanked_variant() -> None:
    plain, local = build_wheel("lib", "1.0"), build_wheel("lib", "1.0+cu124")
    assert _pins(["lib==1.0"], plain, local, yanked=(local[0],)) == {"lib": "1.0"}
    assert _pins(["lib==1.0"], plain, local) == {"lib": "1.0+cu124"}  # unyanked: newest wins


def test_a_yanked_release_is_still_taken_through_its_zero_padded_pin() -> None:
    """PEP 440: ``1.0`` and ``1.0.0`` are the same version, so ``==1.0.0`` pins it exactly."""
    old, bad = build_wheel("lib", "0.9"), build_wheel("lib", "1.0")
    assert _pins(["lib==1.0.0"], old, bad, yanked=(bad[0],)) == {"lib": "1.0"}


def test_an_arbitrary_equality_spelled_differently_names_the_existing_spelling() -> None:
    wheels = [build_wheel("lib", v) for v in ("0.9", "1.0", "2.0")]
    message = _error(["lib===1.0.0"], *wheels)
    assert "nearest versions: 0.9, 1.0, 2.0" in message
    assert "=== compares" in message


def test_an_arbitrary_equality_to_a_local_variant_names_it() -> None:
    wheels = [build_wheel("lib", v) for v in ("0.9", "1.0+cu124")]
    message = _error(["lib===1.0"], *wheels)
    assert "nearest versions: 0.9, 1.0+cu124" in message


def test_an_arbitrary_equality_to_a_non_version_still_names_what_exists() -> None:
    wheels = [build_wheel("lib", v) for v in ("0.9", "1.0", "2.0", "3.0", "4.0")]
    message = _error(["lib===nightly"], *wheels)
    assert "lib nightly does not exist on memory://a" in message
    assert "newest versions: 4.0, 3.0, 2.0, 1.0" in message
    assert "none" not in message


def test_a_pin_to_a_missing_local_build_names_the_builds_of_that_release() -> None:
    """``==1.0+cu121`` when only ``1.0+cu124`` exists: the build that exists is named, not
    a bare ``1.0`` no index has."""
    wheels = [build_wheel("lib", v) for v in ("0.9", "1.0+cu124", "2.0")]
    message = _error(["lib==1.0+cu121"], *wheels)
    assert "lib 1.0+cu121 does not exist on memory://a" in message
    assert "nearest versions: 0.9, 1.0+cu124, 2.0)" in message


def test_a_cpu_fallback_over_a_yanked_cuda_build_says_it_was_yanked() -> None:
    """``torch==2.6.0`` no longer takes the yanked ``2.6.0+cu121``, so a CUDA target falls back
    to ``+cpu``; the refusal must say "yanked" and name the pin that takes it, not "a newer
    CPU-only release won"."""
    tag = "cp311-cp311-manylinux_2_28_x86_64"
    cpu, cuda = (
        build_wheel("torch", "2.6.0+cpu", tag=tag),
        build_wheel("torch", "2.6.0+cu121", tag=tag),
    )
    index = MemoryIndex(URL, dict([cpu, cuda]), yanked={cuda[0]: "bad build"})
    text = (
        '[environment]\nname = "x"\npython = "3.11"\n'
        '[cuda]\nversion = "12.1"\ndriver-floor = "530.30.02"\n'
        '[pypi]\nindex-url = "https://torch.invalid/simple"\ndependencies = ["torch==2.6.0"]\n'
    )
    with pytest.raises(CpuFallbackError) as caught:
        lock_manifest(load_manifest(text), Sources(index, (URL,), ()), reporter=MemoryReporter())
    (problem,) = caught.value.problems
    assert (
        "refused 2.6.0+cu121 (torch-2.6.0+cu121-cp311-cp311-manylinux_2_28_x86_64.whl): "
        "2.6.0+cu121 is yanked (bad build); only a manifest pin ==2.6.0+cu121 selects it"
    ) in problem.message
    assert NOT_CHOSEN not in problem.message
