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

Held (kept as regressions): a repodata.json listing one stem in ``packages`` and
``packages.conda`` locks the ``.conda`` (conda's preference); a record whose ``subdir`` is not
the directory it is listed in, and a ``repodata_version: 2`` ``base_url`` sending the files
elsewhere (another directory, ``../``, another host), never reach a lock.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mlenv.closure import unmet, unreached
from mlenv.diff import compare
from mlenv.edit import add, remove
from mlenv.lockfile import Lock, LockedPlatform
from mlenv.sbom import cyclonedx
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package, repodata_record
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
