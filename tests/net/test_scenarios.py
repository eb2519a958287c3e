"""Fluence's end-to-end scenarios on 6 nodes, asked through a light client that stores nothing."""

from __future__ import annotations

import pytest
import trio

from registry_p2p import resource_id
from registry_p2p.core.errors import RegistryError, Status

from .harness import cfg, network


async def test_create_get_register_resolve_unregister() -> None:
    with trio.fail_after(90):
        async with network(6, cfg(k=5)) as net:
            client = (await net.add(serve=False)).node
            rid = await client.registry.create_resource("some-label")
            assert rid == resource_id("some-label", client.peer_id)

            other = net.nodes[3]
            res = await other.registry.get_resource(rid)
            assert res is not None
            assert (res.id, res.label, res.owner) == (rid, "some-label", client.peer_id)

            out = await client.registry.register_service(rid, value=b"some_value", service_id="id")
            assert out.ok and out.acks >= 1, out
            records = await net.nodes[1].registry.resolve(rid, ack=1)
            assert len(records) == 1
            rec = records[0]
            assert rec.resource_id == rid
            assert rec.issuer == rec.host == client.peer_id
            assert rec.service_id == "id" and rec.value == b"some_value"

            out = await client.registry.unregister_service(rid, service_id="id")
            assert out.ok, out
            after = await net.nodes[2].registry.resolve(rid, ack=2)
            assert after == [] and isinstance(after, list)


async def test_unknown_resource_is_none_and_writes_refused() -> None:
    with trio.fail_after(60):
        async with network(3, cfg(k=3)) as net:
            node = net.nodes[0]
            missing = resource_id("never-created", node.peer_id)
            assert await node.registry.get_resource(missing) is None
            with pytest.raises(RegistryError) as err:
                await node.registry.register_service(missing, b"v", "s")
            assert err.value.status is Status.UNKNOWN_RESOURCE
            with pytest.raises(RegistryError) as err:
                await node.registry.resolve("not-a-resource-id")
            assert err.value.status is Status.MALFORMED


@pytest.mark.parametrize("policy", ["open", "allow-list"])
async def test_remote_host_that_allows(policy: str) -> None:
    with trio.fail_after(90):
        async with network(5, cfg(k=5)) as net:
            client_slot = await net.add(serve=False)
            client = client_slot.node
            assert client is not None
            from libp2p.peer.id import ID

            allowed = frozenset({ID.from_base58(client.peer_id).to_bytes()})
            host_slot = await net.add(config=cfg(k=5, host_policy=policy, allowed_issuers=allowed))
            host = host_slot.node
            assert host is not None
            rid = await client.registry.create_resource("remote")
            out = await client.registry.register_service(rid, b"hosted", "id", peer_id=host.peer_id)
            assert out.ok, out
            records = await net.nodes[0].registry.resolve(rid, ack=2)
            assert len(records) == 1
            assert records[0].issuer == client.peer_id and records[0].host == host.peer_id
            assert records[0].addrs, "the host signs its own addresses into the record"
            # The host keeps the record it countersigned, to renew it.
            assert host.store is not None
            assert len(host.store.live_records(_rid_bytes(rid), _now())) == 1

            out = await client.registry.unregister_service(rid, "id", peer_id=host.peer_id)
            assert out.ok, out
            assert await net.nodes[1].registry.resolve(rid, ack=2) == []
            assert host.store.live_records(_rid_bytes(rid), _now()) == []


async def test_remote_host_that_refuses() -> None:
    with trio.fail_after(60):
        async with network(4, cfg(k=4)) as net:
            client = (await net.add(serve=False)).node
            assert client is not None
            rid = await client.registry.create_resource("refused")
            host = net.nodes[2]  # default policy: self-only
            with pytest.raises(RegistryError) as err:
                await client.registry.register_service(rid, b"v", "id", peer_id=host.peer_id)
            assert err.value.status is Status.NOT_AUTHORIZED
            assert await net.nodes[0].registry.resolve(rid, ack=1) == []


def _rid_bytes(rid: str) -> bytes:
    from registry_p2p.core.ids import resource_id_from_text

    return resource_id_from_text(rid)


def _now() -> int:
    import time

    return int(time.time() * 1000)
