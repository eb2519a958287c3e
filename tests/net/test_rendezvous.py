"""/rendezvous/1.0.0 on loopback: federation over the registry, cookies, and bad input.

Clients are light registry nodes (their own identities) speaking the spec through
tests/net/rendezvous_client.py, with envelopes sealed by py-libp2p.
"""

from __future__ import annotations

import trio
from libp2p.crypto.ed25519 import create_new_key_pair

from registry_p2p.adapter.keys import rendezvous_key
from registry_p2p.core import build
from registry_p2p.core import rendezvous as rv
from registry_p2p.core.ids import b58
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.pb import rendezvous_pb2 as rpb

from . import rendezvous_client as rc
from .harness import cfg, network

M = rpb.Message


async def test_a_registration_is_discoverable_at_every_node_and_survives_the_node_it_was_sent_to() -> None:
    with trio.fail_after(120):
        async with network(4, cfg(k=3)) as net:
            a, b, c, _ = net.nodes
            alice = await net.extra(serve=False)
            bob = await net.extra(serve=False)
            signed = rc.envelope(alice.host.get_private_key())
            reply = await rc.ask_once(alice.host, a, rc.register("chat", signed))
            assert reply.type == M.REGISTER_RESPONSE and rc.status(reply) == "OK"
            assert reply.registerResponse.ttl == rv.DEFAULT_TTL_S
            # The watch of the namespace's resource sees the registration as a record.
            rid = b58(rv.namespace_resource_id("chat"))
            found = await rc.ask_once(bob.host, b, rc.discover("chat"))
            assert rc.status(found) == "OK" and found.discoverResponse.HasField("cookie")
            regs = found.discoverResponse.registrations
            assert [r.signedPeerRecord for r in regs] == [signed]  # byte for byte
            assert regs[0].ns == "chat" and 0 < regs[0].ttl <= rv.DEFAULT_TTL_S
            async with bob.registry.watch(rid) as events:
                with trio.fail_after(10):
                    first = await events.__anext__()
            assert first.kind == "registered" and first.service_id == alice.peer_id
            await net.stop(net.slot_of(a))
            for point in (b, c):
                again = await rc.ask_once(bob.host, point, rc.discover("chat"))
                assert [r.signedPeerRecord for r in again.discoverResponse.registrations] == [signed]
            # UNREGISTER at another node removes it everywhere; it has no reply.
            s = await rc.session(alice.host, c)
            await s.send(rc.unregister("chat"))
            after = await s.ask(rc.discover("chat"))  # same stream: answered after the unregister
            assert list(after.discoverResponse.registrations) == []
            await s.close()
            await c.registry.settle()
            gone = await rc.ask_once(bob.host, b, rc.discover("chat"))
            assert list(gone.discoverResponse.registrations) == []


async def test_cookies_page_through_a_thousand_registrations_at_another_node_then_poll() -> None:
    with trio.fail_after(180):
        async with network(3, cfg(k=3)) as net:
            a, b, _ = net.nodes
            reader = await net.extra(serve=False)
            service = a.registry.rendezvous
            assert service is not None
            resource = service.resource("crowd")
            now = a.registry.clock_ms()
            key = rendezvous_key()
            peers: dict[bytes, bytes] = {}
            raws = []
            for i in range(1000):  # 1,000 peers, each its own fresh key signing its envelope
                peer_key = create_new_key_pair().private_key
                signed = rc.envelope(peer_key)
                peer = peer_id_bytes_of(peer_key)
                peers[signed] = peer
                record = build.make_record(key, resource.id, rv.service_id_of(peer), signed, now + i % 7, 7200)
                raws.append(record.encode())
            result = await a.registry.writes.write(resource, raws, 3, extra=[])
            assert result.acks == 3
            seen: list[bytes] = []
            cookie: bytes | None = None
            pages = 0
            s = await rc.session(reader.host, b)  # not a node the registrations were sent to first
            while True:
                reply = await s.ask(rc.discover("crowd", limit=64, cookie=cookie))
                assert rc.status(reply) == "OK"
                got = [r.signedPeerRecord for r in reply.discoverResponse.registrations]
                assert len(got) <= 64
                cookie = reply.discoverResponse.cookie
                if not got:
                    break
                seen.extend(got)
                pages += 1
            assert len(seen) == len(set(seen)) == 1000, "duplicates or misses"
            assert set(seen) == set(peers)
            assert pages >= 1000 // 64
            # The last cookie polls: only what is registered afterwards comes back.
            late = rc.envelope(reader.host.get_private_key())
            assert rc.status(await s.ask(rc.register("crowd", late))) == "OK"
            polled = await s.ask(rc.discover("crowd", cookie=cookie))
            assert [r.signedPeerRecord for r in polled.discoverResponse.registrations] == [late]
            await s.close()
