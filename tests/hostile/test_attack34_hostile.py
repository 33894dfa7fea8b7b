"""Attack pass 34: the URL-only redactor as the bundle's manifest uses it, the find-links beside
the owning index, and hand-edited locks. Each test names what it protects and fails if its fix
is undone."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from mlenv import uptodate
from mlenv.cache.bundle import shareable_manifest
from mlenv.cli.app import main as cli_main
from mlenv.commands.verify import verify
from mlenv.errors import MlenvError
from mlenv.judge import verify_lock
from mlenv.lockfile import Lock, LockedPlatform
from mlenv.lockfile_fresh import inputs_hash
from mlenv.lockfile_read import loads as load_lock
from mlenv.lockfile_render import render
from mlenv.manifest import Manifest
from mlenv.manifest_read import loads as load_manifest
from mlenv.redaction import redact, redact_urls
from tests.support.cli import run_mlenv
from tests.support.fetch_project import locked_index_and_links_project
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.locks import locked, target_of
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.hostile

HEAD = '[environment]\nname = "demo"\npython = "3.11"\n[pypi]\n'


def _each_url_redacted(value: object) -> object:
    """A parsed manifest with every string (keys too) passed through ``redact_urls``."""
    if isinstance(value, str):
        return redact_urls(value)
    if isinstance(value, dict):
        return {redact_urls(k): _each_url_redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_each_url_redacted(item) for item in value]
    return value


def _shared_or_refused(path: Path) -> str | None:
    """The bundle's manifest, checked to read as the manifest with each value redacted; None
    when refused, after checking the refusal names the file and the key and hints."""
    try:
        shared = shareable_manifest(path).decode()
    except MlenvError as error:
        shown = str(error)
        assert "S3CRET" not in shown and "VALUE" not in shown, shown
        assert str(path) in shown and "hint:" in shown, shown
        assert ": pypi." in shown or ": line 5" in shown, shown
        return None
    wanted = _each_url_redacted(tomllib.loads(path.read_text()))
    assert tomllib.loads(shared) == wanted, shared
    return shared


@pytest.mark.parametrize(
    "line",
    [
        # TOML escapes spell the '@' or the parameter's name: the raw text shows no URL secret
        'index-url = "https://user:S3CRETVALUE\\u0040pypi.example/simple"\n',
        'index-url = "https://pypi.example/simple?tok\\u0065n=S3CRETVALUE"\n',
        'extra-index-urls = ["https://pypi.example/simple?token\\u003dS3CRETVALUE"]\n',
        # a line-ending backslash continues the secret on the next line
        'index-url = """https://pypi.example/simple?token=S3CRET\\\n  VALUE"""\n',
    ],
)
def test_a_bundles_manifest_never_carries_a_secret_spelled_with_toml_escapes(
    tmp_path: Path, line: str
) -> None:
    """``shareable_manifest`` redacted the file's text, but TOML reads the escapes: the copy
    a bundle carries into the air gap held the password or token (or its tail), as the decoded
    manifest shows. It is refused, naming the key, never written with the secret."""
    path = tmp_path / "mlenv.toml"
    path.write_text(HEAD + line)
    shared = _shared_or_refused(path)
    assert shared is None or ("S3CRET" not in shared and "VALUE" not in shared)


@pytest.mark.parametrize(
    "line",
    [
        # an escaped quote inside a secret value: the '\\' went with the value, the quote
        # then closed the string early and the bundle's manifest was no TOML
        'index-url = "https://pypi.example/simple?token=ab\\"cd"\n',
        # no blank between two strings: the userinfo pattern ran from the first "://" over
        # the '",' to the '@' of the next string and fused the two into one
        'find-links = ["https://h.example","wheels@2"]\n',
    ],
)
def test_a_bundles_manifest_is_the_manifest_or_refused(tmp_path: Path, line: str) -> None:
    """What the bundle carries reads as the manifest read with its URLs redacted, value by
    value; a text whose redaction changes any other value is refused with a clear error, not
    written as TOML the air gap refuses or as other resolution inputs."""
    path = tmp_path / "mlenv.toml"
    path.write_text(HEAD + line)
    _shared_or_refused(path)


def test_a_plain_manifest_is_still_shared_byte_for_byte_but_its_secrets(tmp_path: Path) -> None:
    path = tmp_path / "mlenv.toml"
    url = "https://u:S3CRETVALUE@h.example/simple?token=S3CRETVALUE"
    path.write_text(
        f'{HEAD}index-url = "{url}"\nfind-links = ["https://h.example", "wheels@2"]  # ops@corp\n'
    )
    shared = _shared_or_refused(path)
    text = path.read_text()
    assert shared == text.replace("u:S3CRETVALUE@", "***@").replace("S3CRETVALUE", "***")


# Projects among PyPI's 15,000 most downloaded whose canonical name ends in a credential word
# (``_CREDENTIAL_END``): every message naming one lost its rest to ``***``.
POPULAR = [
    "keyrings-google-artifactregistry-auth",  # the keyring GCP's Artifact Registry needs
    "azure-mgmt-authorization",
    "alibabacloud-credentials",
    "djangorestframework-api-key",
    "eks-token",
    "git-credentials",
]


@pytest.mark.parametrize("project", POPULAR)
@pytest.mark.parametrize(
    "shape",
    [
        "{}: no version satisfies all of",
        "{}: not found on https://pypi.example/simple",
        "{}=2.0 is not in conda-forge",
        "'{}': no wheel for the target",
        "  {} : 3 candidates refused",
    ],
)
def test_a_popular_projects_name_is_no_credential_header(project: str, shape: str) -> None:
    """mlenv prints a project by its canonical name (lowercase words joined by ``-``), as
    HTTP/2 spells a header; a header so spelled is one of a few (``proxy-authorization``,
    ``private-token``, ``api-key``...), all of whose words are credential or HTTP words. A
    project's other words (``azure``, ``git``, ``eks``) tell it apart."""
    text = shape.format(project)
    assert redact(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "proxy-authorization: S3CRETVALUE",
        "private-token: S3CRETVALUE",
        "job-token: S3CRETVALUE",
        "deploy-token: S3CRETVALUE",
        "set-cookie: session=S3CRETVALUE",
        "api-key: S3CRETVALUE",
        "ocp-apim-subscription-key: S3CRETVALUE",
        "dd-api-key: S3CRETVALUE",
        "dd-application-key: S3CRETVALUE",
        "client-secret = S3CRETVALUE",
        "auth-token: S3CRETVALUE",
        "{'secret-key': 'S3CRETVALUE'}",
        "[(b'private-token', b'S3CRETVALUE')]",
        # other spellings than a canonical project name keep the last-word rule
        "Azure-Mgmt-Authorization: S3CRETVALUE",
        "EKS_TOKEN=S3CRETVALUE",
        "git_credentials: S3CRETVALUE",
        "x-git-credentials: S3CRETVALUE",
    ],
)
def test_credential_headers_spelled_in_lowercase_stay_hidden(text: str) -> None:
    shown = redact(text)
    assert "S3CRETVALUE" not in shown and "***" in shown, shown


def test_lock_names_the_popular_project_it_cannot_find(tmp_path: Path) -> None:
    """``mlenv lock`` said ``keyrings-google-artifactregistry-auth: ***``: the user could not
    read why the keyring GCP's Artifact Registry needs was not locked."""
    index = write_simple_index(tmp_path / "index", [build_wheel("numpy", "2.0")])
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        f'{HEAD}index-url = "{index}"\ndependencies = ["keyrings.google-artifactregistry-auth"]\n'
    )
    result = run_mlenv(["lock"], cwd=project)
    assert result.returncode == 1, result.stderr
    assert "keyrings-google-artifactregistry-auth: not found on" in result.stderr, result.stderr
    assert "***" not in result.stderr, result.stderr


def test_the_project_spelling_rule_keeps_the_scan_linear() -> None:
    """The spelling test reads each name once, after the name patterns did."""
    shapes: list[Callable[[int], str]] = [
        lambda n: "a-" * (n // 2) + "token: x",
        lambda n: "eks-token: " * (n // 11),
        lambda n: "(b'git-credentials', " * (n // 21),
        lambda n: "a" * n + "-token=x",
    ]
    for number, shape in enumerate(shapes):
        assert growth(redact, shape) < LINEAR_BOUND, number


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # the index an entry came from is what the GPU package table reads a CUDA build from
        # (xformers, paddle, onnxruntime-gpu): edited, verify promised another driver floor
        ('index = "wheels"', 'index = "https://download.pytorch.org/whl/cu121"'),
        ('index = "file://', 'index = "https://evil.example/simple" # file://'),
    ],
)
def test_an_entry_from_a_source_the_target_does_not_list_is_refused(
    tmp_path: Path, old: str, new: str
) -> None:
    """An entry's ``index`` is one of the manifest's indexes or find-links (drift.lock_drift);
    edited to another, `lock --check` and `verify` took it."""
    project, text = locked_index_and_links_project(tmp_path)
    assert old in text, text
    (project / "mlenv.lock").write_text(text.replace(old, new, 1))
    for args in (["lock", "--check"], ["verify"]):
        result = run_mlenv(args, cwd=project)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        shown = result.stdout + result.stderr  # verify reports on stdout
        assert ".index is " in shown and "the lock was edited" in shown, shown
        assert "Traceback" not in shown


def test_an_unedited_lock_from_indexes_and_find_links_is_fresh(tmp_path: Path) -> None:
    project, _ = locked_index_and_links_project(tmp_path)
    for args in (["lock", "--check"], ["verify"]):
        result = run_mlenv(args, cwd=project)
        assert result.returncode == 0, (args, result.stdout, result.stderr)


CUDA_MANIFEST = (
    '[environment]\nname = "e"\npython = "3.11"\n[pypi]\ndependencies = ["torch"]\n'
    '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n'
)


def _cpu_torch_lock(manifest: Manifest, *, marked: bool) -> str:
    """A lock of torch's CPU build for ``manifest``, as `mlenv lock` writes it, its entry
    marked cpu-ok or not."""
    entry = locked(
        "torch",
        "2.5.1+cpu",
        filename="torch-2.5.1+cpu-cp311-cp311-linux_x86_64.whl",
        url="https://download.pytorch.org/whl/cpu/torch-2.5.1%2Bcpu-cp311-cp311-linux_x86_64.whl",
        index="https://pypi.org/simple",
        cpu_ok=marked,
        requires_driver=None,
    )
    lock = Lock(inputs_hash(manifest), target_of(manifest))
    lock = lock.with_platforms([LockedPlatform("linux-64", (entry,))])
    driver = verify_lock(lock, lock.inputs_hash, None).requires_driver
    return render(replace(lock, target=replace(lock.target, requires_driver=driver)))


def test_a_cpu_ok_mark_the_manifest_does_not_allow_is_an_edit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``cpu-ok = true`` is what `mlenv lock` writes for a CPU build of a package the
    manifest's [cuda] cpu-ok lists. Added by hand to a package it does not list, verify's
    error (a silent CPU fallback in a CUDA image) became a warning that even cited [cuda]
    cpu-ok, and `lock --check` called the lock fresh."""
    manifest = load_manifest(CUDA_MANIFEST)
    honest = _cpu_torch_lock(manifest, marked=False)
    codes = [f.code for f in verify(manifest, load_lock(honest), Path("l"), None, None).errors]
    assert codes == ["cpu-fallback"], codes
    edited = _cpu_torch_lock(manifest, marked=True)
    verdict = verify(manifest, load_lock(edited), Path("l"), None, None)
    assert verdict.errors and all(f.code != "cpu-build" for f in verdict.errors), verdict.findings
    assert any("cpu-ok" in f.message and "torch" in f.message for f in verdict.errors)
    (tmp_path / "mlenv.toml").write_text(CUDA_MANIFEST)
    (tmp_path / "mlenv.lock").write_text(edited)
    args = ["--manifest", str(tmp_path / "mlenv.toml"), "lock", "--check"]
    assert uptodate.answer(["-q", *args]) is None
    capsys.readouterr()
    assert cli_main(args) == 1
    err = capsys.readouterr().err
    assert "cpu-ok" in err and "torch" in err and "the lock was edited" in err, err


def test_a_cpu_ok_mark_the_manifest_allows_is_fresh(tmp_path: Path) -> None:
    text = CUDA_MANIFEST + 'cpu-ok = ["torch"]\n'
    manifest = load_manifest(text)
    lock = _cpu_torch_lock(manifest, marked=True)
    verdict = verify(manifest, load_lock(lock), Path("l"), None, None)
    assert not verdict.errors, verdict.findings
    (tmp_path / "mlenv.toml").write_text(text)
    (tmp_path / "mlenv.lock").write_text(lock)
    assert cli_main(["-q", "--manifest", str(tmp_path / "mlenv.toml"), "lock", "--check"]) == 0


def test_an_unverified_mark_the_manifest_does_not_allow_is_an_edit() -> None:
    """``cuda = "unverified"`` is what `mlenv lock` writes for a GPU package the manifest's
    [cuda] unverified lists; added by hand, verify's error became a warning."""
    manifest = load_manifest(CUDA_MANIFEST.replace('"torch"', '"xformers"'))
    entry = locked("xformers", "0.0.30", index="https://pypi.org/simple", cuda="unverified")
    lock = Lock(inputs_hash(manifest), target_of(manifest))
    lock = lock.with_platforms([LockedPlatform("linux-64", (entry,))])
    verdict = verify(manifest, load_lock(render(lock)), Path("l"), None, None)
    stale = [f for f in verdict.errors if f.code == "lock-stale"]
    assert stale and ".cuda is unverified" in stale[0].message, verdict.findings
    assert "[cuda] unverified: none" in stale[0].message, stale[0].message


ADDED = """
[[platform.linux-64.package]]
name = "evil"
version = "1.0"
filename = "evil-1.0-py3-none-any.whl"
url = "{index}/evil-1.0-py3-none-any.whl"
sha256 = "{sha}"
size = 10
index = "{index}"
dependencies = []
source = "pypi"
"""


def test_an_entry_nothing_needs_is_an_edit(tmp_path: Path) -> None:
    """A resolution pins only what the requirements reach through the entries' dependencies.
    An entry added by hand, from the manifest's own index, passed `lock --check` and
    `verify`, and `build` would have installed a package nothing asked for."""
    project, text = locked_index_and_links_project(tmp_path)
    index = tomllib.loads(text)["target"]["indexes"][0]
    added = ADDED.format(index=index, sha="b" * 64)
    (project / "mlenv.lock").write_text(text + added)
    for args in (["lock", "--check"], ["verify"], ["export", "--format", "requirements"]):
        result = run_mlenv(args, cwd=project)
        shown = result.stdout + result.stderr
        assert result.returncode == 1, (args, shown)
        assert "(evil 1.0)" in shown and "nothing needs it" in shown, shown
        assert "Traceback" not in shown
