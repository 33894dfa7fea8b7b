"""The OCI tools the integration tests read built images with (skopeo, umoci), found on the
PATH; a missing one fails the test with the package to install, never skips it."""

from __future__ import annotations

import json
import shutil
import subprocess


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise AssertionError(f"{name} is missing: apt-get install -y {package}")
    return found


def skopeo_inspect(transport: str) -> dict[str, object]:
    result = subprocess.run(
        [tool("skopeo", "skopeo"), "inspect", "--config", transport],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]
