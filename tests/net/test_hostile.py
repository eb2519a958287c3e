"""Hostile peers with valid identities (attacks.md), against a replica set on loopback.

Each test is one attack, scaled to this machine: what the attacker sends is valid and signed;
afterwards every honest record must still resolve from every node.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import trio
from libp2p.crypto.ed25519 import create_new_key_pair

from registry_p2p.core import build
from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.pb import registry_pb2 as pb
from registry_p2p.tools.attacks import ended_within, put_entries, raw_stream

from .harness import cfg, network

HONEST = 4


async def _put(client, peer, rid: bytes, raws: list[bytes]) -> list[str]:  # type: ignore[no-untyped-def]
    return await put_entries(partial(client.registry.client.request, peer), rid, raws)


async def _honest_resource(net, label: str):  # type: ignore[no-untyped-def]
    """A light client and an attacker added to `net`; the client's resource of HONEST records,
    settled on its replicas. Returns (client, attacker, rid, rid_bytes, replicas)."""
    client = (await net.add(serve=False)).node
    attacker = (await net.add(serve=False)).node
    assert client is not None and attacker is not None
    rid = await client.registry.create_resource(label)
    rid_bytes = resource_id_from_text(rid)
    for i in range(HONEST):
        assert (await client.registry.register_service(rid, b"honest", f"honest-{i}", ack=3)).ok
    await client.registry.settle()
    replicas = await attacker.registry.routing.replica_set(rid_bytes, refresh=True)
    return client, attacker, rid, rid_bytes, replicas


async def test_free_identities_cannot_push_established_records_out() -> None:
    """attacks.md §1 of the issue: 300 fresh identities, one self-hosted record each, sent to every
    replica under the rate limit, used to evict all 4 honest records (256 places per resource)."""
    base = cfg(k=3)
    config = replace(base, limits=replace(base.limits, max_records_per_resource=32))  # 256, scaled
    with trio.fail_after(180):
        async with network(7, config) as net:
            _, attacker, rid, rid_bytes, replicas = await _honest_resource(net, "squatted")
            now = attacker.registry.clock_ms()
            flood = [
                build.make_record(create_new_key_pair().private_key, rid_bytes, "squat", b"x", now + i).encode()
                for i in range(300)  # each newer than every honest record
            ]
            refused = 0
            for replica in replicas:
                for start in range(0, len(flood), 50):
                    statuses = await _put(attacker, replica, rid_bytes, flood[start : start + 50])
                    refused += statuses.count("LIMIT_EXCEEDED")
            assert refused > 0, "the flood must hit the per-resource limit for this test to mean anything"
            for node in net.nodes:
                records = await node.registry.resolve(rid, ack=3)
                honest = {r.service_id for r in records if r.value == b"honest"}
                assert honest == {f"honest-{i}" for i in range(HONEST)}, f"{len(honest)} of {HONEST} honest left"


async def test_a_bloated_copy_of_an_honest_record_is_refused_and_resolves_stay_small() -> None:
    """attacks.md §6: an honest record re-sent with ~1 MiB of junk in an unsigned key field
    replaced the stored copy on every replica, and every resolve then overflowed its frame."""
    with trio.fail_after(120):
        async with network(5, cfg(k=3)) as net:
            client = (await net.add(serve=False)).node
            attacker = (await net.add(serve=False)).node
            assert client is not None and attacker is not None
            rid = await client.registry.create_resource("bloated")
            rid_bytes = resource_id_from_text(rid)
            assert (await client.registry.register_service(rid, b"honest", "svc", ack=3)).ok
            await client.registry.settle()
            stored = (await attacker.registry.resolve(rid, ack=3))[0]
            replicas = await attacker.registry.routing.replica_set(rid_bytes, refresh=True)
            honest = next(iter(replicas))
            assert honest is not None
            # The honest record's bytes, as any peer can fetch them, with junk in the unsigned field.
            request = pb.GetEntriesRequest(resource_id=rid_bytes)
            reply = await attacker.registry.client.request(honest, pb.Message(get_entries=request))
            entry = pb.Entry.FromString(reply.get_entries_response.entries[0])
            entry.record.host_public_key = b"\x08\x01\x12\x20" + b"j" * (1 << 19)
            for replica in replicas:
                assert await _put(attacker, replica, rid_bytes, [entry.SerializeToString()]) == ["MALFORMED"]
            for node in net.nodes:
                records = await node.registry.resolve(rid, ack=3)
                assert [(r.service_id, r.value) for r in records] == [("svc", b"honest")]
            assert stored.service_id == "svc"


async def _raw_stream(src, dst):  # type: ignore[no-untyped-def]
    return await raw_stream(src.host, dst.host.get_id())


def _victim_and_attacker(net):  # type: ignore[no-untyped-def]
    """Node 0 and node 1 of `net`, the victim's registry stream budgets, the attacker's peer id."""
    victim, attacker = net.nodes[0], net.nodes[1]
    assert victim.registry.server is not None
    return victim, attacker, victim.registry.server.budgets, attacker.host.get_id().to_bytes()


async def test_one_peer_cannot_take_the_nodes_streams() -> None:
    """attacks.md §4: 9,998 kept-alive streams from one peer exhausted py-libp2p's stream
    semaphore shared by every protocol; now a peer holds at most `max_streams_per_peer`."""
    base = cfg(k=3)
    config = replace(base, limits=replace(base.limits, max_streams_per_peer=8))
    with trio.fail_after(120):
        async with network(3, config) as net:
            victim, attacker, budgets, attacker_id = _victim_and_attacker(net)
            streams = [await _raw_stream(attacker, victim) for _ in range(8)]
            with trio.fail_after(10):
                while budgets.streams_of(attacker_id) < 8:
                    await trio.sleep(0.01)
            for _ in range(4):
                # Beyond the budget a stream is reset as soon as it is negotiated: opening it
                # fails, or it ends at once.
                try:
                    extra = await _raw_stream(attacker, victim)
                except Exception:
                    continue
                assert await ended_within(extra, 2.0), "a stream beyond the budget is reset at once"
            assert budgets.streams_of(attacker_id) == 8
            rid = await net.nodes[2].registry.create_resource("still-serving")
            assert (await net.nodes[2].registry.register_service(rid, b"v", "svc", ack=3)).ok
            for stream in streams[:8]:
                await stream.reset()
            with trio.fail_after(10):
                while budgets.streams_of(attacker_id):
                    await trio.sleep(0.01)


async def test_streams_beyond_a_peers_bound_are_reset_before_negotiation() -> None:
    """attacks.md §4, (5a): py-libp2p negotiates every stream before a handler can refuse it, and
    negotiation was most of the ~3.7 ms a refused stream cost; mount's gate counts a peer's inbound
    streams of every protocol and resets one beyond the bound before negotiating it."""
    base = cfg(k=3)
    config = replace(base, limits=replace(base.limits, max_inbound_streams_per_peer=4))
    with trio.fail_after(120):
        async with network(3, config) as net:
            victim, attacker, budgets, attacker_id = _victim_and_attacker(net)
            gate = victim.registry.inbound_streams
            assert gate.streams_of(attacker_id) >= 1  # its pubsub stream
            held, refused = [], 0
            for _ in range(8):
                try:
                    held.append(await _raw_stream(attacker, victim))
                except Exception:  # reset while negotiating: the protocol was never agreed
                    refused += 1
            assert len(held) <= 3 and refused == 8 - len(held)
            assert gate.streams_of(attacker_id) <= 4
            assert budgets.streams_of(attacker_id) == len(held)  # the refused never reached the handler
            rid = await net.nodes[2].registry.create_resource("still-serving")
            assert (await net.nodes[2].registry.register_service(rid, b"v", "svc", ack=3)).ok
            for stream in held:
                await stream.reset()
            with trio.fail_after(10):
                while gate.streams_of(attacker_id) >= 4:
                    await trio.sleep(0.01)
            again = await _raw_stream(attacker, victim)  # its place is free again
            assert not await ended_within(again, 0.5)
            await again.reset()


async def test_frames_still_arriving_hold_bounded_memory() -> None:
    """attacks.md §4: 1,000 streams each holding 1 MiB - 1 B of a frame took 1.15 GB of RSS."""
    from registry_p2p.core.ids import uvarint

    with trio.fail_after(120):
        async with network(3, cfg(k=3)) as net:
            victim, attacker = net.nodes[0], net.nodes[1]
            assert victim.registry.server is not None
            budgets = victim.registry.server.budgets
            limit = victim.registry.config.limits.max_partial_bytes_per_peer
            attacker_id = attacker.host.get_id().to_bytes()
            streams = []
            for _ in range(6):
                stream = await _raw_stream(attacker, victim)
                await stream.write(uvarint((1 << 20) - 1) + b"\x0a")  # a frame announced, never completed
                streams.append(stream)
            ends = [await ended_within(stream, 2.0) for stream in streams]
            assert ends.count(True) == 6 - limit // ((1 << 20) - 1), ends
            assert 0 < budgets.bytes_of(attacker_id) <= limit
            for stream in streams:
                await stream.reset()
            with trio.fail_after(10):
                while budgets.bytes_of(attacker_id):
                    await trio.sleep(0.01)


async def test_bytes_answered_are_limited_not_only_requests() -> None:
    """attacks.md §5: a 41-byte GetEntries answered with 1 MiB amplified 25,000 times."""
    from registry_p2p.net.framing import FrameReader, encode_frame

    base = cfg(k=3)
    config = replace(base, limits=replace(base.limits, reply_bytes_per_second=16_384, reply_bytes_burst=65_536))
    with trio.fail_after(120):
        async with network(3, config) as net:
            victim, attacker = net.nodes[0], net.nodes[1]
            assert victim.store is not None
            rid_bytes = resource_id_from_text(await victim.registry.create_resource("big"))
            now = victim.registry.clock_ms()
            # Straight into the victim's store: this is about what its server answers, not replication.
            records = [
                build.make_record(victim.registry.key, rid_bytes, f"svc-{i}", b"v" * 1000, now) for i in range(40)
            ]
            _, results = victim.store.put_entries(rid_bytes, records, now)
            assert all(r.ok for r in results)
            stream = await _raw_stream(attacker, victim)
            reader = FrameReader(stream)
            request = encode_frame(pb.Message(get_entries=pb.GetEntriesRequest(resource_id=rid_bytes)))
            answered = 0
            limited = 0
            for _ in range(20):  # far under the request rate limit's burst of 200
                await stream.write(request)
                reply = await reader.read_message()
                assert reply is not None
                if reply.WhichOneof("body") == "error":
                    assert pb.Status.Name(reply.error.status) == "RATE_LIMITED"
                    limited += 1
                else:
                    answered += sum(len(e) for e in reply.get_entries_response.entries)
            assert limited > 0 and answered <= 65_536 + 16_384 * 5


async def test_a_watch_surfaces_only_what_replicas_announce() -> None:
    """attacks.md §2: an attacker's valid records gossiped straight to a watcher surfaced as 7,736
    events for records no replica held. Gossip is a hint: only replicas' announcements count."""
    from registry_p2p.net.notify import topic_of

    with trio.fail_after(120):
        async with network(7, cfg(k=3)) as net:
            client = (await net.add(serve=False)).node
            assert client is not None
            rid = await client.registry.create_resource("phantoms")
            rid_bytes = resource_id_from_text(rid)
            replicas = set(await client.registry.routing.replica_set(rid_bytes, refresh=True))
            outsiders = [n for n in net.nodes if n.host.get_id() not in replicas]
            watcher, attacker = outsiders[0], outsiders[1]
            async with watcher.registry.watch(rid) as events:
                from libp2p.peer.peerinfo import PeerInfo

                await attacker.host.connect(PeerInfo(watcher.host.get_id(), watcher.host.get_addrs()))
                with trio.fail_after(10):
                    await attacker.pubsub.wait_for_subscription(watcher.host.get_id(), topic_of(rid_bytes), timeout=10)
                notifier = watcher.registry.notifier
                assert notifier is not None
                ignored_before = notifier.ignored
                now = attacker.registry.clock_ms()
                for i in range(20):
                    phantom = build.make_record(create_new_key_pair().private_key, rid_bytes, f"phantom-{i}", b"x", now)
                    await attacker.pubsub.publish(topic_of(rid_bytes), phantom.encode())
                with trio.fail_after(10):
                    while notifier.ignored < ignored_before + 20:
                        await trio.sleep(0.01)
                assert (await client.registry.register_service(rid, b"real", "real", ack=3)).ok
                with trio.fail_after(5):
                    event = await events.__anext__()
                assert (event.kind, event.service_id) == ("registered", "real")
                with trio.move_on_after(0.3):
                    extra = await events.__anext__()
                    raise AssertionError(f"unexpected event {extra}")


async def test_a_node_serves_only_the_dht_namespaces_the_registry_needs() -> None:
    """attacks.md §3: 40,059 valid `/pk/` records filled py-libp2p's value store to its cap, and
    each PUT beyond blocked the event loop ~0.57 s."""
    import pytest
    from libp2p.records.utils import InvalidRecordType

    with trio.fail_after(60):
        async with network(2, cfg(k=2)) as net:
            validator = net.nodes[0].dht.validator
            assert validator.validator_by_key("/reg/x") is not None
            for key in ("/pk/x", "/ipns/x", "/anything/x"):
                assert validator.validator_by_key(key) is None
                with pytest.raises(InvalidRecordType):
                    validator.validate(key, b"\x08\x01\x12\x20" + b"k" * 32)


async def test_orphan_tombstones_do_not_weigh_on_resolves_and_a_tombstone_still_wins() -> None:
    """Attack (3) of issue 11 left 1,024 orphan tombstones in a resource, within its quota, and
    every later resolve read them all from every replica (4x slower). A resolve reads the
    replicas' records first and their tombstones only when the records disagree."""
    with trio.fail_after(120):
        async with network(4, cfg(k=3)) as net:
            client, attacker, rid, rid_bytes, replicas = await _honest_resource(net, "orphaned")
            key = create_new_key_pair().private_key
            host = peer_id_bytes_of(key)
            now = attacker.registry.clock_ms()
            orphans = [build.make_tombstone(key, rid_bytes, host, f"gone-{i}", now).encode() for i in range(300)]
            for replica in replicas:
                for start in range(0, len(orphans), 100):
                    assert set(await _put(attacker, replica, rid_bytes, orphans[start : start + 100])) == {"OK"}
            asked: list[bool] = []
            rpc = client.registry.ctx.rpc
            get_entries = rpc.get_entries

            async def recorded(*args: Any, include_tombstones: bool = True, **kwargs: Any) -> Any:
                asked.append(include_tombstones)
                return await get_entries(*args, include_tombstones=include_tombstones, **kwargs)

            rpc.get_entries = recorded  # type: ignore[method-assign]
            records = await client.registry.resolve(rid, ack=3)
            assert {r.service_id for r in records} == {f"honest-{i}" for i in range(HONEST)}
            assert asked == [False, False, False], asked  # one page of records from each replica
            # The honest issuer's tombstone on one replica only: the records now disagree, the
            # tombstones are read, and the deletion wins as it always did.
            tombstone = build.make_tombstone(
                client.registry.ctx.key, rid_bytes, peer_id_bytes_of(client.registry.ctx.key), "honest-0",
                client.registry.clock_ms(), client.registry.ctx.limits,
            )  # fmt: skip
            assert await _put(attacker, replicas[0], rid_bytes, [tombstone.encode()]) == ["OK"]
            asked.clear()
            records = await client.registry.resolve(rid, ack=3)
            assert {r.service_id for r in records} == {f"honest-{i}" for i in range(1, HONEST)}
            assert asked.count(True) == 3, asked
