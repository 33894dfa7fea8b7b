"""What a package needs beside it on its own platform, judged once every package is pinned: a
multi-CUDA wheel a library for the CUDA of the build it follows (``mlenv.cuda.multi``), a
side-by-side flavour of another major the target's beside it (``mlenv.cuda.flavours``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlenv.cuda.flavours import unpaired
from mlenv.cuda.multi import unloadable
from mlenv.platforms import PLATFORMS

if TYPE_CHECKING:
    from mlenv.cuda.rules import Together


def paired(major: int, together: Together) -> list[tuple[str, str, str, str, str]]:
    """(code, package, needs, message, hint) of each miss, said once though found on several
    platforms; ``major``: the target's CUDA major."""
    machines = {platform.name: platform.machine for platform in PLATFORMS}
    said = {
        ("cuda-library-missing", *found): None
        for name, group in together.items()
        for found in unloadable(group, machines.get(name, ""))
    }
    said |= {
        ("cuda-major-mismatch", *found): None
        for group in together.values()
        for found in unpaired(major, group)
    }
    return list(said)
