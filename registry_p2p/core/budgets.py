"""Per-peer and node-wide budgets for what inbound registry streams may hold, sans-IO.

A valid identity is free, so every budget has a per-peer bound and a total one: one peer cannot
take a node's streams or memory (attacks.md §4: 9,998 streams from one peer exhausted py-libp2p's
shared stream semaphore; 1,000 streams each holding 1 MiB - 1 B of a frame took 1.15 GB), and
many peers together cannot either.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

from registry_p2p.core.limits import Limits

K = TypeVar("K", bound=Hashable)


class TokenBuckets(Generic[K]):
    """One token bucket per key (a peer, a resource), in a bounded LRU so that many keys cannot
    grow it without limit; a key forgotten that way comes back with a full bucket. `now` is in
    seconds on any monotonic clock the caller keeps to."""

    def __init__(self, rate: float, burst: float, max_keys: int = 8192) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._max_keys = max_keys
        self._buckets: OrderedDict[K, tuple[float, float]] = OrderedDict()

    def _level(self, key: K, now: float) -> float:
        tokens, last = self._buckets.get(key, (self._burst, now))
        # A clock that steps back (the store's is wall time) neither adds nor removes tokens.
        return min(self._burst, tokens + max(0.0, now - last) * self._rate)

    def take(self, key: K, now: float, cost: float = 1.0) -> bool:
        tokens = self._level(key, now)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return allowed


class StreamCounts:
    """Counts open streams per peer and in total, and refuses one beyond either bound."""

    def __init__(self, per_peer: int, total: int, what: str) -> None:
        self.per_peer = per_peer
        self.total = total
        self.what = what
        self._streams: dict[bytes, int] = {}
        self.streams_total = 0

    def open_stream(self, peer: bytes) -> str | None:
        """Admit a new stream of `peer`; the reason when it must be refused."""
        held = self._streams.get(peer, 0)
        if held >= self.per_peer:
            return f"peer holds {held} {self.what} (limit {self.per_peer})"
        if self.streams_total >= self.total:
            return f"node holds {self.streams_total} {self.what} (limit {self.total})"
        self._streams[peer] = held + 1
        self.streams_total += 1
        return None

    def close_stream(self, peer: bytes) -> None:
        held = self._streams.get(peer, 0)
        if held <= 0:
            return
        self.streams_total -= 1
        if held == 1:
            del self._streams[peer]
        else:
            self._streams[peer] = held - 1

    def streams_of(self, peer: bytes) -> int:
        return self._streams.get(peer, 0)


class StreamBudgets:
    """Counts open registry streams and bytes reserved for frames being received, per peer and in total."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._streams = StreamCounts(limits.max_streams_per_peer, limits.max_streams_total, "registry streams")
        self._bytes: dict[bytes, int] = {}
        self.bytes_total = 0

    @property
    def streams_total(self) -> int:
        return self._streams.streams_total

    def open_stream(self, peer: bytes) -> str | None:
        """Admit a new stream of `peer`; the reason when it must be refused."""
        return self._streams.open_stream(peer)

    def close_stream(self, peer: bytes) -> None:
        self._streams.close_stream(peer)

    def reserve(self, peer: bytes, size: int) -> bool:
        """Reserve room for a frame of `size` bytes being received; False when over budget."""
        held = self._bytes.get(peer, 0)
        if held + size > self._limits.max_partial_bytes_per_peer:
            return False
        if self.bytes_total + size > self._limits.max_partial_bytes_total:
            return False
        self._bytes[peer] = held + size
        self.bytes_total += size
        return True

    def release(self, peer: bytes, size: int) -> None:
        held = self._bytes.get(peer, 0)
        size = min(size, held)
        if size <= 0:
            return
        self.bytes_total -= size
        if held == size:
            del self._bytes[peer]
        else:
            self._bytes[peer] = held - size

    def streams_of(self, peer: bytes) -> int:
        return self._streams.streams_of(peer)

    def bytes_of(self, peer: bytes) -> int:
        return self._bytes.get(peer, 0)
