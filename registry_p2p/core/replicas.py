"""Replica-set choice: which peers hold a resource, and what we remember about peers meanwhile.

Sans-IO, time is a parameter (seconds on any monotonic clock). The I/O shell (`net/routing.py`)
runs the lookup and asks identify what peers speak; this object holds the marks (unreachable,
unsupported) with their expiry, the cached sets with their TTL, and picks the K closest eligible
peers. Peers are opaque hashable values; `key_of` gives the bytes their Kademlia position is
hashed from (see `core.lookup.closest`).

A choice goes in two steps around the shell's identify requests:
1. `to_identify(target, candidates, me, advertised, now)`: the 2K closest candidates that may be
   replicas; the shell makes sure identify has told it what each of them speaks;
2. `choose(target, candidates, identified, ...)`: the K closest that speak the registry, remembered
   when the lookup was complete and every identified candidate told us what it speaks.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

from registry_p2p.core.lookup import closest

P = TypeVar("P", bound=Hashable)

# Long enough to keep a departed peer out of the replica sets computed meanwhile, short enough
# that a node restarting is tried again soon (a failed dial costs milliseconds).
UNREACHABLE_TTL_S = 10.0
# A peer that refused the protocol may mount the registry later (an application's host).
UNSUPPORTED_TTL_S = 60.0


class ReplicaChoice(Generic[P]):
    """The replica sets of resources: the K closest registry peers, cached for `cache_ttl_s`."""

    def __init__(
        self,
        k: int,
        cache_ttl_s: float,
        *,
        key_of: Callable[[P], bytes],
        unreachable_ttl_s: float = UNREACHABLE_TTL_S,
        unsupported_ttl_s: float = UNSUPPORTED_TTL_S,
    ) -> None:
        self.k = k
        self.cache_ttl_s = cache_ttl_s
        self.unreachable_ttl_s = unreachable_ttl_s
        self.unsupported_ttl_s = unsupported_ttl_s
        self._key_of = key_of
        self._cache: dict[bytes, tuple[float, list[P]]] = {}  # resource id -> (expires at, peers)
        self._unsupported: dict[P, float] = {}
        self._unreachable: dict[P, float] = {}

    # ------------------------------------------------------------------ marks

    def speaks_registry(self, peer: P, advertised: bool | None, now: float) -> bool | None:
        """What `peer` speaks: False while it recently refused the protocol, else what identify
        `advertised` (True, False, or None while unknown)."""
        refused = self._unsupported.get(peer)
        if refused is not None:
            if now - refused <= self.unsupported_ttl_s:
                return False
            del self._unsupported[peer]  # it may have mounted the registry since
        return advertised

    def mark_unsupported(self, peer: P, now: float) -> None:
        self._unsupported[peer] = now
        self._drop_sets_with(peer)

    def mark_unreachable(self, peer: P, now: float) -> None:
        """A request to `peer` failed: leave it out of replica sets for a while.

        Kademlia routing tables keep departed peers long after they left, so lookups keep
        returning them; without this a stopped replica would hold its place (and the data meant
        for the next closest peer would never move there).
        """
        self._unreachable[peer] = now
        self._drop_sets_with(peer)

    def reachable_again(self, peer: P) -> None:
        """A new connection to `peer` was made (a restart, a healed partition): forget its failure."""
        self._unreachable.pop(peer, None)

    def recently_unreachable(self, peer: P, now: float) -> bool:
        failed = self._unreachable.get(peer)
        if failed is None:
            return False
        if now - failed > self.unreachable_ttl_s:
            del self._unreachable[peer]
            return False
        return True

    # ------------------------------------------------------------------ cache

    def cached(self, resource_id: bytes, now: float) -> list[P] | None:
        hit = self._cache.get(resource_id)
        if hit is None or now > hit[0]:
            return None
        return hit[1]

    def forget(self, resource_id: bytes) -> None:
        self._cache.pop(resource_id, None)

    def is_replica(self, resource_id: bytes, me: P, now: float) -> bool | None:
        """Whether `me` is in the cached set; None when no set is cached."""
        hit = self.cached(resource_id, now)
        if hit is None:
            return None
        return me in hit

    def cached_sizes(self) -> list[int]:
        """Sizes of the replica sets currently cached (for metrics)."""
        return [len(peers) for _, peers in list(self._cache.values())]

    def _drop_sets_with(self, peer: P) -> None:
        for rid, (_, peers) in list(self._cache.items()):
            if peer in peers:
                del self._cache[rid]

    # ------------------------------------------------------------------ choice

    def excluded(self, peer: P, advertised: bool | None, now: float) -> bool:
        """Kept out of lookups and sets: recently unreachable, or known not to speak the registry."""
        return self.recently_unreachable(peer, now) or self.speaks_registry(peer, advertised, now) is False

    def to_identify(
        self, target: bytes, candidates: Iterable[P], me: P, advertised: Callable[[P], bool | None], now: float
    ) -> list[P]:
        """The 2K closest candidates that may be replicas: each must be identified before `choose`."""
        eligible = self._eligible(candidates, me, advertised, now)
        return closest(target, eligible, self._key_of)[: self.k * 2]

    def choose(
        self,
        resource_id: bytes,
        candidates: Iterable[P],
        identified: Iterable[P],
        *,
        me: P,
        serves: bool,
        advertised: Callable[[P], bool | None],
        connected: Iterable[P],
        lookup_complete: bool,
        now: float,
    ) -> list[P]:
        """The replica set of `resource_id`: the K closest candidates that speak the registry, and
        `me` among them when we serve. `identified` is what `to_identify` returned (the shell has
        asked identify since). With no registry peer among the candidates, the `connected` ones
        that may speak it are all there is (a tiny or young network)."""
        complete = lookup_complete
        eligible = self._eligible(candidates, me, advertised, now)
        if any(self.speaks_registry(p, advertised(p), now) is None for p in identified):
            complete = False  # some candidates never told us what they speak: do not remember this set
        chosen = [p for p in eligible if self.speaks_registry(p, advertised(p), now)]
        if not chosen:
            chosen = [p for p in connected if self.speaks_registry(p, advertised(p), now) is not False]
            complete = False
        if serves:
            chosen.append(me)
        peers = closest(resource_id, list(dict.fromkeys(chosen)), self._key_of)[: self.k]
        # A set smaller than K is not remembered: on a young network (peers still joining, routing
        # tables still filling) a lookup finds only part of it, and a cached partial set sent
        # every write of the next minute to the wrong peers (a light client that created a
        # resource while its bootstrap peer knew nobody yet wrote it to that peer alone, and the
        # true replica set answered UNKNOWN_RESOURCE). Looking up a small network again is cheap.
        if complete and len(peers) >= self.k:
            self._cache[resource_id] = (self._expiry(resource_id, peers, now), peers)
        return peers

    def _expiry(self, resource_id: bytes, peers: list[P], now: float) -> float:
        """Until when a set may be reused: the cache TTL, or less when a peer closer than its
        farthest member is out of it only because it is marked unreachable. That mark lasts
        `unreachable_ttl_s` (one failed stream open: perhaps the losing side of a connection race
        on a live peer); the set must not keep the peer out for the whole cache TTL."""
        expires = now + self.cache_ttl_s
        until_of = {
            peer: failed_at + self.unreachable_ttl_s
            for peer, failed_at in self._unreachable.items()
            if now <= failed_at + self.unreachable_ttl_s < expires and peer not in peers
        }
        if not until_of:
            return expires
        farthest = peers[-1]
        # One sort (one hash of the target) puts the marked peers closer than the set's farthest
        # member before it.
        for peer in closest(resource_id, [*until_of, farthest], self._key_of):
            if peer == farthest:
                break
            expires = min(expires, until_of[peer])
        return expires

    def _eligible(self, candidates: Iterable[P], me: P, advertised: Callable[[P], bool | None], now: float) -> list[P]:
        return [p for p in dict.fromkeys(candidates) if p != me and not self.excluded(p, advertised(p), now)]
