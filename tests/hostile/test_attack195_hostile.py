"""Attack 195: the texts mlenv writes for other programs, held against those programs.

Found: ``mlenv diff --format markdown`` (a pull-request comment on a lock change) wrote what
the locks say as Markdown: a hand-edited lock's conda version ``1.0=h0<!--`` and build ``-->``
showed a changed record as ``1.0=h0 -> 1.0=h0``, a backtick, ``**`` or ``[x](https:y)`` became
markup and ``@team`` a mention. Each such text is now a code span (``diff._code``), and the
rendered comment says exactly what the text rendering says (markdown-it, CommonMark with GFM
tables, as the oracle).

Held: a find-links directory spelled with blanks, quotes, ``$()``, backticks, ``;``, `` -r``
or a backslash is read by pip and uv from an exported requirements file as the directory it
is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from mlenv import lockfile
from mlenv.diff import PackageChange, compare, render_markdown, render_text
from mlenv.export import requirements_txt
from mlenv.lockfile import Lock, LockedPlatform, LockTarget
from tests.support.cli import run_mlenv
from tests.support.locks import conda_record, package
from tests.support.wheels import build_wheel

CHANNEL = "https://conda.anaconda.org/conda-forge"
TARGET = LockTarget(
    "3.11",
    "2.28",
    ("linux-64",),
    "first-index",
    ("https://pypi.org/simple",),
    (),
    ("app", "lib"),
    conda_channels=(CHANNEL,),
    conda_requirements=("evil", "zlib"),
)


def _lock(lib: str, evil: tuple[str, str], cuda: str | None) -> Lock:
    digest = {"1.0": "b" * 64}.get(lib, "c" * 64)
    packages = (package("app"), package("lib", lib, sha256=digest, cuda=cuda))
    conda = (
        conda_record("evil", *evil, sha256="1" * 64 if evil == ("1.0", "h0") else "3" * 64),
        conda_record("zlib", sha256="2" * 64),
    )
    return Lock("sha256:" + "0" * 64, TARGET, (LockedPlatform("linux-64", packages, conda),))


def _said(tokens: Sequence[Token]) -> str:
    """The text a reader sees of one inline token's children: text, code and line breaks."""
    return "".join(" " if t.type == "softbreak" else t.content for t in tokens)


def _read(markdown: str) -> tuple[list[list[str]], list[str], set[str]]:
    """The table rows' cells and the list items as GitHub-flavoured Markdown shows them, and
    every kind of inline token used (html_inline, link_open... are markup; an ``@`` outside
    code is a mention on GitHub)."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    rows: list[list[str]] = []
    items: list[str] = []
    kinds: set[str] = set()
    cell = item = False
    for token in tokens:
        if token.type in ("tr_open", "td_open", "list_item_open"):
            rows += [[]] if token.type == "tr_open" else []
            cell, item = token.type == "td_open", token.type == "list_item_open"
        if token.type == "html_block":
            kinds.add("html_block")
        if token.type == "inline" and (cell or item):
            children = token.children or ()
            kinds |= {child.type for child in children}
            kinds |= {"mention" for c in children if c.type == "text" and "@" in c.content}
            (rows[-1] if cell else items).append(_said(token.children or ()))
            cell = item = False
    return [row for row in rows if row], items, kinds


def _meant(change: PackageChange, text_line: str) -> list[str]:
    """The row's cells as the text rendering says them (its line holds the same pieces)."""
    version = (
        f"{change.old.version} -> {change.new.version}"
        if change.old and change.new
        else (change.new or change.old).version  # type: ignore[union-attr]
    )
    assert version in text_line
    return [change.kind, f"{change.name} ({change.source})", version]


def _check(old: Lock, new: Lock) -> None:
    diff = compare(old, new, "main", "HEAD")
    rows, items, kinds = _read(render_markdown(diff))
    text = render_text(diff).splitlines()
    (platform,) = diff.platforms
    assert [row[:3] for row in rows] == [
        _meant(change, line) for change, line in zip(platform.changes, text[2:], strict=False)
    ]
    assert items == text[2 + len(platform.changes) :]
    assert kinds <= {"text", "code_inline", "softbreak"}, kinds


SHAPES = [
    (("1.0=h0<!--", "-->"), None),  # a changed record shown as unchanged
    (("2.0", "h0`**x**`"), None),  # a backtick closing the code span, then emphasis
    (("[ok](https:evil.example)", "h0"), None),  # a link
    (("2.0", "@org"), None),  # a mention on GitHub
    (("1.0<details><summary>ok", "h0"), "12.4<details>"),
    (("2.0", "h0"), "`12.4` ``|`` x"),  # backtick runs, a pipe
    (("2.0", "h0"), " 12.4 "),  # blanks around the code span's text are kept
]


@pytest.mark.parametrize(("evil", "cuda"), SHAPES)
def test_a_lock_writes_no_markup_into_the_markdown_diff(
    tmp_path: Path, evil: tuple[str, str], cuda: str | None
) -> None:
    """Through the lock reader and `mlenv diff --format markdown`: the comment's rows and
    lines are the text rendering's, with no HTML, link or emphasis."""
    old, new = _lock("1.0", ("1.0", "h0"), None), _lock("6.6.6", evil, cuda)
    for name, lock in (("old.lock", old), ("new.lock", new)):
        (tmp_path / name).write_text(lockfile.render(lock))
    args = ["diff", "old.lock", "new.lock"]
    shown = run_mlenv([*args, "--format", "markdown"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    rows, items, kinds = _read(shown.stdout)
    text = run_mlenv(args, tmp_path).stdout.splitlines()
    version = f"1.0=h0 -> {evil[0]}={evil[1]}"
    assert rows[0][:3] == [rows[0][0], "evil (conda)", version]
    assert rows[1][:3] == ["upgraded", "lib (pypi)", "1.0 -> 6.6.6"]
    assert items == text[4:]
    assert kinds <= {"text", "code_inline", "softbreak"}, kinds
    if cuda is not None:
        assert rows[1][4] == f"CUDA none -> {cuda}"


_CONDA_PART = st.text(
    st.sampled_from([chr(c) for c in range(0x21, 0x7F) if chr(c) not in "/\\"]), min_size=1
)


@settings(max_examples=300, deadline=None)
@given(
    version=_CONDA_PART,
    build=_CONDA_PART,
    cuda=st.none() | st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"])),
)
def test_the_markdown_diff_says_what_the_text_diff_says(
    version: str, build: str, cuda: str | None
) -> None:
    """Any conda version and build a lock reads (printable ASCII, no blank or slash) and any
    CUDA label: GFM shows each row and line as the text rendering has it."""
    _check(_lock("1.0", ("1.0", "h0"), None), _lock("6.6.6", (version, build), cuda))


_DIRECTORIES = ["a b", "it's", "$(touch z)", "`id`", "x -r y", "a;b", "a\\b", 'a\\"b', " lead"]


@pytest.mark.parametrize("directory", _DIRECTORIES)
def test_an_exported_find_links_directory_is_the_one_pip_and_uv_read(
    tmp_path: Path, directory: str
) -> None:
    """Held: pip and uv take the one wheel of the directory the requirements file names."""
    links = tmp_path / directory
    links.mkdir()
    filename, data = build_wheel("demo", "1.0")
    (links / filename).write_bytes(data)
    app = package("demo", url=f"file://{links}/{filename}", index=str(links), filename=filename)
    target = LockTarget("3.11", "2.28", ("linux-64",), "first-index", (), (str(links),), ())
    lock = Lock("sha256:" + "0" * 64, target, (LockedPlatform("linux-64", (app,)),))
    text = requirements_txt(lock, "linux-64")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(text.split("demo==")[0] + "demo==1.0\n")
    env = {**os.environ, "PIP_CONFIG_FILE": "/dev/null", "UV_NO_CONFIG": "1"}
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(tmp_path / "out")]
    taken = subprocess.run([*pip, "-r", str(requirements)], env=env, capture_output=True)
    assert taken.returncode == 0, taken.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == [filename]
    uv = ["uv", "pip", "compile", "-q", "--no-header", str(requirements)]
    compiled = subprocess.run(uv, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    assert compiled.stdout.split() == ["demo==1.0", "#", "via", "-r", "requirements.txt"]
