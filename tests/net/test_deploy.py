"""What a first deployment runs into: a port already in use, wildcard listen addresses, and a
node whose bootstrap peers are down when it starts."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest
import trio
from multiaddr import Multiaddr

from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.net.addrs import advertised, is_wildcard
from registry_p2p.node import NodeError, open_node

from .harness import LOOPBACK, cfg, network, settle, wait_for


def _listener_without_reuseport() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


async def test_a_port_in_use_is_refused_with_one_clear_error() -> None:
    with _listener_without_reuseport() as taken:
        port = taken.getsockname()[1]
        with pytest.raises(NodeError, match=rf"cannot listen on /ip4/127.0.0.1/tcp/{port}: address already in use"):
            async with open_node([f"/ip4/127.0.0.1/tcp/{port}"], config=cfg()):
                pass


async def test_a_port_held_by_another_node_is_refused_and_the_first_keeps_it() -> None:
    with trio.fail_after(30):
        async with open_node([LOOPBACK], config=cfg()) as first:
            port = int(str(first.host.get_transport_addrs()[0]).split("/tcp/")[1])
            with pytest.raises(NodeError, match="address already in use"):
                async with open_node([f"/ip4/0.0.0.0/tcp/{port}"], config=cfg()):
                    pass
            # The first node still owns the port alone: a client reaches it there.
            async with open_node([LOOPBACK], [first.addrs[0]], config=cfg(), serve=False) as client:
                assert first.host.get_id() in client.host.get_connected_peers()


async def test_a_restart_on_the_same_port_is_not_refused() -> None:
    with trio.fail_after(30):
        async with open_node([LOOPBACK], config=cfg()) as peer:
            async with open_node([LOOPBACK], [peer.addrs[0]], config=cfg()) as node:
                port = int(str(node.host.get_transport_addrs()[0]).split("/tcp/")[1])
            # Connections of the first run are in TIME_WAIT now; the port is free all the same.
            async with open_node([f"/ip4/127.0.0.1/tcp/{port}"], [peer.addrs[0]], config=cfg()) as again:
                assert str(again.host.get_transport_addrs()[0]).endswith(f"/tcp/{port}")


def test_wildcards_expand_to_interfaces_and_announce_replaces_everything() -> None:
    ips = {"ip4": ["127.0.0.1", "10.1.2.3"], "ip6": ["::1"]}
    got = advertised([Multiaddr("/ip4/0.0.0.0/tcp/4600"), Multiaddr("/ip6/::/tcp/4600")], ips=ips)
    assert [str(a) for a in got] == ["/ip4/127.0.0.1/tcp/4600", "/ip4/10.1.2.3/tcp/4600", "/ip6/::1/tcp/4600"]
    plain = [Multiaddr("/ip4/127.0.0.1/tcp/1"), Multiaddr("/ip4/127.0.0.1/tcp/1")]
    assert advertised(plain, ips=ips) == plain[:1]
    public = [Multiaddr("/dns4/registry.example/tcp/4600")]
    assert advertised([Multiaddr("/ip4/0.0.0.0/tcp/4600")], public, ips=ips) == public


async def test_a_node_on_a_wildcard_advertises_dialable_addresses() -> None:
    """Records, identify and the node's own address list carry no 0.0.0.0: each address is one of
    this machine's, and a peer reaches the host through a record's addrs (execute_on_resource).
    Only the loopback addresses are dialed: tests contact nothing outside loopback."""
    with trio.fail_after(60):
        async with open_node(["/ip4/0.0.0.0/tcp/0"], config=cfg()) as host:
            assert host.addrs and not any("/0.0.0.0/" in a for a in host.addrs)
            rid = await host.registry.create_resource("wild")
            assert (await host.registry.register_service(rid, b"v", "svc")).ok
            [record] = await host.registry.resolve(rid)
            addrs = [Multiaddr(a) for a in record.addrs]
            assert addrs and not any(is_wildcard(a) for a in addrs)
            assert any(str(a).startswith("/ip4/127.0.0.1/") for a in addrs)
            port = str(host.host.get_transport_addrs()[0]).split("/tcp/")[1]
            assert all(str(a).endswith(f"/tcp/{port}") for a in addrs)
            # Another node that knows nothing of the host but the record dials it through its addrs.
            async with open_node([LOOPBACK], config=cfg()) as other:
                other.host.get_peerstore().clear_addrs(host.host.get_id())
                loopback = tuple(str(a) for a in addrs if str(a).startswith("/ip4/127.0.0.1/"))
                await other.registry._dial_record_host(replace(record, addrs=loopback))
                assert host.host.get_id() in other.host.get_connected_peers()
                # What the other node learned through identify is dialable too.
                learned = [str(a) for a in other.host.get_peerstore().addrs(host.host.get_id())]
                assert learned and not any("/0.0.0.0/" in a for a in learned)


async def test_announce_replaces_the_advertised_addresses() -> None:
    with trio.fail_after(30):
        async with open_node([LOOPBACK], config=cfg(), announce=["/ip4/127.0.0.1/tcp/9"]) as host:
            assert host.addrs == [f"/ip4/127.0.0.1/tcp/9/p2p/{host.peer_id}"]
            rid = await host.registry.create_resource("announced")
            assert (await host.registry.register_service(rid, b"v", "svc")).ok
            [record] = await host.registry.resolve(rid)
            assert list(record.addrs) == ["/ip4/127.0.0.1/tcp/9"]


async def test_a_node_whose_bootstrap_peer_was_down_joins_when_it_returns(tmp_path: Path) -> None:
    """The cause of the churn test's lost and resurrected entries: a replica restarted while its
    bootstrap peer was down stayed alone for good, and kept answering from a stale store."""
    with trio.fail_after(90):
        async with network(3, cfg(k=5), tmp=tmp_path, persistent=True) as net:
            await settle(net.nodes)
            boot_slot = net.slots[0]
            boot_addr = net.nodes[0].addrs[0]
            await net.stop(boot_slot)
            # The newcomer's only bootstrap peer is down: it starts alone.
            newcomer = await net.add(persistent=True)
            await net.stop(newcomer)
            await net.start(newcomer, bootstrap=[boot_addr])
            assert newcomer.node is not None
            assert not newcomer.node.host.get_connected_peers()
            await net.start(boot_slot, bootstrap=[net.nodes[1].addrs[0]])
            assert boot_slot.node is not None
            boot_id = boot_slot.node.host.get_id()
            node = newcomer.node
            await wait_for(lambda: boot_id in node.host.get_connected_peers(), timeout=15)
            rid = await net.nodes[1].registry.create_resource("rejoined")
            everyone = {n.host.get_id() for n in net.nodes}
            replicas = await node.registry.routing.replica_set(resource_id_from_text(rid), refresh=True)
            assert set(replicas) == everyone


async def test_a_stopped_node_frees_its_port_even_when_closing_a_connection_hangs() -> None:
    """A node restarted on its port was refused (address already in use, seen in a CI run): py-libp2p's
    swarm.close() closes the connections one by one and only then its listeners, so a close
    that hung, or many connections under load, outlasted the 5 s that stopping may take and
    left the port listening. The listeners are closed first now."""
    with trio.fail_after(60):
        async with open_node([LOOPBACK], config=cfg()) as peer:
            node_cm = open_node([LOOPBACK], [peer.addrs[0]], config=cfg())
            node = await node_cm.__aenter__()
            port = int(str(node.host.get_transport_addrs()[0]).split("/tcp/")[1])
            [conn] = node.host.get_network().connections[peer.host.get_id()]

            async def hangs() -> None:
                await trio.sleep(30)

            conn.close = hangs  # a connection whose close never finishes
            await node_cm.__aexit__(None, None, None)
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(("127.0.0.1", port))  # EADDRINUSE if the listener were still open
