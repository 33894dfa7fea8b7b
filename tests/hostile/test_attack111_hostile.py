"""Adversary pass 111: the product-wide error invariant, fuzzed through the real entry point.

On any input every command succeeds, or exits 1 with a message naming the file, key or path
at fault and a hint; it never prints a traceback (that is ``-v``'s), never ends in an internal
error (exit 2), and a failed run leaves what it would have replaced (the lock, an export, a
build output) byte for byte as it was. Manifests (mlenv.toml.example and the golden project's)
and the golden project's lock are mutated key by key with Hypothesis; options and the
environment variables mlenv reads are given odd values.

Findings (before the fix), each held by a test below:

1. A lock whose ``[target].platforms`` was empty (and no ``[platform]`` entries) was read as
   sound: ``mlenv inspect mlenv.lock`` ended in an internal error (an IndexError), and one
   naming an unknown or a repeated platform (``["bogus"]``, ``["linux-64", "linux-64"]``) was
   inspected and diffed as if it were real. The lock reader now refuses them, naming
   ``target.platforms``.
2. ``index-url = "file:///a\\u0000b"`` (a TOML escape of NUL; also ``%00``, any control
   character, in every index URL) passed the manifest check and ``mlenv lock`` ended in an
   internal error (``ValueError: embedded null byte``). The manifest reader now refuses a URL
   holding a control character, or a file: URL whose path decodes to NUL.
3. A find-links directory or ``file://`` index whose path has a component over 255 bytes
   (a name no Linux file system holds) passed the manifest check, and ``mlenv lock`` ended in
   an internal error (``OSError: File name too long``). The manifest reader refuses it.
4. ``find-links = ["/"]`` (or ``file:///``) ended in an internal error: the index's URL lost
   its last slash (``file:``), which names the relative path ``.``. The root keeps its slash.
5. ``mlenv export -o NAME`` with a 250-byte NAME ended in an internal error: the temporary
   file beside it (``.NAME.XXXXXXXX.tmp``) is over the file system's limit; so did an export
   or a re-lock in a read-only checkout (EROFS). Writing a file atomically now reports, as
   writing a directory did, that it cannot write there.
6. A manifest saved with a UTF-8 byte-order mark (Notepad's "UTF-8 with BOM") was reported as
   ``mlenv.toml:1:1: invalid TOML: Invalid statement``, an invisible cause. The message now
   names the mark and how to save without it.
7. ``mlenv diff OLD NEW`` where either is a symlink to a missing file ended in an internal
   error (FileNotFoundError): ``os.path.lexists`` saw the link, the read found nothing. It is
   now "no lock here" naming the path.
8. The same mark at the start of mlenv.lock (a lock saved back by an editor) was "Invalid
   statement" with the hint to re-lock with ``--upgrade``, dropping every pin; the lock reader
   now names the mark too.
9. ``mlenv export -o FILE`` (and the lock's write) on a full disk ended in an internal error:
   the temporary is created, its write or fsync meets ENOSPC. It now says it cannot write
   there, and the file it would have replaced is left as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.cli import run_in_process
from tests.support.golden import GOLDEN, fetched_golden

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "mlenv.toml.example").read_text()
GOLDEN_TOML = (GOLDEN / "mlenv.toml").read_text()
GOLDEN_LOCK = (GOLDEN / "mlenv.lock").read_text()


# ---------------------------------------------------------------------------------------------
# The invariant


def _holds(code: int, out: str, err: str, names: Sequence[str], allowed: Sequence[int]) -> None:
    """An allowed exit code, no traceback, and a failure's message naming one of ``names``."""
    said = out + err
    assert code in allowed, said
    assert "Traceback" not in said, said
    assert "internal error" not in said, said
    if code == 1:
        assert said.strip(), "a failure said nothing"
        assert any(name in said for name in names), said


def _snapshot(paths: Sequence[Path]) -> dict[str, object]:
    """Every byte of each path (a file, or every file under a directory)."""
    taken: dict[str, object] = {}
    for path in paths:
        if path.is_file():
            taken[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            taken[str(path)] = {
                str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
                for f in sorted(path.rglob("*"))
                if f.is_file()
            }
        else:
            taken[str(path)] = None
    return taken


# ---------------------------------------------------------------------------------------------
# TOML written from values (tomllib reads, nothing here writes)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return '"' + "".join(_char(c) for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_value(v)}" for k, v in value.items()) + "}"


def _char(c: str) -> str:
    if c.isprintable() and c not in '"\\':
        return c
    return f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"


def _is_array_of_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _dump(table: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[str]:
    lines = [
        f"{json.dumps(k)} = {_value(v)}"
        for k, v in table.items()
        if not isinstance(v, dict) and not _is_array_of_tables(v)
    ]
    for key, value in table.items():
        header = ".".join(json.dumps(part) for part in (*prefix, key))
        if isinstance(value, dict):
            lines += [f"[{header}]", *_dump(value, (*prefix, key))]
        elif _is_array_of_tables(value):
            for item in value:
                lines += [f"[[{header}]]", *_dump(item, (*prefix, key))]
    return lines


def dumps(document: dict[str, Any]) -> str:
    return "\n".join(_dump(document)) + "\n"


# ---------------------------------------------------------------------------------------------
# Strategies

_ODD_TEXT = st.sampled_from(
    ["", "x" * 3000, "\x00", "a\x00b", "\u202ehello", "\ufeff", "\x1b[31m", "-", "--help",
     "a\nb", "\u2028", "\ufffe", "\U0010ffff", "é", "🐍", "../../etc", "/", ".", "file:///",
     "file:///a%00b", "http://[::1", "ftp://h/x", "numpy>=", "numpy[", "3.11", "12.4",
     "550.54.14", "linux-64", "auto", "sha256:" + "0" * 64, "y" * 300]
)  # fmt: skip
_SCALARS = st.one_of(
    _ODD_TEXT,
    st.text(max_size=12),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0.0, 3.11, math.nan, math.inf, -1e308]),
    st.booleans(),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "", "torch", "name", "version"]), inner, max_size=2)
    ),
    max_leaves=6,
)


def _paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in items:
        found.append((*at, key))
        found += _paths(child, (*at, key))
    return found


@st.composite
def _mutated(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with one to three keys dropped, retyped, duplicated or added."""
    doc: dict[str, Any] = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["drop", "set", "set", "add", "copy"]))
        if action == "drop":
            del parent[path[-1]]
        elif action == "copy" and isinstance(parent, list):
            parent.append(json.loads(json.dumps(parent[path[-1]])))
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["unknown", "name", "version", "x-y"]))] = draw(_VALUES)
        elif not (isinstance(parent, list) and isinstance(parent[path[-1]], dict)):
            parent[path[-1]] = draw(_VALUES)  # an array of tables keeps tables: TOML's rule
    return doc


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The golden project fetched, built to dist/ and exported to req.txt: outputs a failed
    run must leave alone."""
    project, env = fetched_golden(tmp_path_factory.mktemp("a111"))
    built = run_in_process(["build", "--offline", "-o", "dist"], project, env)
    assert built[0] == 0, built
    exported = run_in_process(["export", "--format", "requirements", "-o", "req.txt"], project, env)
    assert exported[0] == 0, exported
    return project, env


def _restore(project: Path) -> None:
    (project / "mlenv.toml").write_text(GOLDEN_TOML)
    (project / "mlenv.lock").write_text(GOLDEN_LOCK)


# ---------------------------------------------------------------------------------------------
# Fuzzing


_MANIFESTS = [tomllib.loads(EXAMPLE), tomllib.loads(GOLDEN_TOML)]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_mutated_manifest_is_refused_by_name_or_used(
    data: st.DataObject, golden: tuple[Path, dict[str, str]]
) -> None:
    """Protects the manifest reader: every retyped, dropped or added key is named when refused,
    and a refused manifest leaves the lock as it was."""
    project, env = golden
    _restore(project)
    base = data.draw(st.sampled_from(_MANIFESTS))
    text = dumps(data.draw(_mutated(base)))
    (project / "mlenv.toml").write_text(text, encoding="utf-8", errors="surrogatepass")
    before = _snapshot([project / "mlenv.lock"])
    for args in (["show"], ["lock", "--offline"]):
        code, out, err = run_in_process(args, project, env)
        _holds(code, out, err, ["mlenv.toml", "mlenv.lock", "://", "hello"], (0, 1))
        if code != 0:
            assert _snapshot([project / "mlenv.lock"]) == before, args
    _restore(project)


_COMMANDS = [
    ["verify"],
    ["inspect", "mlenv.lock"],
    ["diff", str(GOLDEN / "mlenv.lock"), "mlenv.lock"],
    ["export", "--format", "requirements", "-o", "req.txt"],
    ["export", "--format", "pylock", "-o", "req.txt"],
    ["export", "--format", "cyclonedx", "-o", "req.txt"],
    ["fetch", "--offline"],
    ["build", "--offline", "-o", "dist"],
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_mutated_lock_is_refused_by_name_and_outputs_survive(
    data: st.DataObject, golden: tuple[Path, dict[str, str]]
) -> None:
    """Protects the lock reader and every command that reads a lock: a damaged one is named,
    and a failed export or build leaves req.txt and dist/ byte for byte."""
    project, env = golden
    _restore(project)
    lock = dumps(data.draw(_mutated(tomllib.loads(GOLDEN_LOCK))))
    (project / "mlenv.lock").write_text(lock, encoding="utf-8", errors="surrogatepass")
    outputs = [project / "dist", project / "req.txt"]
    for args in data.draw(
        st.lists(st.sampled_from(_COMMANDS), min_size=2, max_size=3, unique_by=str)
    ):
        before = _snapshot(outputs)
        code, out, err = run_in_process(args, project, env)
        _holds(code, out, err, ["mlenv.lock", "lock", "cache"], (0, 1))
        if code != 0:
            assert _snapshot(outputs) == before, args
    _restore(project)


_ENVIRONMENT = {
    "MLENV_DRIVER_VERSION": ["", "garbage", "-1", "550", "9" * 400, "550.54.14\n"],
    "SOURCE_DATE_EPOCH": ["garbage", "-1", "99999999999999999999", "1e9", " 1 ", "١٢٣"],
    "XDG_CACHE_HOME": ["", "relative", "/nonexistent/x", "/dev/null"],
    "TMPDIR": ["/nonexistent", "", "/dev/null"],
    "MLENV_LAYER_CACHE_MAX": ["", "x", "-1", "99999999999999999999999T", "5Q"],
    "MLENV_DOWNLOAD_SECONDS": ["", "x", "-1", "nan", "inf", "1e999"],
    "MLENV_GPU_COMPUTE_CAP": ["", "x", "8.0,", "99.9"],
    "MLENV_CA_BUNDLE": ["", "/nonexistent", "/dev/null", "/etc"],
    "MLENV_CACHE_REGISTRY": ["", "x", "oci://", "http://[::1"],
}


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    variable=st.sampled_from(sorted(_ENVIRONMENT)).flatmap(
        lambda name: st.tuples(st.just(name), st.sampled_from(_ENVIRONMENT[name]))
    ),
    args=st.sampled_from([*_COMMANDS, ["verify", "--driver", "550.54.14"], ["cache", "prune"]]),
)
def test_odd_environment_values_are_named_or_ignored(
    variable: tuple[str, str], args: list[str], golden: tuple[Path, dict[str, str]]
) -> None:
    """Protects the readers of MLENV_*, SOURCE_DATE_EPOCH, XDG_CACHE_HOME and TMPDIR."""
    project, env = golden
    _restore(project)
    name, value = variable
    outputs = [project / "dist", project / "req.txt"]
    before = _snapshot(outputs)
    code, out, err = run_in_process(args, project, {**env, name: value})
    _holds(code, out, err, [name, "mlenv.lock"], (0, 1))
    if code != 0:
        assert _snapshot(outputs) == before


# ---------------------------------------------------------------------------------------------
# The findings


def _lock_with_platforms(platforms: str) -> str:
    head = GOLDEN_LOCK.split("[[platform", 1)[0]
    return head.replace('platforms = ["linux-64"]', f"platforms = {platforms}")


@pytest.mark.parametrize("platforms", ["[]", '["bogus"]', '["linux-64", "linux-64"]'])
@pytest.mark.parametrize(
    "args", [["inspect", "mlenv.lock"], ["diff", "mlenv.lock", str(GOLDEN / "mlenv.lock")]]
)
def test_a_lock_target_without_real_platforms_is_damaged(
    platforms: str, args: list[str], golden: tuple[Path, dict[str, str]]
) -> None:
    """Finding 1: [target].platforms must name each platform mlenv builds for once."""
    project, env = golden
    (project / "mlenv.lock").write_text(_lock_with_platforms(platforms))
    try:
        code, out, err = run_in_process(args, project, env)
    finally:
        _restore(project)
    _holds(code, out, err, ["target.platforms"], (1,))
    assert "regenerate" in err or "mlenv lock" in err, err


@pytest.mark.parametrize("url", ["file:///a\\u0000b", "file:///a%00b", "https://h/x\\u0001y"])
@pytest.mark.parametrize("key", ["index-url", "extra-index-urls", "find-links"])
def test_a_url_with_a_control_character_is_refused_by_key(
    url: str, key: str, golden: tuple[Path, dict[str, str]]
) -> None:
    """Finding 2: the manifest names the URL's key instead of a lock ending in a traceback."""
    project, env = golden
    value = f'"{url}"' if key == "index-url" else f'["{url}"]'
    text = GOLDEN_TOML.replace('find-links = ["wheels"]', "")
    text = text.replace("[pypi]\n", f"[pypi]\n{key} = {value}\n", 1)
    if key == "index-url":
        text = text.replace('index-url = "file:///nonexistent-mlenv-index/simple"\n', "")
    (project / "mlenv.toml").write_text(text)
    before = _snapshot([project / "mlenv.lock"])
    try:
        code, out, err = run_in_process(["lock", "--offline"], project, env)
    finally:
        after = _snapshot([project / "mlenv.lock"])
        _restore(project)
    _holds(code, out, err, [f"[pypi].{key}"], (1,))
    assert after == before


@pytest.mark.parametrize(
    "line",
    [f'find-links = ["{"y" * 300}"]', f'find-links = ["wheels/{"y" * 300}/x"]',
     f'extra-index-urls = ["file:///{"y" * 300}"]'],
)  # fmt: skip
def test_a_local_path_no_file_system_holds_is_refused_by_key(
    line: str, golden: tuple[Path, dict[str, str]]
) -> None:
    """Finding 3: a name over 255 bytes is the manifest's mistake, named with its key."""
    project, env = golden
    key = line.split(" ", 1)[0]
    text = GOLDEN_TOML.replace('find-links = ["wheels"]', line)
    if key != "find-links":
        text = text.replace("[pypi]\n", '[pypi]\nfind-links = ["wheels"]\n')
    (project / "mlenv.toml").write_text(text)
    try:
        code, out, err = run_in_process(["lock", "--offline"], project, env)
    finally:
        _restore(project)
    _holds(code, out, err, [f"[pypi].{key}[0]"], (1,))
    assert "255" in err, err


@pytest.mark.parametrize("line", ['find-links = ["/"]', 'find-links = ["file:///"]'])
def test_the_root_directory_as_find_links_is_read_not_a_crash(
    line: str, golden: tuple[Path, dict[str, str]]
) -> None:
    """Finding 4: "/" holds no wheel of hello, which the lock then says."""
    project, env = golden
    (project / "mlenv.toml").write_text(GOLDEN_TOML.replace('find-links = ["wheels"]', line))
    try:
        code, out, err = run_in_process(["lock", "--offline"], project, env)
    finally:
        _restore(project)
    _holds(code, out, err, ["hello"], (1,))


def test_an_export_to_a_name_too_long_for_its_temporary_is_refused(
    golden: tuple[Path, dict[str, str]],
) -> None:
    """Finding 5: the file system refuses the temporary beside a 250-byte name; mlenv says
    where it cannot write, and nothing is left there."""
    project, env = golden
    _restore(project)
    name = "r" * 250
    code, out, err = run_in_process(
        ["export", "--format", "requirements", "-o", name], project, env
    )
    _holds(code, out, err, [name], (1,))
    assert "hint:" in err
    assert not [p for p in project.iterdir() if p.name.startswith(f".{name}")]
    assert not (project / name).exists()


def test_a_manifest_with_a_byte_order_mark_says_so(golden: tuple[Path, dict[str, str]]) -> None:
    """Finding 6: the invisible first character is named, with how to save without it."""
    project, env = golden
    (project / "mlenv.toml").write_bytes(b"\xef\xbb\xbf" + GOLDEN_TOML.encode())
    try:
        code, out, err = run_in_process(["show"], project, env)
    finally:
        _restore(project)
    _holds(code, out, err, ["mlenv.toml"], (1,))
    assert "byte-order mark" in err
    assert "without" in err


def test_a_failed_command_in_a_subprocess_prints_no_traceback(
    golden: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The same invariant through ``python -m mlenv``, for one damaged lock of each kind."""
    from tests.support.cli import run_mlenv

    project, env = golden
    copy = tmp_path / "p"
    shutil.copytree(project, copy)
    (copy / "mlenv.lock").write_text(_lock_with_platforms("[]"))
    result = run_mlenv(["inspect", "mlenv.lock"], copy, env)
    _holds(result.returncode, result.stdout, result.stderr, ["target.platforms"], (1,))


@contextlib.contextmanager
def _read_only(directory: Path) -> Iterator[None]:
    """``directory`` bind-mounted read-only onto itself (a read-only checkout); always
    unmounted."""
    subprocess.run(["mount", "--bind", str(directory), str(directory)], check=True)
    try:
        subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(directory), str(directory)], check=True
        )
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=True)


@pytest.mark.parametrize(
    "args",
    [["export", "--format", "requirements", "-o", "req.txt"], ["lock", "--offline", "--upgrade"]],
)
def test_a_file_in_a_read_only_checkout_is_a_clear_error(
    args: list[str], golden: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Finding 5, as CI meets it: the project mounted read-only, the export or the re-lock
    says where it cannot write (it was exit 2 from the temporary's EROFS), and the file it
    would replace is left as it was."""
    project, env = golden
    copy = tmp_path / "p"
    shutil.copytree(project, copy)
    _restore(copy)
    before = _snapshot([copy / "req.txt", copy / "mlenv.lock"])
    with _read_only(copy):
        code, out, err = run_in_process(args, copy, env)
    _holds(code, out, err, [str(copy)], (1,))
    assert "Read-only file system" in err and "hint:" in err
    assert _snapshot([copy / "req.txt", copy / "mlenv.lock"]) == before


@pytest.mark.parametrize("side", ["old", "new"])
def test_diff_of_a_symlink_to_nothing_names_it(
    side: str, golden: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Finding 7: a lock named on the command line that is a symlink to a missing file (a
    checkout of a link to a generated lock) was taken for a file, and reading it ended in an
    internal error (FileNotFoundError)."""
    project, env = golden
    _restore(project)
    link = tmp_path / "gone.lock"
    link.symlink_to(tmp_path / "nowhere.lock")
    args = ["diff", str(link), "mlenv.lock"] if side == "old" else ["diff", "mlenv.lock", str(link)]
    code, out, err = run_in_process(args, project, env)
    _holds(code, out, err, [str(link)], (1,))
    assert "hint:" in err


@pytest.mark.parametrize("args", [["verify"], ["diff", str(GOLDEN / "mlenv.lock"), "mlenv.lock"]])
def test_a_lock_with_a_byte_order_mark_says_so(
    args: list[str], golden: tuple[Path, dict[str, str]]
) -> None:
    """Finding 8: a lock saved back by an editor with a byte-order mark was "Invalid statement"
    at 1:1 with the hint to re-lock from scratch (dropping every pin), when saving it without
    the mark is the whole fix."""
    project, env = golden
    (project / "mlenv.lock").write_bytes(b"\xef\xbb\xbf" + GOLDEN_LOCK.encode())
    try:
        code, out, err = run_in_process(args, project, env)
    finally:
        _restore(project)
    _holds(code, out, err, ["mlenv.lock"], (1,))
    assert "byte-order mark" in err and "without" in err


@contextlib.contextmanager
def _full_disk(directory: Path, keep: Path, data: bytes) -> Iterator[None]:
    """A small tmpfs at ``directory`` holding ``keep`` (``data``), then filled to the last
    byte; always unmounted."""
    directory.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(directory)], check=True)
    try:
        keep.write_bytes(data)
        with contextlib.suppress(OSError), (directory / "fill").open("wb", buffering=0) as fill:
            while True:  # ENOSPC ends it
                fill.write(b"\0" * 1024)
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=True)


@pytest.mark.parametrize("fmt", ["requirements", "cyclonedx"])
def test_an_export_on_a_full_disk_is_a_clear_error(
    fmt: str, golden: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Finding 9: the temporary beside the output is created, its write (or fsync) meets
    ENOSPC, and that was an internal error; it now says it cannot write there, and the export
    it would have replaced is left as it was, with no temporary beside it."""
    project, env = golden
    _restore(project)
    full = tmp_path / "full"
    output = full / "req.txt"
    with _full_disk(full, output, b"the export of yesterday\n"):
        code, out, err = run_in_process(
            ["export", "--format", fmt, "-o", str(output)], project, env
        )
        assert output.read_bytes() == b"the export of yesterday\n"
        assert sorted(p.name for p in full.iterdir()) == ["fill", "req.txt"]
    _holds(code, out, err, [str(full)], (1,))
    assert "No space left on device" in err and "hint:" in err
