"""Which proxy a request goes through: the one place that decides, for index and registry.

The variables are curl's and uv's: ``HTTPS_PROXY`` for https URLs, ``HTTP_PROXY`` for http
URLs, ``ALL_PROXY`` for either when the specific one is unset (lower-case names win over
upper-case, as in curl; ``HTTP_PROXY`` is read upper-case only outside CGI in curl, but an
ML workstation is no CGI script, so both cases are read). A proxy URL may carry
``user:password@``: httpx sends it as ``Proxy-Authorization`` to the proxy only, never to the
origin, and mlenv never shows it (``shown``).

``NO_PROXY`` (or ``no_proxy``), comma- or space-separated, bypasses the proxy for a host that
matches an entry: ``*`` (every host), a domain (``pkgs.example``, ``.pkgs.example`` and
``*.pkgs.example`` all mean the domain and its subdomains), an IP address, a CIDR block
(``10.0.0.0/8``, ``fd00::/8``), any of them with ``:port`` to bypass that port only.
Loopback (``localhost``, 127.0.0.0/8, ``::1``) is never proxied, as Go's and Docker's
clients do: a proxy's ``127.0.0.1`` is the proxy's own machine, never the user's.

httpx's own reading of the environment is switched off (``trust_env`` would proxy
127.0.0.1, treat ``10.0.0.0/8`` as the single address 10.0.0.0 and ignore ``*.domain``);
``transport`` routes each request itself.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from mlenv.net.exchange import DeadlineTransport, ExchangeTimeout
from mlenv.net.hosts import host_form, is_loopback
from mlenv.redaction import redact_one_url

PROXY_VARIABLES = "HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY"
_DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ReadTimeout)


@dataclass(frozen=True)
class _Bypass:
    host: str  # lower case, no brackets, no leading dot; "" for a CIDR block
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    port: int | None


class UnusableProxy(httpx.ProxyError):
    """A proxy variable whose URL mlenv cannot use (``ftp://x``, ``http://[bad``, a port past
    65535): no retry helps, so the index client raises it at once (``index.http``), naming the
    variable, the URL redacted and ``hint``."""

    def __init__(self, message: str, *, hint: str, request: httpx.Request) -> None:
        super().__init__(message, request=request)
        self.hint = hint


_USABLE_SCHEMES = ("http", "https", "socks5", "socks5h")


def _variable(env: Mapping[str, str], name: str) -> str:
    return (env.get(name.lower()) or env.get(name.upper()) or "").strip()


def _source(env: Mapping[str, str], scheme: str) -> str:
    """The name of the variable ``proxy_for`` read for a URL of ``scheme``, as spelled."""
    for name in (f"{scheme}_proxy", "all_proxy"):
        for spelled in (name.lower(), name.upper()):
            if env.get(spelled, "").strip():
                return spelled
    return f"{scheme.upper()}_PROXY"


def unusable(proxy: str) -> str | None:
    """Why mlenv cannot use the proxy URL ``proxy``, else None: its scheme, host or port."""
    try:
        parts = urlsplit(proxy)
        port = parts.port
    except ValueError:  # "http://[bad", a port past 65535; never the error's text: it may
        # quote a password's start as the port (``u:pa/ss@h``: "... value as 'pa'")
        return (
            "its host or port cannot be read (a port past 65535 or not a number, a broken "
            "[IPv6] host, or a raw '/', '?' or '#' in a password)"
        )
    if parts.scheme.lower() not in _USABLE_SCHEMES:
        return f"the scheme {parts.scheme or '(none)'}:// is no proxy's"
    if not parts.hostname:
        return "it names no host"
    if not _HOST.fullmatch(parts.hostname) and not _address(parts.hostname):
        return "its host holds a character no host name does (a blank, '%', a control)"
    return "port 0" if port == 0 else None


_HOST = re.compile(r"[\w.-]+")  # a name, IDNA's letters too: never a blank, '%' or a control


def _address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def proxy_for(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy URL (with its credentials) a request for ``url`` goes through, or None."""
    env = os.environ if environ is None else environ
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    proxy = _variable(env, f"{scheme}_proxy") or _variable(env, "all_proxy")
    if not proxy or scheme not in ("http", "https"):
        return None
    # IDNA form on both sides: httpx sends "bücher.example" as "xn--bcher-kva.example", and
    # an entry in either spelling is one host
    host = host_form(parts.hostname or "").rstrip(".")
    if is_loopback(host):
        return None
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        port = None
    if any(_matches(entry, host, port) for entry in _bypasses(_variable(env, "no_proxy"))):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _bypasses(text: str) -> list[_Bypass | None]:
    """None stands for ``*``."""
    found: list[_Bypass | None] = []
    for raw in text.replace(",", " ").split():
        entry = raw.strip().lower()
        if entry == "*":
            found.append(None)
            continue
        entry, port = _split_port(entry)
        entry = host_form(entry.strip("[]").removeprefix("*").lstrip(".").rstrip("."))
        network = None
        if "/" in entry:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue  # a malformed block bypasses nothing, as in curl
            entry = ""
        if entry or network is not None:
            found.append(_Bypass(entry, network, port))
    return found


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [fd00::1]:8443
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isascii() and port.isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        if port.isascii() and port.isdigit():
            return host, int(port)
    return entry, None


def _matches(entry: _Bypass | None, host: str, port: int | None) -> bool:
    if entry is None:
        return True
    if entry.port is not None and entry.port != port:
        return False
    if entry.network is not None:
        try:
            return ipaddress.ip_address(host) in entry.network
        except ValueError:
            return False
    return host == entry.host or host.endswith("." + entry.host)


def shown(proxy: str) -> str:
    """The proxy URL as it may be printed: the one redactor's rule for a text that is one URL
    (``redaction.redact_one_url``: everything before its last ``@`` hidden, a scheme kept). A
    password a user did not percent-encode may hold any of "/", "#", "://" (``u:pa/ss@proxy``),
    and a malformed proxy URL is shown too, in the error that says mlenv cannot use it."""
    return redact_one_url(proxy)


class ProxyRouter(httpx.BaseTransport):
    """A transport that sends each request direct or through the proxy ``proxy_for`` names;
    a failure of the proxy itself is an ``httpx.ProxyError`` naming the proxy (credentials
    hidden) and the target."""

    def __init__(self, verify: ssl.SSLContext, environ: Mapping[str, str] | None = None) -> None:
        self._verify = verify
        self._environ = dict(os.environ if environ is None else environ)
        self._direct = DeadlineTransport(verify)
        self._proxied: dict[str, DeadlineTransport] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        proxy = proxy_for(url, self._environ)
        if proxy is None:
            return self._direct.handle_request(request)
        transport = self._proxied.get(proxy)
        if transport is None:
            variable = _source(self._environ, request.url.scheme.lower())
            if why := unusable(proxy):
                message = f"via proxy {shown(proxy)} (from {variable}): not usable: {why}"
                raise UnusableProxy(message, hint=_unusable_hint(variable), request=request)
            try:
                transport = DeadlineTransport(self._verify, proxy=httpx.Proxy(proxy))
            # socks5:// without socksio: httpcore raises RuntimeError (an ImportError nowhere)
            except (ValueError, ImportError, RuntimeError, httpx.InvalidURL) as error:
                why = "not a proxy URL mlenv can use (http://, https://, socks5:// with socksio)"
                hint = _unusable_hint(variable)
                if isinstance(error, (ImportError, RuntimeError)):
                    hint = (
                        "install socksio (pip install 'httpx[socks]') for a socks5:// proxy, or "
                        + hint
                    )
                message = f"{_failed(proxy, url, why)} (from {variable})"
                raise UnusableProxy(message, hint=hint, request=request) from None
            with self._lock:  # fetch's threads share the router
                transport = self._proxied.setdefault(proxy, transport)
        target = f"{request.url.scheme}://{request.url.netloc.decode('ascii', 'replace')}"
        try:
            response = transport.handle_request(request)
        except ExchangeTimeout as error:  # the proxy or the origin behind it: name the proxy
            raise ExchangeTimeout(
                f"{error.message}, via proxy {shown(proxy)}", where=error.where, hint=error.hint
            ) from None
        except (httpx.ProxyError, httpx.ConnectError, httpx.ConnectTimeout, *_DROPPED) as error:
            # the same kind, so a caller retries what it retried before; the message says how
            raise type(error)(_failed(proxy, target, str(error)), request=request) from None
        if response.status_code == 407:  # plain http: the proxy answers in the origin's place
            response.close()
            raise httpx.ProxyError(
                _failed(proxy, target, "407 Proxy Authentication Required"), request=request
            )
        return response

    def close(self) -> None:
        self._direct.close()
        for transport in self._proxied.values():
            transport.close()


def transport(given: httpx.BaseTransport | None) -> httpx.BaseTransport:
    """What every mlenv client sends through (with ``trust_env=False``): a test's transport,
    or the proxy router over the trust ``mlenv.net.tls`` decides."""
    if given is not None:
        return given
    from mlenv.net.tls import ssl_context

    return ProxyRouter(ssl_context())


def _unusable_hint(variable: str) -> str:
    return (
        f"set {variable} to http://host:port (https:// and socks5:// with socksio work too; a "
        "user:password@ before the host if the proxy asks for one, each '/', '?', '#', '@' or "
        "':' in it percent-encoded), or unset it to go direct"
    )


def _failed(proxy: str, target: str, why: str) -> str:
    return f"via proxy {shown(proxy)} to {target}: {why or 'connection closed'}"


def proxy_hint(error: BaseException) -> str | None:
    """The fix for a request the proxy refused or could not carry, else None."""
    if "via proxy " not in str(error):
        return None
    return (
        f"check the proxy variables ({PROXY_VARIABLES}): the proxy's address, its "
        "user:password@ if it asks for one (407), or add the host to NO_PROXY to go direct"
    )
