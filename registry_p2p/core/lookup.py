"""The peer states of an iterative Kademlia lookup: sans-IO, time is a parameter.

A driver (the trio shell in `net/lookup.py`, or a simulator) asks `next_queries(now)` which peers
to query, sends them FIND_NODE however it likes, and reports each outcome with `on_reply` or
`on_failure`; the state decides what to ask next and when the lookup is over. Peers are opaque
hashable values; `key_of` gives the bytes their Kademlia position is hashed from.

The rules are those of `net/lookup.lookup` as it was measured on churning loopback networks:
- a sliding window of `alpha` queries in flight, refilled as each one ends (no lock-step rounds);
- only the `count` closest peers not known to have failed are ever asked;
- it ends when none is in flight and each of those `count` closest has answered (so nothing closer
  is left to ask); the result is those `count` closest answered peers, closest first;
- a failed or timed-out peer drops out of the answer and is never learnt again; a reply that comes
  after its query timed out is dropped, as the real shell's cancelled stream drops it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)

# The shell's defaults (net/lookup.py), here so a simulator drives the lookup with the same ones.
ALPHA = 3
QUERY_TIMEOUT_S = 3.0


def kad_distance(target: bytes, key: bytes) -> int:
    """XOR distance between sha256(target) and sha256(key), as py-libp2p's Kademlia orders peers."""
    return _distance_from_hash(hashlib.sha256(target).digest(), key)


def _distance_from_hash(target_hash: bytes, key: bytes) -> int:
    return int.from_bytes(target_hash, "big") ^ int.from_bytes(hashlib.sha256(key).digest(), "big")


def closest(target: bytes, peers: Iterable[P], key_of: Callable[[P], bytes]) -> list[P]:
    """`peers` sorted closest to `target` first (stable for equal keys, like py-libp2p's sort)."""
    target_hash = hashlib.sha256(target).digest()
    return sorted(peers, key=lambda peer: _distance_from_hash(target_hash, key_of(peer)))


class PeerState(Enum):
    CANDIDATE = "candidate"  # learnt, not asked yet
    IN_FLIGHT = "in flight"
    ANSWERED = "answered"
    FAILED = "failed"  # unreachable, a bad answer, or timed out


class Failure(Enum):
    UNREACHABLE = "unreachable"  # no stream could be opened: the peer is likely gone
    FAILED = "failed"  # it was reached but gave no usable answer
    TIMED_OUT = "timed out"


@dataclass(slots=True)
class _Peer:
    distance: int
    hops: int  # 0 for a seed, n + 1 for a peer learnt from one at n hops
    state: PeerState = PeerState.CANDIDATE
    asked_at: float | None = None
    failure: Failure | None = None


def _never(_: object) -> bool:
    return False


class LookupState(Generic[P]):
    """One lookup of the `count` peers closest to `target`, started from `seeds`.

    `skip(peer)` is asked once, when a peer is first learnt: True keeps it out (ourselves, or a
    peer known to be gone). `query_timeout` is for drivers without a per-query timer of their own:
    `expire(now)` fails the queries older than it (the trio shell's FIND_NODE carries the same
    timeout and reports it through `on_failure`).
    """

    def __init__(
        self,
        target: bytes,
        count: int,
        seeds: Iterable[P],
        *,
        key_of: Callable[[P], bytes],
        alpha: int = 3,
        query_timeout: float | None = None,
        skip: Callable[[P], bool] = _never,
    ) -> None:
        if count < 1 or alpha < 1:
            raise ValueError("count and alpha must be at least 1")
        self.target = target
        self.count = count
        self.alpha = alpha
        self.query_timeout = query_timeout
        self._target_hash = hashlib.sha256(target).digest()
        self._key_of = key_of
        self._skip = skip
        self._peers: dict[P, _Peer] = {}
        self._in_flight = 0
        self.queries_sent = 0
        self._learn(seeds, hops=0)

    # ------------------------------------------------------------------ driving

    def next_queries(self, now: float) -> list[P]:
        """Peers to query now; each is in flight until its reply or failure is reported."""
        start: list[P] = []
        room = self.alpha - self._in_flight
        if room <= 0:
            return start
        for peer in self._best():
            if len(start) == room:
                break
            info = self._peers[peer]
            if info.state is PeerState.CANDIDATE:
                info.state = PeerState.IN_FLIGHT
                info.asked_at = now
                start.append(peer)
        self._in_flight += len(start)
        self.queries_sent += len(start)
        return start

    def on_reply(self, peer: P, closer_peers: Iterable[P], now: float) -> None:
        """`peer` answered with `closer_peers`. A reply nobody is waiting for is ignored."""
        info = self._peers.get(peer)
        if info is None or info.state is not PeerState.IN_FLIGHT:
            return
        self._learn(closer_peers, hops=info.hops + 1)
        info.state = PeerState.ANSWERED
        self._in_flight -= 1

    def on_failure(self, peer: P, now: float, unreachable: bool = False, timed_out: bool = False) -> None:
        """The query to `peer` failed: it leaves the answer and the closest candidate takes its place."""
        info = self._peers.get(peer)
        if info is None or info.state is not PeerState.IN_FLIGHT:
            return
        info.state = PeerState.FAILED
        info.failure = Failure.TIMED_OUT if timed_out else Failure.UNREACHABLE if unreachable else Failure.FAILED
        self._in_flight -= 1

    def expire(self, now: float) -> list[P]:
        """Fail the queries in flight for longer than `query_timeout`; returns those peers."""
        if self.query_timeout is None:
            return []
        timeout = self.query_timeout
        overdue = [
            peer
            for peer, info in self._peers.items()
            if info.state is PeerState.IN_FLIGHT and info.asked_at is not None and now - info.asked_at >= timeout
        ]
        for peer in overdue:
            self.on_failure(peer, now, timed_out=True)
        return overdue

    def next_deadline(self) -> float | None:
        """When the oldest query in flight times out (None without a timeout or with none in flight)."""
        if self.query_timeout is None:
            return None
        sent = [i.asked_at for i in self._peers.values() if i.state is PeerState.IN_FLIGHT and i.asked_at is not None]
        return min(sent) + self.query_timeout if sent else None

    # ------------------------------------------------------------------ outcome

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def done(self) -> bool:
        """Nothing in flight and every one of the `count` closest live peers has answered."""
        return self._in_flight == 0 and all(self._peers[p].state is PeerState.ANSWERED for p in self._best())

    def result(self) -> list[P]:
        """The `count` closest peers that answered, closest first (partial while not done)."""
        return [p for p in self._best() if self._peers[p].state is PeerState.ANSWERED]

    def unanswered(self) -> list[P]:
        """The peers whose query failed although they were reached (a late or unusable answer, not
        a stream that could not be opened), closest first. They leave the answer like any failed
        peer, but unlike a departed one they may still be among the closest: a driver that knows
        they are still connected keeps them as candidates (`net/routing.py`), or a live replica
        whose FIND_NODE timed out on a stalled node would be left out of the replica set while its
        neighbours were in."""
        failed = [
            peer
            for peer, info in self._peers.items()
            if info.state is PeerState.FAILED and info.failure is not Failure.UNREACHABLE
        ]
        return sorted(failed, key=lambda peer: self._peers[peer].distance)

    def state_of(self, peer: P) -> PeerState | None:
        info = self._peers.get(peer)
        return None if info is None else info.state

    def failure_of(self, peer: P) -> Failure | None:
        info = self._peers.get(peer)
        return None if info is None else info.failure

    def hops_of(self, peer: P) -> int | None:
        """How many answers away from the seeds `peer` was learnt (0 for a seed)."""
        info = self._peers.get(peer)
        return None if info is None else info.hops

    def hops_to_closest(self) -> int:
        """The lookup's hop count: the FIND_NODE answers it took to reach the closest peer of the
        result, counting the one that peer gave (1 when a seed is the closest); 0 with no result."""
        result = self.result()
        return (self.hops_of(result[0]) or 0) + 1 if result else 0

    # ------------------------------------------------------------------ internals

    def _learn(self, peers: Iterable[P], hops: int) -> None:
        for peer in peers:
            if peer in self._peers or self._skip(peer):
                continue
            self._peers[peer] = _Peer(_distance_from_hash(self._target_hash, self._key_of(peer)), hops)

    def _best(self) -> list[P]:
        live = [p for p, info in self._peers.items() if info.state is not PeerState.FAILED]
        live.sort(key=lambda p: self._peers[p].distance)
        return live[: self.count]
