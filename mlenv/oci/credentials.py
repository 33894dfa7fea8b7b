"""Registry credentials from the Docker config file (``docker login``'s "auths"); credential
helpers run external programs and are not read."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlenv.limits import parse_json
from mlenv.oci.reference import HUB_NAMES, RegistryError
from mlenv.userfiles import read_input


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or token); the password never appears in a repr or message."""

    username: str
    password: str = field(repr=False)


def docker_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where ``docker login`` keeps credentials: ``$DOCKER_CONFIG/config.json`` or ~/.docker."""
    env = os.environ if environ is None else environ
    directory = env.get("DOCKER_CONFIG")
    return (Path(directory) if directory else Path.home() / ".docker") / "config.json"


def docker_credentials(
    registry: str, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """The credentials ``docker login`` stored for ``registry`` in config.json's "auths", if any.

    Credential helpers (``credsStore``, ``credHelpers``) run external programs and are not read.
    """
    path = docker_config_path(environ)
    if not path.is_file():
        return None
    try:
        config = parse_json(read_input(path, "Docker config file"), where=str(path))
    except (OSError, ValueError) as error:  # also JSON past the integer-digit limit
        raise RegistryError(
            f"the Docker config file cannot be read: {error}",
            where=str(path),
            hint="fix or remove it, or run `docker login` again",
        ) from error
    auths = config.get("auths") if isinstance(config, dict) else None
    if not isinstance(auths, dict):
        return None
    wanted = set(HUB_NAMES) if registry in HUB_NAMES else {registry}
    for key, entry in auths.items():
        if _config_host(key) in wanted and isinstance(entry, dict):
            return _entry_credentials(entry, f"{path}: auths.{key}")
    return None


def _config_host(key: str) -> str:
    """config.json keys are written as host, host:port or a URL with a path."""
    return key.removeprefix("https://").removeprefix("http://").split("/", 1)[0]


def _entry_credentials(entry: Mapping[str, Any], where: str) -> Credentials | None:
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as error:
            raise RegistryError(
                "the stored credentials are not base64 of user:password",
                where=where,
                hint="run `docker login` again",
            ) from error
        username, colon, password = decoded.partition(":")
        if not colon:
            raise RegistryError(
                "the stored credentials are not base64 of user:password",
                where=where,
                hint="run `docker login` again",
            )
        return Credentials(username, password)
    user, secret = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(secret, str):
        return Credentials(user, secret)
    return None
