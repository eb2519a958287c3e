"""py-libp2p 0.8.1: a subscription made while a peer's pubsub stream is being opened is never
announced to that peer.

`Pubsub._handle_new_peer` builds its hello packet (our topics) as soon as the stream opens, then
awaits the write and only afterwards registers the peer; `subscribe` announces a new topic to
registered peers only. A topic subscribed inside that window reaches neither the hello nor the
announcement, and the peer never learns we listen: it publishes without us. A watch dials the
replica set (and its lookup dials closer peers) just before it subscribes, so it opens exactly
that window.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from libp2p.peer.id import ID

    from registry_p2p.adapter.types import PubsubLike

log = logging.getLogger("registry_p2p.adapter.pubsub")


async def announce_to_late_peers(pubsub: PubsubLike, topic: str, timeout: float) -> None:
    """After `pubsub.subscribe(topic)`: announce the topic again to every peer connected at that
    moment whose pubsub stream was not yet registered, once it is (within `timeout`)."""
    from libp2p.pubsub.pb import rpc_pb2

    connected = pubsub.host.get_connected_peers()
    pending = [peer for peer in connected if peer not in pubsub.peers]
    if not pending:
        return

    async def announce(peer: ID) -> None:
        with trio.move_on_after(timeout):
            try:
                await pubsub.wait_for_peer(peer, timeout=timeout)
            except trio.TooSlowError:
                return
        queue = pubsub.peer_queues.get(peer)
        if queue is None or topic not in pubsub.subscribed_topics_receive:
            return
        rpc = rpc_pb2.RPC(subscriptions=[rpc_pb2.RPC.SubOpts(subscribe=True, topicid=topic)])
        if not queue.push(rpc):
            log.debug("announcing %s to %s: its queue is full", topic, peer)

    async with trio.open_nursery() as nursery:
        for peer in pending:
            nursery.start_soon(announce, peer)
