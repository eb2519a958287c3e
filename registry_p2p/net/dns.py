"""`/dns4/`, `/dns6/` and `/dns/` addresses, resolved to `/ip4/` and `/ip6/` before they are dialed.

py-libp2p's TCP transport dials only IP addresses: given `/dns4/seed.example/tcp/4600/p2p/...`
it failed with "no connection could be established", which says nothing about the name. Each
name is resolved here through the system resolver (getaddrinfo, so /etc/hosts counts), bounded
by DNS_TIMEOUT_S, and a failure names the address and the reason. Names under the reserved
`.invalid` domain are refused without asking anyone, as RFC 6761 §6.4 says resolvers should.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

import trio
from multiaddr import Multiaddr

DNS_TIMEOUT_S = 5.0
FAMILIES = {"dns4": (socket.AF_INET,), "dns6": (socket.AF_INET6,), "dns": (socket.AF_INET, socket.AF_INET6)}
IP_PROTOCOL: dict[int, str] = {socket.AF_INET: "ip4", socket.AF_INET6: "ip6"}


class DnsError(Exception):
    """A DNS name of a multiaddr could not be resolved; the text names the address and why."""


def dns_name(addr: Multiaddr) -> tuple[str, str] | None:
    """(protocol, name) when `addr` starts with /dns4, /dns6 or /dns; None otherwise."""
    parts = str(addr).split("/")
    if len(parts) > 2 and parts[1] in FAMILIES:
        return parts[1], parts[2]
    return None


async def resolve_addr(addr: Multiaddr, timeout: float = DNS_TIMEOUT_S) -> list[Multiaddr]:
    """`addr` itself when it names no host by DNS; otherwise one address per IP of the name, the
    rest of the address (`/tcp/4600/p2p/...`) kept. Raises DnsError."""
    found = dns_name(addr)
    if found is None:
        return [addr]
    protocol, name = found
    rest = "/".join(str(addr).split("/")[3:])
    if name.rstrip(".").lower().rsplit(".", 1)[-1] == "invalid":
        raise DnsError(f"cannot resolve {addr}: {name} is under the reserved .invalid domain (RFC 6761)")
    ips: list[tuple[int, str]] = []
    errors: list[str] = []
    try:
        with trio.fail_after(timeout):
            for family in FAMILIES[protocol]:
                try:
                    answers = await trio.socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)
                except socket.gaierror as exc:
                    errors.append(exc.strerror or str(exc))
                    continue
                for answer in answers:
                    ip = str(answer[4][0])
                    if (family, ip) not in ips:
                        ips.append((family, ip))
    except trio.TooSlowError:
        raise DnsError(f"cannot resolve {addr}: no answer within {timeout:g} s") from None
    if not ips:
        reason = errors[0] if errors else "no address of that family"
        raise DnsError(f"cannot resolve {addr}: {reason}")
    return [Multiaddr(f"/{IP_PROTOCOL[family]}/{ip}" + (f"/{rest}" if rest else "")) for family, ip in ips]


async def resolve_addrs(addrs: Sequence[Multiaddr], timeout: float = DNS_TIMEOUT_S) -> list[Multiaddr]:
    """Every address resolved (see resolve_addr); raises DnsError only when none resolves, with
    the first failure's text."""
    out: list[Multiaddr] = []
    failures: list[DnsError] = []
    for addr in addrs:
        try:
            out.extend(a for a in await resolve_addr(addr, timeout) if a not in out)
        except DnsError as exc:
            failures.append(exc)
    if not out and failures:
        raise failures[0]
    return out
