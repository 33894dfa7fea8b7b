"""Two-hundred-and-fortieth adversary pass: attack 238's conda fixes, attacked.

JSON a conda package carries (``info/paths.json``, ``info/index.json``, ``info/link.json``)
with a key given twice in one object: Python's reader keeps the last, rattler's (serde) refuses
a struct's field given twice and silently drops what it flattens. A second ``_path`` passed
the vetting and failed inside rattler ("failed to link ... duplicate field", the hint "re-run
mlenv fetch": the cache was blamed for a malformed package); a second ``file_mode`` made
rattler write the file without the prefix rewrite the vetting had judged. The vetting now
reads such JSON as a strict reader does and refuses the package, naming it and the member
(``install.conda_packages._CondaVetting._json``).

Conda names compared the PyPI way: ``mlenv lock -P typing_extensions`` (and ``add``/``remove``
of a conda spec, which move what they edit) unpinned conda-forge's ``typing-extensions``, another
package, too (``upgrade.Upgrade.conda``, held in ``locking_conda._solve_conda``).

``mlenv diff`` ordered conda versions by PEP 440: openssl's ``1.1.1v`` to ``1.1.1w`` was
"changed", not "upgraded". Conda's order is ``conda.version_order.compare``, held to rattler's
``Version`` on a generated sample.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import re
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.conda.version_order import compare as conda_order
from mlenv.diff import compare
from mlenv.lockfile import Lock, LockedPlatform
from tests.support.cli import run_mlenv
from tests.support.conda_channel import (
    PackageFormat,
    assert_install_refuses,
    build_conda_package,
    write_channel,
)
from tests.support.conda_project import channel_packages, conda_project
from tests.support.locks import HASH, conda_record, sample
from tests.support.rattler_specs import rattler_orders

pytestmark = pytest.mark.hostile

# --- a key twice in a package's JSON ------------------------------------------------------

_DATA = b"/opt/conda-bld/x here\n"
_SHA256 = hashlib.sha256(_DATA).hexdigest()
_ENTRY = f'"path_type": "hardlink", "sha256": "{_SHA256}", "size_in_bytes": {len(_DATA)}'


def _paths(fields: str) -> str:
    return '{"paths": [{' + fields + ", " + _ENTRY + '}], "paths_version": 1}'


_TWICE = {
    # rattler: "failed to read 'paths.json' ... duplicate field `_path`"
    "path": _paths('"_path": "share/a.txt", "_path": "share/a.txt"'),
    # rattler drops the flattened placeholder: the file is written as it is, unrewritten
    "file_mode": _paths(
        '"_path": "share/a.txt", "file_mode": "text", "file_mode": "text", '
        '"prefix_placeholder": "/opt/conda-bld/x"'
    ),
}


@pytest.mark.parametrize("fmt", ["conda", "tar.bz2"])
@pytest.mark.parametrize("key", sorted(_TWICE))
def test_a_key_twice_in_paths_json_is_refused_naming_the_package(
    tmp_path: Path, key: str, fmt: PackageFormat
) -> None:
    """Before: `_path` twice failed in rattler with "re-run mlenv fetch" (a CondaError naming
    the staging prefix); `file_mode` twice installed share/a.txt without the rewrite."""
    files = {"share/a.txt": _DATA, "info/paths.json": _TWICE[key].encode()}
    name, data = build_conda_package("foo", "1.0", "h_0", files=files, fmt=fmt)
    path = tmp_path / name
    path.write_bytes(data)
    assert_install_refuses(path, r"member 'info/paths\.json' is not well-formed JSON: key ")


# --- a .tar.bz2 of two bzip2 streams -------------------------------------------------------


def test_a_tar_bz2_going_on_in_a_second_bzip2_stream_is_refused(tmp_path: Path) -> None:
    """Before: installed, etc/a.txt rewritten to '/opt/mlenv/x here': rattler stops at the
    first stream, so it never saw info/paths.json (in the second) and took info/has_prefix's
    placeholder, while the vetting read both streams and judged the file unrewritten."""
    files = {"etc/a.txt": _DATA, "info/has_prefix": b"/opt/conda-bld/x text etc/a.txt\n"}
    name, data = build_conda_package("foo", "1.0", "h_0", files=files)
    tar = bz2.decompress(data)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        members = {m.name: m for m in archive.getmembers()}
    # members in name order: info/paths.json is the last, alone in the second stream
    cut = members["info/paths.json"].offset
    assert cut == max(member.offset for member in members.values()), members
    path = tmp_path / name
    path.write_bytes(bz2.compress(tar[:cut]) + bz2.compress(tar[cut:]))
    assert_install_refuses(path, "goes on past the first bzip2 stream")


# --- -P names a conda package by its conda name ---------------------------------------------


def _package(name: str, version: str) -> tuple[str, bytes]:
    return build_conda_package(name, version, "h_0", files={f"share/{name}.txt": b"x\n"})


def test_upgrade_package_moves_only_the_conda_package_of_that_spelling(tmp_path: Path) -> None:
    """Before: `-P typing_extensions` moved `typing-extensions` from 1.0 to 2.0 too."""
    old = [_package("typing-extensions", "1.0"), _package("typing_extensions", "1.0")]
    project = conda_project(tmp_path, old, "/opt/mlenv/x")
    manifest = project / "mlenv.toml"  # conda_project names a package by its file's first word
    spelt = '"typing-extensions", "typing_extensions"'
    manifest.write_text(manifest.read_text().replace('"typing", "typing_extensions"', spelt))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["lock"], project, env).returncode == 0
    newer = [_package("typing-extensions", "2.0"), _package("typing_extensions", "2.0")]
    write_channel(tmp_path / "channel", [channel_packages()[0], *old, *newer])
    result = run_mlenv(["lock", "-P", "typing_extensions"], project, env)
    assert result.returncode == 0, result.stderr
    files = re.findall(r'filename = "(typing.*)"', (project / "mlenv.lock").read_text())
    assert files == ["typing-extensions-1.0-h_0.tar.bz2", "typing_extensions-2.0-h_0.tar.bz2"]


# --- diff orders conda versions as conda does -----------------------------------------------


def _diff_kind(before: str, after: str) -> str:
    target = replace(sample().target, platforms=("linux-64",), requirements=())
    old, new = (
        conda_record("openssl", version, "h_0", sha256=digit * 64)
        for version, digit in ((before, "1"), (after, "2"))
    )
    locks = [Lock(HASH, target, (LockedPlatform("linux-64", (), (r,)),)) for r in (old, new)]
    changes = compare(locks[0], locks[1], "old", "new").platforms[0].changes
    return changes[0].kind


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        ("1.1.1v", "1.1.1w", "upgraded"),  # PEP 440 cannot read either: was "changed"
        ("9e", "9d", "downgraded"),  # libjpeg's
        ("1.0-1", "1.0.1", "changed"),  # one version to conda ("-" is "."); PEP 440: 1.0.post1
    ],
)
def test_diff_orders_conda_versions_as_conda_does(before: str, after: str, kind: str) -> None:
    """Before: openssl 1.1.1v -> 1.1.1w was "changed", 9e -> 9d too, 1.0-1 -> 1.0.1 "upgraded"."""
    assert _diff_kind(before, after) == kind


_PART = st.one_of(
    st.integers(0, 12).map(str),
    st.sampled_from(["a", "b", "rc", "dev", "post", "w", "v", "a1", "1a", "01", "0"]),
)
_VERSION = st.builds(
    lambda epoch, parts, separators, local: (
        epoch
        + "".join(part + sep for part, sep in zip(parts, separators, strict=False)).rstrip("._")
        + local
    ),
    st.sampled_from(["", "", "1!"]),
    st.lists(_PART, min_size=1, max_size=4),
    st.lists(st.sampled_from([".", ".", "_"]), min_size=4, max_size=4),
    st.sampled_from(["", "", "+cu12", "+1.a"]),
)


@settings(max_examples=4, deadline=None)
@given(st.lists(st.tuples(_VERSION, _VERSION), min_size=60, max_size=60))
def test_conda_order_is_rattlers(pairs: list[tuple[str, str]]) -> None:
    """The diff's conda order is rattler's ``Version`` order, pair by pair."""
    ours = [conda_order(first, second) for first, second in pairs]
    assert ours == rattler_orders(pairs), json.dumps(pairs)
