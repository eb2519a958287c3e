"""py-libp2p negotiates a protocol for every inbound stream before any handler can refuse it.

The swarm hands each new inbound stream to the host, which runs multistream-select on it and
only then calls the protocol's handler. A handler that refuses a stream over its budget (the
registry's per-peer stream bound) therefore refuses it after most of its cost has been paid:
with 40 peers each opening 48 registry streams, negotiation was ~30% of the node's CPU and the
stream machinery around it most of the rest, ~3.7 ms per stream, as much as the attacker spent
opening it (attacks.md §4, issue 11's (5a)).

So the swarm's stream handler is wrapped: a peer's inbound streams of every protocol are
counted from their arrival until the host's handler for them returns (negotiation and the
protocol handler together, so nothing depends on close notifications), and one beyond the
per-peer or the node-wide bound is reset before negotiation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import trio

from registry_p2p.core.budgets import StreamCounts


def gate_inbound_streams(
    host: Any, counts: StreamCounts, on_refused: Callable[[bytes, str], None]
) -> Callable[[], None]:
    """Reset, before protocol negotiation, each inbound stream of `host` that `counts` refuses;
    `on_refused(peer, reason)` is told of each. Returns the undo."""
    network = host.get_network()
    inner = network.common_stream_handler

    async def gated(stream: Any) -> None:
        try:
            peer = stream.muxed_conn.peer_id.to_bytes()
        except Exception:
            peer = b""
        refusal = counts.open_stream(peer)
        if refusal is not None:
            on_refused(peer, refusal)
            with trio.CancelScope(shield=True), trio.move_on_after(1), contextlib.suppress(Exception):
                await stream.reset()
            return
        try:
            await inner(stream)
        finally:
            counts.close_stream(peer)

    network.set_stream_handler(gated)

    def undo() -> None:
        if network.common_stream_handler is gated:
            network.set_stream_handler(inner)

    return undo
