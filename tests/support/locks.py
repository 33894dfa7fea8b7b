"""Locks built in code, for tests that need a lock without resolving one: ``package`` and
``sample`` (a two-platform lock of app and lib) for the lock model's tests, ``locked`` and
``make_lock`` (a one-platform lock with a CUDA target; ``locked`` records the requires-driver
`mlenv lock` writes unless told one) and ``codes`` for verify's; ``target_of``
the [target] a lock of a manifest records; ``conda_record`` a conda-forge record of a lock,
``conda_closed`` records with what their depends name, ``channel_lock`` a lock of a manifest
holding one record solved from a given channel."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

from mlenv.conda.records import CondaRecord, match_spec_name
from mlenv.drift import recorded_channel, recorded_find_link, recorded_location
from mlenv.entry_needs import conda_entry_driver, entry_driver
from mlenv.inputs import DEFAULT_PRERELEASE, index_order
from mlenv.judge import Verdict, verify_lock
from mlenv.lockfile import Lock, LockedPackage, LockedPlatform, LockTarget
from mlenv.lockfile_fresh import inputs_hash
from mlenv.lockfile_read import loads
from mlenv.lockfile_render import render
from mlenv.manifest import Manifest
from mlenv.manifest_read import loads as load_manifest

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
    entry = LockedPackage(**fields)  # type: ignore[arg-type]
    if "requires_driver" in kw:
        return entry
    # as `mlenv lock` writes it: the driver floor the entry's CUDA build sets, if any
    return replace(entry, requires_driver=entry_driver(entry))


def make_lock(
    packages: list[LockedPackage],
    cuda: str | None = "12.4",
    floor: str | None = "550.54.14",
    requires_driver: str | None = "",
    aarch64: list[LockedPackage] | None = None,
) -> Lock:
    """A linux-64 lock of ``packages`` (and a linux-aarch64 platform of ``aarch64``, when
    given); its [target].requires-driver the one `mlenv lock` writes for them (the driver they
    need) unless told one."""
    platforms = [LockedPlatform("linux-64", tuple(packages))]
    if aarch64 is not None:
        platforms.append(LockedPlatform("linux-aarch64", tuple(aarch64)))
    target = LockTarget(
        python="3.11",
        glibc="2.28",
        platforms=tuple(pinned.platform for pinned in platforms),
        index_strategy="first-index",
        indexes=("https://pypi.org/simple",),
        find_links=(),
        requirements=(),
        cuda=cuda,
        driver_floor=floor,
        requires_driver=requires_driver or None,
    )
    lock = Lock(HASH, target, tuple(platforms))
    if requires_driver != "":
        return lock
    needed = verify_lock(lock, HASH, None).requires_driver
    return replace(lock, target=replace(target, requires_driver=needed))


def target_of(manifest: Manifest) -> LockTarget:
    """The [target] `mlenv lock` records for ``manifest``, locations spelt as it spells them."""
    env, cuda, pypi = manifest.environment, manifest.cuda, manifest.pypi
    return LockTarget(
        python=env.python,
        glibc=env.glibc,
        platforms=env.platforms,
        index_strategy=pypi.index_strategy,
        indexes=tuple(map(recorded_location, index_order(pypi.index_url, pypi.extra_index_urls))),
        find_links=tuple(map(recorded_find_link, pypi.find_links)),
        requirements=pypi.dependencies,
        cuda=cuda.version if cuda else None,
        driver_floor=cuda.driver_floor if cuda else None,
        conda_channels=tuple(map(recorded_channel, manifest.conda.channels)),
        conda_requirements=manifest.conda.dependencies,
        prerelease=None if pypi.prerelease == DEFAULT_PRERELEASE else pypi.prerelease,
        constraints=tuple(sorted(pypi.constraints)) or None,
        overrides=tuple(sorted(pypi.overrides)) or None,
    )


def codes(verdict: Verdict) -> list[tuple[str, str, str]]:
    return [(f.severity, f.code, f.package) for f in verdict.findings]


def conda_record(name: str, version: str = "2.5.1", build: str = "h0", **kw: object) -> CondaRecord:
    """A linux-64 conda-forge record of ``name`` as a lock holds it (hashes made up), with the
    requires-driver `mlenv lock` writes for its build unless ``kw`` names one."""
    channel = "https://conda.anaconda.org/conda-forge"
    filename = f"{name}-{version}-{build}.conda"
    fields: dict[str, object] = {
        "name": name, "version": version, "build": build, "build_number": 0,
        "subdir": "linux-64", "channel": channel, "url": f"{channel}/linux-64/{filename}",
        "filename": filename, "sha256": "e" * 64, "md5": "d" * 32, "size": 10,
    }  # fmt: skip
    fields.update(kw)
    record = CondaRecord(**fields)  # type: ignore[arg-type]
    if "requires_driver" in kw:
        return record
    return replace(record, requires_driver=conda_entry_driver(record))


def conda_closed(*records: CondaRecord) -> tuple[CondaRecord, ...]:
    """``records`` and a record for every spec their ``depends`` name that none of them is, as
    a solve locks them (virtual ``__`` packages are none); each at the first version its spec
    names, so a ``cuda-version >=12.6,<13`` is met by cuda-version 12.6."""
    held = {r.name for r in records}
    added: list[CondaRecord] = []
    for record in records:
        for spec in record.depends:
            name = match_spec_name(spec) or spec
            if name.startswith("__") or name in held:
                continue
            held.add(name)
            version = re.search(r"\d+(?:\.\d+)*", spec[len(name) :])
            sha256 = hashlib.sha256(name.encode()).hexdigest()  # one file per sha256
            added.append(conda_record(name, version[0] if version else "1.0", sha256=sha256))
    return (*records, *added)


def channel_lock(manifest: str, channel: str) -> Lock:
    """The lock of ``manifest`` (mlenv.toml text) holding one libgomp record whose channel (the
    URL the solver read it from, as rattler records it) is ``channel``, written and read back."""
    made = load_manifest(manifest)
    record = conda_record("libgomp", "14.2.0", "h0")
    record = replace(record, channel=channel, url=f"{channel}/linux-64/{record.filename}")
    lock = Lock(inputs_hash(made), target_of(made))
    return loads(render(lock.with_platforms([LockedPlatform("linux-64", (), (record,))])))
