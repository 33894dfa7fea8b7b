"""Attack pass 42: hand-edited locks that `lock --check`, `verify` and `fetch` took. A conda
record named as a path (its file name then a path, which build's conda install links under
its work directory), a conda record nothing asks for (the PyPI closure was judged, the conda
one not), and an entry's ``index`` spelled with other percent-escapes than the manifest's
(the GPU package table reads a CUDA build from the index's text). Each test names what it
protects and fails if its fix is undone."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from mlenv.closure import unreached
from mlenv.errors import MlenvError
from mlenv.lockfile import Lock, LockedPlatform
from mlenv.lockfile_read import loads as load_lock
from mlenv.lockfile_render import render
from tests.support.cli import run_mlenv
from tests.support.fetch_project import locked_index_and_links_project
from tests.support.locks import HASH, conda_closed, conda_record, package, sample
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.hostile

# a linux-64 target asking for nothing: a lock of it holds only what a test adds
BARE = replace(sample().target, platforms=("linux-64",), requirements=())
HEAD = '[environment]\nname = "demo"\npython = "3.11"\n[pypi]\n'


def _refused(project: Path, *needles: str, commands: tuple[str, ...] = ("lock", "verify")) -> None:
    """Every command refuses the project's lock with a located error naming ``needles``."""
    for command in commands:
        args = {"lock": ["lock", "--check"], "verify": ["verify"], "fetch": ["fetch"]}[command]
        result = run_mlenv(args, cwd=project)
        shown = result.stdout + result.stderr  # verify reports on stdout
        assert result.returncode == 1, (args, shown)
        assert all(needle in shown for needle in needles), (args, shown)
        assert "Traceback" not in shown, shown


CONDA = """
[[platform.linux-64.conda]]
name = "{name}"
version = "{version}"
build = "{build}"
build-number = 0
subdir = "linux-64"
channel = "https://conda.anaconda.org/conda-forge"
url = "https://conda.anaconda.org/conda-forge/linux-64/{quoted}"
filename = "{filename}"
sha256 = "{sha}"
md5 = "{md5}"
size = 10
"""


def _conda(name: str, version: str = "1.0", build: str = "h0") -> str:
    filename = f"{name}-{version}-{build}.conda"
    quoted = filename.replace("%", "%25").replace("/", "%2F").replace("\\", "%5C")
    return CONDA.format(
        name=name.replace("\\", "\\\\"),
        version=version,
        build=build.replace("\\", "\\\\"),
        filename=filename.replace("\\", "\\\\"),
        quoted=quoted,
        sha="c" * 64,
        md5="d" * 32,
    )


@pytest.mark.parametrize(
    ("name", "version", "build", "wrong"),
    [
        ("/tmp/planted", "1.0", "h0", "name"),  # archives / "/tmp/planted-1.0-h0.conda"
        ("../../planted", "1.0", "h0", "name"),
        ("evil", "1/../../x", "h0", "version"),
        ("evil", "1.0", "h0\\..\\x", "build"),
        ("evil", "1.0", "h 0", "build"),
    ],
)
def test_a_conda_record_whose_name_is_a_path_is_refused(
    tmp_path: Path, name: str, version: str, build: str, wrong: str
) -> None:
    """``lockfile_consistency._conda_problems`` held the file to ``name-version-build.conda`` but
    not the
    parts to a name: a name or version holding '/' made the file name a path, the URL's last
    segment spelling it with '%2F' (read decoded), and `lock --check`, `verify` and `fetch`
    took it; build's conda install makes ``archives / record.filename``, which for an absolute
    name is a link anywhere. Now each part is refused by the reader, naming the entry."""
    text = render(Lock(HASH, BARE)) + _conda(name, version, build)
    with pytest.raises(MlenvError) as caught:
        load_lock(text)
    assert f"{wrong} " in str(caught.value) and "conda[0]" in str(caught.value), caught.value
    project, locked = locked_index_and_links_project(tmp_path)
    (project / "mlenv.lock").write_text(locked + _conda(name, version, build))
    _refused(project, "conda[0]", "the lock is damaged", commands=("lock", "verify", "fetch"))


def test_conda_names_versions_and_builds_as_channels_write_them_load() -> None:
    """The rule is no stricter than conda's grammar: what channels publish still loads."""
    shapes = [
        ("_openmp_mutex", "4.5", "2_gnu"),
        ("python_abi", "3.11", "5_cp311"),
        ("pytorch", "2.5.1", "cuda120_py311h1234567_300"),
        ("libgcc-ng", "14.2.0", "h69a702a_1"),
        ("tzdata", "2024a", "h0c530f3_0"),
        ("x264", "1!164.3095", "h166bdaf_2"),
        ("openssl", "3.4.0+local.1", "hb9d3cd8_0"),
    ]
    for name, version, build in shapes:
        load_lock(render(Lock(HASH, BARE)) + _conda(name, version, build))


def test_a_conda_record_nothing_needs_is_an_edit(tmp_path: Path) -> None:
    """``closure.unreached`` judged only the PyPI entries: a conda record added by hand to a
    lock (here one whose manifest has no [conda] at all) passed `lock --check` and `verify`,
    and build would have installed it. A record no spec of [target].conda-requirements
    reaches through the records' depends is now an edit."""
    project, text = locked_index_and_links_project(tmp_path)
    (project / "mlenv.lock").write_text(text + _conda("evil"))
    _refused(project, "(evil 1.0)", "nothing needs it")


def test_conda_records_a_spec_reaches_are_needed_and_others_are_not() -> None:
    """``closure.unreached`` over conda: roots by match spec name (a channel prefix and a
    version read away), then each record's depends; a record only an unreached record depends
    on is unreached too."""
    torch = conda_record("pytorch", depends=("libtorch ==2.5.1", "__cuda", "numpy >=1.23"))
    records = conda_closed(torch)
    orphan = conda_record("orphan", sha256="1" * 64, depends=("orphan-dep",))
    orphan_dep = conda_record("orphan-dep", sha256="2" * 64)
    target = replace(sample().target, conda_requirements=("conda-forge::pytorch >=2.5",))
    platform = LockedPlatform("linux-64", (package("app", dependencies=("lib",)),))
    platform = replace(platform, packages=(*platform.packages, package("lib", "2.0")))
    assert unreached(target, replace(platform, conda=records)) == []
    found = unreached(target, replace(platform, conda=(*records, orphan, orphan_dep)))
    assert [where for where, _ in found] == [
        f".conda[{len(records)}] (orphan 2.5.1)",
        f".conda[{len(records) + 1}] (orphan-dep 2.5.1)",
    ], found


@pytest.mark.parametrize(
    "respell",
    [
        lambda index: index.replace("/index", "/%69ndex", 1),  # 'i' escaped
        lambda index: index[: index.rindex("/")] + "%2F" + index[index.rindex("/") + 1 :],
    ],
)
def test_an_entry_index_spelled_with_other_escapes_is_an_edit(
    tmp_path: Path, respell: Callable[[str], str]
) -> None:
    """``drift.lock_drift`` compared an entry's ``index`` with the manifest's sources after
    decoding percent-escapes, so any escaping of a listed index passed `lock --check` and
    `verify`. The GPU package table reads a CUDA build from the index's text
    (``download.pytorch.org/whl/cu118``, ``_packaging/onnxruntime-cuda-11/``): an index
    respelled ``cu11%38`` hid it, and verify judged the wheel by another row. Only the spelling
    the lock writes (a relative find-links directory's '%', '#', '?' escaped) is the source."""
    project, text = locked_index_and_links_project(tmp_path)
    index = tomllib.loads(text)["target"]["indexes"][0]
    edited = respell(index)
    assert edited != index and f'index = "{index}"' in text
    (project / "mlenv.lock").write_text(text.replace(f'index = "{index}"', f'index = "{edited}"'))
    _refused(project, ".index is ", "the lock was edited")


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/{file}",  # a bracketed host left open: urlsplit raises ValueError
        "https://[fe80::1%eth0/{file}",
    ],
)
def test_a_lock_url_that_urlsplit_refuses_is_a_located_error(tmp_path: Path, url: str) -> None:
    """``lockfile_consistency.consistency_problems`` read each entry's file from its URL through
    ``url_filename``, whose ``urlsplit`` raises ``ValueError`` for an unclosed IPv6 host:
    `lock --check` printed a traceback, and `verify` and `fetch` ended in "internal error"
    (exit 2). Now the entry is named and the URL refused."""
    project, text = locked_index_and_links_project(tmp_path)
    old = tomllib.loads(text)["platform"]["linux-64"]["package"][0]
    new = url.format(file=old["filename"])
    (project / "mlenv.lock").write_text(text.replace(f'url = "{old["url"]}"', f'url = "{new}"'))
    _refused(project, "package[0]", "is not a URL", commands=("lock", "verify", "fetch"))


CUDA_HEAD = (
    '[environment]\nname = "demo"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
    '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n[pypi]\n'
)


@pytest.mark.parametrize(
    ("recorded", "shown"),
    [
        ("550.54.14 cuda>=1.0", "is not a driver version"),  # a blank ORs in 'cuda>=1.0'
        ("450.80.02", "the lock records requires-driver 450.80.02, but its packages need"),
        (None, "the lock records requires-driver none, but its packages need"),
    ],
)
def test_build_never_ships_an_edited_requires_driver(
    tmp_path: Path, recorded: str | None, shown: str
) -> None:
    """``build_outputs.require_cuda`` wrote the lock's [target].requires-driver into the
    image's NVIDIA_REQUIRE_CUDA as written: `build --offline` runs no verify, and the field is
    one `lock --check` leaves to verify, so a lowered driver (or '550.54.14 cuda>=1.0', whose
    blank ORs in a constraint every node meets) reached the image, and the container runtime
    then started it on a driver too old. It must be the driver the entries need (derived by
    ``judge.verify_lock``), refused before any work otherwise."""
    index = write_simple_index(tmp_path / "index", [build_wheel("alpha", "1.0")])
    project = tmp_path / "project"
    project.mkdir()
    cache = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    (project / "mlenv.toml").write_text(
        f'{CUDA_HEAD}index-url = "{index}"\ndependencies = ["alpha"]\n'
    )
    for args in (["lock"], ["fetch"]):
        result = run_mlenv(args, cwd=project, env=cache)
        assert result.returncode == 0, result.stderr
    text = (project / "mlenv.lock").read_text()
    line = 'requires-driver = "550.54.14"\n'
    assert line in text, text
    edited = line.replace("550.54.14", recorded) if recorded else ""
    (project / "mlenv.lock").write_text(text.replace(line, edited))
    result = run_mlenv(["build", "--offline"], cwd=project, env=cache)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[target].requires-driver" in result.stderr and shown in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (project / "dist").exists()
    (project / "mlenv.lock").write_text(text)
    result = run_mlenv(["build", "--offline"], cwd=project, env=cache)
    assert result.returncode == 0, result.stderr
    config = [
        blob.read_bytes()
        for blob in (project / "dist/oci/blobs/sha256").iterdir()
        if b"NVIDIA_REQUIRE_CUDA" in blob.read_bytes()
    ]
    assert config and b'NVIDIA_REQUIRE_CUDA=cuda>=12.4,driver>=550.54.14"' in config[0], config
