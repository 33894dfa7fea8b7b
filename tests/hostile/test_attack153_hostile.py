"""Attack 153: what pass 148's fixes of text other tools read left, in other shapes.

Findings (input: what mlenv did -> what it does now):

- A wheel whose METADATA says ``License-Expression: MIT\\u202eX`` (or ``License: ...``, or a
  ``Classifier: License :: OSI Approved :: ...``) holding a bidi override, U+2028, U+0085, an
  ESC sequence, NUL, a zero-width space or VT: only ``\\n`` was looked for (and not at all in
  a classifier), so ``export --format cyclonedx`` and the image's SBOM carried the text to every
  SBOM reader, where a bidi override shows another licence than the metadata holds. -> a
  licence field is taken only when it is one printable line; otherwise the SBOM has none.
- A wheel ``alpha-1.0`` whose METADATA says ``Name: alpha<U+2028>hint: x``: lock refused it
  rightly, but the CLI split the error with ``str.splitlines``, so the index's U+2028 (or
  U+0085, U+2029) started a line of mlenv's own, indented as a ``hint:``. -> an error's lines end
  at ``\\n`` alone; the separator stays in its line and shows as ``?``.
- ``mlenv add 'numpy; platform_release != "\\u2028"'`` (or a bidi override, a C1 control, a
  zero-width space in the literal; ``init --from pyproject.toml`` alike): the manifest takes a
  marker literal holding any character, and pass 148 escaped it in the lock, but `add` and
  `init` wrote it into mlenv.toml raw through tomlkit. -> both write every non-printable
  character as its escape (``toml_strings``, which the lock's writer uses too). Since pass 158
  the manifest refuses such a character in any string, so both refuse it, naming it.
- An index URL with a secret in its query (``?token=s3cret``, or an anaconda.org ``/t/TOKEN/``
  channel): the lock records it as ``***`` (as it should), and ``export`` wrote
  ``--index-url http://h/simple?token=***``, so pip sends ``***`` as the token and fails with a
  401/404 that names no reason. -> export warns on stderr, naming the manifest key and how to
  give the secret to pip and uv (their index-URL environment variables, or a keyring/netrc).
  User info needs nothing: the lock and the export drop it, and pip asks its keyring/netrc.
- ``channels = ["./chan"]`` and a lock edited to read its package from ``file:///.../other/chan``
  (url, channel and digests rewritten): the channel was judged by its last path segment, so
  ``lock --check`` and ``verify`` said OK, ``lock`` kept it, and ``export --format explicit``
  and ``conda-lock`` handed conda the other directory's package (only fetch refused it). -> a
  relative channel whose directory is here must be that directory; a bundle carried elsewhere,
  where it is not, keeps the tail rule.
- A location spelled with a character no review sees: ``find-links = ["./w\\u2028--index-url=
  https:"]`` (pass 148 refused C0 controls only) was taken, and `mlenv lock` then refused the lock
  it had just written, blaming the index; a bidi override, a zero-width character or a BOM in an
  index URL, a find-links URL or a channel was recorded and exported as it was; a URL holding a
  blank (``https://h/s\\u00a0x`` in find-links) was taken as a local directory. -> refused at its
  key (``errors.hidden_characters``, with a hint), a ``scheme://`` value judged as a URL.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.drift import recorded_channel, recorded_find_link
from mlenv.errors import ManifestError
from mlenv.lockfile import LockedPackage
from mlenv.lockfile_read import loads
from mlenv.lockfile_render import render
from mlenv.manifest_read import loads as manifest_loads
from mlenv.sbom import wheel_licences
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package, write_channel
from tests.support.httpserver import IndexServer
from tests.support.locks import sample
from tests.support.raw_wheels import raw_wheel
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.hostile

HIDDEN = ["\u202e", "\u2066", "\u2028", "\u2029", "\x85", "\x1b[2J", "\x00", "\u200b", "\x0b",
          "\x0c", "\x1c", "\x7f", "\ufeff", "\U000e0041", "\u00a0"]  # fmt: skip
FIELDS = [
    "License-Expression: {}",
    "License: {}",
    "Classifier: License :: OSI Approved :: {}",
]


def _licences(tmp_path: Path, line: str) -> list[dict[str, object]]:
    filename, data = build_wheel("lic", "1.0", extra_metadata=[line])
    digest = hashlib.sha256(data).hexdigest()
    (tmp_path / digest).write_bytes(data)
    package = LockedPackage(
        name="lic", version="1.0", filename=filename, url=f"https://files.example/{filename}",
        sha256=digest, size=len(data), dependencies=(), index="https://pypi.org/simple",
    )  # fmt: skip
    return wheel_licences(lambda wanted: tmp_path / wanted)(package)


@settings(max_examples=120, deadline=None)
@given(
    field=st.sampled_from(FIELDS),
    hidden=st.sampled_from(HIDDEN),
    at=st.integers(min_value=1, max_value=10),  # inside: blanks around are stripped
)
def test_a_licence_holding_a_hidden_character_is_left_out(
    tmp_path_factory: pytest.TempPathFactory, field: str, hidden: str, at: int
) -> None:
    """The SBOM says no licence rather than one a reader sees otherwise than it is."""
    licence = "MIT AND BSD"[:at] + hidden + "MIT AND BSD"[at:]
    found = _licences(tmp_path_factory.mktemp("lic"), field.format(licence))
    assert found == [], found


@pytest.mark.parametrize("field", FIELDS)
def test_a_plain_licence_still_reaches_the_sbom(tmp_path: Path, field: str) -> None:
    found = _licences(tmp_path, field.format("Apache-2.0 OR MIT"))
    assert json.dumps(found).count("Apache-2.0 OR MIT") == 1, found


def test_the_exported_sbom_carries_no_hidden_licence(tmp_path: Path) -> None:
    """Through the real CLI: fetch puts the wheel in the cache, export reads its licence."""
    wheel = build_wheel("alpha", "1.0", extra_metadata=["License: MIT\u202e LPG"])
    index = write_simple_index(tmp_path / "index", [wheel])
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "s"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["alpha"]\n'
    )
    env = {"MLENV_CACHE": str(tmp_path / "cache")}
    for args in (["lock"], ["fetch"]):
        done = run_mlenv(args, tmp_path, env)
        assert done.returncode == 0, done.stderr
    exported = run_mlenv(["export", "--format", "cyclonedx"], tmp_path, env)
    assert exported.returncode == 0, exported.stderr
    (component,) = json.loads(exported.stdout)["components"]
    assert component["name"] == "alpha" and "licenses" not in component
    assert "202e" not in exported.stdout.lower() and "\u202e" not in exported.stdout


SECRETS = {  # how the manifest names the loopback index: (the [pypi] lines, the key, as written)
    "index-url": ('index-url = "{url}/simple?token=s3cret"', "[pypi].index-url", "token=***"),
    "extra": (
        'index-url = "{url}/nothing"\nextra-index-urls = ["{url}/simple?api_key=s3cret&x=1"]',
        "[pypi].extra-index-urls[0]",
        "api_key=***&x=1",
    ),
}


def _locked_with(tmp_path: Path, lines: str, auth: tuple[str, str] | None = None) -> None:
    index = tmp_path / "www"
    write_simple_index(index, [build_wheel("alpha", "1.0")])
    (index / "nothing").mkdir()
    with IndexServer(index, auth=auth) as server:
        host = server.url.split("://")[1]
        (tmp_path / "mlenv.toml").write_text(
            '[environment]\nname = "s"\npython = "3.11"\n[pypi]\n'
            + lines.format(url=server.url, host=host)
            + '\nindex-strategy = "best-match"\ndependencies = ["alpha"]\n'
        )
        locked = run_mlenv(["lock"], tmp_path, {"MLENV_CACHE": str(tmp_path / "cache")})
        assert locked.returncode == 0, locked.stderr


@pytest.mark.parametrize("shape", sorted(SECRETS))
@pytest.mark.parametrize("fmt", ["requirements", "pylock"])
def test_an_index_secret_exported_as_stars_is_warned_of(
    tmp_path: Path, shape: str, fmt: str
) -> None:
    """pip and uv send the ``***`` the file holds: export says so, naming the key."""
    lines, key, stars = SECRETS[shape]
    _locked_with(tmp_path, lines)
    exported = run_mlenv(["export", "--format", fmt], tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "s3cret" not in exported.stdout + exported.stderr
    assert stars in exported.stdout
    warned = exported.stderr
    assert key in warned and stars in warned, warned
    assert "PIP_INDEX_URL" in warned and "UV_INDEX_URL" in warned, warned


def test_user_info_is_left_out_of_the_export_and_needs_no_warning(tmp_path: Path) -> None:
    """``http://u:s3cret@host/simple``: the lock records the URL without its user info, so pip
    asks without credentials and then its keyring or netrc, as for any index: nothing to say."""
    _locked_with(tmp_path, 'index-url = "http://u:s3cret@{host}/simple"', ("u", "s3cret"))
    exported = run_mlenv(["export", "--format", "requirements"], tmp_path)
    assert exported.returncode == 0 and exported.stderr == "", exported.stderr
    assert "***" not in exported.stdout and "s3cret" not in exported.stdout


def test_an_index_without_a_secret_exports_without_a_warning(tmp_path: Path) -> None:
    index = write_simple_index(tmp_path / "index", [build_wheel("alpha", "1.0")])
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "s"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["alpha"]\n'
    )
    assert run_mlenv(["lock"], tmp_path).returncode == 0
    exported = run_mlenv(["export", "--format", "requirements"], tmp_path)
    assert exported.returncode == 0 and exported.stderr == "", exported.stderr


def _two_channels(tmp_path: Path) -> tuple[Path, str]:
    """A project locked from ``./chan`` and, beside it, another directory ``chan`` whose
    ``purepkg 1.0 0`` says otherwise: the project and the lock rewritten to take that one
    (its url, channel and digests), as a pull request would."""
    project, other = tmp_path / "proj", tmp_path / "elsewhere" / "chan"
    for directory, said in ((project / "chan", b"good\n"), (other, b"other\n")):
        directory.mkdir(parents=True)
        write_channel(directory, [build_conda_package("purepkg", "1.0", "0", files={"x": said})])
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "c"\npython = "3.11"\n'
        '[conda]\nchannels = ["./chan"]\ndependencies = ["purepkg"]\n'
    )
    locked = run_mlenv(["lock"], project)
    assert locked.returncode == 0, locked.stderr
    text = (project / "mlenv.lock").read_text()
    data = (other / "linux-64" / "purepkg-1.0-0.tar.bz2").read_bytes()
    edited = re.sub(r'sha256 = "[0-9a-f]{64}"', f'sha256 = "{hashlib.sha256(data).hexdigest()}"',
                    text.replace((project / "chan").as_uri(), other.as_uri()))  # fmt: skip
    edited = re.sub(r'md5 = "[0-9a-f]{32}"', f'md5 = "{hashlib.md5(data).hexdigest()}"', edited)
    edited = re.sub(r"size = \d+", f"size = {len(data)}", edited)
    assert other.as_uri() in edited and edited != text
    return project, edited


@pytest.mark.parametrize(
    "args",
    [
        ["lock", "--check"],
        ["verify"],
        ["export", "--format", "explicit"],
        ["export", "--format", "conda-lock"],
        ["fetch"],
        ["build", "--offline"],
    ],
)
def test_a_relative_channel_pointed_at_another_directory_of_its_name_is_stale(
    tmp_path: Path, args: list[str]
) -> None:
    """``channels = ["./chan"]`` and a lock whose record reads ``file:///.../elsewhere/chan``:
    the channel was judged by its last path segment alone, so ``lock --check`` and ``verify``
    said OK and ``export --format explicit`` wrote the other directory's package for conda to
    install (only fetch's directory rule refused it). Each now refuses naming the record."""
    project, edited = _two_channels(tmp_path)
    (project / "mlenv.lock").write_text(edited)
    result = run_mlenv(args, project, {"MLENV_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 1, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    shown = result.stdout + result.stderr
    assert "conda[0]" in shown or "outside the local directories" in shown, shown
    if args[0] == "export":  # nothing a conda reads
        assert result.stdout == "", result.stdout


def test_the_lock_mlenv_wrote_for_the_relative_channel_stays_fresh(tmp_path: Path) -> None:
    project, _ = _two_channels(tmp_path)
    for args in (["lock", "--check"], ["verify"], ["export", "--format", "explicit"]):
        result = run_mlenv(args, project)
        assert result.returncode == 0, (args, result.stderr)


def test_lock_takes_the_edited_record_back_to_the_manifests_channel(tmp_path: Path) -> None:
    """`mlenv lock` judged the edited lock fresh and kept it; it is locked again now."""
    project, edited = _two_channels(tmp_path)
    (project / "mlenv.lock").write_text(edited)
    assert run_mlenv(["lock"], project).returncode == 0
    written = (project / "mlenv.lock").read_text()
    assert "elsewhere" not in written and (project / "chan").as_uri() in written


@pytest.mark.parametrize("name", ["alpha\u2028hint: x", "alpha\u0085x", "alpha\u2029x"])
def test_an_index_metadata_name_cannot_start_a_line_of_the_error(tmp_path: Path, name: str) -> None:
    """A wheel ``alpha-1.0`` whose METADATA says ``Name: alpha<U+2028>hint: ...``: lock refused
    it (the names differ) but wrote the index's Name into the error as it was, so its own
    line break started a line that read as mlenv's hint."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n\n".encode()
    raw_wheel(wheels, [("alpha.py", b"")], filename="alpha-1.0-py3-none-any.whl",
              dist_info="alpha-1.0.dist-info", metadata=metadata)  # fmt: skip
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "s"\npython = "3.11"\n'
        '[pypi]\nfind-links = ["wheels"]\ndependencies = ["alpha"]\n'
    )
    result = run_mlenv(["lock", "--no-index"], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    said = [line for line in result.stderr.splitlines() if "metadata says" in line]
    assert said and "but the file is alpha 1.0" in said[0], result.stderr
    assert not any(line.lstrip().startswith("x") for line in result.stderr.splitlines())
    starts = [line.lstrip()[:5] for line in result.stderr.splitlines()]
    assert starts.count("hint:") == 1, result.stderr


# Characters the manifest took in a location although no reviewer sees them as they act: line
# and paragraph separators and NEL (pip's and the lock reader's line ends), C1 controls, bidi
# overrides and isolates, zero-width characters, a BOM, a tag character.
UNSEEN = ["\u2028", "\u2029", "\x85", "\x9b", "\u202e", "\u2066", "\u200b", "\u200d", "\ufeff",
          "\U000e0041", "\u00ad"]  # fmt: skip
LOCATIONS = {
    "[pypi].index-url": ("pypi", 'index-url = "{}"'),
    "[pypi].extra-index-urls[0]": ("pypi", 'extra-index-urls = ["{}"]'),
    "[pypi].find-links[0]": ("pypi", 'find-links = ["{}"]'),
    "[conda].channels[0]": ("conda", 'channels = ["{}"]'),
}
SPELLINGS = ["https://h.example/simple", "./wheels", "/srv/wheels", "file:///srv/wheels"]


@settings(max_examples=200, deadline=None)
@given(
    key=st.sampled_from(sorted(LOCATIONS)),
    spelling=st.sampled_from(SPELLINGS),
    hidden=st.sampled_from(UNSEEN),
    at=st.integers(min_value=1, max_value=30),
)
def test_a_location_holding_an_unseen_character_is_refused_at_its_key(
    key: str, spelling: str, hidden: str, at: int
) -> None:
    """``find-links = ["./w\\u2028--index-url=https:"]`` was taken (U+2028 is no control
    character), and `mlenv lock` then refused the lock it had made, blaming the index; a bidi
    override in an index URL was recorded and exported as it was."""
    table, line = LOCATIONS[key]
    if table == "pypi" and "index-url" in key and not spelling.startswith("http"):
        spelling = "https://h.example/simple"
    at = min(at, len(spelling))
    spelled = spelling[:at] + f"\\U{ord(hidden):08X}" + spelling[at:]  # as a TOML escape
    text = (
        '[environment]\nname = "c"\npython = "3.11"\n'
        f"[{table}]\n{line.format(spelled)}\n"
        'dependencies = ["alpha"]\n'
    )
    with pytest.raises(ManifestError) as caught:
        manifest_loads(text)
    shown = [f"{p.where}: {p.message}" for p in caught.value.problems]
    assert any(key in s for s in shown), shown


@pytest.mark.parametrize("key", sorted(LOCATIONS))
def test_plain_and_non_ascii_locations_still_read(key: str) -> None:
    """What real manifests hold: non-ASCII letters, a blank in a directory, an emoji; and a
    directory holding U+2028 named by its file: URL, where it is ``%E2%80%A8`` (attack 20)."""
    table, line = LOCATIONS[key]
    for spelled in ["https://h.example/sïmple", "https://bücher.example/simple", "./my wheels",
                    "./ch😀", "/srv/canal-ñ", "file:///srv/line%E2%80%A8break"]:  # fmt: skip
        if "index-url" in key and not spelled.startswith("http"):
            continue
        text = f'[environment]\nname = "c"\npython = "3.11"\n[{table}]\n{line.format(spelled)}\n'
        assert manifest_loads(text)


def test_lock_refuses_a_find_links_directory_named_with_a_line_separator(tmp_path: Path) -> None:
    """Through the real CLI: said at the key, before any lock is written, not as an index's
    fault after one was."""
    directory = tmp_path / "w\u2028--index-url=https:"
    directory.mkdir()
    filename, data = build_wheel("alpha", "1.0")
    (directory / filename).write_bytes(data)
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "c"\npython = "3.11"\n'
        '[pypi]\nfind-links = ["./w\\u2028--index-url=https:"]\ndependencies = ["alpha"]\n'
    )
    result = run_mlenv(["lock", "--no-index"], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "[pypi].find-links[0]" in result.stderr and "hint:" in result.stderr, result.stderr
    assert not (tmp_path / "mlenv.lock").exists()


@settings(max_examples=200, deadline=None)
@given(
    name=st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=12)
)
def test_a_directory_the_manifest_takes_reads_back_from_the_lock_as_itself(name: str) -> None:
    """Whatever find-links or channel directory the manifest accepts, the lock's writer and
    reader agree on it, and the lock shows it in printable characters only."""
    spelled = json.dumps(f"./{name}", ensure_ascii=False)  # no surrogate pairs: TOML has none
    text = (
        '[environment]\nname = "c"\npython = "3.11"\n'
        f"[pypi]\nfind-links = [{spelled}]\n[conda]\nchannels = [{spelled}]\n"
    )
    try:
        manifest = manifest_loads(text)
    except ManifestError:
        return
    lock = sample()
    target = replace(
        lock.target,
        find_links=tuple(map(recorded_find_link, manifest.pypi.find_links)),
        conda_channels=tuple(map(recorded_channel, manifest.conda.channels)),
    )
    rendered = render(replace(lock, target=target))
    assert all(line.isprintable() for line in rendered.split("\n"))
    back = loads(rendered).target
    assert (back.find_links, back.conda_channels) == (target.find_links, target.conda_channels)


MARKED = ["\u2028", "\u202e", "\x85", "\x9b", "\u200b", "\U000e0041", "\x7f"]


@pytest.mark.parametrize("hidden", MARKED)
def test_add_refuses_a_marker_literal_holding_a_hidden_character(
    tmp_path: Path, hidden: str
) -> None:
    """``mlenv add 'numpy; platform_release != "\\u2028"'``: `add` wrote it raw into mlenv.toml
    through tomlkit, unseen in a review of the manifest's diff; pass 153 wrote its escape, and
    since pass 158 the manifest refuses such a character in every string (naming its code
    point), so `add` refuses it and leaves mlenv.toml as it was."""
    before = '[environment]\nname = "c"\npython = "3.11"\n[pypi]\ndependencies = []\n'
    (tmp_path / "mlenv.toml").write_text(before)
    spec = f"numpy; platform_release != '{hidden}'"
    added = run_mlenv(["add", "--no-lock", spec], tmp_path)
    assert added.returncode == 1, added.stderr
    assert f"U+{ord(hidden):04X}" in added.stderr
    assert (tmp_path / "mlenv.toml").read_text(encoding="utf-8") == before


@pytest.mark.parametrize("hidden", MARKED)
def test_init_from_refuses_a_marker_literal_holding_a_hidden_character(
    tmp_path: Path, hidden: str
) -> None:
    """The same through ``init --from pyproject.toml``: refused, and no mlenv.toml written."""
    escaped = f'"numpy; platform_release != \\"\\U{ord(hidden):08X}\\""'  # TOML's escape
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "0"\nrequires-python = ">=3.11"\n'
        f"dependencies = [{escaped}]\n"
    )
    result = run_mlenv(["init", "--from", "pyproject.toml"], tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"U+{ord(hidden):04X}" in result.stderr
    assert not (tmp_path / "mlenv.toml").exists()
