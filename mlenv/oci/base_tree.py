"""Where the environment goes in a base image: the prefix and the directories above it, as the
base's layers leave them (whiteouts and opaque directories applied), judged before the
environment's layer is stacked on them (``check_prefix``).

The environment's layer names the prefix's parents only implicitly, so what a runtime does with
a base whose ``/opt`` is a symlink depends on the storage driver: overlayfs (Docker's overlay2,
containerd's default snapshotter) unpacks the layer into an empty directory, whose ``opt/``
then hides the base's link and everything it led to, while vfs or native unpack onto the
base's tree and follow the link. A file there is replaced by a directory, and a directory
the base already filled would mix its files into the environment. Each is refused, naming the
base image, the path and what to choose instead; the rest of the base is never read.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mlenv.cache.layer_keys import code_digest
from mlenv.errors import printable
from mlenv.inspect import layer_tar
from mlenv.install.conda_readers import TarHeaders, ambiguity
from mlenv.oci.model import Descriptor, OciError
from mlenv.oci.read import BaseImage
from mlenv.oci.whiteout import PREFIX as WHITEOUT

_OPAQUE = WHITEOUT + WHITEOUT + ".opq"


@dataclass(frozen=True)
class _Node:
    kind: str  # "dir", "symlink" or "file" (anything else a directory is not)
    target: str = ""


@dataclass(frozen=True)
class Fit:
    """What a base image leaves the environment (``check_prefix``)."""

    missing: int  # directories above the prefix the base lacks: the layers carry them
    interpreter: bool  # the base has the interpreter, or its path crosses a link (untold)


def fit(
    base: BaseImage,
    prefix: str,
    interpreter: str | None,
    passed: Callable[[Sequence[str], Callable[[], int]], int],
) -> Fit:
    """``check_prefix``'s answer, or the one the layer cache recorded with its pass
    (``passed``: ``LayerReuse.passed``, given a key per answer): the check inflates every base
    layer (about 0.5 s per 100 MB of gzip), and its answer depends only on this code, the
    base's manifest (which pins every layer's digest, checked by ``read_base``), the prefix
    and the interpreter."""
    depth = prefix.strip("/").count("/") + 1  # answers: 0 .. depth-1 directories missing
    texts = (
        "\0".join(("base-prefix", code_digest(), base.manifest_digest, prefix,
                   interpreter or "", str(answer)))
        for answer in range(2 * depth)
    )  # fmt: skip

    def check() -> int:
        found = check_prefix(base, prefix, interpreter)
        return found.missing + (0 if found.interpreter else depth)

    answer = passed([hashlib.sha256(text.encode()).hexdigest() for text in texts], check)
    return Fit(answer % depth, answer < depth)


def volume_over(base: BaseImage, prefix: str) -> str | None:
    """The base config's first volume at, above or inside ``prefix``, as the base spells it:
    Docker copies the image's files there into a new volume for every container (gigabytes
    of environment), and a volume or bind mount given there hides them."""
    runtime = base.config.get("config")
    volumes = runtime.get("Volumes") if isinstance(runtime, dict) else None
    for volume in sorted(volumes) if isinstance(volumes, dict) else ():
        path = posixpath.normpath("/" + volume.strip("/"))
        if path == "/" or (path + "/").startswith(prefix + "/") or prefix.startswith(path + "/"):
            return str(volume)
    return None


def check_prefix(base: BaseImage, prefix: str, interpreter: str | None = None) -> Fit:
    """Refuse a base image in which ``prefix`` (absolute, normalised) or a directory above it
    is a symlink or not a directory, or in which the prefix is a directory with files; else
    the directories above the prefix the base lacks, which the environment's layers must then
    carry (Docker unpacks a layer's missing parents with mode 0600, moby's ``UnpackLayer``,
    which no user but root can enter), and whether it has ``interpreter`` (attack 114).
    Members are judged where runtimes land them (``_landing``); a whiteout of no name, or a
    member whose headers tar readers resolve to two names (``conda_readers.ambiguity``: a PAX
    path then a GNU long name, which Go's reader takes and tarfile does not) refuses the base
    (attack 134)."""
    path = prefix.strip("/")
    above = _ancestors(path)
    wanted = (interpreter or "").strip("/")
    nodes, inside = _walk(base, {*above, path, *_ancestors(wanted), wanted} - {""}, path)
    missing = 0
    for number, name in enumerate((*above, path)):
        node = nodes.get(name)
        if node is None:
            missing = len(above) - number  # the layer creates it and all below it
            break
        if node.kind == "symlink":
            leads = posixpath.normpath(posixpath.join("/" + posixpath.dirname(name), node.target))
            instead = posixpath.normpath(leads + "/" + path[len(name) :])
            _refuse(
                base, name, f"a symlink to {node.target}",
                f'set [environment] prefix = "{instead}" (where the link leads) or another '
                "directory the base image does not use",
            )  # fmt: skip
        if node.kind != "dir":
            _refuse(base, name, "a file", "choose a prefix the base image does not use")
    if inside:
        first = sorted(inside)[0]
        _refuse(
            base, path, f"a directory that already holds {len(inside)} "
            f"{'entry' if len(inside) == 1 else 'entries'} (/{first}, …)",
            "choose a prefix the base image does not use",
            "its files would be mixed into the environment",
        )  # fmt: skip
    return Fit(missing, not wanted or _reaches(nodes, wanted))


def _reaches(nodes: dict[str, _Node], path: str) -> bool:
    """Whether ``path`` is a file or a link in the base; a link on the way cannot be followed
    here (its target was not tracked), so it counts as reached."""
    for name in (*_ancestors(path), path):
        node = nodes.get(name)
        if node is None or (name == path and node.kind == "dir"):
            return False
        if node.kind == "symlink":
            return True
    return True


_DRIVER = "the environment's layer would replace or follow it depending on the storage driver"


def _refuse(base: BaseImage, name: str, what: str, hint: str, why: str = _DRIVER) -> None:
    raise OciError(
        f"the base image has /{name} as {what}; {why}",
        where=f"{base.source.where}: /{name}",
        hint=hint,
    )


@dataclass(frozen=True)
class _Changes:
    """What one layer does to the tracked paths and below the prefix."""

    whole: frozenset[str]  # whiteouts: each path and all below it
    emptied: frozenset[str]  # opaque directories: all below each ("": the root)
    own: Mapping[str, _Node]  # tracked paths this layer has an entry for
    implied: frozenset[str]  # tracked paths this layer has entries below
    below: frozenset[str]  # paths under the prefix this layer adds

    def deletes(self, name: str) -> bool:
        """Whether this layer's whiteouts remove ``name`` of a layer below: looked up by its
        ancestors, not by scanning every whiteout for every path (a layer of 8,000
        whiteouts over 8,000 paths under the prefix took 31 s, growing as their product:
        attack 223)."""
        if name in self.whole or "" in self.emptied:
            return True
        return any(a in self.whole or a in self.emptied for a in _ancestors(name))


def _walk(base: BaseImage, tracked: set[str], prefix: str) -> tuple[dict[str, _Node], set[str]]:
    """The tracked paths' nodes and the paths under ``prefix`` once every layer is applied:
    a layer's whiteouts delete from the layers below it, then its entries are added.

    A tracked path's own entry in a layer (the last one, as an unpacker leaves it) is what
    that path becomes. A path that is only a parent of a layer's entries becomes a directory
    only where nothing is there: over a symlink or a file below, an overlayfs unpack makes it
    a directory and a vfs unpack follows or fails on it, so the lower node stays and is
    refused; and within one layer an entry below a link never turns the link into one.
    Each blob is inflated once however often the manifest lists it (attack 223: 1,000
    listings of a 1 GiB layer were 1,000 inflations)."""
    nodes: dict[str, _Node] = {}
    inside: set[str] = set()
    read: dict[Descriptor, _Changes] = {}
    for layer in base.layers:
        if layer not in read:
            read[layer] = _changes(base, layer, tracked, prefix + "/")
        changes = read[layer]
        if changes.whole or changes.emptied:
            nodes = {n: node for n, node in nodes.items() if not changes.deletes(n)}
            inside = {n for n in inside if not changes.deletes(n)}
        for name in changes.implied - changes.own.keys():
            nodes.setdefault(name, _Node("dir"))
        nodes.update(changes.own)
        inside |= changes.below
    return nodes, inside


def _changes(base: BaseImage, layer: Descriptor, tracked: set[str], under: str) -> _Changes:
    """One layer's whiteouts and entries, as ``_walk`` applies them."""
    whole: set[str] = set()
    emptied: set[str] = set()
    own: dict[str, _Node] = {}
    implied: set[str] = set()
    below: set[str] = set()
    with layer_tar(base, layer, TarHeaders) as archive:
        for member in archive:
            if problem := ambiguity(member):
                _refuse(
                    base, printable(_landing(member.name), 120), f"a member that {problem}",
                    "rebuild or re-export the base image (docker, buildah and skopeo "
                    "write one plain header per name)", "Go's tar reader (Docker, "
                    "containerd) may unpack it under another name than mlenv reads",
                )  # fmt: skip
            name = _landing(member.name)
            if not name:
                continue
            parent, _, leaf = name.rpartition("/")
            if leaf == _OPAQUE:
                emptied.add(parent)
                continue
            if leaf.startswith(WHITEOUT):
                if leaf[len(WHITEOUT) :] in ("", ".", ".."):
                    _refuse(
                        base, printable(name, 120), "a whiteout of no name in its directory",
                        "rebuild the base image with a tool that writes whiteouts as the "
                        "image spec does", "containerd refuses the layer and Docker "
                        "deletes the directory (or its parent) instead",
                    )  # fmt: skip
                whole.add(f"{parent}/{leaf[len(WHITEOUT) :]}".lstrip("/"))
                continue
            parents = _ancestors(name)
            implied.update(a for a in parents if a in tracked)
            if name in tracked:
                kind = "dir" if member.isdir() else "symlink" if member.issym() else "file"
                own[name] = _Node(kind, member.linkname if member.issym() else "")
            elif name.startswith(under):
                # with the parents a runtime makes for it, which stay when a later layer
                # whites the member out (attack 229: the prefix was called empty)
                below.update(a for a in (*parents, name) if a.startswith(under))
    return _Changes(frozenset(whole), frozenset(emptied), own, frozenset(implied), frozenset(below))


def _landing(name: str) -> str:
    """Where a runtime puts a layer member, relative to the root: Go's ``filepath.Clean`` (moby,
    containerd) takes ``..`` at the root as the root, and containerd resolves a leading ``..``
    inside the root, so ``/../opt``, ``./../opt`` and ``../opt`` all land on ``/opt``; "" is the
    root itself. A name skipped as outside the root was a symlink at ``/opt`` unseen."""
    return posixpath.normpath("/" + name).lstrip("/")


def _ancestors(name: str) -> list[str]:
    parts = name.split("/")
    return ["/".join(parts[:n]) for n in range(1, len(parts))]
