"""Hundred-and-ninety-fourth adversary pass: a hostile conda channel and the packages in it.

The vetting (``install.conda_packages.check_conda_packages``) judged a package by what its
archive holds; rattler installs it by what its metadata says. Three places they parted:

- noarch. rattler lays a package out as noarch python (``site-packages/`` into the
  environment's site-packages) when its own ``info/index.json`` says so; the vetting asked the
  locked record, which the channel's repodata wrote. A record without ``noarch`` (or with
  ``generic``) for a package whose index.json says ``python`` had its ``site-packages/victim/``
  judged at the top level, and rattler silently overwrote another package's module.
  Now ``_CondaVetting.check_noarch`` refuses a package whose index.json and record disagree.
- Shared files. Two packages may ship one path with the same sha256 and size, and the ledger
  keeps one copy; but rattler rewrites a file by its package's ``prefix_placeholder``, so a
  package shipping another's ``VERIFY = True`` with a text placeholder of ``True`` made it
  ``VERIFY = /opt/mlenv/x``, in either install order. Now a file's content for the ledger is
  its measured bytes and every rewrite stated for it (``_CondaVetting.content``).
- Growth. A text placeholder is replaced by the deploy prefix each time it occurs, so a
  one-byte placeholder multiplied a file by the prefix's length: a 7.9 KB package installed
  211 MB for a 211-byte prefix (ratio 26,700; the bound is 200). Now the bound counts the most
  the rewrites can add (``_CondaVetting.check_growth``).

- ``info/``. rattler links every path a listing names, ``info/`` ones too; the ledger skipped
  ``info/`` as metadata, so two packages listing ``info/shared.txt`` both installed it and a
  listed ``info/.wh..wh..opq`` passed. Listed ``info/`` paths are claimed now.
- Internal errors: a record spec nested 100,000 deep killed rattler's solve (SIGSEGV), and a
  binary placeholder escaping a lone surrogate broke the room check; both are clear errors now
  (``conda.worker.run_child``, ``_CondaVetting._json``). A legacy ``has_prefix`` binary line
  spelt ``BINARY`` or with tabs escaped the room check (``conda_rewrites.from_has_prefix``).
  A package whose ``info/index.json`` names another package made rattler panic
  (``conda_noarch.read_index`` refuses it).

Held (kept as regressions): link scripts never run, setuid and sticky bits never reach the
staging tree or the conda-pack archive, a package sharing a file rewritten alike, records
lying about their file's sha256 or size, unlisted ``info/`` members.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.conda.install import install
from mlenv.conda.pack import write_pack
from mlenv.conda.solve import from_repodata
from mlenv.install.conda_packages import check_conda_packages
from mlenv.install.ownership import PathClashError
from mlenv.install.safety import InstallError
from mlenv.report import MemoryReporter
from tests.support.cli import run_mlenv
from tests.support.conda_channel import (
    PLACEHOLDER,
    PackageFormat,
    build_conda_package,
    repodata_record,
)
from tests.support.conda_project import conda_project

pytestmark = pytest.mark.hostile

SITE = "lib/python3.11/site-packages"
PREFIX = "/opt/mlenv/x"
_PYTHON = build_conda_package("python", "3.11.2", "h0", files={f"{SITE}/README.txt": b"site\n"})


def _victim(fmt: PackageFormat = "tar.bz2") -> tuple[str, bytes]:
    return build_conda_package(
        "victim", "1.0", "py_0", files={f"{SITE}/victim/__init__.py": b"GOOD = 1\n"}, fmt=fmt
    )


def _write(root: Path, packages: list[tuple[str, bytes]]) -> list[tuple[str, Path]]:
    root.mkdir(parents=True, exist_ok=True)
    for filename, data in packages:
        (root / filename).write_bytes(data)
    return [(filename, root / filename) for filename, _ in packages]


def _install(
    root: Path, packages: list[tuple[str, bytes]], noarch: dict[str, object] | None = None
) -> Path:
    """``conda.install.install`` (vetting, then rattler in its child) of ``packages`` from
    their repodata records, each record's ``noarch`` replaced as ``noarch`` says (a key
    mapped to None drops it): the channel's word. Returns the staging prefix."""
    records, paths = [], {}
    for filename, path in _write(root, packages):
        entry = repodata_record(filename, path.read_bytes())
        if noarch is not None and filename in noarch:
            entry.pop("noarch", None)
            if noarch[filename] is not None:
                entry["noarch"] = noarch[filename]
        record = from_repodata(entry, channel=root.as_uri(), filename=filename, url=path.as_uri())
        records.append(record)
        paths[record.sha256] = path
    stage = root / "stage"
    install(
        records, paths, stage, target_prefix=PREFIX, platform="linux-64",
        reporter=MemoryReporter(),
    )  # fmt: skip
    return stage


def _lying_channel(
    root: Path, packages: list[tuple[str, bytes]], subdir: str, lie: Callable[[Any], None]
) -> Path:
    """``conda_project`` of ``packages`` with the channel's ``subdir`` repodata rewritten by
    ``lie`` (the channel's word against its files)."""
    project = conda_project(root, packages, PREFIX)
    repodata_path = root / "channel" / subdir / "repodata.json"
    repodata = json.loads(repodata_path.read_text())
    lie(repodata)
    repodata_path.write_text(json.dumps(repodata))
    return project


# --- noarch: the package's own word decides where rattler puts it -------------------------


@pytest.mark.parametrize("fmt", ["tar.bz2", "conda"])
@pytest.mark.parametrize("record", [None, "generic", True])
def test_a_noarch_python_package_whose_record_says_otherwise_is_refused(
    tmp_path: Path, fmt: PackageFormat, record: object
) -> None:
    """Invariant 6, held by `install.conda_packages._CondaVetting.check_noarch`: before, the
    vetting judged `site-packages/victim/__init__.py` at the top level and rattler wrote it over
    the victim's module (`GOOD = 1` became the attacker's code, no error)."""
    evil = build_conda_package(
        "evil", "1.0", "py_0", noarch="python", fmt=fmt,
        files={"site-packages/victim/__init__.py": b"import os\nEVIL = 1\n"},
    )  # fmt: skip
    evil_name = evil[0]
    with pytest.raises(InstallError, match="says the package is noarch python, against its"):
        _install(tmp_path, [_PYTHON, _victim(fmt), evil], {evil_name: record})
    assert not (tmp_path / "stage").exists()


@pytest.mark.parametrize("fmt", ["tar.bz2", "conda"])
def test_a_record_claiming_noarch_python_for_a_plain_package_is_refused(
    tmp_path: Path, fmt: PackageFormat
) -> None:
    """The other way: rattler would put `site-packages/` and `python-scripts/` at the top of
    the prefix, where the vetting never judged them."""
    plain = build_conda_package(
        "plain", "1.0", "py_0", fmt=fmt, files={"python-scripts/tool": b"#!/bin/sh\n"}
    )
    with pytest.raises(InstallError, match="says the package is not noarch python"):
        check_conda_packages(
            _write(tmp_path, [_PYTHON, plain]), noarch_python=[plain[0]], python_site=SITE
        )


def test_an_honest_noarch_python_package_still_installs_where_it_says(tmp_path: Path) -> None:
    honest = build_conda_package(
        "honest", "1.0", "py_0", noarch="python", files={"site-packages/honest.py": b"X = 1\n"}
    )
    stage = _install(tmp_path, [_PYTHON, honest])
    assert (stage / SITE / "honest.py").read_bytes() == b"X = 1\n"


def test_build_refuses_a_channel_whose_repodata_hides_noarch(tmp_path: Path) -> None:
    """End to end: a channel whose repodata drops `noarch` from a noarch python package that
    ships another package's module. Before: `build` exited 0 with the victim's module
    replaced."""
    victim = _victim("conda")
    evil = build_conda_package(
        "evil", "1.0", "py_0", noarch="python", depends=["python"],
        files={"site-packages/victim/__init__.py": b"EVIL = 1\n"},
    )  # fmt: skip

    def lie(repodata: dict[str, Any]) -> None:
        del repodata["packages"][evil[0]]["noarch"]

    project = _lying_channel(tmp_path, [victim, evil], "noarch", lie)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    for args in (["lock"], ["fetch"]):
        result = run_mlenv(args, project, env)
        assert result.returncode == 0, (args, result.stderr)
    result = run_mlenv(["build", "--offline"], project, env)
    assert result.returncode == 1, result.stderr
    assert "evil-1.0-py_0.tar.bz2" in result.stderr and "noarch python" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "dist" / "x.tar.gz").exists()


# --- shared files: the same bytes, rewritten otherwise -------------------------------------

_BODY = b"VERIFY = True\x00\n"
_SHAPES = {
    # (victim's package keywords, attacker's)
    "text-over-plain": ({"files": {"share/v/conf.py": _BODY}},
                        {"prefix_files": {"share/v/conf.py": _BODY}, "placeholder": "True"}),
    "binary-over-text": ({"prefix_files": {"share/v/conf.py": _BODY},
                          "placeholder": "VERIFY = True"},
                         {"binary_prefix_files": {"share/v/conf.py": _BODY},
                          "placeholder": "VERIFY = True"}),
    "other-placeholder": ({"prefix_files": {"share/v/conf.py": _BODY}, "placeholder": "VERIFY"},
                          {"prefix_files": {"share/v/conf.py": _BODY}, "placeholder": "True"}),
    "legacy-has-prefix": ({"files": {"share/v/conf.py": _BODY}},
                          {"files": {"share/v/conf.py": _BODY,
                                     "info/has_prefix": b"True\tTEXT  share/v/conf.py\n"},
                           "legacy": True}),
}  # fmt: skip


def _sharing(shape: str, order: str) -> list[tuple[str, bytes]]:
    """The victim's and the attacker's package of ``shape``, in install ``order``."""
    mine, theirs = _SHAPES[shape]
    packages = [
        build_conda_package("victim", "1.0", "h_0", **mine),  # type: ignore[arg-type]
        build_conda_package("evil", "1.0", "h_0", **theirs),  # type: ignore[arg-type]
    ]
    return packages[::-1] if order == "attacker-first" else packages


@pytest.mark.parametrize("order", ["victim-first", "attacker-first"])
@pytest.mark.parametrize("shape", sorted(_SHAPES))
def test_a_shared_file_the_other_package_rewrites_is_refused(
    tmp_path: Path, shape: str, order: str
) -> None:
    """Invariant 6, held by `install.conda_packages._CondaVetting.content`: the ledger shares
    a path only when both packages install the same bytes, rewrites included."""
    with pytest.raises(PathClashError, match=r"share/v/conf\.py"):
        check_conda_packages(_write(tmp_path, _sharing(shape, order)), target_prefix=PREFIX)


@pytest.mark.parametrize("order", ["victim-first", "attacker-first"])
def test_the_install_never_rewrites_another_packages_file(tmp_path: Path, order: str) -> None:
    """Through rattler: before, `VERIFY = True` ended `VERIFY = /opt/mlenv/x` in both orders."""
    with pytest.raises(PathClashError, match=r"share/v/conf\.py"):
        _install(tmp_path, _sharing("text-over-plain", order))
    assert not (tmp_path / "stage").exists()


def test_a_shared_file_rewritten_alike_is_installed_once(tmp_path: Path) -> None:
    """Held: two packages shipping one file with one placeholder still share it."""
    same = {"prefix_files": {"share/v/conf.py": _BODY}, "placeholder": "True"}
    packages = [
        build_conda_package("aa", "1.0", "h_0", **same),  # type: ignore[arg-type]
        build_conda_package("bb", "1.0", "h_0", **same),  # type: ignore[arg-type]
    ]
    stage = _install(tmp_path, packages)
    assert (stage / "share/v/conf.py").read_bytes() == _BODY.replace(b"True", PREFIX.encode())


# --- growth: a text placeholder multiplies its file ---------------------------------------


def _grower(placeholder: str, count: int, pad: int, *, legacy: bool = False) -> tuple[str, bytes]:
    """A package whose ``share/a.txt`` is ``count`` text placeholders (beside ``pad`` random
    bytes, so the archive itself stays within the ratio)."""
    body = placeholder.encode() * count
    if legacy:
        has_prefix = f"{placeholder} text share/a.txt\n".encode()
        files = {"share/a.txt": body, "share/pad": os.urandom(pad), "info/has_prefix": has_prefix}
        return build_conda_package("grow", "1.0", "h_0", files=files, legacy=True)
    return build_conda_package(
        "grow", "1.0", "h_0", placeholder=placeholder, prefix_files={"share/a.txt": body},
        files={"share/pad": os.urandom(pad)},
    )  # fmt: skip


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("placeholder", ["/", "ab", "%"])
def test_a_short_text_placeholder_cannot_multiply_a_file_past_the_bound(
    tmp_path: Path, placeholder: str, legacy: bool
) -> None:
    """Invariant 7, held by `install.conda_packages._CondaVetting.check_growth`: before,
    7.9 KB installed 211 MB (ratio 26,700) for a 211-byte prefix."""
    package = _grower(placeholder, 300_000 // len(placeholder), 3_000, legacy=legacy)
    with pytest.raises(InstallError, match="prefix placeholders"):
        check_conda_packages(_write(tmp_path, [package]), target_prefix="/opt/" + "p" * 200)


def test_the_install_refuses_the_growth_before_rattler_writes(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="a ratio over 200"):
        _install(tmp_path, [_grower("/", 1_000_000, 7_000)])
    assert not (tmp_path / "stage").exists()


def test_a_padded_placeholder_adds_nothing(tmp_path: Path) -> None:
    """Held: conda-build's 255-byte placeholder never grows a file for a shorter prefix,
    however often it occurs."""
    body = os.urandom(50_000) + PLACEHOLDER.encode() * 40
    package = build_conda_package("padded", "1.0", "h_0", prefix_files={"share/a.txt": body})
    check_conda_packages(_write(tmp_path, [package]), target_prefix="/opt/" + "p" * 200)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    placeholder=st.text(st.sampled_from("/ab%.x"), min_size=1, max_size=12),
    count=st.integers(1, 4_000),
    pad=st.integers(0, 2_000),
    room=st.integers(1, 240),
    legacy=st.booleans(),
)
def test_hypothesis_an_accepted_package_installs_within_its_ratio(
    tmp_path: Path, placeholder: str, count: int, pad: int, room: int, legacy: bool
) -> None:
    """Whatever the placeholder and the prefix, a package the vetting accepts installs at
    most ``max_ratio`` times its size, rewritten as rattler rewrites text (every occurrence
    of the placeholder replaced by the deploy prefix)."""
    target = "/" + "p" * room
    filename, data = _grower(placeholder, count, pad, legacy=legacy)
    path = tmp_path / filename
    path.write_bytes(data)
    try:
        check_conda_packages([(filename, path)], target_prefix=target, max_ratio=20)
    except InstallError:
        return
    body = (placeholder * count).encode().replace(placeholder.encode(), target.encode())
    assert len(body) <= 20 * len(data)


# --- held: link scripts, mode bits ----------------------------------------------------------


def _moded(mode: int, marker: Path) -> tuple[str, bytes]:
    """A package whose ``bin/tool`` has ``mode`` and whose post-link script creates ``marker``."""
    info = tarfile.TarInfo("bin/tool")
    info.size, info.mode = 10, mode
    return build_conda_package(
        "moded", "1.0", "h_0", raw=[(info, b"#!/bin/sh\n")],
        files={"bin/.moded-post-link.sh": f"#!/bin/sh\ntouch '{marker}'\n".encode(),
               "info/files": b"bin/tool\nbin/.moded-post-link.sh\n"},
        legacy=True,
    )  # fmt: skip


@pytest.mark.parametrize("mode", [0o4755, 0o2755, 0o1777, 0o6777])
def test_setuid_setgid_and_sticky_bits_never_reach_the_prefix_or_the_archive(
    tmp_path: Path, mode: int
) -> None:
    """Held (invariant 1's normalised tree): the staging prefix and the conda-pack archive
    hold 0755/0644 only, and the post-link script was never run."""
    marker = tmp_path / "post-link-ran"
    stage = _install(tmp_path / "channel", [_moded(mode, marker)])
    assert stage.joinpath("bin/tool").stat().st_mode & 0o7777 == 0o755
    assert stage.joinpath("bin/.moded-post-link.sh").is_file()
    assert not marker.exists()
    out = io.BytesIO()
    write_pack(stage, PREFIX, out, compression="gzip", mtime=0)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        modes = {member.name: member.mode for member in tar.getmembers()}
    assert modes["bin/tool"] == 0o755
    assert all(m in (0o755, 0o644, 0o777) for m in modes.values()), modes


# --- repodata: a spec that overflows rattler's parser ---------------------------------------


@pytest.mark.parametrize("key", ["constrains", "depends"])
def test_a_record_spec_that_crashes_the_solver_is_a_channel_error(tmp_path: Path, key: str) -> None:
    """Held by `conda.worker.run_child`: rattler's spec parser recurses per parenthesis, so a
    channel record whose spec nests 100,000 deep kills the solve's child with SIGSEGV. Before,
    `lock` said "internal error: mlenv failed unexpectedly ... report it"; now it names the
    channels and the crash."""

    def lie(repodata: dict[str, Any]) -> None:
        for record in repodata["packages"].values():
            record[key] = ["x " + "(" * 100_000 + ")" * 100_000]

    project = _lying_channel(tmp_path, [], "linux-64", lie)
    result = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1, result.stderr
    assert "cannot read the conda channels: py-rattler died of SIG" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert not (project / "mlenv.lock").exists()


# --- metadata text rattler reads otherwise --------------------------------------------------


@pytest.mark.parametrize("mode", ["text", "binary"])
@pytest.mark.parametrize("escape", ["\\ud800", "\\udc80", "\\udfff"])
def test_a_lone_surrogate_in_paths_json_is_refused_not_an_internal_error(
    tmp_path: Path, mode: str, escape: str
) -> None:
    """Held by `install.conda_packages._CondaVetting._json`: JSON may escape a lone surrogate,
    which no UTF-8 holds (rattler's reader refuses it). Before, a binary placeholder of one
    ended the vetting in a `UnicodeEncodeError` (an internal error)."""
    body = b"abc\x00"
    entry = (
        '{"_path": "share/a", "path_type": "hardlink", "size_in_bytes": 4, '
        f'"sha256": "{hashlib.sha256(body).hexdigest()}", "file_mode": "{mode}", '
        f'"prefix_placeholder": "{escape}{"x" * 300}"}}'
    )
    paths = f'{{"paths": [{entry}], "paths_version": 1}}'.encode()
    package = build_conda_package(
        "evil", "1.0", "h_0", files={"share/a": body, "info/paths.json": paths}
    )
    with pytest.raises(InstallError, match="lone surrogate"):
        check_conda_packages(_write(tmp_path, [package]), target_prefix=PREFIX)


@pytest.mark.parametrize(
    "line",
    ["/short\tbinary\tshare/a.bin", "/short BINARY share/a.bin", '"/short"  binary share/a.bin'],
)
def test_a_legacy_binary_placeholder_in_any_spelling_is_measured(tmp_path: Path, line: str) -> None:
    """rattler reads `info/has_prefix`'s mode in any case between any blanks; the room check
    read one space and `binary` only, so these ended in rattler's "failed to link" with the
    hint to re-fetch. Now each is the clear "shorter than the deploy prefix"."""
    package = build_conda_package(
        "evil", "1.0", "h_0", legacy=True,
        files={"share/a.bin": b"/short\x00DATA\x00", "info/has_prefix": f"{line}\n".encode()},
    )  # fmt: skip
    with pytest.raises(InstallError, match="placeholder of 6 bytes, shorter than the deploy"):
        check_conda_packages(_write(tmp_path, [package]), target_prefix=PREFIX)


@pytest.mark.parametrize(
    ("key", "value"),
    [("sha256", "0" * 64), ("size", 10), ("size", 1 << 40), ("sha256", "ab" * 32)],
)
def test_a_record_lying_about_its_file_never_reaches_the_build(
    tmp_path: Path, key: str, value: object
) -> None:
    """Held (invariant 1): the lock pins what the channel's record says (a size past the
    package bound is refused there), and `fetch` holds the file to it, so a record lying about
    its file's sha256 or size is refused before anything is cached or built."""
    package = build_conda_package("liar", "1.0", "h_0", files={"share/liar.txt": b"x\n"})

    def lie(repodata: dict[str, Any]) -> None:
        repodata["packages"][package[0]][key] = value

    project = _lying_channel(tmp_path, [package], "linux-64", lie)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    steps = [run_mlenv([step], project, env) for step in ("lock", "fetch")]
    failed = next(result for result in steps if result.returncode != 0)  # lock, or else fetch
    named = ("liar-1.0-h_0.tar.bz2", "conda[0].size: expected a size")
    assert failed.returncode == 1 and any(n in failed.stderr for n in named), failed.stderr
    assert "Traceback" not in failed.stderr
    built = run_mlenv(["build", "--offline"], project, env)
    assert built.returncode == 1 and not (project / "dist" / "x.tar.gz").exists()


# --- info/: metadata a listing links into the prefix ---------------------------------------


def _listing_info(name: str, path: str, body: bytes) -> tuple[str, bytes]:
    """A package whose ``info/paths.json`` (and ``info/files``) list its member ``path``."""
    entry = {
        "_path": path, "path_type": "hardlink", "size_in_bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }  # fmt: skip
    listing = json.dumps({"paths": [entry], "paths_version": 1}).encode()
    return build_conda_package(
        name, "1.0", "h_0",
        files={path: body, "info/paths.json": listing, "info/files": f"{path}\n".encode()},
    )  # fmt: skip


def test_an_info_path_two_packages_list_is_judged_by_the_ledger(tmp_path: Path) -> None:
    """Invariant 6, held by `install.conda_packages.check_conda_packages`: rattler links every
    path a listing names, `info/` ones too, but the ledger skipped `info/` as metadata never
    installed; two packages listing `info/shared.txt` of other bytes were both accepted and one
    silently overwrote the other in the prefix (and the archive)."""
    packages = [
        _listing_info("aa", "info/shared.txt", b"aa\n"),
        _listing_info("bb", "info/shared.txt", b"bb\n"),
    ]
    with pytest.raises(PathClashError, match=r"info/shared\.txt"):
        check_conda_packages(_write(tmp_path, packages), target_prefix=PREFIX)
    with pytest.raises(PathClashError, match=r"info/shared\.txt"):
        _install(tmp_path / "install", packages)
    assert not (tmp_path / "install" / "stage").exists()


@pytest.mark.parametrize(
    "path", ["info/.wh.victim", "info/.wh..wh..opq", "info/-rf", "info/a\u202eb"]
)
def test_an_info_path_a_listing_links_keeps_the_ledgers_name_rules(
    tmp_path: Path, path: str
) -> None:
    """Whiteouts, option-like names and hidden characters are refused under `info/` too, when
    the package lists them (rattler installs them)."""
    with pytest.raises((InstallError, PathClashError)):
        check_conda_packages(
            _write(tmp_path, [_listing_info("aa", path, b"x\n")]), target_prefix=PREFIX
        )


def test_unlisted_info_members_stay_metadata(tmp_path: Path) -> None:
    """Held: every package's own `info/` (index.json, paths.json, about.json...) is never
    claimed, so two packages both holding them still install together."""
    packages = [
        build_conda_package(
            name, "1.0", "h_0", files={"info/about.json": name.encode(), "share/" + name: b"x"}
        )
        for name in ("aa", "bb")
    ]
    check_conda_packages(_write(tmp_path, packages), target_prefix=PREFIX)


def _raw(name: str, kind: bytes, *, link: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    return info


_ESCAPES = {
    "file-through-symlink": [(_raw("share/d", tarfile.SYMTYPE, link="../lib"), b""),
                             (_raw("share/d/x", tarfile.REGTYPE), b"")],
    "symlink-out": [(_raw("share/x", tarfile.SYMTYPE, link="../../etc/passwd"), b"")],
    "absolute-symlink": [(_raw("share/x", tarfile.SYMTYPE, link="/etc/shadow"), b"")],
    "hardlink-out": [(_raw("share/x", tarfile.LNKTYPE, link="../../etc/passwd"), b"")],
    "hardlink-absolute": [(_raw("share/x", tarfile.LNKTYPE, link="/etc/passwd"), b"")],
    "dotdot": [(_raw("share/../../x", tarfile.REGTYPE), b"")],
    "absolute": [(_raw("/etc/cron.d/x", tarfile.REGTYPE), b"")],
    "device": [(_raw("share/null", tarfile.CHRTYPE), b"")],
    "fifo": [(_raw("share/fifo", tarfile.FIFOTYPE), b"")],
    "newline": [(_raw("share/a\nb", tarfile.REGTYPE), b"")],
    "twice": [(_raw("share/x", tarfile.REGTYPE), b""), (_raw("share/x", tarfile.REGTYPE), b"")],
}  # fmt: skip


@pytest.mark.parametrize("fmt", ["tar.bz2", "conda"])
@pytest.mark.parametrize("shape", sorted(_ESCAPES))
def test_members_that_escape_or_are_not_files_are_refused(
    tmp_path: Path, shape: str, fmt: PackageFormat
) -> None:
    """Held (invariant 6): members leaving the prefix, through a symlink, as links to other
    users' files, devices, named twice or with a newline, in either archive format."""
    package = build_conda_package("esc", "1.0", "h_0", raw=_ESCAPES[shape], fmt=fmt)
    with pytest.raises((InstallError, PathClashError)):
        check_conda_packages(_write(tmp_path, [package]), target_prefix=PREFIX)


def test_a_conda_zstd_bomb_is_refused(tmp_path: Path) -> None:
    """Held (invariant 7): a `.conda` whose inner `pkg-*.tar.zst` inflates 24 MB of zeros from
    a few kB is refused by the ratio as it is read."""
    package = build_conda_package(
        "bomb", "1.0", "h_0", files={"share/zeros": bytes(24 << 20)}, fmt="conda"
    )
    assert len(package[1]) < 24_000
    with pytest.raises(InstallError, match="a ratio over 200"):
        check_conda_packages(_write(tmp_path, [package]), target_prefix=PREFIX)


# --- info/index.json naming another package ------------------------------------------------


def _renamed(field: str, fmt: PackageFormat) -> tuple[str, bytes]:
    """``victim-1.0-h_0``'s file holding a package whose index.json changes ``field``."""
    says = {"name": "victim", "version": "1.0", "build": "h_0"}
    says[field] = {"name": "other", "version": "9.9", "build": "h_9"}[field]
    _, data = build_conda_package(
        says["name"], says["version"], says["build"], files={"share/x.txt": b"x\n"}, fmt=fmt
    )
    return f"victim-1.0-h_0.{fmt}", data


@pytest.mark.parametrize("fmt", ["tar.bz2", "conda"])
@pytest.mark.parametrize("field", ["name", "version", "build"])
def test_a_package_whose_index_json_names_another_is_refused(
    tmp_path: Path, field: str, fmt: PackageFormat
) -> None:
    """Held by `install.conda_noarch.read_index` (from `_CondaVetting.read_tar`): the file the
    lock names `victim-1.0-h_0` must say so. Before, another name made rattler panic (an
    internal error), another version or build was installed as the locked one."""
    with pytest.raises(InstallError, match=r"info/index\.json' names the package"):
        check_conda_packages(_write(tmp_path, [_renamed(field, fmt)]), target_prefix=PREFIX)


def test_the_install_refuses_another_name_before_rattler_panics(tmp_path: Path) -> None:
    filename, data = _renamed("name", "tar.bz2")
    path = tmp_path / filename
    path.write_bytes(data)
    entry = {**repodata_record(filename, data), "name": "victim"}
    record = from_repodata(entry, channel=tmp_path.as_uri(), filename=filename, url=path.as_uri())
    with pytest.raises(InstallError, match=r"names the package 'other-1\.0-h_0'"):
        install(
            [record], {record.sha256: path}, tmp_path / "stage", target_prefix=PREFIX,
            platform="linux-64", reporter=MemoryReporter(),
        )  # fmt: skip
    assert not (tmp_path / "stage").exists()


@pytest.mark.parametrize("says", [{"noarch_python": True}, {"noarch": True}, {"noarch": "generic"}])
def test_other_noarch_spellings_are_not_laid_out_as_python(
    tmp_path: Path, says: dict[str, object]
) -> None:
    """Held: rattler lays a package out as noarch python only for `"noarch": "python"` exactly
    (conda-build 2's `noarch_python: true` and `noarch: true` are generic; `"Python"` does not
    parse), which is what `read_index` reads, so the victim's module stays its own."""
    index = {
        "name": "evil",
        "version": "1.0",
        "build": "py_0",
        "build_number": 0,
        "subdir": "linux-64",
        **says,
    }
    evil = build_conda_package(
        "evil", "1.0", "py_0",
        files={"site-packages/victim/__init__.py": b"EVIL = 1\n",
               "info/index.json": json.dumps(index).encode()},
    )  # fmt: skip
    stage = _install(tmp_path, [_PYTHON, _victim(), evil], {evil[0]: None})
    assert (stage / SITE / "victim/__init__.py").read_bytes() == b"GOOD = 1\n"
    assert (stage / "site-packages/victim/__init__.py").read_bytes() == b"EVIL = 1\n"


def _without_index(fmt: PackageFormat) -> tuple[str, bytes]:
    """``victim-1.0-h_0`` with every member but ``info/index.json``."""
    filename, data = build_conda_package("victim", "1.0", "h_0", files={"share/x.txt": b"x\n"})
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(data), mode="r:bz2") as old,
        tarfile.open(fileobj=out, mode="w:bz2") as new,
    ):
        for member in old:
            if member.name != "info/index.json":
                new.addfile(member, old.extractfile(member) if member.isreg() else None)
    assert fmt == "tar.bz2"
    return filename, out.getvalue()


def test_a_package_without_index_json_is_refused_by_name(tmp_path: Path) -> None:
    """rattler failed on it naming a private work directory, with the hint to fetch again;
    the vetting now names the package and the missing member."""
    filename, data = _without_index("tar.bz2")
    with pytest.raises(InstallError, match=r"info/index\.json' is missing") as refused:
        check_conda_packages(_write(tmp_path, [(filename, data)]), target_prefix=PREFIX)
    assert filename in str(refused.value)
