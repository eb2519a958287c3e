"""Churn: random nodes stop and restart while writers and resolvers run; nothing acknowledged is lost.

Ten nodes (replica sets of 5, each node on its own data dir) and three light clients: two writers
registering new services and unregistering some they registered (ack=2), and a resolver. For
CHURN_S seconds a churner stops a random node and restarts it on its data dir 1-3 s later, with
up to two nodes down at once. Afterwards every node is up again and runs two replicate rounds:
every acknowledged registration must then be resolvable, and every acknowledged unregistration
must stay gone, on every replica.
"""

from __future__ import annotations

import random
from pathlib import Path

import trio

from registry_p2p.core.errors import RegistryError
from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.net.routing import distance
from registry_p2p.node import Node
from tests.net.harness import Network, Slot, cfg, network, settle, wait_for

from .helpers import Tally, all_stored_entries_valid

CHURN_S = 30.0
NODES = 10
K = 5
MAX_DOWN = 2
# Live registrations at most: under the per-resource quota (Limits.max_records_per_resource).
LIVE_CAP = 200


async def churn(net: Network, servers: list[Slot], stop: trio.Event, tally: Tally, rng: random.Random) -> None:
    down: list[Slot] = []

    async def bounce(slot: Slot) -> None:
        await net.stop(slot)
        tally.add("stops")
        await trio.sleep(rng.uniform(1.0, 3.0))
        await net.start(slot)
        down.remove(slot)
        tally.add("restarts")

    async with trio.open_nursery() as nursery:
        while not stop.is_set():
            up = [s for s in servers if s.node is not None and s not in down]
            if len(down) < MAX_DOWN and up:
                slot = rng.choice(up)
                down.append(slot)
                nursery.start_soon(bounce, slot)
            with trio.move_on_after(rng.uniform(0.5, 1.5)):
                await stop.wait()


async def writer(
    node: Node, rid: str, name: str, stop: trio.Event, tally: Tally, live: set[str], gone: set[str]
) -> None:
    mine: list[str] = []
    n = 0
    while not stop.is_set():
        n += 1
        if n % 4 == 0 and mine:
            service = mine.pop(0)
            tally.add("unregistrations_tried")
            try:
                out = await node.registry.unregister_service(rid, service, ack=2)
            except RegistryError:
                out = None
            if out is not None and out.ok:
                tally.add("unregistrations_acknowledged")
                live.discard(service)
                gone.add(service)
            continue
        if len(live) >= LIVE_CAP:
            # Beyond the per-resource quota a replica evicts (by design, counted as "lost" here):
            # keep the live set under it; unregistrations keep the write stream going.
            await trio.sleep(0.05)
            continue
        service = f"{name}-{n}"
        tally.add("registrations_tried")
        try:
            out = await node.registry.register_service(rid, service.encode(), service, ack=2)
        except RegistryError:
            out = None
        if out is not None and out.ok:
            tally.add("registrations_acknowledged")
            live.add(service)
            mine.append(service)


async def resolver(node: Node, rid: str, stop: trio.Event, tally: Tally) -> None:
    while not stop.is_set():
        tally.add("resolves_tried")
        try:
            await node.registry.resolve(rid, ack=1)
            tally.add("resolves_answered")
        except RegistryError:
            tally.add("resolves_failed")
        await trio.sleep(0.05)


async def test_churn_loses_no_acknowledged_write(tmp_path: Path) -> None:
    tally = Tally("churn")
    rng = random.Random(6)
    live: set[str] = set()
    gone: set[str] = set()
    with trio.fail_after(CHURN_S + 150):
        async with network(NODES, cfg(k=K), tmp=tmp_path, persistent=True) as net:
            servers = list(net.slots)
            await settle(net.nodes)
            owner = net.nodes[0]
            rid = await owner.registry.create_resource("churn")
            rid_bytes = resource_id_from_text(rid)
            await owner.registry.settle()
            writers = [(await net.add(serve=False)).node for _ in range(2)]
            reader = (await net.add(serve=False)).node
            assert reader is not None and all(w is not None for w in writers)

            stop = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(churn, net, servers, stop, tally, rng)
                for i, node in enumerate(writers):
                    assert node is not None
                    nursery.start_soon(writer, node, rid, f"w{i}", stop, tally, live, gone)
                nursery.start_soon(resolver, reader, rid, stop, tally)
                await trio.sleep(CHURN_S)
                stop.set()
            for node in writers:
                assert node is not None
                await node.registry.settle()

            # Everyone back (the churner waited for its restarts), then two replicate rounds.
            nodes = [s.node for s in servers if s.node is not None]
            assert len(nodes) == NODES
            # The promise holds once the network is whole: every server connected to another one
            # (a node restarted while its bootstrap peer was down rejoins by itself: node.py).
            ids = {n.host.get_id() for n in nodes}
            await wait_for(lambda: all(ids & set(n.host.get_connected_peers()) for n in nodes), timeout=40)
            await settle(nodes)
            for _ in range(2):
                async with trio.open_nursery() as nursery:
                    for node in nodes:
                        nursery.start_soon(node.registry.replicate_once)
                tally.add("replicate_rounds")

            replicas = sorted(nodes, key=lambda n: distance(rid_bytes, n.host.get_id()))[:K]
            lost: set[str] = set()
            resurrected: set[str] = set()
            for node in replicas:
                assert node.store is not None
                held = {r.service_id for r in node.store.live_records(rid_bytes, node.registry.clock_ms())}
                lost |= live - held
                resurrected |= gone & held
            fresh = (await net.add(serve=False)).node
            assert fresh is not None
            resolved = {r.service_id for r in await fresh.registry.resolve(rid, ack=3)}
            lost |= live - resolved
            resurrected |= gone & resolved
            tally.add("lost", len(lost))
            tally.add("resurrected", len(resurrected))
            checked, invalid = all_stored_entries_valid(nodes)
            tally.add("entries_checked", checked)
            tally.add("invalid_stored", invalid)
    tally.report()
    assert tally["stops"] >= 5, "the churn hardly happened"
    assert tally["registrations_acknowledged"] >= 20
    assert not lost, f"acknowledged registrations lost: {sorted(lost)}"
    assert not resurrected, f"acknowledged unregistrations came back: {sorted(resurrected)}"
    assert tally["invalid_stored"] == 0
