"""Manifests, locks and edits for the tests of the no-op `lock` (uptodate, cache.fresh)."""

from __future__ import annotations

import json

from hypothesis import strategies as st

from mlenv.lockfile import Lock, LockedPackage, LockedPlatform, LockTarget, inputs_hash, render
from mlenv.manifest import loads as load_manifest


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
    """A lock made for the manifest ``text``, with one package."""
    manifest = load_manifest(text)
    env = manifest.environment
    target = LockTarget(env.python, env.glibc, tuple(env.platforms), "first-index", (), (), ())
    package = LockedPackage("lib", "1.0", "lib-1.0-py3-none-any.whl",
                            "https://x.example/lib-1.0-py3-none-any.whl", "a" * 64, 10,
                            "https://x.example/simple")  # fmt: skip
    lock = Lock(inputs_hash(manifest), target).with_platforms(
        [LockedPlatform(platform, (package,)) for platform in env.platforms]
    )
    return render(lock)


mutations = st.one_of(
    st.tuples(st.sampled_from(["environment", "pypi", "cuda", "conda", "build"]),
              st.sampled_from(["python", "dependencies", "dependecies", "glibc", "platforms",
                               "index-url", "version", "archs", "channels", "outputs", "name",
                               "index-strategy", "extra-index-urls", "prefix",
                               "interpreter"]),
              st.one_of(st.just("3.11"), st.just(["numpy", "numpy"]), st.just(3.11),
                        st.just(["not a requirement!!"]), st.just([]), st.just(["linux-64"]),
                        st.just("first-index"), st.just("sm_80"), st.just(True),
                        st.just("/usr"), st.just("/opt/ok"), st.just("/usr/bin/python3.11"))),
)  # fmt: skip


def imported(stderr: str) -> set[str]:
    return {line.split("|")[-1].strip() for line in stderr.splitlines() if "|" in line}
