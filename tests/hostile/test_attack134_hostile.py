"""Attack 134: a classic-attack sweep (archive paths, whiteouts, links, generated text) in the
shapes earlier passes did not hold, each at its one enforcing function or through the CLI.

Findings (input: what mlenv did -> what it does now):

1. A base image layer member named ``/../opt`` (or ``../opt``, ``./../opt``) that is a
   symlink or a file: ``base_tree`` skipped a name that climbs above the root, but Go's
   ``filepath.Clean`` (moby, containerd) takes ``/..`` as ``/`` and containerd resolves a
   leading ``..`` inside the root, so every runtime puts it at ``/opt``. The prefix check
   passed a base whose ``/opt`` is a link (or whose prefix is filled) -> refused, as for
   ``opt``.
2. A whiteout of no name (``opt/.wh..``, ``/.wh...``, ``opt/.wh.``): ignored by the walk,
   while containerd refuses the layer and Docker deletes the directory (or its parent) ->
   the base is refused, naming the member.
3. A file of the environment whose name holds a character past U+FFFF (``share/😀.txt``,
   CJK Extension B) and the build prefix: ``conda-unpack`` listed it as JSON, whose surrogate
   pair Python reads as two lone surrogates, a path no file system holds; it skipped the file
   as gone and exited 0 with the build prefix still in it -> such a character is listed as
   Python's ``\\U`` escape, every listed file is relocated.
4. An archive unpacked under a directory named ``x$(touch PWNED)`` (a CI workspace named
   after a branch, a user's upload): ``conda-unpack`` wrote the location into every file
   holding the build prefix, ``prefix="/…/x$(touch PWNED)/env"`` in a ``*-config`` script
   among them, so running that script ran the command -> a location holding a byte the shell
   acts on (``$ ` " ' \\ ; & | < > ( ) :``, a control character or a new line) is refused,
   exit 1, nothing changed; a space and non-ASCII names are still relocated.
5. A base layer member whose headers name it twice (a PAX ``path=etc/harmless`` then a GNU
   long name ``opt``): tarfile, which the prefix check reads with, takes the PAX path; Go's
   archive/tar (Docker, containerd, umoci) the GNU long name, and unpacks ``/opt -> srv``.
   The check passed -> a member tar readers resolve differently
   (``conda_readers.ambiguity``, already the rule for conda packages) refuses the base.
6. The venv's ``bin/activate`` after conda-unpack to a location with a space (which
   conda-unpack takes: shebangs go through sh): ``VIRTUAL_ENV=/home/u/my env/x`` ran ``env/x``
   as a command, left ``VIRTUAL_ENV`` empty and put ``/bin`` first on PATH, so the system's
   python ran -> activate holds the prefix single-quoted, and sourcing it after relocation sets
   ``VIRTUAL_ENV`` to the location and its ``bin`` first on PATH.
7. A script whose shebang gives its interpreter an argument (``#!/env/bin/python -E``,
   ``#!/env/bin/gawk -f``), relocated to a path with a space or past the kernel's 127 bytes:
   conda-unpack's ``sh`` trampoline kept the interpreter and dropped the argument, so python
   ran without ``-E`` (PYTHON* variables honoured) and gawk took the script's path as its
   program -> the argument is passed as the kernel passes it, one word.

Shapes that held (probed, no change): wheel members ``../``, absolute, backslash, ``C:`` (a
plain name on Linux), NUL, newline, CR, ESC, DEL, tab, bidi and zero-width characters, case and
NFC/NFD twins, trailing dots, whiteout names, S_IFLNK entries, duplicates, a local header
naming another file than the central directory, RECORD lying about a hash (small and streamed
members) or listing a path outside (RECORD is rewritten), a second .dist-info, ``.egg-info``;
base layers with ``etc/../opt``, ``opt//mlenv``, ``opt/./mlenv``, hard links to a symlink, and
550 random layer stacks against umoci; conda hard links to symlinks (only earlier regular files
may be linked); bundle index paths (only carried names and artifact digests).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.conda.pack import prefix_files, unpack_script
from mlenv.install.layout import Layout
from mlenv.oci.base_tree import check_prefix
from mlenv.oci.model import OciError
from mlenv.oci.read import read_base
from tests.support.engines import tool
from tests.support.raw_layout import PLATFORM, RawMember, raw_layout, tar_layout
from tests.support.raw_tars import extension_header, pax, tar_block

pytestmark = pytest.mark.hostile

PREFIX = "/opt/mlenv/x"


def _check(where: Path, *layers: list[RawMember]) -> None:
    raw_layout(where, layers)
    check_prefix(read_base(where, platform=PLATFORM), PREFIX)


# Spellings Go's filepath.Clean (and containerd's root-scoped resolution) land on the root.
_ROOTS = st.lists(st.sampled_from(["/", "./", "../", "/../", "/./", "//"]), min_size=1, max_size=5)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(climb=_ROOTS.map("".join), kind=st.sampled_from(["symlink", "file"]))
def test_a_member_climbing_above_the_root_lands_at_the_root(
    tmp_path_factory: pytest.TempPathFactory, climb: str, kind: str
) -> None:
    """Finding 1: ``/../opt`` is ``/opt`` to every runtime, so a link or file there is refused."""
    where = tmp_path_factory.mktemp("base") / "layout"
    target = "srv" if kind == "symlink" else ""
    with pytest.raises(OciError) as caught:
        _check(where, [(f"{climb}opt", kind, target)])
    assert "/opt as a " + ("symlink to srv" if kind == "symlink" else "file") in str(caught.value)


def test_a_filled_prefix_spelled_from_above_the_root_is_refused(tmp_path: Path) -> None:
    """Finding 1: files below the prefix named ``/../opt/mlenv/x/f`` fill the prefix."""
    with pytest.raises(OciError, match="already holds 1 entry"):
        _check(tmp_path / "base", [("opt", "dir", ""), ("/../opt/mlenv/x/f", "file", "")])


@pytest.mark.parametrize("name", ["opt/.wh..", ".wh...", "opt/.wh.", "/../opt/.wh.."])
def test_a_whiteout_of_no_name_is_refused(tmp_path: Path, name: str) -> None:
    """Finding 2: a whiteout whose name after ``.wh.`` is ``.``, ``..`` or empty."""
    with pytest.raises(OciError, match="a whiteout of no name") as caught:
        _check(tmp_path / "base", [("opt", "dir", "")], [(name, "file", "")])
    assert caught.value.hint


def test_a_refused_member_is_named_without_its_control_characters(tmp_path: Path) -> None:
    """The member a refusal names is the layer's text: shown with no line break or escape
    that could forge a line (a fake hint) or drive the terminal."""
    name = "opt\n  hint: all is well\x1b[2J/.wh.."
    with pytest.raises(OciError) as caught:
        _check(tmp_path / "base", [("opt", "dir", "")], [(name, "file", "")])
    shown = caught.value.render()
    assert "\x1b" not in shown and "\n  hint: all is well" not in shown
    assert "opt?  hint: all is well?[2J/.wh.." in shown


def test_names_clean_keeps_inside_the_root_still_pass(tmp_path: Path) -> None:
    """Holds: ``./opt/``, ``opt//mlenv``, ``etc/../opt`` and real whiteouts read as before."""
    _check(
        tmp_path / "base",
        [("./opt/", "dir", ""), ("etc/../opt/mlenv", "dir", ""), ("opt//old", "file", "")],
        [("opt/.wh.old", "file", ""), ("opt/mlenv/.wh..wh..opq", "file", "")],
    )


_NAMES = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="/\0"), min_size=1, max_size=12
).filter(lambda name: name not in (".", "..") and len(name.encode()) <= 200)


def _relocated(root: Path, old: str, names: list[str | bytes]) -> dict[str, bytes]:
    """Files named ``names`` holding ``old``, listed by ``prefix_files`` and relocated by the
    conda-unpack ``unpack_script`` writes, run in ``root``: each file's bytes after."""
    share = root / "share"
    share.mkdir(parents=True)
    for name in names:
        (share / os.fsdecode(name)).write_bytes(f"prefix={old}/lib\n".encode())
    script = root / "bin" / "conda-unpack"
    script.parent.mkdir()
    script.write_bytes(unpack_script(old, prefix_files(root, old)))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return {os.fsdecode(p.name): p.read_bytes() for p in share.iterdir()}


def test_a_name_past_the_basic_plane_is_relocated(tmp_path: Path) -> None:
    """Finding 3: emoji, CJK Extension B and a name no UTF-8 reads are each relocated."""
    names: list[str | bytes] = ["\U0001f600.txt", "\U00020000.py", b"caf\xe9.txt", "plain"]
    after = _relocated(tmp_path / "env", "/opt/mlenv/x", names)
    assert len(after) == len(names)
    for name, data in after.items():
        assert data == f"prefix={tmp_path / 'env'}/lib\n".encode(), name


@settings(max_examples=25, deadline=None)
@given(names=st.lists(_NAMES, min_size=1, max_size=6, unique=True))
def test_every_listed_name_is_relocated(names: list[str]) -> None:
    """Finding 3, any names: no file holding the build prefix keeps it after conda-unpack."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "env"
        after = _relocated(root, "/opt/mlenv/x", list(names))
    assert all(data == f"prefix={root}/lib\n".encode() for data in after.values()), after


_SHELL_READS = "$`\"'\\;&|<>():\n\t\x1b\x7f"


def _unpacked_at(location: Path) -> subprocess.CompletedProcess[str]:
    """An environment built for /opt/mlenv/x holding a ``*-config`` script that names it,
    unpacked at ``location``; conda-unpack's run there."""
    old = "/opt/mlenv/x"
    (location / "bin").mkdir(parents=True)
    (location / "bin" / "foo-config").write_text(f'#!/bin/sh\nprefix="{old}"\necho "$prefix"\n')
    (location / "bin" / "conda-unpack").write_bytes(unpack_script(old, prefix_files(location, old)))
    return subprocess.run(
        [sys.executable, str(location / "bin" / "conda-unpack")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@settings(max_examples=30, deadline=None)
@given(
    before=st.text("abc-_. ", max_size=4),
    unsafe=st.sampled_from(_SHELL_READS),
    after=st.text("abc-_. é", max_size=4),
)
def test_a_location_the_shell_reads_into_is_refused(before: str, unsafe: str, after: str) -> None:
    """Finding 4: any byte the shell acts on in the location refuses the run, naming it, and
    no file changes (the script still names the build prefix)."""
    with tempfile.TemporaryDirectory() as scratch:
        location = Path(scratch) / f"w{before}{unsafe}{after}" / "env"
        done = _unpacked_at(location)
        assert done.returncode == 1, done.stderr
        assert repr(unsafe) in done.stderr and "nothing was changed" in done.stderr
        assert "Traceback" not in done.stderr
        assert 'prefix="/opt/mlenv/x"' in (location / "bin" / "foo-config").read_text()


def test_a_command_in_the_location_never_runs(tmp_path: Path) -> None:
    """Finding 4 as found: before the fix conda-unpack exited 0 and foo-config created PWNED."""
    location = tmp_path / "x$(touch PWNED)" / "env"
    assert _unpacked_at(location).returncode == 1
    ran = subprocess.run(
        ["sh", str(location / "bin" / "foo-config")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert ran.stdout == "/opt/mlenv/x\n" and not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("name", ["my env", "caf\u00e9", "v1.2+cu124@x"])
def test_a_location_with_a_space_or_plain_names_is_relocated(tmp_path: Path, name: str) -> None:
    """Holds: a space (shebangs go through sh), non-ASCII and ``. _ + @ -`` are relocated."""
    location = tmp_path / name / "env"
    done = _unpacked_at(location)
    assert done.returncode == 0, done.stderr
    assert f'prefix="{location}"' in (location / "bin" / "foo-config").read_text()


def _header(name: str, kind: bytes, link: str = "") -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o755
    return tar_block(info)


_SRV = _header("srv/", tarfile.DIRTYPE)
_END = b"\0" * 1024
# Headers that name one symlink to srv twice: tarfile reads the first name, Go the second.
TWICE = {
    "pax-path-then-gnu-long-name": extension_header(b"x", pax(path="etc/harmless"))
    + extension_header(b"L", b"opt\0"),
    "two-gnu-long-names": extension_header(b"L", b"etc/harmless\0")
    + extension_header(b"L", b"opt\0"),
    "two-pax-headers": extension_header(b"x", pax(path="etc/harmless"))
    + extension_header(b"x", pax(path="opt")),
}


@pytest.mark.parametrize("shape", sorted(TWICE))
def test_a_member_named_twice_by_its_headers_refuses_the_base(tmp_path: Path, shape: str) -> None:
    """Finding 5: before the fix ``check_prefix`` read ``etc/harmless`` and passed the base;
    umoci (Go's archive/tar, as Docker and containerd) unpacks ``/opt -> srv``."""
    tar_layout(
        tmp_path / "base", [_SRV + TWICE[shape] + _header("x", tarfile.SYMTYPE, "srv") + _END]
    )
    unpacked = tmp_path / "bundle"
    subprocess.run(
        [tool("umoci", "umoci"), "unpack", "--rootless", "--image", f"{tmp_path / 'base'}:latest",
         str(unpacked)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert (unpacked / "rootfs" / "opt").readlink() == Path("srv")  # what a runtime makes of it
    with pytest.raises(OciError, match="more than one") as caught:
        check_prefix(read_base(tmp_path / "base", platform=PLATFORM), PREFIX)
    assert "Go's tar reader" in str(caught.value) and caught.value.hint


def test_one_long_name_per_member_still_passes(tmp_path: Path) -> None:
    """Holds: a PAX path alone (Docker's long names) and a GNU long name alone (GNU tar's)."""
    deep = "usr/share/" + "d" * 120
    tar_layout(
        tmp_path / "base",
        [
            _header("opt/", tarfile.DIRTYPE)
            + extension_header(b"x", pax(path=f"{deep}/a"))
            + _header("a", tarfile.REGTYPE)
            + extension_header(b"L", f"{deep}/b\0".encode())
            + _header("b", tarfile.REGTYPE)
            + _END
        ],
    )
    assert check_prefix(read_base(tmp_path / "base", platform=PLATFORM), PREFIX).missing == 1


_SPELLINGS = st.sampled_from(["", "./", "/", "/../", "../", "./../", "//"])
_PATHS = st.sampled_from(["opt", "opt/mlenv", "opt/mlenv/x", "opt/mlenv/x/f", "srv", "etc"])


@st.composite
def _members(draw: st.DrawFn) -> RawMember:
    """One member at a path around the prefix, spelled any way a tar may spell it."""
    path, spelled = draw(_PATHS), draw(_SPELLINGS)
    kind = draw(st.sampled_from(["dir", "file", "symlink", "hardlink", "whiteout", "opaque"]))
    if kind == "whiteout":
        parent, _, leaf = path.rpartition("/")
        return (f"{spelled}{parent + '/' if parent else ''}.wh.{leaf}", "file", "")
    if kind == "opaque":
        return (f"{spelled}{path}/.wh..wh..opq", "file", "")
    target = {"symlink": draw(st.sampled_from(["srv", "/srv", "../srv", "x"])),
              "hardlink": draw(st.sampled_from(["etc", "srv"]))}.get(kind, "")  # fmt: skip
    return (spelled + path, kind, target)


def _runtime_refuses(rootfs: Path) -> bool:
    """What the prefix check must refuse, read from a tree Go's tar reader unpacked."""
    above = [rootfs / "opt", rootfs / "opt/mlenv", rootfs / "opt/mlenv/x"]
    if any(path.is_symlink() or (path.exists() and not path.is_dir()) for path in above):
        return True
    return above[2].is_dir() and any(above[2].iterdir())


@settings(max_examples=40, deadline=None)
@given(layers=st.lists(st.lists(_members(), min_size=1, max_size=5), min_size=1, max_size=3))
def test_the_prefix_check_refuses_whatever_umoci_unpacks_in_the_way(
    layers: list[list[RawMember]],
) -> None:
    """Findings 1 and 2, any shape: where umoci (Go's archive/tar, applying layers in turn)
    leaves a link or a file at or above the prefix, or a filled prefix, the check refuses."""
    with tempfile.TemporaryDirectory() as scratch:
        layout, bundle = Path(scratch) / "base", Path(scratch) / "bundle"
        raw_layout(layout, layers)
        unpacked = subprocess.run(
            [tool("umoci", "umoci"), "unpack", "--rootless", "--image", f"{layout}:latest",
             str(bundle)],
            capture_output=True, check=False, timeout=120,
        )  # fmt: skip
        if unpacked.returncode != 0 or not _runtime_refuses(bundle / "rootfs"):
            return  # a layer umoci refuses, or a base the prefix fits
        with pytest.raises(OciError):
            check_prefix(read_base(layout, platform=PLATFORM), PREFIX)


@settings(max_examples=15, deadline=None)
@given(name=st.text("ab-_.+@ é", min_size=1, max_size=8).filter(lambda n: n.strip(". ")))
def test_activate_after_relocation_names_the_location(name: str) -> None:
    """Finding 6: wherever conda-unpack relocates to (a space, non-ASCII), ``. bin/activate``
    sets VIRTUAL_ENV to it and puts its bin first on PATH, running nothing else."""
    old = "/opt/mlenv/x"
    with tempfile.TemporaryDirectory() as scratch:
        location = Path(scratch) / f"u {name}" / "env"
        (location / "bin").mkdir(parents=True)
        activate = Layout(old, "/usr/bin/python3.11", "3.11").venv_files()["bin/activate"]
        (location / "bin" / "activate").write_text(activate)
        script = location / "bin" / "conda-unpack"
        script.write_bytes(unpack_script(old, prefix_files(location, old)))
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=60
        )
        assert done.returncode == 0, done.stderr
        shown = subprocess.run(
            ["sh", "-c", '. bin/activate && printf "%s\\n%s\\n" "$VIRTUAL_ENV" "$PATH"'],
            cwd=location, capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    virtual_env, path = shown.stdout.splitlines()
    assert virtual_env == str(location)
    assert path.startswith(f"{location}/bin:")


_ARGUMENTS = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.just("\t"), max_size=12
).map(lambda text: text.strip(" \t"))


@settings(max_examples=25, deadline=None)
@given(argument=_ARGUMENTS, deep=st.booleans())
def test_a_shebang_argument_survives_relocation(argument: str, deep: bool) -> None:
    """Finding 7: after relocation to a path with a space (or past 127 bytes) a script runs
    with the argv the kernel gives ``#!INTERPRETER ARGUMENT``: the argument as one word."""
    old = "/opt/mlenv/x"
    with tempfile.TemporaryDirectory() as scratch:
        location = Path(scratch) / ("d" * 130 if deep else "my env") / "env"
        (location / "bin").mkdir(parents=True)
        show = location / "bin" / "show"  # the "interpreter": prints each argument it got
        show.write_text('#!/bin/sh\nfor a in "$@"; do printf "[%s]" "$a"; done\n')
        script = location / "bin" / "tool"
        script.write_text(f"#!{old}/bin/show {argument}\n".replace(" \n", "\n"))
        for path in (show, script):
            path.chmod(0o755)
        unpack = location / "bin" / "conda-unpack"
        unpack.write_bytes(unpack_script(old, prefix_files(location, old)))
        done = subprocess.run(
            [sys.executable, str(unpack)], capture_output=True, text=True, check=False, timeout=60
        )
        assert done.returncode == 0, done.stderr
        ran = subprocess.run(
            [str(script), "x y"], capture_output=True, text=True, check=False, timeout=60
        )
    words = [argument] if argument else []
    assert ran.stdout == "".join(f"[{word}]" for word in [*words, str(script), "x y"]), ran
