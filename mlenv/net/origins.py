"""Where a URL may lead mlenv, and where credentials may go: one decision each.

An index, a mirror, a registry and a lock are all untrusted; the manifest is not. So a URL that
one of them hands out is followed only through ``follow`` (security invariant 3: nothing remote
points mlenv at the local machine), and a secret is attached to a request only when
``may_send_credentials`` says so (invariant 5: credentials never leave their origin).
"""

from __future__ import annotations

import contextvars
import functools
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from mlenv import watch
from mlenv.errors import MlenvError
from mlenv.net.here import assigned_here
from mlenv.net.hosts import host_form, is_link_local, is_loopback
from mlenv.trusted_path import others_write

Origin = tuple[str, str, int]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_WEB = frozenset(_DEFAULT_PORTS)
# WHATWG URL parsing strips these around a URL; anything else odd inside one is refused.
_EDGE = "".join(chr(c) for c in range(0x21))
_ODD_CHARACTER = re.compile(r"[\x00-\x20\x7f\\]")
_ESCAPED_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # in a decoded path; a space is a name's
_INVALID_PORT = -1


class UnsafeUrlError(MlenvError):
    """A URL that an untrusted source handed out leads somewhere mlenv may not go from there."""


def origin(url: str) -> Origin:
    """Scheme, host and port, with default ports filled in (https://h is https://h:443) and the
    host normalised; a URL with an unparsable port gets a port no real URL has."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = _INVALID_PORT
    return scheme, host_form(parts.hostname or ""), port or _DEFAULT_PORTS.get(scheme, 0)


# A request extension: the hosts the user named themselves (the registry given on the command
# line, the manifest's indexes and channels), which alone may be on the link (``connect_to``).
OWN_HOSTS = "mlenv-own-hosts"


def own_hosts(urls: Iterable[str]) -> tuple[str, ...]:
    """The hosts of the http(s) ``urls`` the user configured, for ``OWN_HOSTS`` (one that is no
    URL names none: it is refused where it is used)."""
    hosts: dict[str, None] = {}
    for url in urls:
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        if parts.scheme in _WEB and parts.hostname:
            hosts[host_form(parts.hostname)] = None
    return tuple(hosts)


def connect_to(host: str, found: Iterable[str], *, own: Iterable[str], where: str) -> None:
    """The one gate of security invariant 3's address clause, asked with the addresses a
    request is about to connect to (``exchange``), so every spelling of a host (a literal, a
    mapped or NAT64 IPv6 form, ``0xa9fea9fe``, a name whose A or AAAA record is there) is judged
    by where it leads: never link-local or cloud metadata (``is_link_local``) unless the user
    named ``host`` (``own``) or a link-local address; never this machine (loopback or an
    address its interfaces carry: ``here.assigned_here``) by a name (``127.0.0.1.nip.io``, the
    host's own name) or an interface's literal unless the user named it or a source on this
    machine. A loopback literal or ``localhost`` was judged by ``follow`` already. The
    kernel's route is asked only when neither lets the request through."""
    mine = host_form(host.strip("[]")).rstrip(".")
    own, found = tuple(own), tuple(found)
    named = any(host_form(o.strip("[]")).rstrip(".") == mine for o in own)
    linked = next((a for a in found if is_link_local(a)), None)
    if linked is not None and not (named or any(is_link_local(o) for o in own)):
        raise UnsafeUrlError(
            f"refusing to connect to {where}: {host} is at {linked}, a link-local or cloud "
            "instance metadata address, and no host the configuration names",
            where=where,
            hint="a registry, index or lock may not lead mlenv to 169.254.0.0/16, fe80::/10 or "
            "a cloud metadata address; a registry or index there is reached only when named in "
            "the manifest or on the command line",
        )
    if named or is_loopback(host) or any(is_loopback(o) for o in own):
        return  # this machine may be reached: no address needs the route probe
    here = next((a for a in found if is_loopback(a) or assigned_here(a)), None)
    if here is None:
        return
    at = "" if host.strip("[]") == here else f" (at {here})"
    raise UnsafeUrlError(
        f"refusing to connect to {where}: {host}{at} is this machine, and no host the "
        "configuration names is on it",
        where=where,
        hint="a registry, index or lock may not lead mlenv to a service on this machine (its "
        "loopback or an interface's address, by a name or a literal); name the host (or a "
        "source on this machine) in the manifest or on the command line to reach it",
    )


# The source whose page handed out the URLs this context's requests fetch (an index's file
# links: ``handed_by``), for ``handed_out``; "" when the user's configuration named them.
_HANDED_BY: contextvars.ContextVar[str] = contextvars.ContextVar("mlenv_handed_by", default="")


@contextmanager
def handed_by(source: str) -> Iterator[None]:
    """Requests made inside fetch what the page of ``source`` (a URL) linked to."""
    token = _HANDED_BY.set(source)
    try:
        yield
    finally:
        _HANDED_BY.reset(token)


def handed_out(own: tuple[str, ...], by: str | None = None) -> tuple[str, ...]:
    """The hosts that vouch for a URL the page or redirect at ``by`` (else ``handed_by``'s
    source) handed out: the user's own, less their sources on this machine unless ``by`` is
    one, and less those on the link unless ``by`` is: each vouches for what it hands out
    (``connect_to``), never for what a remote server does (a redirect to cloud metadata)."""
    by = _HANDED_BY.get() if by is None else by
    if not by or is_loopback(source := urlsplit(by).hostname or ""):
        return own
    link = is_link_local(source)
    return tuple(h for h in own if not is_loopback(h) and (link or not is_link_local(h)))


def may_send_credentials(owner: str, url: str, *, token_realm: bool = False) -> bool:
    """May credentials that belong to ``owner`` (a URL) be sent with a request to ``url``?

    Only to the exact same origin (scheme, host, port; default ports and host spelling
    normalised). With ``token_realm`` the request fetches a Bearer token for the registry
    ``owner`` from the realm its ``WWW-Authenticate`` named: the distribution spec's token
    auth sends the registry's credentials there, as Docker does, so another host is allowed,
    but never a downgrade to plain http nor a loopback realm for a registry that is not on
    loopback itself (a remote registry must not steer credentials to a local service), nor a
    link-local one (cloud instance metadata) for a registry that is not link-local itself.
    """
    mine, theirs = origin(owner), origin(url)
    if theirs[0] not in _WEB or theirs[2] == _INVALID_PORT or mine[2] == _INVALID_PORT:
        return False
    if mine == theirs or not token_realm:
        return mine == theirs
    if theirs[0] != "https" and theirs[0] != mine[0]:
        return False
    if is_link_local(theirs[1]) and not is_link_local(mine[1]):
        return False
    return is_loopback(mine[1]) or not is_loopback(theirs[1])


@dataclass(frozen=True)
class LocalRoots:
    """The local directories the manifest names (file:// indexes, find-links, channels): the only
    places a ``file:`` URL from a local source may lead; and whether it names an http(s) source
    here, the only case in which a local source (a lock, a file:// page) may lead to loopback."""

    roots: tuple[Path, ...] = ()
    loopback: bool = False

    @classmethod
    def of(
        cls, *, indexes: Iterable[str] = (), find_links: Iterable[str] = (), base_dir: Path = Path()
    ) -> LocalRoots:
        """Roots from the manifest's locations (URLs, or paths relative to ``base_dir``);
        remote and missing ones add nothing. An index directory named ``simple`` or ``simple-…``
        is rooted at its parent, where mirrors keep the files (``../../packages``, packse's
        ``../../files``), unless that is ``/`` or others may write it (``_lends``); any other,
        find-links directory or conda channel is its own root, a find-links page its directory."""
        roots = []
        loopback = False
        for location, index in [*((i, True) for i in indexes), *((f, False) for f in find_links)]:
            if "://" in location and urlsplit(location).scheme.lower() != "file":
                loopback = loopback or is_loopback(urlsplit(location).hostname or "")
                continue
            named = file_url_to_path(location) if "://" in location else base_dir / location
            watch.probed(named)  # what it is (a page, a directory, nothing) decides the root
            path = Path(os.path.realpath(named))
            watch.resolved(named, str(path))
            if path.is_file() and not index:
                roots.append(path.parent)
            elif path.is_dir():
                mirror = index and path.name.partition("-")[0] == "simple"  # simple-html
                roots.append(path.parent if mirror and _lends(path.parent) else path)
        return cls(tuple(dict.fromkeys(roots)), loopback)

    def holds(self, path: str | Path) -> bool:
        """``path`` with every symlink and ``..`` resolved lies inside one of the roots.
        Compared as text: realpath's answer and the roots are absolute and normalised, so
        "inside" is "equal, or below the root and a separator" (every link of a page is
        checked, and pathlib's objects cost more than the check)."""
        real = os.path.realpath(path)
        watch.resolved(path, real)
        return any(real == root or real.startswith(prefix) for root, prefix in self._prefixes)

    @functools.cached_property
    def _prefixes(self) -> tuple[tuple[str, str], ...]:
        return tuple((str(root), str(root).rstrip("/") + "/") for root in self.roots)


def _lends(parent: Path) -> bool:
    """Whether an index's parent may be a root: not ``/`` nor one others may add files to
    (``trusted_path.others_write``: ``/tmp``, sticky or not, a team's group-writable tree)."""
    try:  # not stamped (a project's own directory changes with every lock); fetch asks again
        return parent != parent.parent and others_write(parent.stat()) is None
    except OSError:
        return False


NO_LOCAL_ROOTS = LocalRoots()


def file_url_to_path(url: str) -> Path:
    """The local path a ``file:`` URL names (percent-escapes decoded): ``url2pathname`` on
    POSIX, without importing urllib.request (http.client, email and ssl) on every lock."""
    return Path(unquote(urlsplit(url).path))


def follow(
    url: str, *, base: str, where: str, local: LocalRoots = NO_LOCAL_ROOTS, downgrade: bool = False
) -> str:
    """The absolute URL that ``url`` (a link, a ``<base href>``, a JSON ``url``, a redirect's
    ``Location`` or a lock entry, relative to ``base``) leads to, if mlenv may go there.

    From an http(s) base only http(s) URLs, and none on loopback unless the base is too (from a
    local base, a lock or a file:// page, only when the manifest names a loopback source); from
    an https base never plain http off this machine, unless ``downgrade`` (a registry, whose
    every blob is digest-checked, may keep its storage on plain http as Docker allows). A
    ``file:`` URL (or a plain path, for a lock) only from a ``file:`` base, with no host, and
    inside one of the manifest's ``local`` roots once ``..``, percent-escapes and symlinks are
    resolved. Any other scheme, a backslash or a control character is refused; ``where``
    names the page, lock entry or package in the error.
    """
    stripped = url.strip(_EDGE)
    if not stripped or _ODD_CHARACTER.search(stripped):
        raise _refused(url, where, "it holds whitespace, a control character or a backslash")
    base_scheme, base_is_local = _base_facts(base)
    try:
        target = urljoin(base, stripped)
        parts = urlsplit(target)
    except ValueError as exc:  # a bracketed host left open or no IP address ("http://[::g]/")
        raise _refused(url, where, f"it is not a URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme in _WEB:
        if not parts.hostname or "%" in parts.hostname:
            raise _refused(url, where, "it names no host, or an escaped one")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise _refused(url, where, "its port is not a number") from None
        on_this_machine = is_loopback(parts.hostname)
        if on_this_machine and not (base_is_local if base_scheme in _WEB else local.loopback):
            raise _refused(url, where, "it points a remote source at this machine")
        if scheme == "http" and base_scheme == "https" and not (on_this_machine or downgrade):
            raise _refused(url, where, _DOWNGRADE, hint=_DOWNGRADE_HINT)
        return target
    if scheme != "file":
        raise _refused(url, where, f"mlenv follows only http(s) URLs, not {scheme or 'this'}:")
    if base_scheme != "file":
        raise _refused(url, where, "a file: URL is accepted only from a local source")
    if parts.netloc not in ("", "localhost"):
        raise _refused(url, where, f"a file: URL must not name a host ({parts.netloc})")
    path = unquote(parts.path)  # file_url_to_path's path, as text
    if _ESCAPED_CONTROL.search(path):  # %00 is a NUL no file name holds (realpath raises)
        raise _refused(url, where, "it escapes a control character (%00 to %1f, %7f)")
    if not local.holds(path):
        raise _refused(url, where, "it leads outside the local directories the manifest names")
    return target


@functools.lru_cache(maxsize=64)
def _base_facts(base: str) -> tuple[str, bool]:
    """The base's scheme and whether it is on this machine: asked once per page, not per link."""
    parts = urlsplit(base)
    return parts.scheme.lower(), is_loopback(parts.hostname or "")


_DOWNGRADE = (
    "it leads from https to plain http, where anyone on the path can change the page's hashes "
    "or an unhashed file, and the lock would pin what they served"
)
_DOWNGRADE_HINT = (
    "have the server hand out https links (behind a TLS proxy: X-Forwarded-Proto); to accept "
    "plain http knowingly, name the index by its http:// URL in the manifest"
)


def _refused(url: str, where: str, why: str, *, hint: str | None = None) -> UnsafeUrlError:
    return UnsafeUrlError(  # shown hides a userinfo, then cuts: cut first, a token lost its '@'
        f"refusing to follow {url!r}: {why}",
        where=where,
        hint=hint
        or "an index, redirect or lock may only lead to http(s) URLs; local files are read "
        "only from directories named in the manifest ([pypi] index-url, extra-index-urls, "
        "find-links, [conda] channels)",
    )
