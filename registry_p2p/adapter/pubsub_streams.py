"""py-libp2p 0.8.1: a pubsub stream left on a closed connection while the peer stays connected.

Two peers that dial each other at the same moment hold two connections; with one connection per
peer (adapter/dialing.py) py-libp2p closes one of them once its grace period is over. Pubsub
treats a closed connection as a dead peer only when the peer has no connection left, so a pubsub
stream that ran on the closed connection stays registered: what is written to it goes nowhere,
without an error, for as long as the other connection lives (seen in tests/net/test_watch.py:
a watcher that never received part of what a replica published).

`keep_pubsub_streams_on_live_connections` watches connections close and gives such a peer a new
outbound stream on a live connection, keeping everything pubsub knows of it (its subscriptions,
mesh and fanout places) and replaying the router's recent messages on the new stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from libp2p.peer.id import ID

    from registry_p2p.adapter.types import HostLike, PubsubLike

log = logging.getLogger("registry_p2p.adapter.pubsub")


class _StreamKeeper:
    """A network notifee: when a connection closes, move pubsub streams that ran on it."""

    def __init__(self, pubsub: Any, spawn: Callable[..., Any]) -> None:
        self.pubsub = pubsub
        self.spawn = spawn
        self.moved = 0

    async def disconnected(self, network: Any, conn: Any) -> None:
        muxed = getattr(conn, "muxed_conn", None)
        peer = getattr(muxed, "peer_id", None)
        if peer is None:
            return
        stream = self.pubsub.peers.get(peer)
        if stream is None or getattr(stream, "muxed_conn", None) is not muxed:
            return
        if not [c for c in network.get_connections(peer) if c is not conn]:
            return  # no connection left: pubsub's own dead-peer handling runs
        self.spawn(self.move, peer, stream)

    async def move(self, peer: ID, stale: Any) -> None:
        pubsub = self.pubsub
        if pubsub.peers.get(peer) is not stale:
            return  # replaced meanwhile
        del pubsub.peers[peer]
        queue = pubsub.peer_queues.pop(peer, None)
        if queue is not None:
            queue.close()
        # The new stream must replay what the router sent recently: it may have gone into the stale one.
        replayed = getattr(pubsub, "_replayed_recent_topics", None)
        if isinstance(replayed, dict):
            replayed.pop(peer, None)
        with trio.move_on_after(10):
            try:
                await pubsub._handle_new_peer(peer)
                self.moved += 1
            except Exception as exc:
                log.debug("could not open a new pubsub stream to %s: %s", peer, exc)
                pubsub._handle_dead_peer(peer)

    async def connected(self, network: Any, conn: Any) -> None:
        await trio.lowlevel.checkpoint()

    async def opened_stream(self, network: Any, stream: Any) -> None:
        await trio.lowlevel.checkpoint()

    async def closed_stream(self, network: Any, stream: Any) -> None:
        await trio.lowlevel.checkpoint()

    async def listen(self, network: Any, multiaddr: Any) -> None:
        await trio.lowlevel.checkpoint()

    async def listen_close(self, network: Any, multiaddr: Any) -> None:
        await trio.lowlevel.checkpoint()


def keep_pubsub_streams_on_live_connections(
    host: HostLike, pubsub: PubsubLike, nursery: trio.Nursery
) -> Callable[[], None]:
    """Register the keeper on `host`'s network; its moves run in `nursery`. Returns the undo."""
    keeper = _StreamKeeper(pubsub, nursery.start_soon)
    network: Any = host.get_network()
    network.register_notifee(keeper)

    def undo() -> None:
        network.remove_notifee(keeper)

    return undo
