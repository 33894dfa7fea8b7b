"""The machine the environment is for, as opposed to the machine mlenv runs on.

Tags and marker values are computed from the manifest alone so a lock made on a laptop is right
for the cluster; nothing here looks at the running interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

from mlenv.lazy_pattern import LazyPattern
from mlenv.platforms import by_name

if TYPE_CHECKING:  # the lock reader needs Target; the no-op `lock` must not import the manifest
    from mlenv.manifest import Environment

# PEP 600's spelling as a target lists it: ASCII digits without a leading zero, a glibc minor
# of at most three digits (``manylinux_2_035`` is no tag a floor lists; 5,000 digits are past
# int's limit, and one such file on a page ended the lock in a traceback)
_MANYLINUX_RE = LazyPattern(r"manylinux_2_([1-9][0-9]{0,2})_(\w+)")
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


def build_preference(filename: str) -> tuple[int, ...]:
    """Orders wheels of one release with equally good tags, lower first: the highest build tag
    (``foo-1.0-2-cp311-...`` before ``foo-1.0-1-cp311-...``, number then text, as PEP 427 and
    pip order them), and a wheel without one last. The text is compared descending via its
    negated code points, with a 0 after them so a longer text outranks its own prefix.
    """
    build = parse_wheel_filename(filename)[2]
    if not build:
        return (1,)
    number, text = build
    return (0, -number, *(-ord(char) for char in text), 0)


@dataclass(frozen=True)
class Target:
    """What a lock is resolved for: one platform, interpreter and glibc floor."""

    platform: str
    python: str
    glibc: str = "2.28"

    @classmethod
    def for_environment(cls, environment: Environment) -> tuple[Target, ...]:
        return tuple(cls(p, environment.python, environment.glibc) for p in environment.platforms)

    @property
    def machine(self) -> str:
        return by_name(self.platform).machine

    @property
    def python_tuple(self) -> tuple[int, int]:
        major, minor = self.python.split(".")
        return int(major), int(minor)

    @property
    def python_full_version(self) -> str:
        """The oldest patch release of the minor: markers on a newer patch are not assumed."""
        return f"{self.python}.0"

    def platform_tags(self) -> list[str]:
        """manylinux tags from the glibc floor down to the machine's oldest manylinux
        (``tags`` adds plain ``linux_<arch>``): ``manylinux1_aarch64`` names no standard, and
        pip and uv install no such wheel."""
        glibc_minor = int(self.glibc.split(".")[1])
        tags = []
        for minor in range(glibc_minor, by_name(self.platform).oldest_manylinux - 1, -1):
            tags.append(f"manylinux_2_{minor}_{self.machine}")
            if minor in _LEGACY_MANYLINUX:
                tags.append(f"{_LEGACY_MANYLINUX[minor]}_{self.machine}")
        return tags

    @cached_property
    def tags(self) -> tuple[Tag, ...]:
        """Supported wheel tags, most preferred first: manylinux and pure ones, then the plain
        ``linux_<arch>`` ones, last.

        pip and uv install ``linux_<arch>`` wheels on any Linux host, and the PyTorch index
        serves many CUDA wheels tagged only that way (mlenv's own CUDA hint points there), so
        a Linux target accepts them too. Such a wheel promises no glibc floor, so it ranks
        below every manylinux wheel (pip puts it last per interpreter/ABI; mlenv last of all)
        and is taken only when no portable wheel of the same release fits.
        """
        return _tags(self)

    def glibc_above(self, tags: frozenset[Tag] | tuple[Tag, ...]) -> str | None:
        """The oldest glibc (``2.34``) a wheel none of whose ``tags`` fits would fit at, when
        only its manylinux level is above the floor: onnxruntime-gpu 1.31's aarch64 wheel is
        ``manylinux_2_34_aarch64`` alone, and "no wheel for the tags" hides that the fix is
        ``[environment] glibc``. None when the machine, interpreter or ABI differ, or when the
        level is below the machine's oldest manylinux (``manylinux_2_4_x86_64``: no glibc
        floor takes it, as pip and uv do not)."""
        needed = []  # the legacy names (manylinux2014: 2.17) are never above a floor (>= 2.17)
        floor_minor = int(self.glibc.split(".")[1])
        for tag in tags:
            level = _MANYLINUX_RE.fullmatch(tag.platform)
            if level is None or level[2] != self.machine:
                continue
            if int(level[1]) <= floor_minor:  # below the machine's oldest: never above a floor
                continue
            floor = Tag(tag.interpreter, tag.abi, self.platform_tags()[0])
            if floor in self.tag_priority:
                needed.append(int(level[1]))
        return f"2.{min(needed)}" if needed else None

    def other_python(self, tags: frozenset[Tag] | tuple[Tag, ...]) -> list[str]:
        """The interpreters (``cp311``, ``cp310``: newest first) of a wheel none of whose
        ``tags`` fits though one names a platform the target takes: numpy 1.23.5 on CPython
        3.12, where "no wheel for the tags" hides that the release predates the target's
        Python. Empty otherwise."""
        platforms = {tag.platform for tag in self.tags}
        major, minor = self.python_tuple[:2]
        ours = {f"cp{major}{minor}", f"py{major}{minor}"}  # cp312-cp312d: another ABI, not Python
        found = {t.interpreter for t in tags if t.platform in platforms} - ours
        return sorted(found, key=lambda name: (interpreter_order(name), name), reverse=True)

    @cached_property
    def tag_priority(self) -> dict[Tag, int]:
        """Lower is better; wheels whose tags are absent here cannot be installed."""
        return {tag: rank for rank, tag in enumerate(self.tags)}

    @cached_property
    def markers(self) -> dict[str, str]:
        """PEP 508 marker environment of the target interpreter."""
        return {
            "implementation_name": "cpython",
            "implementation_version": self.python_full_version,
            "os_name": "posix",
            "platform_machine": self.machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": self.python_full_version,
            "python_version": self.python,
            "sys_platform": "linux",
        }


@lru_cache(maxsize=16)
def _tags(target: Target) -> tuple[Tag, ...]:
    """``Target.tags``, shared by equal targets: the lock's own reader checks every wheel
    of the lock it is about to write against a Target of its own, equal to the resolver's."""
    version = target.python_tuple
    interpreter = f"cp{version[0]}{version[1]}"

    def ranked(platforms: list[str]) -> tuple[Tag, ...]:
        return (
            *cpython_tags(version, abis=[interpreter], platforms=platforms),
            *compatible_tags(version, interpreter, platforms),
        )

    plain = [tag for tag in ranked([f"linux_{target.machine}"]) if tag.platform != "any"]
    return (*ranked(target.platform_tags()), *plain)


def interpreter_order(interpreter: str) -> int:
    """``cp311`` -> 311, ``cp39`` -> 39: an interpreter tag's version, in its order."""
    digits = interpreter.lstrip("abcdefghijklmnopqrstuvwxyz")
    return int(digits) if digits.isdigit() else 0
