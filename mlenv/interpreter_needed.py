"""Say before the download what `build` would refuse after it: a venv needs a Python to run
on, either conda's (a locked ``python`` package) or the base image's (``[environment]
interpreter``). `mlenv init` leaves that key commented out, so `lock` and a multi-gigabyte
`fetch` succeeded and only `build` said the key was missing."""

from __future__ import annotations

from mlenv.lockfile import Lock
from mlenv.manifest import Manifest

_KEY = "[environment] interpreter"


def _says(manifest: Manifest, where: str) -> str:
    python = manifest.environment.python
    return (
        f"{_KEY} is not set and {where} provides no python, so `mlenv build` will refuse this "
        f'environment (hint: write interpreter = "/usr/bin/python{python}" under [environment] '
        f'in {manifest.source}, the base image\'s Python {python}, or add "python {python}.*" '
        "to [conda].dependencies)"
    )


def missing_for_lock(manifest: Manifest, lock: Lock) -> str | None:
    """The warning when the build of a platform of ``lock`` would have no interpreter: no
    ``interpreter`` key and no conda ``python`` locked for that platform (``build``'s rule)."""
    if manifest.environment.interpreter is not None:
        return None
    without = [
        name
        for name in lock.target.platforms
        if not any(c.name == "python" for c in lock.platform(name).conda)
    ]
    if not without:
        return None
    return _says(manifest, f"the lock ({', '.join(without)})")


def missing_for_manifest(manifest: Manifest) -> str | None:
    """The warning when the manifest alone settles it: no ``interpreter`` key and no conda
    dependencies at all (with conda dependencies, python may come with them: `lock` tells)."""
    if manifest.environment.interpreter is not None or manifest.conda.dependencies:
        return None
    return _says(manifest, "[conda]")
