"""Locks built in code, for tests that need a lock without resolving one: ``package`` and
``sample`` (a two-platform lock of app and lib) for the lock model's tests, ``locked`` and
``make_lock`` (a one-platform lock with a CUDA target) and ``codes`` for verify's; ``target_of``
the [target] a lock of a manifest records; ``conda_record`` a conda-forge record of a lock."""

from __future__ import annotations

from mlenv.conda.records import CondaRecord
from mlenv.judge import Verdict
from mlenv.lockfile import Lock, LockedPackage, LockedPlatform, LockTarget
from mlenv.manifest import Manifest

SHA_A = "a" * 64
SHA_B = "b" * 64
HASH = "sha256:" + "1" * 64


def package(name: str, version: str = "1.0", **kw: object) -> LockedPackage:
    fields: dict[str, object] = {
        "name": name,
        "version": version,
        "filename": f"{name}-{version}-py3-none-any.whl",
        "url": f"https://files.example/{name}-{version}-py3-none-any.whl",
        "sha256": SHA_A,
        "size": 10,
        "index": "https://pypi.org/simple",
    }
    fields.update(kw)
    return LockedPackage(**fields)  # type: ignore[arg-type]


def sample(order: int = 1) -> Lock:
    packages = [package("app", dependencies=("lib",)), package("lib", "2.0", sha256=SHA_B)]
    platforms = [
        LockedPlatform("linux-64", tuple(packages[::order])),
        LockedPlatform("linux-aarch64", tuple(packages[::order])),
    ]
    target = LockTarget(
        python="3.11",
        glibc="2.28",
        platforms=("linux-64", "linux-aarch64"),
        index_strategy="first-index",
        indexes=("https://pypi.org/simple",),
        find_links=(),
        requirements=("app",),
        cuda="12.4",
        driver_floor="550.54.14",
    )
    return Lock("sha256:" + "c" * 64, target).with_platforms(platforms[::order])


def locked(name: str, version: str, cuda: str | None = None, **kw: object) -> LockedPackage:
    dist = name.replace("-", "_")
    fields: dict[str, object] = {
        "name": name,
        "version": version,
        "filename": f"{dist}-{version}-py3-none-any.whl",
        "url": f"https://files.example/{dist}-{version}-py3-none-any.whl",
        "sha256": "f" * 64,
        "size": 1024,
        "index": "https://pypi.org/simple",
        "cuda": cuda,
    }
    fields.update(kw)
    return LockedPackage(**fields)  # type: ignore[arg-type]


def make_lock(
    packages: list[LockedPackage],
    cuda: str | None = "12.4",
    floor: str | None = "550.54.14",
    requires_driver: str | None = None,
) -> Lock:
    target = LockTarget(
        python="3.11",
        glibc="2.28",
        platforms=("linux-64",),
        index_strategy="first-index",
        indexes=("https://pypi.org/simple",),
        find_links=(),
        requirements=(),
        cuda=cuda,
        driver_floor=floor,
        requires_driver=requires_driver,
    )
    return Lock(HASH, target, (LockedPlatform("linux-64", tuple(packages)),))


def target_of(manifest: Manifest) -> LockTarget:
    """The [target] `mlenv lock` records for ``manifest`` (no index or find-links recorded)."""
    env, cuda = manifest.environment, manifest.cuda
    return LockTarget(
        python=env.python,
        glibc=env.glibc,
        platforms=env.platforms,
        index_strategy=manifest.pypi.index_strategy,
        indexes=(),
        find_links=(),
        requirements=manifest.pypi.dependencies,
        cuda=cuda.version if cuda else None,
        driver_floor=cuda.driver_floor if cuda else None,
        conda_requirements=manifest.conda.dependencies,
    )


def codes(verdict: Verdict) -> list[tuple[str, str, str]]:
    return [(f.severity, f.code, f.package) for f in verdict.findings]


def conda_record(name: str, version: str = "2.5.1") -> CondaRecord:
    """A linux-64 conda-forge record of ``name`` as a lock holds it (hashes made up)."""
    channel = "https://conda.anaconda.org/conda-forge"
    filename = f"{name}-{version}-h0.conda"
    return CondaRecord(name=name, version=version, build="h0", build_number=0,
                       subdir="linux-64", channel=channel, url=f"{channel}/linux-64/{filename}",
                       filename=filename, sha256="e" * 64, md5="d" * 32, size=10)  # fmt: skip
