"""What a host is, under any spelling: its one form (``host_form``), and whether it is this
machine (``is_loopback``) or on the link, where clouds serve instance metadata
(``is_link_local``). ``origins`` decides where a URL may lead and a request connect from these
answers; the proxy routing asks them too."""

from __future__ import annotations

import functools
import ipaddress


def host_form(hostname: str) -> str:
    """Lower case, IDNA (punycode) form: ``Bücher.example`` and ``xn--bcher-kva.example`` are
    one host, so credentials and checks cannot be split across two spellings. The form httpx
    sends (IDNA 2008, its ``idna.encode``), never Python's IDNA 2003 codec, which maps ``ß``
    to ``ss``, a final sigma to sigma and drops joiners: ``straße.example`` and
    ``strasse.example`` are two domains, and one origin to that codec would carry one's
    credentials to the other. A host httpx cannot spell is kept as it is (nothing reaches it)."""
    host = hostname.lower()
    if host.isascii():  # ASCII is sent as it is, lower-cased
        return host
    import idna  # httpx's own dependency: only a Unicode host needs it

    try:
        return idna.encode(host).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return host


def _legacy_form(host: str) -> str:
    """``host`` through Python's IDNA 2003 codec: fullwidth digits, circled letters mapped."""
    try:
        return host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return host


@functools.lru_cache(maxsize=1024)
def is_loopback(host: str) -> bool:
    """The local machine under any spelling: ``localhost`` (and the other names /etc/hosts
    gives it: ``ip6-localhost``, ``localhost.localdomain``...), ``127.1``, ``0x7f000001``,
    ``2130706433``, ``[::1]``, ``[::ffff:127.0.0.1]``, ``0.0.0.0``, and their IDNA-equivalent
    Unicode forms (full-width digits, ideographic dots, circled letters)."""
    return any(_loopback(form) for form in _spellings(host))


# What every distribution's /etc/hosts calls this machine besides ``localhost``: Debian's and
# Ubuntu's ``::1`` names, Fedora's and RHEL's ``localhost.localdomain``, ``localhost4``/``6``.
_HOSTS_FILE_NAMES = frozenset(
    {"ip6-localhost", "ip6-loopback", "localhost.localdomain", "localhost4",
     "localhost4.localdomain4", "localhost6", "localhost6.localdomain6"}
)  # fmt: skip


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost") or not host:
        return True
    if host in _HOSTS_FILE_NAMES:
        return True
    address = _address(host)
    return address is not None and (address.is_loopback or address.is_unspecified)


@functools.lru_cache(maxsize=1024)
def is_link_local(host: str) -> bool:
    """A link-local address under any spelling (``169.254.0.0/16``, ``fe80::/10``): where
    clouds serve instance metadata and its credentials (``169.254.169.254``,
    ``2852039166``, ``[fe80::a9fe:a9fe]``), no place a remote registry may send mlenv; so are
    the metadata addresses clouds serve outside those ranges (``_METADATA``)."""
    return any(_link_local(form) for form in _spellings(host))


def _spellings(host: str) -> set[str]:
    """``host`` as httpx sends it and as IDNA 2003 maps it: the address rules refuse either."""
    bare = host.strip("[]").lower()
    return {form.rstrip(".") for form in (host_form(bare), _legacy_form(bare))}


def _link_local(host: str) -> bool:
    address = _address(host)
    if isinstance(address, ipaddress.IPv6Address) and address in _NAT64:  # the translator's
        address = ipaddress.IPv4Address(address.packed[12:])  # own link: its metadata too
    return address is not None and (address.is_link_local or address.packed in _METADATA)


# Instance metadata outside link-local: AWS's IPv6 endpoint (IMDS, fd00:ec2::254, a unique
# local address) and Alibaba Cloud's (100.100.100.200, in the shared address space); compared
# by bytes so a zone (``fd00:ec2::254%eth0``) does not hide one.
_METADATA = frozenset(ipaddress.ip_address(a).packed for a in ("fd00:ec2::254", "100.100.100.200"))
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: IPv4 reached from an IPv6-only host


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address ``host`` spells (IPv4-mapped IPv6 as IPv4), None for a name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        import socket  # only a host that is no plain address needs it, not every local lock

        try:  # the lenient forms getaddrinfo also accepts: 127.1, 0x7f.1, 2130706433
            address = ipaddress.ip_address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
