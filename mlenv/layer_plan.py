"""Which image layer each package goes into: a pure function of the lock.

A registry stores layers by digest and a node pulls only the layers it lacks, so a layer that
did not change costs nothing to push or pull again. The split follows what changes together:

- ``layers = 1`` (the default): one layer with the whole environment.
- ``"auto"``: every package whose locked wheel is at least ``BIG_WHEEL`` (16 MiB: torch, triton,
  the nvidia-* libraries) has a layer of its own; the other packages share ``GROUPS`` (8) layers,
  each going to group ``sha256(name) mod 8``. The group depends on the name alone, never on the
  version, so bumping a small package rewrites one small layer and no other.
- ``N``: at most N layers. With too little room, the groups are fewer first (the names hashed
  mod the room left), then only the largest big packages keep a layer of their own and the
  rest join the one group; ``2`` is the skeleton and everything else.
- The skeleton is one more layer: every file no wheel installed, that is the venv files mlenv
  writes (``pyvenv.cfg``, ``bin/python*``, ``bin/activate``) or the conda packages under them.

Order: the skeleton, the big packages by name, then the groups by number. A runtime keys each
unpacked layer by the chain of layers below it, so a changed layer is unpacked again together
with every layer above it: what changes least goes first.

Only names and wheel sizes in the lock decide, never the install, so one lock always gives the
same split. A package whose new version crosses 16 MiB moves between its own layer and a group.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from mlenv.manifest import MAX_LAYERS, Layers
from mlenv.tarball import Entry, LayerError

if TYPE_CHECKING:
    from mlenv.install.wheels import InstalledDistribution
    from mlenv.lockfile import LockedPackage

# Under 1% of a CUDA image (a few GB): a group of smaller packages is cheap to push again.
BIG_WHEEL = 16 << 20
GROUPS = 8
# "auto" leaves room below MAX_LAYERS for the base image's layers.
AUTO_LAYERS = 64


@dataclass(frozen=True)
class LayerPlan:
    """One layer: the packages whose installed files it holds; the ``skeleton`` also takes every
    file no wheel installed."""

    name: str  # "environment", "skeleton", a package name, or "group 3 of 8"
    packages: tuple[str, ...]  # canonical names, sorted
    skeleton: bool = False


def plan_layers(packages: Sequence[LockedPackage], layers: Layers) -> tuple[LayerPlan, ...]:
    """The layers of an environment, in image order (see the module docstring for the rule)."""
    limit = AUTO_LAYERS if layers == "auto" else layers
    if not 1 <= limit <= MAX_LAYERS:
        raise LayerError(f"{limit} layers: expected 1 to {MAX_LAYERS}", where="[build].layers")
    sizes = {canonicalize_name(p.name): p.size for p in packages}
    if limit == 1:
        return (LayerPlan("environment", tuple(sorted(sizes)), skeleton=True),)
    room = limit - 1  # after the skeleton
    big = sorted((n for n, s in sizes.items() if s >= BIG_WHEEL), key=lambda n: (-sizes[n], n))
    if len(big) + (len(big) < len(sizes)) > room:
        big = big[: room - 1]
    rest = sorted(sizes.keys() - set(big))
    count = min(GROUPS, room - len(big)) if rest else 0
    groups: list[list[str]] = [[] for _ in range(count)]
    for name in rest:
        groups[int.from_bytes(hashlib.sha256(name.encode()).digest()[:8]) % count].append(name)
    return (
        LayerPlan("skeleton", (), skeleton=True),
        *(LayerPlan(name, (name,)) for name in sorted(big)),
        *(
            LayerPlan(f"group {number} of {count}", tuple(members))
            for number, members in enumerate(groups, 1)
            if members
        ),
    )


def split_entries(
    plans: Sequence[LayerPlan],
    entries: Sequence[Entry],
    distributions: Sequence[InstalledDistribution],
    dest: str,
    held: Collection[str] = frozenset(),
) -> tuple[tuple[Entry, ...], ...]:
    """The members of each plan's layer, from the tree ``entries`` (``collect(staging, dest)``).

    A file or link goes to the layer of the package that installed it, or to the skeleton when
    none did, so each is in exactly one layer. A directory goes to every layer holding something
    below it (with the same attributes, so the layers stack in any order), or to the skeleton
    when none does. ``held`` are the directories of layers whose packages were not installed
    (reused from the layer cache): one of those goes to the skeleton only if it holds something.
    """
    layer_of = {name: index for index, plan in enumerate(plans) for name in plan.packages}
    skeleton = [index for index, plan in enumerate(plans) if plan.skeleton]
    if len(skeleton) != 1 or len(layer_of) != sum(len(plan.packages) for plan in plans):
        raise LayerError("the plan must hold one skeleton and each package once (a bug)")
    owner: dict[str, str] = {}
    for dist in distributions:
        if dist.name not in layer_of:
            raise LayerError("an installed package has no layer (a bug)", where=dist.name)
        for file in dist.files:
            path = posixpath.join(dest, file)
            if owner.setdefault(path, dist.name) != dist.name:
                raise LayerError("two packages installed one file (a bug)", where=path)
    files = {
        e.path: layer_of[owner[e.path]] if e.path in owner else skeleton[0]
        for e in entries
        if e.kind != "dir"
    }
    if not owner.keys() <= files.keys():
        missing = sorted(owner.keys() - files.keys())
        raise LayerError("an installed file is not in the tree (a bug)", where=missing[0])
    below: list[set[str]] = [set() for _ in plans]
    for path, index in files.items():
        parts = path.split("/")
        below[index].update("/".join(parts[:depth]) for depth in range(1, len(parts)))
    members: list[list[Entry]] = [[] for _ in plans]
    for entry in entries:
        if entry.kind != "dir":
            members[files[entry.path]].append(entry)
            continue
        holders = [index for index, paths in enumerate(below) if entry.path in paths]
        if not holders and entry.path in held:
            continue
        for index in holders or skeleton:
            members[index].append(entry)
    return tuple(tuple(layer) for layer in members)
