"""Attack 223: the offline half against wheels whose RECORD and zip disagree, and OCI layouts
handed to ``build``, ``verify`` and ``inspect`` in shapes earlier passes did not try.

Findings this file pins (each failed before its fix):

- A base image whose manifest lists one layer many times had the build's prefix check
  (``oci.base_tree.check_prefix``) inflate it once per listing: 1,000 listings of a 1 GiB
  layer, 1,000 inflations, before the build refused the image as deeper than a runtime
  stacks. Each blob is read once now (``_walk``), and the depth is judged before any layer
  is inflated (``build_outputs._check_depth``), its hint no longer "set layers to at most
  -873" when the base alone is too deep.
- A RECORD listing one path twice with other hashes installed the bytes its last row vouched
  for, which its first row disowns: ``install.checks._records`` refuses it.
- An ``index.json`` entry whose digest is a JSON list or object ended ``inspect`` (and a build
  on that base) in an internal error (unhashable); ``oci.read.select`` reads every matching
  entry as a descriptor first.
- A RECORD field over csv's 131,072-character limit ended ``build --offline`` (a wheel's,
  ``install.checks._records``) and ``inspect`` (an image's, ``inspect._record_owner``) in an
  internal error; the wheel is refused naming its RECORD, and the image's file is listed
  with no package.
- An image's entry of a media type in capitals or none was "no image for linux/amd64, only
  None/None"; ``oci.read._offered`` names the media types that are no image manifest's.
- ``verify dist/oci`` called a layout whose ``oci-layout`` is missing, of another version, a
  symlink or a FIFO "OK": umoci refuses such a layout (containerd's import and oras one of
  another version), or hangs on the FIFO. ``oci.checked.checked_image`` reads it as it
  reads ``index.json``.
- A base whose first layer fills the prefix and whose second whites out as many other names
  had the prefix check compare every whiteout with every path (8,000 of each: 31 s, growing
  as their product) before refusing it; ``base_tree._Changes.deletes`` looks each path up by
  its ancestors.

Real processes, real projects built by the real commands and tampered afterwards.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from mlenv.errors import MlenvError
from mlenv.oci.base_tree import check_prefix
from mlenv.oci.model import OciError
from mlenv.oci.read import read_base
from tests.support.cli import run_mlenv
from tests.support.engines import tool
from tests.support.fetch_project import build_refusal, fetched_links_project
from tests.support.growth import growth
from tests.support.raw_layout import PLATFORM, raw_layout, tar_layout
from tests.support.raw_wheels import DIST_INFO, METADATA, WHEEL, raw_wheel, record_hash
from tests.support.streamed_wheels import big_blob, install_as
from tests.support.wheels import build_wheel

PYTHON = "usr/bin/python3.11"
BASE = [("usr", "dir", ""), ("usr/bin", "dir", ""), (PYTHON, "file", "")]


def _relisted(layout: Path, times: int) -> str:
    """Rewrite ``layout`` so its manifest lists its one layer ``times`` times (its config as
    many diff_ids); the layer blob's file name."""
    blobs = layout / "blobs" / "sha256"

    def rewritten(descriptor: dict[str, Any], edit: Any) -> None:
        body = json.loads((blobs / descriptor["digest"][7:]).read_bytes())
        edit(body)
        data = json.dumps(body).encode()
        (blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
        descriptor.update(digest=f"sha256:{hashlib.sha256(data).hexdigest()}", size=len(data))

    def config(body: dict[str, Any]) -> None:
        body["rootfs"]["diff_ids"] = body["rootfs"]["diff_ids"] * times

    def manifest(body: dict[str, Any]) -> None:
        body["layers"] = body["layers"] * times
        rewritten(body["config"], config)

    index = json.loads((layout / "index.json").read_bytes())
    rewritten(index["manifests"][0], manifest)
    (layout / "index.json").write_text(json.dumps(index))
    top = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_bytes())
    return str(top["layers"][0]["digest"]).removeprefix("sha256:")


def _project(where: Path, more: str = "") -> Path:
    """A locked and fetched project of one wheel, building an OCI image only."""
    app = build_wheel("app", "1.0", files={"app/__init__.py": b""})
    return fetched_links_project(where / "project", [app], '[build]\noutputs = ["oci"]\n' + more)


COUNT_OPENS = """
import runpy, sys
name = sys.argv[1]
opens = []
sys.addaudithook(lambda event, args: opens.append(str(args[0])) if event == "open" else None)
sys.argv = ["mlenv", *sys.argv[2:]]
try:
    runpy.run_module("mlenv", run_name="__main__")
except SystemExit as exit:
    code = exit.code
print(code, sum(1 for path in opens if path.endswith(name)), file=sys.stderr)
"""


def _build_counting(project: Path, cache: Path, name: str) -> tuple[int, int, str]:
    """``build --offline`` from ``cache`` in a child interpreter: its exit code, how often it
    opened a file named ``name`` (an audit hook: the real opens), and its stderr."""
    done = subprocess.run(
        [sys.executable, "-c", COUNT_OPENS, name, "build", "--offline"],
        cwd=project, capture_output=True, text=True, check=False,
        env={**os.environ, "MLENV_CACHE_DIR": str(cache),
             "PIP_CONFIG_FILE": "/dev/null"},
    )  # fmt: skip
    code, opens = done.stderr.splitlines()[-1].split()
    return int(code), int(opens), done.stderr


@pytest.fixture(scope="module")
def based(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project building on a local base layout (``base``) of one layer holding the
    interpreter."""
    project = _project(tmp_path_factory.mktemp("based"), 'base-image = "base"\n')
    raw_layout(project / "base", [BASE])
    return project


def test_a_base_layer_listed_many_times_is_inflated_once(based: Path, tmp_path: Path) -> None:
    """A base whose manifest lists its layer 100 times (a depth runtimes stack). Before: the
    prefix check inflated it once per listing (106 opens of the blob in all, 100 of them the
    check's; with a 1 GiB layer, 100 inflations); now the check reads it once, and the build
    opens it 7 times in all (checked, inflated, copied into the image, image.tar)."""
    project = tmp_path / "project"
    shutil.copytree(based, project)
    layer = _relisted(project / "base", 100)
    code, opens, stderr = _build_counting(project, based.parent / "cache", layer)
    assert code == 0, stderr
    assert opens < 10, stderr


def test_a_base_deeper_than_a_runtime_stacks_is_refused_before_a_layer_is_inflated(
    based: Path, tmp_path: Path
) -> None:
    """1,000 listings (``read_base``'s bound). Before: inflated 1,000 times by the prefix
    check, then refused with the hint "set layers to at most -873"; now refused after the one
    read that checks the blob, the hint naming the base's depth."""
    project = tmp_path / "project"
    shutil.copytree(based, project)
    layer = _relisted(project / "base", 1000)
    code, opens, stderr = _build_counting(project, based.parent / "cache", layer)
    assert code == 1, stderr
    assert "the image would have 1001 layers, 1 of them the environment's" in stderr
    assert "hint: use a base image with fewer layers: this one has 1000" in stderr
    assert "at most -" not in stderr
    assert opens == 1, stderr


def _filled_then_whited_out(where: Path, count: int) -> str:
    """A base whose first layer puts ``count`` files in the prefix and whose second whites out
    ``count`` other names: the prefix check refuses it, after applying every whiteout."""
    layout = where / f"base-{count}"
    filled = [("opt", "dir", ""), ("opt/env", "dir", "")]
    filled += [(f"opt/env/f{n}", "file", "") for n in range(count)]
    raw_layout(layout, [filled, [(f".wh.g{n}", "file", "") for n in range(count)]])
    return str(layout)


def test_the_prefix_check_applies_whiteouts_in_linear_work(tmp_path: Path) -> None:
    """Before: each whiteout was compared with every path under the prefix, so the check grew
    as their product (8,000 of each: 31 s; 80,000: about an hour) before it refused the
    filled prefix; now each path is looked up by its ancestors. 8x the entries: under 24x
    the time (quadratic work is 64x)."""
    small = 1_500
    layouts = {n: _filled_then_whited_out(tmp_path, n) for n in (small, 8 * small)}

    def check(layout: str) -> None:
        with pytest.raises(OciError, match="already holds"):
            check_prefix(read_base(Path(layout), platform=PLATFORM), "/opt/env")

    assert growth(check, layouts.__getitem__, small=small, times=8) < 24


def _twice(tmp: Path, listed: bytes, first: bytes, last: bytes) -> Path:
    """A wheel holding ``evil/x.bin`` as ``listed``, its RECORD listing it as ``first`` then
    as ``last``."""
    rows = [("evil/x.bin", first), ("evil/x.bin", last)]
    rows += [(f"{DIST_INFO}/METADATA", METADATA), (f"{DIST_INFO}/WHEEL", WHEEL)]
    record = "".join(f"{n},{record_hash(d)},{len(d)}\n" for n, d in rows)
    return raw_wheel(tmp, [("evil/x.bin", listed)], record=record + f"{DIST_INFO}/RECORD,,\n")


@pytest.mark.parametrize("big", ["scan", "stream"])
@pytest.mark.parametrize("size", ["small", "big"])
@pytest.mark.parametrize("right", ["first", "last"])
def test_a_record_listing_a_path_twice_with_other_hashes_is_refused(
    tmp_path: Path, big: Any, size: str, right: str
) -> None:
    """Before: the last row won (installer's and mlenv's dicts), so a wheel whose first row
    vouches for other bytes installed, small or big (streamed into the layer or written);
    the other order failed as a mismatch. Now both are refused naming RECORD and the path."""
    ours, other = (b"a\n", b"b\n") if size == "small" else (big_blob(1), big_blob(2))
    rows = (ours, other) if right == "first" else (other, ours)
    wheel = _twice(tmp_path, ours, *rows)
    with pytest.raises(MlenvError) as refused:
        install_as([wheel], tmp_path / "staging", big)
    assert refused.value.where == wheel.name
    assert refused.value.message == (
        f"member '{DIST_INFO}/RECORD' lists 'evil/x.bin' twice, with another hash or size"
    )


@pytest.mark.parametrize("big", ["scan", "stream"])
def test_a_record_repeating_a_row_exactly_still_installs(tmp_path: Path, big: Any) -> None:
    """The same row twice vouches for one content: installed as before."""
    content = big_blob(3)
    wheel = _twice(tmp_path, content, content, content)
    installed = install_as([wheel], tmp_path / "staging", big)
    assert installed.bytes >= len(content)


def test_a_record_field_past_csvs_limit_refuses_the_wheel(tmp_path: Path) -> None:
    """A RECORD row whose path is 200,000 characters (csv reads at most 131,072 a field).
    Before: ``build --offline`` ended in "internal error" (``_csv.Error``); now exit 1 naming
    the wheel's RECORD."""
    rows = [("evil/x.py", b"x = 1\n"), (f"{DIST_INFO}/METADATA", METADATA)]
    rows.append((f"{DIST_INFO}/WHEEL", WHEEL))
    record = "".join(f"{n},{record_hash(d)},{len(d)}\n" for n, d in rows)
    record += "evil/" + "a" * 200_000 + f",,\n{DIST_INFO}/RECORD,,\n"
    wheel = raw_wheel(tmp_path, [("evil/x.py", b"x = 1\n")], record=record)
    stderr = build_refusal(tmp_path / "project", (wheel.name, wheel.read_bytes()))
    assert "internal error" not in stderr
    assert f"member '{DIST_INFO}/RECORD' has an invalid row: field larger than field limit" in (
        stderr
    )


def test_inspect_reads_an_image_whose_record_csv_cannot_read(tmp_path: Path) -> None:
    """An image's dist-info RECORD with a 200,000-character field. Before: ``inspect`` ended
    in "internal error"; now the file is listed, owned by no package."""
    name = "usr/lib/python3/dist-packages/x-1.0.dist-info/RECORD"
    data = b"x/" + b"a" * 200_000 + b".py,,\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        member = tarfile.TarInfo(name)
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    tar_layout(tmp_path / "image", [buffer.getvalue()])
    done = run_mlenv(["inspect", str(tmp_path / "image"), "--platform", PLATFORM], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert name in done.stdout


@pytest.mark.parametrize("digest", [[1], {"sha256": "0" * 64}, ["sha256:" + "0" * 64]])
def test_an_index_entry_whose_digest_is_no_string_is_an_error(
    tmp_path: Path, digest: object
) -> None:
    """A second tag whose digest is a JSON list or object. Before: ``inspect`` ended in
    "internal error" (exit 2: unhashable); now exit 1 naming index.json."""
    layout = tmp_path / "base"
    raw_layout(layout, [BASE])
    index = json.loads((layout / "index.json").read_bytes())
    index["manifests"].append({**index["manifests"][0], "digest": digest})
    (layout / "index.json").write_text(json.dumps(index))
    done = run_mlenv(["inspect", str(layout), "--platform", PLATFORM], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "internal error" not in done.stderr
    assert f"{layout}/index.json: a descriptor needs a digest and a size" in done.stderr


@pytest.mark.parametrize("kind", [str.upper, lambda _: None])
def test_an_index_entry_of_another_media_type_is_named(tmp_path: Path, kind: Any) -> None:
    """The image's one entry with its media type in capitals, or with none. Before: "no image
    for linux/amd64, only None/None"; now the entry's media type is named."""
    layout = tmp_path / "base"
    raw_layout(layout, [BASE])
    index = json.loads((layout / "index.json").read_bytes())
    index["manifests"][0]["mediaType"] = kind(index["manifests"][0]["mediaType"])
    (layout / "index.json").write_text(json.dumps(index))
    done = run_mlenv(["inspect", str(layout), "--platform", PLATFORM], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "None/None" not in done.stderr
    shown = kind("application/vnd.oci.image.manifest.v1+json") or "(none)"
    assert f"nor any image manifest; it lists entries of media type {shown}," in done.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project built by ``build --offline``: its dist/oci is what a deploy sends."""
    project = _project(tmp_path_factory.mktemp("built"))
    cache = {"MLENV_CACHE_DIR": str(project.parent / "cache")}
    done = run_mlenv(["build", "--offline"], project, cache)
    assert done.returncode == 0, done.stderr
    return project


def _no_marker(marker: Path) -> None:
    marker.unlink()


def _version_2(marker: Path) -> None:
    marker.write_text('{"imageLayoutVersion": "2.0.0"}')


def _two_spellings(marker: Path) -> None:
    marker.write_text('{"imageLayoutVersion": "1.0.0", "ImageLayoutVersion": "2.0.0"}')


def _fifo(marker: Path) -> None:
    marker.unlink()
    os.mkfifo(marker)


def _symlink(marker: Path) -> None:
    marker.rename(marker.parent.parent / "marker")
    marker.symlink_to("../marker")


@pytest.mark.parametrize(
    ("shape", "says"),
    [
        (_no_marker, "the image layout has no oci-layout"),
        (_version_2, "not an OCI image layout 1.0.0"),
        (_two_spellings, "are one key to some readers"),
        (_fifo, "oci-layout is a FIFO"),
        (_symlink, "oci-layout is a symlink (never followed)"),
    ],
)
def test_verify_refuses_a_layout_whose_marker_a_deploy_cannot_read(
    built: Path, tmp_path: Path, shape: Any, says: str
) -> None:
    """Before: ``verify dist/oci`` said "matches its build.json" (exit 0) for each; now exit 1
    naming oci-layout."""
    project = tmp_path / "project"
    shutil.copytree(built, project, symlinks=True)
    shape(project / "dist" / "oci" / "oci-layout")
    done = run_mlenv(["verify", "dist/oci"], project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert says in done.stdout + done.stderr
    assert "oci-layout" in done.stdout + done.stderr


@pytest.mark.parametrize("shape", [_no_marker, _version_2])
def test_umoci_refuses_what_verify_now_refuses(built: Path, tmp_path: Path, shape: Any) -> None:
    """The oracle: umoci reads the untouched layout and refuses these two (it blocks on the
    FIFO, which is not run here)."""
    umoci = tool("umoci", "umoci")
    layout = tmp_path / "oci"
    shutil.copytree(built / "dist" / "oci", layout)
    read = subprocess.run([umoci, "ls", "--layout", str(layout)], capture_output=True, text=True)
    assert read.returncode == 0, read.stderr
    shape(layout / "oci-layout")
    done = subprocess.run([umoci, "ls", "--layout", str(layout)], capture_output=True, text=True)
    assert done.returncode != 0
    assert "oci-layout" in done.stderr or "layout version" in done.stderr
