"""Whether an address is one this machine's interfaces carry: a service bound to every
interface (``0.0.0.0``, ``::``) answers there as it does on loopback, so a LAN address of this
host, a container's bridge address or a second address on ``lo`` is this machine too."""

from __future__ import annotations

import ipaddress


def assigned_here(address: str) -> bool:
    """The kernel's own answer, exact under any interface set-up: a datagram socket connected
    to an address of this machine is routed through the local table and so sent *from* that
    address, while one connected elsewhere is sent from an interface's address (no packet
    leaves: connecting a UDP socket only picks the route). An address no route reaches, or
    one that is no IP address, is not here."""
    try:
        parsed = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return False
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    import socket  # asked only when a connection is made, never by a local lock

    family = socket.AF_INET6 if parsed.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((str(parsed), 9))
            sender = str(probe.getsockname()[0])
        except OSError:  # unreachable, a broadcast address, no IPv6 on this host
            return False
    return ipaddress.ip_address(sender.partition("%")[0]) == parsed
