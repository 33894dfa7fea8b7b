"""What CUDA a locked conda package needs: one reading shared by ``lock`` and ``verify``.

``lock`` judges the conda part of a fresh solve and ``verify`` judges the conda part of a lock
file; both go through ``conda_need`` so a package the lock refuses is never one verify passes.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlenv.conda.records import CondaRecord
from mlenv.cuda.rules import PackageNeed
from mlenv.cuda.tags import extract_conda


def conda_need(record: CondaRecord) -> PackageNeed | None:
    """The CUDA one conda package needs, from its build string, itself, depends and constrains;
    raises ``CudaError`` when a CUDA signal cannot be read."""
    need = extract_conda(
        record.name, record.version, record.build, record.depends, record.constrains
    )
    return None if need is None else PackageNeed(record.name, record.version, need)


def conda_needs(records: Iterable[CondaRecord]) -> dict[str, PackageNeed]:
    """``conda_need`` of every record, by artifact URL."""
    return {r.url: need for r in records if (need := conda_need(r)) is not None}
