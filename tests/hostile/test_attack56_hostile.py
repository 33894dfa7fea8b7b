"""Attack pass 56: a lock edited to fetch a conda package from a channel the manifest does not
name (the record's ``channel`` and ``url`` were never compared with [conda] channels), and
what an index or mirror answers to a resumed or redirected download. Each test names what it
protects and fails if its fix is undone."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from mlenv import lockfile_fresh, lockfile_read, lockfile_render
from mlenv.cache.download import is_transient
from mlenv.drift import lock_drift
from mlenv.errors import MlenvError, ProblemsError
from mlenv.index import wheelmeta
from mlenv.index.http import HttpClient, HttpError
from mlenv.index.pages import parse_json, parse_page
from mlenv.limits import MAX_WHEEL_BYTES
from mlenv.lockfile import Lock, LockedPlatform
from mlenv.manifest_read import loads as load_manifest
from mlenv.net.origins import UnsafeUrlError
from tests.support.cli import run_mlenv
from tests.support.fetch_project import locked_index_and_links_project
from tests.support.httpserver import Fault, IndexServer
from tests.support.locks import conda_record, target_of

pytestmark = pytest.mark.hostile

FORGE = "https://conda.anaconda.org/conda-forge"
MANIFEST = (
    '[environment]\nname = "e"\npython = "3.11"\nplatforms = ["linux-64"]\n[pypi]\n'
    '[conda]\nchannels = ["conda-forge"]\ndependencies = ["libgomp"]\n'
)


def _lock_text(manifest: str, **edit: str) -> str:
    """A lock of ``manifest`` holding one conda-forge record of libgomp, edited by ``edit``."""
    made = load_manifest(manifest)
    record = conda_record("libgomp", "14.2.0", "h0")
    record = replace(record, channel=edit.get("channel", record.channel), url=edit["url"])
    lock = Lock(lockfile_fresh.inputs_hash(made), target_of(made)).with_platforms(
        [LockedPlatform("linux-64", (), (record,))]
    )
    return lockfile_render.render(lock)


OTHER = "https://evil.example/conda-forge"
FILE = "libgomp-14.2.0-h0.conda"
EDITS = [
    # the channel and its URL both moved to a host the manifest does not name
    ({"channel": OTHER, "url": f"{OTHER}/linux-64/{FILE}"}, ".channel", "the lock was edited"),
    # another channel of the same alias: conda-forge is named, pytorch is not
    (
        {"channel": "https://conda.anaconda.org/pytorch",
         "url": f"https://conda.anaconda.org/pytorch/linux-64/{FILE}"},
        ".channel", "the lock was edited",
    ),
    # the channel left alone, the URL moved: fetch reads the URL
    ({"url": f"{OTHER}/linux-64/{FILE}"}, "conda[0] (libgomp 14.2.0)", "is not below"),
    ({"url": f"{FORGE}/linux-64/../../pytorch/linux-64/{FILE}"}, "conda[0]", "is not below"),
    ({"url": f"{FORGE}/noarch/{FILE}"}, "conda[0]", "is not below"),
    ({"url": f"{FORGE}/linux-64/{FILE}?x=1"}, "conda[0]", "is not below"),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "where", "why"), EDITS)
def test_a_conda_record_from_a_channel_the_manifest_does_not_name_is_refused(
    tmp_path: Path, edit: dict[str, str], where: str, why: str
) -> None:
    """``drift.conda_channel_drift`` holds each record's ``channel`` to [target].conda-channels
    (which ``target_drift`` holds to the manifest's) and ``lockfile_consistency._conda_problems``
    holds its
    ``url`` to ``<channel>/<subdir>/<file>``: before, a lock edited to fetch libgomp from
    evil.example passed `lock --check` and `verify`, and `fetch` downloaded it."""
    (tmp_path / "mlenv.toml").write_text(MANIFEST)
    (tmp_path / "mlenv.lock").write_text(_lock_text(MANIFEST, **edit))
    for args in (["lock", "--check"], ["verify"], ["fetch"]):
        result = run_mlenv(args, cwd=tmp_path)
        shown = result.stdout + result.stderr
        assert result.returncode == 1, (args, shown)
        assert "mlenv.lock" in shown and where in shown and why in shown, (args, shown)
        assert "Traceback" not in shown, shown


@pytest.mark.parametrize(
    ("channel", "locked"),
    [
        ("conda-forge", FORGE),
        ("conda-forge/", FORGE),
        ("https://conda.anaconda.org/conda-forge/", FORGE),
        ("https://u:p@conda.internal/t/tok-1/forge", "https://conda.internal/forge"),
        ("/srv/my channel", "file:///srv/my%20channel"),
        ("./channel", "file:///home/me/project/channel"),
        ("../shared/channel", "file:///home/me/shared/channel"),
    ],
)
def test_a_record_from_the_manifests_channel_is_fresh(channel: str, locked: str) -> None:
    """The rule takes each spelling the solver records for a channel the manifest names: a
    name below anaconda.org's alias, a URL without its credentials, a directory as its file:
    URL (a relative one from wherever lock ran)."""
    manifest = MANIFEST.replace('"conda-forge"', f'"{channel}"')
    made = load_manifest(manifest)
    record = conda_record("libgomp", "14.2.0", "h0")
    record = replace(record, channel=locked, url=f"{locked}/linux-64/{record.filename}")
    lock = Lock(lockfile_fresh.inputs_hash(made), target_of(made)).with_platforms(
        [LockedPlatform("linux-64", (), (record,))]
    )
    loaded = lockfile_read.loads(lockfile_render.render(lock))
    assert lock_drift(loaded, lockfile_fresh.resolution_inputs(made)) is None
    moved = replace(record, channel="file:///elsewhere", url=f"file:///elsewhere/linux-64/{FILE}")
    drift = lock_drift(replace(loaded, platforms=(LockedPlatform("linux-64", (), (moved,)),)),
                       lockfile_fresh.resolution_inputs(made))  # fmt: skip
    assert drift is not None and drift[0].endswith("conda[0] (libgomp 14.2.0).channel"), drift


def test_a_url_outside_its_channel_is_refused_by_the_reader() -> None:
    """The reader names the file, the entry and the URL (``lock`` reads back what it writes,
    so no solver answer of another layout can be written either)."""
    text = _lock_text(MANIFEST, url=f"{OTHER}/linux-64/{FILE}")
    with pytest.raises(MlenvError) as caught:
        lockfile_read.loads(text, "p/mlenv.lock")
    assert isinstance(caught.value, ProblemsError)
    shown = "".join(f"{p.where}: {p.message}\n" for p in caught.value.problems)
    assert "p/mlenv.lock: platform.linux-64.conda[0] (libgomp 14.2.0)" in shown, shown
    assert f"is not below '{FORGE}/linux-64'/" in shown, shown


# ---------------------------------------------------------------------------------------------
# An index or mirror answering a resumed (ranged) read with something else


def test_a_server_ignoring_ranges_is_bounded_when_the_index_lists_no_size(
    server: IndexServer, http: HttpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``wheelmeta.open_remote_zip`` spooled a 200 answer to the tail request bounded only by
    the size the index lists: with no PEP 700 size (most find-links pages, many mirrors) an
    endless answer filled the disk. It is now bounded by ``limits.MAX_WHEEL_BYTES``, the bound
    on any wheel (lowered here so the test sends 8 MiB, not 8 GiB)."""
    monkeypatch.setattr(wheelmeta, "MAX_WHEEL_BYTES", 1000)
    (server.root / "big.whl").write_bytes(b"PK" + b"\0" * (8 << 20))
    url = server.url + "/big.whl"
    server.ranges = False
    with (
        pytest.raises(HttpError, match="more than the 1000 bytes") as caught,
        wheelmeta.open_remote_zip(http, url),
    ):
        pass
    assert caught.value.where == url
    assert server.bytes_served("/big.whl") == (8 << 20) + 2  # sent; not all of it kept


@pytest.mark.parametrize("ranges", [False, True], ids=["whole-file-200", "206-of-another-size"])
def test_a_later_read_of_another_file_is_not_mixed_with_the_first(
    server: IndexServer, http: HttpClient, ranges: bool
) -> None:
    """The first ranged answer said the file has ``first`` bytes; a later read answered with
    the whole file (200) of another size was kept as the file from byte 0, and a 206 naming
    another total was taken as a part of it: the zip read was stitched from two files (a
    mirror swapping the file mid-read). Both are now refused, naming the URL."""
    first = 300 * 1024
    (server.root / "w.whl").write_bytes(b"PK" + b"\1" * (200 * 1024))  # what is there now
    tail = f"bytes {first - wheelmeta.TAIL_BYTES}-{first - 1}/{first}"
    body = b"\2" * wheelmeta.TAIL_BYTES
    server.fault("/w.whl", Fault(status=206, body=body, headers={"Content-Range": tail}))
    server.ranges = ranges
    url = server.url + "/w.whl"
    with wheelmeta.open_remote_zip(http, url) as handle:
        handle.seek(0)
        with pytest.raises(HttpError) as caught:
            handle.read(10)
    assert caught.value.where == url and caught.value.hint, caught.value
    shown = caught.value.message
    assert (str(first) in shown) if not ranges else ("another size" in shown), shown


# ---------------------------------------------------------------------------------------------
# A redirect or link that names a URL no client can request

UNREADABLE_LOCATIONS = [
    "http://xn--/a",  # an A-label without punycode: IDNAError from httpx
    "http://a..b/x",  # an empty label: a UnicodeError from getaddrinfo's idna codec
    "http://" + "a" * 64 + ".example/x",  # a label past 63 characters
    "http://exa\u200bmple/",  # httpx: "Invalid URL in location header"
    "http://a/" + "b" * 70_000,  # past httpx's URL length limit
]


@pytest.mark.parametrize("location", UNREADABLE_LOCATIONS, ids=range(len(UNREADABLE_LOCATIONS)))
def test_a_redirect_httpx_cannot_read_is_the_servers_fault_asked_once(
    server: IndexServer, location: str
) -> None:
    """httpx builds the next request from a redirect's Location even when told not to follow,
    and raised on one it could not read before ``HttpClient._send`` saw the answer: a
    RemoteProtocolError retried as a network failure ("check the network, proxy settings"),
    or an IDNAError or UnicodeError that ended `lock` as an internal error. The Location is now
    taken from httpx (``redirects.hold_location``) and judged by ``redirects.unfetchable``: one
    request, an HttpError naming the URL and the 302, which fetch does not retry."""
    raw = location.encode().decode("latin-1")  # as it travels in a header
    server.fault("/r", Fault(status=302, headers={"Location": raw}, times=None))
    with (
        HttpClient(retries=2, backoff=0.0, netrc_path=Path("/nonexistent")) as http,
        pytest.raises(HttpError) as caught,
    ):
        http.get(server.url + "/r")
    assert caught.value.status == 302 and caught.value.where == server.url + "/r", caught.value
    assert "Location mlenv cannot fetch" in caught.value.message
    assert "network" not in (caught.value.hint or ""), caught.value.hint
    assert not is_transient(caught.value)
    assert len(server.requests_for("/r")) == 1


@pytest.mark.parametrize(
    "href", ["http://[::g]/a-1.0-py3-none-any.whl", "//[::1/a-1.0-py3-none-any.whl"]
)
def test_a_link_or_redirect_whose_host_urlsplit_refuses_is_refused_not_a_crash(
    server: IndexServer, http: HttpClient, href: str
) -> None:
    """``origins.follow`` let the ``ValueError`` of ``urlsplit`` out for a bracketed host that
    is no address or never closes (a page link, a JSON ``url``, a Location, a ``<base>``):
    `lock` ended in an internal error. It is refused, naming the page."""
    page = "https://pypi.example/simple/a/"
    html = f'<a href="{href}">a-1.0-py3-none-any.whl</a>'.encode()
    file = {"filename": "a-1.0-py3-none-any.whl", "url": href, "hashes": {}}
    document = {"meta": {"api-version": "1.0"}, "name": "a", "files": [file]}
    parses: list[Callable[[], object]] = [
        lambda: parse_page(html, "text/html", page),
        lambda: parse_page(f'<base href="{href}"><a href="x">x</a>'.encode(), "text/html", page),
        lambda: parse_json(json.dumps(document).encode(), page),
    ]
    for parse in parses:
        with pytest.raises(UnsafeUrlError, match="it is not a URL") as caught:
            parse()
        assert caught.value.where == page
    server.fault("/r", Fault(status=302, headers={"Location": href}, times=None))
    with pytest.raises(UnsafeUrlError, match="it is not a URL"):
        http.get(server.url + "/r")


# ---------------------------------------------------------------------------------------------
# A size no file has


@pytest.mark.parametrize("size", [MAX_WHEEL_BYTES + 1, 2**63 - 1, 10**30])
def test_a_lock_size_past_any_installable_file_is_refused(tmp_path: Path, size: int) -> None:
    """``lockfile_read._Reader.record`` held a size only to >= 0: a lock claiming 10**30 bytes
    passed `lock --check`, `verify` and `export`, and only `fetch` found the lie after the
    download (an OCI bundle's descriptors carry it as an int64). A size past
    ``limits.MAX_WHEEL_BYTES``, which install refuses anyway, is refused by the reader."""
    project, text = locked_index_and_links_project(tmp_path)
    old = tomllib.loads(text)["platform"]["linux-64"]["package"][0]["size"]
    (project / "mlenv.lock").write_text(text.replace(f"size = {old}", f"size = {size}", 1))
    for args in (["lock", "--check"], ["verify"], ["fetch"], ["export", "--format", "pylock"]):
        result = run_mlenv(args, cwd=project)
        shown = result.stdout + result.stderr
        assert result.returncode == 1, (args, shown)
        assert "mlenv.lock: platform.linux-64.package[0].size" in shown, (args, shown)
        assert "expected a size in bytes" in shown and "Traceback" not in shown, shown


def test_an_index_size_no_lock_can_hold_is_no_claim() -> None:
    """So no index can make `lock` write a size its reader refuses: PEP 700 sizes past the
    bound are read as no size (``pages.parse_json``), and the file is measured instead."""
    wheel = "a-1.0-py3-none-any.whl"
    files = [
        {"filename": wheel, "url": wheel, "hashes": {}, "size": size}
        for size in (MAX_WHEEL_BYTES, MAX_WHEEL_BYTES + 1)
    ]
    document = {"meta": {"api-version": "1.1"}, "name": "a", "files": files}
    links = parse_json(json.dumps(document).encode(), "https://pypi.example/simple/a/")
    assert [link.size for link in links] == [MAX_WHEEL_BYTES, None]


@pytest.mark.parametrize("number", [-5, 1 << 63, 10**30])
def test_a_conda_build_number_rattler_cannot_hold_is_refused(tmp_path: Path, number: int) -> None:
    """``lockfile_consistency._conda_problems`` took any integer as a build number: `lock --check`,
    `verify` and every export passed a lock whose record build the installer (rattler's
    unsigned 64-bit field) could only fail on. Now the reader names the entry and its key."""
    (tmp_path / "mlenv.toml").write_text(MANIFEST)
    text = _lock_text(MANIFEST, url=f"{FORGE}/linux-64/{FILE}")
    assert "build-number = 0\n" in text
    (tmp_path / "mlenv.lock").write_text(
        text.replace("build-number = 0", f"build-number = {number}")
    )
    for args in (["lock", "--check"], ["verify"], ["export", "--format", "explicit"]):
        result = run_mlenv(args, cwd=tmp_path)
        shown = result.stdout + result.stderr
        assert result.returncode == 1, (args, shown)
        assert "mlenv.lock: platform.linux-64.conda[0] (libgomp 14.2.0)" in shown, shown
        assert f"build-number {number} is not" in shown and "Traceback" not in shown, shown


@pytest.mark.parametrize("noarch", ["../x", "True", "", "python\n", "Python"])
def test_a_conda_record_whose_noarch_is_no_kind_is_refused(noarch: str) -> None:
    """``lockfile_consistency._conda_problems``: a record's ``noarch`` is conda's kind of noarch
    package,
    'python' or 'generic' (legacy ``noarch: true`` is locked as 'generic'); anything else was
    accepted and failed only inside rattler at install."""
    made = load_manifest(MANIFEST)
    record = replace(conda_record("libgomp", "14.2.0", "h0"), noarch=noarch)
    lock = Lock(lockfile_fresh.inputs_hash(made), target_of(made))
    text = lockfile_render.render(lock.with_platforms([LockedPlatform("linux-64", (), (record,))]))
    # "python\n" meets the lock's one hidden-character rule first (attack 162)
    wrong = r"noarch .* is not 'python' or 'generic'|noarch: .* control character U\+000A"
    with pytest.raises(MlenvError, match=wrong):
        lockfile_read.loads(text)
    for kind in (None, "python", "generic"):
        fine = replace(record, noarch=kind)
        lockfile_read.loads(
            lockfile_render.render(lock.with_platforms([LockedPlatform("linux-64", (), (fine,))]))
        )


@pytest.mark.parametrize(
    "url",
    ["http://xn--/a.whl", "http://a..b/x.whl", "http://" + "a" * 64 + ".example/x.whl",
     "ftp://h/x.whl", "http://a/" + "b" * 70_000],
    ids=range(5),
)  # fmt: skip
def test_a_url_no_client_can_request_is_not_asked_again(url: str) -> None:
    """``HttpError.transient``: a lock URL httpx cannot request (a host no IDNA spells, a
    scheme mlenv does not speak, past the URL length) failed with status None, which fetch's
    ``is_transient`` read as a network failure and asked four times, saying "check the
    network". It fails the same way every time: not transient, asked once."""
    sleeps: list[float] = []
    with (
        HttpClient(
            retries=3, backoff=0.0, netrc_path=Path("/nonexistent"), sleep=sleeps.append
        ) as http,
        pytest.raises(HttpError) as caught,
    ):
        http.get(url)
    assert not is_transient(caught.value), caught.value
    assert sleeps == [] and "network" not in (caught.value.hint or ""), caught.value.hint


def test_a_network_failure_stays_transient() -> None:
    """The other side of the rule: no answer at all (nothing listens) is asked again."""
    sleeps: list[float] = []
    with (
        HttpClient(
            retries=2, backoff=0.0, netrc_path=Path("/nonexistent"), sleep=sleeps.append
        ) as http,
        pytest.raises(HttpError) as caught,
    ):
        http.get("http://127.0.0.1:9/x.whl")
    assert is_transient(caught.value) and len(sleeps) == 2, caught.value


@pytest.mark.parametrize("location", UNREADABLE_LOCATIONS[:4], ids=range(4))
def test_a_registry_redirect_httpx_cannot_read_is_the_registrys_fault(location: str) -> None:
    """``oci.auth.readable_redirect``: the registry client lets httpx follow redirects (a blob
    answered from a CDN), and httpx raised a bare IDNAError or UnicodeError building the hop
    to a Location it could not read, which ended a pull as an internal error."""
    import httpx

    from mlenv.oci.reference import RegistryError
    from mlenv.oci.registry import reader

    digest = "sha256:" + "0" * 64
    raw = location.encode()  # the header's bytes, as they come off the wire

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        return httpx.Response(307, headers=[(b"Location", raw)])

    with (
        reader("registry.test/x:1", transport=httpx.MockTransport(answer)) as session,
        pytest.raises(RegistryError, match="Location mlenv cannot fetch") as caught,
        session.blob(digest),
    ):
        pass
    assert "registry.test" in (caught.value.where or "")
    assert "malformed" in (caught.value.hint or "")
