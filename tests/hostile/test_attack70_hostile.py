"""Attack 70: an earlier dist/'s build.json naming a user's file or directory as its own.

Findings (before the fix): ``build_files`` believed any name a build.json listed as the
conda-pack archive, the SBOM, the image.tar or (multi-platform) a platform's directory, so a
build.json saying ``"conda-pack": {"file": "thesis"}`` or ``"platforms": {"photos": ...}``
beside a user's ``thesis/`` or ``photos/`` made ``check_output`` pass, and the build's swap
deleted them. Now only a name a build writes is believed (image.tar, sbom.cdx.json, an
environment's archive, a platform mlenv builds for); any other is a stranger and the build is
refused naming it. Since attack 87 a record that names such a file is not a build record at
all (``build_record`` reads only the names a build writes), so the gate refuses it before it
looks at the names: both layers are attacked here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlenv.build_written import build_files
from mlenv.commands.build import BUILD_OUTPUT
from mlenv.outputs import OutputError, check_output
from mlenv.platforms import NAMES
from mlenv.sbom import FILENAME
from tests.support import build_records


def _dist(root: Path, record: dict[str, Any], users: list[str], files: list[str]) -> Path:
    """A dist/ with ``record`` as its build.json, ``files`` as the build's plain files and
    each of ``users`` a user's directory holding a year of work."""
    root.mkdir()
    (root / "build.json").write_text(json.dumps(record))
    for name in files:
        (root / name).write_bytes(b"built")
    for name in users:
        (root / name).mkdir()
        (root / name / "work.txt").write_text("a year of work")
    return root


def _single(archive: str, sbom: str, tar: str | None) -> dict[str, Any]:
    image = build_records.image(tar=tar)
    return build_records.single(image, build_records.archive(archive), sbom)


def test_an_earlier_single_build_it_wrote_is_still_replaced(tmp_path: Path) -> None:
    for tar in ("image.tar", None):
        dist = _dist(tmp_path / f"d{tar}", _single("env.tar.zst", FILENAME, tar), [], [])
        for name in ("env.tar.zst", FILENAME, *([tar] if tar else [])):
            (dist / name).write_bytes(b"built")
        (dist / "oci").mkdir()
        (dist / "oci" / "index.json").write_text("{}")
        assert check_output(dist, BUILD_OUTPUT, keep={}) == dist.resolve()


@pytest.mark.parametrize(
    ("archive", "sbom", "tar", "users"),
    [
        ("thesis", FILENAME, "image.tar", ["thesis"]),
        ("env.tar.gz", "data", "image.tar", ["data"]),
        ("env.tar.gz", FILENAME, "photos", ["photos"]),
        ("Thesis.tar.gz", FILENAME, None, ["Thesis.tar.gz"]),
        ("env.tar", FILENAME, None, ["image.tar"]),  # layout only: a user's image.tar dir
    ],
)
def test_a_build_json_naming_a_users_directory_does_not_make_it_the_builds(
    tmp_path: Path, archive: str, sbom: str, tar: str | None, users: list[str]
) -> None:
    record = _single(archive, sbom, tar)
    dist = _dist(tmp_path / "dist", record, users, [])
    with pytest.raises(OutputError) as refused:
        check_output(dist, BUILD_OUTPUT, keep={})
    # a name no build writes makes the record no build's (attack 87); the gate's own reading of
    # the names (attack 70) still leaves the user's directory a stranger
    layout_only = tar is None and archive == "env.tar"
    if layout_only:
        assert f"holds {users[0]}, which the earlier build output did not write" in str(
            refused.value
        )
    else:
        assert "no valid build.json" in str(refused.value)
    assert users[0] not in (build_files(record) or ())
    assert (dist / users[0] / "work.txt").read_text() == "a year of work"


def test_a_multi_platform_build_json_naming_a_users_directory_as_a_platform(
    tmp_path: Path,
) -> None:
    top = build_records.multi(list(NAMES), index=None)
    genuine = _dist(tmp_path / "genuine", top, [], [])
    for name in NAMES:  # each platform's directory is its own build, accounted by its record
        (genuine / name).mkdir()
        one = build_records.single(None, build_records.archive("env.tar.gz"), FILENAME, name)
        (genuine / name / "build.json").write_text(json.dumps(one))
        (genuine / name / "env.tar.gz").write_bytes(b"built")
    assert check_output(genuine, BUILD_OUTPUT, keep={}) == genuine.resolve()

    hostile = {**top["platforms"], "photos": {"build": "photos/build.json", "sha256": "5" * 64}}
    edited = _dist(tmp_path / "edited", {**top, "platforms": hostile}, ["photos", *NAMES], [])
    with pytest.raises(OutputError) as refused:
        check_output(edited, BUILD_OUTPUT, keep={})
    # photos is no platform mlenv builds: no build's record (attack 87), and never the build's
    assert "no valid build.json" in str(refused.value)
    assert "photos" not in (build_files({**top, "platforms": hostile}) or ())
