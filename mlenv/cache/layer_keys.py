"""The keys of the layer cache: every input a layer's bytes (or a wheel's record) depend on.

A key is the sha256 of a canonical JSON document naming those inputs, so an entry is reused
only by a build that would write the same bytes; anything that could change them (mlenv's own
code, installer, the compressors and their settings, the build's settings, the wheels) is in
it, and a change of any of them simply stops old entries from matching.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import installer

from mlenv import __version__
from mlenv.install.wheels import PlannedWheel
from mlenv.layer_plan import LayerPlan
from mlenv.parallel_gzip import GZIP_BLOCK, GZIP_LEVEL
from mlenv.tarball import ZSTD_LEVEL, ZSTD_THREADS, Compression, compressor_versions

# Raised whenever the same inputs would give other layer bytes (a change of the tar writer,
# the venv layout, the split rule): old entries then simply stop matching.
FORMAT = 3  # 2: gzip deflates every file of a block or more on its own; 3: pip3.X scripts


@dataclass(frozen=True)
class BuildInputs:
    """What every layer of one build shares: settings that reach the layer bytes."""

    prefix: str
    interpreter: str
    python: str
    bytecode: str
    compression: Compression
    epoch: int
    parents: int  # directories above the prefix in the layers: all, or those a base lacks
    conda: tuple[str, ...]  # sha256 of the conda packages under the skeleton, in lock order


@functools.cache
def code_digest() -> str:
    """sha256 of mlenv's own sources: a change of the code that writes layers (even without a
    new version or FORMAT, as in development) never reuses a layer the old code wrote."""
    package = Path(__file__).parent
    hasher = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        hasher.update(path.relative_to(package).as_posix().encode() + b"\0")
        hasher.update(hashlib.sha256(path.read_bytes()).digest())
    return hasher.hexdigest()


def layer_key(
    plan: LayerPlan,
    wheels: Mapping[str, tuple[PlannedWheel, str]],
    inputs: BuildInputs,
) -> str:
    """The sha256 naming one layer's inputs. ``wheels`` maps every package of the build to its
    vetted wheel and the wheel's sha256: a package layer depends on its own wheels (and on the
    members another wheel owns), the skeleton on every wheel, since a directory goes to it only
    when no package installs below it."""
    names = sorted(wheels) if plan.skeleton else plan.packages
    document = {
        "format": FORMAT,
        "mlenv": __version__,
        "code": code_digest(),
        "installer": installer.__version__,
        "compressors": compressor_versions(),
        "gzip": [GZIP_LEVEL, GZIP_BLOCK],
        "zstd": [ZSTD_LEVEL, ZSTD_THREADS],
        "build": asdict(inputs),
        "plan": {"packages": list(plan.packages), "skeleton": plan.skeleton},
        "wheels": [
            {
                "name": name,
                "file": wheels[name][0].filename,
                "sha256": wheels[name][1],
                "skipped": list(wheels[name][0].skipped),
            }
            for name in names
        ],
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def wheel_key(filename: str, sha256: str, inputs: BuildInputs) -> str:
    """The sha256 naming what one wheel installs in one build's layout (``WheelClaims``)."""
    document = {
        "format": FORMAT,
        "mlenv": __version__,
        "code": code_digest(),
        "build": asdict(inputs),
        "wheel": {"file": filename, "sha256": sha256},
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
