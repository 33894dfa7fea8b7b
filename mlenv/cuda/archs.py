"""The GPU architectures each CUDA major builds for (cuda.json ``gpu_archs``): since when, and
which names a major renumbered, so a refusal can say what to write instead."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlenv.cuda.versions import CudaVersion, arch_cc


@dataclass(frozen=True)
class Archs:
    """The GPU architectures one CUDA major builds for, and since when."""

    ccs: tuple[int, ...]
    added_in: dict[int, CudaVersion]
    # another major's name (x10) -> this major's: 13.0 renumbered Thor's sm_101 as sm_110
    renamed: dict[int, int] = field(default_factory=dict)

    def built_by(self, cuda: CudaVersion) -> tuple[int, ...]:
        """The architectures ``cuda`` itself builds for: a later minor's (sm_107 from 13.4) is
        no answer for a 13.0 target."""
        return tuple(cc for cc in self.ccs if self.added_in.get(cc, cuda) <= cuda)

    def renamed_note(self, arch: str, major: int) -> str:
        """': CUDA 13.x names it sm_110 (...); write sm_110' for the other major's name of one
        of this major's architectures (the a/f suffix kept), else ''."""
        cc = arch_cc(arch)
        if cc not in self.renamed:
            return ""
        new = f"sm_{self.renamed[cc]}{arch[len(f'sm_{cc}') :]}"
        return (
            f": CUDA {major}.x names it {new} (CUDA 13.0 renumbered sm_101 as sm_110); write {new}"
        )


def build_archs(rows: list[Any], *, where: str) -> dict[int, Archs]:
    """``gpu_archs`` rows by CUDA major."""
    return {
        int(row["major"]): Archs(
            ccs=tuple(arch_cc(arch) for arch in row["list"]),
            added_in={
                arch_cc(arch): CudaVersion.parse(cuda, where=where)
                for arch, cuda in row["added_in"].items()
            },
            renamed={arch_cc(old): arch_cc(new) for old, new in row.get("renamed", {}).items()},
        )
        for row in rows
    }
