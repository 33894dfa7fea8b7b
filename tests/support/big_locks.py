"""The largest lock a real project makes, built in code: ``packages`` PyPI entries and
``conda`` records on each of two platforms, every entry with ``depends`` dependencies, the
conda ones written as solves write them (``dep >=1.2,<2``)."""

from __future__ import annotations

import hashlib

from mlenv.conda.records import CondaRecord
from mlenv.lockfile import Lock, LockedPackage, LockedPlatform, LockTarget

PLATFORMS = ("linux-64", "linux-aarch64")
CHANNEL = "https://conda.anaconda.org/conda-forge"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _wheels(platform: str, count: int, depends: int) -> tuple[LockedPackage, ...]:
    return tuple(
        LockedPackage(
            name=f"pkg{i}",
            version="1.0",
            filename=f"pkg{i}-1.0-py3-none-any.whl",
            url=f"https://files.example/pkg{i}-1.0-py3-none-any.whl",
            sha256=_sha(f"pkg{i}"),
            size=1024,
            index="https://pypi.org/simple",
            dependencies=tuple(f"pkg{(i + j) % count}" for j in range(1, depends + 1)),
        )
        for i in range(count)
    )


def _records(platform: str, count: int, depends: int) -> tuple[CondaRecord, ...]:
    return tuple(
        CondaRecord(
            name=f"lib{i}",
            version="1.5",
            build="h0",
            build_number=0,
            subdir=platform,
            channel=CHANNEL,
            url=f"{CHANNEL}/{platform}/lib{i}-1.5-h0.conda",
            filename=f"lib{i}-1.5-h0.conda",
            sha256=_sha(f"{platform}/lib{i}"),
            md5=_sha(f"{platform}/lib{i}")[:32],
            size=2048,
            depends=tuple(f"lib{(i + j) % count} >=1.{j},<2" for j in range(1, depends + 1)),
        )
        for i in range(count)
    )


def big_lock(packages: int = 3_000, conda: int = 3_000, depends: int = 20) -> Lock:
    """A two-platform lock of ``packages`` wheels and ``conda`` records, each depending on
    ``depends`` of its kind; every entry is reached and consistent."""
    target = LockTarget(
        python="3.11",
        glibc="2.28",
        platforms=PLATFORMS,
        index_strategy="first-index",
        indexes=("https://pypi.org/simple",),
        find_links=(),
        requirements=tuple(f"pkg{i}" for i in range(min(packages, 1))),
        conda_channels=(CHANNEL,),
        conda_requirements=tuple(f"lib{i}" for i in range(min(conda, 1))),
    )
    platforms = [
        LockedPlatform(p, _wheels(p, packages, depends), _records(p, conda, depends))
        for p in PLATFORMS
    ]
    return Lock("sha256:" + "c" * 64, target).with_platforms(platforms)
