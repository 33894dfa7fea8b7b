"""The platforms mlenv builds for, each named as every ecosystem names it.

One table, so that adding a platform is one row: the manifest accepts its conda name, the
target's wheel tags and markers use its machine, the conda solver its archspec baseline, the
image its OCI architecture. Pure data, light enough for the no-op ``lock --check``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    """One target platform (always Linux, always 64-bit)."""

    name: str  # conda subdir and the manifest's name: linux-64
    machine: str  # uname -m, wheel platform tags (manylinux_2_28_x86_64), PEP 508 platform_machine
    archspec: str  # conda's __archspec baseline: the fleet's exact microarchitecture is unknown
    oci_architecture: str  # GOARCH, as OCI image configs and indexes name it
    # the oldest glibc minor (2.x) a manylinux wheel for the machine may need: 5 (manylinux1),
    # or 17 where manylinux2014 first defined the machine; pip and uv offer no tag below it
    oldest_manylinux: int

    @property
    def marker(self) -> str:
        """A PEP 508 marker true on this platform only."""
        return f"sys_platform == 'linux' and platform_machine == '{self.machine}'"


PLATFORMS = (
    Platform(
        "linux-64",
        machine="x86_64",
        archspec="x86_64",
        oci_architecture="amd64",
        oldest_manylinux=5,
    ),
    Platform(
        "linux-aarch64",
        machine="aarch64",
        archspec="aarch64",
        oci_architecture="arm64",
        oldest_manylinux=17,
    ),
)
NAMES = tuple(platform.name for platform in PLATFORMS)
_BY_NAME = {platform.name: platform for platform in PLATFORMS}


def by_name(name: str) -> Platform:
    """The platform of a conda subdir name; ``KeyError`` for one mlenv does not build for."""
    return _BY_NAME[name]


def wheel_machines(filename: str) -> tuple[str, ...]:
    """The machines a wheel file is built for, from its platform tags (``manylinux_2_28_aarch64``,
    ``linux_x86_64``): the one place that reads them, since a framework's CUDA builds for aarch64
    carry other GPU code than its x86_64 builds; none for a pure or another machine's wheel,
    each of a compressed tag set naming several (it is installed on each). Any case: packaging,
    which the index and pip read tags with, lowercases them, so a ``MANYLINUX_2_28_AARCH64``
    wheel is locked and installed on aarch64."""
    tags = filename.lower().removesuffix(".whl").rpartition("-")[2].split(".")
    return tuple(
        platform.machine
        for platform in PLATFORMS
        if any(tag.endswith(f"_{platform.machine}") for tag in tags)
    )


def conda_spelling(value: str) -> str | None:
    """The name mlenv gives a platform spelt as Docker, Go or ``uname -m`` spell it
    (``linux/amd64``, ``arm64``, ``x86_64``), for a hint: a docker user's reflex."""
    lowered = value.lower().removeprefix("linux/").removeprefix("linux-").removeprefix("linux_")
    for platform in PLATFORMS:
        if lowered in (platform.machine, platform.oci_architecture) and value != platform.name:
            return platform.name
    return None


def unknown_platform_hint(value: str, known: tuple[str, ...] | list[str]) -> str:
    """What to write instead of a platform mlenv does not know by that name."""
    hint = f"platforms in the lock: {', '.join(known)}"
    spelled = conda_spelling(value)
    return f"{hint} ({value} is written {spelled} here)" if spelled else hint
