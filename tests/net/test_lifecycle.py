"""Most py-libp2p workarounds (registry_p2p/adapter/) have a test here; and nodes leave nothing behind."""

from __future__ import annotations

import gc
import logging
import os
import threading

import pytest
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.network.exceptions import SwarmException
from libp2p.peer.peerinfo import PeerInfo
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from multiaddr import Multiaddr

from registry_p2p.adapter.dht_values import fresh_get_value
from registry_p2p.adapter.dialing import NEGATIVE_DIAL_CACHE_S
from registry_p2p.core import build
from registry_p2p.net.client import PeerUnavailable
from registry_p2p.net.routing import dht_key
from registry_p2p.node import NodeError, open_node
from registry_p2p.pb import registry_pb2 as pb

from .harness import LOOPBACK, cfg, network, wait_for


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def port_accepts(port: int) -> bool:
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
    except OSError:
        return False
    await stream.aclose()
    return True


def tcp_port(node) -> int:  # type: ignore[no-untyped-def]
    return int(str(node.host.get_transport_addrs()[0]).split("/tcp/")[1].split("/")[0])


async def test_twenty_start_stop_cycles_leave_nothing_behind() -> None:
    with trio.fail_after(240):
        async with open_node([LOOPBACK], config=cfg()) as peer:
            boot = peer.addrs[0]
            # Warm up once: imports, caches and the first connection allocate for good.
            async with open_node([LOOPBACK], [boot], config=cfg()):
                pass
            gc.collect()
            fds, threads = open_fds(), threading.active_count()
            ports = []
            for _ in range(20):
                async with open_node([LOOPBACK], [boot], config=cfg()) as node:
                    ports.append(tcp_port(node))
                    assert await port_accepts(ports[-1])
            gc.collect()
            for port in ports:
                assert not await port_accepts(port), f"port {port} still listening after the node stopped"
            assert threading.active_count() <= threads, "a thread outlived its node (the pubsub sweeper?)"
            assert open_fds() <= fds + 2, f"file descriptors grew from {fds} to {open_fds()}"


async def test_dials_take_milliseconds_not_250() -> None:
    async with network(2, cfg()) as net:
        a, b = net.nodes
        await a.host.get_network().close_peer(b.host.get_id())
        started = trio.current_time()
        await a.host.connect(PeerInfo(b.host.get_id(), b.host.get_transport_addrs()))
        assert trio.current_time() - started < 0.2


async def test_noise_only_refuses_plaintext() -> None:
    async with open_node([LOOPBACK], config=cfg()) as node:
        key_pair = create_new_key_pair()
        plain = new_host(key_pair=key_pair, sec_opt={PLAINTEXT_PROTOCOL_ID: InsecureTransport(key_pair)})
        async with plain.run([Multiaddr(LOOPBACK)]):
            with pytest.raises(SwarmException), trio.fail_after(15):
                await plain.connect(PeerInfo(node.host.get_id(), node.host.get_transport_addrs()))
            await plain.close()


async def test_connecting_adds_the_peer_to_the_routing_table() -> None:
    async with open_node([LOOPBACK], config=cfg()) as a, open_node([LOOPBACK], config=cfg()) as b:
        await a.host.connect(PeerInfo(b.host.get_id(), b.host.get_transport_addrs()))
        await wait_for(lambda: b.dht.routing_table.peer_in_table(a.host.get_id()), timeout=10)
        await wait_for(lambda: a.dht.routing_table.peer_in_table(b.host.get_id()), timeout=10)


async def test_fresh_get_value_does_not_return_a_stale_local_copy() -> None:
    async with network(4, cfg()) as net:
        owner, reader = net.nodes[1], net.nodes[2]
        first = build.make_resource(owner.registry.key, "fresh", 1_000)
        newer = build.make_resource(owner.registry.key, "fresh", 2_000)
        key = dht_key(first.id)
        await owner.dht.put_value(key, first.encode())
        assert await fresh_get_value(reader.dht, key) == first.encode()
        await owner.dht.put_value(key, newer.encode())
        assert await fresh_get_value(reader.dht, key) == newer.encode()


async def test_a_request_to_a_departed_peer_fails_fast() -> None:
    """py-libp2p keeps a half-dead connection after its peer leaves; streams on it would hang."""
    async with network(3, cfg()) as net:
        a, b_slot = net.nodes[0], net.slots[1]
        assert b_slot.node is not None
        b_id = b_slot.node.host.get_id()
        request = pb.Message(get_resource=pb.GetResourceRequest(resource_id=b"x" * 32))
        await a.registry.client.request(b_id, request)
        await net.stop(b_slot)
        started = trio.current_time()
        with pytest.raises(PeerUnavailable):
            await a.registry.client.request(b_id, request, timeout=20)
        assert trio.current_time() - started < 6


async def test_a_stopped_node_closes_its_connections_so_peers_see_it_leave() -> None:
    """Cancelled connection tasks mark their SwarmConn closed before closing the muxer, so
    swarm.close() skipped them and peers kept a half-dead connection (close_host closes each)."""
    async with network(3, cfg()) as net:
        a, b_slot = net.nodes[0], net.slots[1]
        assert b_slot.node is not None
        b_id = b_slot.node.host.get_id()
        await a.registry.client.request(b_id, pb.Message(get_resource=pb.GetResourceRequest(resource_id=b"x" * 32)))
        assert b_id in a.host.get_connected_peers()
        await net.stop(b_slot)
        await wait_for(lambda: b_id not in a.host.get_connected_peers(), timeout=1.0, poll=0.01)


async def test_a_dial_to_a_departed_peer_is_not_retried_for_seconds() -> None:
    """py-libp2p's default dial retries (3, with backoff) cost ~2.9 s per departed peer."""
    async with network(3, cfg()) as net:
        a, b_slot = net.nodes[0], net.slots[1]
        assert b_slot.node is not None
        b_info = PeerInfo(b_slot.node.host.get_id(), b_slot.node.host.get_addrs())
        await net.stop(b_slot)
        await wait_for(lambda: b_info.peer_id not in a.host.get_connected_peers(), timeout=1.0, poll=0.01)
        started = trio.current_time()
        with pytest.raises(SwarmException):
            await a.host.connect(b_info)
        assert trio.current_time() - started < 1.0


async def test_a_peer_that_failed_a_dial_is_dialed_again_once_it_is_back() -> None:
    """py-libp2p refuses to dial a peer for 60 s after one failed dial: a node restarting within
    seconds was shut out. quick_dial_retries shortens that to NEGATIVE_DIAL_CACHE_S."""
    with trio.fail_after(60):
        async with network(3, cfg()) as net:
            a, b_slot = net.nodes[0], net.slots[1]
            assert b_slot.node is not None
            b_id = b_slot.node.host.get_id()
            await net.stop(b_slot)
            await wait_for(lambda: b_id not in a.host.get_connected_peers(), timeout=1.0, poll=0.01)
            with pytest.raises(SwarmException):
                await a.host.connect(PeerInfo(b_id, a.host.get_peerstore().addrs(b_id)))
            failed_at = trio.current_time()
            await net.start(b_slot)
            assert b_slot.node is not None
            b_info = PeerInfo(b_id, b_slot.node.host.get_addrs())
            await a.host.get_network().close_peer(b_id)  # b dialled a on start: dial afresh
            await trio.sleep_until(failed_at + NEGATIVE_DIAL_CACHE_S + 0.5)
            await a.host.connect(b_info)
            assert b_id in a.host.get_connected_peers()


async def test_fifty_changes_at_once_all_reach_a_watcher() -> None:
    """Gossipsub's default spam protection silently drops more than 10 messages/s per peer and topic."""
    with trio.fail_after(120):
        async with network(5, cfg(k=3)) as net:
            client = (await net.add(serve=False)).node
            assert client is not None
            rid = await client.registry.create_resource("burst")
            seen: set[str] = set()
            async with net.nodes[4].registry.watch(rid) as events:
                async with trio.open_nursery() as nursery:
                    for i in range(50):
                        nursery.start_soon(client.registry.register_service, rid, b"v", f"svc-{i}")
                with trio.fail_after(15):
                    async for event in events:
                        seen.add(event.service_id)
                        if len(seen) == 50:
                            break


def test_libp2p_logs_reach_our_handlers() -> None:
    from registry_p2p.adapter.logs import route_libp2p_logging

    route_libp2p_logging()
    assert logging.getLogger("libp2p").propagate


async def test_bad_addresses_fail_clearly() -> None:
    with pytest.raises(NodeError, match="not a multiaddr"):
        async with open_node(["not-an-address"]):
            pass
    with pytest.raises(NodeError, match="/p2p/"):
        async with open_node([LOOPBACK], ["/ip4/127.0.0.1/tcp/1"]):
            pass
