"""Hundred-and-twelfth adversary pass: conda packages in the shapes real channels publish,
through ``mlenv lock``, ``fetch`` and ``build --offline`` on a local channel.

- Binary prefix placeholders. conda-build pads the build prefix to 255 bytes, and installers
  write the deploy prefix into a binary file's C strings, padded with NULs; a placeholder
  shorter than the deploy prefix cannot be written (conda raises ``PaddingError``). Packages
  built by conda-build 2 and older carry ``/opt/anaconda1anaconda2anaconda3`` (32 bytes) in
  ``info/has_prefix``. mlenv let rattler fail on it and told the user to re-fetch.
- conda-unpack refused to relocate a binary prefix file to any path longer than the deploy
  prefix (13 bytes for ``/opt/mlenv/x``), though the file holds the room of the package's
  255-byte placeholder: conda-pack archives the package's own bytes and relocates to any path
  up to the placeholder's length. And it refused only after rewriting every text file, leaving
  the environment half relocated.
- A free-threaded conda python (conda-forge's ``python 3.13.* *_cp313t``, whose record names
  ``python_site_packages_path: lib/python3.13t/site-packages``) was locked for
  ``[environment] python = "3.13"``: noarch packages landed in ``lib/python3.13/site-packages``,
  which that interpreter never reads, and PyPI wheels are picked for the cp313 ABI.
- A noarch: python package's ``site-packages/`` and ``python-scripts/`` members are installed
  at ``lib/pythonX.Y/site-packages/`` and ``bin/``, but the vetting claimed them under their
  archive names: one that shipped ``python-scripts/python`` replaced the environment's
  interpreter, and one whose module another package also ships was overwritten, with no error.
- rattler shelves a path two packages share in ``__clobbers__/<package>/`` and points that
  package's ``conda-meta`` there; mlenv shipped the shelf in every output. conda keeps one
  copy and lists the path for both packages.
- A channel whose repodata (version 2, CEP-15) sets ``base_url`` serves its files from there,
  as do mirrors whose sharded repodata points at conda.anaconda.org. mlenv locks only files
  below a channel the manifest names, and said the channel "contradicts its own file".
- Post-link scripts (``bin/.NAME-post-link.sh``): conda runs them at install; mlenv, like
  ``conda-pack``'s unpack, never runs a package's script. It said nothing about that.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.conda_channel import PLACEHOLDER, build_conda_package, write_channel
from tests.support.conda_project import channel_packages, conda_project

pytestmark = pytest.mark.hostile

# conda-build 2's placeholder, as ``info/has_prefix`` of old packages still names it
ANACONDA = "/opt/anaconda1anaconda2anaconda3"
PREFIX = "/opt/mlenv/x"


def _elf(placeholder: str) -> bytes:
    """A library's bytes with the build prefix in two C strings (an rpath and a path list)."""
    old = placeholder.encode()
    return b"\x7fELF\x00\x00" + old + b"/lib\x00rpath" + old + b":" + old + b"/x\x00end"


def _build(
    root: Path, packages: list[tuple[str, bytes]], prefix: str = PREFIX
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    project = conda_project(root, packages, prefix)
    env = {"MLENV_CACHE_DIR": str(root / "cache")}
    for args in (["lock"], ["fetch"]):
        result = run_mlenv(args, project, env)
        assert result.returncode == 0, (args, result.stderr)
    return project, run_mlenv(["build", "--offline"], project, env)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A build holding a text and a binary prefix file and a post-link script."""
    root = tmp_path_factory.mktemp("a112")
    packages = [
        build_conda_package(
            "relocs", "1.0", "h0_0",
            prefix_files={"etc/relocs.conf": f"prefix={PLACEHOLDER}\n".encode()},
            binary_prefix_files={"lib/librelocs.so": _elf(PLACEHOLDER)},
        ),
        build_conda_package(
            "linked", "1.0", "h0_0",
            files={"bin/.linked-post-link.sh": b"#!/bin/bash\necho ready > $PREFIX/ready\n",
                   "share/linked/data.txt": b"data\n"},
            fmt="conda",
        ),
    ]  # fmt: skip
    project, result = _build(root, packages)
    assert result.returncode == 0, result.stderr
    return project, result.stderr


def _unpack(project: Path, target: Path) -> subprocess.CompletedProcess[str]:
    target.mkdir(parents=True)
    with tarfile.open(project / "dist" / "x.tar.gz") as tar:
        tar.extractall(target, filter="tar")
    return subprocess.run(
        [str(target / "bin" / "conda-unpack")], capture_output=True, text=True, check=False
    )


def test_the_binary_placeholder_is_padded_at_the_deploy_prefix(built: tuple[Path, str]) -> None:
    """What conda writes: the deploy prefix in each C string, NULs to the string's old end."""
    project, _ = built
    with tarfile.open(project / "dist" / "x.tar.gz") as tar:
        member = tar.extractfile("lib/librelocs.so")
        assert member is not None
        data = member.read()
    assert len(data) == len(_elf(PLACEHOLDER))
    pad = len(PLACEHOLDER) - len(PREFIX)
    assert data.startswith(b"\x7fELF\x00\x00" + PREFIX.encode() + b"/lib" + b"\x00" * (pad + 1))


def test_conda_unpack_relocates_a_binary_file_within_its_placeholders_room(
    built: tuple[Path, str], tmp_path: Path
) -> None:
    """Any path up to the placeholder's 255 bytes, as conda-pack's archive relocates: each C
    string takes the padding rattler wrote after it, and keeps its length with the padding."""
    project, _ = built
    target = tmp_path / "site" / "a-path-longer-than-the-deploy-prefix"
    assert len(str(target)) > len(PREFIX)
    done = _unpack(project, target)
    assert done.returncode == 0, done.stderr
    assert (target / "etc/relocs.conf").read_text() == f"prefix={target}\n"
    data = (target / "lib/librelocs.so").read_bytes()
    assert len(data) == len(_elf(PLACEHOLDER))
    new = str(target).encode()
    pad = len(PLACEHOLDER) - len(new)
    assert data == (
        b"\x7fELF\x00\x00" + new + b"/lib" + b"\x00" * (pad + 1) + b"rpath" + new + b":" + new
        + b"/x" + b"\x00" * (2 * pad + 1) + b"end"
    )  # fmt: skip


def test_conda_unpack_refuses_a_path_past_the_room_before_it_rewrites_anything(
    built: tuple[Path, str], tmp_path: Path
) -> None:
    """A binary file cannot take a prefix longer than its placeholder. conda-unpack rewrote
    every text file first, then stopped at the binary one: a half-relocated environment."""
    project, _ = built
    target = tmp_path / ("d" * 200) / ("e" * 60)
    done = _unpack(project, target)
    assert done.returncode == 1
    assert "lib/librelocs.so" in done.stderr
    assert f"at most {len(PLACEHOLDER)} bytes" in done.stderr
    assert (target / "etc/relocs.conf").read_text() == f"prefix={PREFIX}\n"


def test_build_says_which_post_link_script_it_does_not_run(built: tuple[Path, str]) -> None:
    """conda runs ``bin/.linked-post-link.sh`` at install; mlenv installs it as a file and never
    runs it (a build runs no package code), and says so, naming the package."""
    project, stderr = built
    assert "linked-1.0-h0_0.conda" in stderr and "bin/.linked-post-link.sh" in stderr
    assert "not run" in stderr
    with tarfile.open(project / "dist" / "x.tar.gz") as tar:
        names = tar.getnames()
    assert "bin/.linked-post-link.sh" in names and "ready" not in names


@pytest.mark.parametrize("legacy", [False, True], ids=["paths-json", "has-prefix"])
def test_a_binary_placeholder_shorter_than_the_deploy_prefix_is_named(
    tmp_path: Path, legacy: bool
) -> None:
    """conda: ``PaddingError`` naming the package. mlenv passed rattler's 'target prefix cannot
    be longer than the placeholder prefix' on, with the hint to re-fetch the archives."""
    package = build_conda_package(
        "oldlib", "1.0", "0",
        binary_prefix_files={"lib/libold.so": _elf(ANACONDA)},
        placeholder=ANACONDA, legacy=legacy,
    )  # fmt: skip
    prefix = "/opt/mlenv/a-deploy-prefix-of-forty-bytes"
    _, result = _build(tmp_path, [package], prefix)
    assert result.returncode == 1
    assert "oldlib-1.0-0.tar.bz2" in result.stderr and "lib/libold.so" in result.stderr
    assert f"placeholder of {len(ANACONDA)} bytes" in result.stderr
    assert f"at most {len(ANACONDA)} bytes" in result.stderr
    assert "re-run mlenv fetch" not in result.stderr and "Traceback" not in result.stderr


def test_a_binary_placeholder_as_long_as_the_deploy_prefix_still_builds(tmp_path: Path) -> None:
    package = build_conda_package(
        "oldlib", "1.0", "0",
        binary_prefix_files={"lib/libold.so": _elf(ANACONDA)},
        placeholder=ANACONDA, legacy=True,
    )  # fmt: skip
    prefix = "/opt/mlenv/" + "p" * (len(ANACONDA) - len("/opt/mlenv/"))
    project, result = _build(tmp_path, [package], prefix)
    assert result.returncode == 0, result.stderr
    with tarfile.open(project / "dist" / "x.tar.gz") as tar:
        member = tar.extractfile("lib/libold.so")
        assert member is not None
        assert member.read() == _elf(prefix)


def test_a_free_threaded_conda_python_is_refused_at_lock(tmp_path: Path) -> None:
    """conda (CEP-17) and rattler install noarch packages below the record's
    ``python_site_packages_path``; mlenv targets the default CPython ABI and would put them, and
    cp313 wheels, where ``python3.13t`` does not look."""
    packages = [
        build_conda_package(
            "python", "3.13.1", "h9a34b6e_100_cp313t",
            depends=["python_abi 3.13.* *_cp313t"],
            files={"lib/python3.13t/site-packages/README.txt": b"site\n"},
        ),
        build_conda_package(
            "python_abi", "3.13", "5_cp313t", constrains=["python 3.13.* *_cp313t"]
        ),
    ]  # fmt: skip
    channel = write_channel(tmp_path / "channel", packages)
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "x"\npython = "3.13"\nprefix = "/opt/mlenv/x"\n'
        f'[conda]\nchannels = ["{channel}"]\ndependencies = ["python 3.13.*"]\n'
    )
    result = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1
    assert "python 3.13.1 h9a34b6e_100_cp313t" in result.stderr and "free-threaded" in result.stderr
    assert "python 3.13.* *_cp313" in result.stderr and "Traceback" not in result.stderr
    assert not (project / "mlenv.lock").exists()


SITE = "lib/python3.11/site-packages"


def _noarch(files: dict[str, bytes]) -> tuple[str, bytes]:
    return build_conda_package(
        "noa", "1.0", "pyh_0", noarch="python", depends=["python"], files=files, fmt="conda"
    )


@pytest.mark.parametrize(
    ("packages", "path"),
    [
        pytest.param(
            [_noarch({"python-scripts/python": b"#!/bin/sh\necho replaced\n"})],
            "bin/python",
            id="script-over-the-interpreter",
        ),
        pytest.param(
            [
                _noarch({"site-packages/foo/__init__.py": b"NOARCH = 1\n"}),
                build_conda_package(
                    "arc", "1.0", "py311_0", files={f"{SITE}/foo/__init__.py": b"ARCH = 1\n"}
                ),
            ],
            f"{SITE}/foo/__init__.py",
            id="module-over-another-packages",
        ),
    ],
)
def test_a_noarch_python_member_is_judged_where_it_is_installed(
    tmp_path: Path, packages: list[tuple[str, bytes]], path: str
) -> None:
    _, result = _build(tmp_path, packages)
    assert result.returncode == 1, result.stderr
    assert "noa-1.0-pyh_0.conda" in result.stderr and f"'{path}'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_path_two_packages_share_is_installed_once(tmp_path: Path) -> None:
    same = {"share/licenses/common.txt": b"same\n"}
    packages = [
        build_conda_package("aa", "1.0", "0", files=same),
        build_conda_package("bb", "1.0", "0", files=same),
    ]
    project, result = _build(tmp_path, packages)
    assert result.returncode == 0, result.stderr
    with tarfile.open(project / "dist" / "x.tar.gz") as tar:
        names = tar.getnames()
        metas = {
            name: json.loads(tar.extractfile(name).read())  # type: ignore[union-attr]
            for name in names
            if name.startswith("conda-meta/") and name.endswith("-1.0-0.json")
        }
    assert not [name for name in names if name.startswith("__clobbers__")]
    assert "share/licenses/common.txt" in names
    for meta in metas.values():
        assert meta["files"] == ["share/licenses/common.txt"]
        assert [entry["_path"] for entry in meta["paths_data"]["paths"]] == meta["files"]


def test_a_channel_serving_its_files_from_a_base_url_is_named_as_such(tmp_path: Path) -> None:
    """conda and rattler fetch ``base_url + fn``; mlenv keeps fetching only below a channel the
    manifest names (an edited lock cannot send fetch elsewhere) and says why and what to name."""
    channel = write_channel(tmp_path / "channel", [channel_packages()[0]])
    store = tmp_path / "store"
    store.mkdir()
    repodata_path = tmp_path / "channel" / "linux-64" / "repodata.json"
    repodata = json.loads(repodata_path.read_text())
    for filename in repodata["packages"]:
        (tmp_path / "channel" / "linux-64" / filename).rename(store / filename)
    repodata["repodata_version"] = 2
    repodata["info"]["base_url"] = store.as_uri() + "/"
    repodata_path.write_text(json.dumps(repodata))
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "x"\npython = "3.11"\nprefix = "/opt/mlenv/x"\n'
        f'[conda]\nchannels = ["{channel}"]\ndependencies = ["python 3.11.*"]\n'
    )
    result = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1
    assert f"{store.as_uri()}/python-3.11.2-h0_cpython.tar.bz2" in result.stderr
    assert "base_url" in result.stderr and "[conda] channels" in result.stderr
    assert not (project / "mlenv.lock").exists()


def test_menuinst_shortcuts_are_shipped_as_files_and_nothing_leaves_the_prefix(
    tmp_path: Path,
) -> None:
    """conda (menuinst) writes a ``.desktop`` file below ``$XDG_DATA_HOME`` for ``Menu/*.json``;
    a build writes nothing outside its output, and the JSON is shipped as the package's file."""
    menu = {"menu_name": "App", "menu_items": [{"name": "App", "command": ["{{ PREFIX }}/x"]}]}
    package = build_conda_package(
        "menuapp", "1.0", "0", files={"Menu/menuapp.json": json.dumps(menu).encode()}
    )
    project = conda_project(tmp_path, [package], PREFIX)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "MLENV_CACHE_DIR": str(tmp_path / "cache"),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "share"),
    }
    for args in (["lock"], ["fetch"], ["build", "--offline"]):
        result = run_mlenv(args, project, env)
        assert result.returncode == 0, (args, result.stderr)
    assert not list(home.iterdir())
    with tarfile.open(project / "dist" / "x.tar.gz") as tar:
        assert "Menu/menuapp.json" in tar.getnames()
