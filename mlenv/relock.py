"""What a re-lock changed, as ``mlenv lock`` reports it: each pin added, removed, moved to
another version, taken from another index, or locked as other bytes (its sha256 shown).

An index move is reported even when the version stays: after the first-index order changed to
uv's (extra-index-urls before index-url), a project both an internal index-url and a public
extra index list is taken from the public one, and a same-numbered release there (the usual
dependency-confusion bait) would otherwise go by without a line.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlenv.lockfile import Lock


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
    """What a re-lock changed, per platform, sorted: PyPI pins (version and index) and conda
    pins (version=build; a conda-only lock reported no change at all)."""
    before = _pins(old) if old else {}
    after = _pins(new)
    result = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        moved = was is not None and now is not None and was[1] != now[1]
        if moved or _version(was) != _version(now):
            result.append(Change(key[0], key[1], _shown(was, moved), _shown(now, moved)))
        elif was is not None and now is not None and was[2] != now[2]:  # -P took new bytes
            result.append(Change(key[0], key[1], _bytes(was), _bytes(now)))
    return result


_Pin = tuple[str, str, str]  # (version, where from: a PyPI index, "" for conda; sha256)


def _pins(lock: Lock) -> dict[tuple[str, str], _Pin]:
    found = {(p, pkg.name): (pkg.version, pkg.index, pkg.sha256) for p, pkg in lock.packages()}
    for platform, record in lock.conda_packages():
        found[(platform, record.name)] = (f"{record.version}={record.build}", "", record.sha256)
    return found


def _bytes(pin: _Pin) -> str:
    """A pin whose version stayed, locked as other bytes (a rebuilt file ``--upgrade-package``
    took, another file of the release): said with its sha256, not passed over as no change."""
    return f"{pin[0]} (sha256 {pin[2]})"


def _version(pin: _Pin | None) -> str | None:
    return pin[0] if pin is not None else None


def _shown(pin: _Pin | None, moved: bool) -> str | None:
    if pin is None:
        return None
    return f"{pin[0]} from {pin[1] or 'conda'}" if moved else pin[0]
