"""Flood: one peer registers 100,000 records into one resource on one node.

The flooder signs its records in batches as it goes (each newer than the last, so that each
would evict an older one) and sends them straight to the victim as PutEntries batches. The
victim, the only replica, must keep its quotas (at most 256 live non-host records in the resource, at most 1024
per issuer), its memory must stay bounded, and other issuers must still register and resolve:
a trusted issuer's record (weight 10 in the victim's configuration) survives the whole flood,
and issuers registering after it are stored and resolved.
"""

from __future__ import annotations

import gc
from dataclasses import replace

import psutil
import trio
from libp2p.crypto.ed25519 import create_new_key_pair

from registry_p2p.core import build
from registry_p2p.core.errors import Status
from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.pb import registry_pb2 as pb
from tests.net.harness import cfg, network

from .helpers import Tally, all_stored_entries_valid

FLOOD = 100_000
BATCH = 1000
RSS_BOUND_MB = 128


def pages(node) -> int:  # type: ignore[no-untyped-def]
    return int(node.store._db.execute("PRAGMA page_count").fetchone()[0])


def non_host_live(store, rid: bytes, now: int) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for r in store.live_records(rid, now) if r.host != store.local_peer)


async def test_flood_of_100000_records_keeps_quotas_memory_and_service() -> None:
    tally = Tally("flood")
    process = psutil.Process()
    trusted_key = create_new_key_pair()
    trusted = peer_id_bytes_of(trusted_key.private_key)
    # The victim is the only node of the network (replica set of 1), so every write and read of
    # the other issuers goes through it, and nothing else in this process shares its work.
    victim_config = replace(cfg(k=1), weights={trusted: 10})
    with trio.fail_after(240):
        async with network(1, victim_config) as net:
            victim = net.nodes[0]
            trusted_client = (await net.add(trusted_key, serve=False)).node
            flooder = (await net.add(serve=False)).node
            bystander = (await net.add(serve=False)).node
            assert victim and trusted_client and flooder and bystander and victim.store is not None
            rid = await trusted_client.registry.create_resource("crowded")
            rid_bytes = resource_id_from_text(rid)
            out = await trusted_client.registry.register_service(rid, b"trusted", "trusted")
            assert out.ok
            out = await bystander.registry.register_service(rid, b"before", "before")
            assert out.ok
            await flooder.connect(victim.addrs[0])
            resource = victim.store.get_resource(rid_bytes)
            assert resource is not None
            victim_id = victim.host.get_id()

            gc.collect()
            rss_before = process.memory_info().rss
            pages_early = backlog = 0
            key = flooder.registry.key
            start_ms = flooder.registry.clock_ms() - FLOOD - 1000
            max_live = 0
            for first in range(0, FLOOD, BATCH):
                raws = [
                    build.make_record(key, rid_bytes, f"flood-{i}", b"x" * 64, start_ms + i).encode()
                    for i in range(first, min(first + BATCH, FLOOD))
                ]
                request = pb.PutEntriesRequest(resource_id=rid_bytes, entries=raws)
                reply = await flooder.registry.client.request(victim_id, pb.Message(put_entries=request), timeout=60)
                for result in reply.put_entries_response.results:
                    tally.add(f"flood_{Status(result.status).name}")
                tally.add("flood_sent", len(raws))
                if first % (10 * BATCH) == 0:
                    # Meanwhile, another issuer registers and a client resolves.
                    name = f"during-{first}"
                    out = await bystander.registry.register_service(rid, b"during", name, ack=1)
                    tally.add("others_registered" if out.ok else "others_refused")
                    records = {r.service_id for r in await bystander.registry.resolve(rid)}
                    tally.add("others_resolved", int("trusted" in records))
                    now = victim.registry.clock_ms()
                    max_live = max(max_live, non_host_live(victim.store, rid_bytes, now))
                if first == FLOOD // 10:
                    pages_early = pages(victim)
                if first + BATCH in (FLOOD // 10, FLOOD // 2):
                    gc.collect()
                    tally.add(
                        f"rss_delta_mb_at_{(first + BATCH) // 1000}k", (process.memory_info().rss - rss_before) // 2**20
                    )
                backlog = max(backlog, victim.registry._accepted_receive.statistics().current_buffer_used)
            gc.collect()
            rss_after = process.memory_info().rss
            # One process holds the victim, the flooder and the two other replicas (which receive
            # every record the victim accepts over gossip): RSS is theirs together. What grows with
            # the flood is capped (signature cache: 65,536 entries) or time-bounded (py-libp2p's
            # seen-message cache keeps each message id 120 s); the store itself must not grow.
            tally.add("rss_delta_mb_at_100k", (rss_after - rss_before) // 2**20)
            tally.add("change_feed_backlog_max_batches", backlog)
            tally.add("store_pages_at_10pct", pages_early)
            tally.add("store_pages_at_end", pages(victim))
            tally.add("signature_cache", len(victim.registry.verifier._valid))
            tally.add("pubsub_seen_cache", len(victim.pubsub.seen_messages.cache))
            tally.add("change_feed_backlog", victim.registry._accepted_receive.statistics().current_buffer_used)

            # The per-issuer quota: the flooder spreads over more resources on the same node.
            others = [build.make_resource(key, f"spill-{j}", flooder.registry.clock_ms()) for j in range(5)]
            spilled = 0
            for res in others:
                raws = [
                    build.make_record(key, res.id, f"spill-{i}", b"y", flooder.registry.clock_ms()).encode()
                    for i in range(250)
                ]
                request = pb.PutEntriesRequest(resource_id=res.id, entries=raws, resource=res.to_pb())
                reply = await flooder.registry.client.request(victim_id, pb.Message(put_entries=request), timeout=60)
                statuses = [Status(r.status) for r in reply.put_entries_response.results]
                spilled += statuses.count(Status.OK)
                tally.add("spill_LIMIT_EXCEEDED", statuses.count(Status.LIMIT_EXCEEDED))
            now = victim.registry.clock_ms()
            flooder_total = sum(
                1
                for res in (resource, *others)
                for r in victim.store.live_records(res.id, now)
                if r.issuer == flooder.registry.me
            )
            tally.add("flooder_records_on_victim", flooder_total)

            # After the flood: the trusted record survived, a newcomer registers and resolves.
            now = victim.registry.clock_ms()
            held = {r.service_id for r in victim.store.live_records(rid_bytes, now)}
            tally.add("trusted_survived", int("trusted" in held))
            out = await bystander.registry.register_service(rid, b"after", "after")
            tally.add("others_registered" if out.ok else "others_refused")
            resolved = {r.service_id for r in await bystander.registry.resolve(rid)}
            tally.add("lost", len({"trusted", "after"} - resolved))
            max_live = max(max_live, non_host_live(victim.store, rid_bytes, now))
            tally.add("max_live_non_host_in_resource", max_live)
            _, invalid = all_stored_entries_valid([victim])
            tally.add("invalid_stored", invalid)
    tally.report()
    assert tally["flood_sent"] == FLOOD
    assert max_live <= 256
    assert tally["flooder_records_on_victim"] <= 1024
    assert tally["spill_LIMIT_EXCEEDED"] > 0
    assert tally["trusted_survived"] == 1 and tally["lost"] == 0
    assert tally["others_refused"] == 0
    assert tally["store_pages_at_end"] <= 2 * tally["store_pages_at_10pct"]
    assert tally["signature_cache"] <= 65536
    assert tally["rss_delta_mb_at_100k"] < RSS_BOUND_MB
    assert tally["invalid_stored"] == 0
