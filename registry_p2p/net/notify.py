"""Gossipsub change feed: a topic per resource carrying every accepted record and tombstone.

Pubsub is never the source of truth: every message is validated with the core rules (a topic
validator rejects forged or tampered ones before delivery or forwarding), and watchers merge what
arrives through the precedence rule.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import trio

from registry_p2p.adapter.late_subscribers import announce_to_late_peers
from registry_p2p.adapter.pubsub import topic_rate_limit
from registry_p2p.core import names
from registry_p2p.core.gossip import encode_payloads
from registry_p2p.core.ids import b58
from registry_p2p.core.model import Entry
from registry_p2p.core.pacing import PublishPacer, budget_under
from registry_p2p.core.watch import message_entries

if TYPE_CHECKING:
    from registry_p2p.adapter.types import MessageLike, PubsubLike, SubscriptionLike, TopicValidator

log = logging.getLogger("registry_p2p.notify")

TOPIC_PREFIX = names.TOPIC_PREFIX
LISTENER_BUFFER = 1024
# How long a peer whose pubsub stream was opening when we joined may take to register.
ANNOUNCE_TIMEOUT_S = 5.0


def topic_of(resource_id: bytes) -> str:
    return names.topic_of(resource_id)


class Notifier:
    """Joins topics, validates and fans messages out to local listeners, publishes entries."""

    def __init__(
        self,
        pubsub: PubsubLike,
        check: Callable[[bytes, bytes], Entry],
        sources: Callable[[bytes], Collection[bytes] | None] | None = None,
    ) -> None:
        self.pubsub = pubsub
        self.check = check
        # Whose announcements a watcher may surface (the resource's replicas); None: anyone's.
        # Gossip is a hint: a valid record published by a peer that holds no replica of the
        # resource would otherwise surface as a service no resolve returns (attacks.md §2).
        self.sources = sources
        self.ignored = 0  # (resource_id, serialized entry) -> entry; raises RegistryError when invalid
        self._joined: dict[bytes, SubscriptionLike] = {}
        self._listeners: dict[bytes, set[trio.MemorySendChannel[Entry]]] = {}
        self._nursery: trio.Nursery | None = None
        self._topics: dict[bytes, str] = {}
        # The application's gossipsub may drop what we publish above its per-topic rate: stay under it.
        self._pacer: PublishPacer[bytes] = PublishPacer(budget_under(topic_rate_limit(pubsub)))
        self._offered = trio.Event()
        self.rejected = 0
        self.delivered = 0

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._publish_paced)
            task_status.started()
            await trio.sleep_forever()

    def _validator(self, resource_id: bytes) -> TopicValidator:
        me = getattr(self.pubsub, "my_id", None)

        def validate(forwarder: Any, message: MessageLike) -> bool:
            if me is not None and forwarder == me:
                # Our own publish: only entries our store accepted or we built and checked.
                return True
            ok = self.entries_of(resource_id, bytes(message.data)) is not None
            if not ok:
                self.rejected += 1
                log.info("rejected an invalid message on %s", topic_of(resource_id))
            return ok

        return validate

    async def join(self, resource_id: bytes) -> None:
        if resource_id in self._joined:
            return
        assert self._nursery is not None, "Notifier.run must be started first"
        topic = topic_of(resource_id)
        self.pubsub.set_topic_validator(topic, self._validator(resource_id), False)
        subscription = await self.pubsub.subscribe(topic)
        self._joined[resource_id] = subscription
        self._nursery.start_soon(self._dispatch, resource_id, subscription)
        self._nursery.start_soon(announce_to_late_peers, self.pubsub, topic, ANNOUNCE_TIMEOUT_S)

    async def leave(self, resource_id: bytes) -> None:
        subscription = self._joined.pop(resource_id, None)
        if subscription is not None:
            try:
                await self.pubsub.unsubscribe(topic_of(resource_id))
            except Exception as exc:
                log.debug("unsubscribe failed: %s", exc)

    def joined(self, resource_id: bytes) -> bool:
        return resource_id in self._joined

    def entries_of(self, resource_id: bytes, data: bytes) -> list[Entry] | None:
        """The valid entries a message carries; None when it must be rejected (`core.watch.message_entries`)."""
        return message_entries(data, lambda raw: self.check(resource_id, raw))

    async def _dispatch(self, resource_id: bytes, subscription: SubscriptionLike) -> None:
        # Drain promptly: py-libp2p's subscription channel holds only 32 messages.
        async for message in subscription:
            if not self._listeners.get(resource_id):
                continue  # nobody watches here: no need to decode and check it again
            allowed = self.sources(resource_id) if self.sources is not None else None
            if allowed is not None and bytes(message.from_id) not in allowed:
                self.ignored += 1
                continue
            for entry in self.entries_of(resource_id, bytes(message.data)) or ():
                self.delivered += 1
                for channel in list(self._listeners.get(resource_id, ())):
                    try:
                        channel.send_nowait(entry)
                    except trio.WouldBlock:
                        log.warning("a watcher of %s is too slow; dropping one change", b58(resource_id))
                    except trio.BrokenResourceError:
                        self._listeners[resource_id].discard(channel)

    def listen(self, resource_id: bytes) -> trio.MemoryReceiveChannel[Entry]:
        send, receive = trio.open_memory_channel[Entry](LISTENER_BUFFER)
        self._listeners.setdefault(resource_id, set()).add(send)
        return receive

    def unlisten(self, resource_id: bytes, receive: trio.MemoryReceiveChannel[Entry]) -> None:
        receive.close()
        listeners = self._listeners.get(resource_id)
        if listeners:
            self._listeners[resource_id] = {c for c in listeners if not _closed_partner(c)}

    def listener_count(self, resource_id: bytes) -> int:
        return len(self._listeners.get(resource_id, ()))

    def watch_count(self) -> int:
        """Watches open through this node (`Registry.watch`), over every resource."""
        return sum(len(listeners) for listeners in list(self._listeners.values()))

    def remote_watcher_count(self) -> int:
        """Peers connected here that subscribe to a resource's topic: the watchers this node's
        announcements reach, one per peer and resource (replicas publish without joining)."""
        peer_topics: dict[str, Any] = getattr(self.pubsub, "peer_topics", None) or {}
        return sum(len(peers) for topic, peers in list(peer_topics.items()) if topic.startswith(TOPIC_PREFIX))

    async def publish_entries(self, resource_id: bytes, raws: list[bytes]) -> None:
        """Announce entries accepted together: one message for a lone entry, batches for more; what
        the topic's rate budget holds back leaves with the next batch."""
        if self._pacer.per_window is None:
            # No limit to stay under (our own gossipsub): publish now, without the pacing task's hop.
            for payload in encode_payloads(raws):
                await self.publish(resource_id, payload)
            return
        self._pacer.offer(resource_id, raws)
        self._offered.set()

    async def _publish_paced(self) -> None:
        while True:
            now = trio.current_time()
            ready_at = self._pacer.next_ready_at(now)
            if ready_at is None or ready_at > now:
                with trio.move_on_at(float("inf") if ready_at is None else ready_at):
                    await self._offered.wait()
                self._offered = trio.Event()
                continue
            for resource_id in self._pacer.ready(now):
                for payload in encode_payloads(self._pacer.take(resource_id)):
                    self._pacer.sent(resource_id, trio.current_time())
                    await self.publish(resource_id, payload)
            self._pacer.forget_idle(trio.current_time())

    async def publish(self, resource_id: bytes, data: bytes) -> None:
        # The message id is sha256(data) for every copy: when another replica's copy of this
        # payload reached us first, ours would be signed and then dropped as a duplicate. Skip it.
        seen = getattr(self.pubsub, "seen_messages", None)
        if seen is not None and seen.has(hashlib.sha256(data).digest()):
            return
        topic = self._topics.get(resource_id)
        if topic is None:
            if len(self._topics) > 4096:
                self._topics.clear()
            topic = self._topics[resource_id] = topic_of(resource_id)
        try:
            await self.pubsub.publish(topic, data)
        except Exception as exc:
            log.debug("publish on %s failed: %s", topic, exc)


def _closed_partner(channel: trio.MemorySendChannel[Entry]) -> bool:
    return channel.statistics().open_receive_channels == 0
