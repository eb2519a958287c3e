"""py-libp2p keeps each inbound connection's slot until the swarm stops, not until the connection closes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio
from libp2p.rcmgr import Direction


class OpenInboundConnections:
    """Stands in for the swarm's inbound limiter: admits a connection while fewer than `limit`
    inbound connections are open.

    The swarm takes a slot of a trio.CapacityLimiter for each accepted connection and gives it
    back when the connection's handler returns, but the handler of a connection that was set up
    waits for the whole swarm to stop. So every inbound connection ever accepted kept its slot:
    after max_connections - min_connections of them (300 by default), however short-lived, the
    node refused every inbound connection for good, and pruning idle ones freed nothing. This
    counts the connections that are open instead; the swarm's own calls are kept as they are.
    """

    def __init__(self, swarm: Any, limit: int) -> None:
        self.swarm = swarm
        self.total_tokens = limit

    @property
    def borrowed_tokens(self) -> int:
        return sum(1 for conn in self.swarm.get_connections() if getattr(conn, "direction", None) == Direction.INBOUND)

    def acquire_nowait(self) -> None:
        if self.borrowed_tokens >= self.total_tokens:
            raise trio.WouldBlock

    def release(self) -> None:
        """The connection's own close gives the slot back."""


def count_open_inbound_connections(host: Any) -> Callable[[], None]:
    """Bound inbound connections by how many are open, at the swarm's own limit. Returns the undo."""
    swarm = host.get_network()
    old = swarm._inbound_limiter
    swarm._inbound_limiter = OpenInboundConnections(swarm, int(old.total_tokens))

    def undo() -> None:
        swarm._inbound_limiter = old

    return undo
