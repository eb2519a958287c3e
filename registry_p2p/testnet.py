"""A local testnet: N registry nodes on loopback in one process (`registry-p2p testnet`), and
the demo that `make demo` runs (`registry-p2p testnet --demo`)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import trio
from libp2p.peer.id import ID
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from registry_p2p.core.config import RegistryConfig
from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.core.views import Record
from registry_p2p.net.routing import distance
from registry_p2p.node import Node, load_or_create_identity, open_node

LOOPBACK = "127.0.0.1"


@dataclass
class _Slot:
    index: int
    listen: str
    data_dir: Path | None
    key_pair: Any = None
    node: Node | None = None
    scope: trio.CancelScope | None = None
    stopped: trio.Event = field(default_factory=trio.Event)


class Testnet:
    """Nodes started in a nursery; node 0 is everyone's bootstrap peer."""

    def __init__(
        self, nursery: trio.Nursery, config: RegistryConfig, base_port: int = 0, data_dir: Path | None = None
    ) -> None:
        self.nursery = nursery
        self.config = config
        self.base_port = base_port
        self.data_dir = data_dir
        self.slots: list[_Slot] = []

    @property
    def nodes(self) -> list[Node]:
        return [s.node for s in self.slots if s.node is not None]

    @property
    def bootstrap(self) -> str:
        first = self.slots[0].node if self.slots else None
        if first is None:
            raise RuntimeError("the bootstrap node is not running")
        return first.addrs[0]

    async def start(self, n: int, on_started: Callable[[Node], None] | None = None) -> None:
        """Start node 0, then the others concurrently, each bootstrapping from node 0."""

        async def one(index: int) -> None:
            port = self.base_port + index if self.base_port else 0
            data_dir = self.data_dir / f"node{index}" if self.data_dir is not None else None
            slot = _Slot(index, f"/ip4/{LOOPBACK}/tcp/{port}", data_dir)
            if data_dir is not None:
                slot.key_pair = load_or_create_identity(data_dir)
            self.slots.append(slot)
            await self._run(slot)
            if on_started is not None and slot.node is not None:
                on_started(slot.node)

        await one(0)
        async with trio.open_nursery() as nursery:
            for index in range(1, n):
                nursery.start_soon(one, index)
        self.slots.sort(key=lambda s: s.index)

    async def light(self, listen: list[str]) -> Node:
        """A light node (stores nothing) joined through node 0; stopped with the testnet."""
        slot = _Slot(-1, "", None)
        await self._run(slot, listen=listen, serve=False)
        assert slot.node is not None
        return slot.node

    async def _run(self, slot: _Slot, listen: list[str] | None = None, serve: bool = True) -> None:
        boot = [] if slot.index == 0 else [self.bootstrap]

        async def run(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            slot.stopped = trio.Event()
            try:
                with trio.CancelScope() as scope:
                    slot.scope = scope
                    async with open_node(
                        [slot.listen] if listen is None else listen,
                        boot,
                        slot.data_dir,
                        slot.key_pair,
                        self.config,
                        serve=serve,
                        require_bootstrap=bool(boot),
                    ) as node:
                        slot.node = node
                        task_status.started()
                        await trio.sleep_forever()
            finally:
                slot.node = None
                slot.stopped.set()

        await self.nursery.start(run)

    async def stop(self, node: Node) -> None:
        slot = next(s for s in self.slots if s.node is node)
        assert slot.scope is not None
        slot.scope.cancel()
        await slot.stopped.wait()

    def name(self, peer_id: str) -> str:
        for slot in self.slots:
            if slot.node is not None and slot.node.peer_id == peer_id:
                return f"node{slot.index}"
        return peer_id[:12] + "…"


@asynccontextmanager
async def testnet(
    n: int, config: RegistryConfig, base_port: int = 0, data_dir: Path | None = None, console: Console | None = None
) -> AsyncIterator[Testnet]:
    """Start a testnet (with a progress bar on `console` when it is a terminal); stop it on exit."""
    async with trio.open_nursery() as nursery:
        net = Testnet(nursery, config, base_port, data_dir)
        with _progress(console, f"starting {n} nodes", n) as advance:
            await net.start(n, lambda _node: advance())
        try:
            yield net
        finally:
            nursery.cancel_scope.cancel()


class _progress:
    """A rich progress bar on a terminal; silent otherwise (logs and pipes stay clean)."""

    def __init__(self, console: Console | None, description: str, total: int) -> None:
        self.enabled = console is not None and console.is_terminal
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        )
        self.description = description
        self.total = total

    def __enter__(self) -> Callable[[], None]:
        if not self.enabled:
            return lambda: None
        self.progress.start()
        task = self.progress.add_task(self.description, total=self.total)
        return lambda: self.progress.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.progress.stop()


# ==================================================================================== demo

DEMO_K = 5
DEMO_WORKERS = 3


def demo_config() -> RegistryConfig:
    """Replica sets of 5 so that stopping a third of 9 nodes takes out most of one."""
    base = RegistryConfig()
    return replace(base, limits=replace(base.limits, replica_set_size=DEMO_K), gossip_heartbeat_s=0.5)


async def run_demo(console: Console, n: int = 9, base_port: int = 0) -> bool:
    """Register services, resolve, stop a third of the nodes (the closest replicas first), resolve
    again. True when the same records came back."""
    config = demo_config()
    started = time.monotonic()
    say = console.print
    async with testnet(n, config, base_port, console=console) as net:
        say(f"[bold]1.[/] {n} nodes on {LOOPBACK} up in {time.monotonic() - started:.1f} s (replica sets: K={DEMO_K})")
        say(f"   bootstrap: {net.bootstrap}")

        client = await net.light([])
        rid = await client.registry.create_resource("echo")
        rid_bytes = resource_id_from_text(rid)
        holders = _holders(net, rid_bytes)
        say(f"[bold]2.[/] a light client (stores nothing) creates resource [cyan]echo[/] → {rid}")
        say(f"   stored by its replica set, the {len(holders)} nodes closest to it: {_names(net, holders)}")

        # Workers are services on light nodes: they advertise, they do not store registry data.
        workers = [await net.light([f"/ip4/{LOOPBACK}/tcp/0"]) for _ in range(DEMO_WORKERS)]
        say(f"[bold]3.[/] {DEMO_WORKERS} workers register the service [cyan]echo[/] with their addresses:")
        for i, worker in enumerate(workers, 1):
            out = await worker.registry.register_service(rid, f"echo worker {i}".encode(), service_id="echo", ack=2)
            await worker.registry.settle()
            say(f"   worker{i} {worker.peer_id[:16]}… ok={out.ok} acks={out.acks}")
        names = {w.peer_id: f"worker{i}" for i, w in enumerate(workers, 1)}

        before = await client.registry.resolve(rid, ack=2)
        say(f"[bold]4.[/] resolve (ack=2): {len(before)} records")
        say(_table(before, names))

        victims = [node for node in _closest(net, rid_bytes) if node is not net.nodes[0]][: n // 3]
        say(f"[bold]5.[/] stopping {len(victims)} of {n} nodes, the closest replicas: {_names(net, victims)}")
        async with trio.open_nursery() as nursery:
            for node in victims:
                nursery.start_soon(net.stop, node)
        closest = _closest(net, rid_bytes)[:DEMO_K]
        holding = [node for node in closest if node in _holders(net, rid_bytes)]
        say(f"   of the {DEMO_K} closest nodes still running, {len(holding)} hold the records: {_names(net, holding)}")

        after = await client.registry.resolve(rid, ack=1)
        say(f"[bold]6.[/] resolve again (ack=1): {len(after)} records")
        say(_table(after, names))

        same = _keys(before) == _keys(after) and len(before) == DEMO_WORKERS
        verdict = "[green]nothing lost[/]" if same else "[red]records differ[/]"
        say(
            f"\nbefore the stop: {len(before)} records; after stopping {len(victims)} of {n} nodes: {len(after)} "
            f"— {verdict} ({time.monotonic() - started:.1f} s)"
        )
        return same


def _holders(net: Testnet, rid: bytes) -> list[Node]:
    return [node for node in net.nodes if node.store is not None and node.store.get_resource(rid) is not None]


def _closest(net: Testnet, rid: bytes) -> list[Node]:
    return sorted(net.nodes, key=lambda node: distance(rid, ID.from_base58(node.peer_id)))


def _names(net: Testnet, nodes: list[Node]) -> str:
    return ", ".join(net.name(node.peer_id) for node in nodes)


def _keys(records: list[Record]) -> set[tuple[str, str, bytes]]:
    return {(r.issuer, r.service_id, r.value) for r in records}


def _table(records: list[Record], names: dict[str, str]) -> Table:
    table = Table(box=None, padding=(0, 2), show_edge=False)
    for column in ("service", "host", "value", "addrs"):
        table.add_column(column)
    for r in records:
        table.add_row(
            r.service_id, names.get(r.host, r.host[:16]), r.value.decode("utf-8", "replace"), " ".join(r.addrs)
        )
    return table
