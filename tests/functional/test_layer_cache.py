"""The layer cache: a warm build, a rebuild after a bump and a build over a corrupt entry give
exactly the bytes of a cold build; only the changed layers are installed and compressed."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mlenv.cache import LAYERS
from tests.support.cli import run_mlenv
from tests.support.golden import build, digests
from tests.support.layered import configure, layered_project
from tests.support.wheels import build_wheel

OCI_ONLY = 'outputs = ["oci"]\n'
LINE = re.compile(r"^layer (\d+)/(\d+) \((.+?)\): (cached|built)", re.MULTILINE)


def project_at(
    where: Path, alpha: str = "1.0", outputs: str = OCI_ONLY, *, host_python: bool = False
) -> Path:
    project = layered_project(where, '"auto"', alpha, host_python=host_python)
    configure(project, '"auto"', alpha, outputs)
    return project


def layer_states(stderr: str) -> dict[str, str]:
    """Layer name -> "cached" or "built", from the one line build reports per layer."""
    found = {name: state for _, _, name, state in LINE.findall(stderr)}
    assert found, stderr
    return found


def installed_wheels(stderr: str) -> int:
    match = re.search(r"^Installing wheels: (\d+) wheels", stderr, re.MULTILINE)
    assert match, stderr
    return int(match.group(1))


def verified_wheels(stderr: str) -> int:
    """How many artifacts the build read from the cache (each copied by the read that hashes
    it), over every "verifying artifacts" line."""
    return sum(int(n) for n in re.findall(r"^verifying artifacts: (\d+) files", stderr, re.M))


def entries(cache: Path) -> list[Path]:
    """The cached layers (not the records of vetted wheels beside them)."""
    return sorted(p.parent for p in (cache / LAYERS).glob("??/*/blob"))


def cold_digests(tmp_path: Path, alpha: str, outputs: str = OCI_ONLY) -> dict[str, str]:
    """The same lock built in a fresh project with a fresh cache."""
    project = project_at(tmp_path / f"cold-{alpha}" / "project", alpha, outputs)
    result = build(project, tmp_path / f"cold-{alpha}" / "cache")
    assert result.returncode == 0, result.stderr
    assert set(layer_states(result.stderr).values()) == {"built"}
    return digests(project / "dist")


@pytest.mark.parametrize("outputs", [OCI_ONLY, 'outputs = ["oci", "conda-pack"]\n'])
def test_a_warm_build_reuses_every_layer_and_gives_the_cold_bytes(
    tmp_path: Path, outputs: str
) -> None:
    """Protects: reuse is byte-identical, and with the image alone no wheel is installed."""
    project = project_at(tmp_path / "project", outputs=outputs)
    cache = tmp_path / "cache"
    cold = build(project, cache)
    assert cold.returncode == 0, cold.stderr
    first = digests(project / "dist")
    warm = build(project, cache)
    assert warm.returncode == 0, warm.stderr
    assert digests(project / "dist") == first
    states = layer_states(warm.stderr)
    assert set(states.values()) == {"cached"}
    # The conda-pack archive needs the whole tree; the image alone needs no wheel at all.
    assert installed_wheels(warm.stderr) == (0 if outputs == OCI_ONLY else 5)
    assert len(entries(cache)) == len(states)


def test_a_bump_rebuilds_its_layer_and_the_skeleton_only(tmp_path: Path) -> None:
    """Protects: only the bumped package is installed and only its layer and the skeleton are
    compressed, and the result is the cold build of the new lock byte for byte."""
    project = project_at(tmp_path / "warm" / "project")
    cache = tmp_path / "warm" / "cache"
    assert build(project, cache).returncode == 0
    configure(project, '"auto"', "1.1", OCI_ONLY)
    bumped = build(project, cache)
    assert bumped.returncode == 0, bumped.stderr
    states = layer_states(bumped.stderr)
    record = json.loads((project / "dist" / "build.json").read_text())["outputs"]["oci"]
    group = next(layer for layer in record["layers"] if "alpha" in layer["packages"])
    assert {n for n, state in states.items() if state == "built"} == {"skeleton", group["layer"]}
    assert installed_wheels(bumped.stderr) == len(group["packages"])  # alpha's group only
    # The wheels of the reused layers are not even read: their vetting is in the cache.
    assert verified_wheels(bumped.stderr) == len(group["packages"])
    assert digests(project / "dist") == cold_digests(tmp_path, "1.1")


def test_a_bump_that_moves_a_shared_path_rebuilds_the_layer_that_now_owns_it(
    tmp_path: Path,
) -> None:
    """Protects: a path two wheels install alike belongs to the first by file name; when a bump
    drops it from that wheel, the other wheel's layer (its vetting taken from the cache, never
    read) is rebuilt with the path, and the result is the cold build's bytes."""
    shared = {"shared/__init__.py": b"# a namespace both ship\n"}
    extra = [
        build_wheel("alpha", "1.2", files={"alpha/__init__.py": b"", **shared}),
        build_wheel("gamma", "1.1", files={"gamma/__init__.py": b"", **shared}),
    ]

    def at(where: Path, alpha: str) -> Path:
        project = layered_project(where, '"auto"')
        for filename, data in extra:
            (project / "wheels" / filename).write_bytes(data)
        (project / "mlenv.lock").unlink()  # locked afresh: gamma 1.1, the newest
        configure(project, '"auto"', alpha, OCI_ONLY)
        return project

    project = at(tmp_path / "warm" / "project", "1.2")
    cache = tmp_path / "warm" / "cache"
    assert build(project, cache).returncode == 0
    assert '"gamma-1.1-' in (project / "mlenv.lock").read_text()
    configure(project, '"auto"', "1.1", OCI_ONLY)  # alpha 1.1 has no shared/__init__.py
    bumped = build(project, cache)
    assert bumped.returncode == 0, bumped.stderr
    layers = json.loads((project / "dist" / "build.json").read_text())["outputs"]["oci"]["layers"]
    owners = {n: layer["layer"] for layer in layers for n in layer.get("packages", [])}
    built = {n for n, state in layer_states(bumped.stderr).items() if state == "built"}
    assert built == {"skeleton", owners["alpha"], owners["gamma"]}
    cold = at(tmp_path / "cold" / "project", "1.1")
    assert build(cold, tmp_path / "cold" / "cache").returncode == 0
    assert digests(project / "dist") == digests(cold / "dist")


def _flip_byte(entry: Path) -> None:
    blob = entry / "blob"
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.unlink()  # the blob may be a hard link to a dist file: never write through it
    blob.write_bytes(bytes(data))


def _truncate(entry: Path) -> None:
    data = (entry / "blob").read_bytes()
    (entry / "blob").unlink()
    (entry / "blob").write_bytes(data[:-1])


def _garbage_record(entry: Path) -> None:
    (entry / "layer.json").write_text("{not json")


def _edited_record(entry: Path) -> None:
    """The recorded digest changed without its checksum (a damaged record)."""
    record = json.loads((entry / "layer.json").read_text())
    record["body"]["blob"]["diff_id"] = "sha256:" + "0" * 64
    (entry / "layer.json").write_text(json.dumps(record))


def _other_entry(entry: Path) -> None:
    """Another layer's valid blob and record moved under this key."""
    other = next(p for p in entries(entry.parents[2]) if p != entry)
    shutil.rmtree(entry)
    shutil.copytree(other, entry)


def _missing_blob(entry: Path) -> None:
    (entry / "blob").unlink()


@pytest.mark.parametrize(
    "damage", [_flip_byte, _truncate, _garbage_record, _edited_record, _other_entry, _missing_blob]
)
def test_a_corrupt_entry_is_dropped_and_rebuilt_never_shipped(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    """Protects: a cache entry is checked before reuse; a bad one is rebuilt, and the build
    gives the cold bytes (a damaged blob would otherwise reach the image)."""
    project = project_at(tmp_path / "project")
    cache = tmp_path / "cache"
    assert build(project, cache).returncode == 0
    first = digests(project / "dist")
    big = max(entries(cache), key=lambda p: (p / "blob").stat().st_size)
    damage(big)
    again = build(project, cache)
    assert again.returncode == 0, again.stderr
    assert digests(project / "dist") == first
    states = layer_states(again.stderr)
    assert list(states.values()).count("built") == 1
    assert "is corrupt" in again.stderr
    healed = build(project, cache)
    assert set(layer_states(healed.stderr).values()) == {"cached"}
    assert digests(project / "dist") == first


def test_a_reused_layer_is_linked_and_checked_by_the_read_that_ships_it(tmp_path: Path) -> None:
    """Protects security invariant 1 for reused layers: a reused blob is linked unread into the
    image (no copy), and image.tar's read checks it; one that changed (same size, so the link
    is made) is never shipped: the build runs again reading every blob first, rebuilds that
    layer, and gives the cold bytes."""
    project = project_at(tmp_path / "project")
    cache = tmp_path / "cache"
    assert build(project, cache).returncode == 0
    first = digests(project / "dist")
    warm = build(project, cache)
    assert warm.returncode == 0 and "changed in the layer cache" not in warm.stderr
    linked = {p.name: (p / "blob").stat().st_ino for p in entries(cache)}
    shipped = {p.stat().st_ino for p in (project / "dist" / "oci" / "blobs" / "sha256").iterdir()}
    assert set(linked.values()) <= shipped  # every reused blob is the cache's file
    big = max(entries(cache), key=lambda p: (p / "blob").stat().st_size)
    _flip_byte(big)
    again = build(project, cache)
    assert again.returncode == 0, again.stderr
    assert "changed in the layer cache during the build; building again" in again.stderr
    assert digests(project / "dist") == first
    assert list(layer_states(again.stderr).values()).count("built") == 1


def test_check_compares_a_reused_layer_with_a_fresh_one(tmp_path: Path) -> None:
    """Protects: build --check builds its second copy without the cache, so a cached layer
    that is self-consistent but wrong (a key that missed an input) fails the check."""
    project = project_at(tmp_path / "project")
    cache = tmp_path / "cache"
    assert build(project, cache).returncode == 0
    checked = build(project, cache, "--check")
    assert checked.returncode == 0, checked.stderr
    assert "check: two builds are byte-identical" in checked.stderr
    assert "built" in layer_states(checked.stderr).values()
    # Swap two entries whole: each is internally valid, so only a fresh build can tell.
    first, second = sorted(entries(cache), key=lambda p: (p / "blob").stat().st_size)[:2]
    for path in (first, second):
        record = json.loads((path / "layer.json").read_text())
        other = second if path == first else first
        record["body"]["key"] = other.name
        from mlenv.cache.layers import _sealed

        (path / "layer.json").write_bytes(_sealed(record["body"]))
    first.rename(first.with_name("swap"))
    second.rename(first)
    first.with_name("swap").rename(second)
    bad = build(project, cache, "--check")
    assert bad.returncode == 1
    assert "two builds differ" in bad.stderr


def test_the_cache_stays_under_its_limit_least_recently_used_first(tmp_path: Path) -> None:
    """Protects: MLENV_LAYER_CACHE_MAX bounds the store after a build, evicting old layers
    before the ones this build used; `mlenv cache prune --max-size 0` empties it."""
    project = project_at(tmp_path / "project")
    cache = tmp_path / "cache"
    assert build(project, cache).returncode == 0
    old = {p.name for p in entries(cache)}
    configure(project, '"auto"', "1.1", OCI_ONLY)
    used = build(project, cache)
    assert used.returncode == 0
    total = sum(f.stat().st_size for p in entries(cache) for f in p.iterdir())
    newest = {p.name for p in entries(cache)} - old
    limit = total - 1  # one byte too many: the oldest unused entries go first
    bounded = build(project, cache, env={"MLENV_LAYER_CACHE_MAX": str(limit)})
    assert bounded.returncode == 0, bounded.stderr
    kept = {p.name for p in entries(cache)}
    assert newest <= kept and kept < old | newest
    assert sum(f.stat().st_size for p in entries(cache) for f in p.iterdir()) <= limit
    pruned = run_mlenv(["cache", "prune", "--max-size", "0"], project,
                       {"MLENV_CACHE_DIR": str(cache)})  # fmt: skip
    assert pruned.returncode == 0, pruned.stderr
    assert entries(cache) == []
    assert re.search(r"removed \d+ layer\(s\)", pruned.stderr)


@pytest.mark.parametrize("size", ["ten", "-5", "5X", "", "1.5G"])
def test_a_malformed_limit_is_a_clear_error(tmp_path: Path, size: str) -> None:
    """Protects: a limit that is not a size is refused, naming where it came from."""
    result = run_mlenv(["cache", "prune", "--max-size", size], tmp_path,
                       {"MLENV_CACHE_DIR": str(tmp_path / "cache")})  # fmt: skip
    assert result.returncode == 1
    assert "--max-size" in result.stderr and "Traceback" not in result.stderr


def test_a_read_only_cache_costs_time_not_the_build(tmp_path: Path) -> None:
    """Protects: a cache mlenv cannot write into (a bundle on read-only media, a full disk)
    still builds. (Tests run as root, which writes through modes: a file blocks the store.)"""
    project = project_at(tmp_path / "project")
    cache = tmp_path / "cache"
    (cache / LAYERS).write_bytes(b"")
    result = build(project, cache)
    assert result.returncode == 0, result.stderr
    assert "cannot keep the layer" in result.stderr
    assert digests(project / "dist") == cold_digests(tmp_path, "1.0")


def test_hash_bytecode_layers_are_reused_byte_identically(tmp_path: Path) -> None:
    """Protects: .pyc are compiled per package, so a package's layer is the same whether the
    others were compiled in the same run or came from the cache."""
    project = project_at(tmp_path / "warm" / "project", host_python=True)
    cache = tmp_path / "warm" / "cache"
    assert build(project, cache, "--bytecode", "hash").returncode == 0
    configure(project, '"auto"', "1.1", OCI_ONLY)
    bumped = build(project, cache, "--bytecode", "hash")
    assert bumped.returncode == 0, bumped.stderr
    assert installed_wheels(bumped.stderr) < 5
    cold = project_at(tmp_path / "cold" / "project", "1.1", host_python=True)
    assert build(cold, tmp_path / "cold" / "cache", "--bytecode", "hash").returncode == 0
    assert digests(project / "dist") == digests(cold / "dist")


def test_a_bundle_used_as_the_cache_is_left_as_it_was(tmp_path: Path) -> None:
    """Protects: building from a carried bundle writes no layers into it, so verify --bundle
    still finds exactly the listed files."""
    project = project_at(tmp_path / "project")
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    bundle = tmp_path / "bundle"
    assert run_mlenv(["fetch", "--bundle", str(bundle)], project, env).returncode == 0
    built = run_mlenv(["--cache", str(bundle), "build", "--offline"], project)
    assert built.returncode == 0, built.stderr
    assert not (bundle / LAYERS).exists()
    verified = run_mlenv(["verify", "--bundle", str(bundle)], project)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_gzip_outputs_written_together_are_those_written_alone(tmp_path: Path) -> None:
    """Protects the shared deflate: beside the archive, each big file (``big/blob.bin``) is
    deflated once for both outputs, and neither output may differ from the one written alone."""
    project = layered_project(tmp_path / "project", "1")
    found: dict[str, dict[str, str]] = {}
    for outputs in ('["oci", "conda-pack"]', '["oci"]', '["conda-pack"]'):
        configure(project, "1", "1.0", f"outputs = {outputs}\n")
        dist = tmp_path / f"dist-{len(found)}"
        result = build(project, project.parent / "cache", "--dist", str(dist))
        assert result.returncode == 0, result.stderr
        found[outputs] = digests(dist)
    together = found['["oci", "conda-pack"]']
    assert together["image.tar"] == found['["oci"]']["image.tar"]
    assert together["golden.tar.gz"] == found['["conda-pack"]']["golden.tar.gz"]
