"""The conda part of a lock: one platform's solve, held to the manifest's Python and the default
CPython ABI, and the PyPI distributions the conda packages already provide.

It lives apart from the lock use case because only a manifest with [conda] dependencies uses it.
"""

from __future__ import annotations

from collections.abc import Sequence

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from mlenv.conda.records import CondaRecord, conda_name, other_abi
from mlenv.errors import MlenvError
from mlenv.lockfile import Lock
from mlenv.locking_sources import Sources
from mlenv.manifest import Manifest
from mlenv.report import Reporter
from mlenv.target import Target


def _solve_conda(
    manifest: Manifest,
    target: Target,
    previous: Lock | None,
    everything: bool,
    moving: frozenset[str],
    reporter: Reporter,
    sources: Sources,
) -> tuple[CondaRecord, ...]:
    """The conda part of one platform; its Python must be the manifest's. ``moving``: the
    conda names (``conda_name``) whose earlier records are not held. A relative channel
    is read from the manifest's directory (where ``places`` judged it at ``init --from``), not
    from wherever lock runs: rattler would read ``./chan`` from the working directory."""
    if not manifest.conda.dependencies:
        return ()
    from mlenv.conda.channel_paths import from_directory
    from mlenv.conda.solve import solve

    locked = () if previous is None or everything else tuple(
        c
        for platform, c in previous.conda_packages()
        if platform == target.platform and conda_name(c.name) not in moving
    )  # fmt: skip
    records = solve(
        [from_directory(channel, sources.base_dir) for channel in manifest.conda.channels],
        manifest.conda.dependencies,
        target.platform,
        cuda=manifest.cuda.version if manifest.cuda else None,
        glibc=target.glibc,
        reporter=reporter,
        locked=locked,
        driver_floor=manifest.cuda.driver_floor if manifest.cuda else "",
        http=sources.http,
    )
    for record in records:
        if record.name == "python" and not record.version.startswith(f"{target.python}."):
            raise MlenvError(
                f"the conda solve for {target.platform} chose python {record.version}, but "
                f"the manifest targets Python {target.python}",
                where=f"{manifest.source}: [conda].dependencies",
                hint=f'pin it: add "python {target.python}.*" to [conda].dependencies, or '
                "change [environment].python",
            )
        if record.name == "python" and (abi := other_abi(record)):
            # a free-threaded python's noarch packages go below its python_site_packages_path
            # (lib/python3.13t) and its wheels need the cp313t ABI; PyPy loads no cp310 wheel:
            # mlenv targets the default CPython ABI only
            pypy = abi.startswith("pypy")
            # conda-forge's default builds end in _cpython up to 3.12, in _cp313 from 3.13 on
            minor = int([*target.python.split("."), "0"][1])
            default = f"cp3{minor}" if minor >= 13 else "cpython"
            raise MlenvError(
                f"the conda solve for {target.platform} chose python {record.version} "
                f"{record.build}, {'a PyPy' if pypy else 'a free-threaded'} build ({abi}); mlenv "
                f"builds for the default CPython {target.python} ABI (its site-packages and its "
                "wheels)",
                where=f"{manifest.source}: [conda].dependencies",
                hint=f'ask for the default build: write "python {target.python}.* *_{default}" '
                "in [conda].dependencies",
            )
    return records


def provided_by_conda(records: Sequence[CondaRecord], source: str) -> dict[NormalizedName, Version]:
    """PyPI distributions the conda part already installs: same name (PEP 503 normalised) as a
    conda package. PyPI must accept that version and never installs a second copy."""
    provided = {}
    for record in records:
        if record.name == "python":
            continue
        try:
            provided[canonicalize_name(record.name)] = Version(record.version)
        except InvalidVersion:
            continue  # not a PEP 440 version: no PyPI requirement could name it anyway
    return provided
