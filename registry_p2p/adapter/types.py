"""The parts of py-libp2p's host, swarm, stream, Kademlia DHT and gossipsub that the registry uses.

py-libp2p 0.8.1 ships no type information (mypy sees it as `Any`), so these Protocols are what
the registry's signatures say it needs: only the members it calls, with py-libp2p 0.8.1's own
signatures. py-libp2p's objects satisfy them structurally; nothing in the registry checks them at
run time (they are runtime_checkable only so tests/net/test_adapter_types.py can hold py-libp2p's
real objects against them).
A member typed `Any` is one whose py-libp2p type the registry only passes along or probes.

The adapter's workarounds that reach into the swarm's internals (retry and connection
configs, listeners, the inbound limiter, the pruner) keep taking the host as `Any`: those
internals are exactly what the workarounds exist for, not part of an interface to describe.

Nothing is imported from py-libp2p at run time: importing the registry must load no module
of py-libp2p that it did not load before (tests/test_imports.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from libp2p.crypto.keys import PrivateKey
    from libp2p.custom_types import TProtocol
    from libp2p.peer.id import ID
    from libp2p.peer.peerinfo import PeerInfo
    from multiaddr import Multiaddr


@runtime_checkable
class MuxedConnLike(Protocol):
    """A stream's connection: who is on the other side."""

    @property
    def peer_id(self) -> ID: ...


@runtime_checkable
class StreamLike(Protocol):
    """py-libp2p's INetStream as the registry's framing, client and server use it."""

    @property
    def muxed_conn(self) -> MuxedConnLike: ...

    async def read(self, n: int | None = None) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...

    async def reset(self) -> None: ...


StreamHandler = Callable[[StreamLike], Awaitable[None]]


@runtime_checkable
class PeerstoreLike(Protocol):
    def addrs(self, peer_id: ID) -> list[Multiaddr]: ...

    def add_addrs(self, peer_id: ID, addrs: Sequence[Multiaddr], ttl: int = 0) -> None: ...

    def get_protocols(self, peer_id: ID) -> list[str]: ...


@runtime_checkable
class NetworkLike(Protocol):
    """The swarm's public part the registry uses (its internals: see the module text)."""

    async def close_peer(self, peer_id: ID) -> None: ...

    def get_connections(self, peer_id: ID | None = None) -> Sequence[Any]: ...

    def register_notifee(self, notifee: Any) -> None: ...

    def remove_notifee(self, notifee: Any) -> None: ...


@runtime_checkable
class HostLike(Protocol):
    """py-libp2p's BasicHost as the registry uses it."""

    def get_id(self) -> ID: ...

    def get_private_key(self) -> PrivateKey: ...

    def get_network(self) -> NetworkLike: ...

    def get_peerstore(self) -> PeerstoreLike: ...

    def get_addrs(self) -> list[Multiaddr]: ...

    def get_transport_addrs(self) -> list[Multiaddr]: ...

    def get_connected_peers(self) -> list[ID]: ...

    async def connect(self, peer_info: PeerInfo) -> None: ...

    async def new_stream(self, peer_id: ID, protocol_ids: Sequence[TProtocol]) -> StreamLike: ...

    def set_stream_handler(self, protocol_id: TProtocol, stream_handler: StreamHandler) -> None: ...

    def remove_stream_handler(self, protocol_id: TProtocol) -> None: ...


@runtime_checkable
class RoutingTableLike(Protocol):
    def find_local_closest_peers(self, key: bytes, count: int = 20) -> list[ID]: ...


@runtime_checkable
class PeerRoutingLike(Protocol):
    async def find_closest_peers_network(self, target_key: bytes, count: int = 20) -> list[ID]: ...


@runtime_checkable
class ValueStoreLike(Protocol):
    def get(self, key: bytes) -> Any: ...  # a libp2p Record (its `value`: bytes) or None

    def remove(self, key: bytes) -> bool: ...


@runtime_checkable
class DhtLike(Protocol):
    """py-libp2p's KadDHT as the registry uses it."""

    @property
    def routing_table(self) -> RoutingTableLike: ...

    @property
    def peer_routing(self) -> PeerRoutingLike: ...

    @property
    def value_store(self) -> ValueStoreLike: ...

    async def add_peer(self, peer_id: ID) -> bool: ...

    async def find_peer(self, peer_id: ID) -> PeerInfo | None: ...

    async def put_value(self, key: str, value: bytes) -> None: ...

    async def get_value(self, key: str) -> bytes | None: ...

    def register_validator(self, namespace: str, validator: Any) -> None: ...  # a libp2p records Validator


@runtime_checkable
class MessageLike(Protocol):
    """A gossipsub message (py-libp2p's rpc_pb2.Message) as the change feed reads it."""

    @property
    def data(self) -> bytes: ...

    @property
    def from_id(self) -> bytes: ...


@runtime_checkable
class SubscriptionLike(Protocol):
    def __aiter__(self) -> AsyncIterator[MessageLike]: ...


TopicValidator = Callable[[Any, MessageLike], bool]  # (the forwarding peer's ID, the message)


@runtime_checkable
class PubsubLike(Protocol):
    """py-libp2p's Pubsub as the change feed and its late-subscriber workaround use it.

    `my_id`, `router` and `seen_messages` are read with getattr (tolerating their absence), so
    they are not required here."""

    @property
    def host(self) -> HostLike: ...

    @property
    def peers(self) -> Mapping[ID, Any]: ...  # peer -> its pubsub stream

    @property
    def peer_queues(self) -> Mapping[ID, Any]: ...  # peer -> its outbound queue (`push(rpc) -> bool`)

    @property
    def subscribed_topics_receive(self) -> Mapping[str, Any]: ...

    async def subscribe(self, topic_id: str) -> SubscriptionLike: ...

    async def unsubscribe(self, topic_id: str) -> None: ...

    async def publish(self, topic_id: str, data: bytes) -> None: ...

    def set_topic_validator(self, topic: str, validator: TopicValidator, is_async_validator: bool) -> None: ...

    async def wait_for_peer(self, peer_id: ID, timeout: float = 5.0) -> None: ...
