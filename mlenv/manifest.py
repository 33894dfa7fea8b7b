"""The frozen ``Manifest``: what every command starts from once ``mlenv.toml`` is read.

The types live apart from the reader (``manifest_read``) so a command that only holds a manifest
(the lock model, the build, the exports) names them without the reader's rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from packaging.requirements import Requirement

from mlenv.echoed import without_secrets
from mlenv.inputs import DEFAULT_INDEX, Prerelease
from mlenv.instants import spelled
from mlenv.pypi_sources import Sources, hashed

PYTHON_MINORS = tuple(f"3.{minor}" for minor in range(9, 16))
OUTPUTS = ("oci", "conda-pack")
COMPRESSIONS = ("gzip", "zstd", "none")
# Docker refuses to load or pull an image of more than 125 layers ("max depth exceeded":
# moby's layer store keeps 2 of overlay's 127 for a container; Docker 20.10 loaded 125 and
# refused 126, attack 229) and Podman more than 127 (containers/storage#489); the base
# image's layers count too.
MAX_LAYERS = 125
INDEX_STRATEGIES = ("first-index", "best-match")

IndexStrategy = Literal["first-index", "best-match"]
Compression = Literal["gzip", "zstd", "none"]
Layers = int | Literal["auto"]


@dataclass(frozen=True)
class Environment:
    """``[environment]``: what the environment is called, runs and targets."""

    name: str
    python: str
    platforms: tuple[str, ...]
    glibc: str
    prefix: str
    interpreter: str | None


@dataclass(frozen=True)
class Cuda:
    """``[cuda]``: the fleet the environment must run on."""

    version: str
    driver_floor: str
    archs: tuple[str, ...] = ()
    cpu_ok: tuple[str, ...] = ()  # PEP 503 names whose CPU-only build a CUDA target accepts
    # GPU packages whose CUDA mlenv cannot read, accepted unchecked (PEP 503 names, sorted)
    unverified: tuple[str, ...] = ()


@dataclass(frozen=True)
class Conda:
    """``[conda]``: the conda part of the environment."""

    channels: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class PyPI:
    """``[pypi]``: where PyPI packages come from and which are wanted."""

    index_url: str = DEFAULT_INDEX
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    index_strategy: IndexStrategy = "first-index"
    prerelease: Prerelease = "fallback"
    sources: Sources = ()  # (PEP 503 name, its only index), sorted: mlenv.pypi_sources
    # bounds on a project's versions that apply only when something requires it (pip -c, uv's
    # constraint-dependencies): never a dependency of their own
    constraints: tuple[str, ...] = ()
    # what replaces every requirement on a project they name, wherever it comes from (uv's
    # override-dependencies): for metadata that is wrong
    overrides: tuple[str, ...] = ()
    # only files an index dates strictly before this instant (UTC) are candidates (uv's
    # exclude-newer): a re-lock sees the indexes as they stood then
    exclude_newer: datetime | None = None

    def requirements(self) -> tuple[Requirement, ...]:
        return tuple(Requirement(text) for text in self.dependencies)

    def constraint_requirements(self) -> tuple[Requirement, ...]:
        return tuple(Requirement(text) for text in self.constraints)

    def override_requirements(self) -> tuple[Requirement, ...]:
        return tuple(Requirement(text) for text in self.overrides)


@dataclass(frozen=True)
class Build:
    """``[build]``: what ``mlenv build`` writes and how."""

    outputs: tuple[str, ...] = OUTPUTS
    base_image: str | None = None
    compression: Compression = "gzip"
    layers: Layers = 1  # "auto" or at most this many environment layers (mlenv.layer_plan)
    image_tar: bool = True  # the oci output's dist/image.tar beside the layout (False: layout only)


@dataclass(frozen=True)
class Cache:
    """A registry repository shared by a fleet as a second-level artifact cache."""

    registry: str | None = None


@dataclass(frozen=True)
class Manifest:
    """mlenv.toml, validated: the one description every command starts from."""

    environment: Environment
    cuda: Cuda | None
    conda: Conda = field(default_factory=Conda)
    pypi: PyPI = field(default_factory=PyPI)
    build: Build = field(default_factory=Build)
    source: str = "mlenv.toml"
    cache: Cache = field(default_factory=Cache)

    def to_dict(self) -> dict[str, Any]:
        """The manifest with defaults filled in, in TOML key spelling (for ``show --json``).

        Credentials are masked, a bare `user:pw@host` too: this is printed, often into CI logs.
        """
        env = self.environment
        data: dict[str, Any] = {
            "environment": _drop_none(
                {
                    "name": env.name,
                    "python": env.python,
                    "platforms": list(env.platforms),
                    "glibc": env.glibc,
                    "prefix": env.prefix,
                    "interpreter": env.interpreter,
                }
            ),
            "conda": {
                "channels": [without_secrets(url) for url in self.conda.channels],
                "dependencies": list(self.conda.dependencies),
            },
            "pypi": {
                "index-url": without_secrets(self.pypi.index_url),
                "extra-index-urls": [without_secrets(url) for url in self.pypi.extra_index_urls],
                "find-links": [without_secrets(url) for url in self.pypi.find_links],
                "dependencies": list(self.pypi.dependencies),
                "index-strategy": self.pypi.index_strategy,
                "prerelease": self.pypi.prerelease,
                "constraints": list(self.pypi.constraints),
                "overrides": list(self.pypi.overrides),
                **({"sources": hashed(self.pypi.sources)} if self.pypi.sources else {}),
                **(
                    {"exclude-newer": spelled(self.pypi.exclude_newer)}
                    if self.pypi.exclude_newer is not None
                    else {}
                ),
            },
            "build": _drop_none(
                {
                    "outputs": list(self.build.outputs),
                    "base-image": self.build.base_image,
                    "compression": self.build.compression,
                    "layers": self.build.layers,
                    "image-tar": self.build.image_tar,
                }
            ),
        }
        if self.cache.registry is not None:
            data["cache"] = {"registry": self.cache.registry}
        if self.cuda is not None:
            data["cuda"] = {
                "version": self.cuda.version,
                "driver-floor": self.cuda.driver_floor,
                "archs": list(self.cuda.archs),
            }
            # Each only when used, as in mlenv.toml: an unused escape is not worth a line.
            if self.cuda.cpu_ok:
                data["cuda"]["cpu-ok"] = list(self.cuda.cpu_ok)
            if self.cuda.unverified:
                data["cuda"]["unverified"] = list(self.cuda.unverified)
        return data


def _drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}
