"""Hostile peers with valid identities (attacks.md), against a replica set on loopback.

Each test is one attack, scaled to this machine: what the attacker sends is valid and signed;
afterwards every honest record must still resolve from every node.
"""

from __future__ import annotations

from dataclasses import replace

import trio
from libp2p.crypto.ed25519 import create_new_key_pair

from registry_p2p.core import build
from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.pb import registry_pb2 as pb

from .harness import cfg, network

HONEST = 4


async def _put(client, peer, rid: bytes, raws: list[bytes]) -> list[str]:  # type: ignore[no-untyped-def]
    request = pb.PutEntriesRequest(resource_id=rid, entries=raws)
    reply = await client.registry.client.request(peer, pb.Message(put_entries=request))
    return [pb.Status.Name(r.status) for r in reply.put_entries_response.results]


async def test_free_identities_cannot_push_established_records_out() -> None:
    """attacks.md §1 of the issue: 300 fresh identities, one self-hosted record each, sent to every
    replica under the rate limit, used to evict all 4 honest records (256 places per resource)."""
    base = cfg(k=3)
    config = replace(base, limits=replace(base.limits, max_records_per_resource=32))  # 256, scaled
    with trio.fail_after(180):
        async with network(7, config) as net:
            client = (await net.add(serve=False)).node
            attacker = (await net.add(serve=False)).node
            assert client is not None and attacker is not None
            rid = await client.registry.create_resource("squatted")
            rid_bytes = resource_id_from_text(rid)
            for i in range(HONEST):
                assert (await client.registry.register_service(rid, b"honest", f"honest-{i}", ack=3)).ok
            await client.registry.settle()
            replicas = await attacker.registry.routing.replica_set(rid_bytes, refresh=True)
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
