"""How the installer rewrites a conda package's files for the deploy prefix, as the vetting
must judge them: what a file becomes is its bytes *and* its rewrite, and a text rewrite can
make a file grow (security invariants 6 and 7)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# conda's placeholder for a bare line of info/has_prefix (conda-build 2 and older).
DEFAULT_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"


@dataclass(frozen=True)
class Rewrites:
    """``stated``: per path, every rewrite its listing states (a file two packages share must
    be rewritten alike by both, or it ends as one of them wrote it); ``text``: per path, the
    shortest placeholder a text rewrite replaces, in bytes (each replacement writes the
    deploy prefix, so a short placeholder multiplies the file); ``binary``: the same for a
    binary rewrite, whose C strings keep their length (the room for the deploy prefix)."""

    stated: Mapping[str, tuple[str, ...]]
    text: Mapping[str, int]
    binary: Mapping[str, int]

    def growth(self, sizes: Mapping[str, int], target_prefix: str) -> int:
        """The most bytes text rewrites can add to files of these ``sizes``: a placeholder of
        ``n`` bytes occurs at most ``size // n`` times (an empty one is taken as one byte)."""
        room = len(target_prefix.encode())
        return sum(
            sizes.get(path, 0) // max(placeholder, 1) * (room - placeholder)
            for path, placeholder in self.text.items()
            if room > placeholder
        )


def from_paths_json(entries: Iterable[object]) -> Rewrites:
    """rattler rewrites a path of ``info/paths.json`` by its ``file_mode`` and
    ``prefix_placeholder``; any entry naming either counts as stated, and any string placeholder
    not of a ``binary`` file (whose strings keep their length) as text."""
    stated: dict[str, tuple[str, ...]] = {}
    text: dict[str, int] = {}
    binary: dict[str, int] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(path := entry.get("_path"), str):
            continue
        mode, placeholder = entry.get("file_mode"), entry.get("prefix_placeholder")
        if "file_mode" in entry or "prefix_placeholder" in entry:
            stated[path] = (*stated.get(path, ()), json.dumps([mode, placeholder]))
        if isinstance(placeholder, str):
            kind = binary if mode == "binary" else text
            kind[path] = min(kind.get(path, 1 << 30), len(placeholder.encode()))
    return Rewrites(stated, text, binary)


def from_has_prefix(data: str, listed: Iterable[str]) -> Rewrites:
    """The same from conda-build 2's ``info/has_prefix`` (read when ``info/paths.json`` is
    absent): ``placeholder mode path`` (the mode in any case, between any blanks, as rattler
    reads it) or a bare path, rewritten as text from the default placeholder. A line names a
    listed path however it is split, quoted or not; a quoted placeholder counts unquoted."""
    wanted = set(listed)
    stated: dict[str, tuple[str, ...]] = {}
    rewrites: dict[str, dict[str, int]] = {"text": {}, "binary": {}}
    for line in data.splitlines():
        words = line.split(None, 2)
        if not words:
            continue
        mode = words[1].lower() if len(words) == 3 else ""
        if mode not in rewrites:
            mode, placeholder = "text", DEFAULT_PLACEHOLDER
        else:
            placeholder = words[0].strip('"')
        readings = {line, line.strip(), *(words[2:])}
        for path in sorted(wanted & {*readings, *(r.strip().strip('"') for r in readings)}):
            stated[path] = (*stated.get(path, ()), line)
            room = len(placeholder.encode())
            rewrites[mode][path] = min(rewrites[mode].get(path, room), room)
    return Rewrites(stated, rewrites["text"], rewrites["binary"])
