"""The simulator against the loopback network: the same 20 peer ids and the same write, and the
two must agree on replica-set membership and on which nodes hold the record, exactly (both
choose the K closest live registry peers by core's XOR order over the same peer ids, and the
loopback network loses nothing).

Lookup hops from every node to the record (the real lookup seeded as the registry seeds it, the
simulator's from its model of routing tables, both counted by core's `hops_to_closest`) agree
within one hop at the median and at the longest: twenty nodes are 1-2 hops wide for both.

Then churn: the two closest replicas leave, one losing its store, and the survivors repair. Both
must repair in the same number of anti-entropy rounds (one) and end with the same holders and the
same replica set; then both come back, and the one that kept its store holds the record at once.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import trio

from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.net.lookup import lookup
from registry_p2p.node import STORE_FILE, Node
from registry_p2p.sim.sim import Params, Simulation

from .harness import Network, Slot, cfg, network, settle

K = 5
NODES = 20
MAX_ROUNDS = 3
HOPS_TOLERANCE = 1


def real_holders(net: Network, rid: bytes) -> set[int]:
    held = set()
    for slot in net.slots:
        node = slot.node
        if node is not None and node.store is not None and node.store.live_records(rid, node.registry.clock_ms()):
            held.add(slot.index)
    return held


async def replicate_round(nodes: list[Node]) -> None:
    async with trio.open_nursery() as nursery:
        for node in nodes:
            nursery.start_soon(node.registry.replicate_once)


async def young_network_settled(node: Node, rid: bytes, closest_k: set[bytes]) -> None:
    """Wait until a lookup from `node` finds the K closest of all twenty: twenty nodes joining at
    once in one process take seconds of CPU for identify, which has no event to wait on, and
    until it ran a node is not yet known to speak the registry (the simulator starts settled)."""
    deadline = trio.current_time() + 120
    found: set[bytes] = set()
    while trio.current_time() < deadline:
        found = {p.to_bytes() for p in await node.registry.routing.replica_set(rid, refresh=True)}
        if found == closest_k:
            return
        await trio.sleep(0.5)
    routing = node.registry.routing
    unknown = [p for p in node.host.get_connected_peers() if routing.speaks_registry(p) is None]
    raise AssertionError(
        f"the lookup found {len(found & closest_k)} of the {len(closest_k)} closest; connected "
        f"{len(node.host.get_connected_peers())}, of which identify has not told what "
        f"{len(unknown)} speak"
    )


async def real_lookup_hops(node: Node, rid: bytes) -> int:
    with trio.fail_after(30):
        state = await lookup(node.host, node.registry.routing.lookup_seeds(rid), rid, 2 * K)
    assert len(state.result()) == 2 * K
    return state.hops_to_closest()


def assert_hops_agree(real: list[int], simulated: list[int]) -> None:
    """Twenty nodes are a few hops wide for both: the median within HOPS_TOLERANCE, no lookup
    longer than the simulator's longest plus HOPS_TOLERANCE."""
    assert abs(statistics.median(real) - statistics.median(simulated)) <= HOPS_TOLERANCE, (real, simulated)
    assert max(real) <= max(simulated) + HOPS_TOLERANCE, (real, simulated)


def peer_bytes(slot: Slot) -> bytes:
    return peer_id_bytes_of(slot.key_pair.private_key)


async def test_simulator_and_loopback_network_agree_on_a_write_and_its_repair_after_churn(tmp_path: Path) -> None:
    with trio.fail_after(400):
        async with network(NODES, cfg(k=K), tmp=tmp_path, persistent=True) as net:
            sim = Simulation(Params(nodes=NODES, k=K, records=1, loss=0.0, jitter=0.0), scripted=True)
            for slot in net.slots:
                assert sim.new_node(peer_bytes(slot)) == slot.index
                sim.go_online(slot.index)
            writer = net.slots[0]  # the bootstrap peer: connected to all nineteen from the start
            assert writer.node is not None
            rid_text = await writer.node.registry.create_resource("sim-validation")
            rid = resource_id_from_text(rid_text)
            r = sim.add_record(rid)
            await young_network_settled(writer.node, rid, {sim.idb[n] for n in sim.replica_set(r, 0)})

            # 1. The write: the replica set and the nodes that store it.
            out = await writer.node.registry.register_service(rid_text, b"v1")
            assert out.ok, out
            await writer.node.registry.settle()
            sim.write(r, writer=writer.index)
            real_set = {p.to_bytes() for p in await writer.node.registry.routing.replica_set(rid, refresh=True)}
            sim_set = {sim.idb[n] for n in sim.replica_set(r, 0)}
            assert real_set == sim_set
            in_set = {s.index for s in net.slots if peer_bytes(s) in real_set}
            assert real_holders(net, rid) == sim.holding(r) == in_set | {writer.index}  # the host keeps its own

            # 1b. Lookup hops, from every node to the record: the real lookup seeded as the
            # registry seeds it (its routing table's closest and its connections), and the
            # simulator's from its model of that node's table.
            real_hops, sim_hops = [], []
            for slot in net.slots:
                assert slot.node is not None
                real_hops.append(await real_lookup_hops(slot.node, rid))
                sim_hops.append(sim.sampled_lookup(slot.index, r)[3])
            assert_hops_agree(real_hops, sim_hops)

            # 2. Churn: the two closest replicas other than the writer leave, one of them
            # crashing with its store lost; the survivors repair.
            leaving = [n for n in sim.replica_set(r, 0) if n != writer.index][:2]  # closest first
            for n in leaving:
                await net.stop(net.slots[n])
            wiped = net.slots[leaving[1]].data_dir
            assert wiped is not None
            for path in wiped.glob(f"{STORE_FILE}*"):
                path.unlink()
            sim.go_offline(leaving[0], lose_store=False)
            sim.go_offline(leaving[1], lose_store=True)
            target = set(sim.replica_set(r, 0))

            real_rounds = sim_rounds = 0
            while real_rounds < MAX_ROUNDS and not target <= real_holders(net, rid):
                await replicate_round(net.nodes)
                real_rounds += 1
            while sim_rounds < MAX_ROUNDS and not target <= sim.holding(r):
                for n in sorted(sim.holding(r)):
                    if sim.online[n]:
                        sim.replicate(n, sim.gen[n])
                sim_rounds += 1
            assert sim_rounds == 1
            assert target <= sim.holding(r)
            assert target <= real_holders(net, rid), (sorted(target), sorted(real_holders(net, rid)))
            assert real_rounds == sim_rounds
            live = {s.index for s in net.slots if s.node is not None}
            assert live == {n for n in range(NODES) if sim.online[n]}
            real_set = {p.to_bytes() for p in await writer.node.registry.routing.replica_set(rid, refresh=True)}
            assert real_set == {sim.idb[n] for n in target}
            assert real_holders(net, rid) == sim.holding(r) - set(leaving)

            # 3. Both come back: the one that kept its store holds the record again at once.
            for n in leaving:
                await net.start(net.slots[n])
                sim.go_online(n)
            await settle(net.nodes)
            assert real_holders(net, rid) == sim.holding(r)
            assert leaving[0] in sim.holding(r) and leaving[1] not in sim.holding(r)
