"""Attack 221: the offline half fed shapes earlier passes did not try: trees nested past what
Python's recursive walkers (``os.walk``, ``Path.mkdir(parents=True)``, ``rglob``,
``os.makedirs``) can descend, in a carried bundle and in a wheel the lock pins.

Findings this file pins (each failed before its fix):

- A wheel holding a member 1,100 directories deep (2,200 bytes, under ``MAX_PATH``) was vetted,
  and ``build --offline`` died in a RecursionError ("internal error", exit 2) creating its
  parents. ``install.safety.member_problem`` (wheels and conda packages) now refuses a member
  over ``MAX_DEPTH`` directories deep, naming it.
- ``verify --bundle`` of a bundle holding an extra directory 1,100 deep died the same way
  (``os.walk``); ``bundle._entries`` now walks with a list and names the directory EXTRA.
- Such a tree below ``layers-v1`` of a bundle used as the cache (or a shared cache) ended every
  build's prune in one (``os.walk``, then ``shutil.rmtree``): ``layer_walk`` sizes and empties
  it without recursion, and the junk is removed.
- A bundle.json of a million ``{}`` entries (3 MB; 64 MiB are allowed) was a million objects
  and problem lines (64 MiB: 7 GB); ``limits.enforce_record_items`` bounds a record's values.
- A manifest listing one layer 20,000 times had ``verify dist/oci`` hash it each time (a hang
  with a big layer); ``oci.checked._check_tree`` hashes each descriptor once. ``inspect``
  hashed and inflated it as often: ``read_base`` verifies each once and refuses over
  ``MAX_LAYERS``; ``inspect_image`` reads each once.
- A lock whose ``inputs-hash`` is ``SHA256:`` and the right hex was called stale beside the
  same digest; ``lockfile._read`` now holds the field to ``digests.is_sha256_digest``.

Real processes, real bundles made by ``fetch --bundle`` and tampered afterwards.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlenv.install.safety import MAX_DEPTH, member_problem
from mlenv.limits import MAX_RECORD_ITEMS
from mlenv.oci.read import MAX_LAYERS
from tests.support.cli import run_mlenv
from tests.support.deep_trees import nest, unnest
from tests.support.wheels import build_wheel

DEPTH = 1100  # past the recursion limit; "a/" each, so 2,200 bytes: under every path bound
MANIFEST = (
    '[environment]\nname = "deep"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
    '[pypi]\nindex-url = "file:///nonexistent-mlenv-index/simple"\nfind-links = ["wheels"]\n'
    'dependencies = ["app"]\n'
)


def _ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _bundle(base: Path, wheels: dict[str, dict[str, bytes]]) -> Path:
    """A bundle, made by the real ``fetch --bundle``, of a lock pinning ``app`` 1.0, which
    requires each of ``wheels`` (name: files) at 2.0."""
    project = base / "project"
    (project / "wheels").mkdir(parents=True)
    app = build_wheel("app", "1.0", requires_dist=list(wheels), files={"app/__init__.py": b""})
    for name, data in (app, *(build_wheel(n, "2.0", files=f) for n, f in wheels.items())):
        (project / "wheels" / name).write_bytes(data)
    (project / "mlenv.toml").write_text(MANIFEST)
    env = {"MLENV_CACHE_DIR": str(base / "cache")}
    _ok(run_mlenv(["lock"], project, env))
    _ok(run_mlenv(["fetch", "--bundle", str(base / "bundle")], project, env))
    return base / "bundle"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle of a wheel holding a member ``DEPTH`` directories deep."""
    deep = "/".join(["a"] * DEPTH)
    files = {"deeplib/__init__.py": b"", f"deeplib/{deep}/x.py": b"y\n"}
    return _bundle(tmp_path_factory.mktemp("deep"), {"deeplib": files})


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle of a plain wheel."""
    return _bundle(tmp_path_factory.mktemp("plain"), {"lib": {"lib/__init__.py": b"x = 1\n"}})


def test_build_refuses_a_wheel_member_nested_past_the_walkers(bundle: Path, tmp_path: Path) -> None:
    """Before: exit 2, "internal error" (RecursionError in Path.mkdir); now exit 1 naming the
    wheel, the member's depth and the limit, nothing built."""
    site = tmp_path / "site"
    shutil.copytree(bundle, site)
    try:  # an mlenv without the bound left its deep staging tree behind
        done = run_mlenv(["--cache", str(site), "build", "--offline"], site)
    finally:
        leftovers = [p.name for p in site.iterdir() if p.name.startswith(".dist.work")]
        for name in leftovers:
            unnest(site / name)
    assert leftovers == []
    assert done.returncode == 1, done.stdout + done.stderr
    assert "internal error" not in done.stderr
    assert "deeplib-2.0-py3-none-any.whl" in done.stderr
    assert f"lies {DEPTH + 1} directories deep, over the limit of {MAX_DEPTH}" in done.stderr
    assert not (site / "dist").exists()


def test_verify_bundle_names_an_extra_directory_nested_past_the_walkers(
    bundle: Path, tmp_path: Path
) -> None:
    """Before: exit 2, "internal error" (RecursionError in os.walk); now the directory is one
    EXTRA line with its count, exit 1."""
    site = tmp_path / "site"
    shutil.copytree(bundle, site)
    nest(site, DEPTH)
    try:
        done = run_mlenv(["verify", "--bundle", str(site)], tmp_path)
    finally:
        unnest(site / "z")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "internal error" not in done.stderr
    assert f"z: a directory holding {DEPTH - 1} entries, not in bundle.json" in done.stdout


def test_the_depth_bound_admits_every_level_up_to_it() -> None:
    """The bound refuses only what is past it: a member ``MAX_DEPTH`` directories deep is
    installed as before."""
    at_bound = "/".join(["d"] * MAX_DEPTH + ["f.py"])
    assert member_problem(at_bound) is None
    assert member_problem(f"d/{at_bound}") == (
        f"lies {MAX_DEPTH + 1} directories deep, over the limit of {MAX_DEPTH}"
    )


def test_build_with_a_bundle_as_cache_prunes_a_tree_nested_past_the_walkers(
    plain: Path, tmp_path: Path
) -> None:
    """Before: exit 2, "internal error" (RecursionError in the layer cache's prune, sizing the
    junk with os.walk, then removing it with shutil.rmtree); now the image is built and the
    junk is gone, as junk of any other shape."""
    site = tmp_path / "site"
    shutil.copytree(plain, site)
    (site / "layers-v1" / "ab").mkdir(parents=True)  # a shard's name, holding junk
    nest(site / "layers-v1" / "ab", DEPTH)
    try:
        done = run_mlenv(["--cache", str(site), "build", "--offline"], site)
    finally:  # an mlenv without the fix left it, or its renamed copy
        gone = not (site / "layers-v1" / "ab" / "z").exists()
        for leftover in [site / "layers-v1" / "ab", *(site / "layers-v1").glob(".tmp-drop-*")]:
            unnest(leftover)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (site / "dist" / "image.tar").is_file()
    assert gone


@pytest.mark.parametrize("frozen", [False, True])
def test_a_lock_whose_inputs_hash_names_its_algorithm_in_capitals_is_damaged(
    plain: Path, tmp_path: Path, frozen: bool
) -> None:
    """``inputs-hash = "SHA256:<the same hex>"``. Before: the build called the lock stale
    beside the same digest ("lock SHA256:740a6c556b23…, manifest sha256:740a6c556b23…"), and
    ``--frozen`` built from it with that warning; now the reader names the field, as it names
    a package's sha256 spelled in capitals."""
    site = tmp_path / "site"
    shutil.copytree(plain, site)
    lock = site / "mlenv.lock"
    text = lock.read_text()
    assert text.count('inputs-hash = "sha256:') == 1
    lock.write_text(text.replace('inputs-hash = "sha256:', 'inputs-hash = "SHA256:'))
    done = run_mlenv(["--cache", str(site), "build", "--offline", *(["--frozen"] * frozen)], site)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "inputs-hash: expected sha256: and 64 lower-case hex digits" in done.stderr
    assert not (site / "dist").exists()


def test_verify_bundle_reads_a_bundle_json_of_a_million_empty_entries_as_one_problem(
    plain: Path, tmp_path: Path
) -> None:
    """3 MB of ``{},`` (a bundle.json may be 64 MiB). Before: json.loads made a million
    objects and ``verify --bundle`` a problem and a line for each (64 MiB: 22 million lines,
    7 GB); now its values are counted first (``limits.enforce_record_items``, which the output
    gate's ``parse_record_json`` calls too) and the index is one unreadable problem."""
    site = tmp_path / "site"
    shutil.copytree(plain, site)
    index = (site / "bundle.json").read_bytes().rstrip()
    assert index.endswith(b"]}")
    flood = index[:-2] + b",{}" * 1_000_000 + b"]}\n"
    (site / "bundle.json").write_bytes(flood)
    count = flood.count(b",") + flood.count(b"{") + flood.count(b"[")
    done = run_mlenv(["verify", "--bundle", str(site)], tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[0] == (
        f"INDEX              bundle.json: unreadable bundle index: holds {count:,} values, over "
        f"the {MAX_RECORD_ITEMS:,} of any record"
    )
    assert len(done.stdout.splitlines()) == 2  # and the FAIL line


COUNT_OPENS = """
import sys
from pathlib import Path
from mlenv.inspect import inspect_image
from mlenv.oci.checked import checked_image
read, layout, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
opens = []
sys.addaudithook(lambda event, args: opens.append(args[0]) if event == "open" else None)
checked_image(layout) if read == "verify" else inspect_image(layout, "linux-64")
print(sum(1 for path in opens if str(path).endswith(name)))
"""


@pytest.fixture(scope="module")
def layout(plain: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The OCI layout ``build --offline`` writes from the plain bundle."""
    site = tmp_path_factory.mktemp("built") / "site"
    shutil.copytree(plain, site)
    _ok(run_mlenv(["--cache", str(site), "build", "--offline"], site))
    return site / "dist" / "oci"


def _relisted(layout: Path, times: int, tmp_path: Path) -> tuple[Path, str]:
    """A copy of ``layout`` whose manifest lists its first layer ``times`` times (and its
    config as many diff_ids, as a runtime needs); the layer blob's file name."""
    copy = tmp_path / "oci"
    shutil.copytree(layout, copy)
    blobs = copy / "blobs" / "sha256"

    def rewritten(descriptor: dict[str, object], edit: Callable[[dict[str, Any]], None]) -> None:
        body = json.loads((blobs / str(descriptor["digest"]).removeprefix("sha256:")).read_bytes())
        edit(body)
        data = json.dumps(body, separators=(",", ":")).encode()
        (blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
        descriptor.update(digest=f"sha256:{hashlib.sha256(data).hexdigest()}", size=len(data))

    def manifest(body: dict[str, Any]) -> None:
        body["layers"] = [body["layers"][0]] * times
        rewritten(body["config"], config)

    def config(body: dict[str, Any]) -> None:
        body["rootfs"]["diff_ids"] = [body["rootfs"]["diff_ids"][0]] * times

    index = json.loads((copy / "index.json").read_bytes())
    rewritten(index["manifests"][0], manifest)
    (copy / "index.json").write_text(json.dumps(index, separators=(",", ":")))
    top = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_bytes())
    return copy, top["layers"][0]["digest"].removeprefix("sha256:")


def _opens(read: str, layout: Path, name: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", COUNT_OPENS, read, str(layout), name],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_verify_hashes_a_layer_a_manifest_lists_many_times_once(
    layout: Path, tmp_path: Path
) -> None:
    """A built layout whose manifest lists one layer 20,000 times (3 MB of JSON; 16 MiB are
    allowed: with a 1 GiB layer, 100 TiB to hash). Before: ``checked_image`` (``verify
    dist/oci``) opened and hashed the blob once per listing; now once. Counted by the real
    opens (an audit hook in a child interpreter)."""
    assert _opens("verify", *_relisted(layout, 20_000, tmp_path)) == 1


def test_inspect_reads_a_layer_a_manifest_lists_many_times_once(
    layout: Path, tmp_path: Path
) -> None:
    """``inspect`` of that layout with the layer listed 1,000 times. Before: hashed 1,000
    times by ``read_base`` and inflated 1,000 times by ``inspect_image``; now once each."""
    assert _opens("inspect", *_relisted(layout, MAX_LAYERS, tmp_path)) == 2


def test_inspect_refuses_more_layers_than_a_runtime_stacks(layout: Path, tmp_path: Path) -> None:
    """Past ``MAX_LAYERS`` (overlayfs stacks 500) no runtime can run the image: refused,
    naming the count, before any layer is read (before: 20,000 reads)."""
    relisted, _ = _relisted(layout, 20_000, tmp_path)
    done = run_mlenv(["inspect", str(relisted)], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"the manifest lists 20,000 layers, over the {MAX_LAYERS:,}" in done.stderr
