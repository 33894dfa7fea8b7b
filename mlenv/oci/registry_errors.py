"""What a registry's refusals and failures tell the user: the registry's own error codes
(shortened, never terminal control), the hint for a status, and the hint for a connection that
failed before any answer (TLS, plain http, nobody listening)."""

from __future__ import annotations

import httpx

from mlenv import limits
from mlenv.errors import printable
from mlenv.net.proxy import proxy_hint
from mlenv.net.tls import certificate_hint
from mlenv.oci.auth import url_where
from mlenv.oci.credentials import docker_config_path
from mlenv.oci.reference import RegistryError


def status_hint(status: int, registry: str, repo: str) -> str | None:
    """What to do about a refusal by ``registry`` of a request on the repository ``repo``."""
    if status == 401:
        return (
            f'log in with `docker login {registry}`, or put an "auths" entry for '
            f"{registry} into {docker_config_path()} (credential helpers are not read)"
        )
    if status == 403:
        return f"the credentials lack push access to {repo}"
    if status == 404:
        return f"check the registry address and the repository name {repo}"
    return None


def error_detail(response: httpx.Response) -> str:
    """The registry's own error codes (distribution spec), when it sent them: the first few,
    shortened and without control characters (a registry's text never drives the terminal)."""
    try:
        errors = limits.parse_json(response.content, where="").get("errors")
    except (ValueError, AttributeError, limits.LimitError):
        return ""
    if not isinstance(errors, list):
        return ""
    parts = [
        f"{printable(item.get('code'), 40)}: {printable(item.get('message'))}"
        for item in errors[:3]
        if isinstance(item, dict)
    ]
    return f" ({'; '.join(parts)})" if parts else ""


def transport_error(error: httpx.HTTPError, base_url: str, insecure: bool) -> RegistryError:
    where = url_where(error.request.url) if _has_request(error) else base_url
    hint = certificate_hint(error) or f"is a registry listening at {base_url}?"
    if found := proxy_hint(error):
        hint = found
    elif insecure or certificate_hint(error):
        pass
    elif "SSL" in str(error) or "TLS" in str(error):
        hint = "a registry that speaks plain http (e.g. on loopback) needs --insecure"
    else:
        hint += " A plain-http registry needs --insecure."
    return RegistryError(f"cannot talk to the registry: {error}", where=where, hint=hint)


def _has_request(error: httpx.HTTPError) -> bool:
    try:
        error.request  # noqa: B018 - raises when the error happened before any request
    except RuntimeError:
        return False
    return True
