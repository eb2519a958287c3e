"""Loopback networks of registry nodes in one process, for the multi-node tests."""

from __future__ import annotations

import hashlib
import random
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair

from registry_p2p.core.config import RegistryConfig
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.node import Node, open_node

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
# Restartable nodes keep their port, as deployed nodes do: below Linux's ephemeral range
# (32768-60999), so no outgoing connection of another node can be holding it meanwhile.
FIXED_PORTS = range(20_000, 32_000)


def free_fixed_port() -> int:
    """A port in FIXED_PORTS that nothing holds now, for a node that will restart on it."""
    for _ in range(200):
        port = random.choice(FIXED_PORTS)
        if port in _ports_given:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise RuntimeError("no free port")


_ports_given: set[int] = set()


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


@dataclass
class Slot:
    """A node that can be stopped and started again with the same identity and data dir."""

    key_pair: KeyPair
    data_dir: Path | None
    config: RegistryConfig
    port: int = 0
    node: Node | None = None
    cancel: trio.CancelScope | None = None
    stopped: trio.Event = field(default_factory=trio.Event)


class Network:
    def __init__(self, nursery: trio.Nursery, config: RegistryConfig, tmp: Path | None) -> None:
        self.nursery = nursery
        self.config = config
        self.tmp = tmp
        self.slots: list[Slot] = []

    @property
    def nodes(self) -> list[Node]:
        return [s.node for s in self.slots if s.node is not None]

    @property
    def bootstrap(self) -> list[str]:
        live = self.nodes
        return [live[0].addrs[0]] if live else []

    async def add(
        self,
        key_pair: KeyPair | None = None,
        *,
        serve: bool = True,
        config: RegistryConfig | None = None,
        persistent: bool = False,
    ) -> Slot:
        key_pair = key_pair or create_new_key_pair()
        data_dir = None
        if persistent and self.tmp is not None:
            data_dir = self.tmp / f"node{len(self.slots)}"
        # A node with a data dir restarts as itself: same identity, store and port.
        port = free_fixed_port() if data_dir is not None else 0
        slot = Slot(key_pair, data_dir, config or self.config, port)
        self.slots.append(slot)
        await self.start(slot, serve=serve)
        return slot

    async def add_many(self, n: int, **kwargs: Any) -> list[Slot]:
        """Start n nodes concurrently, all bootstrapping from the first node."""
        start = len(self.slots)
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(lambda: self.add(**kwargs))
        return self.slots[start:]

    async def start(self, slot: Slot, *, serve: bool = True, bootstrap: list[str] | None = None) -> None:
        boot = self.bootstrap if bootstrap is None else bootstrap
        slot.stopped = trio.Event()

        async def run(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            try:
                with trio.CancelScope() as scope:
                    slot.cancel = scope
                    listen = f"/ip4/127.0.0.1/tcp/{slot.port}"
                    async with open_node(
                        [listen], boot, slot.data_dir, slot.key_pair, slot.config, serve=serve
                    ) as node:
                        slot.node = node
                        task_status.started()
                        await trio.sleep_forever()
            finally:
                slot.node = None
                slot.stopped.set()

        await self.nursery.start(run)

    async def stop(self, slot: Slot) -> None:
        assert slot.cancel is not None
        slot.cancel.cancel()
        await slot.stopped.wait()


@asynccontextmanager
async def network(
    n: int, config: RegistryConfig | None = None, tmp: Path | None = None, persistent: bool = False
) -> AsyncIterator[Network]:
    config = config or cfg()
    async with trio.open_nursery() as nursery:
        net = Network(nursery, config, tmp)
        await net.add(persistent=persistent)
        await net.add_many(n - 1, persistent=persistent)
        try:
            yield net
        finally:
            nursery.cancel_scope.cancel()


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
    """Identify has told `node` what each of its connected peers speaks."""
    store = node.host.get_peerstore()
    for peer in node.host.get_connected_peers():
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
