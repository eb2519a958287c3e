"""Connecting does not add a peer to py-libp2p's DHT routing table."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from libp2p.peer.id import ID

    from registry_p2p.adapter.types import DhtLike, HostLike

log = logging.getLogger("registry_p2p.adapter.routing_table")


class RoutingTableFiller:
    """Connecting does not add a peer to py-libp2p's routing table: do it once identify is known.

    A network notifee; `run` must be started in a nursery that outlives the host's connections.
    """

    IDENTIFY_WAIT_S = 5.0

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

    async def _add(self, peer: ID) -> None:
        from libp2p.kad_dht.common import PROTOCOL_ID as KAD_PROTOCOL

        with trio.move_on_after(self.IDENTIFY_WAIT_S):
            while True:
                try:
                    protocols = self.host.get_peerstore().get_protocols(peer)
                except Exception:
                    protocols = []
                if protocols:
                    break
                await trio.sleep(0.05)
        try:
            protocols = self.host.get_peerstore().get_protocols(peer)
        except Exception:
            return
        if str(KAD_PROTOCOL) in protocols:
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
