"""Attack 66: subjects of the wrong kind named to the commands that take a path.

`verify OUTPUT`, `inspect SUBJECT`, `verify --nodes FILE` and `init --from FILE` were swept
with a manifest, a lock, a pyproject.toml, a requirements.txt, random bytes, an empty file,
gzip and zstd files, a conda-pack archive, a `docker save` archive, layouts missing index.json
or oci-layout, a layout's blobs/, dist/ itself (with and without a trailing slash),
build.json, a bundle, the cache, a FIFO, /dev/null, symlinks, relative paths from another
directory, `~` unexpanded and a name with spaces and unicode. Findings (before the fix):

- `verify /tmp` (any directory that is not a layout, dist/ itself, the cache, wheels/, a
  layout's blobs/) named the parent's `/build.json` as the problem; `verify /dev/null` named
  `/dev/build.json`. Now: "this is a directory that is not an OCI layout", "this is a build's
  output directory: name dist/image.tar or dist/oci".
- `verify mlenv.toml`, `pyproject.toml`, `requirements.txt` or `build.json` beside a
  build.json was judged as an output and reported "not an output recorded in build.json".
  Now: "this is an mlenv manifest (mlenv.toml), not a build output".
- `inspect mlenv.toml` (any .toml) reported 12 "damaged lock" problems; now "this is an mlenv
  manifest (mlenv.toml), not ... an mlenv.lock" with "pass the mlenv.lock beside it".
- `inspect` of a gzip, zstd, conda-pack, empty or random file said "not an image archive:
  invalid header", of dist/ or any directory "the image layout has no oci-layout"; now each
  says what the file is and what inspect takes; a `docker save` archive is named as one with
  how to convert it.
- `verify --nodes mlenv.lock` (or the manifest, an image, an empty file) said "not JSON:
  Expecting value: line 1 column 1"; `verify --nodes dist` "cannot read the node list: it is
  a directory". Now each says what it is, not a node list.
- `init --from mlenv.lock`, `--from image.tar` said only "cannot tell its format from its
  name"; it now also says what the file is.

Not changed (judged fine): a FIFO is never opened ("this is a FIFO, not ..."); verify
refuses a symlinked output ("never followed", security), inspect follows one;
`~` unexpanded is click's "does not exist"; a tampered output of unrecognised bytes beside
build.json stays a finding, not a usage error. All of them go through `mlenv.subjects`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.golden import golden_project


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The golden project built once, and a directory of wrong subjects beside it."""
    tmp = tmp_path_factory.mktemp("attack66")
    env = {"MLENV_CACHE_DIR": str(tmp / "cache")}
    project = golden_project(tmp / "project")
    for step in (["fetch"], ["build", "--offline"]):
        done = run_mlenv(step, project, env)
        assert done.returncode == 0, done.stderr
    wrong = project / "wrong"
    wrong.mkdir()
    shutil.copy(project / "mlenv.toml", wrong / "mlenv.toml")
    shutil.copy(project / "mlenv.lock", wrong / "other.lock")
    (wrong / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    (wrong / "requirements.txt").write_text("numpy==1.0\n")
    (wrong / "random.bin").write_bytes(hashlib.sha512(b"66").digest() * 8)
    (wrong / "empty").write_bytes(b"")
    (wrong / "data.gz").write_bytes(gzip.compress(b"hello"))
    (wrong / "data.zst").write_bytes(b"\x28\xb5\x2f\xfd" + bytes(16))
    with tarfile.open(wrong / "docker-save.tar", "w") as archive:
        body = json.dumps([{"Config": "c.json", "Layers": []}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(body)
        archive.addfile(info, io.BytesIO(body))
    (wrong / "plain-dir").mkdir()
    os.mkfifo(wrong / "fifo")
    return project, env


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and not p.is_fifo()
    }


# (command, subject relative to the project, words the error must hold)
CASES = [
    ("verify", "wrong/mlenv.toml", "an mlenv manifest"),
    ("verify", "wrong/other.lock", "an mlenv lock"),
    ("verify", "dist", "name dist/image.tar or dist/oci"),
    ("verify", "dist/", "name dist/image.tar or dist/oci"),
    ("verify", "dist/build.json", "a build record"),
    ("verify", "dist/oci/blobs", "name the layout itself: dist/oci"),
    ("verify", "wrong/plain-dir", "a directory that is not an OCI layout"),
    ("verify", "wheels", "a directory that is not an OCI layout"),
    ("verify", "/dev/null", "this is a character device"),
    ("verify", "wrong/fifo", "this is a FIFO"),
    ("inspect", "mlenv.toml", "an mlenv manifest (mlenv.toml), not"),
    ("inspect", "wrong/pyproject.toml", "a pyproject.toml"),
    ("inspect", "wrong/requirements.txt", "a requirements file"),
    ("inspect", "wrong/random.bin", "a file of no kind mlenv reads here"),
    ("inspect", "wrong/empty", "an empty file"),
    ("inspect", "wrong/data.gz", "a gzip file"),
    ("inspect", "wrong/data.zst", "a zstd file"),
    ("inspect", "dist/golden.tar.gz", "a gzip file"),
    ("inspect", "wrong/docker-save.tar", "skopeo copy docker-archive"),
    ("inspect", "dist", "name dist/image.tar or dist/oci"),
    ("inspect", "dist/build.json", "a build record"),
    ("inspect", "wrong/plain-dir", "a directory that is not an OCI layout"),
    ("inspect", "wrong/fifo", "this is a FIFO"),
    ("inspect", "/dev/null", "this is a character device"),
    ("verify --nodes", "mlenv.lock", "an mlenv lock"),
    ("verify --nodes", "mlenv.toml", "an mlenv manifest"),
    ("verify --nodes", "dist/image.tar", "an OCI image archive"),
    ("verify --nodes", "wrong/empty", "an empty file"),
    ("verify --nodes", "dist", "a build's output directory"),
]
TAKES = {"verify": "a build output", "inspect": "an mlenv.lock", "verify --nodes": "a node list"}


@pytest.mark.parametrize(("command", "subject", "words"), CASES)
def test_a_subject_of_the_wrong_kind_is_named_with_what_it_is(
    built: tuple[Path, dict[str, str]], command: str, subject: str, words: str
) -> None:
    """Each wrong subject: exit 1, the error names the path, what it is and what the command
    takes, no traceback, nothing in the project changed (a FIFO never blocks: timeout)."""
    project, env = built
    before = _files(project)
    done = run_mlenv([*command.split(), subject], project, env, timeout=60)
    assert done.returncode == 1, (done.stdout, done.stderr)
    takes = TAKES[command]
    assert subject.rstrip("/") in done.stderr
    assert words in done.stderr and takes in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert _files(project) == before


@pytest.mark.parametrize("subject", ["mlenv.lock", "dist/image.tar", "wrong/fifo"])
def test_init_from_says_what_the_file_is(
    built: tuple[Path, dict[str, str]], tmp_path: Path, subject: str
) -> None:
    project, env = built
    done = run_mlenv(["init", "--from", str(project / subject)], tmp_path, env, timeout=60)
    assert done.returncode == 1, (done.stdout, done.stderr)
    kind = {"mlenv.lock": "an mlenv lock", "dist/image.tar": "an OCI image archive"}
    assert kind.get(subject, "a FIFO") in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("command", "subject"),
    [
        ("verify", "dist/image.tar"),
        ("verify", "dist/oci/"),
        ("inspect", "mlenv.lock"),
        ("inspect", "dist/image.tar"),
        ("inspect", "dist/oci"),
    ],
)
def test_the_right_subjects_still_pass(
    built: tuple[Path, dict[str, str]], command: str, subject: str
) -> None:
    project, env = built
    done = run_mlenv([command, subject], project, env, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_right_subject_from_another_directory_with_spaces(
    built: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A relative path from elsewhere, through a directory named with spaces and unicode."""
    project, env = built
    odd = tmp_path / "sp ace é"
    shutil.copytree(project / "dist", odd)
    done = run_mlenv(["inspect", os.path.relpath(odd / "image.tar", project)], project, env)
    assert done.returncode == 0, done.stderr
