"""/rendezvous/1.0.0 between Python registry nodes and real clients.

Rust: rust-libp2p's own client (libp2p-rendezvous 0.18, unmodified), which signs peer records in
its older encoding (domain "libp2p-routing-state") and decodes only that one. Go: no Go module
that follows the spec is served by the module proxy, so the Go peer's client is our spec-exact
one on go-libp2p's record envelopes (interop/go/rendezvous), reading both encodings and signing
either (`encoding: legacy` for a Go peer that Rust clients must discover).
"""

from __future__ import annotations

import base64

import pytest
from libp2p.crypto.ed25519 import create_new_key_pair

from registry_p2p.adapter.keys import rendezvous_key
from registry_p2p.core import build
from registry_p2p.core import rendezvous as rv
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.node import Node
from registry_p2p.pb import rendezvous_pb2 as rpb

from tests.net.harness import wait_for

from .conftest import Mesh
from .peers import ExternalPeer, PeerError

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240, func_only=True)]


def point(node: Node) -> str:
    """The rendezvous point's address, /p2p/ included."""
    return node.addrs[0]


async def discover(peer: ExternalPeer, node: Node, ns: str, **fields: object) -> tuple[list[dict[str, object]], str]:
    reply = await peer.cmd("rv_discover", addr=point(node), ns=ns, **fields)
    return list(reply["registrations"]), str(reply["cookie_base64"])


def legacy_envelope(key) -> bytes:  # type: ignore[no-untyped-def]
    """A peer record in rust-libp2p's encoding, signed by `key`."""
    payload = rpb.PeerRecord(
        peer_id=peer_id_bytes_of(key), seq=1, addresses=[rpb.PeerRecord.AddressInfo(multiaddr=b"\x04\x7f\x00\x00\x01")]
    ).SerializeToString()
    return rpb.Envelope(
        public_key=key.get_public_key().serialize(),
        payload_type=rv.LEGACY_PAYLOAD_TYPE,
        payload=payload,
        signature=key.sign(rv.envelope_signed_bytes(rv.LEGACY_PAYLOAD_TYPE, payload)),
    ).SerializeToString()


async def test_each_registers_the_other_discovers_elsewhere_and_after_the_node_stops(mesh: Mesh) -> None:
    a, b, c, d = mesh.py
    granted = await mesh.rust.cmd("rv_register", addr=point(a), ns="rv-rust", ttl=3 * 3600)
    assert granted["ttl"] == 3 * 3600
    regs, _ = await discover(mesh.go, b, "rv-rust")
    assert [r["peer_id"] for r in regs] == [mesh.rust.peer_id]
    assert regs[0]["ns"] == "rv-rust" and 0 < int(regs[0]["ttl"]) <= 3 * 3600  # type: ignore[call-overload]
    # And the other way: Go registers at the same node in the encoding Rust reads; Rust finds it.
    await mesh.go.cmd("rv_register", addr=point(a), ns="rv-go-legacy", encoding="legacy")
    legacy, _ = await discover(mesh.rust, b, "rv-go-legacy")
    assert [r["peer_id"] for r in legacy] == [mesh.go.peer_id]
    # The Go peer registers through another node; Go and Python see it at a third.
    assert (await mesh.go.cmd("rv_register", addr=point(b), ns="rv-go"))["ttl"] == rv.DEFAULT_TTL_S
    regs_go, _ = await discover(mesh.go, c, "rv-go")
    assert [r["peer_id"] for r in regs_go] == [mesh.go.peer_id]
    await a.registry.settle()
    await mesh.net.stop(mesh.net.slot_of(a))
    for node in (c, d):
        after_go, _ = await discover(mesh.go, node, "rv-rust")
        after_rust, _ = await discover(mesh.rust, node, "rv-rust")
        assert [r["peer_id"] for r in after_go] == [r["peer_id"] for r in after_rust] == [mesh.rust.peer_id]
        assert after_go[0]["envelope_base64"] == after_rust[0]["envelope_base64"] == regs[0]["envelope_base64"]
        go_after, _ = await discover(mesh.go, node, "rv-go-legacy")
        rust_after, _ = await discover(mesh.rust, node, "rv-go-legacy")
        assert [r["peer_id"] for r in go_after] == [r["peer_id"] for r in rust_after] == [mesh.go.peer_id]
        assert go_after[0]["envelope_base64"] == rust_after[0]["envelope_base64"] == legacy[0]["envelope_base64"]
    # rust-libp2p 0.18 decodes only its own encoding: a DISCOVER answer holding a spec-encoded
    # envelope (Go's) fails in its decoder, whatever the server does (it returns envelopes as signed).
    with pytest.raises(PeerError, match="rv_discover: Unavailable"):
        await discover(mesh.rust, c, "rv-go")
    assert [r["peer_id"] for r in (await discover(mesh.go, c, "rv-go"))[0]] == [mesh.go.peer_id]
    # UNREGISTER through yet another node removes the registration everywhere.
    server = d.registry.rendezvous_server
    assert server is not None
    await mesh.rust.cmd("rv_unregister", addr=point(d), ns="rv-rust")
    # UNREGISTER has no reply, so the client cannot know when it was applied: the point's count
    # of handled ones says (its handler counts it once the tombstone is written).
    await wait_for(lambda: server.stats.requests.get(("UNREGISTER", "OK"), 0) == 1)
    await d.registry.settle()
    for node in (b, c):
        gone, _ = await discover(mesh.go, node, "rv-rust")
        assert gone == []


async def test_go_and_rust_page_through_1000_registrations_with_cookies(mesh: Mesh) -> None:
    writer, reader = mesh.py[0], mesh.py[1]
    service = writer.registry.rendezvous
    assert service is not None
    resource = service.resource("crowd")
    now = writer.registry.clock_ms()
    expected: set[str] = set()
    raws = []
    for i in range(1000):  # 1,000 peers, each signing its own envelope (rust-libp2p's encoding)
        key = create_new_key_pair().private_key
        peer = peer_id_bytes_of(key)
        expected.add(rv.service_id_of(peer))
        record = build.make_record(rendezvous_key(), resource.id, rv.service_id_of(peer), legacy_envelope(key), now - i)
        raws.append(record.encode())
    for start in range(0, 1000, 100):  # requests of 100: each well within the timeout
        written = await writer.registry.writes.write(resource, raws[start : start + 100], 2, extra=[])
        assert written.acks >= 2, written.errors
    await writer.registry.settle()
    for client in (mesh.go, mesh.rust):
        seen: list[str] = []
        cookie = ""
        for _ in range(30):
            regs, cookie = await discover(client, reader, "crowd", limit=100, cookie_base64=cookie)
            assert len(regs) <= 100
            if not regs:
                break
            seen.extend(str(r["peer_id"]) for r in regs)
        assert len(seen) == len(set(seen)) == 1000, f"{client.name}: duplicates or misses"
        assert set(seen) == expected
        assert base64.b64decode(cookie)[8:] == b"crowd"
