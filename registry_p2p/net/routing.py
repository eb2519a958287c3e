"""Replica sets through py-libp2p's Kademlia, and the `registry` DHT namespace validator."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.records.validator import Validator

from registry_p2p.adapter.identify import request_identify
from registry_p2p.core import names
from registry_p2p.core.errors import RegistryError
from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.core.limits import Limits
from registry_p2p.core.lookup import kad_distance
from registry_p2p.core.model import decode_resource
from registry_p2p.core.replicas import UNREACHABLE_TTL_S, UNSUPPORTED_TTL_S, ReplicaChoice
from registry_p2p.core.signing import Verifier
from registry_p2p.core.validate import validate_resource
from registry_p2p.net.lookup import QueryFailed, lookup
from registry_p2p.net.server import PROTOCOL_ID

if TYPE_CHECKING:
    from registry_p2p.adapter.types import DhtLike, HostLike

log = logging.getLogger("registry_p2p.routing")

# Short on purpose: py-libp2p 0.8.1 ignores FIND_NODE requests whose key is over 50 bytes and
# not a multihash, and "/registry/<44 base58 chars>" is 54, so no lookup for it ever left the
# local routing table. "/reg/<id>" is at most 49 bytes.
DHT_NAMESPACE = names.DHT_NAMESPACE
LOOKUP_TIMEOUT_S = 10.0
IDENTIFY_TIMEOUT_S = 3.0


def dht_key(resource_id: bytes) -> str:
    return names.dht_key(resource_id)


class ResourceValidator(Validator):  # type: ignore[misc]
    """DHT values under /reg/<id>: an owner-signed Resource whose id matches the key.

    select() keeps the newest created_at_ms, so an owner refreshes a resource by re-creating it.
    """

    def __init__(self, limits: Limits, verifier: Verifier, clock_ms: Callable[[], int]) -> None:
        self.limits = limits
        self.verifier = verifier
        self.clock_ms = clock_ms

    def validate(self, key: str, value: bytes) -> None:
        prefix = f"/{DHT_NAMESPACE}/"
        if not key.startswith(prefix):
            raise ValueError(f"key {key!r} is not in the registry namespace")
        try:
            rid = resource_id_from_text(key[len(prefix) :])
            resource = decode_resource(value, self.limits)
            if resource.id != rid:
                raise ValueError("resource does not match its key")
            validate_resource(resource, self.clock_ms(), self.limits, self.verifier)
        except RegistryError as err:
            raise ValueError(str(err)) from err

    def select(self, key: str, values: list[bytes]) -> int:
        best, best_created = 0, -1
        for index, value in enumerate(values):
            try:
                created = decode_resource(value, self.limits).created_at_ms
            except RegistryError:
                continue
            if created > best_created:
                best, best_created = index, created
        return best


def distance(resource_id: bytes, peer: ID) -> int:
    return kad_distance(resource_id, peer.to_bytes())


class Routing:
    """Finds and caches the replica set of each resource: the K closest registry peers.

    The I/O half: the DHT routing table, identify requests and the lookup. What to remember
    about peers and sets, and which peers to choose, is `core.replicas.ReplicaChoice`'s.
    """

    def __init__(self, host: HostLike, dht: DhtLike, k: int, serves: bool, cache_ttl_s: float) -> None:
        self.host = host
        self.dht = dht
        self.k = k
        self.serves = serves
        self.cache_ttl_s = cache_ttl_s
        self.choice: ReplicaChoice[ID] = ReplicaChoice(
            k,
            cache_ttl_s,
            key_of=ID.to_bytes,
            unreachable_ttl_s=UNREACHABLE_TTL_S,
            unsupported_ttl_s=UNSUPPORTED_TTL_S,
        )

    def _advertised(self, peer: ID) -> bool | None:
        """What identify told us `peer` speaks: None while unknown."""
        try:
            protocols = self.host.get_peerstore().get_protocols(peer)
        except Exception:
            return None
        if not protocols:
            return None
        return PROTOCOL_ID in protocols

    def speaks_registry(self, peer: ID) -> bool | None:
        """True or False when identify told us; None while unknown."""
        return self.choice.speaks_registry(peer, self._advertised(peer), trio.current_time())

    def mark_unsupported(self, peer: ID) -> None:
        self.choice.mark_unsupported(peer, trio.current_time())

    def mark_unreachable(self, peer: ID) -> None:
        """A request to `peer` failed: leave it out of replica sets for a while."""
        self.choice.mark_unreachable(peer, trio.current_time())

    def _lookup_failed(self, peer: ID, failure: QueryFailed) -> None:
        if failure.unreachable:
            self.mark_unreachable(peer)

    def reachable_again(self, peer: ID) -> None:
        """A new connection to `peer` was made (a restart, a healed partition): forget its failure."""
        self.choice.reachable_again(peer)

    def recently_unreachable(self, peer: ID) -> bool:
        return self.choice.recently_unreachable(peer, trio.current_time())

    def forget(self, resource_id: bytes) -> None:
        self.choice.forget(resource_id)

    def cached(self, resource_id: bytes) -> list[ID] | None:
        return self.choice.cached(resource_id, trio.current_time())

    async def replica_set(self, resource_id: bytes, refresh: bool = False) -> list[ID]:
        if not refresh:
            hit = self.cached(resource_id)
            if hit is not None:
                return hit
        candidates: list[ID] = []
        complete = False
        me = self.host.get_id()
        with trio.move_on_after(LOOKUP_TIMEOUT_S):
            try:
                state = await lookup(
                    self.host,
                    self.lookup_seeds(resource_id),
                    resource_id,
                    self.k * 2,
                    skip=lambda p: self.choice.excluded(p, self._advertised(p), trio.current_time()),
                    on_failed=self._lookup_failed,
                )
                # A connected peer whose query failed or came late is not gone (a stalled node
                # times out its FIND_NODEs all at once): it stays a candidate, and identify below
                # says whether it serves. Without it, a tombstone written on such a lookup skipped
                # a live replica, which kept serving the record.
                connected = set(self.host.get_connected_peers())
                candidates = [*state.result(), *(p for p in state.unanswered() if p in connected)]
                complete = True
            except Exception as exc:
                log.debug("closest-peers lookup failed: %s", exc)
        if not complete:
            # A failed lookup must not yield an arbitrary set: fall back to our own routing table.
            candidates = [*self.dht.routing_table.find_local_closest_peers(resource_id, self.k * 2)]
        identified = self.choice.to_identify(resource_id, candidates, me, self._advertised, trio.current_time())
        await self._learn_protocols(identified)
        return self.choice.choose(
            resource_id,
            candidates,
            identified,
            me=me,
            serves=self.serves,
            advertised=self._advertised,
            connected=self.host.get_connected_peers(),
            lookup_complete=complete,
            now=trio.current_time(),
        )

    def lookup_seeds(self, resource_id: bytes) -> list[ID]:
        """Where a replica-set lookup starts: our routing table's 2K closest, and every connection."""
        return [
            *self.dht.routing_table.find_local_closest_peers(resource_id, self.k * 2),
            *self.host.get_connected_peers(),
        ]

    def local_closest(self, resource_id: bytes) -> list[ID]:
        """The K peers of our routing table closest to `resource_id` (no lookup): where its
        replicas are, as far as this node knows without asking."""
        return list(self.dht.routing_table.find_local_closest_peers(resource_id, self.k))

    def cached_sizes(self) -> list[int]:
        """Sizes of the replica sets currently cached (for metrics)."""
        return self.choice.cached_sizes()

    async def _learn_protocols(self, peers: list[ID]) -> None:
        """Make sure identify has told us what each candidate speaks: a lookup also returns light
        clients and peers we never talked to, and only registry peers may be replicas."""
        connected = set(self.host.get_connected_peers())
        # Unknown protocols, or not connected (perhaps gone): both are settled by connecting.
        unknown = [p for p in peers if self.speaks_registry(p) is None or p not in connected]
        if not unknown:
            return

        async def learn(peer: ID) -> None:
            try:
                if peer not in self.host.get_connected_peers():
                    await self.host.connect(PeerInfo(peer, self.host.get_peerstore().addrs(peer)))
                else:
                    request_identify(self.host, peer)
            except Exception as exc:
                log.debug("cannot reach candidate %s: %s", peer, exc)
                self.mark_unreachable(peer)
                return
            # Identify runs on its own after a connection; py-libp2p offers no event for it.
            while self.speaks_registry(peer) is None:
                await trio.sleep(0.02)

        with trio.move_on_after(IDENTIFY_TIMEOUT_S):
            async with trio.open_nursery() as nursery:
                for peer in unknown:
                    nursery.start_soon(learn, peer)

    def is_replica(self, resource_id: bytes) -> bool | None:
        return self.choice.is_replica(resource_id, self.host.get_id(), trio.current_time())
