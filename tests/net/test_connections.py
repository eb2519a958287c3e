"""Inbound connections: a flood of fresh identities holding idle connections (attacks.md §4)
cannot shut new honest clients out of a registry node, and the node's count stays bounded."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.rcmgr import Direction
from multiaddr import Multiaddr

from registry_p2p.adapter.dialing import NEGATIVE_DIAL_CACHE_S
from registry_p2p.adapter.inbound_slots import OpenInboundConnections, count_open_inbound_connections
from registry_p2p.adapter.pruning import trim_connections_periodically, trimming_idle_connections
from registry_p2p.adapter.shutdown import close_host
from registry_p2p.node import Node, open_node

from .harness import LOOPBACK, cfg, network, wait_for

MAX_CONNECTIONS = 16  # 256 by default, scaled down
GRACE_S = 5.0  # 10 s by default; longer than the flood takes to arrive, so it all fills the node first
FLOOD = MAX_CONNECTIONS + 8


async def idle_peer(
    addr: str, results: list[bool], done: trio.Event, task_status: Any = trio.TASK_STATUS_IGNORED
) -> None:
    """A fresh identity on a stock py-libp2p host: connects, then does nothing until `done`."""
    listen = [Multiaddr(LOOPBACK)]
    host = new_host(key_pair=create_new_key_pair(), listen_addrs=listen)
    try:
        async with host.run(listen):
            try:
                with trio.fail_after(10):
                    await host.connect(info_from_p2p_addr(Multiaddr(addr)))
                results.append(True)
            except (Exception, trio.TooSlowError):
                results.append(False)
            task_status.started()
            await done.wait()
    finally:
        await close_host(host)


def open_connections(node: Node, direction: Direction | None = None) -> int:
    conns = node.host.get_network().get_connections()
    return sum(1 for c in conns if direction is None or getattr(c, "direction", None) == direction)


async def resolve_when_admitted(client: Node, victim: Node, rid: str, counts: list[int]) -> list[Any]:
    """What an honest client does: dial the node, ask, and try again while it is refused.
    `counts` gets the victim's connection count at each try."""
    while True:
        counts.append(open_connections(victim))
        try:
            await client.connect(victim.addrs[0])
            records = await client.registry.resolve(rid, ack=1)
            if records:
                return records
        except Exception:
            pass
        await trio.sleep(0.25)  # a refused client's back-off, not synchronisation


async def test_a_flood_of_idle_identities_cannot_shut_an_honest_client_out() -> None:
    base = cfg(k=1)
    config = replace(base, limits=replace(base.limits, max_connections=MAX_CONNECTIONS), connection_grace_s=GRACE_S)
    with trio.fail_after(120):
        async with network(1, config) as net, trio.open_nursery() as nursery:
            victim = net.nodes[0]
            rid = await victim.registry.create_resource("conns")
            assert (await victim.registry.register_service(rid, b"honest", "svc", ack=1)).ok
            done = trio.Event()
            results: list[bool] = []
            flood_started = trio.current_time()
            async with trio.open_nursery() as flood:
                for _ in range(FLOOD):
                    flood.start_soon(nursery.start, idle_peer, victim.addrs[0], results, done)
            flood_took = trio.current_time() - flood_started
            assert len(results) == FLOOD
            held = open_connections(victim)
            print(f"flood {flood_took:.2f} s, victim holds {held}")
            # The flood filled the node (else this test would prove nothing), and nothing more got in.
            assert held == MAX_CONNECTIONS, f"the flood took {flood_took:.2f} s and left {held} connections"

            client = (await net.add(serve=False)).node
            assert client is not None
            admitted_started = trio.current_time()
            # Bounded: the flood's grace period, one trimming round (half of it), the client's
            # negative dial cache after a refusal, and slack.
            counts: list[int] = []
            with trio.fail_after(GRACE_S + GRACE_S / 2 + NEGATIVE_DIAL_CACHE_S + 5):
                records = await resolve_when_admitted(client, victim, rid, counts)
            waited = trio.current_time() - admitted_started
            assert [r.service_id for r in records] == ["svc"]
            assert max(counts) <= MAX_CONNECTIONS and open_connections(victim) <= MAX_CONNECTIONS
            # The client's connection carries its gossipsub stream: in use, so it is not pruned.
            assert client.host.get_id() in victim.host.get_connected_peers()
            print(f"client in after {waited:.2f} s; victim holds {open_connections(victim)}")
            done.set()


async def test_inbound_slots_follow_open_connections_and_come_back() -> None:
    """py-libp2p keeps an inbound slot until the swarm stops: with 3 slots, the 4th peer ever
    (after 3 came and left) was refused. Counting open connections admits it; undo restores."""
    config = cfg()
    async with open_node([LOOPBACK], config=config) as victim:
        swarm = victim.host.get_network()
        assert isinstance(swarm._inbound_limiter, OpenInboundConnections)
        swarm._inbound_limiter.total_tokens = 3
        for _ in range(5):
            done = trio.Event()
            results: list[bool] = []
            async with trio.open_nursery() as nursery:
                await nursery.start(idle_peer, victim.addrs[0], results, done)
                assert results == [True]
                # The victim registers the connection, then sees the peer leave: no event for either.
                await wait_for(lambda: open_connections(victim, Direction.INBOUND) == 1)
                assert swarm._inbound_limiter.borrowed_tokens == 1
                done.set()
            await wait_for(lambda: open_connections(victim, Direction.INBOUND) == 0)
        limiter = swarm._inbound_limiter
        swarm._inbound_limiter = trio.CapacityLimiter(3)
        undo = count_open_inbound_connections(victim.host)
        assert isinstance(swarm._inbound_limiter, OpenInboundConnections)
        assert swarm._inbound_limiter.total_tokens == 3
        undo()
        assert isinstance(swarm._inbound_limiter, trio.CapacityLimiter)
        swarm._inbound_limiter = limiter


async def test_the_trimming_loop_runs_the_pruner_until_cancelled(autojump_clock: Any) -> None:
    calls: list[float] = []

    class Pruner:
        async def maybe_prune_connections(self) -> None:
            calls.append(trio.current_time())
            if len(calls) == 2:
                raise RuntimeError("a connection closed while it was pruned")

    class Host:
        def get_network(self) -> Any:
            return swarm

    swarm: Any = type("Swarm", (), {"connection_pruner": Pruner()})()
    with trio.move_on_after(0.55):
        await trim_connections_periodically(Host(), 0.1)
    assert len(calls) == 5  # an error in one round does not end the loop
    async with trimming_idle_connections(Host(), 0.1):
        await trio.sleep(0.35)
    assert len(calls) == 8  # three more rounds inside the block
    await trio.sleep(1)
    assert len(calls) == 8  # and none after it
