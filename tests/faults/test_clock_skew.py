"""Clock skew: a node whose clock runs 5 minutes ahead has its writes refused with FROM_FUTURE.

The skewed node is a full replica. Its resource, its records and its tombstones carry times 5
minutes ahead (the limit is 60 s): every honest replica refuses them with FROM_FUTURE, whether
they arrive as a client write, over the wire, or pushed by its anti-entropy round. Afterwards
no honest store holds anything from it, and everything they hold validates.
"""

from __future__ import annotations

import trio

from registry_p2p.core import build
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.pb import registry_pb2 as pb
from registry_p2p.registry import wall_clock_ms
from tests.net.harness import cfg, network

from .helpers import Tally, all_stored_entries_valid, extra_node

SKEW_MS = 5 * 60 * 1000


async def test_node_five_minutes_ahead_is_refused_with_from_future() -> None:
    tally = Tally("clock-skew")
    with trio.fail_after(120):
        async with network(4, cfg(k=5)) as net:
            honest = list(net.nodes)
            skewed = await extra_node(net, clock_ms=lambda: wall_clock_ms() + SKEW_MS)
            owner = honest[0]
            rid = await owner.registry.create_resource("skew")
            rid_bytes = resource_id_from_text(rid)
            out = await honest[1].registry.register_service(rid, b"honest", "honest", ack=2)
            assert out.ok

            # 1. A client write through the Resources API, with the default and a high ack.
            # (ack=2 and more: the skewed node, itself a replica, cannot be enough on its own, so
            # the write is tried on every honest replica before the call returns.)
            honest_ids = {str(n.host.get_id()) for n in honest}
            for service, ack in (("ahead-1", 2), ("ahead-2", 5)):
                tally.add("writes_tried")
                out = await skewed.registry.register_service(rid, b"from the future", service, ack=ack)
                assert not out.ok
                remote = {peer: status for peer, status in out.errors.items() if peer in honest_ids}
                assert remote == dict.fromkeys(honest_ids, "FROM_FUTURE"), out.errors
                tally.add("refusals_FROM_FUTURE", len(remote))
                # Only the skewed node itself may have taken it.
                assert out.acks <= 1
            tally.add("writes_tried")
            out = await skewed.registry.unregister_service(rid, "ahead-1", ack=2)
            remote = {peer: status for peer, status in out.errors.items() if peer in honest_ids}
            assert remote == dict.fromkeys(honest_ids, "FROM_FUTURE"), out.errors
            tally.add("refusals_FROM_FUTURE", len(remote))

            # 2. Its own resource: refused by every honest replica.
            tally.add("writes_tried")
            try:
                await skewed.registry.create_resource("mine")
            except RegistryError as err:
                assert err.status is Status.UNAVAILABLE
            mine = build.make_resource(skewed.registry.key, "mine", skewed.registry.clock_ms())

            # 3. Over the wire, item by item, to each honest node.
            now = skewed.registry.clock_ms()
            future = build.make_record(skewed.registry.key, rid_bytes, "wire", b"x", now).encode()
            for node in honest:
                tally.add("writes_tried", 2)
                reply = await skewed.registry.client.request(
                    node.host.get_id(),
                    pb.Message(put_entries=pb.PutEntriesRequest(resource_id=rid_bytes, entries=[future])),
                )
                statuses = [Status(r.status) for r in reply.put_entries_response.results]
                assert statuses == [Status.FROM_FUTURE], statuses
                tally.add("refusals_FROM_FUTURE")
                reply = await skewed.registry.client.request(
                    node.host.get_id(), pb.Message(put_resource=pb.PutResourceRequest(resource=mine.to_pb()))
                )
                assert Status(reply.put_resource_response.result.status) is Status.FROM_FUTURE
                tally.add("refusals_FROM_FUTURE")

            # 4. Its anti-entropy round pushes what it holds: refused again.
            tally.add("replicate_rounds")
            await skewed.registry.replicate_once()

            # Nothing from the skewed node anywhere honest, and every honest entry valid.
            me = skewed.registry.me
            for node in honest:
                assert node.store is not None
                assert node.store.get_resource(mine.id) is None
                held = [r for r in node.store.live_records(rid_bytes, wall_clock_ms()) if r.issuer == me]
                tally.add("stored_from_skewed", len(held))
            checked, invalid = all_stored_entries_valid(honest)
            tally.add("honest_entries_checked", checked)
            tally.add("invalid_stored", invalid)
            records = await honest[2].registry.resolve(rid, ack=2)
            assert [r.service_id for r in records] == ["honest"]
            tally.add("lost", 0 if records else 1)
    tally.report()
    assert tally["stored_from_skewed"] == 0
    assert tally["invalid_stored"] == 0
    assert tally["refusals_FROM_FUTURE"] == 5 * len(honest)
