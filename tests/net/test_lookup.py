"""Our FIND_NODE lookup (net/lookup.py): correct on a live network, quick after churn."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace

import trio

from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.net.lookup import QueryFailed, find_node, lookup
from registry_p2p.tools.attacks import raw_stream

from .harness import cfg, distance, network, wait_for


async def test_lookup_finds_the_closest_live_peers_after_churn() -> None:
    with trio.fail_after(120):
        async with network(10, cfg(k=3)) as net:
            asker = net.nodes[0]
            rid = await asker.registry.create_resource("lookup")
            target = resource_id_from_text(rid)

            def seeds() -> list:
                return list(asker.host.get_connected_peers())

            found = (await lookup(asker.host, seeds(), target, 4)).result()
            everyone = [n.host.get_id() for n in net.nodes[1:]]
            expected = sorted(everyone, key=lambda p: distance(target, p.to_bytes()))[:4]
            assert found == expected

            # The two closest leave; a lookup returns the next closest, and quickly.
            gone = set(expected[:2])
            for slot in list(net.slots):
                if slot.node is not None and slot.node.host.get_id() in gone:
                    await net.stop(slot)
            failed: list = []
            started = trio.current_time()
            state = await lookup(asker.host, [*seeds(), *gone], target, 4, on_failed=lambda p, e: failed.append((p, e)))
            found = state.result()
            took = trio.current_time() - started
            live = [p for p in everyone if p not in gone]
            assert found == sorted(live, key=lambda p: distance(target, p.to_bytes()))[:4]
            assert {p for p, _ in failed} <= gone
            assert all(e.unreachable for _, e in failed)
            assert took < 2.0, f"lookup took {took:.2f} s"

            # Peers the caller knows to be gone are never asked.
            failed.clear()
            found = (await lookup(asker.host, [*seeds(), *gone], target, 4, skip=lambda p: p in gone)).result()
            assert not failed and not gone & set(found)


async def test_find_node_answers_with_peers_and_their_addresses() -> None:
    async with network(4, cfg(k=3)) as net:
        a, b = net.nodes[0], net.nodes[1]
        # b answers from its routing table, which fills as identify runs on its connections.
        for other in (net.nodes[2], net.nodes[3]):
            await b.connect(other.addrs[0])
        await wait_for(lambda: set(b.dht.routing_table.get_peer_ids()) - {a.host.get_id()}, timeout=30)
        peers = await find_node(a.host, b.host.get_id(), b"\x01" * 32)
        assert peers and a.host.get_id() not in peers
        for peer in peers:
            assert a.host.get_peerstore().addrs(peer)


async def test_a_query_refused_on_a_live_connection_does_not_mark_the_peer_gone() -> None:
    """A peer over its inbound-stream bound resets a new stream before negotiating it; the
    peer is there, so the failed query must not count as unreachable (it would be left out of
    replica sets for a while)."""
    base = cfg(k=3)
    config = replace(base, limits=replace(base.limits, max_inbound_streams_per_peer=3))
    with trio.fail_after(60):
        async with network(2, config) as net:
            a, b = net.nodes[0], net.nodes[1]
            held = []
            for _ in range(3):
                with suppress(Exception):  # b's bound may be reached sooner, with a's pubsub stream
                    held.append(await raw_stream(a.host, b.host.get_id()))
            try:
                await find_node(a.host, b.host.get_id(), b"\x01" * 32)
            except QueryFailed as exc:
                assert not exc.unreachable, exc
            else:
                raise AssertionError("the query should have been refused")
            for stream in held:
                await stream.reset()


async def test_a_replica_set_found_on_a_young_network_is_not_remembered() -> None:
    """The cause of a flaky scenario test: a light client looked the replica set up while its
    bootstrap peer knew nobody else yet, got that one peer, and reused the set for a minute, so
    the resource and its records reached that peer alone. A set smaller than K is looked up again."""
    with trio.fail_after(60):
        async with network(1, cfg(k=4)) as net:
            client_slot = await net.add(serve=False)
            client = client_slot.node
            assert client is not None
            rid = resource_id_from_text(await net.nodes[0].registry.create_resource("young"))
            first = await client.registry.routing.replica_set(rid)
            assert first == [net.nodes[0].host.get_id()]
            await net.add_many(3)
            boot = net.nodes[0]
            servers = {n.host.get_id() for n in net.nodes if n.store is not None}
            await wait_for(lambda: servers - {boot.host.get_id()} <= set(boot.dht.routing_table.get_peer_ids()))
            again = await client.registry.routing.replica_set(rid)
            assert set(again) == servers
            # A full set is remembered.
            assert client.registry.routing.cached(rid) == again
