"""Registry.settle: a short-lived client lets its writes reach the whole replica set before it leaves."""

from __future__ import annotations

import trio

from registry_p2p.core.ids import resource_id_from_text

from .harness import cfg, network


async def test_settle_waits_until_every_replica_stored_the_write() -> None:
    with trio.fail_after(60):
        async with network(5, cfg(k=5)) as net:
            client = (await net.add(serve=False)).node
            assert client is not None
            rid = await client.registry.create_resource("settled")
            out = await client.registry.register_service(rid, b"v", "svc", ack=1)
            assert out.ok
            assert await client.registry.settle()
            now = client.registry.clock_ms()
            rid_bytes = resource_id_from_text(rid)
            holding = [n for n in net.nodes if n.store is not None and n.store.live_records(rid_bytes, now)]
            assert len(holding) == 5
