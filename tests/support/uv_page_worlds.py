"""The random worlds of ``tests/support/uv_worlds`` served as an index page may describe them:
each release's ``data-requires-python`` drawn apart from its wheels' METADATA (equal, absent,
looser or stricter), wheel build tags (``a-1.0-2-py3-none-any.whl``), and requested
extras in capitals (``a[X]``: PEP 685 folds them to the ``x`` a release provides). Locked by
mlenv and ``uv pip compile`` from the same file:// HTML index; ``page_problems`` adds what a
page's Requires-Python refuses to the world's ``problems``.
"""

from __future__ import annotations

import html
import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from mlenv.index.http import HttpClient
from mlenv.locking import lock_manifest
from mlenv.locking_sources import open_sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.requires_python import python_floor
from tests.support.uv_worlds import REQUIRES_PYTHON, World, files_of, uv_compiled, world_of
from tests.support.wheels import write_simple_index

BUILDS = ("", "", "", "1", "2", "10", "1a")


@dataclass(frozen=True)
class PageWorld:
    world: World
    page_requires_python: Mapping[tuple[str, Version], str | None]  # per release
    builds: Mapping[str, str]  # wheel filename -> its build tag ("" for none)


def page_world_of(seed: int) -> PageWorld:
    """``world_of(seed)`` with pages and filenames drawn from ``seed`` too; requested extras
    respelt (``[x]`` as ``[X]``)."""
    world = world_of(seed)
    rng = random.Random(seed * 7 + 1)
    stated: dict[tuple[str, Version], str | None] = {}
    for name, releases in sorted(world.packages.items()):
        for version, release in sorted(releases.items()):
            kind = rng.random()
            own = release.requires_python
            stated[(name, Version(version))] = (
                own if kind < 0.5 else None if kind < 0.7 else rng.choice(REQUIRES_PYTHON[10:])
            )
    builds = {f: rng.choice(BUILDS) for f, _, _ in files_of(world)}
    roots = tuple(re.sub(r"\[[^\]]*\]", lambda m: m[0].upper(), r) for r in world.roots)
    return PageWorld(World(world.packages, roots, world.python, world.platform), stated, builds)


def _named(filename: str, build: str) -> str:
    name, version, rest = filename.split("-", 2)
    return f"{name}-{version}-{build}-{rest}" if build else filename


def _index(page: PageWorld, root: Path) -> str:
    """A file:// PEP 503 index of the world, each anchor's Requires-Python the page's."""
    files = [(f, d, y) for f, d, y in files_of(page.world)]
    named = [(_named(f, page.builds[f]), d) for f, d, _ in files]
    yanked = {_named(f, page.builds[f]): "" for f, _, y in files if y}
    url = write_simple_index(root, named, yanked=yanked)
    for project in {str(canonicalize_name(parse_wheel_filename(f)[0])) for f, _ in named}:
        path = root / "simple" / project / "index.html"
        lines = []
        for line in path.read_text().splitlines():
            line = re.sub(r' data-requires-python="[^"]*"', "", line)
            found = re.search(r">([^<>]+\.whl)</a>", line)
            if found:
                name, version, _, _ = parse_wheel_filename(html.unescape(found[1]))
                stated = page.page_requires_python[(str(name), version)]
                if stated is not None:
                    attribute = f' data-requires-python="{html.escape(stated)}"'
                    line = line.replace("<a href=", f"<a{attribute} href=", 1)
            lines.append(line)
        path.write_text("\n".join(lines) + "\n")
    return url


def mlenv_page_pins(page: PageWorld, work: Path) -> dict[str, Version]:
    """What ``mlenv lock`` pins from the world's pages; raises its ResolutionError."""
    world = page.world
    manifest = loads(
        f'[environment]\nname = "w"\npython = "{world.python}"\n'
        f'platforms = ["{world.platform}"]\nglibc = "2.28"\n[pypi]\n'
        f'index-url = "{_index(page, work / "index")}"\n'
        f"dependencies = {json.dumps(list(world.roots))}\n"
    )
    lock = lock_manifest(
        manifest, open_sources(manifest, HttpClient(), None, work), reporter=MemoryReporter()
    )
    return {str(canonicalize_name(p.name)): Version(p.version) for _, p in lock.packages()}


def uv_page_pins(page: PageWorld, work: Path) -> dict[str, Version] | None:
    """What ``uv pip compile`` pins from the same pages, None if it finds no resolution."""
    return uv_compiled(page.world, _index(page, work / "uv-index"), work)


def page_refusals(page: PageWorld, pins: Mapping[str, Version]) -> list[str]:
    """The pins whose page Requires-Python (its lowest Python) refuses the target: with the
    wheel's own (``problems``), both must admit it."""
    found = []
    for name, version in pins.items():
        stated = page.page_requires_python.get((name, version))
        floor = python_floor(SpecifierSet(stated or ""))
        if not floor.contains(page.world.target.python_full_version, prereleases=True):
            found.append(f"{name} {version}: its page says Requires-Python {stated}")
    return found
