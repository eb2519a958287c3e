"""The simulator against the loopback network: the same 20 peer ids and the same write, and the
two must agree on replica-set membership and on which nodes hold the record, exactly (both
choose the K closest live registry peers by core's XOR order over the same peer ids, and the
loopback network loses nothing).

Not here yet: the churn step (the two closest replicas leave, one losing its store, and the
survivors repair). The simulator repairs in one round; on the loaded machine three real rounds
did not reach two of the five new closest peers, and the cause is not found (issue 16's note).
A comparison that fails for an unknown reason is not a tolerance to widen.
"""

from __future__ import annotations

from pathlib import Path

import trio

from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.node import Node
from registry_p2p.sim.sim import Params, Simulation

from .harness import Network, Slot, cfg, network

K = 5
NODES = 20
MAX_ROUNDS = 3


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


def peer_bytes(slot: Slot) -> bytes:
    return peer_id_bytes_of(slot.key_pair.private_key)


async def test_simulator_and_loopback_network_agree_on_the_replica_set_and_holders_of_a_write(tmp_path: Path) -> None:
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
