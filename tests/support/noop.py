"""Manifests, locks and edits for the tests of the no-op `lock` (uptodate, cache.fresh)."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlenv import uptodate, watch
from mlenv.cache import FRESH, fresh
from mlenv.conda.channel_paths import CONDA_ALIAS
from mlenv.conda.records import CondaRecord, match_spec_name
from mlenv.judge import verify_lock
from mlenv.lockfile import Lock, LockedPackage, LockedPlatform
from mlenv.lockfile_fresh import inputs_hash
from mlenv.lockfile_render import render
from mlenv.manifest_read import loads as load_manifest
from tests.support.locks import target_of


def toml_value(value: object) -> str:
    """TOML for the values these tests generate (JSON strings and arrays are valid TOML)."""
    return json.dumps(value)


def manifest_text(tables: dict[str, dict[str, object]]) -> str:
    lines = []
    for table, keys in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def lock_for(text: str) -> str:
    """A lock made for the manifest ``text``: a package of each requirement's name, each
    depending on "lib" (there when any is), and a conda record of each conda spec's."""
    manifest = load_manifest(text)
    env = manifest.environment
    target = target_of(manifest)
    index = target.indexes[0]  # entries come from a source [target] names, as lock writes them
    pypi = manifest.pypi
    names: set[str] = {canonicalize_name(Requirement(r).name) for r in pypi.dependencies}
    asked = [Requirement(r) for r in (*pypi.dependencies, *pypi.constraints, *pypi.overrides)]
    names |= {"lib"} if names else set()  # a resolution of no requirement pins nothing
    versions = {name: _allowed([r for r in asked if canonicalize_name(r.name) == name])
                for name in names}  # fmt: skip
    packages = tuple(
        LockedPackage(
            name,
            versions[name],
            f"{name}-{versions[name]}-py3-none-any.whl",
            f"https://x.example/{name}-{versions[name]}-py3-none-any.whl",
            "a" * 64 if name == "lib" else hashlib.sha256(name.encode()).hexdigest(),
            10,
            index,
            # every entry reached from a requirement, as a resolution pins them
            dependencies=() if name == "lib" else ("lib",),
        )
        for name in sorted(names)
    )
    channels = target.conda_channels
    channel = channels[0].rstrip("/") if channels else "https://conda.example/c"
    if "://" not in channel:  # as rattler reads a name or a directory (from where lock ran)
        local = channel.startswith(("/", "."))
        channel = (
            f"file://{posixpath.join('/project', channel)}" if local else CONDA_ALIAS + channel
        )
    conda = tuple(
        CondaRecord(
            name,
            "1.0",
            "h0",
            0,
            "noarch",
            channel,
            f"{channel}/noarch/{name}-1.0-h0.conda",
            f"{name}-1.0-h0.conda",
            hashlib.sha256(b"conda " + name.encode()).hexdigest(),
            "d" * 32,
            10,
        )
        for name in sorted({match_spec_name(spec) or spec for spec in manifest.conda.dependencies})
    )
    lock = Lock(inputs_hash(manifest), target).with_platforms(
        [LockedPlatform(platform, packages, conda) for platform in env.platforms]
    )
    # the driver `mlenv lock` records for a CUDA target (its GA's: no entry here is a CUDA build)
    needed = verify_lock(lock, lock.inputs_hash, None).requires_driver
    return render(replace(lock, target=replace(target, requires_driver=needed)))


def _allowed(asked: Sequence[Requirement]) -> str:
    """A version every bound on a project allows, as a resolution pins it: 1.0, a version a
    bound names, or the next major."""
    named = [s.version.removesuffix(".*") for r in asked for s in r.specifier]
    candidates = ["1.0", *named, *(f"{int(v.split('.')[0]) + 1}.0" for v in named)]
    return next((v for v in candidates if all(r.specifier.contains(v, True) for r in asked)), "1.0")


mutations = st.one_of(
    st.tuples(st.sampled_from(["environment", "pypi", "cuda", "conda", "build"]),
              st.sampled_from(["python", "dependencies", "dependecies", "glibc", "platforms",
                               "index-url", "version", "archs", "channels", "outputs", "name",
                               "index-strategy", "extra-index-urls", "prefix",
                               "interpreter", "prerelease", "constraints",
                               "overrides"]),
              st.one_of(st.just("3.11"), st.just(["numpy", "numpy"]), st.just(3.11),
                        st.just(["not a requirement!!"]), st.just([]), st.just(["linux-64"]),
                        st.just("first-index"), st.just("sm_80"), st.just(True),
                        st.just("allow"), st.just("fallback"), st.just("disallow"),
                        st.just(["numpy<2"]), st.just(["x[y]<1"]),
                        st.just("/usr"), st.just("/opt/ok"), st.just("/usr/bin/python3.11"))),
)  # fmt: skip


def imported(stderr: str) -> set[str]:
    return {line.split("|")[-1].strip() for line in stderr.splitlines() if "|" in line}


def project(where: Path, text: str, lock: str | None = None) -> list[str]:
    """A project at ``where`` (its lock made for ``text`` unless given) and the arguments of a
    quiet ``lock --check`` of it with its own cache."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "mlenv.toml").write_text(text)
    (where / "mlenv.lock").write_text(lock_for(text) if lock is None else lock)
    return ["-q", "--cache", str(where / "cache"), "--manifest", str(where / "mlenv.toml"),
            "lock", "--check"]  # fmt: skip


def entries(cache: Path) -> list[Path]:
    """The kept verdicts in ``cache``."""
    bucket = cache / FRESH
    return sorted(bucket.iterdir()) if bucket.is_dir() else []


def copy_mlenv(into: Path) -> Path:
    """A second install of this mlenv at ``into`` (for PYTHONPATH)."""
    source = Path(__file__).resolve().parents[2] / "mlenv"
    shutil.copytree(source, into / "mlenv", ignore=shutil.ignore_patterns("__pycache__"))
    return into


def run(
    cwd: Path, cache: Path, *path: Path, flags: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """``python -m mlenv lock --check`` in ``cwd``, importing from ``path``, caching in
    ``cache``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, path)),
           "MLENV_CACHE_DIR": str(cache)}  # fmt: skip
    command = [sys.executable, *flags, "-m", "mlenv", "lock", "--check"]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          check=False, timeout=120)  # fmt: skip


def full_runs(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Records every run of the full check (its manifest bytes), letting it answer."""
    seen: list[bytes] = []
    real = uptodate._judged_fresh

    def spy(manifest: bytes, lock: bytes, where: str) -> Lock | None:
        seen.append(manifest)
        return real(manifest, lock, where)

    monkeypatch.setattr(uptodate, "_judged_fresh", spy)
    return seen


def own_listing() -> bytes:
    """The body a real entry has now, for this process (every source loaded, stamped)."""
    stdlib = {name.partition(".")[0] for name in sys.modules} & sys.stdlib_module_names
    lines = ["stdlib\t" + " ".join(sorted(stdlib))]
    sources = set(fresh._judging_sources())
    for path in sorted(sources | {str(Path(path).parent) for path in sources}):
        lines.append("\t".join([path, *map(str, watch.stamp_of(Path(path).stat()))]))
    return ("\n".join(lines) + "\n").encode()
