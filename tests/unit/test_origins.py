"""The two decisions of mlenv.net.origins: where a handed-out URL may lead (invariant 3) and where
credentials may go (invariant 5), attacked in many shapes and by Hypothesis."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from mlenv.net.hosts import is_loopback
from mlenv.net.origins import (
    LocalRoots,
    UnsafeUrlError,
    follow,
    may_send_credentials,
    origin,
)

REMOTE = "https://index.example/simple/demo/"

# Every way a remote page has been seen (or imagined) to name a local file or a non-web scheme.
LOCAL_FROM_REMOTE = [
    "file:///etc/passwd",
    "FILE:///etc/passwd",
    "File://localhost/etc/passwd",
    "file:/etc/passwd",
    "file:etc/passwd",
    "  file:///etc/passwd  ",
    "\tfile:///etc/passwd",
    "\x00file:///etc/passwd",
    "fi\nle:///etc/passwd",
    "file:\\\\etc\\passwd",
    "http:\\\\127.0.0.1\\x",
    "ftp://index.example/demo-1.0-py3-none-any.whl",
    "data:application/zip;base64,UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==",
    "javascript:alert(1)",
    "jar:file:///etc/passwd!/x",
    "view-source:file:///etc/passwd",
    "//127.0.0.1/demo-1.0-py3-none-any.whl",
    "http://127.0.0.1:22/x",
    "http://localhost/x",
    "http://LOCALHOST./x",
    "http://app.localhost/x",
    "http://127.1/x",
    "http://2130706433/x",
    "http://0x7f000001/x",
    "http://0177.0.0.1/x",
    "http://0.0.0.0/x",
    "http://[::1]/x",
    "http://[::ffff:127.0.0.1]/x",
    "http://%31%32%37.0.0.1/x",
    "http://127\u30020\u30020\u30021/x",
    "http://\uff11\uff12\uff17.0.0.1/x",
    "http://\u24db\u24de\u24d2\u24d0\u24db\u24d7\u24de\u24e2\u24e3/x",
    "https://index.example:notaport/x",
    "http:///etc/passwd",
    "",
    "   ",
]


@pytest.mark.parametrize("link", LOCAL_FROM_REMOTE)
def test_a_remote_page_cannot_point_at_this_machine(link: str) -> None:
    """Protects invariant 3: no link shape from an http(s) page leads to a file: URL, another
    scheme or a loopback host."""
    with pytest.raises(UnsafeUrlError) as info:
        follow(link, base=REMOTE, where=REMOTE)
    assert info.value.where == REMOTE


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("../../files/demo-1.0-py3-none-any.whl", "https://index.example/files/demo-1.0-py3-none-any.whl"),
        ("https://files.example/demo.whl#sha256=00", "https://files.example/demo.whl#sha256=00"),
        ("//cdn.example/demo.whl", "https://cdn.example/demo.whl"),
        ("HTTPS://CDN.example/demo.whl", "https://CDN.example/demo.whl"),
        ("file%3A///etc/passwd", "https://index.example/simple/demo/file%3A/etc/passwd"),
    ],
)  # fmt: skip
def test_web_links_are_resolved_and_followed(link: str, expected: str) -> None:
    """Protects usefulness: ordinary relative, absolute and scheme-relative links still work,
    and an escaped ``file%3A`` stays an http path, never a file URL."""
    assert follow(link, base=REMOTE, where=REMOTE) == expected


# Every way an https page, redirect or <base href> has been seen (or imagined) to hand mlenv a
# plain-http URL: the scheme in any case, the same host, another port, a numeric host.
DOWNGRADES = [
    "http://files.example/demo-1.0-py3-none-any.whl#sha256=00",
    "HTTP://files.example/demo-1.0-py3-none-any.whl",
    "hTtP://index.example/simple/demo/demo-1.0-py3-none-any.whl",
    "http://index.example:443/files/demo.whl",
    "http://index.example:80/files/demo.whl",
    " http://files.example/demo.whl",
    "http://203.0.113.7/demo.whl",
    "http://[2001:db8::1]/demo.whl",
    "http://u:p@files.example/demo.whl",
]


@pytest.mark.parametrize("link", DOWNGRADES)
def test_an_https_source_never_leads_to_plain_http(link: str) -> None:
    """Protects invariant 3's downgrade rule: what an https page, JSON answer or redirect names
    over plain http is refused (anyone on the path could change a page or an unhashed file
    there, and the lock would pin it), naming the link and how to accept plain http."""
    with pytest.raises(UnsafeUrlError) as info:
        follow(link, base=REMOTE, where=REMOTE)
    assert info.value.where == REMOTE
    assert "plain http" in info.value.message
    assert "http://" in (info.value.hint or "")


@pytest.mark.parametrize("link", DOWNGRADES)
def test_plain_http_is_followed_where_the_source_is_plain_http_or_a_registry(link: str) -> None:
    """Protects usefulness: an http index the manifest names keeps its http links, and a
    registry (whose every blob is digest-checked) may send mlenv to plain-http storage as
    Docker follows it."""
    assert follow(link, base="http://index.example/simple/demo/", where="x").startswith(
        link.strip()[:4].lower()
    )
    assert follow(link, base=REMOTE, where=REMOTE, downgrade=True)


def test_a_loopback_index_may_link_to_loopback() -> None:
    """Protects local mirrors: a loopback index's own links to loopback are followed."""
    base = "http://127.0.0.1:8080/simple/demo/"
    assert follow("http://localhost:9000/x.whl", base=base, where=base)


def _local_index(tmp_path: Path) -> tuple[LocalRoots, str]:
    (tmp_path / "mirror" / "simple" / "demo").mkdir(parents=True)
    (tmp_path / "mirror" / "files").mkdir()
    (tmp_path / "mirror" / "files" / "demo-1.0-py3-none-any.whl").write_bytes(b"w")
    (tmp_path / "secret").write_text("s")
    roots = LocalRoots.of(indexes=[(tmp_path / "mirror" / "simple").as_uri()])
    return roots, (tmp_path / "mirror" / "simple" / "demo").as_uri() + "/"


def test_a_local_index_reaches_files_inside_its_root_only(tmp_path: Path) -> None:
    """Protects invariant 3 for local sources: a file: page may name files beside its index
    (mirror layout), but ``..``, escaped ``%2e%2e``, a host, or a symlink out is refused."""
    roots, page = _local_index(tmp_path)
    wheel = "../../files/demo-1.0-py3-none-any.whl"
    assert follow(wheel, base=page, local=roots, where=page).endswith(wheel[5:])
    (tmp_path / "mirror" / "files" / "link.whl").symlink_to(tmp_path / "secret")
    for link in [
        "../../../secret",
        "%2e%2e/%2e%2e/%2e%2e/secret",
        (tmp_path / "secret").as_uri(),
        "file://evil.example" + (tmp_path / "mirror" / "files" / "x.whl").as_posix(),
        "../../files/link.whl",
        "/etc/passwd",
    ]:
        with pytest.raises(UnsafeUrlError):
            follow(link, base=page, local=roots, where=page)


def test_file_urls_need_a_local_origin_even_inside_a_root(tmp_path: Path) -> None:
    """Protects invariant 3: a remote page cannot name a file even inside a manifest root."""
    roots, _page = _local_index(tmp_path)
    inside = (tmp_path / "mirror" / "files" / "demo-1.0-py3-none-any.whl").as_uri()
    with pytest.raises(UnsafeUrlError, match="only from a local source"):
        follow(inside, base=REMOTE, local=roots, where=REMOTE)


_SCHEMES = st.sampled_from(
    ["file", "FILE", "File", "ftp", "data", "javascript", "jar", "gopher", "smb", "x-y", ""]
)
_JUNK = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@given(scheme=_SCHEMES, rest=_JUNK, prefix=st.sampled_from(["", " ", "\t", "\n", "\x0c"]))
@settings(max_examples=400, deadline=None)
def test_hypothesis_no_link_from_a_remote_page_leaves_the_web(
    scheme: str, rest: str, prefix: str
) -> None:
    """Protects invariant 3 over a large space: whatever a remote page writes, the result is
    an http(s) URL on a non-loopback host, or a refusal."""
    link = f"{prefix}{scheme}:{rest}" if scheme else f"{prefix}{rest}"
    try:
        target = follow(link, base=REMOTE, where=REMOTE)
    except UnsafeUrlError:
        return
    assert target.split(":", 1)[0] in ("http", "https")
    assert not is_loopback(origin(target)[1])


_WEB_SCHEMES = st.sampled_from(["http", "HTTP", "Http", "hTTP", "https", "HTTPS", ""])


@given(scheme=_WEB_SCHEMES, rest=_JUNK, prefix=st.sampled_from(["", " ", "\t", "//"]))
@settings(max_examples=300, deadline=None)
def test_hypothesis_an_https_page_leads_only_to_https(scheme: str, rest: str, prefix: str) -> None:
    """Protects the downgrade rule over a large space: whatever an https page writes, the
    result is an https URL, or a refusal."""
    link = f"{prefix}{scheme}:{rest}" if scheme else f"{prefix}{rest}"
    try:
        target = follow(link, base=REMOTE, where=REMOTE)
    except UnsafeUrlError:
        return
    assert target.split(":", 1)[0] == "https"


# -- credentials -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "url"),
    [
        ("https://h.example/simple", "https://h.example:443/files/x"),
        ("https://H.Example/simple", "https://h.example/x"),
        ("http://h.example/simple", "http://h.example:80/x"),
        ("https://bücher.example/simple", "https://xn--bcher-kva.example/x"),
        ("https://u:p@h.example/simple", "https://h.example/x"),
    ],
)
def test_credentials_go_to_their_exact_origin(owner: str, url: str) -> None:
    """Protects invariant 5's normalisation: default ports, host case and IDNA are one origin."""
    assert may_send_credentials(owner, url)


@pytest.mark.parametrize(
    "url",
    [
        "http://h.example/x",  # https -> http
        "https://h.example:8443/x",
        "https://evil.example/x",
        "https://h.example.evil.example/x",
        "https://h.example@evil.example/x",
        "https://evil.example/h.example",
        "file:///h.example",
        "https://h.example:bad/x",
    ],
)
def test_credentials_never_cross_to_another_origin(url: str) -> None:
    """Protects invariant 5: scheme, host and port must all match."""
    assert not may_send_credentials("https://h.example/simple", url)


@pytest.mark.parametrize(
    ("registry", "realm", "allowed"),
    [
        ("https://registry.example", "https://auth.example/token", True),  # as Docker Hub
        ("https://registry.example", "http://auth.example/token", False),  # downgrade
        ("https://registry.example", "https://127.0.0.1/token", False),  # steer to this machine
        ("https://registry.example", "https://localhost:5001/token", False),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5001/token", True),  # a local registry
        ("https://registry.example", "ftp://auth.example/token", False),
    ],
)
def test_a_token_realm_gets_the_registry_credentials_only_when_safe(
    registry: str, realm: str, allowed: bool
) -> None:
    """Protects invariant 5's one exception (distribution token auth) from abuse."""
    assert may_send_credentials(registry, realm, token_realm=True) is allowed
    assert not may_send_credentials(registry, realm) or registry.split("/")[2] == realm


_HOSTS = st.sampled_from(["h.example", "H.EXAMPLE", "evil.example", "127.0.0.1", "[::1]"])
_PORTS = st.sampled_from(["", ":80", ":443", ":8443", ":0"])


@given(
    scheme_a=st.sampled_from(["http", "https", "HTTPS"]),
    scheme_b=st.sampled_from(["http", "https", "HTTP", "ftp"]),
    host_a=_HOSTS,
    host_b=_HOSTS,
    port_a=_PORTS,
    port_b=_PORTS,
)
def test_hypothesis_credentials_follow_the_normalised_origin_exactly(
    scheme_a: str, scheme_b: str, host_a: str, host_b: str, port_a: str, port_b: str
) -> None:
    """Protects invariant 5 over the space of spellings: allowed exactly when the normalised
    scheme, host and port are equal."""
    owner = f"{scheme_a}://{host_a}{port_a}/simple"
    url = f"{scheme_b}://{host_b}{port_b}/x"
    same = origin(owner) == origin(url) and origin(url)[0] in ("http", "https")
    assert may_send_credentials(owner, url) is same


def test_local_roots_are_only_the_directories_the_manifest_names(tmp_path: Path) -> None:
    """Protects invariant 3's roots: a missing index adds nothing (its parent, maybe ``/``,
    must not become a root); only an index dir named ``simple`` lends its parent (mirror
    layout); find-links dirs are their own root, a find-links page its directory."""
    (tmp_path / "mirror" / "simple").mkdir(parents=True)
    (tmp_path / "idx").mkdir()
    (tmp_path / "links").mkdir()
    (tmp_path / "page.html").write_text("<a></a>")
    roots = LocalRoots.of(
        indexes=["file:///nonexistent", (tmp_path / "mirror" / "simple").as_uri(), "idx"],
        find_links=["links", (tmp_path / "page.html").as_uri(), "https://r.example/x"],
        base_dir=tmp_path,
    )
    real = Path(os.path.realpath(tmp_path))
    assert set(roots.roots) == {real / "mirror", real / "idx", real / "links", real}
    assert not roots.holds(Path("/etc/passwd"))
    assert LocalRoots.of(indexes=["file:///nonexistent"]).roots == ()


@pytest.mark.parametrize("name", ["simple-html", "simple-index"])
def test_a_static_index_named_simple_dash_lends_its_parent(tmp_path: Path, name: str) -> None:
    """Protects locking from a static index as packse writes it (``simple-html/<project>/``
    linking ``../../files/<wheel>``): its files lie beside the index directory, as a
    ``simple`` mirror's do; a link out of that parent is still refused, and a directory
    whose name only contains ``simple`` lends nothing."""
    (tmp_path / "idx" / name / "demo").mkdir(parents=True)
    (tmp_path / "idx" / "files").mkdir()
    (tmp_path / "other" / "simplex" / "demo").mkdir(parents=True)
    roots = LocalRoots.of(indexes=[(tmp_path / "idx" / name).as_uri()])
    page = (tmp_path / "idx" / name / "demo").as_uri() + "/"
    wheel = "../../files/demo-1.0-py3-none-any.whl"
    assert follow(wheel, base=page, local=roots, where="x") == (
        (tmp_path / "idx" / "files" / "demo-1.0-py3-none-any.whl").as_uri()
    )
    with pytest.raises(UnsafeUrlError):
        follow("../../../outside/demo-1.0-py3-none-any.whl", base=page, local=roots, where="x")
    other = LocalRoots.of(indexes=[(tmp_path / "other" / "simplex").as_uri()])
    with pytest.raises(UnsafeUrlError):
        follow(wheel, base=(tmp_path / "other" / "simplex" / "demo").as_uri() + "/",
               local=other, where="x")  # fmt: skip


def test_local_entries_and_metadata_symlinked_out_are_refused(tmp_path: Path) -> None:
    """Protects invariant 3 for local sources: a wheel in a find-links directory, or the PEP
    658 ``.metadata`` a local index offers, that is a symlink out of its root is refused,
    never read."""
    from mlenv.index import FindLinks, HttpClient, SimpleIndex
    from tests.support.wheels import build_wheel, write_simple_index

    (tmp_path / "outside").write_bytes(b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    name, data = build_wheel("demo", "1.0")
    url = write_simple_index(tmp_path / "www", [(name, data)])
    metadata = tmp_path / "www" / "files" / f"{name}.metadata"
    metadata.unlink()
    metadata.symlink_to(tmp_path / "outside")
    index = SimpleIndex(url, http=HttpClient(offline=True))
    (file,) = index.files(canonicalize_name("demo"))
    with pytest.raises(UnsafeUrlError):
        index.metadata(file)
    links = tmp_path / "links"
    links.mkdir()
    (links / "evil-1.0-py3-none-any.whl").symlink_to(tmp_path / "outside")
    with pytest.raises(UnsafeUrlError):
        FindLinks(str(links), http=HttpClient(offline=True)).files(canonicalize_name("evil"))


def test_holds_means_inside_a_root_by_whole_components(tmp_path: Path) -> None:
    """Protects the textual check in ``holds``: a sibling that merely shares the root's
    prefix is outside, ``..`` and symlinks are resolved first, and ``/`` as a root holds
    everything; the same answers as pathlib's ``is_relative_to``."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "rootless").mkdir()
    (root / "out").symlink_to(tmp_path / "rootless")
    roots = LocalRoots((Path(os.path.realpath(root)),))
    real = Path(os.path.realpath(root))
    cases = {
        root: True,
        root / "sub" / "x.whl": True,
        tmp_path / "rootless" / "x.whl": False,
        root / ".." / "rootless" / "x.whl": False,
        root / "out" / "x.whl": False,
        Path(f"{root}less"): False,
    }
    for path, inside in cases.items():
        assert roots.holds(path) is inside, path
        assert roots.holds(str(path)) is inside, path
        resolved = Path(os.path.realpath(path))
        assert (resolved == real or resolved.is_relative_to(real)) is inside, path
    assert LocalRoots((Path("/"),)).holds(tmp_path / "anything")


def test_a_refused_url_hides_a_token_longer_than_the_echo_limit() -> None:
    """Invariant 5 at the right depth: the refusal cut its URL at 200 characters before it was
    shown, so a 280-character token lost the '@' that marks it as a userinfo and 187 of its
    characters were printed. Now the whole URL goes to the error; showing hides, then cuts."""
    token = "A1b2" * 70
    url = "ftp://user:" + token + "@host/simple/x/"
    with pytest.raises(UnsafeUrlError) as caught:
        follow(url, base=REMOTE, where="index")
    shown_text = caught.value.render()
    assert "***@host" in shown_text
    assert not any(token[i : i + 8] in shown_text for i in range(len(token) - 8))
