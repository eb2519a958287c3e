"""The multi-node tests' network (registry_p2p.testnet's, with short timeouts) and their helpers."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair

from registry_p2p.adapter.streams import only_closed_connections
from registry_p2p.core.config import RegistryConfig
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.node import Node
from registry_p2p.testnet import ANY_PORT, Network
from registry_p2p.testnet import Slot as Slot  # re-exported: the fault tests restart slots
from registry_p2p.testnet import network as loopback_network

LOOPBACK = ANY_PORT


def cfg(k: int = 5, **overrides: Any) -> RegistryConfig:
    """Maintenance loops effectively off (tests run rounds explicitly), short timeouts."""
    base = RegistryConfig()
    defaults: dict[str, Any] = {
        "limits": replace(base.limits, replica_set_size=k),
        "replicate_interval_s": 3600.0,
        "renew_interval_s": 3600.0,
        "gc_interval_s": 3600.0,
        "request_timeout_s": 6.0,
        "replica_cache_ttl_s": 30.0,
        "gossip_heartbeat_s": 0.5,
        "startup_replicate_delay_s": None,
    }
    defaults.update(overrides)
    return replace(base, **defaults)


@asynccontextmanager
async def network(
    n: int, config: RegistryConfig | None = None, tmp: Path | None = None, persistent: bool = False
) -> AsyncIterator[Network]:
    """The project's loopback network (registry_p2p.testnet), with the tests' configuration."""
    async with loopback_network(n, config or cfg(), tmp, persistent=persistent) as net:
        yield net


def distance(resource_id: bytes, peer: bytes) -> int:
    a = hashlib.sha256(resource_id).digest()
    b = hashlib.sha256(peer).digest()
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")


def key_closer_than(resource_id: bytes, bound: int, tries: int = 100_000) -> KeyPair:
    for _ in range(tries):
        kp = create_new_key_pair()
        if distance(resource_id, peer_id_bytes_of(kp.private_key)) < bound:
            return kp
    raise RuntimeError("no key found")


def identified(node: Node) -> bool:
    """Identify has told `node` what each of its connected peers speaks.

    A peer whose listed connections are all closed is not connected: py-libp2p can leave a
    closed one in its table for a while, and identify cannot run on it."""
    store = node.host.get_peerstore()
    for peer in node.host.get_connected_peers():
        if only_closed_connections(node.host, peer):
            continue
        try:
            if not store.get_protocols(peer):
                return False
        except Exception:
            return False
    return True


async def settle(nodes: list[Node], timeout: float = 30.0) -> None:
    """Wait until identify has run on every connection: many nodes joining at once in one
    process take seconds of CPU for it, and replica sets are chosen by what identify reports."""
    for node in nodes:
        await wait_for(lambda node=node: identified(node), timeout=timeout, poll=0.1)


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, poll: float = 0.05) -> None:
    """Wait for a condition that has no event to wait on (state in another node)."""
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(poll)
