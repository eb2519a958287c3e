"""Shared pieces of the fault suite: extra nodes with their own clock, partitions, counters."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import trio
from libp2p.network.exceptions import SwarmException
from libp2p.peer.id import ID

from registry_p2p.core.config import RegistryConfig
from registry_p2p.core.errors import RegistryError
from registry_p2p.core.validate import check_entry_bytes
from registry_p2p.node import Node
from registry_p2p.registry import wall_clock_ms
from tests.net.harness import LOOPBACK, Network


async def extra_node(
    net: Network,
    *,
    serve: bool = True,
    config: RegistryConfig | None = None,
    clock_ms: Callable[[], int] = wall_clock_ms,
) -> Node:
    """One more node in `net`'s nursery (stopped with the network, not one of `net.nodes`), with its own clock."""
    return await net.extra(serve=serve, config=config, clock_ms=clock_ms, listen=[LOOPBACK])


class Partition:
    """Split nodes into groups that cannot reach each other until `heal`.

    Connections across groups are closed and every dial across is refused (the swarm's
    dial_peer / dial_addr are shadowed on each node), so lookups, requests and gossip stay
    inside a group.
    """

    def __init__(self, groups: list[list[Node]]) -> None:
        self.groups = groups
        self.group_of: dict[ID, int] = {}
        for index, group in enumerate(groups):
            for node in group:
                self.group_of[node.host.get_id()] = index
        self.refused = 0

    def _guard(self, node: Node) -> None:
        swarm = node.host.get_network()
        mine = self.group_of[node.host.get_id()]
        real_dial_peer, real_dial_addr = swarm.dial_peer, swarm.dial_addr

        def other_side(peer: ID) -> bool:
            return self.group_of.get(peer, mine) != mine

        async def dial_peer(peer_id: ID) -> Any:
            if other_side(peer_id):
                self.refused += 1
                raise SwarmException(f"partitioned from {peer_id}")
            return await real_dial_peer(peer_id)

        async def dial_addr(addr: Any, peer_id: ID, *args: Any, **kwargs: Any) -> Any:
            if other_side(peer_id):
                self.refused += 1
                raise SwarmException(f"partitioned from {peer_id}")
            return await real_dial_addr(addr, peer_id, *args, **kwargs)

        swarm.dial_peer = dial_peer
        swarm.dial_addr = dial_addr

    async def split(self) -> None:
        for group in self.groups:
            for node in group:
                self._guard(node)

        async def close(node: Node, peer: ID) -> None:
            with trio.move_on_after(5):
                await node.host.get_network().close_peer(peer)

        async with trio.open_nursery() as nursery:
            for group in self.groups:
                for node in group:
                    mine = self.group_of[node.host.get_id()]
                    for peer in list(node.host.get_connected_peers()):
                        if self.group_of.get(peer, mine) != mine:
                            nursery.start_soon(close, node, peer)

    def crossing_connections(self) -> int:
        count = 0
        for group in self.groups:
            for node in group:
                mine = self.group_of[node.host.get_id()]
                count += sum(1 for p in node.host.get_connected_peers() if self.group_of.get(p, mine) != mine)
        return count

    async def heal(self) -> None:
        for group in self.groups:
            for node in group:
                swarm = node.host.get_network()
                for name in ("dial_peer", "dial_addr"):
                    vars(swarm).pop(name, None)  # the class's methods again


def all_stored_entries_valid(nodes: Iterable[Node], now_ms: int | None = None) -> tuple[int, int]:
    """(entries checked, invalid ones) over every store: each must validate under its node's rules."""
    checked = invalid = 0
    for node in nodes:
        store = node.store
        if store is None:
            continue
        now = node.registry.clock_ms() if now_ms is None else now_ms
        for rid in store.resource_ids():
            cursor = b""
            for _ in range(10_000):
                raws, cursor = store.get_entries(rid, now, limit=1024, cursor=cursor, include_tombstones=True)
                for raw in raws:
                    checked += 1
                    try:
                        check_entry_bytes(raw, now, node.registry.limits, node.registry.verifier, rid)
                    except RegistryError:
                        invalid += 1
                if not cursor:
                    break
    return checked, invalid


@dataclass
class Tally:
    """What a fault test tried, what was acknowledged, and what went missing."""

    name: str
    counts: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def __getitem__(self, key: str) -> int:
        return self.counts.get(key, 0)

    def report(self) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in self.counts.items())
        line = f"[{self.name}] {parts} ({time.perf_counter() - self.started:.1f} s)"
        print(line)
        REPORTED.append(line)
        return line


# Every tally of this session, printed in the run's summary (conftest.py): CI output then shows
# what each fault test tried and lost, not only pass or fail.
REPORTED: list[str] = []
