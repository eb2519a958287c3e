"""watch(): a subscriber outside the replica set sees changes within a second; forgeries never surface."""

from __future__ import annotations

import trio
from libp2p.crypto.ed25519 import create_new_key_pair

from registry_p2p.core import build
from registry_p2p.core.gossip import BATCH_TAG
from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.net.notify import topic_of
from registry_p2p.pb import registry_pb2 as pb

from .harness import cfg, network, wait_for


async def next_event(events, timeout: float = 1.0):  # type: ignore[no-untyped-def]
    with trio.fail_after(timeout):
        return await events.__anext__()


async def test_watch_outside_replica_set_sees_changes_within_a_second() -> None:
    with trio.fail_after(120):
        async with network(8, cfg(k=3)) as net:
            client = (await net.add(serve=False)).node
            assert client is not None
            rid = await client.registry.create_resource("watched")
            rid_bytes = resource_id_from_text(rid)
            replicas = set(await net.nodes[0].registry.routing.replica_set(rid_bytes, refresh=True))
            watcher = next(n for n in net.nodes if n.host.get_id() not in replicas)

            await client.registry.register_service(rid, b"before", "old")
            async with watcher.registry.watch(rid) as events:
                snapshot = await next_event(events, timeout=10)
                assert snapshot.kind == "registered" and snapshot.service_id == "old"

                out = await client.registry.register_service(rid, b"hello", "echo")
                assert out.ok
                written = trio.current_time()
                event = await next_event(events)
                assert event.kind == "registered" and event.service_id == "echo"
                assert event.record is not None and event.record.value == b"hello"
                assert trio.current_time() - written < 1.0

                out = await client.registry.unregister_service(rid, "echo")
                assert out.ok
                written = trio.current_time()
                event = await next_event(events)
                assert (event.kind, event.service_id, event.record) == ("unregistered", "echo", None)
                assert trio.current_time() - written < 1.0


async def test_forged_and_tampered_messages_never_surface() -> None:
    with trio.fail_after(120):
        async with network(6, cfg(k=3)) as net:
            client = (await net.add(serve=False)).node
            assert client is not None
            rid = await client.registry.create_resource("forgery")
            rid_bytes = resource_id_from_text(rid)
            watcher = net.nodes[1]
            forger = net.nodes[4]
            async with watcher.registry.watch(rid) as events:
                # The forger has not joined the topic, so nothing validates on its side: its
                # messages reach the watcher's validator, which must drop them.
                await forger.host.connect(_info(watcher))
                await _wait_subscribed(forger, watcher, topic_of(rid_bytes))
                now = client.registry.clock_ms()
                real = build.make_record(client.registry.key, rid_bytes, "real", b"v", now)
                tampered = real.to_pb()
                body = pb.RecordBody.FromString(tampered.issuer_body)
                body.value = b"evil"
                tampered.issuer_body = body.SerializeToString()
                forged = build.make_record(forger.registry.key, rid_bytes, "x", b"v", now).to_pb()
                forged.host_signature = real.host_signature
                rejected_before = watcher.registry.notifier.rejected
                # A batch with one forged entry among genuine ones is dropped whole.
                genuine = build.make_record(client.registry.key, rid_bytes, "hidden", b"v", now).encode()
                for data in (
                    pb.Entry(record=tampered).SerializeToString(),
                    pb.Entry(record=forged).SerializeToString(),
                    b"\x00garbage",
                    pb.EntryBatch(entries=[genuine, pb.Entry(record=forged).SerializeToString()]).SerializeToString(),
                ):
                    await forger.pubsub.publish(topic_of(rid_bytes), data)
                # A valid change published after the forgeries arrives; nothing before it does.
                await client.registry.register_service(rid, b"genuine", "genuine")
                event = await next_event(events, timeout=5)
                assert event.service_id == "genuine" and event.record is not None
                assert event.record.value == b"genuine"
                # All four forgeries reached the watcher and were dropped by its validator...
                await wait_for(lambda: watcher.registry.notifier.rejected >= rejected_before + 4)
                # ...and none of them is queued behind the genuine event.
                with trio.move_on_after(0.3):
                    extra = await events.__anext__()
                    raise AssertionError(f"unexpected event {extra}")
                assert watcher.store is not None
                assert all(r.value != b"evil" for r in watcher.store.live_records(rid_bytes, now + 10))


async def test_entries_stored_together_reach_a_watcher_in_one_batch() -> None:
    """A PutEntries of many entries is announced as EntryBatch messages; the watcher sees each."""
    with trio.fail_after(120):
        async with network(5, cfg(k=3)) as net:
            client = (await net.add(serve=False)).node
            assert client is not None
            rid = await client.registry.create_resource("batched")
            rid_bytes = resource_id_from_text(rid)
            # A watcher surfaces only replicas' announcements: write to one replica, watch elsewhere.
            replicas = set(await client.registry.routing.replica_set(rid_bytes, refresh=True))
            replica = next(n for n in net.nodes if n.host.get_id() in replicas)
            watcher = next(n for n in net.nodes if n is not replica)
            async with watcher.registry.watch(rid) as events:
                await _wait_subscribed(replica, watcher, topic_of(rid_bytes))
                now = client.registry.clock_ms()
                # Four issuers: 200 records of one would exceed an issuer's share of a resource.
                keys = [create_new_key_pair().private_key for _ in range(4)]
                raws = [build.make_record(keys[i % 4], rid_bytes, f"b-{i}", b"v", now).encode() for i in range(200)]
                notifier = replica.registry.notifier
                assert notifier is not None
                published: list[bytes] = []
                publish = notifier.publish

                async def counting(resource_id: bytes, data: bytes) -> None:
                    published.append(data)
                    await publish(resource_id, data)

                notifier.publish = counting  # type: ignore[method-assign]
                # The same resource (its id depends on label and owner only), sent along: the
                # replica may not hold it yet.
                resource = build.make_resource(client.registry.key, "batched", now)
                assert resource.id == rid_bytes
                request = pb.PutEntriesRequest(resource_id=rid_bytes, entries=raws, resource=resource.to_pb())
                reply = await client.registry.client.request(replica.host.get_id(), pb.Message(put_entries=request))
                statuses = {pb.Status.Name(r.status) for r in reply.put_entries_response.results}
                assert statuses == {"OK"}, statuses
                seen: set[str] = set()
                with trio.fail_after(10):
                    async for event in events:
                        seen.add(event.service_id)
                        if len(seen) == 200:
                            break
                assert len(published) == 1 and published[0][0] == BATCH_TAG, "one message for the whole write"


def _info(node):  # type: ignore[no-untyped-def]
    from libp2p.peer.peerinfo import PeerInfo

    return PeerInfo(node.host.get_id(), node.host.get_transport_addrs())


async def _wait_subscribed(publisher, subscriber, topic: str) -> None:  # type: ignore[no-untyped-def]
    with trio.fail_after(10):
        await publisher.pubsub.wait_for_subscription(subscriber.host.get_id(), topic)


async def test_expiry_is_an_event() -> None:
    from dataclasses import replace

    base = cfg(k=3)
    config = replace(base, limits=replace(base.limits, min_ttl_s=1))
    with trio.fail_after(60):
        async with network(4, config) as net:
            client = (await net.add(serve=False)).node
            assert client is not None
            rid = await client.registry.create_resource("short-lived")
            async with net.nodes[3].registry.watch(rid) as events:
                await client.registry.register_service(rid, b"v", "brief", ttl=2)
                first = await next_event(events, timeout=5)
                assert first.kind == "registered"
                expired = await next_event(events, timeout=5)
                assert (expired.kind, expired.service_id, expired.record) == ("expired", "brief", None)
            assert await net.nodes[0].registry.resolve(rid) == []
