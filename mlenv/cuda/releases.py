"""NVIDIA's release table, compatibility floors and architectures (cuda.json), built once.

Apart from ``cuda.matrix``, which reads them through ``facts()``, so that a lock that judges no
CUDA (a data stack, reading tag patterns only) neither builds them nor defines their classes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlenv.cuda.archs import Archs, build_archs
from mlenv.cuda.versions import CudaVersion, DriverVersion, leading_numbers


@dataclass(frozen=True)
class Release:
    """One CUDA toolkit release and the Linux and Windows drivers it needs (Table 3's two
    columns; Windows is N/A for every 13.x row: the toolkit no longer bundles that driver)."""

    version: tuple[int, ...]
    cuda: CudaVersion
    label: str
    linux: DriverVersion | None
    status: str = "confirmed"  # cuda.json's: confirmed, secondary (third-party quotes only)
    windows: DriverVersion | None = None

    def driver(self, windows: bool) -> DriverVersion | None:
        """Table 3's value in the column of the driver judged (a WSL 2 host's is Windows')."""
        return self.windows if windows else self.linux


@dataclass(frozen=True)
class Matrix:
    """cuda.json's releases, compatibility floors and architectures, built once."""

    releases: tuple[Release, ...]
    compat: dict[int, DriverVersion]
    compat_windows: dict[int, DriverVersion]  # Table 2's Windows floors (cuda.md §2)
    archs: dict[int, Archs]


def build_matrix(raw: Any) -> Matrix:
    where = "mlenv/data/cuda.json"
    releases = []
    for row in raw["toolkits"]:
        version = leading_numbers(row["release"], where=where)
        driver = row["linux_min_driver"]
        windows = row.get("windows_min_driver")
        releases.append(
            Release(
                version=version,
                cuda=CudaVersion(version[0], version[1]),
                label=str(row["label"]),
                linux=None if driver is None else DriverVersion.parse(driver, where=where),
                status=str(row["status"]),
                windows=None if windows is None else DriverVersion.parse(windows, where=where),
            )
        )
    return Matrix(
        releases=tuple(sorted(releases, key=lambda release: release.version)),
        compat={
            int(row["major"]): DriverVersion.parse(row["linux"], where=where)
            for row in raw["minor_compat"]
        },
        compat_windows={
            int(row["major"]): DriverVersion.parse(row["windows"], where=where)
            for row in raw["minor_compat"]
            if row.get("windows") is not None
        },
        archs=build_archs(raw["gpu_archs"], where=where),
    )
