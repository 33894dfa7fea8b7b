"""Adversary pass 101: `mlenv verify`, the last gate before deploy, fed outputs it passed (exit 0)
though a deploy would run something other than the build.

Findings (before the fix), each held by a test below:

1. `verify dist/oci` read index.json with Python's exact keys; Go's encoding/json (skopeo,
   containerd, podman) matches keys to fields ignoring case, by Unicode case folding, and keeps
   the last. An index.json holding the built manifest under ``"manifests"`` and another image
   (its config adding ``LD_PRELOAD``) under ``"Manifests"`` (or the same word with a long s,
   U+017F, or a descriptor with ``"Digest"`` after ``"digest"``) passed verify, and
   `skopeo inspect oci:dist/oci` showed the other image. Now the one file of a layout no digest
   holds is read refusing two keys that fold alike (``oci.model._one_spelling``, through
   ``oci.checked.checked_image``).
2. A blob, ``blobs/`` or index.json of dist/oci that was a symlink to a file outside dist/ (the
   right bytes at verify time) passed: the deploy sends whatever lies there later. The layout
   verify checks is now read through ``cache.files.open_plain`` (``oci.checked._PlainLayout``).
3. dist/image.tar replaced by a hard link or a symlink to mlenv.lock passed with exit 0:
   ``commands.verify._is_lock`` took any output that is the lock's file for "the user named the
   lock" and skipped the output check. Now only a path of the lock's own name is.
4. A base image whose config holds ``"env"`` (or ``"ENV"``, ``"labels"``) beside ``"Env"`` was
   built on: the image's runtime settings copy the base's, mlenv set ``"Env"`` (PATH at the
   environment, NVIDIA_REQUIRE_CUDA with a base's NVIDIA_DISABLE_REQUIRE dropped) and
   ``"Labels"`` (the lock's sha256), and Go readers (skopeo inspect showed it; Docker,
   containerd, podman) took the base's ``"env"``: no environment on PATH, the driver guard off,
   LD_PRELOAD, another lock's label; verify passed the image. ``oci.base_config.config_problem``
   now refuses a base config holding two keys that fold alike.
5. `verify --bundle B dist/image.tar` (and with --driver, --host, --cache, --nodes, --json)
   checked only the bundle and said OK: the output, the driver and the nodes were never
   judged. Now --bundle with any of them is a usage error (``cli.verify``).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.oci.checked import checked_image
from mlenv.oci.model import OciError, sha256_of
from mlenv.oci.read import read_base
from tests.support.cli import run_mlenv
from tests.support.golden import fetched_golden
from tests.support.images import base_with


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    """The golden project built offline, and a bundle fetched for its lock."""
    root = tmp_path_factory.mktemp("a101")
    project, env = fetched_golden(root)
    result = run_mlenv(["build", "--offline"], project, env)
    assert result.returncode == 0, result.stderr
    bundle = root / "bundle"
    fetched = run_mlenv(["fetch", "--bundle", str(bundle)], project, env)
    assert fetched.returncode == 0, fetched.stderr
    return project, env, bundle


def _copy(project: Path, where: Path) -> Path:
    copy = where / "p"
    shutil.copytree(project, copy, symlinks=True)
    return copy


def _blobs(layout: Path) -> Path:
    return layout / "blobs" / "sha256"


def _other_image(layout: Path) -> dict[str, object]:
    """A second image written into the layout's blobs: the built one whose config adds
    LD_PRELOAD (every blob matching its digest); its descriptor."""
    good = json.loads((layout / "index.json").read_text())["manifests"][0]
    manifest = json.loads((_blobs(layout) / good["digest"][7:]).read_bytes())
    config = json.loads((_blobs(layout) / manifest["config"]["digest"][7:]).read_bytes())
    config["config"]["Env"] = [*config["config"].get("Env", []), "LD_PRELOAD=/tmp/x.so"]

    def put(value: object) -> tuple[str, int]:
        data = json.dumps(value).encode()
        (_blobs(layout) / sha256_of(data)[7:]).write_bytes(data)
        return sha256_of(data), len(data)

    manifest["config"]["digest"], manifest["config"]["size"] = put(config)
    digest, size = put(manifest)
    return {**good, "digest": digest, "size": size}


def _index(good: dict[str, object], other: dict[str, object], shape: str) -> str:
    """index.json naming ``good`` for Python's exact keys and ``other`` for Go's folded ones."""
    head = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'
    if shape == "list-in-another-case":
        return f'{head}"manifests":[{json.dumps(good)}],"Manifests":[{json.dumps(other)}]}}'
    if shape == "list-with-a-long-s":
        return f'{head}"manifests":[{json.dumps(good)}],"manife\u017fts":[{json.dumps(other)}]}}'
    if shape == "digest-in-another-case":
        entry = json.dumps(good)[:-1] + f',"Digest":"{other["digest"]}","SIZE":{other["size"]}}}'
        return f'{head}"manifests":[{entry}]}}'
    assert shape == "list-given-twice"
    return f'{head}"manifests":[{json.dumps(other)}],"manifests":[{json.dumps(good)}]}}'


SHAPES = ["list-in-another-case", "list-with-a-long-s", "digest-in-another-case",
          "list-given-twice"]  # fmt: skip


@pytest.mark.parametrize("shape", SHAPES)
def test_an_index_json_another_reader_takes_for_another_image_fails_verify(
    built: tuple[Path, dict[str, str], Path], tmp_path: Path, shape: str
) -> None:
    """Invariant 1 (`verify dist/oci` holds the layout a deploy sends): an index.json whose
    keys Go's encoding/json folds onto the fields Python reads, naming another image with
    LD_PRELOAD in its Env (skopeo deployed that one), is refused naming index.json
    (`oci.model._one_spelling`). Before: exit 0."""
    project, env, _ = built
    copy = _copy(project, tmp_path)
    layout = copy / "dist" / "oci"
    good = json.loads((layout / "index.json").read_text())["manifests"][0]
    (layout / "index.json").write_text(_index(good, _other_image(layout), shape))
    result = run_mlenv(["verify", "dist/oci"], copy, env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "output-corrupt" in result.stdout and "dist/oci/index.json" in result.stdout
    assert "Traceback" not in result.stderr
    untouched = run_mlenv(["verify", "dist/oci"], project, env)
    assert untouched.returncode == 0, untouched.stdout + untouched.stderr


def _variants(word: str) -> st.SearchStrategy[str]:
    """Spellings of ``word`` Go's case-insensitive field match takes for it (ASCII case, the
    long s for s and the Kelvin sign for k), the word itself included (a repeat)."""

    def spellings(letter: str) -> list[str]:
        extra = {"s": ["\u017f"], "k": ["\u212a"]}.get(letter.lower(), [])
        return [letter.lower(), letter.upper(), *extra]

    return st.tuples(*(st.sampled_from(spellings(c)) for c in word)).map("".join)


KEYS = {"top": ["schemaVersion", "mediaType", "manifests"],
        "entry": ["mediaType", "digest", "size", "platform", "annotations"]}  # fmt: skip


@pytest.fixture(scope="module")
def layout_copy(built: tuple[Path, dict[str, str], Path]) -> Path:
    project = built[0]
    where = Path(tempfile.mkdtemp(prefix="a101-layout-"))
    shutil.copytree(project / "dist" / "oci", where / "oci")
    return where / "oci"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    place=st.sampled_from(sorted(KEYS)),
    data=st.data(),
)
def test_hypothesis_any_second_spelling_of_an_index_key_is_refused(
    layout_copy: Path, place: str, data: st.DataObject
) -> None:
    """Any key of index.json or its entry given again in a spelling Go folds onto it (any
    value: Go keeps the last) is refused by `checked_image`; the index as written is read."""
    index_path = layout_copy / "index.json"
    written = index_path.read_bytes()
    index = json.loads(written)
    key = data.draw(st.sampled_from(KEYS[place]))
    spelling = data.draw(_variants(key))
    holder = index if place == "top" else index["manifests"][0]
    assert spelling.casefold() == key.casefold() or spelling == key
    text = json.dumps(holder)[:-1] + f",{json.dumps(spelling)}:{json.dumps(holder.get(key))}}}"
    if place == "top":
        document = text
    else:
        document = json.dumps(index).replace(json.dumps(index["manifests"][0]), text)
    try:
        index_path.write_text(document)
        with pytest.raises(OciError, match="one key to some readers"):
            checked_image(layout_copy)
    finally:
        index_path.write_bytes(written)
    assert checked_image(layout_copy) == index["manifests"][0]["digest"]


def _outside(layout: Path, name: str, where: Path) -> None:
    """``layout/name`` moved out of dist/ and a symlink to it left in its place."""
    target = where / f"outside-{name.replace('/', '-')}"
    (layout / name).rename(target)
    (layout / name).symlink_to(target)


def _layer_name(layout: Path) -> str:
    good = json.loads((layout / "index.json").read_text())["manifests"][0]
    manifest = json.loads((_blobs(layout) / good["digest"][7:]).read_bytes())
    return f"blobs/sha256/{manifest['layers'][0]['digest'][7:]}"


LINKED: dict[str, Callable[[Path], str]] = {
    "layer": _layer_name,
    "blobs": lambda _: "blobs",
    "index.json": lambda _: "index.json",
}


@pytest.mark.parametrize("what", sorted(LINKED))
def test_a_layout_file_reached_through_a_symlink_fails_verify(
    built: tuple[Path, dict[str, str], Path], tmp_path: Path, what: str
) -> None:
    """Invariant 1: a layer blob, blobs/ or index.json of dist/oci that is a symlink to a file
    outside dist/ (the very bytes, so every digest matches) is refused naming it
    (`oci.checked._PlainLayout`): the deploy would send whatever the link reaches then, which
    nothing held. Before: exit 0."""
    project, env, _ = built
    copy = _copy(project, tmp_path)
    layout = copy / "dist" / "oci"
    _outside(layout, LINKED[what](layout), tmp_path)
    result = run_mlenv(["verify", "dist/oci"], copy, env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "output-corrupt" in result.stdout and "is a symlink" in result.stdout, result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_an_output_linked_to_the_lock_is_still_judged_as_an_output(
    built: tuple[Path, dict[str, str], Path], tmp_path: Path, link: str
) -> None:
    """Invariant 1 (`verify dist/image.tar` holds image.tar to build.json): an image.tar that
    is a hard link or a symlink to mlenv.lock is an output whose bytes are not the build's
    (`commands.verify._is_lock` takes only a path of the lock's name for the lock). Before:
    exit 0, the output never checked. Naming the lock itself still judges the lock alone."""
    project, env, _ = built
    copy = _copy(project, tmp_path)
    tar = copy / "dist" / "image.tar"
    tar.unlink()
    if link == "hard":
        os.link(copy / "mlenv.lock", tar)
    else:
        tar.symlink_to(Path("..") / "mlenv.lock")
    result = run_mlenv(["verify", "dist/image.tar"], copy, env)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    named = run_mlenv(["verify", "mlenv.lock"], copy, env)
    assert named.returncode == 0, named.stdout + named.stderr


@pytest.mark.parametrize(
    "extra",
    [
        ["dist/image.tar"],
        ["--driver", "100"],
        ["--host"],
        ["--cache"],
        ["--nodes", "nodes.json"],
        ["--json"],
    ],
)
def test_verify_bundle_never_passes_what_it_does_not_judge(
    built: tuple[Path, dict[str, str], Path], tmp_path: Path, extra: list[str]
) -> None:
    """`verify --bundle B` judges the bundle alone: given an output (here garbage), a driver,
    --host, --cache, --nodes or --json as well, it is a usage error naming them (`cli.verify`),
    never "OK" for checks it skipped. Before: exit 0 with the garbage image.tar and driver 100
    never judged. The bundle alone still passes."""
    project, env, bundle = built
    copy = _copy(project, tmp_path)
    (copy / "dist" / "image.tar").write_bytes(b"not the image")
    (copy / "nodes.json").write_text('{"items": []}')
    result = run_mlenv(["verify", "--bundle", str(bundle), *extra], copy, env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--bundle judges the bundle alone" in result.stderr
    assert extra[0].replace("dist/image.tar", "OUTPUT") in result.stderr
    assert "OK" not in result.stdout
    alone = run_mlenv(["verify", "--bundle", str(bundle)], copy, env)
    assert alone.returncode == 0, alone.stdout + alone.stderr


PLATFORM = {"x86_64": "linux-64", "aarch64": "linux-aarch64"}[platform.machine()]


def _runtime(key: str, value: object) -> Callable[[dict[str, object]], None]:
    def change(config: dict[str, object]) -> None:
        runtime = config["config"]
        assert isinstance(runtime, dict)
        runtime.setdefault("Labels", {"a": "b"})
        runtime[key] = value

    return change


BASES = {
    "env": _runtime("env", ["NVIDIA_DISABLE_REQUIRE=1", "LD_PRELOAD=/x.so", "PATH=/usr/bin"]),
    "ENV": _runtime("ENV", ["LD_PRELOAD=/x.so"]),
    "labels": _runtime("labels", {"dev.mlenv.lock-sha256": "0" * 64}),
    "top-level Config": lambda config: config.update(Config={"Env": ["LD_PRELOAD=/x.so"]}),
}


@pytest.mark.parametrize("shape", sorted(BASES))
def test_a_base_config_go_reads_another_way_is_refused(
    small_image: Path, tmp_path: Path, shape: str
) -> None:
    """Invariant 1 (what runs is the environment mlenv wrote): a base config holding ``"env"``
    beside ``"Env"`` (or ``"labels"`` beside ``"Labels"``) is refused by `read_base`
    (`oci.base_config.config_problem`) before any build: the image's runtime settings copy the
    base's, and Go's readers would run the base's Env (NVIDIA_DISABLE_REQUIRE=1, LD_PRELOAD,
    no environment on PATH) in place of the one mlenv writes. Before: built, verified, run."""
    base = base_with(small_image, tmp_path, BASES[shape])
    with pytest.raises(OciError, match="one key to Go's JSON readers"):
        read_base(base, platform=PLATFORM)
    assert read_base(small_image, platform=PLATFORM).config["config"]


RUNTIME_KEYS = ["Env", "Labels", "Entrypoint", "Cmd", "User", "WorkingDir", "ExposedPorts"]


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_hypothesis_any_second_spelling_of_a_runtime_key_is_refused(
    small_image: Path, data: st.DataObject
) -> None:
    """Any runtime key of a base config given again in a spelling Go folds onto it (not the
    key itself: Python's reader keeps one of an exact repeat, as Go does) is refused by
    `read_base`."""
    key = data.draw(st.sampled_from(RUNTIME_KEYS))
    spelling = data.draw(_variants(key).filter(lambda s: s != key))

    def change(config: dict[str, object]) -> None:
        _runtime(key, ["X=1"])(config)
        _runtime(spelling, ["X=2"])(config)

    with tempfile.TemporaryDirectory() as where:
        base = base_with(small_image, Path(where), change)
        with pytest.raises(OciError, match="one key to Go's JSON readers"):
            read_base(base, platform=PLATFORM)
