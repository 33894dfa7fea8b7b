"""Fifth adversary pass: symlink targets, names a command line takes as options, entry points,
non-plain files named as images or bundles, and metadata read by range requests that the
downloaded wheel contradicts. Each test names the invariant it attacks and fails if the
enforcing function stops holding it."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.cache.artifacts import relative_path
from mlenv.cache.locked_metadata import metadata_problem
from mlenv.errors import MlenvError, hidden_characters
from mlenv.index.model import CoreMetadata
from mlenv.install.conda_packages import check_conda_packages
from mlenv.install.ownership import Owner, PathClashError, PathLedger
from mlenv.install.safety import InstallError
from mlenv.lockfile import LockedPackage
from mlenv.oci.credentials import Credentials
from mlenv.oci.dockerload import DockerLoadError, load
from mlenv.oci.reference import RegistryError
from mlenv.oci.registry import push
from mlenv.report import MemoryReporter
from mlenv.target import Target
from mlenv.userfiles import InputError, input_kind
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package
from tests.support.fake_registry import FakeRegistry
from tests.support.fetch_project import WHEELS, build_refusal, make_project
from tests.support.httpserver import IndexServer
from tests.support.images import write_image
from tests.support.installs import install_test_wheels
from tests.support.wheels import build_wheel, write_simple_index

_CONDA = Owner("evil-1.0-0.tar.bz2", "conda", "corrupt or malicious")


def _conda(tmp_path: Path, fmt: str = "tar.bz2", **contents: object) -> tuple[str, Path]:
    name, data = build_conda_package("evil", "1.0", "0", fmt=fmt, **contents)  # type: ignore[arg-type]
    path = tmp_path / name
    path.write_bytes(data)
    return name, path


def _conda_refusal(tmp_path: Path, fmt: str = "tar.bz2", **contents: object) -> MlenvError:
    name, path = _conda(tmp_path, fmt, **contents)
    with pytest.raises((InstallError, PathClashError)) as caught:
        check_conda_packages([(name, path)])
    assert caught.value.where == name
    return caught.value


def _install(tmp_path: Path, onto: Path | None = None, **wheel: object) -> None:
    wheel.setdefault("files", {"evil/__init__.py": b""})
    name, data = build_wheel("evil", "1.0", **wheel)  # type: ignore[arg-type]
    (tmp_path / name).write_bytes(data)
    install_test_wheels([tmp_path / name], tmp_path / "stage", onto)


def _install_refusal(tmp_path: Path, onto: Path | None = None, **wheel: object) -> MlenvError:
    with pytest.raises((InstallError, PathClashError)) as caught:
        _install(tmp_path, onto, **wheel)
    assert not (tmp_path / "stage").exists()
    return caught.value


# ---------------------------------------------------------------------------------------------
# Invariant 6: a symlink's target shows as it is and stays inside the prefix
# (install.ownership.PathLedger.claim over install.safety.link_problem)

_HIDING = [
    "\x1b[2Jlibz.so",  # clears the screen of whoever runs `ls -l`
    "\x1b]0;owned\x07libz.so",  # retitles the terminal
    "libz\u202eos.1",  # a bidi override shows another target
    "lib\u200bz.so",  # zero-width space: looks like libz.so
    "libz.so\r../../../etc/passwd",  # a carriage return rewrites the line shown
    "libz\u2028.so",  # line separator
    "\udcfflibz.so",  # a byte that is not UTF-8
]
_LEAVING = [
    "/etc/passwd",
    "//etc/passwd",
    "../../etc/passwd",
    "../lib/../../etc",
    "sub/../../..",
    "../..",
    "",
    "a\\..\\..\\etc",
]


@pytest.mark.parametrize("fmt", ["tar.bz2", "conda"])
@pytest.mark.parametrize("target", _HIDING + _LEAVING, ids=range(15))
def test_a_conda_symlink_whose_target_hides_or_leaves_is_refused(
    tmp_path: Path, fmt: str, target: str
) -> None:
    """rattler installs a package's symlink as it is: its target must be judged like a name."""
    error = _conda_refusal(tmp_path, fmt, symlinks={"lib/libz.so": target})
    text = error.render()
    assert "lib/libz.so" in text and "symlink" in text
    assert not hidden_characters(text.replace("\n", "").replace("\t", ""))


@pytest.mark.parametrize("target", [*_HIDING, *_LEAVING, "a/" * 2100], ids=range(16))
def test_the_ledger_refuses_such_a_symlink_from_any_package(target: str) -> None:
    """The one judge: whoever claims a symlink (a conda package, the prefix rattler made)."""
    with pytest.raises(PathClashError) as caught:
        PathLedger().claim(_CONDA, "lib/libz.so", "symlink", content=(target, 0))
    assert "lib/libz.so" in caught.value.render()


def test_a_symlink_claimed_without_its_target_is_refused() -> None:
    with pytest.raises(PathClashError, match="unknown target"):
        PathLedger().claim(_CONDA, "lib/libz.so", "symlink")


@pytest.mark.parametrize("target", ["\x1b[31mpython3.11", "/usr/bin/python3", "../../../../x"])
def test_a_symlink_in_the_conda_prefix_under_wheels_is_judged_too(
    tmp_path: Path, target: str
) -> None:
    """Wheels installed onto the tree rattler made: its symlinks (which include what rattler
    wrote itself, not only tar members) meet the same rule."""
    onto = tmp_path / "prefix"
    (onto / "bin").mkdir(parents=True)
    (onto / "bin" / "python").symlink_to(target)
    error = _install_refusal(tmp_path, onto)
    assert "bin/python" in error.render()


def test_safe_symlinks_still_install(tmp_path: Path) -> None:
    name, path = _conda(
        tmp_path,
        files={"lib/libz.so.1.3": b"\x7fELF", "share/doc/z": b""},
        symlinks={
            "lib/libz.so": "libz.so.1.3",
            "bin/z": "../lib/./libz.so",
            "share/doc/a/b": "../../../lib",
        },
    )
    check_conda_packages([(name, path)])


_SEGMENT = st.sampled_from(["..", ".", "", "a", "lib", "-x", "\x1b", "\u202e", "b c", "/"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    link=st.lists(st.sampled_from(["bin", "lib", "a", "share"]), min_size=1, max_size=4),
    target=st.one_of(
        st.lists(_SEGMENT, max_size=8).map("/".join),
        st.text(max_size=40),
    ),
)
def test_hypothesis_an_accepted_symlink_stays_inside_and_shows_as_it_is(
    link: list[str], target: str
) -> None:
    """Whatever the target, an accepted one is relative, printable and resolves inside the
    prefix by name, with no '..' after a name (which another symlink could turn outward)."""
    path = "/".join(link)
    try:
        PathLedger().claim(_CONDA, path, "symlink", content=(target, 0))
    except PathClashError:
        return
    assert target and not hidden_characters(target) and "\\" not in target
    assert not target.startswith("/")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    assert resolved != ".." and not resolved.startswith("../")
    parts = [p for p in target.split("/") if p not in ("", ".")]
    named = [i for i, p in enumerate(parts) if p != ".."]
    assert not named or ".." not in parts[named[0] :]


# ---------------------------------------------------------------------------------------------
# Invariant 6: no installed name starts with '-' (PathLedger.claim), entry points are names


@pytest.mark.parametrize("section", ["console_scripts", "gui_scripts"])
@pytest.mark.parametrize("script", ["-rf", "--help", "-", "--", "-i"])
def test_an_entry_point_that_starts_with_a_dash_is_refused(
    tmp_path: Path, section: str, script: str
) -> None:
    """A file named `-rf` in bin/ turns `rm *` there into `rm -rf ...`."""
    error = _install_refusal(tmp_path, entry_points=f"[{section}]\n{script} = os:getcwd\n")
    text = error.render()
    assert error.where == "evil-1.0-py3-none-any.whl"
    assert repr(script) in text and "starts with '-'" in text
    assert "entry_points.txt" in text and "hint:" in text


@pytest.mark.parametrize(
    "member",
    [
        "evil-1.0.data/scripts/-rf",
        "evil/-rf",
        "evil/--checkpoint-action=exec=sh x.sh",
        "evil-1.0.data/data/share/-x/y",
        "evil-1.0.data/headers/-h",
    ],
)
def test_a_wheel_member_that_starts_with_a_dash_is_refused(tmp_path: Path, member: str) -> None:
    name, data = build_wheel("evil", "1.0", files={"evil/__init__.py": b"", member: b"#!/bin/sh\n"})
    (tmp_path / name).write_bytes(data)
    with pytest.raises(PathClashError) as caught:
        install_test_wheels([tmp_path / name], tmp_path / "stage")
    assert "starts with '-'" in caught.value.render() and member in caught.value.render()


@pytest.mark.parametrize(
    "contents",
    [
        {"files": {"bin/-rf": b"#!/bin/sh\n"}},
        {"files": {"share/-x/y": b""}},
        {"symlinks": {"bin/--help": "tool"}, "files": {"bin/tool": b""}},
        {
            "files": {
                "site-packages/tool/__init__.py": b"",
                "info/link.json": json.dumps(
                    {"noarch": {"type": "python", "entry_points": ["-rf = tool:main"]}}
                ).encode(),
            },
            "noarch": "python",
        },
    ],
)
def test_a_conda_path_that_starts_with_a_dash_is_refused(
    tmp_path: Path, contents: dict[str, object]
) -> None:
    """Conda packages meet the same rule, noarch entry points (written by the installer from
    info/link.json) included."""
    assert "starts with '-'" in _conda_refusal(tmp_path, "conda", **contents).render()


@pytest.mark.parametrize(
    ("entry", "word"),
    [
        ("a b = os:getcwd", "not a name"),
        ("[x = os:getcwd", "not a name"),
        ("a=b = os:getcwd", "not module:function"),
        ("tool = os", "not module:function"),
        ("tool = os:getcwd; import evil", "not module:function"),
        ("tool\u00a0x = os:getcwd", "not a name"),
        ("t/u = os:getcwd", "not a name"),
        (".. = os:getcwd", "not a name"),
        ("x" * 256 + " = os:getcwd", "not a name"),
        ("a\x00b = os:getcwd", "not a name"),
        ("   = os:getcwd", "cannot be parsed"),
        ("= os:getcwd", "cannot be parsed"),
        ("a\\b = os:getcwd", "not a name"),
    ],
)
def test_an_entry_point_that_is_not_a_name_or_a_callable_is_refused(
    tmp_path: Path, entry: str, word: str
) -> None:
    """installer writes the name as a file and the value into Python code: a space splits
    the name in the shell; a value without a function failed deep inside installer with an
    empty message."""
    error = _install_refusal(tmp_path, entry_points=f"[console_scripts]\n{entry}\n")
    assert word in error.render() and "entry_points.txt" in error.render()


@pytest.mark.parametrize(
    "entry",
    ["a b = tool:main", "-rf = tool:main", "tool = tool", "tool\x1b[2J = tool:main", 7, ""],
)
def test_a_noarch_conda_entry_point_is_judged_like_a_wheels(tmp_path: Path, entry: object) -> None:
    link = {"noarch": {"type": "python", "entry_points": [entry]}}
    files = {"site-packages/tool/__init__.py": b"", "info/link.json": json.dumps(link).encode()}
    error = _conda_refusal(tmp_path, files=files, noarch="python")
    assert "info/link.json" in error.render()


def test_names_with_a_dash_inside_still_install(tmp_path: Path) -> None:
    _install(
        tmp_path,
        entry_points="[console_scripts]\nmy-tool = os:getcwd\ntool- = os:getcwd\n",
        files={"evil/__init__.py": b"", "evil/a-b.py": b"", "evil-1.0.data/scripts/x-": b""},
    )
    assert {"my-tool", "tool-", "x-"} <= {p.name for p in (tmp_path / "stage" / "bin").iterdir()}


@settings(max_examples=200, deadline=None)
@given(st.text(st.sampled_from("-ab._+@"), min_size=1, max_size=12))
def test_hypothesis_a_path_is_refused_exactly_when_a_name_starts_with_a_dash(name: str) -> None:
    refused = False
    try:
        PathLedger().claim(_CONDA, f"share/{name}/x", "file", content=("0" * 64, 1))
    except PathClashError as error:
        assert "starts with '-'" in error.render()
        refused = True
    assert refused == name.startswith("-")


def test_build_refuses_a_dash_entry_point_end_to_end(tmp_path: Path) -> None:
    """As users run it: lock and fetch pass (nothing is installed yet), build --offline exits
    1 naming the wheel and the path, and writes no dist/."""
    entry_points = "[console_scripts]\n-rf = os:getcwd\n"
    wheel = build_wheel("evil", "1.0", files={"evil/__init__.py": b""}, entry_points=entry_points)
    stderr = build_refusal(tmp_path / "project", wheel)
    assert wheel[0] in stderr and "'-rf'" in stderr and "starts with '-'" in stderr


# ---------------------------------------------------------------------------------------------
# Invariant 7: an image, bundle, cache or node list the user names is judged by what it is
# (userfiles.input_kind, userfiles.open_input), never "missing", never blocking


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path) -> None:
    """Bound where the path is short enough for AF_UNIX, then moved into place."""
    with tempfile.TemporaryDirectory(dir="/tmp") as short, socket.socket(socket.AF_UNIX) as server:
        server.bind(f"{short}/s")
        Path(short, "s").rename(path)


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _dev_null(path: Path) -> None:
    path.symlink_to("/dev/null")


_NOT_FILES = [_fifo, _socket, _dev_zero, _dev_null]
_SAYS = re.compile(r"is a (FIFO|socket|character device)")


def _quick_refusal(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """The command exits 1 within seconds, saying what the thing is; its stderr."""
    started = time.monotonic()
    result = run_mlenv(command, cwd, env or {}, timeout=60)
    # A stall guard, not a speed target: a FIFO blocks for ever, /dev/zero never ends; a
    # refusal takes 1-3 s here, 10x under the bound.
    assert time.monotonic() - started < 30, command
    assert result.returncode == 1, (command, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert "does not exist" not in result.stderr and "missing" not in result.stderr
    assert _SAYS.search(result.stderr), (command, result.stderr)
    return result.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A project with a fresh lock of two tiny wheels, and the environment to run mlenv in."""
    tmp = tmp_path_factory.mktemp("project")
    root = make_project(tmp, write_simple_index(tmp / "www", WHEELS))
    env = {"MLENV_CACHE_DIR": str(tmp / "cache")}
    done = run_mlenv(["lock"], root, env)
    assert done.returncode == 0, done.stderr
    return root, env


@pytest.mark.parametrize("make", _NOT_FILES, ids=lambda make: make.__name__[1:])
def test_no_command_takes_a_special_file_for_a_missing_image_bundle_or_cache(
    project: tuple[Path, dict[str, str]], tmp_path: Path, make: Callable[[Path], None]
) -> None:
    """`inspect X`, `verify --bundle X`, `--cache X`, `verify --nodes X`, `push --dist X`:
    a FIFO, a socket or a device was "missing" (or, for --nodes, blocked for ever)."""
    root, env = project
    thing = tmp_path / "thing"
    make(thing)
    for command in (
        ["inspect", str(thing)],
        ["inspect", "--json", str(thing)],
        ["verify", "--bundle", str(thing)],
        ["--cache", str(thing), "verify", "--cache"],
        ["--cache", str(thing), "fetch", "--offline"],
        ["verify", "--nodes", str(thing)],
        ["push", "registry.invalid/x:1", "--dist", str(thing)],
    ):
        stderr = _quick_refusal(command, root, env)
        assert str(thing) in stderr, (command, stderr)
    stderr = _quick_refusal(["fetch", "--offline"], root, {"MLENV_CACHE_DIR": str(thing)})
    assert "cache" in stderr and str(thing) in stderr


@pytest.mark.parametrize("make", [_fifo, _socket, _dev_zero], ids=["fifo", "socket", "dev"])
def test_a_lock_named_for_inspect_that_is_a_special_file_is_named_as_a_lock(
    tmp_path: Path, make: Callable[[Path], None]
) -> None:
    make(tmp_path / "other.lock")
    assert "lock" in _quick_refusal(["inspect", str(tmp_path / "other.lock")], tmp_path)


@pytest.mark.parametrize("make", [_fifo, _socket, _dev_zero], ids=["fifo", "socket", "dev"])
def test_a_special_file_inside_an_image_layout_is_named_never_read(
    tmp_path: Path, make: Callable[[Path], None]
) -> None:
    """A layout whose blob (the manifest) or index is a FIFO: inspect says which file is what."""
    layout = tmp_path / "oci"
    built = write_image(layout, [("base", [])], ref="x:1", cmd=["sh"])
    blob = layout / "blobs" / "sha256" / built.manifest_digest.removeprefix("sha256:")
    blob.unlink()
    make(blob)
    assert str(blob) in _quick_refusal(["inspect", str(layout)], tmp_path)
    (layout / "index.json").unlink()
    make(layout / "index.json")
    assert "index.json" in _quick_refusal(["inspect", str(layout)], tmp_path)


def test_push_says_what_a_special_file_in_the_layout_is(tmp_path: Path) -> None:
    """A layer blob replaced by a FIFO: the upload refuses it instead of waiting for ever
    (before: "missing or not N bytes", and a swap after that check blocked the read)."""
    layout = tmp_path / "dist" / "oci"
    built = write_image(layout, [("base", [])], ref="x:1", cmd=["sh"])
    layer = layout / "blobs" / "sha256" / built.layer_digests[0].removeprefix("sha256:")
    layer.unlink()
    os.mkfifo(layer)
    with pytest.raises(RegistryError, match="is a FIFO") as caught:
        push(
            layout,
            "registry.test/team/env:1",
            auth=Credentials("ci", "pw"),
            reporter=MemoryReporter(),
            transport=FakeRegistry().transport(),
        )
    assert caught.value.where == str(layer)


def test_build_load_never_blocks_on_an_image_archive_that_is_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "image.tar")
    with pytest.raises(DockerLoadError, match="is a FIFO"):
        load(tmp_path / "image.tar", base_url="unix:///nonexistent.sock")


@pytest.mark.parametrize("make", [_fifo, _dev_zero], ids=["fifo", "dev"])
def test_a_base_image_that_is_a_special_file_is_named_at_build(
    project: tuple[Path, dict[str, str]], tmp_path: Path, make: Callable[[Path], None]
) -> None:
    """The manifest's base-image (a local layout or archive) said "does not exist"."""
    source, env = project
    root = tmp_path / "p"
    root.mkdir()
    make(root / "base")
    manifest = (
        (source / "mlenv.toml")
        .read_text()
        .replace('python = "3.11"\n', 'python = "3.11"\ninterpreter = "/usr/bin/python3.11"\n')
    )
    (root / "mlenv.toml").write_text(manifest + '[build]\nbase-image = "base"\n')
    assert run_mlenv(["lock"], root, env).returncode == 0
    assert run_mlenv(["fetch"], root, env).returncode == 0
    assert "base image" in _quick_refusal(["build", "--offline"], root, env)


@pytest.mark.parametrize(
    ("make", "kind"),
    [(_fifo, "file"), (_socket, "file"), (_dev_null, "file"), (Path.mkdir, "directory")],
)
def test_input_kind_says_what_it_found_and_what_was_expected(
    tmp_path: Path, make: Callable[[Path], object], kind: str
) -> None:
    make(tmp_path / "x")
    allowed = {"files": kind == "directory", "directories": kind == "file"}
    with pytest.raises(InputError) as caught:
        input_kind(tmp_path / "x", "thing", expected="what was asked", **allowed)
    assert "what was asked" in caught.value.message and caught.value.where == str(tmp_path / "x")
    with pytest.raises(FileNotFoundError):
        input_kind(tmp_path / "absent", "thing", expected="anything")


# ---------------------------------------------------------------------------------------------
# Invariant 2: what the lock took from metadata read apart from the wheel (range requests) is
# what the downloaded wheel says (cache.locked_metadata.check_locked_metadata at fetch)

_APP_FILES = {"app/__init__.py": b"x = 1\n"}


def _app(requires: list[str], extras: list[str] | None = None) -> tuple[str, bytes]:
    return build_wheel(
        "app", "1.0", requires_dist=requires, provides_extra=extras or [], files=_APP_FILES
    )


@pytest.mark.parametrize(
    ("shown", "says"),
    [
        (["evil"], "lock depends on evil"),  # swapped: lib is never installed
        (["lib", "evil"], "lock depends on evil"),  # one more, which the wheel never asks for
        ([], "wheel requires lib"),  # dropped: the environment lacks what app imports
        (['lib; sys_platform == "win32"'], "wheel requires lib"),  # hidden behind a marker
        (["lib", 'evil; extra == "x"'], None),  # only an extra: nothing locked differs
    ],
)
def test_fetch_refuses_a_lock_whose_range_read_metadata_the_wheel_contradicts(
    tmp_path: Path, shown: list[str], says: str | None
) -> None:
    """A hostile index answers the lock's range requests (its lazy METADATA read) from one
    wheel and the full download, which matches the sha256 its page claims, from another: the
    lock's dependencies came from bytes no locked hash covers. fetch re-reads the METADATA of
    the wheel it verified and names the package, the URL and the contradiction; so does
    `verify --cache`."""
    genuine = _app(["lib"])
    twin = _app(shown, ["x"])
    evil = build_wheel("evil", "1.0", files={"evil/__init__.py": b""})
    write_simple_index(tmp_path / "www", [genuine, WHEELS[1], evil], metadata_files=False)
    with IndexServer(tmp_path / "www") as server:
        server.ranged[f"/files/{genuine[0]}"] = twin[1]
        root = make_project(tmp_path, f"{server.url}/simple/")
        env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
        assert run_mlenv(["lock"], root, env).returncode == 0
        assert any(r.headers.get("range") for r in server.requests_for(f"/files/{genuine[0]}"))
        fetched = run_mlenv(["fetch"], root, env)
        bundled = run_mlenv(["fetch", "--bundle", "bundle"], root, env)
    verified = run_mlenv(["verify", "--cache"], root, env)  # the cache holds both wheels
    if says is None:
        assert fetched.returncode == 0, fetched.stderr
        assert verified.returncode == 0, verified.stderr
        return
    for result in (fetched, bundled, verified):
        assert result.returncode == 1, result.stderr
        assert "app 1.0" in result.stderr and f"/files/{genuine[0]}" in result.stderr
        assert says in result.stderr and "hint:" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (root / "bundle").exists()


def test_fetch_refuses_a_lock_whose_hashed_metadata_file_the_wheel_contradicts(
    tmp_path: Path,
) -> None:
    """The PEP 658 shape: the page publishes a `.metadata` file with a sha256 that matches it,
    but both describe another wheel than the one the page's wheel hash is of."""
    genuine, twin = _app(["lib"]), _app(["evil"])
    evil = build_wheel("evil", "1.0", files={"evil/__init__.py": b""})
    www = tmp_path / "www"
    write_simple_index(www, [twin, WHEELS[1], evil])  # page and .metadata of the twin
    page = www / "simple" / "app" / "index.html"
    twin_sha, genuine_sha = (hashlib.sha256(w[1]).hexdigest() for w in (twin, genuine))
    page.write_text(page.read_text().replace(twin_sha, genuine_sha))
    (www / "files" / genuine[0]).write_bytes(genuine[1])
    with IndexServer(www) as server:
        root = make_project(tmp_path, f"{server.url}/simple/")
        env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
        assert run_mlenv(["lock"], root, env).returncode == 0
        assert server.requests_for(f"/files/{genuine[0]}.metadata")
        result = run_mlenv(["fetch"], root, env)
    assert result.returncode == 1, result.stderr
    assert "app 1.0" in result.stderr and "lock depends on evil" in result.stderr


def test_fetch_blames_a_tampered_cache_not_the_index(tmp_path: Path) -> None:
    """A cache file whose METADATA contradicts the lock is hashed before the index is blamed:
    bytes changed in the cache are the cache's fault (invariant 1's message)."""
    write_simple_index(tmp_path / "www", WHEELS, metadata_files=False)
    with IndexServer(tmp_path / "www") as server:
        root = make_project(tmp_path, f"{server.url}/simple/")
        env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
        assert run_mlenv(["lock"], root, env).returncode == 0
        assert run_mlenv(["fetch"], root, env).returncode == 0
        sha256 = hashlib.sha256(WHEELS[0][1]).hexdigest()
        cached = tmp_path / "cache" / relative_path(sha256)
        cached.chmod(0o644)
        twin = _app(["evil"])[1]
        cached.write_bytes(twin[: len(WHEELS[0][1])].ljust(len(WHEELS[0][1]), b"\0"))
        result = run_mlenv(["fetch"], root, env)
    assert result.returncode == 1 and "sha256" in result.stderr, result.stderr
    assert "index served metadata" not in result.stderr


_NAMES = st.sampled_from(["lib", "numpy", "torch", "evil"])
_MARKERS = st.sampled_from(
    ["", '; sys_platform == "win32"', '; python_version >= "3.8"', '; extra == "gpu"',
     '; extra == "gpu" and sys_platform == "linux"', '; extra != "cpu"']
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.tuples(_NAMES, _MARKERS), max_size=6),
    locked=st.sets(_NAMES),
)
def test_hypothesis_the_lock_matches_its_wheel_exactly_when_the_resolver_could_have_made_it(
    lines: list[tuple[str, str]], locked: set[str]
) -> None:
    """The lock's dependencies of a wheel are its unconditional ones on the target plus some
    of those its extras bring: every such set passes, every other is a contradiction."""
    target = Target("linux-64", "3.11")
    meta = CoreMetadata(
        canonicalize_name("app"), Version("1.0"), tuple(n + m for n, m in lines), None, ("gpu",)
    )
    always = {n for n, m in lines if m in ("", '; python_version >= "3.8"', '; extra != "cpu"')}
    possible = always | {n for n, m in lines if "gpu" in m}
    package = LockedPackage(
        "app", "1.0", "app-1.0-py3-none-any.whl", "https://x/app", "0" * 64, 1, "https://x",
        dependencies=tuple(sorted(locked)),
    )  # fmt: skip
    problem = metadata_problem(package, meta, target)
    assert (problem is None) == (always <= locked <= possible), problem
    if problem is not None:
        assert all(name in problem for name in (always - locked) | (locked - possible))


def test_a_lock_of_another_name_or_version_than_its_wheel_is_refused() -> None:
    meta = CoreMetadata(canonicalize_name("app"), Version("2.0"), (), None, ())
    package = LockedPackage(
        "app", "1.0", "app-1.0-py3-none-any.whl", "https://x/app", "0" * 64, 1, "https://x"
    )
    assert "describes app 2.0" in str(metadata_problem(package, meta, Target("linux-64", "3.11")))


@pytest.mark.parametrize("make", [_fifo, _socket], ids=["fifo", "socket"])
def test_a_local_index_file_that_is_a_special_file_never_blocks_a_lock_or_fetch(
    tmp_path: Path, make: Callable[[Path], None]
) -> None:
    """A local index (a manifest-named file:// source) whose page, wheel or `.metadata`
    became a FIFO or a socket: lock and fetch opened them with a plain open, and waited for
    a writer for ever. (A symlink to /dev/zero leads out of the local roots: refused by
    `origins.follow`.)"""
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    www = tmp_path / "www"
    root = make_project(tmp_path, write_simple_index(www, WHEELS, metadata_files=False))
    assert run_mlenv(["lock"], root, env).returncode == 0
    wheel = www / "files" / WHEELS[1][0]
    wheel.unlink()
    make(wheel)
    assert WHEELS[1][0] in _quick_refusal(["fetch"], root, env)
    (root / "mlenv.lock").unlink()
    assert WHEELS[1][0] in _quick_refusal(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "c2")})
    page = www / "simple" / "app" / "index.html"
    page.unlink()
    make(page)
    assert "index.html" in _quick_refusal(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "c3")})
