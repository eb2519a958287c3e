"""py-libp2p's dial behaviour: connections per peer, retries and the negative dial cache."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from libp2p.network.config import ConnectionConfig, RetryConfig
from libp2p.rcmgr.connection_limits import new_connection_limits_with_defaults


def fast_dial_config(max_connections: int = 256, grace_period_s: float = 10.0) -> ConnectionConfig:
    """With the default 3 connections per peer every dial waits a fixed 250 ms; with 1, ~10 ms.

    Connections: at most `max_connections` open (py-libp2p: 300, and its resource manager
    refuses inbound ones beyond 256). Above three quarters of that (or of the resource manager's
    inbound cap, if lower) py-libp2p's pruner closes idle connections, inbound and oldest first,
    down to half, 20 at a time: it spares any with an open stream (a registry request, the
    gossipsub stream of a registry peer or client, a DHT query) and any younger than
    `grace_period_s` (py-libp2p: 20 s). With py-libp2p's high watermark of 300 the resource
    manager's 256 came first, so 256 idle connections were never pruned and shut every new
    peer out (attacks.md §4). Pruning also needs `trim_connections_periodically`
    (adapter/pruning.py) and `count_open_inbound_connections` (adapter/inbound_slots.py).

    min_connections 0: py-libp2p's auto-connector does not poll every 10 s to keep 50
    connections. It is not off, though: at start, every 30 s and when a peer leaves, it dials
    peers it knows while below the middle of the two watermarks (160 here; 150 before).
    """
    inbound_cap = new_connection_limits_with_defaults().max_established_inbound or max_connections
    prune_above = max(1, min(max_connections, inbound_cap) * 3 // 4)
    return ConnectionConfig(
        max_connections_per_peer=1,
        min_connections=0,
        max_connections=max_connections,
        high_watermark=prune_above,
        low_watermark=min(max_connections // 2, prune_above),
        grace_period=grace_period_s,
    )


NEGATIVE_DIAL_CACHE_S = 5.0


def quick_dial_retries(host: Any) -> Callable[[], None]:
    """py-libp2p retries a failed dial 3 times with backoff: a departed peer (connection refused
    at once) cost 2.9 s on loopback, and every lookup and replica-set request after churn paid it.
    One quick retry covers a transient failure; the callers (lookups, fan-outs) already move on to
    other peers. new_host() takes no retry configuration, so it is set on the swarm.

    The swarm also refuses to dial a peer for 60 s after all its addresses failed once: a node
    that restarts within seconds was shut out by every peer that had tried it meanwhile, and
    never received the writes replicated during that minute. A dial that fails now fails in
    milliseconds, so a short negative cache (5 s) protects as well without shutting anyone out.

    Returns the call that puts the swarm's own settings back.
    """
    swarm = host.get_network()
    old_retry = swarm.retry_config
    swarm.retry_config = RetryConfig(max_retries=1, initial_delay=0.05, max_delay=0.2)
    negative = getattr(swarm, "_negative_peer_cache", None)
    old_ttl = getattr(negative, "_ttl", None)
    if negative is not None and old_ttl is not None:
        negative._ttl = NEGATIVE_DIAL_CACHE_S

    def undo() -> None:
        swarm.retry_config = old_retry
        if negative is not None and old_ttl is not None:
            negative._ttl = old_ttl

    return undo


def one_connection_per_peer(host: Any) -> Callable[[], None]:
    """With py-libp2p's default of 3 connections per peer, every dial of a peer with one address
    waits a fixed 250 ms for a second address that never comes (its happy-eyeballs timer); with
    1 it returns as soon as the connection is up (~10 ms on loopback). Replica-set lookups dial
    several peers in turn, so this decides their speed. Returns the undo.
    """
    swarm = host.get_network()
    old = swarm.connection_config
    if isinstance(old, ConnectionConfig) and old.max_connections_per_peer != 1:
        swarm.connection_config = dataclasses.replace(old, max_connections_per_peer=1)

    def undo() -> None:
        swarm.connection_config = old

    return undo
