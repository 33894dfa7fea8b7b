"""Image references as ``docker push`` reads them (distribution/reference's grammar, Docker
Hub's conventions), and the error every part of the registry client raises."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mlenv.digests import is_sha256_digest
from mlenv.errors import MlenvError

# Docker Hub is named docker.io in references, served from another host, and keyed in
# config.json by its historical URL https://index.docker.io/v1/.
HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io")
HUB_API = "registry-1.docker.io"
# distribution/reference's grammar.
_DOMAIN = re.compile(
    r"(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|[A-Za-z0-9-]+(?=:)|\[[0-9A-Fa-f:]+\])"
    r"(?::[0-9]+)?"
)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


class RegistryError(MlenvError):
    """The registry refused, could not be reached, or the image to push is unusable."""


@dataclass(frozen=True)
class Reference:
    """``registry/repository[:tag][@digest]``, with Docker Hub's conventions applied."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def api_host(self) -> str:
        return HUB_API if self.registry in HUB_NAMES else self.registry

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def mount_sources(target: str, candidates: Iterable[str]) -> tuple[str, ...]:
    """The repositories of ``candidates`` (image references or ``oci://`` locations) that a
    push to ``target`` can mount blobs from: the same registry, another repository. A blob
    mount never crosses registries (the API has no way to), so others are dropped."""
    reference = parse_reference(target)
    found: dict[str, None] = {}
    for candidate in candidates:
        other = parse_reference(candidate.removeprefix("oci://"))
        if other.registry == reference.registry and other.repository != reference.repository:
            found[other.repository] = None
    return tuple(found)


def parse_reference(ref: str) -> Reference:
    """Read a reference as ``docker push`` does: no registry host means Docker Hub, no tag
    means ``latest``; a ``@sha256:`` digest pins the manifest that must be pushed."""
    name, _, digest = ref.partition("@")
    if digest and not is_sha256_digest(digest):
        # USER[:PASSWORD]@HOST/REPO, as in a URL, or a digest that is not one: which of them
        # the text before the '@' is cannot always be told ('user:pa/ss@host/repo' reads as a
        # repository and a digest), so it is shown only when it holds no password
        plain = digest.startswith("sha256:") and ":" not in name and "@" not in digest
        raise RegistryError(
            "an image reference carries no credentials, and its '@' starts a sha256 digest",
            where=ref if plain else f"***@{ref.rpartition('@')[2]}",
            hint="write REGISTRY[:PORT]/REPOSITORY[:TAG][@sha256:<64 hex digits>] and log in "
            "with `docker login REGISTRY`: push reads credentials from "
            "$DOCKER_CONFIG/config.json or ~/.docker/config.json",
        )
    first, slash, rest = name.partition("/")
    if slash and _DOMAIN.fullmatch(first):
        registry, path = first, rest
    else:
        registry, path = "docker.io", name
    repository, colon, tag = path.rpartition(":") if ":" in path else (path, "", "")
    if not _REPOSITORY.fullmatch(repository) or (colon and not _TAG.fullmatch(tag)):
        raise RegistryError(
            "not a valid image reference",
            where=ref,
            hint="write REGISTRY[:PORT]/REPOSITORY[:TAG], e.g. 127.0.0.1:5000/team/env:1.0 "
            "(repository names are lower case)",
        )
    if registry in HUB_NAMES and "/" not in repository:
        repository = f"library/{repository}"
    if not tag and not digest:
        tag = "latest"
    return Reference(registry, repository, tag or None, digest or None)
