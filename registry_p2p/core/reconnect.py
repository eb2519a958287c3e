"""When a node dials its bootstrap peers again: a sans-IO schedule, time is a parameter.

A node whose bootstrap peers were all down when it started (a restart during an outage, a
network whose first node restarts at the same moment) would otherwise stay alone for good: nobody
else knows where it listens now, and it knows nobody. So while it has fewer connections than
`min_peers` and none to a bootstrap peer, it dials them again, backing off from `first_delay_s`
to `max_delay_s` while they stay unreachable, and promptly again once it was connected.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BootstrapSchedule:
    min_peers: int = 4
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    _delay_s: float = field(init=False)
    _next_at: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if not 0 < self.first_delay_s <= self.max_delay_s:
            raise ValueError("need 0 < first_delay_s <= max_delay_s")
        self._delay_s = self.first_delay_s

    def needs_peers(self, connected: int, bootstrap_connected: int) -> bool:
        """Too few connections and none to a bootstrap peer: the node may be cut off."""
        return connected < self.min_peers and bootstrap_connected == 0

    def due(self, now: float, connected: int, bootstrap_connected: int) -> bool:
        return self.needs_peers(connected, bootstrap_connected) and now >= self._next_at

    def attempted(self, now: float, reached: bool) -> None:
        """Record an attempt: back off while nobody answers, start over once somebody did."""
        self._delay_s = self.first_delay_s if reached else min(self._delay_s * 2, self.max_delay_s)
        self._next_at = now + self._delay_s

    def next_check_in(self, now: float) -> float:
        """How long the driver may sleep before asking `due` again."""
        return max(self.first_delay_s if self._next_at <= now else self._next_at - now, 0.0)
