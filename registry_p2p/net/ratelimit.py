"""Per-peer token buckets (DESIGN §7: 100 requests/s, burst 200)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable


class TokenBuckets:
    """One bucket per key, in a bounded LRU so that many peers cannot grow it without limit."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float], max_keys: int = 8192) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def take(self, key: bytes, cost: float = 1.0) -> bool:
        now = self._clock()
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return allowed
