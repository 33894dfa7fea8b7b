"""Attack pass 62: the UTF-8 re-exec, redirect hosts IDNA 2008 spells, and which HTTP errors
are worth asking again. Each test names what it protects and fails if its fix is undone."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.index.redirects import unfetchable

pytestmark = pytest.mark.hostile

# Valid IDNA 2008 hosts (httpx sends their A-labels) that Python's IDNA 2003 codec refuses
# ("Violation of BIDI requirement 3": a right-to-left label ending in a digit).
IDNA2008_HOSTS = ["https://\u05d0\u05d11.co.il/v2/b", "https://\u0627\u0661.example/b"]


@pytest.mark.parametrize("url", IDNA2008_HOSTS, ids=range(len(IDNA2008_HOSTS)))
def test_a_redirect_to_a_host_idna_2008_spells_is_followed(url: str) -> None:
    """``redirects.unfetchable`` re-encoded httpx's Unicode host with Python's IDNA 2003
    codec, so an index or registry redirect to ``אב1.co.il`` (which httpx requests as
    ``xn--1-zhcd.co.il``) was refused as a malformed Location."""
    import httpx

    from mlenv.oci.auth import readable_redirect

    assert unfetchable(url) is None
    request = httpx.Request("GET", "https://registry.test/v2/x/blobs/sha256:0")
    location = [(b"Location", url.encode())]  # UTF-8 bytes, as they come off the wire
    readable_redirect(httpx.Response(307, headers=location, request=request))


@pytest.mark.parametrize(
    "url", ["https://a..example/x", "https://" + "a" * 64 + ".example/", "https://xn--.example/"]
)
def test_a_host_no_socket_can_spell_is_still_unfetchable(url: str) -> None:
    assert unfetchable(url) is not None


@pytest.mark.parametrize(
    ("flag", "exported", "expected"),
    [("-E", "", "1"), ("-I", "", "1"), ("-E", "1", "1"), ("-Xutf8=0", "", "0")],
)
def test_the_utf8_re_exec_holds_when_python_ignores_the_environment(
    flag: str, exported: str, expected: str
) -> None:
    """``utf8mode.ensure_utf8_filenames`` re-ran the command with only ``PYTHONUTF8=1``:
    under ``python -I`` or ``-E`` (which ignore PYTHON* variables) the new process kept the
    locale's file-name encoding, silently, the very bytes the re-exec is there to prevent."""
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parents[2])
    code = (
        f"import sys; sys.path.insert(0, {root!r}); import mlenv.utf8mode as u; "
        "u.ensure_utf8_filenames(); print(sys.flags.utf8_mode, sys.getfilesystemencoding())"
    )
    env = {"LC_ALL": "tr_TR.ISO-8859-9", "PATH": "/usr/bin:/bin"}
    if exported:  # exported, but ignored by -E: no reason to stay in the locale's encoding
        env["PYTHONUTF8"] = exported
    done = subprocess.run(
        [sys.executable, "-B", flag, "-c", code],  # -I and -E ignore PYTHONDONTWRITEBYTECODE
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    # the user's own -X utf8=0 is kept, and ends the re-exec (no loop)
    assert done.stdout.split()[0] == expected, done
    assert (done.stdout.split()[1] == "utf-8") == (expected == "1"), done


def test_a_poetry_caret_or_tilde_keeps_the_versions_epoch() -> None:
    """``importers.poetry._caret`` and ``_tilde`` wrote the upper bound without the epoch:
    ``^1!2.0`` became ``>=1!2.0,<3.0.0``, a range no version is in (``3.0.0`` has epoch 0),
    where Poetry's next breaking version keeps it."""
    from packaging.specifiers import SpecifierSet

    from mlenv.importers.poetry_constraints import translate

    assert translate("^1!2.0") == ">=1!2.0,<1!3.0.0"
    assert translate("~1!2.3") == ">=1!2.3,<1!2.4.0"
    assert "1!2.5" in SpecifierSet(translate("^1!2.0"))


def test_a_poetry_compatible_release_of_one_part_is_refused_as_poetrys() -> None:
    """``~=1`` (no PEP 440 form; Poetry refuses it too) passed through as ``name~=1``, a line
    no reader takes, instead of the importer's refusal naming the entry."""
    from mlenv.importers.poetry_constraints import PoetryConstraintError, translate

    with pytest.raises(PoetryConstraintError, match="two release parts"):
        translate("~=1")
    assert translate("~=1.2") == "~=1.2"


def test_a_request_timeout_answer_is_asked_again(tmp_path: Path) -> None:
    """408 (the server or a proxy gave up waiting for the request) was read as a permanent
    client error: neither the client's retries nor fetch's asked again, and a download failed
    with "check the URL" where uv's client retries it."""
    from mlenv.cache.download import is_transient
    from mlenv.index.http import HttpClient, HttpError
    from tests.support.httpserver import Fault, IndexServer

    (tmp_path / "a.whl").write_bytes(b"wheel")
    with (
        IndexServer(tmp_path) as server,
        HttpClient(retries=1, backoff=0.0, netrc_path=Path("/nonexistent")) as http,
    ):
        server.fault("/a.whl", Fault(status=408, times=1))
        assert http.get(server.url + "/a.whl").content == b"wheel"
        assert len(server.requests_for("/a.whl")) == 2
    assert is_transient(HttpError("x", url="u", status=408, hint=""))
    assert not is_transient(HttpError("x", url="u", status=404, hint=""))


@pytest.mark.parametrize("location", ["http://[::1/x", "//[::1/x", "http://[::g]/x"])
def test_a_registry_redirect_to_a_broken_ipv6_literal_is_the_registrys_fault(
    location: str,
) -> None:
    """``oci.auth.readable_redirect`` joined the Location with ``urljoin``, which raised a bare
    ``ValueError`` ("Invalid IPv6 URL") out of the response hook: a push or pull redirected
    to an unclosed or invalid bracketed host ended as an internal error."""
    import httpx

    from mlenv.oci.auth import readable_redirect
    from mlenv.oci.reference import RegistryError

    request = httpx.Request("GET", "https://registry.test/v2/x/blobs/sha256:0")
    answer = httpx.Response(307, headers=[(b"Location", location.encode())], request=request)
    with pytest.raises(RegistryError, match="Location mlenv cannot fetch") as caught:
        readable_redirect(answer)
    assert "malformed" in (caught.value.hint or "")


@pytest.mark.parametrize("location", ["?part=2", "/v2/x/blobs/other", "https://cdn.test/b"])
def test_a_registry_redirect_httpx_can_follow_is_followed(location: str) -> None:
    import httpx

    from mlenv.oci.auth import readable_redirect

    request = httpx.Request("GET", "https://registry.test/v2/x/blobs/sha256:0")
    readable_redirect(httpx.Response(303, headers={"Location": location}, request=request))


def test_a_source_date_epoch_of_thousands_of_digits_is_a_build_error() -> None:
    """``build.source_date_epoch`` took any run of ASCII digits to ``int()``, which refuses
    past 4300 digits (Python's conversion limit): a bare ValueError, an internal error, where
    a value past 9999-12-31 is the build's error. Leading zeros still read as the number."""
    from mlenv.commands.build import source_date_epoch
    from mlenv.errors import MlenvError

    with pytest.raises(MlenvError, match="after 9999-12-31"):
        source_date_epoch({"SOURCE_DATE_EPOCH": "1" * 5000})
    assert source_date_epoch({"SOURCE_DATE_EPOCH": "0" * 5000 + "1700000000"}) == 1700000000
    assert source_date_epoch({"SOURCE_DATE_EPOCH": "253402300799"}) == 253402300799
    assert source_date_epoch({"SOURCE_DATE_EPOCH": "0"}) == 0


def test_a_layer_cache_size_of_thousands_of_digits_is_a_size_not_a_crash() -> None:
    """``cache.layers.parse_size`` gave ``int()`` any run of digits (``MLENV_LAYER_CACHE_MAX``,
    ``mlenv cache --max-size``): past 4300 digits a bare ValueError, an internal error."""
    from mlenv.cache.layers import parse_size

    assert parse_size("1" * 5000, "--max-size") >= 10**40
    assert parse_size("0" * 5000 + "2K", "--max-size") == 2048


def test_no_utf8_re_exec_on_windows_where_execve_loses_the_exit_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Windows' ``os.execve`` runs the command in a new process and ends this one at once:
    the shell got mlenv's prompt back, and status 0, while the command still ran (a legacy
    ``PYTHONLEGACYWINDOWSFSENCODING`` file-name encoding is the only way there)."""
    import os
    import sys

    from mlenv import utf8mode

    calls: list[object] = []
    monkeypatch.setattr(utf8mode, "utf8_filenames", lambda: False)
    monkeypatch.setattr(os, "execve", lambda *a: calls.append(a))
    monkeypatch.delenv("PYTHONUTF8", raising=False)
    monkeypatch.setattr(sys, "platform", "win32")
    utf8mode.ensure_utf8_filenames()
    assert calls == []
    monkeypatch.setattr(sys, "platform", "linux")
    utf8mode.ensure_utf8_filenames()
    assert len(calls) == 1
