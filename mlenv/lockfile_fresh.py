"""Whether a lock is fresh for its manifest: the resolution inputs a manifest holds, their
hash, and ``check_fresh``, which names what changed when the lock was made from other inputs.

It lives apart from the lock model because it is the one part that reads a ``Manifest``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlenv import inputs
from mlenv.drift import changed_input, drift_message, lock_drift, target_drift
from mlenv.instants import spelled
from mlenv.lockfile import Lock, StaleLockError

if TYPE_CHECKING:  # the lock reader stays light: the no-op `lock --check` (mlenv.uptodate)
    from mlenv.manifest import Manifest


def resolution_inputs(manifest: Manifest) -> dict[str, Any]:
    """Everything in the manifest that can change what gets locked; nothing else."""
    env, pypi, cuda = manifest.environment, manifest.pypi, manifest.cuda
    return inputs.resolution_inputs(
        python=env.python,
        platforms=env.platforms,
        glibc=env.glibc,
        index_url=pypi.index_url,
        extra_index_urls=pypi.extra_index_urls,
        find_links=pypi.find_links,
        index_strategy=pypi.index_strategy,
        dependencies=pypi.dependencies,
        conda_channels=manifest.conda.channels,
        conda_dependencies=manifest.conda.dependencies,
        cuda=(cuda.version, cuda.driver_floor, cuda.archs) if cuda is not None else None,
        cpu_ok=cuda.cpu_ok if cuda is not None else (),
        unverified=cuda.unverified if cuda is not None else (),
        sources=pypi.sources,
        prerelease=pypi.prerelease,
        constraints=pypi.constraints,
        overrides=pypi.overrides,
        exclude_newer=spelled(pypi.exclude_newer) if pypi.exclude_newer is not None else None,
    )


def inputs_hash(manifest: Manifest) -> str:
    return inputs.digest(resolution_inputs(manifest))


def check_fresh(
    lock: Lock, manifest: Manifest, lock_path: str = "mlenv.lock", base: str | None = None
) -> None:
    made_from = resolution_inputs(manifest)
    expected = inputs.digest(made_from)
    if lock.inputs_hash != expected:
        drift = target_drift(lock.target, made_from)
        raise StaleLockError(
            "the lock is stale: it was made from other inputs than the manifest now holds "
            + (
                f"(lock {lock.inputs_hash[:19]}…, manifest {expected[:19]}…)"
                if drift is None
                else changed_input(drift)
            ),
            where=lock_path,
            hint="run `mlenv lock` to update it",
        )
    drift = lock_drift(lock, made_from, base)
    if drift is not None:
        key = drift[0] if drift[0].startswith("platform.") else f"target.{drift[0]}"
        raise StaleLockError(
            drift_message(drift), where=f"{lock_path}: {key}", hint="run `mlenv lock` to update it"
        )
