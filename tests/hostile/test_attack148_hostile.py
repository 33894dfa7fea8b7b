"""Attack 148: text a hand-edited lock (a pull request) carries into the files other tools read.

Findings (input: what mlenv did -> what it does now):

- A wheel entry's ``version = "1.0\\u2028"`` (or ``"1.0\\n"``, ``"1.0\\x85"``, ``" 1.0"``: any
  Unicode blank around a version). packaging's ``Version`` strips Unicode whitespace, so the
  lock's consistency check (version equal to the file's) passed; ``lock --check`` and
  ``verify`` said OK, and ``export --format requirements`` wrote ``alpha==1.0`` and its
  ``--hash`` on two lines, since pip splits a requirements file with ``str.splitlines`` (U+2028,
  U+0085, VT, FF, FS... end a line). pip then warned "has --hash but no requirement, and will be
  ignored": a lock whose every version ends so gives a requirements file with no hash pin at
  all, which ``pip install -r`` (the header's ``--require-hashes`` left off) installs unpinned
  from whatever the index serves. The SBOM carried the blank into ``version`` too. -> the lock
  reader refuses the entry (exit 1, naming the key).
- A wheel entry's name spelled with a character packaging lowercases to ASCII (KELVIN SIGN
  U+212A is ``k``): ``canonicalize_name`` matched the file's name, and the exports wrote a
  requirement pip cannot parse and an SBOM component under another spelling. -> refused.
- A local conda channel whose directory holds '#' or '?' (``channels = ["./ch#1"]``): rattler
  solved from ``ch#1``, the lock's [target] recorded ``./ch`` (``conda.records.public_url`` split
  the path as a URL), and every command after `mlenv lock` refused that fresh lock as stale. ->
  a channel's directory is recorded as spelled.
- A manifest requirement whose marker literal holds DEL (``alpha; platform_release !=
  '\\u007f'``, or a conda MatchSpec ``purepkg #\\u007f`` whose comment rattler drops): the lock's
  writer escaped strings as JSON does, which leaves DEL raw, and TOML forbids it; `mlenv lock`
  refused the lock it had just made, blaming the index or channel. U+2028, U+0085 and bidi
  overrides were written raw, invisible in a review of the lock's diff. -> the writer escapes
  every character that is not printable (``\\uXXXX``); tomllib reads each back as itself.
  And ``[conda] dependencies`` refuses a MatchSpec holding a control or format character where
  it is typed (it was any non-empty string).
- ``init --from environment.yml`` with a spec holding '"' and a control character (``numpy
  "1.0"\\x7f``): written as a TOML literal string, which cannot hold one; tomlkit raised and
  init exited 2 ("internal error"). -> a basic string, and the manifest check refuses the spec
  naming the imported file (exit 1, with a hint).
- ``export --format conda-lock`` wrote each scalar as JSON's ASCII escapes: a character past
  U+FFFF (a local channel ``./ch😀``) became a surrogate pair, which PyYAML and ruamel read as
  two lone surrogates, a path that does not exist. -> printable text as it is, anything else
  as YAML's ``\\u``/``\\U`` escapes; both readers read every scalar back as written.
- A manifest index URL with a backslash before an '@' (``https://pypi.internal.example\\@
  evil.example/simple``, in index-url, extra-index-urls, find-links or sources): httpx and
  urlsplit read the part before the '@' as a user name, so `mlenv lock` fetched from
  evil.example and recorded ``https://evil.example/simple`` in the lock and the exports, while
  uv 0.13.9 (seen: it asked 127.0.0.1 for ``/@nothing.invalid/simple/alpha/``), pip's urllib3
  and a reviewer's browser end the host at the backslash. -> the manifest refuses a backslash
  in a URL, as ``origins.follow`` already did in an index page's links.
- A lock entry named ``Foo_Bar`` (its file's name by PEP 503: lock --check and verify say OK):
  ``export --format pylock`` exited 1 with "the exported pylock.toml is invalid", an error
  that blames mlenv and names no key, since PEP 751 names are normalised. -> pylock.toml
  writes the normalised name; packaging and uv read it.
- ``find-links = ["tab\\there"]`` (or a channel, or a ``file:`` URL escaping ``%09``): the
  manifest took it, and `mlenv lock` refused every file under it with a hint about indexes and
  redirects. -> refused at the key.
- A noarch python conda package whose link.json lists ``tool\\x1c = tool:main``: the vetting
  stripped the name with Python's str.strip (U+001C-U+001F are blanks to it) and claimed
  ``bin/tool``; rattler trims Unicode White_Space only and wrote ``bin/tool\\x1c``, a control
  character in a file name that no check of the path ledger saw. -> the name is judged as
  rattler trims it, and refused.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.pylock import Pylock
from ruamel.yaml import YAML

from mlenv.conda.export import conda_lock_yml
from mlenv.conda.install import install
from mlenv.conda.records import CondaRecord
from mlenv.conda.solve import from_repodata
from mlenv.errors import ManifestError, MlenvError
from mlenv.export import pylock_toml
from mlenv.lockfile import LockError
from mlenv.lockfile_read import loads
from mlenv.lockfile_render import render
from mlenv.manifest_read import loads as manifest_loads
from mlenv.report import MemoryReporter
from tests.support.cli import run_mlenv
from tests.support.conda_channel import (
    build_conda_package,
    repodata_record,
    write_channel,
)
from tests.support.conda_project import channel_packages
from tests.support.fetch_project import locked_index_and_links_project
from tests.support.locks import package, sample
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.hostile

# Every character Python's re (so packaging's version pattern, ``^\s*...\s*$``) takes as a blank.
BLANKS = [chr(c) for c in range(0x110000) if re.fullmatch(r"\s", chr(c))]


def _with_entry(name: str, version: str, filename: str) -> str:
    """``sample()``'s lock with its ``app`` entry spelled as given, rendered as mlenv writes."""
    lock = sample()
    entry = replace(
        package("app", "1.0", dependencies=("lib",)),
        name=name,
        version=version,
        filename=filename,
        url=f"https://files.example/{filename}",
    )
    platforms = [replace(p, packages=(entry, *p.packages[1:])) for p in lock.platforms]
    return render(lock.with_platforms(platforms))


def _refused(text: str, key: str) -> str:
    with pytest.raises(LockError) as caught:
        loads(text)
    shown = "\n".join(f"{p.where}: {p.message}" for p in caught.value.problems)
    assert "platform.linux-64.package[" in shown, shown
    assert key in shown, shown
    return shown


@settings(max_examples=150, deadline=None)
@given(
    version=st.sampled_from(["1.0", "1.0+cu121", "2!1.0.post1.dev3", "1.0rc1"]),
    before=st.text(st.sampled_from(BLANKS), max_size=2),
    after=st.text(st.sampled_from(BLANKS), max_size=2),
)
def test_a_version_with_blanks_around_it_is_refused(version: str, before: str, after: str) -> None:
    """packaging reads each of these as the file's version; pip reads a line break in it."""
    if not before + after:
        assert loads(_with_entry("app", version, f"app-{version}-py3-none-any.whl"))
        return
    spelled = before + version + after
    shown = _refused(_with_entry("app", spelled, f"app-{version}-py3-none-any.whl"), "version")
    assert "\u2028" not in shown and "\n" not in shown.splitlines()[0]  # the message is one line


@pytest.mark.parametrize("name", ["\u212aiwi", "\u212aIWI", "k\u0131wi", "kiwi\u200b"])
def test_a_name_packaging_folds_to_the_files_is_refused(name: str) -> None:
    """KELVIN SIGN lowers to ``k``; a dotless i or a zero-width space never matched, and must
    stay refused, whatever packaging does with them."""
    _refused(_with_entry(name, "1.0", "kiwi-1.0-py3-none-any.whl"), "name")


def test_plain_spellings_still_load() -> None:
    """What real locks hold: any case in names; PEP 440's long forms and local versions."""
    for name, version, stem in [
        ("App", "1.0", "app-1.0"),
        ("APP", "1.0.0+cu121.torch2.4", "app-1.0.0+cu121.torch2.4"),
        ("app", "v1.0-1", "app-1.0.post1"),
    ]:
        assert loads(_with_entry(name, version, f"{stem}-py3-none-any.whl"))


@pytest.mark.parametrize("blank", ["\\u2028", "\\n", "\\u0085", "\\u000b"])  # TOML escapes
def test_cli_refuses_the_edited_lock_before_any_export(tmp_path: Path, blank: str) -> None:
    """Through the real CLI: ``lock --check``, ``verify`` and every export exit 1 naming the
    lock's key, so no requirements file with a detached ``--hash`` line is ever written."""
    project, text = locked_index_and_links_project(tmp_path)
    edited = text.replace(
        'version = "1.0"\nfilename = "alpha', f'version = "1.0{blank}"\nfilename = "alpha'
    )
    assert edited != text
    (project / "mlenv.lock").write_text(edited, encoding="utf-8")
    for args in (
        ["lock", "--check"],
        ["verify"],
        ["export", "--format", "requirements", "-o", "req.txt"],
        ["export", "--format", "pylock", "-o", "pylock.toml"],
        ["export", "--format", "cyclonedx", "-o", "sbom.json"],
    ):
        result = run_mlenv(args, cwd=project)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert "mlenv.lock" in result.stderr and "version" in result.stderr, result.stderr
    assert not any((project / name).exists() for name in ("req.txt", "pylock.toml", "sbom.json"))


@pytest.mark.parametrize("directory", ["ch#1", "ch?x", "a#b?c"])
def test_a_local_channel_named_with_a_hash_or_question_mark_stays_itself(
    tmp_path: Path, directory: str
) -> None:
    """``channels = ["./ch#1"]``: rattler solved from the directory ``ch#1``, but the lock's
    [target] recorded the channel as ``./ch`` (its '#1' read as a URL's fragment), so the lock
    `mlenv lock` had just written was refused as stale by every later command. The channel is
    recorded as spelled, and the explicit spec names the file that is there."""
    channel = tmp_path / directory
    channel.mkdir()
    write_channel(channel, [build_conda_package("purepkg", "1.0", "0", files={"x.txt": b"x\n"})])
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "c"\npython = "3.11"\n'
        f'[conda]\nchannels = ["./{directory}"]\ndependencies = ["purepkg"]\n'
    )
    assert run_mlenv(["lock"], tmp_path).returncode == 0
    assert f'conda-channels = ["./{directory}"]' in (tmp_path / "mlenv.lock").read_text()
    checked = run_mlenv(["lock", "--check"], tmp_path)
    assert checked.returncode == 0, checked.stderr
    exported = run_mlenv(["export", "--format", "explicit"], tmp_path)
    assert exported.returncode == 0, exported.stderr
    url, _, sha256 = exported.stdout.splitlines()[-1].rpartition("#")
    path = Path(unquote(urlsplit(url).path))
    assert path.parent.parent == channel.resolve()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256


# Characters JSON's escaping leaves raw: DEL and C1 controls (TOML refuses DEL), line and
# paragraph separators, bidi and zero-width format characters, a tag character.
RAW_IN_JSON = ["\x7f", "\x85", "\x9b", "\u2028", "\u2029", "\u202e", "\u200b", "\U000e0041"]


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(
        st.one_of(st.sampled_from(RAW_IN_JSON), st.characters(codec="utf-8")),
        max_size=12,
    )
)
def test_any_text_in_a_lock_reads_back_as_itself_and_shows_as_printable(text: str) -> None:
    """The lock's writer against tomllib (what uv, pip's pylock reader and every TOML tool
    use): a requirement's marker literal may hold any character, and DEL was written raw, so
    `mlenv lock` wrote a lock no TOML reader (its own included) could read. Every character is
    read back as itself, and the file holds no character a terminal or diff would hide."""
    requirement = f"app; platform_release != '{text.replace(chr(39), '')}'"
    lock = sample()
    lock = replace(lock, target=replace(lock.target, requirements=(requirement,)))
    rendered = render(lock)
    assert tomllib.loads(rendered)["target"]["requirements"] == [requirement]
    assert all(line.isprintable() for line in rendered.split("\n")), rendered


@pytest.mark.parametrize("escape", ["\\u007f", "\\u2028", "\\u202e", "\\u0085"])
def test_a_marker_with_a_hidden_character_is_refused_before_the_lock(
    tmp_path: Path, escape: str
) -> None:
    """Through the real CLI: `mlenv lock` of ``alpha; platform_release != '\\u007f'`` said
    "not written: the indexes and channels answered a lock mlenv would refuse to read" and
    blamed the index; with U+2028 it wrote the separator raw into [target].requirements.
    Pass 148 wrote its escape; since pass 158 the manifest refuses the character where it is
    typed, naming its code point, and no lock is written."""
    project, _ = locked_index_and_links_project(tmp_path)
    manifest = project / "mlenv.toml"
    spelled = f"\"alpha; platform_release != '{escape}'\""
    manifest.write_text(manifest.read_text().replace('"alpha"', spelled, 1))
    (project / "mlenv.lock").unlink(missing_ok=True)
    locked = run_mlenv(["lock"], project)
    assert locked.returncode == 1, locked.stderr
    assert f"U+{escape[2:].upper()}" in locked.stderr and "[pypi].dependencies" in locked.stderr
    assert not (project / "mlenv.lock").exists()


HIDDEN = ["\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u202e", "\u200b", "\u2066", "\ufeff"]


@settings(max_examples=100, deadline=None)
@given(
    spec=st.sampled_from(["purepkg", "purepkg >=1.0", "purepkg #", 'purepkg[version=">=1"]']),
    hidden=st.sampled_from(HIDDEN),
    at=st.integers(min_value=0, max_value=30),
)
def test_a_match_spec_with_a_hidden_character_is_refused_where_it_is_typed(
    spec: str, hidden: str, at: int
) -> None:
    """``[conda] dependencies``: rattler drops a ``# comment`` unread, so ``purepkg #\\x7f``
    locked, and whatever a bidi override or line separator hides there no review sees."""
    spelled = spec[:at] + hidden + spec[at:]
    text = (
        '[environment]\nname = "c"\npython = "3.11"\n'
        f'[conda]\nchannels = ["conda-forge"]\ndependencies = [{json.dumps(spelled)}]\n'
    )
    with pytest.raises(ManifestError) as caught:
        manifest_loads(text)
    (problem,) = caught.value.problems
    assert "[conda].dependencies[0]" in problem.where and problem.hint, problem


def test_plain_match_specs_still_read() -> None:
    for spec in ["purepkg", "purepkg >=1.0,<2 # tab\there", 'cuda-version[version=">=12"]']:
        text = (
            '[environment]\nname = "c"\npython = "3.11"\n'
            f'[conda]\nchannels = ["conda-forge"]\ndependencies = [{json.dumps(spec)}]\n'
        )
        assert manifest_loads(text).conda is not None


@pytest.mark.parametrize("spec", ['numpy "1.0"\\x7f', 'numpy "1.0"\\x1b[2J', 'scipy "1"\\u2028x'])
def test_init_from_an_environment_file_with_control_characters_exits_1(
    tmp_path: Path, spec: str
) -> None:
    """A spec holding '"' and a control character became a TOML literal string, which cannot
    hold one: tomlkit raised and ``init --from`` exited 2 ("internal error")."""
    quoted = spec.replace('"', '\\"')
    (tmp_path / "environment.yml").write_text(
        f'name: x\nchannels: [conda-forge]\ndependencies:\n  - "{quoted}"\n'
    )
    result = run_mlenv(["init", "--from", "environment.yml"], tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert "environment.yml" in result.stderr and "hint:" in result.stderr
    assert not (tmp_path / "mlenv.toml").exists()


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(
        st.one_of(st.sampled_from([*RAW_IN_JSON, "😀", "é"]), st.characters(codec="utf-8")),
        max_size=12,
    )
)
def test_conda_lock_yml_reads_back_as_written_in_both_yaml_readers(text: str) -> None:
    """conda-lock.yml scalars were JSON's ASCII escapes: past U+FFFF a surrogate pair, which
    PyYAML and ruamel read as two lone surrogates; DEL and C1 controls are no YAML character
    raw. Every channel (and so every scalar) is read back as itself by both."""
    channels = [f"./{text}", f"https://h.example/{text}"]
    written = conda_lock_yml({"linux-64": []}, channels, "sha256:" + "0" * 64)
    for document in (yaml.safe_load(written), YAML(typ="safe", pure=True).load(written)):
        assert [c["url"] for c in document["metadata"]["channels"]] == channels


def test_a_local_channel_past_u_ffff_exports_to_conda_lock_as_itself(tmp_path: Path) -> None:
    """Through the real CLI: ``channels = ["./ch😀"]`` was read back from conda-lock.yml as
    ``./ch\\ud83d\\ude00``."""
    channel = tmp_path / "ch😀"
    channel.mkdir()
    write_channel(channel, [build_conda_package("purepkg", "1.0", "0", files={"x.txt": b"x\n"})])
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "c"\npython = "3.11"\n'
        '[conda]\nchannels = ["./ch😀"]\ndependencies = ["purepkg"]\n',
        encoding="utf-8",
    )
    assert run_mlenv(["lock"], tmp_path).returncode == 0
    exported = run_mlenv(["export", "--format", "conda-lock"], tmp_path)
    assert exported.returncode == 0, exported.stderr
    document = yaml.safe_load(exported.stdout)
    assert [c["url"] for c in document["metadata"]["channels"]] == ["./ch😀"]


URL_KEYS = {
    "index-url": 'index-url = "{}"',
    "extra-index-urls": 'extra-index-urls = ["{}"]',
    "find-links": 'find-links = ["{}"]',
    "sources": 'sources = {{ alpha = "{}" }}',
}


@settings(max_examples=80, deadline=None)
@given(
    key=st.sampled_from(sorted(URL_KEYS)),
    scheme=st.sampled_from(["https", "http", "HTTPS"]),
    seen=st.sampled_from(["pypi.internal.example", "pypi.internal.example:8443", "a"]),
    tail=st.sampled_from(["@evil.example/simple", "@evil.example", "/@evil.example/simple"]),
)
def test_a_backslash_in_an_index_url_is_refused(
    key: str, scheme: str, seen: str, tail: str
) -> None:
    """``https://pypi.internal.example\\\\@evil.example/simple``: httpx (so mlenv) and Python's
    urlsplit read ``pypi.internal.example\\\\`` as a user name and fetch from evil.example, which
    the lock and the exports then record; uv (WHATWG) and pip (urllib3) end the host at the
    backslash and ask pypi.internal.example. A reviewer of the pull request reads the latter."""
    url = f"{scheme}://{seen}\\{tail}"
    value = URL_KEYS[key].format(url.replace("\\", "\\\\"))
    text = (
        f'[environment]\nname = "c"\npython = "3.11"\n[pypi]\ndependencies = ["alpha"]\n{value}\n'
    )
    with pytest.raises(ManifestError) as caught:
        manifest_loads(text)
    shown = " ".join(f"{p.where}: {p.message}" for p in caught.value.problems)
    assert "backslash" in shown, shown


def test_the_backslash_index_is_refused_before_any_host_is_asked(tmp_path: Path) -> None:
    """Through the real CLI, with the host after the '@' a real index on this machine: lock
    exits 1 naming the key, and writes no lock recorded from that index."""
    index = write_simple_index(tmp_path / "index", [build_wheel("alpha", "1.0")])
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "c"\npython = "3.11"\n[pypi]\n'
        f'index-url = "https://pypi.internal.example\\\\@evil.example/simple"\n'
        f'find-links = ["{index}"]\ndependencies = ["alpha"]\n'
    )
    result = run_mlenv(["lock"], tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "[pypi].index-url" in result.stderr and "backslash" in result.stderr, result.stderr
    assert not (tmp_path / "mlenv.lock").exists()


@settings(max_examples=60, deadline=None)
@given(
    cases=st.lists(st.booleans(), min_size=11, max_size=11),
    separators=st.lists(st.sampled_from(["-", "_", ".", "_-", "--", "._"]), min_size=2, max_size=2),
)
def test_pylock_names_every_spelling_of_a_locked_name_normalised(
    cases: list[bool], separators: list[str]
) -> None:
    """A lock entry spelled ``Foo_Bar`` (its file's name by PEP 503, so the lock's reader, lock
    --check and verify take it) made ``export --format pylock`` fail with "the exported
    pylock.toml is invalid" (PEP 751 names are normalised), blamed on mlenv itself."""
    letters = "foo" + separators[0] + "bar" + separators[1] + "baz"
    name = "".join(c.upper() if cases[i % len(cases)] else c for i, c in enumerate(letters))
    text = _with_entry(name, "1.0", "foo_bar_baz-1.0-py3-none-any.whl")
    lock = loads(text.replace('requirements = ["app"]', 'requirements = ["foo-bar-baz"]'))
    document = tomllib.loads(pylock_toml(lock))
    assert Pylock.from_dict(document)
    assert {p["name"] for p in document["packages"]} == {"foo-bar-baz", "lib"}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("pypi.find-links", "tab\\there"),
        ("pypi.find-links", "./line\\nbreak"),
        ("pypi.find-links", "file:///srv/wheels%09x"),
        ("pypi.find-links", "/srv/esc\\u001b[2Jx"),
        ("conda.channels", "./ch\\u007f"),
        ("conda.channels", "file:///srv/ch%0Ax"),
    ],
)
def test_a_local_directory_with_a_control_character_is_refused_at_its_key(
    key: str, value: str
) -> None:
    """The manifest took ``find-links = ["tab\\there"]``; `mlenv lock` then refused every file
    under it (``origins.follow``: "it escapes a control character") with a hint about indexes
    and redirects, after reading the directory. Said now at the key that names it."""
    table, name = key.split(".")
    text = (
        '[environment]\nname = "c"\npython = "3.11"\n'
        f'[{table}]\n{name} = ["{value}"]\ndependencies = ["alpha"]\n'
    )
    with pytest.raises(ManifestError) as caught:
        manifest_loads(text)
    shown = [f"{p.where}: {p.message}" for p in caught.value.problems]
    assert any(f"[{table}].{name}[0]" in s and "control character" in s for s in shown), shown


def _noarch_tool(directory: Path, entry: str) -> Path:
    """A noarch python package whose link.json declares ``entry``."""
    directory.mkdir()
    link = {"noarch": {"type": "python", "entry_points": [entry]}, "package_metadata_version": 1}
    name, data = build_conda_package(
        "tool", "1.0", "py_0", noarch="python", depends=["python"],
        files={"site-packages/tool.py": b"def main():\n    return 0\n",
               "info/link.json": json.dumps(link).encode()},
    )  # fmt: skip
    (directory / name).write_bytes(data)
    return directory / name


SHAPES = ["tool{} = tool:main", "{}tool = tool:main", "to{}ol = tool:main"]


@pytest.mark.parametrize("separator", ["\x1c", "\x1d", "\x1e", "\x1f"])
@pytest.mark.parametrize("shape", SHAPES)
def test_a_conda_entry_point_is_judged_as_rattler_names_it(
    tmp_path: Path, separator: str, shape: str
) -> None:
    """``tool\\x1c = tool:main`` in a noarch package's link.json: Python's str.strip takes
    U+001C-U+001F as blanks, Rust's str::trim (rattler) does not, so mlenv judged and claimed
    ``bin/tool`` and rattler wrote ``bin/tool\\x1c``, a name holding a control character
    past every check of the ledger (seen: the staged bin/ listed it). Refused now, as the
    same character inside the name always was, before anything is staged."""
    package = _noarch_tool(tmp_path / "ch", shape.format(separator))
    records, paths = _with_python(package)
    stage = tmp_path / "stage"
    with pytest.raises(MlenvError, match="control or format character"):
        install(records, paths, stage, target_prefix="/opt/mlenv/x", platform="linux-64",
                reporter=MemoryReporter())  # fmt: skip
    assert not stage.exists()


def _with_python(package: Path) -> tuple[list[CondaRecord], dict[str, Path]]:
    """``package`` and the test channel's python beside it, as install takes them."""
    python_name, python_data = channel_packages()[0]
    (package.parent / python_name).write_bytes(python_data)
    records = [
        from_repodata(
            repodata_record(path.name, path.read_bytes()),
            channel=path.parent.as_uri(),
            filename=path.name,
            url=path.as_uri(),
        )
        for path in (package.parent / python_name, package)
    ]
    return records, {record.sha256: package.parent / record.filename for record in records}


def test_blanks_rattler_trims_still_install_the_script_they_name(tmp_path: Path) -> None:
    """U+2028 and U+0085 are blanks to both, so the script is ``bin/tool`` as claimed."""
    package = _noarch_tool(tmp_path / "ch", "tool\u2028 = tool:main\x85")
    records, paths = _with_python(package)
    stage = tmp_path / "stage"
    install(records, paths, stage, target_prefix="/opt/mlenv/x", platform="linux-64",
            reporter=MemoryReporter())  # fmt: skip
    names = [path.name for path in (stage / "bin").iterdir()]
    assert "tool" in names and all(name.isprintable() for name in names), names
