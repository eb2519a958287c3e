"""Renewal at half the TTL keeps a host's records alive on the replicas; GC removes what expired."""

from __future__ import annotations

from dataclasses import replace

import trio

from registry_p2p.core.ids import resource_id_from_text

from .harness import cfg, network, wait_for


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
            registered = trio.current_time()
            await host.registry.register_service(rid, b"kept alive", "kept", ttl=4, ack=3)
            await client.registry.register_service(rid, b"left to expire", "gone", ttl=4, ack=3)
            client_registered = trio.current_time()

            assert await host.registry.renew_once() == 0, "nothing is due before half the TTL"
            # The renew loop (interval 3600 s) wakes when the record reaches half its TTL: a
            # short-lived record (soft state) is renewed before it expires.
            await wait_for(lambda: host.registry.maintenance.renewed >= 1, timeout=4)
            assert trio.current_time() - registered >= 2.0, "renewed before half the TTL"
            assert host.registry.maintenance.renewed == 1  # only its own record: the client hosts the other
            # Both original signatures have now expired (the time rule itself is under test).
            await trio.sleep(max(0.0, client_registered + 4.2 - trio.current_time()))

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


async def test_renewal_of_many_records_of_a_resource_is_one_batched_write() -> None:
    base = cfg(k=3)
    # min_ttl_s / 8 = 1 s: records falling due within a second of the first renew with it.
    config = replace(base, limits=replace(base.limits, min_ttl_s=8))
    with trio.fail_after(90):
        async with network(3, config) as net:
            host = net.nodes[0]
            rids = [await host.registry.create_resource(label) for label in ("batched-a", "batched-b")]
            started = trio.current_time()
            for rid in rids:
                for i in range(5):
                    await host.registry.register_service(rid, b"v", f"svc-{i}", ttl=8, ack=1)
            spread = trio.current_time() - started
            # The renew loop wakes when the first record reaches half its TTL (4 s); each
            # resource's records due by then or within a second go to its replica set in one write.
            await wait_for(lambda: host.registry.maintenance.renewed >= 10, timeout=12)
            stats = host.registry.maintenance
            if spread < 1.0:  # every record was registered within the early window of the first
                assert (stats.renewed, stats.renew_writes) == (10, 2)
            assert stats.renew_writes < stats.renewed
            for rid in rids:
                records = await net.nodes[1].registry.resolve(rid, ack=3)
                assert len(records) == 5
