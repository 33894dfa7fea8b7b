"""Fifty-eighth adversary pass: byte identity of every output under what CI's reprotest run does
not vary, and SOURCE_DATE_EPOCH values other tools of a build would read differently.

Every test builds twice (or is refused) and compares the sha256 of every file under dist/:
image.tar, each blob of dist/oci, index.json, the conda-pack archive, build.json and the SBOM.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mlenv.index.http import HttpClient
from tests.support.cli import run_mlenv
from tests.support.golden import build, digests, for_host_python, golden_project
from tests.support.odd_wheels import odd_wheel

pytestmark = pytest.mark.hostile


@pytest.fixture(scope="module")
def odd_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The golden project plus the odd wheel, locked and fetched: (project, cache)."""
    root = tmp_path_factory.mktemp("attack58")
    project = for_host_python(golden_project(root / "project"))  # --bytecode hash needs it
    filename, data = odd_wheel()
    (project / "wheels" / filename).write_bytes(data)
    manifest = project / "mlenv.toml"
    manifest.write_text(manifest.read_text().replace('["hello"]', '["hello", "odd"]'))
    env = {"MLENV_CACHE_DIR": str(root / "cache")}
    for args in (["lock"], ["fetch"]):
        done = run_mlenv(args, project, env)
        assert done.returncode == 0, (args, done.stderr)
    return project, root / "cache"


def available(locale: str) -> str:
    """``locale``, which must exist: a missing one silently falls back to C and tests nothing."""
    probe = "import locale; locale.setlocale(locale.LC_ALL, '')"
    done = subprocess.run([sys.executable, "-c", probe], env={"LC_ALL": locale}, check=False,
                          capture_output=True)  # fmt: skip
    assert done.returncode == 0, f"locale {locale} is missing: run scripts/install-test-tools"
    return locale


def _built(project: Path, cache: Path, *extra: str, **kw: object) -> dict[str, str]:
    done = build(project, cache, *extra, **kw)  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr
    return digests(project / "dist")


@pytest.mark.parametrize("bytecode", ["none", "hash"])
def test_odd_wheel_members_build_the_same_bytes_under_every_ambient_variation(
    odd_project: tuple[Path, Path], tmp_path: Path, bytecode: str
) -> None:
    """Protects the entry normalisation (tree_listing.collect: modes, mtimes, owners, PAX names) and
    the hermetic compiler: a wheel's setuid/0000/DOS modes, 2107 mtimes, >100-byte and Turkish
    names give the same bytes from another path with spaces and non-ASCII, under umask 077,
    tr_TR, POSIX, another TZ and hash seed, and with the layer cache off."""
    project, cache = odd_project
    first = _built(project, cache, "--bytecode", bytecode, env={"MLENV_LAYER_CACHE_MAX": "0"})
    moved = tmp_path / "p a t h" / ("\u0131\u0130 \u00e9" + "x" * 120) / "project"
    moved.parent.mkdir(parents=True)
    golden_project(moved)  # a fresh copy, then the odd project's files over it
    for name in ("mlenv.toml", "mlenv.lock"):
        (moved / name).write_bytes((project / name).read_bytes())
    for wheel in (project / "wheels").iterdir():
        (moved / "wheels" / wheel.name).write_bytes(wheel.read_bytes())
    for locale in ("tr_TR.UTF-8", "POSIX"):
        env = {"LC_ALL": available(locale), "TZ": "Pacific/Kiritimati", "PYTHONHASHSEED": "4242",
               "MLENV_LAYER_CACHE_MAX": "0", "HOME": str(tmp_path)}  # fmt: skip
        again = _built(moved, cache, "--bytecode", bytecode, env=env, umask=0o077)
        assert again == first, locale
        assert len(first) >= 8  # every output, each blob of dist/oci included


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("\u0661\u0667" + "\u0660" * 8, "is not a number of seconds"),  # Arabic-Indic
        ("\u00b2", "is not a number of seconds"),  # isdigit() holds, int() raises
        ("253402300800", "after 9999-12-31T23:59:59Z"),  # year 10000: no RFC 3339 time
        ("99999999999999999999", "after 9999-12-31T23:59:59Z"),  # past time_t
    ],
)
def test_a_source_date_epoch_other_tools_would_refuse_is_an_error_not_a_crash(
    odd_project: tuple[Path, Path], value: str, why: str
) -> None:
    """Protects commands.build.source_date_epoch: ASCII digits only, at most 9999-12-31;
    before, a superscript two and year 10000 were internal errors, and other scripts' digits
    (which isdigit() takes and every other tool of a build refuses) were read."""
    project, cache = odd_project
    done = build(project, cache, env={"SOURCE_DATE_EPOCH": value})
    assert done.returncode == 1, done.stderr
    assert why in done.stderr and "internal error" not in done.stderr


def test_the_last_representable_source_date_epoch_builds_and_leading_zeros_change_nothing(
    odd_project: tuple[Path, Path],
) -> None:
    project, cache = odd_project
    _built(project, cache, env={"SOURCE_DATE_EPOCH": "253402300799"})
    plain = _built(project, cache, env={"SOURCE_DATE_EPOCH": "1700000000"})
    zeros = _built(project, cache, env={"SOURCE_DATE_EPOCH": "0001700000000"})
    assert plain == zeros


@pytest.mark.parametrize("value", ["\u00b2", "\u2460", "\u0663"])
def test_a_retry_after_of_non_ascii_digits_from_an_index_is_the_default_delay(value: str) -> None:
    """Protects index.http.HttpClient._delay as attack15 protected the registry client: a 503
    with Retry-After "²" (the Latin-1 byte 0xB2) passed isdigit() and float() raised, so lock
    and fetch ended in an internal error instead of retrying."""
    answers = iter([httpx.Response(503, headers=[(b"Retry-After", value.encode())])])
    transport = httpx.MockTransport(lambda request: next(answers, httpx.Response(200, text="ok")))
    pauses: list[float] = []
    client = HttpClient(transport=transport, retries=1, backoff=0.25, sleep=pauses.append)
    assert client.get("https://index.test/simple/x/").content == b"ok"
    assert pauses == [0.25]


@pytest.mark.parametrize("bytecode", ["none", "hash"])
def test_a_locale_whose_charset_is_not_utf8_changes_no_output_byte(
    odd_project: tuple[Path, Path], bytecode: str
) -> None:
    """Protects utf8mode.ensure_utf8_filenames: under tr_TR.ISO-8859-9 Python encoded file
    names in Latin-5, so the odd wheel's NFD name was refused as a corrupt wheel and "straße.py"
    was staged under other bytes ("an installed file is not in the tree (a bug)")."""
    project, cache = odd_project
    env = {"MLENV_LAYER_CACHE_MAX": "0"}
    first = _built(project, cache, "--bytecode", bytecode, env=env)
    latin5 = {**env, "LC_ALL": available("tr_TR.ISO-8859-9")}
    assert _built(project, cache, "--bytecode", bytecode, env=latin5) == first
