"""py-libp2p's dial behaviour: connections per peer, retries and the negative dial cache."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from libp2p.network.config import ConnectionConfig, RetryConfig


def fast_dial_config() -> ConnectionConfig:
    """With the default 3 connections per peer every dial waits a fixed 250 ms; with 1, ~10 ms.

    The auto-connector is also turned off (its default dials every known peer, up to 50
    connections, every 30 s): lookups, replica sets and watchers make the connections that matter.
    """
    return ConnectionConfig(max_connections_per_peer=1, min_connections=0, low_watermark=0)


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
