"""Loopback networks: N registry nodes on 127.0.0.1 in one process. The one way the project
builds such a network: `registry-p2p testnet`, the bench (`registry_p2p.tools.bench`) and the
multi-node tests (`tests/net/harness.py`) all use `Network`. Also the demo that `make demo` runs
(`registry-p2p testnet --demo`). Not imported by the registry itself."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from registry_p2p.core.config import RegistryConfig
from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.core.views import Record
from registry_p2p.net.routing import distance
from registry_p2p.node import Node, load_or_create_identity, open_node
from registry_p2p.registry import wall_clock_ms

LOOPBACK = "127.0.0.1"
ANY_PORT = f"/ip4/{LOOPBACK}/tcp/0"
# Restartable nodes keep their port, as deployed nodes do: below Linux's ephemeral range
# (32768-60999), so no outgoing connection of another node can be holding it meanwhile.
FIXED_PORTS = range(20_000, 32_000)
_ports_given: set[int] = set()


def free_fixed_port() -> int:
    """A port in FIXED_PORTS that nothing holds now, for a node that will restart on it."""
    for _ in range(200):
        port = random.choice(FIXED_PORTS)
        if port in _ports_given:
            continue
        with socket.socket() as probe:
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise RuntimeError("no free port")


@dataclass
class Slot:
    """A node that can be stopped and started again with the same identity, data dir and port."""

    key_pair: KeyPair
    data_dir: Path | None
    config: RegistryConfig
    port: int = 0
    index: int = -1  # its place in Network.slots; -1 for a node outside them (Network.extra)
    clock_ms: Callable[[], int] = wall_clock_ms
    listen: list[str] | None = None  # instead of 127.0.0.1:port
    node: Node | None = None
    cancel: trio.CancelScope | None = None
    stopped: trio.Event = field(default_factory=trio.Event)


class Network:
    """Registry nodes on 127.0.0.1 in one nursery, each joined through the first live one: the
    network of `registry-p2p testnet`, of the bench and of the multi-node tests."""

    def __init__(
        self,
        nursery: trio.Nursery,
        config: RegistryConfig,
        data_dir: Path | None = None,
        *,
        base_port: int = 0,
        fixed_ports: bool = True,
        require_bootstrap: bool = False,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.nursery = nursery
        self.clock_ms = clock_ms  # every node's clock (a bench moves them all forward at once)
        self.config = config
        self.data_dir = data_dir
        self.base_port = base_port  # node i listens on base_port + i
        self.fixed_ports = fixed_ports  # persistent nodes take a port of FIXED_PORTS (to restart on it)
        self.require_bootstrap = require_bootstrap
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
        port: int | None = None,
    ) -> Slot:
        """Start one more node. A persistent one keeps its identity and store in data_dir/node<i>
        and, without a base port, restarts on the port it was given (see FIXED_PORTS)."""
        index = len(self.slots)
        data_dir = self.data_dir / f"node{index}" if persistent and self.data_dir is not None else None
        if key_pair is None:
            key_pair = load_or_create_identity(data_dir) if data_dir is not None else create_new_key_pair()
        if port is None:
            if self.base_port:
                port = self.base_port + index
            else:
                port = free_fixed_port() if data_dir is not None and self.fixed_ports else 0
        slot = Slot(key_pair, data_dir, config or self.config, port, index, clock_ms=self.clock_ms)
        self.slots.append(slot)
        await self.start(slot, serve=serve)
        return slot

    async def add_many(self, n: int, on_started: Callable[[Node], None] | None = None, **kwargs: Any) -> list[Slot]:
        """Start n nodes concurrently, all bootstrapping from the first node."""
        first = len(self.slots)

        async def one() -> None:
            slot = await self.add(**kwargs)
            if on_started is not None and slot.node is not None:
                on_started(slot.node)

        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(one)
        return self.slots[first:]

    async def extra(
        self,
        *,
        serve: bool = True,
        config: RegistryConfig | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
        listen: list[str] | None = None,
        bootstrap: list[str] | None = None,
    ) -> Node:
        """A node outside `nodes` (a client, a node with its own clock), stopped with the network."""
        slot = Slot(create_new_key_pair(), None, config or self.config, clock_ms=clock_ms, listen=listen)
        await self.start(slot, serve=serve, bootstrap=bootstrap)
        assert slot.node is not None
        return slot.node

    async def start(self, slot: Slot, *, serve: bool = True, bootstrap: list[str] | None = None) -> None:
        """Start (or restart) the node of `slot`, joined through `bootstrap` [default: the first live node]."""
        boot = self.bootstrap if bootstrap is None else bootstrap
        slot.stopped = trio.Event()

        async def run(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            try:
                with trio.CancelScope() as scope:
                    slot.cancel = scope
                    listen = [f"/ip4/{LOOPBACK}/tcp/{slot.port}"] if slot.listen is None else slot.listen
                    async with open_node(
                        listen,
                        boot,
                        slot.data_dir,
                        slot.key_pair,
                        slot.config,
                        serve=serve,
                        clock_ms=slot.clock_ms,
                        require_bootstrap=self.require_bootstrap and bool(boot),
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

    def slot_of(self, node: Node) -> Slot:
        return next(s for s in self.slots if s.node is node)

    def name(self, peer_id: str) -> str:
        for slot in self.slots:
            if slot.node is not None and slot.node.peer_id == peer_id:
                return f"node{slot.index}"
        return peer_id[:12] + "…"


@asynccontextmanager
async def network(
    n: int,
    config: RegistryConfig,
    data_dir: Path | None = None,
    *,
    persistent: bool = False,
    base_port: int = 0,
    fixed_ports: bool = True,
    require_bootstrap: bool = False,
    on_started: Callable[[Node], None] | None = None,
    clock_ms: Callable[[], int] = wall_clock_ms,
) -> AsyncIterator[Network]:
    """Start n nodes (the first, then the others concurrently through it); stop them all on exit."""
    async with trio.open_nursery() as nursery:
        net = Network(
            nursery,
            config,
            data_dir,
            base_port=base_port,
            fixed_ports=fixed_ports,
            require_bootstrap=require_bootstrap,
            clock_ms=clock_ms,
        )
        first = await net.add(persistent=persistent)
        if on_started is not None and first.node is not None:
            on_started(first.node)
        await net.add_many(n - 1, on_started, persistent=persistent)
        try:
            yield net
        finally:
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def testnet(
    n: int, config: RegistryConfig, base_port: int = 0, data_dir: Path | None = None, console: Console | None = None
) -> AsyncIterator[Network]:
    """The network of `registry-p2p testnet` (with a progress bar on `console` when it is a terminal)."""
    bar = _Progress(console, f"starting {n} nodes", n)
    try:
        async with network(
            n,
            config,
            data_dir,
            persistent=data_dir is not None,
            base_port=base_port,
            fixed_ports=False,
            require_bootstrap=True,
            on_started=bar.advance,
        ) as net:
            bar.stop()
            yield net
    finally:
        bar.stop()


class _Progress:
    """A rich progress bar on a terminal; silent otherwise (logs and pipes stay clean)."""

    def __init__(self, console: Console | None, description: str, total: int) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        )
        self.task: TaskID | None = None
        if console is not None and console.is_terminal:
            self.progress.start()
            self.task = self.progress.add_task(description, total=total)

    def advance(self, _started: Node) -> None:
        if self.task is not None:
            self.progress.advance(self.task)

    def stop(self) -> None:
        if self.task is not None:
            self.progress.stop()
            self.task = None


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
        say(f"   bootstrap: {net.bootstrap[0]}")

        client = await net.extra(serve=False, listen=[])
        rid = await client.registry.create_resource("echo")
        rid_bytes = resource_id_from_text(rid)
        holders = _holders(net, rid_bytes)
        say(f"[bold]2.[/] a light client (stores nothing) creates resource [cyan]echo[/] → {rid}")
        say(f"   stored by its replica set, the {len(holders)} nodes closest to it: {_names(net, holders)}")

        # Workers are services on light nodes: they advertise, they do not store registry data.
        workers = [await net.extra(serve=False, listen=[ANY_PORT]) for _ in range(DEMO_WORKERS)]
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
                nursery.start_soon(net.stop, net.slot_of(node))
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


def _holders(net: Network, rid: bytes) -> list[Node]:
    return [node for node in net.nodes if node.store is not None and node.store.get_resource(rid) is not None]


def _closest(net: Network, rid: bytes) -> list[Node]:
    return sorted(net.nodes, key=lambda node: distance(rid, ID.from_base58(node.peer_id)))


def _names(net: Network, nodes: list[Node]) -> str:
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
