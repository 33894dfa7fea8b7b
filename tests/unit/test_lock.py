"""The lock model: canonical bytes, strict parsing, and an inputs hash that tracks resolution."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from mlenv.lockfile import LockError, StaleLockError
from mlenv.lockfile_fresh import check_fresh, inputs_hash
from mlenv.lockfile_read import loads
from mlenv.lockfile_render import render
from mlenv.manifest_read import loads as load_manifest
from tests.support.locks import SHA_A, sample, target_of

MANIFEST = '[environment]\nname = "x"\npython = "3.11"\n[pypi]\ndependencies = ["app"]\n'


def test_render_is_independent_of_input_order() -> None:
    assert render(sample(1)) == render(sample(-1))


def test_render_round_trips_through_loads() -> None:
    lock = sample()
    assert loads(render(lock)) == lock


def test_render_is_valid_toml_with_sorted_sections() -> None:
    text = render(sample())
    data = tomllib.loads(text)
    assert list(data["platform"]) == ["linux-64", "linux-aarch64"]
    assert [p["name"] for p in data["platform"]["linux-64"]["package"]] == ["app", "lib"]
    assert text.startswith("# mlenv.lock: written by `mlenv lock`")
    assert "\r" not in text and text.endswith("\n")


def test_strings_with_quotes_and_unicode_survive() -> None:
    odd = dataclasses.replace(
        sample(),
        target=dataclasses.replace(
            sample().target,
            requirements=('app; python_version >= "3.10"', "lib; os_name == '✓'"),
        ),
    )
    assert loads(render(odd)) == odd


def test_inputs_hash_tracks_only_resolution_inputs() -> None:
    base = load_manifest(MANIFEST)
    renamed = load_manifest(MANIFEST.replace('"x"', '"y"'))
    other_output = load_manifest(MANIFEST + '[build]\ncompression = "zstd"\n')
    other_python = load_manifest(MANIFEST.replace('"3.11"', '"3.12"'))
    other_deps = load_manifest(MANIFEST.replace('["app"]', '["app", "lib"]'))
    reordered = load_manifest(MANIFEST.replace('["app"]', '["b", "a"]'))
    reordered2 = load_manifest(MANIFEST.replace('["app"]', '["a", "b"]'))
    assert inputs_hash(base) == inputs_hash(renamed) == inputs_hash(other_output)
    assert inputs_hash(base) != inputs_hash(other_python)
    assert inputs_hash(base) != inputs_hash(other_deps)
    assert inputs_hash(reordered) == inputs_hash(reordered2)
    assert inputs_hash(base).startswith("sha256:") and len(inputs_hash(base)) == 71


def test_check_fresh_refuses_a_stale_lock() -> None:
    manifest = load_manifest(MANIFEST)
    lock = sample()
    fresh = dataclasses.replace(lock, inputs_hash=inputs_hash(manifest), target=target_of(manifest))
    check_fresh(fresh, manifest)
    with pytest.raises(StaleLockError) as info:
        check_fresh(sample(), manifest, "proj/mlenv.lock")
    assert info.value.where == "proj/mlenv.lock"
    assert info.value.hint == "run `mlenv lock` to update it"


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (
            lambda t: t.replace("version = 1\n", "version = 7\n", 1),
            "mlenv.lock: version: lock format 7 is not supported (mlenv reads 1)",
        ),
        (
            lambda t: t.replace(f'sha256 = "{SHA_A}"', 'sha256 = "nothex"', 1),
            "mlenv.lock: platform.linux-64.package[0].sha256: expected 64 lower-case hex digits",
        ),
        (
            lambda t: t.replace("size = 10", 'size = "10"', 1),
            "mlenv.lock: platform.linux-64.package[0].size: expected int",
        ),
        (
            lambda t: t.replace('name = "app"\n', "", 1),
            "mlenv.lock: platform.linux-64.package[0].name: missing required key",
        ),
        (
            lambda t: t.replace("[target]", "[targte]"),
            "mlenv.lock: [target]: missing or not a table",
        ),
        (
            lambda t: t + "extra = 1\n",
            "mlenv.lock: platform.linux-aarch64.package[1].extra: unknown key",
        ),
    ],
)
def test_damaged_lock_names_the_key(mutate: object, problem: str) -> None:
    text = mutate(render(sample()))  # type: ignore[operator]
    with pytest.raises(LockError) as info:
        loads(text)
    rendered = [p.render().splitlines()[0] for p in info.value.problems]
    assert problem in rendered, rendered


def test_invalid_toml_lock() -> None:
    with pytest.raises(LockError) as info:
        loads("version = \n", "p/mlenv.lock")
    assert info.value.problems[0].where == "p/mlenv.lock"
    assert info.value.problems[0].message.startswith("invalid TOML: ")
