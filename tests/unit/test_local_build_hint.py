"""A pin to a local build (``torch==2.7.0+cu128``) that the indexes do not have: when no
version there carries a local label, the build lives on its maker's index, so the hint says
which index, as a ``[pypi] sources`` line to copy, instead of "relax a requirement"."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement

from mlenv.index import MemoryIndex
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from mlenv.resolver.policy import CandidatePolicy
from mlenv.resolver.resolve import resolve
from tests.support.gpu_locks import TAG, X86, cuda_128
from tests.support.wheels import build_wheel


def hint(reqs: list[str], versions: list[str], policy: CandidatePolicy | None) -> str:
    wheels = [build_wheel("torch", v, tag=TAG) for v in versions]
    return refusal(reqs, wheels, policy)


def refusal(
    reqs: list[str], wheels: list[tuple[str, bytes]], policy: CandidatePolicy | None
) -> str:
    """The hint of the resolution error for ``reqs`` on an index of ``wheels``."""
    with pytest.raises(ResolutionError) as caught:
        resolve(
            [Requirement(r) for r in reqs],
            X86,
            MemoryIndex("memory://a", dict(wheels)),
            reporter=MemoryReporter(),
            policy=policy,
            indexes_searched=("memory://a",),
        )
    assert caught.value.hint is not None
    return caught.value.hint


@pytest.mark.parametrize("pin", ["torch==2.7.0+cu128", "torch===2.7.0+cu128"])
def test_a_cuda_build_names_its_makers_index_as_a_sources_line(pin: str) -> None:
    said = hint([pin], ["2.6.0", "2.7.0", "2.8.0"], cuda_128())
    assert "memory://a has no builds with a local label like torch 2.7.0+cu128" in said
    assert 'sources = { torch = "https://download.pytorch.org/whl/cu128" }' in said
    assert "relax" not in said


@pytest.mark.parametrize(
    ("pin", "label"), [("torch==2.7.0+cu128", "+cu128"), ("torch==2.7.0+cpu", "+cpu")]
)
def test_without_a_known_place_the_hint_says_what_to_add(pin: str, label: str) -> None:
    said = hint([pin], ["2.7.0"], None)
    assert f"add the index that publishes {label} builds" in said
    assert 'sources = { torch = "<that index>" }' in said


def test_an_index_of_local_builds_missing_one_is_a_plain_conflict() -> None:
    """PyTorch's own index lacking +cu128 of this release: the maker's index is the one
    searched, so nothing says to add it."""
    said = hint(["torch==2.7.0+cu128"], ["2.7.0+cu126", "2.8.0+cu128"], cuda_128())
    assert "has no builds with a local label" not in said
    assert "relax one of the conflicting requirements" in said


def test_a_missing_public_release_keeps_the_plain_hint() -> None:
    said = hint(["torch==2.7.5"], ["2.7.0", "2.8.0"], cuda_128())
    assert "has no builds with a local label" not in said


def test_a_dependency_pinning_the_local_build_gets_the_same_hint() -> None:
    wheels = [
        build_wheel("torch", "2.7.0", tag=TAG),
        build_wheel("torchvision", "0.22.0", requires_dist=["torch==2.7.0+cu128"]),
    ]
    assert "download.pytorch.org/whl/cu128" in refusal(["torchvision"], wheels, cuda_128())
