"""Writes by a light client: they reach the replica set that its lookup found."""

from __future__ import annotations

import time
from typing import Any

import pytest
import trio
from libp2p.crypto.ed25519 import create_new_key_pair

from registry_p2p.core.ids import resource_id_from_text

from .harness import cfg, network


async def test_a_write_goes_to_the_replica_set_the_resource_was_fetched_from(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cause of a flaky CLI scenario: a client holding no copy of the resource looked the
    replica set up to fetch it, then again to write. A replica set smaller than K is not cached,
    and a lookup drops a peer whose FIND_NODE failed once, so the second lookup could lack a
    replica the first found: the tombstone never reached it, and it kept serving the record.
    Here the second lookup misses one replica on purpose; the write must still reach it."""
    with trio.fail_after(90):
        async with network(3, cfg(k=5)) as net:
            owner = net.nodes[0]
            rid = await owner.registry.create_resource("written")
            key_pair = create_new_key_pair()
            first = await net.add(key_pair, serve=False)
            assert first.node is not None
            out = await first.node.registry.register_service(rid, b"v", service_id="s", ack=3)
            assert out.ok, out
            await net.stop(first)

            # The same identity in a new process (as the CLI runs each command): no resource copy.
            client = (await net.add(key_pair, serve=False)).node
            assert client is not None
            missed = net.nodes[2].host.get_id()
            routing = client.registry.routing
            real_replica_set = routing.replica_set
            lookups = 0

            async def replica_set(resource_id: bytes, refresh: bool = False) -> Any:
                nonlocal lookups
                lookups += 1
                peers = await real_replica_set(resource_id, refresh)
                return peers if lookups == 1 else [p for p in peers if p != missed]

            monkeypatch.setattr(routing, "replica_set", replica_set)
            out = await client.registry.unregister_service(rid, service_id="s", ack=1)
            assert out.ok, out
            assert await client.registry.settle()
            now = int(time.time() * 1000)
            for node in net.nodes:
                if node.store is not None:
                    assert node.store.live_records(resource_id_from_text(rid), now) == [], node.peer_id
