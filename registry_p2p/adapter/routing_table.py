"""Connecting does not add a peer to py-libp2p's DHT routing table."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from registry_p2p.adapter.identify import request_identify
from registry_p2p.adapter.streams import only_closed_connections

if TYPE_CHECKING:
    from libp2p.peer.id import ID

    from registry_p2p.adapter.types import DhtLike, HostLike

log = logging.getLogger("registry_p2p.adapter.routing_table")


class RoutingTableFiller:
    """Connecting does not add a peer to py-libp2p's routing table: do it once identify is known.

    A network notifee; `run` must be started in a nursery that outlives the host's connections.
    """

    IDENTIFY_WAIT_S = 5.0  # the first wait; each retry waits twice as long as the one before
    IDENTIFY_TRIES = 4
    FIRST_POLL_S = 0.05  # py-libp2p has no event for "identify done"
    RETRY_POLL_S = 0.5

    def __init__(self, host: HostLike, dht: DhtLike, on_connected: Callable[[ID], None] | None = None) -> None:
        self.host = host
        self.dht = dht
        # Told of every new connection (a restarted peer, a healed partition), unlike a
        # half-dead old one, which lingers in the swarm and proves nothing.
        self.on_connected = on_connected
        self._send, self._receive = trio.open_memory_channel[Any](1024)

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            async for peer in self._receive:
                nursery.start_soon(self._add, peer)

    def _protocols(self, peer: ID) -> list[str]:
        try:
            return list(self.host.get_peerstore().get_protocols(peer))
        except Exception:
            return []

    async def _identified(self, peer: ID) -> list[str]:
        """What identify said `peer` speaks. py-libp2p runs identify once per connection and
        never again: when that run dies (with the losing one of two racing connections, or on
        its 10 s read timeout under load) the peer stays unknown, out of the routing table and
        of every replica set, for as long as the connection lasts. So ask again, backing off."""
        wait, poll = self.IDENTIFY_WAIT_S, self.FIRST_POLL_S
        for attempt in range(self.IDENTIFY_TRIES):
            if attempt:
                if peer not in self.host.get_connected_peers() or only_closed_connections(self.host, peer):
                    return []  # identify cannot run on a connection that is gone
                log.debug("no identify from %s after %.0f s: asking again", peer, wait / 2)
                request_identify(self.host, peer)
                poll = self.RETRY_POLL_S  # a retry is rare; many connections polling fast are not
            with trio.move_on_after(wait):
                while not (protocols := self._protocols(peer)):
                    await trio.sleep(poll)
                return protocols
            wait *= 2
        return []

    async def _add(self, peer: ID) -> None:
        from libp2p.kad_dht.common import PROTOCOL_ID as KAD_PROTOCOL

        if str(KAD_PROTOCOL) in await self._identified(peer):
            try:
                await self.dht.add_peer(peer)
            except Exception as exc:
                log.debug("add_peer failed: %s", exc)

    def learn_connected(self) -> None:
        """The peers connected before this filler was registered (an application's bootstrap peer)."""
        for peer in self.host.get_connected_peers():
            with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
                self._send.send_nowait(peer)

    # INotifee
    async def connected(self, network: Any, conn: Any) -> None:
        with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError, AttributeError):
            peer = conn.muxed_conn.peer_id
            self._send.send_nowait(peer)
            if self.on_connected is not None:
                self.on_connected(peer)

    async def disconnected(self, network: Any, conn: Any) -> None:
        return None

    async def opened_stream(self, network: Any, stream: Any) -> None:
        return None

    async def closed_stream(self, network: Any, stream: Any) -> None:
        return None

    async def listen(self, network: Any, multiaddr: Any) -> None:
        return None

    async def listen_close(self, network: Any, multiaddr: Any) -> None:
        return None
