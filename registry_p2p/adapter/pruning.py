"""py-libp2p prunes connections only when one is added: a node full of idle ones never prunes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

log = logging.getLogger("registry_p2p.adapter.pruning")


async def trim_connections_periodically(host: Any, interval_s: float) -> None:
    """Run py-libp2p's own pruner every `interval_s` until cancelled (go-libp2p's connection
    manager trims on a timer too).

    The swarm starts a prune only after it registered a new connection above the high
    watermark, and the pruner spares connections younger than the grace period. A flood that
    fills every slot within the grace period is therefore never pruned: once the node is full
    it registers no new connection, so nothing starts the pruner again (attacks.md §4: 256 idle
    connections held for good). The pruner keeps its own rules: nothing below the high
    watermark, nothing in its grace period, with an open stream, tagged or protected.
    """
    pruner = host.get_network().connection_pruner
    while True:
        await trio.sleep(interval_s)
        # maybe_prune_connections logs and swallows its own errors; a connection closing while
        # it is pruned must not end the loop either.
        try:
            await pruner.maybe_prune_connections()
        except Exception as exc:
            log.debug("pruning failed: %r", exc)


@asynccontextmanager
async def trimming_idle_connections(host: Any, interval_s: float) -> AsyncIterator[None]:
    """`trim_connections_periodically` while the block runs; leaving it stops the loop."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trim_connections_periodically, host, interval_s)
        try:
            yield
        finally:
            nursery.cancel_scope.cancel()
