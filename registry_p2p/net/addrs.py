"""The addresses a node advertises: ones that other peers can dial, never a wildcard.

A node listening on /ip4/0.0.0.0 or /ip6/:: listens on every interface, but "0.0.0.0" is no
address anyone can dial: peers that learned it (from identify, lookups or a record's `addrs`)
dialed nowhere. What a node advertises is, in this order of precedence:
1. the operator's announce list, when given (like go-libp2p's and kubo's `Announce`): it replaces
   everything else (a public address behind NAT, a DNS name, a port mapping);
2. otherwise its listen addresses with each wildcard replaced by the interface addresses behind
   it (loopback first, so peers on the same machine take the cheapest path), plus the addresses
   its peers observe through identify, which py-libp2p passes in as candidates.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from multiaddr import Multiaddr

if TYPE_CHECKING:
    from registry_p2p.adapter.types import HostLike

log = logging.getLogger("registry_p2p.addrs")

WILDCARDS = {"ip4": ipaddress.ip_address("0.0.0.0"), "ip6": ipaddress.ip_address("::")}


def _ip_part(addr: Multiaddr) -> tuple[str, str] | None:
    """The leading /ip4 or /ip6 part of `addr`, if it starts with one."""
    first = next(iter(addr.items()), None)
    if first is None or first[0].name not in ("ip4", "ip6"):
        return None
    return first[0].name, str(first[1])


def is_wildcard(addr: Multiaddr) -> bool:
    part = _ip_part(addr)
    return part is not None and ipaddress.ip_address(part[1]) == WILDCARDS[part[0]]


def interface_ips() -> dict[str, list[str]]:
    """This machine's interface addresses by family, loopback first."""
    from multiaddr.utils import get_network_addrs

    found: dict[str, list[str]] = {"ip4": ["127.0.0.1"], "ip6": ["::1"]}
    for family, version in (("ip4", 4), ("ip6", 6)):
        try:
            more = get_network_addrs(version) or []
        except Exception as exc:  # an interface listing failure must not stop a node
            log.debug("listing ip%d interfaces failed: %s", version, exc)
            more = []
        for ip in more:
            parsed = ipaddress.ip_address(str(ip).split("%")[0])
            if parsed.is_link_local or parsed.is_unspecified:
                continue  # fe80::/10 needs a zone to be dialed
            if str(parsed) not in found[family]:
                found[family].append(str(parsed))
    return found


def expand_wildcards(addrs: Sequence[Multiaddr], ips: dict[str, list[str]]) -> list[Multiaddr]:
    """Each wildcard address replaced by one address per interface of its family; no duplicates."""
    out: dict[str, Multiaddr] = {}
    for addr in addrs:
        part = _ip_part(addr)
        if part is None or not is_wildcard(addr):
            out.setdefault(str(addr), addr)
            continue
        family, wildcard = part
        prefix = f"/{family}/{wildcard}"
        rest = str(addr)[len(prefix) :]
        for ip in ips.get(family, []):
            concrete = Multiaddr(f"/{family}/{ip}{rest}")
            out.setdefault(str(concrete), concrete)
    return list(out.values())


def advertised(
    candidates: Sequence[Multiaddr], announce: Sequence[Multiaddr] = (), ips: dict[str, list[str]] | None = None
) -> list[Multiaddr]:
    """What to advertise given the candidates (listen + observed addresses) and an announce list."""
    if announce:
        return list(announce)
    if not any(is_wildcard(a) for a in candidates):
        return list(dict.fromkeys(candidates))
    expanded = expand_wildcards(candidates, ips if ips is not None else interface_ips())
    return [a for a in expanded if not is_wildcard(a)]


def addrs_factory(announce: Sequence[Multiaddr] = ()) -> Callable[[list[Multiaddr]], list[Multiaddr]]:
    """For py-libp2p's `new_host(addrs_factory=...)`: what identify, the signed peer record and
    `host.get_addrs()` then carry. Interfaces are listed once, when the host is built."""
    ips = interface_ips()

    def factory(candidates: list[Multiaddr]) -> list[Multiaddr]:
        return advertised(candidates, announce, ips)

    return factory


def host_addrs(host: HostLike) -> list[Multiaddr]:
    """A host's dialable addresses without the /p2p part: its own advertised list (which an
    application's host may leave unexpanded: mounted hosts get the same treatment here)."""
    try:
        if not host.get_transport_addrs():
            return []  # no listener (a light client): observed ports of its dials are no address
        raw = [Multiaddr(str(a).split("/p2p/")[0]) for a in host.get_addrs()]
    except Exception as exc:
        log.debug("host addresses unavailable: %s", exc)
        return []
    return advertised(raw)


def addr_text(raw: bytes) -> str | None:
    """A record's binary multiaddr as text (the renderer `Record.of` is given); None if it is none."""
    try:
        return str(Multiaddr(raw))
    except Exception:
        return None
