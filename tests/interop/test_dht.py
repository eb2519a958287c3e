"""Python, Go and Rust peers form one Kademlia DHT and agree on the `reg` namespace validator."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
from libp2p.peer.id import ID

from registry_p2p.adapter.keys import make_verifier
from registry_p2p.core import DEFAULT_LIMITS, b58, build, decode_resource, resource_id_from_text
from registry_p2p.adapter.dht_values import fresh_get_value
from registry_p2p.net.routing import ResourceValidator, dht_key, distance
from registry_p2p.node import Node
from registry_p2p.pb import registry_pb2 as pb
from registry_p2p.registry import wall_clock_ms
from tests.net.harness import wait_for

from .conftest import K, Mesh

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240, func_only=True)]


async def test_one_dht_same_closest_peers(mesh: Mesh) -> None:
    everyone = mesh.peer_ids
    with trio.fail_after(90):
        for label in ("alpha", "beta", "gamma"):
            rid = hashlib.sha256(label.encode()).digest()
            count = len(everyone)
            answers: dict[str, list[str]] = {}
            for node in mesh.py:
                found = await node.dht.peer_routing.find_closest_peers_network(rid, count=count)
                answers[node.peer_id] = [str(p) for p in found]
            for peer in (mesh.go, mesh.rust):
                reply = await peer.cmd("closest_peers", resource_id=b58(rid), count=count)
                answers[peer.peer_id] = reply["peers"]
            for querier, got in answers.items():
                others = [p for p in everyone if p != querier]
                expected = sorted(others, key=lambda p: distance(rid, ID.from_base58(p)))
                known = [p for p in got if p in others]
                assert known == expected, (
                    f"{mesh.name(querier)} for {label}: got {[mesh.name(p) for p in got]}, "
                    f"want {[mesh.name(p) for p in expected]}"
                )


def _validator() -> ResourceValidator:
    return ResourceValidator(DEFAULT_LIMITS, make_verifier(), wall_clock_ms)


def _tamper(value: bytes) -> bytes:
    """The same resource with one bit of the owner's signature flipped."""
    message = pb.Resource.FromString(value)
    signature = bytearray(message.signature)
    signature[0] ^= 0x01
    message.signature = bytes(signature)
    return message.SerializeToString()


async def eventually(
    ask: Callable[[], Awaitable[dict[str, Any]]], done: Callable[[dict[str, Any]], bool], what: str, timeout: float = 10
) -> None:
    """Ask another process until its answer satisfies `done` (a state with no event to wait on)."""
    try:
        with trio.fail_after(timeout):
            while not done(await ask()):
                await trio.sleep(0.05)
    except trio.TooSlowError:
        raise AssertionError(f"not within {timeout} s: {what}") from None


def _stored(node: Node, key: str) -> bytes | None:
    record = node.dht.value_store.get(key.encode())
    return None if record is None else bytes(record.value)


async def test_resources_cross_validated_through_plain_dht(mesh: Mesh) -> None:
    go, rust = mesh.go, mesh.rust
    with trio.fail_after(150):
        # A resource created in Python: its standard PUT_VALUE reaches the Rust peer's store,
        # and Go and Rust fetch it with plain GET_VALUE and verify it.
        py0 = mesh.py[0]
        rid = await py0.registry.create_resource("made-in-python")
        key = dht_key(resource_id_from_text(rid))
        assert key.startswith("/reg/") and len(key) <= 49
        # create_resource writes the DHT copy in the background, once the replicas have it.
        await wait_for(lambda: _stored(py0, key) is not None, timeout=10)
        value = _stored(py0, key)
        assert value is not None
        for peer in (go, rust):
            got = await peer.cmd("dht_get", key=key)
            assert got["found"], f"{peer.name} did not find {key}"
            assert (got["value_hex"], got["label"], got["owner"]) == (value.hex(), "made-in-python", py0.peer_id)
        # py0's PUT_VALUE (a lookup on the /reg/ key, then a store at the closest peers) reached Rust.
        await eventually(lambda: rust.cmd("dht_local_get", key=key), lambda r: r["found"], "py's PUT_VALUE in Rust")

        # A value that only the Python nodes hold (put in their stores, never sent): the Go and
        # Rust GET_VALUE lookups must fetch it from them over the network.
        owner = mesh.py[2]
        only = build.make_resource(owner.host.get_private_key(), "python-stores-only", wall_clock_ms(), DEFAULT_LIMITS)
        only_key = dht_key(only.id)
        for node in mesh.py:
            node.dht.value_store.put(only_key.encode(), only.encode())
        assert not (await rust.cmd("dht_local_get", key=only_key))["found"]
        for peer in (rust, go):
            got = await peer.cmd("dht_get", key=only_key)
            assert got["found"] and got["value_hex"] == only.encode().hex(), f"{peer.name}: {got}"

        # Resources created in Go and in Rust: their standard PUT_VALUE reaches the Python
        # stores; Python verifies them with the registry validator after a fresh network GET,
        # and the other foreign peer verifies them too.
        made = {}
        for creator, verifier_peer in ((go, rust), (rust, go)):
            label = f"made-in-{creator.name}"
            reply = await creator.cmd("create_resource", label=label, ack=K)
            assert reply["success"] and reply["acks"] == K, reply
            assert reply.get("dht_stored", reply.get("dht_replicated")), reply
            key = dht_key(resource_id_from_text(reply["resource_id"]))
            holders = [i for i, node in enumerate(mesh.py) if _stored(node, key) is not None]
            assert holders == [0, 1, 2, 3], f"{creator.name}'s PUT_VALUE reached py{holders} only"
            reader = mesh.py[3]
            value = await fresh_get_value(reader.dht, key)
            assert value is not None, f"py3 cannot GET {creator.name}'s resource"
            _validator().validate(key, value)
            resource = decode_resource(value, DEFAULT_LIMITS)
            assert (resource.label, b58(resource.owner)) == (label, creator.peer_id)
            got = await verifier_peer.cmd("dht_get", key=key)
            assert got["found"] and got["value_hex"] == value.hex() and got["owner"] == creator.peer_id, got
            made[creator.name] = (key, value)

        # A tampered value is refused by all three validators, and by all three DHT puts.
        for key, value in made.values():
            bad = _tamper(value)
            with pytest.raises(ValueError):
                _validator().validate(key, bad)
            with pytest.raises(ValueError):
                await py0.dht.put_value(key, bad)
            for peer in (go, rust):
                verdict = await peer.cmd("validate_resource", key=key, value_hex=bad.hex())
                assert verdict["valid"] is False and "INVALID_SIGNATURE" in verdict["error"], verdict
                assert not (await peer.request("dht_put", key=key, value_hex=bad.hex()))["ok"]
                good = await peer.cmd("validate_resource", key=key, value_hex=value.hex())
                assert good["valid"] is True, good

        # A tampered value pushed over the wire (Rust bypasses its own validator): no Python
        # node and not Go stores it, and no GET returns it although Rust still serves it.
        forged = build.make_resource(owner.host.get_private_key(), "forged", wall_clock_ms(), DEFAULT_LIMITS)
        forged_key = dht_key(forged.id)
        pushed = await rust.cmd("dht_put_unchecked", key=forged_key, value_hex=_tamper(forged.encode()).hex())
        assert pushed["replicated"] is False, pushed
        assert [i for i, node in enumerate(mesh.py) if _stored(node, forged_key) is not None] == []
        assert (await go.cmd("dht_get", key=forged_key))["found"] is False
        assert await fresh_get_value(mesh.py[1].dht, forged_key) is None
