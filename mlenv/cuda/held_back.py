"""A lock that took an older release of a GPU package because mlenv cannot read the CUDA of
the newer ones says so. uv would lock the newest; a silent walk back (bitsandbytes 0.51.0,
released after the last wheels mlenv read, locked as 0.50.2) reads as a resolver bug, and the
user who knows the newer release runs on the fleet has a way to take it."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from packaging.specifiers import SpecifierSet

from mlenv.index import IndexFile
from mlenv.resolver.model import Resolution


def held_back(resolutions: Sequence[Resolution], unread: Collection[IndexFile]) -> list[str]:
    """One warning per package and locked release whose newer releases the resolver tried
    and refused only because their CUDA is unread (``unread``), naming the newest of them and
    the platforms it was refused on. A release another requirement rules out is left out: its
    advice (``[cuda] unverified``) would lock nothing newer, and then be called unneeded."""
    found: dict[tuple[str, str, str, str], list[str]] = {}
    for resolution in resolutions:
        for pin in resolution.pins:
            allowed = resolution.allowed.get(pin.name, SpecifierSet())
            newer = [
                refusal
                for refusal in resolution.refused.get(pin.name, ())
                if refusal.file in unread
                and refusal.file.version > pin.version
                and allowed.contains(refusal.file.version, prereleases=True)
            ]
            if newer:
                top = max(newer, key=lambda refusal: refusal.file.version)
                key = (pin.name, str(pin.version), str(top.file.version), top.reason)
                found.setdefault(key, []).append(resolution.target.platform)
    return [
        f"{name} {locked} is locked ({', '.join(platforms)}), not the newer {newest}: "
        f'{reason}; to lock {newest} unchecked, add "{name}" to [cuda] unverified'
        for (name, locked, newest, reason), platforms in sorted(found.items())
    ]
