"""A write while one replica of the writer's cached set is down reaches the live replica that
takes its place, not only the `ack` replicas that answered first: a tombstone that missed it left
that replica serving the record until anti-entropy (the rendezvous test's CI failure, where the
stopped replica's request failed after the others had answered)."""

from __future__ import annotations

from typing import Any

import trio

from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.net.client import PeerUnavailable
from registry_p2p.net.routing import distance

from .harness import cfg, network, settle

K = 3
SLOW_FAILURE_S = 1.0  # the down replica's request fails this long after it was sent


async def test_an_unregistration_reaches_the_replica_that_replaces_one_found_down_late() -> None:
    with trio.fail_after(120):
        async with network(4, cfg(k=K)) as net:
            nodes = list(net.nodes)
            await settle(nodes)
            writer = nodes[0]
            rid = await writer.registry.create_resource("replaced")
            rid_bytes = resource_id_from_text(rid)
            out = await writer.registry.register_service(rid, b"v", "svc", ack=K)
            assert out.ok, out
            await writer.registry.settle()
            cached = writer.registry.routing.cached(rid_bytes)
            assert cached is not None and len(cached) == K
            down = next(
                n.host.get_id()
                for n in sorted(nodes, key=lambda n: distance(rid_bytes, n.host.get_id()))
                if n is not writer and n.host.get_id() in cached
            )
            outsider = next(n for n in nodes if n.host.get_id() not in cached)
            # The outsider holds the record too (as a replica of an earlier set would).
            assert writer.store is not None and outsider.store is not None
            now = writer.registry.clock_ms()
            resource = writer.store.get_resource(rid_bytes)
            assert resource is not None
            record = [r.encode() for r in writer.store.live_records(rid_bytes, now)]
            outsider.store.put_entries(rid_bytes, record, now, resource=resource)
            assert [r.service_id for r in outsider.store.live_records(rid_bytes, now)] == ["svc"]

            rpc = writer.registry.ctx.rpc
            put_entries = rpc.put_entries

            async def down_fails_late(peer: Any, *args: Any, **kwargs: Any) -> Any:
                if peer == down:
                    await trio.sleep(SLOW_FAILURE_S)
                    raise PeerUnavailable(peer, "connection refused")
                return await put_entries(peer, *args, **kwargs)

            rpc.put_entries = down_fails_late  # type: ignore[method-assign]
            out = await writer.registry.unregister_service(rid, "svc", ack=K - 1)
            assert out.ok, out
            await writer.registry.settle()
            now = outsider.registry.clock_ms()
            assert [r.service_id for r in outsider.store.live_records(rid_bytes, now)] == []
