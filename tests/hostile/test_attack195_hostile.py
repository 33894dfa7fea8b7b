"""Attack 195: the texts mlenv writes for other programs, held against those programs.

Found: ``mlenv diff --format markdown`` (a pull-request comment on a lock change) wrote what
the locks say as Markdown: a hand-edited lock's conda version ``1.0=h0<!--`` and build ``-->``
showed a changed record as ``1.0=h0 -> 1.0=h0``, a backtick, ``**`` or ``[x](https:y)`` became
markup and ``@team`` a mention. Each such text is now a code span (``diff._code``), and the
rendered comment says exactly what the text rendering says (markdown-it, CommonMark with GFM
tables, as the oracle).

A base image's config holding the JSON escape of a lone surrogate (``"\\udc80"``) in a label,
an Env entry, its Entrypoint or a history line was read, and the build's config, which
inherits them, failed to encode with an internal error (Go's readers, skopeo here, take it as
U+FFFD): every image document with one is refused as invalid JSON (``oci.model.parse_json``).

A base config whose runtime holds ``"env"``, ``"ENV"`` or ``"Label\u017f"`` (a long s) alone,
with no ``Env`` or ``Labels`` beside it, passed pass 101's check (two spellings in the base): the
image config then held the base's spelling beside the ``Env`` and ``Labels`` mlenv writes, and
Go's readers (skopeo here) ran the base's ``LD_PRELOAD`` and PATH without the environment, or
showed another lock's sha256 label. Such a key is refused (``oci.base_config.config_problem``),
and so is a history entry's ``Empty_Layer`` or ``CREATED_BY``: Python counted the entry as a
layer's where Go reads it empty, so the build named no base layer and Go paired mlenv's own
history line with the base's layer (pass 114's pairing).

A wheel's License-Expression that is no SPDX expression (``MIT AND ((``, ``Proprietary``,
``MIT OR``) was written as the SBOM's CycloneDX ``expression``, which SPDX readers parse; it
is now a licence's name, as cyclonedx-python-lib's factory makes it (``sbom._spdx``), and a
valid one is written in PEP 639's canonical spelling.

Held: a find-links directory spelled with blanks, quotes, ``$()``, backticks, ``;``, `` -r``
or a backslash is read by pip and uv from an exported requirements file as the directory it
is; conda-lock.yml says every channel, version and dependency spec a record can hold as
PyYAML reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model.license import DisjunctiveLicense
from hypothesis import example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from mlenv import lockfile_render
from mlenv.conda.export import conda_lock_yml
from mlenv.diff import PackageChange, compare, render_markdown, render_text
from mlenv.export import requirements_txt
from mlenv.lockfile import Lock, LockedPackage, LockedPlatform, LockTarget
from mlenv.oci.model import OciError, canonical_json
from mlenv.oci.read import read_base
from mlenv.oci.write import ImageSpec, image_config
from mlenv.sbom import wheel_licences
from tests.support.cli import run_mlenv
from tests.support.golden import fetched_golden
from tests.support.images import base_with
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


def _read(markdown: str) -> tuple[list[str], list[list[str]], list[str], set[str]]:
    """The title's code spans, the table rows' cells and the list items as GitHub-flavoured
    Markdown shows them, and every kind of inline token used (html_inline, link_open... are
    markup; an ``@`` outside code is a mention on GitHub)."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    title: list[str] = []
    rows: list[list[str]] = []
    items: list[str] = []
    kinds: set[str] = set()
    place = ""
    for token in tokens:
        if token.type in ("heading_open", "tr_open", "td_open", "list_item_open"):
            rows += [[]] if token.type == "tr_open" else []
            place = token.type
        if token.type == "html_block":
            kinds.add("html_block")
        if token.type == "inline" and place in ("heading_open", "td_open", "list_item_open"):
            children = token.children or ()
            kinds |= {child.type for child in children}
            kinds |= {"mention" for c in children if c.type == "text" and "@" in c.content}
            if place == "heading_open":
                title = [c.content for c in children if c.type == "code_inline"]
            else:
                (rows[-1] if place == "td_open" else items).append(_said(children))
            place = ""
    return title, [row for row in rows if row], items, kinds


def _meant(change: PackageChange, text_line: str) -> list[str]:
    """The row's cells as the text rendering says them (its line holds the same pieces)."""
    version = (
        f"{change.old.version} -> {change.new.version}"
        if change.old and change.new
        else (change.new or change.old).version  # type: ignore[union-attr]
    )
    assert version in text_line
    return [change.kind, f"{change.name} ({change.source})", version]


def _check(old: Lock, new: Lock, labels: tuple[str, str] = ("main", "HEAD")) -> None:
    diff = compare(old, new, *labels)
    title, rows, items, kinds = _read(render_markdown(diff))
    text = render_text(diff).splitlines()
    (platform,) = diff.platforms
    assert title == list(labels)
    assert [row[:3] for row in rows] == [
        _meant(change, line) for change, line in zip(platform.changes, text[2:], strict=False)
    ]
    cuda = {c.name: c.new.cuda for c in platform.changes if c.new and c.new.cuda}
    assert rows[-1][4] == (f"CUDA none -> {cuda['lib']}" if "lib" in cuda else "")
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
        (tmp_path / name).write_text(lockfile_render.render(lock))
    args = ["diff", "old.lock", "new.lock"]
    shown = run_mlenv([*args, "--format", "markdown"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    _, rows, items, kinds = _read(shown.stdout)
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


_LABEL = st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]), min_size=1)


@settings(max_examples=300, deadline=None)
@given(
    version=_CONDA_PART,
    build=_CONDA_PART,
    cuda=st.none() | _LABEL,
    labels=st.tuples(_LABEL, _LABEL),
)
@example(version="1", build="`", cuda="  ", labels=("  ", " `a` "))
def test_the_markdown_diff_says_what_the_text_diff_says(
    version: str, build: str, cuda: str | None, labels: tuple[str, str]
) -> None:
    """Any conda version and build a lock reads (printable ASCII, no blank or slash), any CUDA
    label and any label of the two sides (a git revision may hold a backtick): GFM shows each
    as the text rendering has it."""
    _check(_lock("1.0", ("1.0", "h0"), None), _lock("6.6.6", (version, build), cuda), labels)


_DIRECTORIES = [
    *("a b", "it's", "$(touch z)", "`id`", "x -r y", "a;b", "a\\b", 'a\\"b', " lead"),
    *("a${home}b", "a$HOME", "a${HOME-x}b"),  # pip and uv expand ${NAME} of capitals only
]


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


def _runtime(key: str, value: object) -> Callable[[dict[str, object]], None]:
    def change(config: dict[str, object]) -> None:
        runtime = config["config"]
        assert isinstance(runtime, dict)
        runtime[key] = value

    return change


def _history(config: dict[str, object]) -> None:
    config["history"] = [{"created_by": "RUN \udc80", "empty_layer": True}]


LONE = {
    "label value": _runtime("Labels", {"maintainer": "x\udc80y"}),
    "label key": _runtime("Labels", {"\ud800": "x"}),
    "Env": _runtime("Env", ["PATH=/usr/bin", "A=\udfff"]),
    "Entrypoint": _runtime("Entrypoint", ["/bin/sh\udc2f"]),
    "history": _history,
}


def _ascii_json(value: object) -> bytes:
    return json.dumps(value).encode()  # a lone surrogate as its \\u escape


def _go_config(layout: Path) -> dict[str, object]:
    """The config as Go reads it (skopeo)."""
    shown = subprocess.run(
        ["skopeo", "inspect", "--config", f"oci:{layout}:latest"], capture_output=True, check=True
    )
    config = json.loads(shown.stdout)
    assert isinstance(config, dict)
    return config


@pytest.mark.parametrize("shape", sorted(LONE))
def test_a_base_config_with_a_lone_surrogate_is_refused(
    small_image: Path, tmp_path: Path, shape: str
) -> None:
    """Go reads U+FFFD where Python reads the surrogate, which no UTF-8 spells: `read_base`
    refuses the base (before: read, and the image config crashed the build)."""
    base = base_with(small_image, tmp_path, LONE[shape], _ascii_json)
    assert "\ufffd" in json.dumps(_go_config(base), ensure_ascii=False)
    with pytest.raises(OciError, match="lone surrogate"):
        read_base(base, platform="linux-64")


def test_a_base_config_with_a_surrogate_pair_is_written_as_go_reads_it(
    small_image: Path, tmp_path: Path
) -> None:
    """Held: ``\\ud83d\\ude00`` is one character (U+1F600) to both readers, and the image
    config inheriting it holds it as UTF-8."""
    base = base_with(small_image, tmp_path, _runtime("Labels", {"icon": "\U0001f600"}), _ascii_json)
    runtime = _go_config(base)["config"]
    assert isinstance(runtime, dict) and runtime["Labels"] == {"icon": "\U0001f600"}
    read = read_base(base, platform="linux-64")
    spec = ImageSpec("x", "linux-64", "/opt/env", 0, "0" * 64)
    written = canonical_json(image_config(spec, [], read))
    assert json.loads(written)["config"]["Labels"]["icon"] == "\U0001f600"


EXPRESSIONS = {
    "MIT AND ((": {"license": {"name": "MIT AND (("}},
    "Proprietary": {"license": {"name": "Proprietary"}},
    "MIT OR": {"license": {"name": "MIT OR"}},
    "BSD": {"license": {"name": "BSD"}},
    "mit or apache-2.0": {"expression": "MIT OR Apache-2.0"},
    "GPL-2.0-only WITH Classpath-exception-2.0": {
        "expression": "GPL-2.0-only WITH Classpath-exception-2.0"
    },
    "BSD-3-Clause": {"expression": "BSD-3-Clause"},
}


@pytest.mark.parametrize("said", sorted(EXPRESSIONS))
def test_a_license_expression_is_written_as_the_reference_library_reads_it(
    tmp_path: Path, said: str
) -> None:
    """The SBOM states an SPDX expression only where the wheel's License-Expression is one;
    cyclonedx-python-lib's factory takes the same text as a named licence exactly then."""
    filename, data = build_wheel("demo", "1.0", extra_metadata=[f"License-Expression: {said}"])
    sha256 = hashlib.sha256(data).hexdigest()
    (tmp_path / sha256).write_bytes(data)
    url = f"https://files.example/{filename}"
    entry = LockedPackage(
        "demo", "1.0", filename, url, sha256, len(data), "https://pypi.org/simple"
    )
    (written,) = wheel_licences(lambda digest: tmp_path / digest)(entry)
    assert written == EXPRESSIONS[said]
    reference = LicenseFactory().make_from_string(said)
    named = isinstance(reference, DisjunctiveLicense) and reference.id is None
    assert named == ("license" in written)


_ANY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(channel=_ANY_TEXT, version=_ANY_TEXT, depends=st.lists(_ANY_TEXT, max_size=3))
def test_conda_lock_yml_says_what_the_record_holds(
    channel: str, version: str, depends: list[str]
) -> None:
    """Held: any text (line separators, NEL, quotes, ``---``, ``&a``, ``!!python``, ``#``) as
    a channel, version or dependency spec reads back from the YAML as itself."""
    record = replace(conda_record("zlib"), version=version, depends=tuple(depends))
    document = yaml.safe_load(conda_lock_yml({"linux-64": [record]}, [channel], "h"))
    assert document["metadata"]["channels"] == [{"url": channel, "used_env_vars": []}]
    (package,) = document["package"]
    assert package["version"] == version
    names = [spec.strip().partition(" ")[0] for spec in depends]
    assert sorted(package["dependencies"]) == sorted(set(names))


SOURCE = {"org.opencontainers.image.source": "https://evil.example/other"}
ALONE = {  # a spelling after the image's own in its sorted config is the one Go keeps
    "env": ["LD_PRELOAD=/x.so", "PATH=/usr/bin"],
    "ENV": ["LD_PRELOAD=/x.so"],  # before it: a reader keeping the first takes it
    "Label\u017f": {"dev.mlenv.lock-sha256": "b" * 64},
    "LABELS": SOURCE,  # before it: Go merges the two maps, the base's source label kept
}
MLENV_RUNTIME = {"Env": ["PATH=/opt/env/bin"], "Labels": {"dev.mlenv.lock-sha256": "a" * 64}}


def _alone(key: str, value: object) -> Callable[[dict[str, object]], None]:
    """The base's runtime with ``key`` in place of its Env and Labels."""

    def change(config: dict[str, object]) -> None:
        config["config"] = {key: value}

    return change


@pytest.mark.parametrize("key", sorted(ALONE))
def test_a_base_key_go_folds_onto_env_or_labels_is_refused_alone(
    small_image: Path, tmp_path: Path, key: str
) -> None:
    """Beside mlenv's Env and Labels, Go reads the base's spelling in their place (the
    oracle); `read_base` refuses such a base (before: built on)."""
    both = {**MLENV_RUNTIME, key: ALONE[key]}
    image = base_with(small_image, tmp_path / "image", lambda c: c.update(config=both))
    written = "Env" if key.casefold() == "env" else "Labels"
    seen = _go_config(image)["config"]
    assert isinstance(seen, dict)
    if key != "ENV":
        assert seen[written] != MLENV_RUNTIME[written]
    base = base_with(small_image, tmp_path / "base", _alone(key, ALONE[key]))
    with pytest.raises(OciError, match=f"has config key {key!r}, which Go's JSON readers"):
        read_base(base, platform="linux-64")


def test_a_base_key_go_does_not_fold_is_built_on(small_image: Path, tmp_path: Path) -> None:
    """Held: ``Env\u200b`` is no field to Go: the image config built on it is read by Go with
    mlenv's Env and Labels."""
    base = base_with(small_image, tmp_path / "base", _alone("Env\u200b", ["LD_PRELOAD=/x.so"]))
    spec = ImageSpec("x", "linux-64", "/opt/env", 0, "a" * 64)
    config = image_config(spec, [], read_base(base, platform="linux-64"))
    image = base_with(small_image, tmp_path / "image", lambda c: c.update(config))
    seen = _go_config(image)["config"]
    assert isinstance(seen, dict)
    assert (seen["Env"], seen["Labels"]) == (config["config"]["Env"], config["config"]["Labels"])


@pytest.mark.parametrize("key", ["Empty_Layer", "EMPTY_LAYER", "Created_By"])
def test_a_history_key_go_reads_otherwise_is_refused(
    small_image: Path, tmp_path: Path, key: str
) -> None:
    """A one-layer base whose one history entry is empty to Go and a layer's to Python (or
    named to Go and unnamed to Python): `read_base` refuses it (before: built on, and Go paired
    mlenv's history line with the base's layer)."""
    entry = {"created_by": "ENV x", "empty_layer": True}
    spelled = {key if k.casefold() == key.casefold() else k: v for k, v in entry.items()}
    base = base_with(small_image, tmp_path, lambda c: c.update(history=[spelled]))
    history = _go_config(base)["history"]
    assert history == [entry]  # Go: an empty entry, no line for the layer
    with pytest.raises(OciError, match=f"has history\\[0\\] key {key!r}, which Go's"):
        read_base(base, platform="linux-64")


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return fetched_golden(tmp_path_factory.mktemp("golden"))


BUILT_ON = {
    "lone surrogate": (LONE["label value"], _ascii_json, "lone surrogate (\\udc80)"),
    "env alone": (_alone("env", ALONE["env"]), canonical_json, "has config key 'env'"),
}


@pytest.mark.parametrize("shape", sorted(BUILT_ON))
def test_build_on_such_a_base_says_why(
    small_image: Path, tmp_path: Path, golden: tuple[Path, dict[str, str]], shape: str
) -> None:
    """Through `mlenv build`: a user error naming the base's config (before: exit 2, an
    internal UnicodeEncodeError writing the image's config; an image Go runs with the base's
    env)."""
    change, dump, message = BUILT_ON[shape]
    project = Path(shutil.copytree(golden[0], tmp_path / "project", symlinks=True))
    base = base_with(small_image, tmp_path, change, dump)
    with (project / "mlenv.toml").open("a") as manifest:
        manifest.write(f'[build]\nbase-image = "{base}"\n')
    result = run_mlenv(["build", "--offline"], project, golden[1])
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
