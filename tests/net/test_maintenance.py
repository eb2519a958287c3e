"""Renewal at half the TTL keeps a host's records alive on the replicas; GC removes what expired."""

from __future__ import annotations

from dataclasses import replace

import trio

from registry_p2p.core.ids import resource_id_from_text

from .harness import cfg, network


async def test_host_renews_at_half_ttl_and_gc_collects_the_rest() -> None:
    base = cfg(k=3)
    config = replace(base, limits=replace(base.limits, min_ttl_s=1))
    with trio.fail_after(90):
        async with network(4, config) as net:
            host = net.nodes[0]
            client = (await net.add(serve=False)).node
            assert client is not None
            rid = await host.registry.create_resource("renewed")
            rid_bytes = resource_id_from_text(rid)
            await host.registry.register_service(rid, b"kept alive", "kept", ttl=4, ack=3)
            await client.registry.register_service(rid, b"left to expire", "gone", ttl=4, ack=3)

            assert await host.registry.renew_once() == 0, "nothing is due before half the TTL"
            await trio.sleep(2.2)  # half of the 4 s TTL: the time rule itself is what is under test
            assert await host.registry.renew_once() == 1  # only its own record: the client hosts the other
            await trio.sleep(2.2)  # both original signatures have now expired

            records = await net.nodes[2].registry.resolve(rid, ack=3)
            assert [r.service_id for r in records] == ["kept"]
            assert records[0].expires_at_ms > host.registry.clock_ms()

            servers = [n for n in net.nodes if n.store is not None]
            before = sum(n.store.counts()["records"] for n in servers if n.store is not None)
            removed = sum([(await n.registry.gc_once()).records for n in servers])
            after = sum(n.store.counts()["records"] for n in servers if n.store is not None)
            assert removed >= 1 and after == before - removed
            for node in servers:
                assert node.store is not None
                assert [r.service_id for r in node.store.live_records(rid_bytes, node.registry.clock_ms())] in (
                    ["kept"],
                    [],
                )


async def test_an_unchanged_resource_is_put_into_the_dht_once_not_every_round() -> None:
    """attacks.md §1: each anti-entropy round put every resource the node leads into the DHT again."""
    with trio.fail_after(90):
        async with network(4, cfg(k=3)) as net:
            owner = net.nodes[0]
            for i in range(3):
                await owner.registry.create_resource(f"steady-{i}")
            servers = [n for n in net.nodes if n.store is not None]
            for node in servers:
                await node.registry.replicate_once()
            first = sum(n.registry.maintenance.dht_puts for n in servers)
            assert first >= 3, "the first replica of each resource puts it"
            for _ in range(3):
                for node in servers:
                    await node.registry.replicate_once()
            assert sum(n.registry.maintenance.dht_puts for n in servers) == first, "unchanged: never put again"
