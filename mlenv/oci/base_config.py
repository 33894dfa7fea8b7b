"""What in a base image's config mlenv cannot build on: fields of the wrong type, and keys Go's
JSON readers take for another spelling of one the image writes."""

from __future__ import annotations

from typing import Any

from mlenv.oci.model import folded_clash

# The runtime keys ``write.image_config`` sets, by their casefold (Go folds ``ENV`` onto one,
# and ``Label\u017f`` with a long s onto the other).
_WRITTEN = {key.casefold(): key for key in ("Env", "Labels")}


def config_problem(config: dict[str, Any]) -> str | None:
    """What in a base config ``image_config`` and ``inspect`` read has the wrong type (a
    registry's config is untrusted: a string where a list goes must not crash the build)."""
    runtime = config.get("config") or {}
    if not isinstance(runtime, dict):
        return "has a config that is not an object"
    structs = [
        ("", config),
        ("config ", runtime),
        ("rootfs ", rootfs if isinstance(rootfs := config.get("rootfs"), dict) else {}),
    ]
    for name, fields in structs:  # attack 101: the image's runtime copies the base's config
        if clash := folded_clash(fields):
            return (
                f"has {name}keys {clash[0]!r} and {clash[1]!r}, one key to Go's JSON readers "
                "(Docker, containerd, podman take the last): an Env or Labels of the base "
                "would replace the image's"
            )
    for key in runtime:  # attack 195: one spelling alone still clashes with the image's own
        written = _WRITTEN.get(key.casefold())
        if written is not None and key != written:
            return (
                f"has config key {key!r}, which Go's JSON readers (Docker, containerd, podman) "
                f"take as {written!r}: beside the {written} the image writes, the base's would "
                "replace them"
            )
    env, labels, history = (
        runtime.get("Env") or [],
        runtime.get("Labels") or {},
        config.get("history") or [],
    )
    if not isinstance(env, list) or not all(isinstance(item, str) for item in env):
        return "has an Env that is not a list of strings"
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        return "has Labels that are not strings"
    if not isinstance(history, list) or not all(isinstance(item, dict) for item in history):
        return "has a history that is not a list of objects"
    for number, item in enumerate(history):  # `inspect` shows created_by, counts empty_layer
        if clash := folded_clash(item):
            return f"has history[{number}] keys {clash[0]!r} and {clash[1]!r}, one to Go's JSON"
        if "created_by" in item and not isinstance(item["created_by"], str):
            return f"has a history[{number}].created_by that is not a string"
        if "empty_layer" in item and not isinstance(item["empty_layer"], bool):
            return f"has a history[{number}].empty_layer that is not true or false"
    return None
