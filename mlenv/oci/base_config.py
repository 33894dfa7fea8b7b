"""What in a base image's config mlenv cannot build on: fields of the wrong type, and keys Go's
JSON readers take for another spelling of one the image writes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mlenv.errors import printable
from mlenv.oci.model import folded_clash, optional_object

# Fields by their casefold, spelled as mlenv reads and writes them: the runtime keys
# ``write.image_config`` sets, and a history entry's (the build pairs non-empty entries with
# layers). Go folds ``ENV``, ``Label\u017f`` (a long s) or ``Empty_Layer`` onto them too.
_RUNTIME = {key.casefold(): key for key in ("Env", "Labels")}
# Linux's MAX_ARG_STRLEN (32 pages of 4 KiB) less the terminating NUL: execve refuses with
# E2BIG a process whose environment holds a longer string.
_ARG_MAX = 32 * 4096 - 1
_HISTORY = {
    key.casefold(): key for key in ("created", "created_by", "author", "comment", "empty_layer")
}


def _respelled(keys: Iterable[str], fields: Mapping[str, str]) -> tuple[str, str] | None:
    """The first key Go's JSON readers take for one of ``fields`` spelled otherwise, and that
    field: alone, Python reads no such field where Go does (attack 195)."""
    for key in keys:
        field = fields.get(key.casefold())
        if field is not None and key != field:
            return key, field
    return None


def _env_fault(item: str) -> str | None:
    """Why no container runtime starts a process with this Env entry, if none would (attack
    203): with no ``=`` Docker drops it as an unset and runc (under containerd) refuses, so
    ``FOO`` is no ``FOO=``; runc refuses an empty name and a NUL, the kernel's execve an entry
    past MAX_ARG_STRLEN. A duplicate name is no fault: the last wins, in runc as in ``_env``."""
    name, equals, _ = item.partition("=")
    if not equals:
        return "has no '=' (Docker drops it as an unset, runc refuses to start the container)"
    if not name:
        return "has an empty name (runc refuses to start the container)"
    if "\0" in item:
        return "holds a NUL character (runc refuses to start the container)"
    if len(item.encode()) > _ARG_MAX:
        return f"is longer than the {_ARG_MAX} bytes execve takes in one variable"
    return None


def config_problem(config: dict[str, Any]) -> str | None:
    """What in a base config ``image_config`` and ``inspect`` read has the wrong type (a
    registry's config is untrusted: a string where a list goes must not crash the build)."""
    runtime = config.get("config") or {}
    if not isinstance(runtime, dict):
        return "has a config that is not an object"
    structs = [
        ("", config),
        ("config ", runtime),
        ("rootfs ", optional_object(config.get("rootfs"))),
    ]
    for name, fields in structs:  # attack 101: the image's runtime copies the base's config
        if clash := folded_clash(fields):
            return (
                f"has {name}keys {clash[0]!r} and {clash[1]!r}, one key to Go's JSON readers "
                "(Docker, containerd, podman take the last): an Env or Labels of the base "
                "would replace the image's"
            )
    if respelled := _respelled(runtime, _RUNTIME):
        return (
            f"has config key {respelled[0]!r}, which Go's JSON readers (Docker, containerd, "
            f"podman) take as {respelled[1]!r}: beside the {respelled[1]} the image writes, the "
            "base's would replace them"
        )
    env, labels, history = (
        runtime.get("Env") or [],
        runtime.get("Labels") or {},
        config.get("history") or [],
    )
    if not isinstance(env, list) or not all(isinstance(item, str) for item in env):
        return "has an Env that is not a list of strings"
    for number, item in enumerate(env):
        if fault := _env_fault(item):
            return f"has config.Env[{number}] {printable(item, 60)!r}, which {fault}"
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        return "has Labels that are not strings"
    if not isinstance(history, list) or not all(isinstance(item, dict) for item in history):
        return "has a history that is not a list of objects"
    for number, item in enumerate(history):  # `inspect` shows created_by, counts empty_layer
        if clash := folded_clash(item):
            return f"has history[{number}] keys {clash[0]!r} and {clash[1]!r}, one to Go's JSON"
        if respelled := _respelled(item, _HISTORY):
            return (
                f"has history[{number}] key {respelled[0]!r}, which Go's JSON readers take as "
                f"{respelled[1]!r}: they would pair the history with other layers than mlenv"
            )
        if "created_by" in item and not isinstance(item["created_by"], str):
            return f"has a history[{number}].created_by that is not a string"
        if "empty_layer" in item and not isinstance(item["empty_layer"], bool):
            return f"has a history[{number}].empty_layer that is not true or false"
    return None
