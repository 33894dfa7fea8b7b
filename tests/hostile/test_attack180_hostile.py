"""Attack 180: wrong types in Poetry's dependency tables, the imported project's name, the
route probe of ``connect_to`` and digests a page states beside a sha256 and a size.

Findings (input: what mlenv did -> what it does now):

- ``torch = {version = "^2.1", source = 5}``: a source that is no string was no source, and
  torch came from PyPI -> refused naming the key, as every key of a dependency table whose
  value has another type than Poetry's (``optional = "false"`` was true and dropped the
  dependency, ``python = 3.10`` a pin to 3.1, ``platform = 'linux" or "1'`` a marker of its own).
- ``init --from pyproject.toml`` named the environment after the directory, not the project
  (``[project].name``, ``[tool.poetry].name``) -> the project's name, made a valid environment
  name (``a..b`` was kept and refused by the build's last step; ``../x`` is ``x``).
- ``connect_to`` asked the kernel's route (a UDP socket connected to each address) for a host
  the user named, or when a source of theirs is on this machine, where every answer lets the
  request through -> the route is asked only when the answer decides.
- A page stating a file's sha256 and its size (a JSON ``size``, a HEAD answer, a local file)
  beside a wrong ``#md5=`` (or sha512, or a PEP 691 ``hashes`` entry): the sha256 was pinned
  unmeasured and the other digest never read -> every digest a page states must hold (pass
  174's rule for repeated values): such a file is measured, and refused when one contradicts.
- ``data-dist-info-metadata="sha256=X&md5=Y"`` and a PEP 691 ``core-metadata`` with several
  hashes: only a lone sha256 was checked (the first form was no pin at all) -> each stated
  digest of the ``.metadata`` is checked on the bytes read, and the cache, which keeps no
  bytes, is not used for it.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from mlenv.importers.core import ImportFileError
from mlenv.importers.files import import_file
from mlenv.index import MetadataError, PackageIndexError, SimpleIndex
from mlenv.index.http import HttpClient
from mlenv.locking_facts import artifact_facts
from mlenv.manifest_values import is_env_name
from mlenv.net.origins import UnsafeUrlError, connect_to
from mlenv.report import MemoryReporter
from mlenv.templates import sanitize_name
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel

_SOURCE = (
    '\n[[tool.poetry.source]]\nname = "pytorch"\n'
    'url = "https://download.pytorch.org/whl/cu121"\npriority = "explicit"\n'
)


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ('{version = "^2.1", source = 5}', "source"),
        ('{version = "^2.1", source = ["pytorch"]}', "source"),
        ("{version = 2}", "version"),
        ('{version = "^2.1", markers = 5}', "markers"),
        ('{version = "^2.1", python = 3.10}', "python"),
        ('{version = "^2.1", platform = 5}', "platform"),
        ('{version = "^2.1", platform = \'linux" or python_version >= "0\'}', "platform"),
        ('{version = "^2.1", optional = "false"}', "optional"),
        ('{version = "^2.1", allow-prereleases = "yes"}', "allow-prereleases"),
        ('{version = "^2.1", extras = [1]}', "extras"),
        ('{version = "^2.1", extras = "opt"}', "extras"),
        ("{git = 5}", "git"),
        ('{path = ["."]}', "path"),
        ("{url = 5}", "url"),
        ('{path = "../t", develop = "no"}', "develop"),
        ('[{version = "^2.1", source = 5, markers = "sys_platform == \'linux\'"}]', "source"),
    ],
)
def test_a_poetry_key_of_the_wrong_type_is_refused_naming_it(
    tmp_path: Path, entry: str, key: str
) -> None:
    """Every key of a Poetry dependency table is read as what Poetry's schema says it is."""
    path = tmp_path / "pyproject.toml"
    path.write_text(f'[tool.poetry.dependencies]\npython = "^3.10"\ntorch = {entry}\n' + _SOURCE)
    with pytest.raises(ImportFileError) as refused:
        import_file(path)
    (problem,) = refused.value.problems
    assert "[tool.poetry.dependencies] torch" in problem.where
    assert problem.message.startswith(f"{key} = "), problem.message
    assert problem.hint is not None and problem.hint.startswith(f"write {key} = ")


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ("{source = 5}", "source"),
        ('[{source = "pytorch"}, {source = 5}]', "source"),
        ('{source = "pytorch", optional = "no"}', "optional"),
    ],
)
def test_a_wrong_type_is_refused_in_poetry_2s_layout_too(
    tmp_path: Path, entry: str, key: str
) -> None:
    """[project] holds the dependencies; Poetry's table only names their sources."""
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[project]\nname = "p"\nversion = "0"\ndependencies = ["torch>=2.1"]\n\n'
        f"[tool.poetry.dependencies]\ntorch = {entry}\n" + _SOURCE
    )
    with pytest.raises(ImportFileError) as refused:
        import_file(path)
    (problem,) = refused.value.problems
    assert "[tool.poetry.dependencies] torch" in problem.where
    assert problem.message.startswith(f"{key} = "), problem.message


def test_the_poetry_python_entry_must_be_a_string(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.poetry.dependencies]\npython = 3.10\nnumpy = "^1.26"\n')
    with pytest.raises(ImportFileError) as refused:
        import_file(path)
    (problem,) = refused.value.problems
    assert problem.where.endswith("[tool.poetry.dependencies] python")
    assert problem.message == "python = 3.1 is not a string"


def test_keys_of_the_right_type_still_import(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[tool.poetry.dependencies]\npython = "^3.10"\n'
        'torch = {version = "^2.1", source = "pytorch", optional = false, '
        'allow-prereleases = false, extras = ["opt"], platform = "linux", python = ">=3.10"}\n'
        + _SOURCE
    )
    imported = import_file(path)
    assert imported.sources == (("torch", "https://download.pytorch.org/whl/cu121"),)
    assert any(line.startswith("torch[opt]>=2.1,<3.0.0") for line in imported.pypi)


def _init_name(
    tmp_path: Path, folder: str, text: str, *flags: str, file: str = "pyproject.toml"
) -> str:
    project = tmp_path / folder
    project.mkdir()
    (project / file).write_text(text)
    result = run_mlenv(["init", "--from", file, *flags], project)
    assert result.returncode == 0, result.stderr
    environment = tomllib.loads((project / "mlenv.toml").read_text())["environment"]
    assert environment["prefix"] == f"/opt/mlenv/{environment['name']}"
    assert isinstance(environment["name"], str)
    return environment["name"]


_DEPS = 'dependencies = ["numpy"]\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f'[project]\nname = "Vision_Trainer"\n{_DEPS}', "vision_trainer"),
        (
            '[tool.poetry]\nname = "poetry-app"\n[tool.poetry.dependencies]\nnumpy = "^1.26"\n',
            "poetry-app",
        ),
        (f'[project]\nname = "pep621"\n{_DEPS}[tool.poetry]\nname = "other"\n', "pep621"),
        (f'[project]\nname = "../../etc/$(touch x)"\n{_DEPS}', "etc-touch-x"),
        (f'[project]\nname = "a..b"\n{_DEPS}', "a-b"),
        (f'[project]\nname = "..."\n{_DEPS}', "env"),
        (f"[project]\nname = 5\n{_DEPS}", "checkout"),  # no name: the directory's
        (f"[project]\n{_DEPS}", "checkout"),
    ],
)
def test_init_from_a_project_takes_its_name(tmp_path: Path, text: str, expected: str) -> None:
    """The environment is named after the project the file describes, made a valid name."""
    assert _init_name(tmp_path, "checkout", text) == expected
    assert not (tmp_path / "checkout" / "x").exists()


@pytest.mark.parametrize(
    ("file", "text"),
    [
        (
            "pixi.toml",
            '[workspace]\nname = "Pixi..WS"\nchannels = ["conda-forge"]\n'
            'platforms = ["linux-64"]\n[dependencies]\nnumpy = "*"\n',
        ),
        ("environment.yml", "name: Pixi..WS\nchannels: [conda-forge]\ndependencies: [numpy]\n"),
    ],
)
def test_pixi_and_conda_files_name_the_environment_too(
    tmp_path: Path, file: str, text: str
) -> None:
    assert _init_name(tmp_path, "checkout", text, file=file) == "pixi-ws"


def test_a_name_given_on_the_command_line_wins(tmp_path: Path) -> None:
    text = f'[project]\nname = "from-file"\n{_DEPS}'
    assert _init_name(tmp_path, "checkout", text, "--name", "given") == "given"


@pytest.mark.parametrize("raw", ["a..b", "a._b", "a___b", "x" * 63 + "..y", "..", "ÿ", "a__b"])
def test_a_sanitized_name_is_a_valid_environment_name(raw: str) -> None:
    assert is_env_name(sanitize_name(raw))


_PROBED: list[object] | None = None  # addresses the route probe connected to, while recording


def _note_probe(event: str, args: tuple[object, ...]) -> None:
    if _PROBED is not None and event == "socket.connect" and args[1][1:] == (9,):  # type: ignore[index]
        _PROBED.append(args[1][0])  # type: ignore[index]


sys.addaudithook(_note_probe)  # PEP 578: sees here.assigned_here's connect, as the kernel gets it


def _probed(host: str, found: list[str], own: tuple[str, ...]) -> list[object]:
    global _PROBED
    _PROBED = []
    try:
        connect_to(host, found, own=own, where=host)
        return _PROBED
    finally:
        _PROBED = None


@pytest.mark.parametrize(
    ("host", "own"),
    [
        ("index.example", ("index.example",)),  # the user named it
        ("INDEX.example.", ("index.example",)),  # under another spelling
        ("index.example", ("localhost", "other.example")),  # a source of theirs is here
        ("localhost", ()),  # judged by follow already
    ],
)
def test_a_host_let_through_anyway_asks_no_route(host: str, own: tuple[str, ...]) -> None:
    """No route probe for an answer known without one; generator input is read once."""
    assert _probed(host, ["203.0.113.5", "2001:db8::5"], own) == []


def test_a_host_nobody_named_still_asks_the_route_of_each_address() -> None:
    """The probe still runs where it decides: every address of an unnamed remote host."""
    probed = _probed("index.example", ["203.0.113.5", "203.0.113.6"], ("other.example",))
    assert probed == ["203.0.113.5", "203.0.113.6"]
    with pytest.raises(UnsafeUrlError, match="this machine"):
        connect_to("index.example", iter(["203.0.113.5", "127.0.0.1"]), own=(), where="x")


FILENAME, DATA = build_wheel("demo", "1.0")
with zipfile.ZipFile(io.BytesIO(DATA)) as _wheel:
    METADATA = _wheel.read("demo-1.0.dist-info/METADATA")
_ALGORITHMS = ("md5", "sha1", "sha256", "sha512")
RIGHT = {a: hashlib.new(a, DATA).hexdigest() for a in _ALGORITHMS}
WRONG = {a: hashlib.new(a, b"another file").hexdigest() for a in _ALGORITHMS}
META_RIGHT = {a: hashlib.new(a, METADATA).hexdigest() for a in _ALGORITHMS}
_PINNED = f"sha256={RIGHT['sha256']}"


def _index(tmp_path: Path, page: str, *, json_page: bool = False) -> SimpleIndex:
    """A file:// simple index listing the demo wheel (and its .metadata) on ``page``."""
    project = tmp_path / "simple" / "demo"
    project.mkdir(parents=True)
    (project / FILENAME).write_bytes(DATA)
    (project / f"{FILENAME}.metadata").write_bytes(METADATA)
    (project / ("index.json" if json_page else "index.html")).write_text(page)
    return SimpleIndex((tmp_path / "simple").as_uri(), http=HttpClient())


def _html(fragment: str, metadata: str | None = None) -> str:
    attribute = "" if metadata is None else f' data-dist-info-metadata="{metadata}"'
    return f'<a href="{FILENAME}#{fragment}"{attribute}>{FILENAME}</a>'


def _json(hashes: dict[str, str], metadata: object = False) -> str:
    entry = {
        "filename": FILENAME,
        "url": FILENAME,
        "hashes": hashes,
        "size": len(DATA),
        "core-metadata": metadata,
    }
    return json.dumps({"meta": {"api-version": "1.1"}, "name": "demo", "files": [entry]})


def _facts(index: SimpleIndex) -> dict[str, tuple[str, int]]:
    files = index.files(canonicalize_name("demo"))
    return artifact_facts(index, files, MemoryReporter())


@pytest.mark.parametrize(
    ("page", "json_page", "algorithm"),
    [
        (_html(f"sha256={RIGHT['sha256']}&md5={WRONG['md5']}"), False, "md5"),
        (_html(f"md5={WRONG['md5']}&sha256={RIGHT['sha256']}"), False, "md5"),
        (_html(f"sha256={RIGHT['sha256']}&sha512={WRONG['sha512']}"), False, "sha512"),
        (_json({"sha256": RIGHT["sha256"], "md5": WRONG["md5"]}), True, "md5"),
        (
            _json({"sha256": RIGHT["sha256"], "sha512": RIGHT["sha512"], "sha1": WRONG["sha1"]}),
            True,
            "sha1",
        ),
        (_json({"sha256": WRONG["sha256"], "md5": RIGHT["md5"]}), True, "sha256"),
    ],
)
def test_a_digest_beside_a_known_sha256_and_size_must_hold(
    tmp_path: Path, page: str, json_page: bool, algorithm: str
) -> None:
    """The page states sha256 and size (a JSON size, a local file's stat): the other digest it
    states is checked on the bytes all the same, and a contradiction refuses the file."""
    with pytest.raises(PackageIndexError) as refused:
        _facts(_index(tmp_path, page, json_page=json_page))
    assert f"declares {algorithm} " in refused.value.message
    assert FILENAME in refused.value.message


@pytest.mark.parametrize(
    ("page", "json_page"),
    [
        (_html(f"sha256={RIGHT['sha256']}&md5={RIGHT['md5']}"), False),
        (_html(f"sha256={RIGHT['sha256']}&sha512={RIGHT['sha512'].upper()}"), False),
        (
            _json({"sha256": RIGHT["sha256"], "md5": RIGHT["md5"], "sha512": RIGHT["sha512"]}),
            True,
        ),
        (_json({"sha256": RIGHT["sha256"], "blake2s": WRONG["md5"]}), True),  # no claim
    ],
)
def test_digests_that_hold_lock_the_measured_file(
    tmp_path: Path, page: str, json_page: bool
) -> None:
    assert list(_facts(_index(tmp_path, page, json_page=json_page)).values()) == [
        (RIGHT["sha256"], len(DATA))
    ]


@pytest.mark.parametrize(
    ("page", "json_page", "algorithm"),
    [
        (
            _html(_PINNED, f"sha256={META_RIGHT['sha256']}&md5={WRONG['md5']}"),
            False,
            "md5",
        ),
        (_html(_PINNED, f"md5={WRONG['md5']}"), False, "md5"),
        (_html(_PINNED, f"sha512={WRONG['sha512']}"), False, "sha512"),
        (
            _json(
                {"sha256": RIGHT["sha256"]}, {"sha256": META_RIGHT["sha256"], "md5": WRONG["md5"]}
            ),
            True,
            "md5",
        ),
        (
            _json(
                {"sha256": RIGHT["sha256"]},
                {
                    "sha256": META_RIGHT["sha256"],
                    "sha256 ": WRONG["sha256"],
                    "SHA256": WRONG["sha256"],
                },
            ),
            True,
            "sha256",
        ),
    ],
)
def test_every_digest_stated_for_the_metadata_file_must_hold(
    tmp_path: Path, page: str, json_page: bool, algorithm: str
) -> None:
    index = _index(tmp_path, page, json_page=json_page)
    [file] = index.files(canonicalize_name("demo"))
    with pytest.raises(MetadataError) as refused:
        index.metadata(file)
    assert f"does not match the {algorithm} the index published" in refused.value.message


@pytest.mark.parametrize(
    ("metadata", "json_page"),
    [
        (f"sha256={META_RIGHT['sha256']}&md5={META_RIGHT['md5']}", False),
        (f"sha512={META_RIGHT['sha512']}", False),
        ({"sha256": META_RIGHT["sha256"], "sha512": META_RIGHT["sha512"]}, True),
    ],
)
def test_metadata_digests_that_hold_are_read(
    tmp_path: Path, metadata: object, json_page: bool
) -> None:
    page = (
        _json({"sha256": RIGHT["sha256"]}, metadata) if json_page else _html(_PINNED, str(metadata))
    )
    index = _index(tmp_path, page, json_page=json_page)
    [file] = index.files(canonicalize_name("demo"))
    assert str(index.metadata(file).version) == "1.0"
