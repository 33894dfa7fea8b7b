"""The golden project with four more packages (one over the big-wheel threshold, so it gets a
layer of its own) and ``[build] layers`` set, locked and fetched: the per-package layer tests
build it offline (tests/functional) and in real engines (tests/integration)."""

from __future__ import annotations

import functools
import random
from pathlib import Path

from mlenv.layer_plan import BIG_WHEEL
from tests.support.cli import run_mlenv
from tests.support.golden import for_host_python, golden_project
from tests.support.wheels import build_wheel

PACKAGES = ["alpha", "beta", "big", "gamma", "hello"]


@functools.cache
def extra_wheels() -> tuple[tuple[str, bytes], ...]:
    """``big`` is over the threshold (incompressible, seeded: the same bytes every run);
    alpha 1.1 adds a subpackage, so the bump brings new directories too."""
    blob = random.Random(0).randbytes(BIG_WHEEL + (1 << 20))
    return (
        build_wheel("big", "1.0", files={"big/__init__.py": b"", "big/blob.bin": blob}),
        build_wheel("alpha", "1.0", files={"alpha/__init__.py": b"VERSION = '1.0'\n"}),
        build_wheel(
            "alpha",
            "1.1",
            files={"alpha/__init__.py": b"VERSION = '1.1'\n", "alpha/sub/__init__.py": b""},
        ),
        build_wheel(
            "beta",
            "1.0",
            files={"beta.py": b"def main():\n    return 0\n"},
            entry_points="[console_scripts]\nbeta = beta:main\n",
        ),
        build_wheel("gamma", "1.0", files={"gamma/__init__.py": b"", "gamma/data.txt": b"g\n"}),
    )


def layered_project(
    where: Path, layers: str, alpha: str = "1.0", *, host_python: bool = False
) -> Path:
    """The golden fixture plus the extra wheels, locked and fetched, with ``[build] layers``;
    with ``host_python``, for the Python running the tests (``--bytecode hash`` needs it)."""
    project = golden_project(where)
    if host_python:
        for_host_python(project)
    for filename, data in extra_wheels():
        (project / "wheels" / filename).write_bytes(data)
    configure(project, layers, alpha)
    return project


def configure(project: Path, layers: str, alpha: str, build_extra: str = "") -> None:
    requirements = ", ".join(f'"{n}"' for n in PACKAGES if n != "alpha")
    manifest = project / "mlenv.toml"
    text = manifest.read_text().split("dependencies = ")[0]
    manifest.write_text(
        f'{text}dependencies = ["alpha=={alpha}", {requirements}]\n'
        f"[build]\nlayers = {layers}\n{build_extra}"
    )
    for args in (["lock"], ["fetch"]):
        done = run_mlenv(args, project, {"MLENV_CACHE_DIR": str(project.parent / "cache")})
        assert done.returncode == 0, (args, done.stderr)
