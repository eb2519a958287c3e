"""py-libp2p's gossipsub: its defaults drop and stall registry messages, its pending queues cost
O(queue) per publish, its sweeper thread is never stopped, and every RPC rebuilds the host's
advertised addresses."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pubsub import Pubsub

if TYPE_CHECKING:
    from registry_p2p.adapter.types import MessageLike, PubsubLike

log = logging.getLogger("registry_p2p.adapter.pubsub")


def message_id(message: MessageLike) -> bytes:
    """sha256(data) in every language, so a writer's and a replica's copies are one message."""
    return hashlib.sha256(bytes(message.data)).digest()


class _GossipSub(GossipSub):  # type: ignore[misc]  # py-libp2p ships no type information
    """GossipSub whose pending-message queues cost O(1) per publish instead of O(queue length).

    py-libp2p 0.8.1 queues each published message for every connected peer not (yet) known to
    be subscribed to the topic, and before each append rescans that peer's whole queue for
    expired entries. The queue is in time order: only a queue whose oldest entry has expired needs
    the scan, and an over-long one is cut to half the cap at once, so the cut is rare too.
    """

    def _prune_pending_messages(self, peer_id: Any) -> None:
        queue = self._pending_messages.get(peer_id)
        if queue and queue[0][0] >= time.time() - self._pending_messages_ttl:
            cap = self._max_pending_messages_per_peer
            if len(queue) > cap:
                del queue[: len(queue) - cap // 2]
            return
        super()._prune_pending_messages(peer_id)


def make_gossipsub(host: Any, heartbeat_s: float = 1.0) -> tuple[Pubsub, GossipSub]:
    """GossipSub whose default spam protection (10 msgs/s per peer and topic, silently dropped)
    would lose 50 services registering at once; the default 120 s heartbeat forms meshes too slowly."""
    router = _GossipSub(
        [PROTOCOL_ID_V12, PROTOCOL_ID_V11, PROTOCOL_ID],
        degree=6,
        degree_low=4,
        degree_high=12,
        heartbeat_interval=heartbeat_s,
        heartbeat_initial_delay=0.1,
        spam_protection_enabled=False,
        max_messages_per_topic_per_second=10_000.0,
        # py-libp2p 0.8.1's "adaptive gossip" rescores network health every 30 s and then sets the
        # heartbeat to max(30, ...) or max(60, ...) seconds when a topic mesh is below its target
        # degree (a small network, a new resource): meshes, gossip and the message cache then
        # stall for 30-60 s; a node publishing 2,000 records/s held 60,000 of them in memory.
        adaptive_gossip_enabled=False,
        # Not an outbound buffer: py-libp2p 0.8.1 queues every published message for each
        # connected peer not (yet) known to be subscribed to its topic, and prunes that queue
        # with a scan on every publish: publishing cost O(peers x this cap). At 1000 a node
        # accepting 2,000 records/s spent 80% of its time there; the queue only bridges the
        # moment between connecting and learning a peer's subscriptions.
        max_pending_messages_per_peer=32,
    )
    pubsub = Pubsub(host, router, msg_id_constructor=message_id)
    return pubsub, router


def stop_pubsub_thread(pubsub: Pubsub) -> None:
    """Each Pubsub starts a sweeper thread for its seen-message cache that nothing stops."""
    try:
        pubsub.seen_messages.stop()
    except Exception as exc:
        log.debug("stopping the pubsub sweeper failed: %s", exc)


def cache_advertised_addrs(host: Any, ttl_s: float = 1.0) -> Callable[[], None]:
    """py-libp2p 0.8.1 rebuilds the host's advertised addresses (parsing multiaddrs: ~0.4 ms) to
    attach its signed peer record to *every* pubsub RPC it sends, one per peer and message.
    Answer `host.get_addrs()` from a copy at most `ttl_s` old instead, on this host object only.
    Returns the undo."""
    original = host.get_addrs
    cached: list[Any] = [0.0, None]

    def get_addrs() -> list[Any]:
        now = time.monotonic()
        if cached[1] is None or now - cached[0] >= ttl_s:
            cached[0], cached[1] = now, original()
        return list(cached[1])

    host.get_addrs = get_addrs

    def undo() -> None:
        vars(host).pop("get_addrs", None)

    return undo


def topic_rate_limit(pubsub: PubsubLike) -> float | None:
    """Messages per second and topic that py-libp2p's spam protection lets one peer publish or
    forward (the rest are dropped without a word); None when its router enforces no such limit."""
    router = getattr(pubsub, "router", None)
    if not getattr(router, "spam_protection_enabled", False):
        return None
    limit = getattr(router, "max_messages_per_topic_per_second", None)
    return float(limit) if isinstance(limit, int | float) else None
