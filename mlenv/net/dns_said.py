"""What a request that failed before any answer says. A name no resolver knows printed the
resolver's own words (``ConnectError: [Errno -2] Name or service not known``), which name
neither the host nor what to check; it now says the host could not be resolved, with the URL,
and where a wrong name, a down network or a missing proxy would show."""

from __future__ import annotations

from urllib.parse import urlsplit

from mlenv.net.dns import UNRESOLVED


def request_failure(url: str, exc: Exception) -> tuple[str, str]:
    """The message and hint for ``exc``, a request of ``url`` that got no answer."""
    from mlenv.net.proxy import proxy_hint
    from mlenv.net.tls import certificate_hint

    said = str(exc)
    if UNRESOLVED in said:
        host, _, why = said.split(UNRESOLVED, 1)[1].partition(" (")  # a proxy's name too
        why = why.rstrip(")") or "no address"  # the resolver's reason, without its errno
        written = urlsplit(url).hostname or ""
        if host not in (written, _idna(written)):
            return (
                f"cannot fetch {url}: the proxy host {host} could not be resolved ({why})",
                f"check the proxy variable naming {host} (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY)",
            )
        named = host if host == written else f"{written} ({host})"  # bücher: xn--bcher-kva
        return (
            f"cannot fetch {url}: the host {named} could not be resolved ({why})",
            f"check the host name {host} in the URL (a typo?), that this machine's network and "
            "DNS are up (`getent hosts " + host + "`), and, behind a proxy, that HTTPS_PROXY "
            "(or HTTP_PROXY) is set",
        )
    hint = (
        certificate_hint(exc)
        or proxy_hint(exc)
        or "check the network, proxy settings and the index URL"
    )
    return f"cannot fetch {url}: {type(exc).__name__}: {exc}", hint


def _idna(host: str) -> str:
    """``host`` as the resolver is asked for it (httpx's IDNA encoding: bücher.example is
    xn--bcher-kva.example), so a non-ASCII host is not taken for a proxy's."""
    import idna

    try:
        return idna.encode(host.lower()).decode("ascii")
    except idna.IDNAError:
        return host
