"""Attack 63: air-gap bundles as a site meets them and an attacker crafts them.

A bundle (`mlenv fetch --bundle DIR`) is carried by hand, through FAT sticks and NTFS shares,
edited by people and tools. Invariants (docs/security.md): what ships is what was locked and
verified; no symlink followed; nothing outside the bundle read or written; mlenv replaces only
what it wrote; every refusal is clear, located and exit 1.

Findings, each held by a test below:

1. `fetch --bundle DIR` over an earlier bundle deleted every user file *below* its top
   (`DIR/artifacts-v1/notes.txt`, `DIR/artifacts-v1/sha256/zz/mine`): the output gate
   (`outputs.check_output`) compared only top-level names with what bundle.json accounts for.
   Fixed there: the record names paths, and every entry of the tree that is neither a named
   path nor a directory above one is a stranger; refused, nothing changed.
2. bundle.json entries other than the manifest, the lock and `artifacts-v1/...` were accepted:
   a name in another case (`MLENV.LOCK`), NFC/NFD twins, backslash "paths"
   (`a\\..\\..\\x`), 5000-character names: `verify --bundle` said "complete" for two
   spellings that a case-folding or normalising file system makes one file, or printed the
   whole name. Fixed in `cache.bundle._entry_problem` (the one reader of an entry): only the
   names a bundle holds.
3. A name from bundle.json or a stray file's name holding a newline printed a line of its own
   (`OK: bundle C is complete` forged above the real FAIL): the renderer keeps newlines.
   Fixed where the problems are made (`cache.bundle`): names bounded, every control
   character shown as `?`.
4. `"bundle-version": 99` (a later format) was read as version 1 and passed; a top-level list
   said "list indices must be integers or slices, not str". Fixed in `_read_index`.

Held without change (tests here pin them): sizes/sha256 swapped between entries, an entry
removed, duplicate JSON keys, a BOM, trailing garbage, numbers past Python's digit limit,
another project's lock, a hard link to outside bytes, FIFOs (never opened), a copy through a
FAT-like step (modes and mtimes lost still verify; names folded to upper case are missing),
and registry bundles whose layer titles traverse, repeat a digest or serve other bytes (mlenv
never writes a file by a title: each blob goes to the cache under the lock's sha256).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import string
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.cache.artifacts import ArtifactCache, IntegrityError
from mlenv.cache.bundle import check_bundle
from mlenv.cache.download import fetch
from mlenv.commands.verify import verify_bundle
from mlenv.errors import printable
from mlenv.lockfile_read import loads
from mlenv.oci.bundle import ARTIFACT_TYPE, TITLE, BlobOpener, BundleRefError, _listed
from mlenv.report import QuietReporter
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.hostile

MANIFEST = (
    '[environment]\nname = "b"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
    '[pypi]\nindex-url = "file:///nonexistent-mlenv-index/simple"\nfind-links = ["wheels"]\n'
    'dependencies = ["app"]\n[build]\noutputs = ["conda-pack"]\n'
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project locked from a find-links directory and fetched into the bundle ``B``."""
    root = tmp_path_factory.mktemp("attack63")
    (root / "wheels").mkdir()
    name, data = build_wheel("app", "1.0", files={"app/__init__.py": b"x = 1\n"})
    (root / "wheels" / name).write_bytes(data)
    (root / "mlenv.toml").write_text(MANIFEST)
    for command in (["lock"], ["fetch", "--bundle", "B"]):
        done = run_mlenv(command, root, _env(root))
        assert done.returncode == 0, done.stderr
    return root


def _env(root: Path) -> dict[str, str]:
    return {"MLENV_CACHE_DIR": str(root / "cache")}


@pytest.fixture
def bundle(project: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(project / "B", tmp_path / "B", symlinks=True))


def _index(bundle: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((bundle / "bundle.json").read_bytes())
    return document


def _write_index(bundle: Path, document: object) -> None:
    (bundle / "bundle.json").write_text(json.dumps(document))


def _artifact(bundle: Path) -> str:
    return str(next(e["path"] for e in _index(bundle)["files"] if e["path"].startswith("art")))


def _problems(bundle: Path) -> list[tuple[str, str, str]]:
    return [(p.kind, p.path, p.detail) for p in check_bundle(bundle)]


# ---------------------------------------------------------------------------------------------
# Finding 1: an earlier bundle holding a user's file below its top


@pytest.mark.parametrize(
    "planted", ["artifacts-v1/notes.txt", "artifacts-v1/sha256/zz/mine", "artifacts-v1/sha256/x"]
)
def test_fetch_bundle_never_deletes_a_users_file_inside_an_earlier_bundle(
    project: Path, bundle: Path, planted: str
) -> None:
    """Before: `fetch --bundle B` swapped the whole directory in, deleting the file (only the
    top-level names were compared with bundle.json). Now refused naming it, exit 1, the file
    and the earlier bundle byte for byte in place."""
    (bundle / planted).parent.mkdir(parents=True, exist_ok=True)
    (bundle / planted).write_text("my notes\n")
    before = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    done = run_mlenv(["fetch", "--bundle", str(bundle)], project, _env(project))
    assert done.returncode == 1, done.stderr
    assert planted.rpartition("/")[0] in done.stderr and "nothing was changed" in done.stderr
    assert "Traceback" not in done.stderr
    assert {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()} == before


def test_fetch_bundle_still_replaces_an_earlier_bundle_it_wrote(
    project: Path, bundle: Path
) -> None:
    """The gate refuses nothing mlenv wrote: the earlier bundle (and the lock directory a
    bundle used as a cache gains) is replaced and verifies."""
    (bundle / "locks-v1").mkdir()
    (bundle / "locks-v1" / "x.lock").write_bytes(b"")
    done = run_mlenv(["fetch", "--bundle", str(bundle)], project, _env(project))
    assert done.returncode == 0, done.stderr
    assert not (bundle / "locks-v1").exists()
    assert _problems(bundle) == []


# ---------------------------------------------------------------------------------------------
# Finding 2 and 3: entry names no bundle holds; names that would drive the output


def _twin(name: str, form: str) -> str:
    return unicodedata.normalize(form, name)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [
        "MLENV.LOCK",
        "Mlenv.toml",
        _twin("caf\u00e9.txt", "NFC"),
        _twin("caf\u00e9.txt", "NFD"),
        "a\\..\\..\\x",
        "C:\\Windows\\x",
        "x" * 5000,
        "notes.txt",
        "artifacts-v2/x",
        "mlenv.lock\u200b",
        "a\x1b]0;pwned\x07\nOK: bundle B is complete",
    ],
)
def test_an_entry_no_bundle_holds_is_refused_even_with_the_right_bytes(
    bundle: Path, name: str
) -> None:
    """The file exists (where the name can exist) with exactly the bytes listed, so only the
    name is wrong. Before: "complete" (one file on Linux, two names for it elsewhere), or the
    whole name printed. Now one `index` problem, its name bounded and without control
    characters."""
    data = (bundle / "mlenv.lock").read_bytes()
    with contextlib.suppress(OSError):  # a name no file system holds: still refused
        (bundle / name).write_bytes(data)
    index = _index(bundle)
    sha = hashlib.sha256(data).hexdigest()
    index["files"].append({"path": name, "sha256": sha, "size": len(data)})
    _write_index(bundle, index)
    found = [p for p in _problems(bundle) if p[0] == "index"]
    assert len(found) == 1, found
    _, shown, detail = found[0]
    assert "no bundle holds" in detail or "outside the bundle" in detail, detail
    assert shown.isprintable() and len(shown) <= 123, shown
    problems = verify_bundle(bundle).problems
    assert problems, "verify --bundle called it complete"
    assert all("\n" not in p.path and p.path.isprintable() for p in problems)


def test_a_stray_name_cannot_forge_a_line_of_the_verdict(bundle: Path, project: Path) -> None:
    """A stray file named with a newline and an escape sequence: before, `verify --bundle`
    printed "OK: bundle ... is complete" on a line of its own above the FAIL."""
    (bundle / "x\nOK: bundle B is complete (1 artifact(s))\x1b[2K").write_bytes(b"")
    done = run_mlenv(["verify", "--bundle", str(bundle)], project)
    assert done.returncode == 1, done.stdout
    lines = done.stdout.splitlines()
    assert not any(line.startswith("OK") for line in lines), lines
    assert lines[-1].startswith("FAIL: 1 problem(s)"), lines
    assert "\x1b" not in done.stdout


_NAME_CHARS = st.sampled_from(
    [*string.ascii_letters[:6], "/", ".", "..", "\\", "\x00", "\n", "\x1b", "\u0301", "\u00e9",
     "\u200b", "mlenv.toml", "mlenv.lock", "artifacts-v1", "sha256", "bundle.json", " "]
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_NAME_CHARS, max_size=8).map("".join), min_size=1, max_size=4))
def test_hypothesis_only_the_names_a_bundle_holds_are_believed(names: list[str]) -> None:
    """Whatever names bundle.json lists (with bytes that match, where the name can exist), an
    entry is believed only when it is the manifest, the lock or an artifact under its sha256;
    every problem's name is printable and bounded."""
    data = b"bytes\n"
    sha = hashlib.sha256(data).hexdigest()
    with tempfile.TemporaryDirectory() as scratch:
        bundle = Path(scratch) / "B"
        bundle.mkdir()
        (bundle / "mlenv.lock").write_bytes(data)
        (Path(scratch) / "outside").write_bytes(data)
        files = [{"path": name, "sha256": sha, "size": len(data)} for name in names]
        _write_index(bundle, {"bundle-version": 1, "files": files})
        problems = check_bundle(bundle)
        refused = {p.path for p in problems if p.kind == "index"}
        for name in names:
            if name not in ("mlenv.toml", "mlenv.lock"):
                assert printable(name, 120) in refused, (name, problems)
        for problem in problems:
            assert problem.path.isprintable() and len(problem.path) <= 123, problem


# ---------------------------------------------------------------------------------------------
# Finding 4: the index's version and shape


@pytest.mark.parametrize(
    ("document", "says"),
    [
        (lambda d: {**d, "bundle-version": 99}, "bundle-version is 99"),
        (lambda d: {**d, "bundle-version": "1"}, "bundle-version is 1"),
        (lambda d: {"files": d["files"]}, "bundle-version is None"),
        (lambda d: [d], "not a JSON object"),
    ],
)
def test_an_index_of_another_version_or_shape_is_refused(
    bundle: Path, document: Callable[[dict[str, Any]], object], says: str
) -> None:
    """Before: version 99 passed as complete; a list said "list indices must be integers"."""
    _write_index(bundle, document(_index(bundle)))
    assert [(k, p) for k, p, _ in _problems(bundle)] == [("index", "bundle.json")]
    assert says in _problems(bundle)[0][2]


# ---------------------------------------------------------------------------------------------
# Held: edits of bundle.json, other bytes, other locks


def _swap(bundle: Path, key: str) -> None:
    index = _index(bundle)
    named = {entry["path"]: entry for entry in index["files"]}
    toml, lock = named["mlenv.toml"], named["mlenv.lock"]
    toml[key], lock[key] = lock[key], toml[key]
    _write_index(bundle, index)


EDITS: dict[str, tuple[Callable[[Path], object], set[str]]] = {
    "sha-swapped": (lambda b: _swap(b, "sha256"), {"corrupted"}),
    "size-swapped": (lambda b: _swap(b, "size"), {"corrupted"}),
    "entry-removed": (
        lambda b: _write_index(b, {**_index(b), "files": _index(b)["files"][1:]}),
        {"extra"},
    ),
    "duplicate-key": (  # JSON's last key wins: this index lists nothing
        lambda b: (b / "bundle.json").write_text(
            (b / "bundle.json").read_text().rstrip()[:-1] + ',"files":[]}'
        ),
        {"extra"},
    ),
    "trailing-garbage": (lambda b: (b / "bundle.json").write_text("{}\n{}"), {"index"}),
    "huge-number": (
        lambda b: (b / "bundle.json").write_text(
            (b / "bundle.json").read_text().replace('"size":', '"size":' + "9" * 5000, 1)
        ),
        {"index"},
    ),
    "lock-of-another-project": (
        lambda b: (b / "mlenv.lock").write_text(
            (b / "mlenv.lock").read_text().replace('"1.0"', '"2.0"')
        ),
        {"corrupted"},
    ),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_bundle_is_never_complete(bundle: Path, edit: str) -> None:
    change, kinds = EDITS[edit]
    change(bundle)
    assert {k for k, _, _ in _problems(bundle)} >= kinds, _problems(bundle)


def test_another_projects_lock_restated_in_the_index_is_still_caught(bundle: Path) -> None:
    """The lock replaced by another project's and bundle.json rewritten to agree: its
    artifacts are not in the bundle, and the bundle's manifest is not what it was locked
    from."""
    text = (bundle / "mlenv.lock").read_text()
    sha = _artifact(bundle).rsplit("/", 1)[1]
    (bundle / "mlenv.lock").write_text(text.replace(sha, "f" * 64))
    index = _index(bundle)
    for entry in index["files"]:
        if entry["path"] == "mlenv.lock":
            data = (bundle / "mlenv.lock").read_bytes()
            entry.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    _write_index(bundle, index)
    problems = verify_bundle(bundle).problems
    assert ("unlisted-artifact", f"artifacts-v1/sha256/ff/{'f' * 64}") in {
        (p.kind, p.path) for p in problems
    }, problems


def test_a_bom_is_read_as_the_same_index(bundle: Path) -> None:
    """An editor's BOM changes no entry: the bytes are still all hashed."""
    (bundle / "bundle.json").write_bytes(b"\xef\xbb\xbf" + (bundle / "bundle.json").read_bytes())
    assert _problems(bundle) == []


def test_a_hard_link_is_judged_by_its_bytes(bundle: Path, tmp_path: Path) -> None:
    """A hard link to a file outside is an inode inside the bundle: other bytes are
    corrupted, the same bytes verify (the build still hashes the read that ships)."""
    path = bundle / _artifact(bundle)
    outside = tmp_path / "outside"
    outside.write_bytes(b"\0" * path.stat().st_size)
    path.unlink()
    os.link(outside, path)
    assert [k for k, p, _ in _problems(bundle) if p == _artifact(bundle)] == ["corrupted"]
    assert outside.read_bytes() == b"\0" * outside.stat().st_size


def test_a_fifo_entry_never_blocks_and_is_never_opened(bundle: Path) -> None:
    path = bundle / _artifact(bundle)
    path.unlink()
    os.mkfifo(path)
    assert [k for k, p, _ in _problems(bundle) if p == _artifact(bundle)] == ["not-a-file"]


def test_a_copy_through_a_fat_like_step(bundle: Path) -> None:
    """Modes and mtimes lost (0777 everywhere, or no x bit, 1980 times) still verify; names
    folded to upper case are the artifact missing and a stray file, both named."""
    for path in [bundle, *bundle.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
        os.utime(path, (315532800, 315532800))
    assert verify_bundle(bundle).problems == ()
    artifact = bundle / _artifact(bundle)
    artifact.rename(artifact.with_name(artifact.name.upper()))
    kinds = {(k, p.rsplit("/", 1)[-1].lower()) for k, p, _ in _problems(bundle)}
    assert ("missing", artifact.name) in kinds and ("extra", artifact.name) in kinds


# ---------------------------------------------------------------------------------------------
# Held: a registry bundle's annotations are never file names


class _Served:
    """A registry session's blob reads over a dict (digest -> bytes), as a registry serves."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs

    @contextmanager
    def blob(self, digest: str) -> Iterator[BinaryIO]:
        yield io.BytesIO(self.blobs[digest])

    def has(self, digest: str) -> bool:
        return digest in self.blobs


@pytest.mark.parametrize(
    "titles", [["../../x"], ["/etc/passwd"], ["a.whl", "b.whl"], ["..\\..\\x"]]
)
def test_a_registry_bundles_titles_never_name_a_file(
    project: Path, tmp_path: Path, titles: list[str]
) -> None:
    """Layer titles that traverse, or the same digest twice under two names: the cache is
    filled under the lock's sha256 alone, nothing is written anywhere else."""
    from mlenv.cache.lock_artifacts import artifacts_of

    artifacts = artifacts_of(loads((project / "mlenv.lock").read_text()))
    data = ArtifactCache(project / "cache").path(artifacts[0].sha256).read_bytes()
    digest = f"sha256:{artifacts[0].sha256}"
    layers = [{"digest": digest, "size": len(data), "annotations": {TITLE: t}} for t in titles]
    kind = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
    document = {**kind, "artifactType": ARTIFACT_TYPE, "layers": layers}
    assert _listed(json.dumps(document).encode(), "oci://r/x:1") == {digest}
    cache = ArtifactCache(tmp_path / "sub" / "cache")
    remote = [a.__class__(a.name, f"oci://r/x@{digest}", a.sha256, a.size) for a in artifacts]
    fetch(remote, cache, BlobOpener(_Served({digest: data})), reporter=QuietReporter())
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    locked = f"sub/cache/locks-v1/{artifacts[0].sha256}.lock"
    assert written == [f"sub/cache/{_artifact(project / 'B')}", locked]


def test_a_registry_serving_other_bytes_stores_nothing(project: Path, tmp_path: Path) -> None:
    from mlenv.cache.lock_artifacts import artifacts_of

    artifacts = artifacts_of(loads((project / "mlenv.lock").read_text()))
    digest = f"sha256:{artifacts[0].sha256}"
    remote = [a.__class__(a.name, f"oci://r/x@{digest}", a.sha256, a.size) for a in artifacts]
    cache = ArtifactCache(tmp_path / "cache")
    evil = b"\0" * artifacts[0].size
    with pytest.raises(IntegrityError):
        fetch(remote, cache, BlobOpener(_Served({digest: evil})), reporter=QuietReporter())
    assert not cache.path(artifacts[0].sha256).exists()


@pytest.mark.parametrize(
    "document",
    [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []},
        {"artifactType": "application/vnd.other+json", "layers": []},
        {"artifactType": ARTIFACT_TYPE, "layers": {"digest": "x"}},
    ],
)
def test_a_foreign_manifest_is_not_a_bundle(document: object) -> None:
    with pytest.raises(BundleRefError, match="not an mlenv bundle"):
        _listed(json.dumps(document).encode(), "oci://r/x:1")
