"""What a re-lock changed, as ``mlenv lock`` reports it: each pin added, removed, moved to
another version, or taken from another index.

An index move is reported even when the version stays: after the first-index order changed to
uv's (extra-index-urls before index-url), a project both an internal index-url and a public
extra index list is taken from the public one, and a same-numbered release there (the usual
dependency-confusion bait) would otherwise go by without a line.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlenv.lockfile import Lock, LockedPackage


@dataclass(frozen=True)
class Change:
    """One pin a re-lock added, removed or moved, as reported to the user."""

    platform: str
    name: str
    old: str | None
    new: str | None

    def __str__(self) -> str:
        if self.old is None:
            return f"+ {self.name} {self.new} ({self.platform})"
        if self.new is None:
            return f"- {self.name} {self.old} ({self.platform})"
        return f"~ {self.name} {self.old} -> {self.new} ({self.platform})"


def changes(old: Lock | None, new: Lock) -> list[Change]:
    """What a re-lock changed, per platform, sorted."""
    before = {(p, pkg.name): pkg for p, pkg in old.packages()} if old else {}
    after = {(p, pkg.name): pkg for p, pkg in new.packages()}
    result = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        moved = was is not None and now is not None and was.index != now.index
        if moved or _version(was) != _version(now):
            result.append(Change(key[0], key[1], _shown(was, moved), _shown(now, moved)))
    return result


def _version(package: LockedPackage | None) -> str | None:
    return package.version if package is not None else None


def _shown(package: LockedPackage | None, moved: bool) -> str | None:
    if package is None:
        return None
    return f"{package.version} from {package.index}" if moved else package.version
