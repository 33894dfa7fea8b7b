"""Two-hundred-and-thirty-eighth adversary pass: conda packages, channels and names.

Conda names are compared case-folded and nothing more: ``_``, ``-`` and ``.`` stay apart
(rattler's ``PackageName.normalized`` is the name in lower case; conda-forge ships
``typing-extensions``, a metapackage that depends on ``typing_extensions``, another package).
mlenv read a conda name as a PEP 503 name wherever it compared two of them, so the two were one
package: a record added to a lock by hand under the other spelling passed the closure check
(``closure.unreached``), a record depending on a package the lock lacks passed
``closure.unmet``, the SBOM rooted the environment at the wrong record, ``mlenv diff`` showed
one of the two, and ``mlenv add --conda typing_extensions`` replaced ``typing-extensions``.
Every comparison now goes through ``conda.records.conda_name``.

The ``.conda`` zip, as rattler's reader and Python's zipfile read it
(``install.conda_readers.zip_layout_problem``): rattler unpacks every entry whose *last path
component* ends in ``.tar.zst``, reading ``\\`` as ``/`` and an Info-ZIP Unicode Path field
as the name; the vetting read the entries whose name ends in ``.tar.zst``. An entry named
``x.tar.zst/`` (or ``x.tar.zst\\``, ``x.tar.zst/.``), or ``x.bin`` with a Unicode Path of
``x.tar.zst``, was never vetted and rattler unpacked it over the vetted files: a listed file's
bytes replaced, a symlink out of the prefix written in its place. An entry zipfile cannot
read (zstd-compressed, method 93; encrypted) was an internal error.

Held (kept as regressions): a repodata.json listing one stem in ``packages`` and
``packages.conda`` locks the ``.conda`` (conda's preference); a record whose ``subdir`` is not
the directory it is listed in, and a ``repodata_version: 2`` ``base_url`` sending the files
elsewhere (another directory, ``../``, another host), never reach a lock; a record depending on
``<other channel>::name`` is never met from a channel the manifest does not name; and
``CONDA_OVERRIDE_CUDA``/``CONDA_OVERRIDE_GLIBC`` in the environment of ``mlenv lock`` change
nothing (the target's virtual packages come from the manifest).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import struct
import tarfile
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mlenv.closure import unmet, unreached
from mlenv.conda.install import install
from mlenv.conda.solve import from_repodata
from mlenv.diff import compare
from mlenv.edit import add, remove
from mlenv.install.safety import InstallError
from mlenv.lockfile import Lock, LockedPlatform
from mlenv.report import MemoryReporter
from mlenv.sbom import cyclonedx
from tests.support.cli import run_mlenv
from tests.support.conda_channel import (
    assert_install_refuses,
    build_conda_package,
    repodata_record,
)
from tests.support.conda_project import conda_project
from tests.support.locks import HASH, conda_record, sample

pytestmark = pytest.mark.hostile

# conda-forge's pair: the metapackage and the package it pins
META = conda_record(
    "typing-extensions", "4.12.2", "hd8ed1ab_1", sha256="1" * 64,
    depends=("typing_extensions ==4.12.2 pyha770c72_1",),
)  # fmt: skip
REAL = conda_record("typing_extensions", "4.12.2", "pyha770c72_1", sha256="2" * 64)
TARGET = replace(
    sample().target, platforms=("linux-64",), requirements=(), conda_requirements=("foo-bar",)
)


def _platform(*records: Any) -> LockedPlatform:
    return LockedPlatform("linux-64", (), tuple(records))


def test_a_conda_record_spelt_like_a_needed_one_is_still_unreached() -> None:
    """Before: `foo_bar`, added by hand beside the `foo-bar` the manifest asks for, was read as
    `foo-bar` and passed; build would have installed a package nothing asked for."""
    needed = conda_record("foo-bar", sha256="3" * 64)
    planted = conda_record("foo_bar", sha256="4" * 64)
    assert unreached(TARGET, _platform(needed)) == []
    found = unreached(TARGET, _platform(needed, planted))
    assert [where for where, _ in found] == [".conda[1] (foo_bar 2.5.1)"], found


def test_a_conda_depends_met_only_by_another_spelling_is_unmet() -> None:
    """Before: a record depending on `typing_extensions` was met by `typing-extensions`."""
    target = replace(TARGET, conda_requirements=("typing-extensions",))
    assert unmet(target, _platform(META, REAL)) == []
    found = unmet(target, _platform(META))
    assert [why for _, why in found] == [
        "depends on 'typing_extensions ==4.12.2 pyha770c72_1', which has no conda record on "
        "the platform"
    ], found


def test_the_sbom_roots_and_links_each_conda_spelling_to_its_own_record() -> None:
    """Before: the environment depended on `typing_extensions` though the manifest asked for
    `typing-extensions`, which depended on nothing."""
    target = replace(TARGET, conda_requirements=("typing-extensions",))
    bom = cyclonedx(Lock(HASH, target, (_platform(META, REAL),)), b"lock", name="demo")
    graph = {entry["ref"]: entry["dependsOn"] for entry in bom["dependencies"]}
    meta, real = (f"conda:{record.sha256}" for record in (META, REAL))
    assert graph == {"environment": [meta], meta: [real], real: []}, graph


def test_diff_shows_both_conda_spellings() -> None:
    """Before: the two were one key, so a change of `typing-extensions` was hidden."""
    newer = replace(
        META,
        version="4.13.0",
        sha256="5" * 64,
        filename="typing-extensions-4.13.0-hd8ed1ab_1.conda",
    )
    old = Lock(HASH, TARGET, (_platform(META, REAL),))
    new = Lock(HASH, TARGET, (_platform(newer, REAL),))
    changes = compare(old, new, "old", "new").platforms[0].changes
    assert [(c.name, c.kind) for c in changes] == [("typing-extensions", "upgraded")], changes


def test_add_and_remove_keep_conda_spellings_apart() -> None:
    """Before: `add --conda typing_extensions` replaced `typing-extensions`, and `remove
    typing_extensions` removed it."""
    text = (
        '[environment]\nname = "x"\npython = "3.11"\n'
        '[conda]\nchannels = ["conda-forge"]\ndependencies = ["typing-extensions"]\n'
    )
    added = add(text, ["typing_extensions >=4"], conda=True)
    assert added.manifest.conda.dependencies == ("typing-extensions", "typing_extensions >=4")
    kept = remove(added.text, ["typing_extensions"])
    assert kept.manifest.conda.dependencies == ("typing-extensions",)
    assert remove(added.text, ["Typing_Extensions"]).text == kept.text  # case still folds


# --- held: repodata shapes ------------------------------------------------------------------

_PACKAGE = build_conda_package("foo", "1.0", "h_0", files={"share/foo.txt": b"x\n"})


def _lock(root: Path, lie: Any, packages: list[tuple[str, bytes]] | None = None) -> Any:
    project = conda_project(root, packages or [_PACKAGE], "/opt/mlenv/x")
    path = root / "channel" / "linux-64" / "repodata.json"
    repodata = json.loads(path.read_text())
    lie(repodata, root)
    path.write_text(json.dumps(repodata))
    result = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(root / "cache")})
    assert "Traceback" not in result.stderr, result.stderr
    return result, project


def test_one_stem_in_both_package_tables_locks_the_conda_file(tmp_path: Path) -> None:
    conda = build_conda_package(
        "foo", "1.0", "h_0", files={"share/foo.txt": b"conda\n"}, fmt="conda"
    )
    bz2 = build_conda_package("foo", "1.0", "h_0", files={"share/foo.txt": b"bz2\n"})

    def both(repodata: dict[str, Any], root: Path) -> None:
        (root / "channel" / "linux-64" / bz2[0]).write_bytes(bz2[1])
        repodata["packages"][bz2[0]] = repodata_record(*bz2)

    result, project = _lock(tmp_path, both, [conda])
    assert result.returncode == 0, result.stderr
    text = (project / "mlenv.lock").read_text()
    assert 'filename = "foo-1.0-h_0.conda"' in text and "foo-1.0-h_0.tar.bz2" not in text


@pytest.mark.parametrize("subdir", ["noarch", "linux-aarch64"])
def test_a_record_of_another_subdir_than_its_directory_is_refused(
    tmp_path: Path, subdir: str
) -> None:
    def moved(repodata: dict[str, Any], root: Path) -> None:
        repodata["packages"][_PACKAGE[0]]["subdir"] = subdir

    result, project = _lock(tmp_path, moved)
    assert result.returncode == 1 and "(foo 1.0)" in result.stderr, result.stderr
    assert not (project / "mlenv.lock").exists()


@pytest.mark.parametrize("base", ["file://{root}/other/", "../../other/", "https://x.example/c/"])
def test_a_base_url_sending_files_elsewhere_is_refused(tmp_path: Path, base: str) -> None:
    def elsewhere(repodata: dict[str, Any], root: Path) -> None:
        (root / "other").mkdir()
        shutil.copy(root / "channel" / "linux-64" / _PACKAGE[0], root / "other")
        repodata["repodata_version"] = 2
        repodata["info"]["base_url"] = base.format(root=root)

    result, project = _lock(tmp_path, elsewhere)
    assert result.returncode == 1 and "is not below" in result.stderr, result.stderr
    assert not (project / "mlenv.lock").exists()


@pytest.mark.parametrize("spec", ["{other}::evilpkg", "evilpkg[channel={other}]"])
def test_a_depends_naming_another_channel_is_never_met_from_it(tmp_path: Path, spec: str) -> None:
    from tests.support.conda_channel import write_channel

    other = build_conda_package("evilpkg", "1.0", "h_0", files={"share/evil.txt": b"x\n"})

    def pointed(repodata: dict[str, Any], root: Path) -> None:
        url = write_channel(root / "other", [other])
        repodata["packages"][_PACKAGE[0]]["depends"] = [spec.format(other=url)]

    result, project = _lock(tmp_path, pointed)
    assert result.returncode == 1 and "evilpkg" in result.stderr, result.stderr
    assert not (project / "mlenv.lock").exists()


def test_conda_overrides_in_the_environment_change_no_lock(tmp_path: Path) -> None:
    gpu = build_conda_package(
        "gpu", "1.0", "cuda124_0", depends=["__cuda >=12.4"], files={"lib/gpu.txt": b"g\n"}
    )
    project = conda_project(tmp_path, [gpu], "/opt/mlenv/x")
    manifest = project / "mlenv.toml"
    manifest.write_text(
        manifest.read_text() + '[cuda]\nversion = "12.1"\ndriver-floor = "530.30.02"\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache"), "CONDA_OVERRIDE_CUDA": "13.0"}
    result = run_mlenv(["lock"], project, env)
    assert result.returncode == 1 and "needs __cuda >=12.4" in result.stderr, result.stderr


# --- the .conda zip as rattler reads it -----------------------------------------------------


def _zstd_tar(members: dict[str, bytes], links: dict[str, str]) -> bytes:
    import zstandard

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return zstandard.ZstdCompressor(level=3).compress(buffer.getvalue())


def _with_entry(tmp_path: Path, entry: zipfile.ZipInfo, body: bytes) -> Path:
    """An honest .conda with ``entry`` appended, as a streaming reader reads it too."""
    name, data = build_conda_package(
        "foo", "1.0", "h_0", files={"share/foo.txt": b"good\n"}, fmt="conda"
    )
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for info in source.infolist():
            archive.writestr(info, source.read(info))
        archive.writestr(entry, body)
    path = tmp_path / name
    path.write_bytes(out.getvalue())
    return path


_OVER = [
    ({"share/foo.txt": b"EVIL\n"}, {}),  # other bytes under the vetted name
    ({}, {"share/foo.txt": "/etc/shadow"}),  # a symlink out of the prefix in its place
]


@pytest.mark.parametrize("over", _OVER)
@pytest.mark.parametrize(
    "entry", ["x.tar.zst/", "x.tar.zst\\", "x.tar.zst/.", "x.tar.zst//", "../x.tar.zst/"]
)
def test_a_conda_entry_rattler_reads_as_a_tar_by_its_last_component_is_refused(
    tmp_path: Path, entry: str, over: tuple[dict[str, bytes], dict[str, str]]
) -> None:
    """Before: installed, `share/foo.txt` holding the unvetted tar's bytes or symlink."""
    path = _with_entry(tmp_path, zipfile.ZipInfo(entry, (1980, 1, 1, 0, 0, 0)), _zstd_tar(*over))
    assert_install_refuses(path, "is not a plain file name")


@pytest.mark.parametrize("over", _OVER)
def test_a_conda_entry_renamed_by_a_unicode_path_field_is_refused(
    tmp_path: Path, over: tuple[dict[str, bytes], dict[str, str]]
) -> None:
    """Before: `x.bin`, which zipfile reads by its header's name, was `x.tar.zst` to rattler."""
    entry = zipfile.ZipInfo("x.bin", (1980, 1, 1, 0, 0, 0))
    field = struct.pack("<BI", 1, zlib.crc32(b"x.bin")) + b"x.tar.zst"
    entry.extra = struct.pack("<HH", 0x7075, len(field)) + field
    path = _with_entry(tmp_path, entry, _zstd_tar(*over))
    assert_install_refuses(path, "carries an Info-ZIP Unicode Path field")


@pytest.mark.parametrize(("method", "flags"), [(93, 0), (0, 1)])
def test_a_conda_entry_zipfile_cannot_read_is_refused_not_an_internal_error(
    tmp_path: Path, method: int, flags: int
) -> None:
    """Before: zipfile's NotImplementedError (zstd, method 93) or RuntimeError (encrypted)
    left the vetting as an internal error."""
    name, data = build_conda_package("foo", "1.0", "h_0", fmt="conda")
    patched = bytearray(data)
    for signature, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # flags, then method
        found = patched.find(signature)
        while found >= 0:
            struct.pack_into("<HH", patched, found + at, flags, method)
            found = patched.find(signature, found + 4)
    path = tmp_path / name
    path.write_bytes(bytes(patched))
    entry: dict[str, object] = {
        "name": "foo",
        "version": "1.0",
        "build": "h_0",
        "subdir": "linux-64",
    }
    entry |= {"md5": hashlib.md5(patched).hexdigest(), "size": len(patched)}
    entry["sha256"] = hashlib.sha256(patched).hexdigest()  # zipfile cannot read index.json
    record = from_repodata(entry, channel=tmp_path.as_uri(), filename=name, url=path.as_uri())
    with pytest.raises(InstallError, match="cannot be read as a conda package"):
        install(
            [record], {record.sha256: path}, tmp_path / "stage", target_prefix="/opt/mlenv/x",
            platform="linux-64", reporter=MemoryReporter(),
        )  # fmt: skip
