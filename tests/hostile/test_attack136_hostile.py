"""136th adversary pass: today's merges (local roots lent to ``simple-…`` indexes, sizes read
from the cache, the no-op's own sha256, conda CUDA readings). Each test names what it
protects and fails if its enforcement is removed."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from mlenv.cache import artifacts
from mlenv.cache.artifacts import Artifact, ArtifactCache, held_size
from mlenv.cuda.tags import extract_conda
from mlenv.index import HttpClient, MetadataCache, SimpleIndex
from mlenv.net.origins import LocalRoots, UnsafeUrlError, follow
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package, write_channel
from tests.support.conda_project import channel_packages
from tests.support.fetch_project import WHEELS, make_project
from tests.support.httpserver import IndexServer
from tests.support.noop import entries, manifest_text, project, run
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.hostile

ROOT = Path(__file__).resolve().parents[2]
TEXT = manifest_text({"environment": {"name": "e", "python": "3.11"},
                      "pypi": {"dependencies": ["torch==2.14.1"]}})  # fmt: skip
STALE = TEXT.replace("2.14.1", "2.14.0")  # a lock made for TEXT is stale for it

# a sha256 that answers one digest for every input: every verdict key would be one key
CONSTANT_SHA256 = """
class sha256:
    def __init__(self, data=b""):
        pass

    def update(self, data):
        pass

    def digest(self):
        return bytes(32)

    def hexdigest(self):
        return "0" * 64
"""


@pytest.mark.parametrize("name", ["_sha2", "_sha256", "hashlib"])
def test_a_sha256_module_shadowed_in_the_working_directory_never_answers_fresh(
    tmp_path: Path, name: str
) -> None:
    """Protects the no-op's code identity for the hash its key is made with: ``python -m
    mlenv`` searches the working directory first, so a ``_sha2.py`` there (a name no
    standard module has before Python 3.12), ``_sha256.py`` or ``hashlib.py`` would be what
    computes the verdict key; one that answers a single digest would make a stale lock's key
    the key of a fresh verdict. A stale lock is never "up to date" there."""
    where = tmp_path / "p"
    project(where, TEXT)
    (where / f"{name}.py").write_text(CONSTANT_SHA256)
    cache = tmp_path / "cache"
    run(where, cache, ROOT)  # whatever it answers, it may keep a verdict on fresh bytes
    (where / "mlenv.toml").write_text(STALE)
    refused = run(where, cache, ROOT)
    assert refused.returncode != 0 and "up to date" not in refused.stderr, (
        refused.stderr, entries(cache))  # fmt: skip


# -- sizes read from the cache: only a copy no one else could have put under that name -----


@pytest.mark.parametrize("bucket_mode", [0o777, 0o775, 0o1777])
def test_a_copy_renamed_into_a_bucket_others_can_write_is_not_believed(
    tmp_path: Path, bucket_mode: int
) -> None:
    """Protects the size a re-lock records (the server's, or the true size of the bytes with
    that sha256): in a shared cache whose bucket (``artifacts-v1/sha256/ab/``) others can
    write, whoever can write it may rename this user's own verified copy of one wheel to the
    name of another's sha256; the file is still this user's and unwritable, but its name no
    longer says what it holds. Such a copy is not asked: the server's size is recorded."""
    wanted, data = build_wheel("demo", "1.0")
    _, other = build_wheel("demo", "1.0", files={"demo/pad.bin": b"x" * 5000})
    write_simple_index(tmp_path / "index", [(wanted, data)])
    cache = ArtifactCache(tmp_path / "cache")
    digest, planted = hashlib.sha256(data).hexdigest(), hashlib.sha256(other).hexdigest()
    cache.add(Artifact("demo", "https://x.example/o.whl", planted, len(other)), [other])
    target = cache.path(digest)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.parent.chmod(bucket_mode)
    cache.path(planted).parent.chmod(0o777)  # where it was: another bucket others may write
    cache.path(planted).rename(target)  # as whoever may write both buckets could
    assert held_size(cache.root, digest) is None
    with (
        HttpClient(retries=0, netrc_path=Path("/nonexistent")) as http,
        IndexServer(tmp_path / "index", json_api=False) as server,
    ):
        index = SimpleIndex(f"{server.url}/simple/", http=http, cache=MetadataCache(cache.root))
        (file,) = index.files(canonicalize_name("demo"))
        assert file.sha256 == digest
        assert index.size(file) == len(data) != len(other)


def test_sizes_read_from_this_users_own_copy_only(tmp_path: Path) -> None:
    """Protects the same rule for each shape a cache entry may take: only a plain file this
    user owns, that no one else may write, in a bucket no one else may write, under a sha256
    written as mlenv writes it (64 lower-case hex digits), is read for its size."""
    _, data = build_wheel("demo", "1.0")
    cache = ArtifactCache(tmp_path / "cache")
    digest = hashlib.sha256(data).hexdigest()
    cache.add(Artifact("demo", "https://x.example/d.whl", digest, len(data)), [data])
    assert held_size(cache.root, digest) == len(data)
    for name in (digest.upper(), f"../{digest}", digest[:63], digest + "\n", ""):
        assert held_size(cache.root, name) is None, name
    entry = cache.path(digest)
    entry.chmod(0o664)
    os.chown(entry, -1, 4321)  # writable by a group others are in (attack 157)
    assert held_size(cache.root, digest) is None
    os.chown(entry, -1, os.getegid())
    entry.chmod(0o644)
    os.chown(entry, 4242, -1)  # another uid's (the tests run as root, as CI's containers do)
    assert held_size(cache.root, digest) is None
    os.chown(entry, os.geteuid(), -1)
    moved = tmp_path / "elsewhere.whl"
    entry.rename(moved)
    for shape in ("symlink", "directory", "fifo", "truncated-elsewhere"):
        if shape == "symlink":
            entry.symlink_to(moved)
        elif shape == "directory":
            entry.mkdir()
        elif shape == "fifo":
            os.mkfifo(entry)
        else:
            entry.parent.rename(tmp_path / "bucket")
            entry.parent.symlink_to(tmp_path / "bucket")  # the bucket itself a symlink
            (tmp_path / "bucket" / digest).write_bytes(data[:10])
        assert held_size(cache.root, digest) is None, shape
        if shape == "directory":
            entry.rmdir()
        elif shape != "truncated-elsewhere":
            entry.unlink()


# -- local roots lent by a simple-… index ---------------------------------------------------


def _lent(index_dir: Path, link: str, *, find_links: bool = False) -> bool:
    """Whether a page of the project ``demo`` in the local index (or find-links page)
    ``index_dir`` may lead to ``link``."""
    (index_dir / "demo").mkdir(parents=True, exist_ok=True)
    location = index_dir.as_uri()
    roots = (
        LocalRoots.of(find_links=[location]) if find_links else LocalRoots.of(indexes=[location])
    )
    try:
        follow(link, base=(index_dir / "demo").as_uri() + "/", local=roots, where="page")
    except UnsafeUrlError:
        return False
    return True


@pytest.mark.parametrize("under", ["/", "/tmp", "shared"])
def test_a_simple_index_never_lends_the_root_or_a_directory_all_users_write(
    tmp_path: Path, under: str
) -> None:
    """Protects invariant 3 (a local page leads only into directories the manifest names):
    an index directory named ``simple-…`` lends its parent, the mirror's, where the files lie
    beside it; at ``/simple-x`` that parent is every file on the machine (``/etc/shadow``),
    at ``/tmp/simple-x`` (a packse build in /tmp) it is every user's scratch, where others
    keep and plant files; a world-writable parent without the sticky bit likewise. There
    the index is its own root: its page may not reach beside it."""
    if under == "shared":
        parent = tmp_path / "shared"
        parent.mkdir()
        parent.chmod(0o777)
    else:
        parent = Path(under)
    index = Path(tempfile.mkdtemp(prefix="simple-", dir=parent))
    beside = Path(tempfile.mkdtemp(prefix="files-", dir=parent))
    try:
        (beside / "demo-1.0-py3-none-any.whl").write_bytes(b"planted")
        assert not _lent(index, f"../../{beside.name}/demo-1.0-py3-none-any.whl")
        assert not _lent(index, "../../etc/passwd")
        assert _lent(index, "../demo/index.html")  # its own pages stay reachable
    finally:
        shutil.rmtree(index)
        shutil.rmtree(beside)


def test_what_a_simple_index_lends_by_its_real_name_only(tmp_path: Path) -> None:
    """Protects the shapes of the ``simple-…`` rule that hold: the real directory's name
    decides (a symlink named ``simple-x`` to a directory named otherwise lends nothing; one
    named otherwise to a real ``simple-x`` lends its real parent); the name is
    case-sensitive (``SIMPLE-html`` lends nothing, as pip's mirrors never spell it); ``..``
    and relative spellings resolve first; a find-links directory or conda channel named
    ``simple-x`` lends nothing; a mirror's own private parent still lends (packse's
    ``simple-html`` beside ``files``)."""
    mirror = tmp_path / "mirror"
    (mirror / "files").mkdir(parents=True)
    wheel = "../../files/demo-1.0-py3-none-any.whl"
    for name in ("simple-html", "simple-", "simple--x", "simple"):
        assert _lent(mirror / name, wheel), name
    for name in ("SIMPLE-html", "simplex", "simple_html", "xsimple-html"):
        assert not _lent(mirror / name, wheel), name
    assert not _lent(mirror / "simple-find", wheel, find_links=True)
    (tmp_path / "plain").mkdir()
    (mirror / "simple-link").symlink_to(tmp_path / "plain")
    roots = LocalRoots.of(indexes=[(mirror / "simple-link").as_uri()])
    assert roots.roots == (tmp_path / "plain",)
    (tmp_path / "elsewhere").symlink_to(mirror / "simple-html")
    assert LocalRoots.of(indexes=[(tmp_path / "elsewhere").as_uri()]).roots == (mirror,)
    dotted = LocalRoots.of(indexes=["mirror/files/../simple-html/demo/.."], base_dir=tmp_path)
    assert dotted.roots == (mirror,)
    assert LocalRoots.of(indexes=[(mirror / "simple-html" / "demo").as_uri() + "/.."]).roots == (
        mirror,
    )


# -- conda: an open toolkit floor in constrains, in every spelling a match spec allows -------

# numba-feedstock's run_constraints, written as a match spec may be: no blank before the
# operator (conda and rattler both read ``cudatoolkit>=11.2`` as ``cudatoolkit >=11.2``).
SPELLINGS = [
    ["cuda-version>=11.2", "cudatoolkit>=11.2"],
    ["cuda-version>= 11.2", "cudatoolkit>11.2"],
    ["conda-forge::cudatoolkit>=11.2"],
    ["cuda-version>=11.2 *"],
]


@pytest.mark.parametrize("constrains", SPELLINGS, ids=lambda c: c[0])
def test_an_open_floor_in_constrains_is_no_cuda_build_however_spelled(
    constrains: list[str],
) -> None:
    """Protects the rule that an open toolkit floor in ``constrains`` (numba's, Open MPI's)
    makes no CUDA build: written without a blank before its operator, the floor was not seen
    as open and the CPU build read as a CUDA 11.2 one, refused for a CUDA 12 or 13 target,
    where the same record with a blank locks."""
    assert extract_conda("numba", "0.60.0", "py311h4bc866e_0", ["python"], constrains) is None
    spaced = [spec.replace(">", " >", 1) for spec in constrains]
    assert extract_conda("numba", "0.60.0", "py311h4bc866e_0", ["python"], spaced) is None


def test_numba_with_an_unspaced_constrains_floor_locks_for_cuda_13(tmp_path: Path) -> None:
    """The same through ``mlenv lock``: numba whose constrains read ``cuda-version>=11.2``
    locks for a CUDA 13.0 target (Table 3: 580.65.06), as rattler solves it, carrying no CUDA;
    its bounded spelling (``>=11.2,<12``) is still a CUDA 11 build, refused there."""
    channel = write_channel(
        tmp_path / "channel",
        [
            channel_packages()[0],
            build_conda_package(
                "numba", "0.60.0", "py311h4bc866e_0", depends=["python >=3.11,<3.12.0a0"],
                constrains=["cuda-version>=11.2", "cudatoolkit>=11.2"],
            ),
            build_conda_package(
                "numba", "0.59.0", "py311h4bc866e_0", depends=["python >=3.11,<3.12.0a0"],
                constrains=["cuda-version>=11.2,<12"],
            ),
            build_conda_package(
                "cuda-version", "13.0", "h0_3", noarch="generic",
                constrains=["__cuda >=13", "cudatoolkit 13.0|13.0.*"],
            ),
        ],
    )  # fmt: skip
    for spec, locks in (("numba ==0.60.0", True), ("numba ==0.59.0", False)):
        project = tmp_path / spec.replace(" ==", "-")
        project.mkdir()
        (project / "mlenv.toml").write_text(
            '[environment]\nname = "x"\npython = "3.11"\n'
            '[cuda]\nversion = "13.0"\ndriver-floor = "580.65.06"\n'
            f'[conda]\nchannels = ["{channel}"]\n'
            f'dependencies = ["python 3.11.*", "{spec}"]\n'
        )
        done = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
        assert "Traceback" not in done.stderr, done.stderr
        if not locks:
            assert done.returncode == 1, done.stderr
            assert "numba 0.59.0" in done.stderr and "CUDA 11" in done.stderr, done.stderr
            continue
        assert done.returncode == 0, done.stderr
        lock = tomllib.loads((project / "mlenv.lock").read_text())
        (numba,) = [e for e in lock["platform"]["linux-64"]["conda"] if e["name"] == "numba"]
        assert "cuda" not in numba and "requires-driver" not in numba


def test_an_open_constrains_floor_never_becomes_the_build_a_depends_range_claims(
    tmp_path: Path,
) -> None:
    """Protects the reading of a CUDA 12 build that also keeps numba's open floor: depends
    ``cuda-version >=12,<13.0a0`` (conda-forge's ``pin_compatible(min_pin="x",
    max_pin="x")``, cupy's shape) and constrains ``cudatoolkit >=11.2``. The depends range
    is the build claim (CUDA 12.x); the open floor, which binds only a toolkit something
    else installs, was picked over it for having a minor, and the build was refused for a
    CUDA 12.4 target as "built for CUDA 11.2" (and would have been let through for 11.8)."""
    depends, constrains = ["cuda-version >=12,<13.0a0"], ["cudatoolkit >=11.2"]
    need = extract_conda("gpulib", "1.0", "h0_0", depends, constrains)
    assert need is not None and need.label == "12.x" and not need.conflicts
    channel = write_channel(
        tmp_path / "channel",
        [
            channel_packages()[0],
            build_conda_package("gpulib", "1.0", "h0_0", depends=depends, constrains=constrains),
            build_conda_package(
                "cuda-version", "12.4", "h0_3", noarch="generic",
                constrains=["__cuda >=12", "cudatoolkit 12.4|12.4.*"],
            ),
        ],
    )  # fmt: skip
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "x"\npython = "3.11"\n'
        '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n'  # cuda.md Table 3: 12.4 GA
        f'[conda]\nchannels = ["{channel}"]\ndependencies = ["python 3.11.*", "gpulib"]\n'
    )
    done = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    lock = tomllib.loads((project / "mlenv.lock").read_text())
    (entry,) = [e for e in lock["platform"]["linux-64"]["conda"] if e["name"] == "gpulib"]
    assert entry["cuda"] == "12.x"


def _locked(root: Path) -> list[dict[str, Any]]:
    """The PyPI entries of the lock at ``root``, for its one platform."""
    (platform,) = tomllib.loads((root / "mlenv.lock").read_text())["platform"].values()
    return list(platform["package"])


def test_a_relock_from_a_shared_cache_records_the_servers_sizes(tmp_path: Path) -> None:
    """The same through ``mlenv lock`` and ``fetch``: after a fetch into a cache whose
    buckets others may write (a shared ``MLENV_CACHE_DIR`` under umask 0), this user's copy of
    ``app`` is renamed to ``lib``'s sha256; a re-lock still records ``lib``'s true size (the
    server's), and ``fetch`` then replaces the planted copy and exits 0, no traceback."""
    write_simple_index(tmp_path / "index", WHEELS)
    cache = tmp_path / "cache"
    env = {"MLENV_CACHE_DIR": str(cache)}
    with IndexServer(tmp_path / "index", json_api=False) as server:
        root = make_project(tmp_path, f"{server.url}/simple/")
        for command in (["lock"], ["fetch"]):
            done = run_mlenv(command, root, env)
            assert done.returncode == 0, done.stderr
        packages = {p["name"]: p for p in _locked(root)}
        app, lib = packages["app"], packages["lib"]
        store = ArtifactCache(cache)
        for entry in (app, lib):
            store.path(entry["sha256"]).parent.chmod(0o777)
        store.path(lib["sha256"]).unlink()
        store.path(app["sha256"]).rename(store.path(lib["sha256"]))
        (root / "mlenv.lock").unlink()
        done = run_mlenv(["lock"], root, env)
        assert done.returncode == 0, done.stderr
        sizes = {p["name"]: p["size"] for p in _locked(root)}
        assert sizes == {"app": app["size"], "lib": lib["size"]}
        fetched = run_mlenv(["fetch"], root, env)
    assert fetched.returncode == 0 and "Traceback" not in fetched.stderr, fetched.stderr
    with store.path(lib["sha256"]).open("rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == lib["sha256"]


def test_a_copy_whose_bytes_are_not_its_name_is_not_believed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects the size a re-lock records against this user's own copy that is not what its
    name says: truncated (a cache restored from an interrupted CI archive, a failing disk) or
    other bytes under the name (a poisoned restored cache), private as it is. The lock had
    recorded its length (10 bytes for a 600 KB wheel) and every later fetch failed against
    the server's bytes; it is hashed first, and one too big to hash cheaply is asked by HEAD."""
    _, data = build_wheel("demo", "1.0", files={"demo/pad.bin": os.urandom(4096)})
    cache = ArtifactCache(tmp_path / "cache")
    digest = hashlib.sha256(data).hexdigest()
    cache.add(Artifact("demo", "https://x.example/d.whl", digest, len(data)), [data])
    assert held_size(cache.root, digest) == len(data)
    monkeypatch.setattr(artifacts, "HELD_SIZE_LIMIT", len(data) - 1)
    assert held_size(cache.root, digest) is None
    monkeypatch.undo()
    entry = cache.path(digest)
    for planted in (data[:10], data[:-1] + b"!", b""):
        entry.write_bytes(planted)
        assert held_size(cache.root, digest) is None, len(planted)


def test_a_relock_over_a_truncated_copy_records_the_servers_size(tmp_path: Path) -> None:
    """The same through ``mlenv lock`` and ``fetch``: ``lib``'s cached copy cut to 10 bytes
    (this user's, private); the re-lock records the server's size and fetch exits 0."""
    write_simple_index(tmp_path / "index", WHEELS)
    cache = tmp_path / "cache"
    env = {"MLENV_CACHE_DIR": str(cache)}
    with IndexServer(tmp_path / "index", json_api=False) as server:
        root = make_project(tmp_path, f"{server.url}/simple/")
        for command in (["lock"], ["fetch"]):
            assert run_mlenv(command, root, env).returncode == 0
        lib = next(p for p in _locked(root) if p["name"] == "lib")
        entry = ArtifactCache(cache).path(lib["sha256"])
        entry.write_bytes(entry.read_bytes()[:10])
        (root / "mlenv.lock").unlink()
        done = run_mlenv(["lock"], root, env)
        assert done.returncode == 0, done.stderr
        assert next(p for p in _locked(root) if p["name"] == "lib")["size"] == lib["size"]
        fetched = run_mlenv(["fetch"], root, env)
    assert fetched.returncode == 0 and "Traceback" not in fetched.stderr, fetched.stderr
