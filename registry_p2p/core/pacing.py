"""Pacing announcements under a gossipsub's per-topic rate limit, sans-IO.

An application's gossipsub may drop, without a word, every message of a topic beyond N per
second from one peer (py-libp2p's spam protection: N=10 by default, applied to our own publishes
too). The registry must not change that setting for the application's other topics, so it stays
under the limit instead: the first changes of a topic go out at once, and what arrives while the
topic's budget for the last second is spent waits and leaves as one batch when a slot frees.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

WINDOW_S = 1.0

K = TypeVar("K", bound=Hashable)


class PublishPacer(Generic[K]):
    """Per key (a topic), at most `per_window` messages in any `WINDOW_S` seconds; the rest of
    the entries offered are held and coalesced. `per_window=None` means no limit."""

    def __init__(self, per_window: int | None) -> None:
        if per_window is not None and per_window < 1:
            raise ValueError("per_window must be at least 1")
        self.per_window = per_window
        self._sent: dict[K, deque[float]] = {}
        self._held: dict[K, list[bytes]] = {}

    def offer(self, key: K, raws: list[bytes]) -> None:
        self._held.setdefault(key, []).extend(raws)

    def _forget_before(self, key: K, now: float) -> deque[float]:
        sent = self._sent.setdefault(key, deque())
        while sent and sent[0] <= now - WINDOW_S:
            sent.popleft()
        return sent

    def ready(self, now: float) -> list[K]:
        """Keys holding entries that may be published now."""
        if self.per_window is None:
            return list(self._held)
        return [key for key in self._held if len(self._forget_before(key, now)) < self.per_window]

    def take(self, key: K) -> list[bytes]:
        """The entries held for `key`, to be published together now."""
        return self._held.pop(key, [])

    def sent(self, key: K, now: float) -> None:
        """One message of `key` left at `now` (a batch may need several messages: count each)."""
        if self.per_window is not None:
            self._sent.setdefault(key, deque()).append(now)

    def next_ready_at(self, now: float) -> float | None:
        """When the next held key may be published: `now` if one may already; None if none is held."""
        if not self._held:
            return None
        if self.per_window is None:
            return now
        earliest: float | None = None
        for key in self._held:
            sent = self._forget_before(key, now)
            at = now if len(sent) < self.per_window else sent[len(sent) - self.per_window] + WINDOW_S
            earliest = at if earliest is None else min(earliest, at)
        return earliest

    def forget_idle(self, now: float) -> None:
        """Drop the history of keys with nothing held and nothing sent within the window."""
        for key in [k for k in self._sent if k not in self._held]:
            if not self._forget_before(key, now):
                del self._sent[key]


def budget_under(limit_per_second: float | None) -> int | None:
    """Messages per window we allow ourselves under a peer's limit: half of it, so that the
    jitter between our send times and a receiver's clock never puts N+1 in one of its windows,
    and a forwarder relaying another replica's copies still has room."""
    if limit_per_second is None:
        return None
    return max(1, int(limit_per_second) // 2)
