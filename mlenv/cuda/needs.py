"""What CUDA a locked conda package needs: one reading shared by ``lock`` and ``verify``.

``lock`` judges the conda part of a fresh solve and ``verify`` judges the conda part of a lock
file; both go through ``conda_need`` so a package the lock refuses is never one verify passes.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlenv.conda.records import CondaRecord, spec_conda_name
from mlenv.cuda.rules import PackageNeed
from mlenv.cuda.tags import extract_conda
from mlenv.platforms import by_name

# PyTorch's own conda channels: their torchvision/torchaudio builds (py311_cu121) carry the GPU
# code of PyTorch's wheels, the lists ``framework_archs`` holds.
_PYTORCH_CHANNELS = frozenset({"pytorch", "pytorch-nightly", "pytorch-test"})
# What only those channels' builds depend on (the CPU/CUDA mutex, the CUDA metapackage): a
# mirror (Artifactory's pytorch-remote), a label or any other spelling carries the same builds.
_PYTORCH_BUILDS = frozenset({"pytorch-mutex", "pytorch-cuda"})


def conda_need(record: CondaRecord) -> PackageNeed | None:
    """The CUDA one conda package needs, from its build string, itself, depends and constrains;
    raises ``CudaError`` when a CUDA signal cannot be read."""
    need = extract_conda(
        record.name, record.version, record.build, record.depends, record.constrains
    )
    if need is None:
        return None
    return PackageNeed(record.name, record.version, need, _machines(record))


def _machines(record: CondaRecord) -> tuple[str, ...]:
    """The machine whose PyTorch build lists judge the record's GPU code: its subdir's, for a
    build from PyTorch's channels; none for another channel's, which builds its own list
    (conda-forge's torchvision for CUDA 12.9: 5.0 to 12.0+PTX, feedstock recipe/build.sh, where
    PyTorch's wheels start at 7.0) and is never an x86_64 build when its subdir is aarch64."""
    if not _from_pytorch(record):
        return ()
    try:
        return (by_name(record.subdir).machine,)
    except KeyError:  # noarch: no GPU code of its own
        return ()


def _from_pytorch(record: CondaRecord) -> bool:
    """Whether the record is PyTorch's build: from its channel under any label or case
    (``pytorch/label/nightly``, ``PyTorch``), or depending on what only its builds do, in any
    case (``Pytorch-CUDA``: ``spec_conda_name``)."""
    channel = record.channel.rstrip("/").split("/label/", 1)[0].rsplit("/", 1)[-1]
    return channel.lower() in _PYTORCH_CHANNELS or any(
        spec_conda_name(spec) in _PYTORCH_BUILDS for spec in record.depends
    )


def conda_needs(records: Iterable[CondaRecord]) -> dict[str, PackageNeed]:
    """``conda_need`` of every record, by artifact URL."""
    return {r.url: need for r in records if (need := conda_need(r)) is not None}
