"""Joining a network through bootstrap peers, and joining again when the node is left alone.

Used by `open_node` for its first join and by `mount(..., bootstrap=...)` for the rejoin loop, so
an application that mounts the registry keeps the same recovery as a node of our own: without
it, a node whose bootstrap peers were all down when it started stayed alone for good (seen in
the churn test: a replica restarted while its bootstrap peer was down never received a write
again, and its stale copy answered resolves).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import trio
from libp2p.peer.peerinfo import PeerInfo

from registry_p2p.core.reconnect import BootstrapSchedule
from registry_p2p.net.dns import DnsError, resolve_addrs

if TYPE_CHECKING:
    from registry_p2p.adapter.types import DhtLike, HostLike

log = logging.getLogger("registry_p2p.bootstrap")

JOIN_TIMEOUT_S = 10.0


class BootstrapUnreachable(Exception):
    """No bootstrap peer could be reached; the text names the first and counts the rest."""


async def join(
    host: HostLike, dht: DhtLike, infos: Sequence[PeerInfo], required: bool, failure_level: int = logging.WARNING
) -> int:
    """Dial each bootstrap peer not connected yet, then fill the routing table; how many answered.

    Raises BootstrapUnreachable when `required` and none of those dialed answered.
    """
    reached = 0
    failures: list[str] = []
    connected = set(host.get_connected_peers())
    others = [info for info in infos if info.peer_id != host.get_id() and info.peer_id not in connected]
    for info in others:
        try:
            info = await resolved(info)
        except DnsError as exc:
            failures.append(f"bootstrap peer {info.peer_id}: {exc}")
            log.log(failure_level, "%s", failures[-1])
            continue
        try:
            with trio.fail_after(JOIN_TIMEOUT_S):
                await host.connect(info)
            await dht.add_peer(info.peer_id)
            reached += 1
        except (Exception, trio.TooSlowError) as exc:
            reason = "timed out" if isinstance(exc, trio.TooSlowError) else "no connection could be established"
            where = ", ".join(str(a) for a in info.addrs)
            failures.append(f"bootstrap peer {info.peer_id} at {where} is unreachable: {reason}")
            log.log(failure_level, "%s", failures[-1])
            log.debug("bootstrap dial failed: %r", exc)
    if required and others and not reached:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise BootstrapUnreachable(failures[0] + more)
    if reached:
        # Fill the routing table: a lookup of our own id meets the peers closest to us.
        with trio.move_on_after(JOIN_TIMEOUT_S):
            try:
                await dht.peer_routing.find_closest_peers_network(host.get_id().to_bytes(), count=20)
            except Exception as exc:
                log.debug("self lookup failed: %s", exc)
    return reached


async def resolved(info: PeerInfo) -> PeerInfo:
    """`info` with its /dns4, /dns6 and /dns addresses resolved to IP addresses (at each join:
    the name may point elsewhere by the next one). Raises DnsError when none resolves."""
    addrs = await resolve_addrs(info.addrs)
    return info if addrs == list(info.addrs) else PeerInfo(info.peer_id, addrs)


async def keep_joined(
    host: HostLike, dht: DhtLike, infos: Sequence[PeerInfo], schedule: BootstrapSchedule | None = None
) -> None:
    """Dial the bootstrap peers again while the node has too few peers and none of them."""
    bootstrap_ids = {info.peer_id for info in infos if info.peer_id != host.get_id()}
    if not bootstrap_ids:
        return
    schedule = schedule or BootstrapSchedule()
    while True:
        await trio.sleep(schedule.next_check_in(trio.current_time()))
        connected = host.get_connected_peers()
        if not schedule.due(trio.current_time(), len(connected), sum(1 for p in connected if p in bootstrap_ids)):
            continue
        log.info("too few peers (%d); dialing the bootstrap peers again", len(connected))
        reached = await join(host, dht, infos, required=False, failure_level=logging.DEBUG)
        schedule.attempted(trio.current_time(), reached > 0)
