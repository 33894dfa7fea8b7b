"""The image an OCI layout output holds, checked as a deploy will read it (``verify dist/oci``):
every blob it reaches hashed, ``index.json`` read as every reader reads it, nothing read
through a symlink; ``oci-layout`` is read as a deploy's tool reads it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from mlenv.cache.files import open_plain
from mlenv.oci.model import (
    CONFIG_TYPES,
    INDEX_TYPES,
    JSON_LIMIT,
    MANIFEST_TYPES,
    Descriptor,
    OciError,
    as_list,
    descriptor_of,
    hex_of,
    layer_of,
    parse_json,
)
from mlenv.oci.read import BlobSource, blob_where, read_blob, verify_blob


def checked_image(root: Path) -> str:
    """The digest of the one image an OCI layout directory holds (its ``index.json``'s one
    entry: an image manifest, or an image index of them), after every blob it reaches
    (indexes, manifests, configs, layers) is hashed against its descriptor: what a deploy of
    the layout (``skopeo copy oci:``, ``mlenv push``) sends. ``index.json``, the one file no
    digest holds, must read alike in every reader (``model.parse_json(one_spelling=True)``),
    and no file is read through a symlink (``_PlainLayout``); so is ``oci-layout``, which must
    say version 1.0.0: umoci refuses a layout whose marker is missing or of another version
    (containerd's import and oras another version) and hangs on a FIFO there (attack 223).
    An OciError names the file and what was expected otherwise."""
    source = _PlainLayout(root)
    marker = f"{root}/oci-layout"
    layout = parse_json(source.read_file("oci-layout"), marker, one_spelling=True)
    if layout.get("imageLayoutVersion") != "1.0.0":
        raise OciError("not an OCI image layout 1.0.0", where=marker)
    where = f"{root}/index.json"
    index = parse_json(source.read_file("index.json"), where, one_spelling=True)
    entries = as_list(index.get("manifests"), where)
    if len(entries) != 1:
        raise OciError(f"the layout holds {len(entries)} images, expected one", where=where)
    top = descriptor_of(entries[0], where, MANIFEST_TYPES | INDEX_TYPES)
    _check_tree(source, top, nested=False, checked=set())
    return top.digest


def _check_tree(
    source: BlobSource, descriptor: Descriptor, *, nested: bool, checked: set[Descriptor]
) -> None:
    """Every blob below ``descriptor`` hashed, each described blob once (``checked``): a
    manifest may list one layer many times (empty layers do), and a 16 MiB one listing an
    8 MiB layer 20,000 times had ``verify`` hash 160 GiB (attack 221)."""
    if descriptor in checked:
        return
    checked.add(descriptor)
    where = blob_where(source, descriptor.digest)
    body = parse_json(read_blob(source, descriptor), where)
    if descriptor.media_type in INDEX_TYPES:
        if nested:
            raise OciError("an image index inside an image index", where=where)
        children = as_list(body.get("manifests"), where)
        for child in children or [None]:  # an empty index is no image
            child_of = descriptor_of(child, where, MANIFEST_TYPES)
            _check_tree(source, child_of, nested=True, checked=checked)
        return
    for blob in (
        descriptor_of(body.get("config"), where, CONFIG_TYPES),
        *(layer_of(layer, where) for layer in as_list(body.get("layers"), where)),
    ):
        if blob not in checked:
            checked.add(blob)
            verify_blob(source, blob, None)


class _PlainLayout:
    """A built layout's files, each opened by ``cache.files.open_plain``: a symlink at any
    component below the layout (a blob, ``blobs/``, ``index.json``) is refused, never followed.
    A build writes none; a link's target outside ``dist/`` is checked now and sent later,
    by whatever then lies there (attack 101)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    def read_file(self, name: str) -> bytes:
        with self._open(name) as handle:
            data = handle.read(JSON_LIMIT + 1)
        if len(data) > JSON_LIMIT:
            raise OciError("the file is too big to be image metadata", where=f"{self.where}/{name}")
        return data

    @contextlib.contextmanager
    def open_blob(self, digest: str) -> Iterator[tuple[BinaryIO, int]]:
        name = f"blobs/sha256/{hex_of(digest)}"
        with self._open(name, f"the blob {digest} is missing") as handle:
            yield handle, os.fstat(handle.fileno()).st_size

    @contextlib.contextmanager
    def _open(self, name: str, missing: str = "") -> Iterator[BinaryIO]:
        try:
            handle = open_plain(self.root, name)
        except FileNotFoundError:
            missing = missing or f"the image layout has no {name}"
            raise OciError(missing, where=f"{self.where}/{name}") from None
        except OSError as exc:
            raise OciError(
                f"{exc.strerror or exc}: a built layout holds plain files only",
                where=f"{self.where}/{name}",
                hint="the layout was changed after the build; rebuild or copy dist/ whole",
            ) from None
        with handle:
            yield handle
