"""The registry mounted into applications built with py-libp2p's own constructors and defaults.

Each application makes its host, DHT and gossipsub the way py-libp2p's documentation shows,
joins through one bootstrap peer (connect + add_peer), then mounts the registry: everything the
registry needs must come from `mount`, on the objects it is given."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.kad_dht import DHTMode, KadDHT
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service
from multiaddr import Multiaddr

import registry_p2p
from registry_p2p.adapter.shutdown import close_host
from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.registry import Registry

APPS = 8


@dataclass
class App:
    host: Any
    dht: Any
    pubsub: Any
    registry: Registry
    cancel: trio.CancelScope
    gone: trio.Event


@asynccontextmanager
async def default_stack(serve: bool = True, key_pair: Any = None, port: int = 0) -> AsyncIterator[tuple[Any, Any, Any]]:
    """A host, DHT and gossipsub as py-libp2p's examples build them, with every default, running."""
    listen = [Multiaddr(f"/ip4/127.0.0.1/tcp/{port}")]
    host = new_host(key_pair=key_pair or create_new_key_pair(), listen_addrs=listen)
    dht = KadDHT(host, DHTMode.SERVER if serve else DHTMode.CLIENT)
    router = GossipSub([PROTOCOL_ID_V11, PROTOCOL_ID], degree=6, degree_low=4, degree_high=12)
    pubsub = Pubsub(host, router)
    try:
        async with (
            host.run(listen),
            background_trio_service(dht),
            background_trio_service(pubsub),
            background_trio_service(router),
        ):
            await pubsub.wait_until_ready()
            yield host, dht, pubsub
    finally:
        pubsub.seen_messages.stop()
        # An application that leaves ends its process, and the kernel closes its sockets. In
        # one process, py-libp2p's host.close() under cancellation leaves them half open (its
        # peers' streams then hang): close_host closes them as the kernel would.
        await close_host(host)


async def run_app(
    bootstrap: str | None, serve: bool, rendezvous: bool = False, task_status: Any = trio.TASK_STATUS_IGNORED
) -> None:
    """An application as py-libp2p's examples build one, joined through one peer, registry mounted."""
    gone = trio.Event()
    with trio.CancelScope() as cancel:
        try:
            async with default_stack(serve) as (host, dht, pubsub):
                if bootstrap is not None:
                    info = info_from_p2p_addr(Multiaddr(bootstrap))
                    await host.connect(info)
                    await dht.add_peer(info.peer_id)
                async with registry_p2p.mount(host, dht, pubsub, serve=serve, rendezvous=rendezvous) as registry:
                    task_status.started(App(host, dht, pubsub, registry, cancel, gone))
                    await trio.sleep_forever()
        finally:
            gone.set()


@asynccontextmanager
async def applications(n: int, rendezvous: bool = False) -> AsyncIterator[tuple[trio.Nursery, list[App]]]:
    async with trio.open_nursery() as nursery:
        first: App = await nursery.start(run_app, None, True, rendezvous)
        boot = str(first.host.get_addrs()[0])
        apps = [first]
        for _ in range(n - 1):
            apps.append(await nursery.start(run_app, boot, True, rendezvous))
        try:
            yield nursery, apps
        finally:
            nursery.cancel_scope.cancel()


async def test_eight_default_applications_mount_a_working_registry() -> None:
    with trio.fail_after(120):
        async with applications(APPS) as (nursery, apps):
            everyone = {a.host.get_id() for a in apps}
            owner = apps[0].registry
            rid = await owner.create_resource("mounted")
            rid_bytes = resource_id_from_text(rid)
            for app in apps:
                replicas = await app.registry.routing.replica_set(rid_bytes, refresh=True)
                assert set(replicas) == everyone, f"{len(replicas)} of {APPS} in the replica set"
            for i, app in enumerate(apps):
                out = await app.registry.register_service(rid, f"v{i}".encode(), f"svc-{i}", ack=3)
                assert out.ok, out
            for app in apps:
                await app.registry.settle()
            for app in apps:
                records = await app.registry.resolve(rid, ack=3)
                assert {r.service_id for r in records} == {f"svc-{i}" for i in range(APPS)}

            # A light client (serve=False) watches: a new registration reaches it within 1 s.
            boot = str(apps[0].host.get_addrs()[0])
            light: App = await nursery.start(run_app, boot, False)
            async with light.registry.watch(rid) as events:
                for _ in range(APPS):  # the snapshot
                    with trio.fail_after(10):
                        assert (await events.__anext__()).kind == "registered"
                started = trio.current_time()
                assert (await apps[3].registry.register_service(rid, b"new", "svc-new", ack=1)).ok
                with trio.fail_after(1.0):
                    event = await events.__anext__()
                assert event.kind == "registered" and event.service_id == "svc-new"
                assert trio.current_time() - started < 1.0

            # Two applications leave: resolves still succeed within 2 s.
            for app in apps[-2:]:
                app.cancel.cancel()
                await app.gone.wait()
            for app in apps[:-2]:
                with trio.fail_after(2.0):
                    records = await app.registry.resolve(rid, ack=3)
                assert len(records) == APPS + 1


async def test_fifty_changes_at_once_reach_a_watcher_under_the_applications_spam_protection() -> None:
    """py-libp2p's default gossipsub drops what one peer publishes above 10 messages/s and topic:
    the registry paces its announcements under that limit and batches the rest, so a burst of
    registrations all reach a watcher, within about a second of the last one."""
    with trio.fail_after(120):
        async with applications(4) as (nursery, apps):
            assert apps[0].pubsub.router.spam_protection_enabled  # the default this is about
            rid = await apps[0].registry.create_resource("burst")
            boot = str(apps[0].host.get_addrs()[0])
            light: App = await nursery.start(run_app, boot, False)
            seen: set[str] = set()
            async with light.registry.watch(rid) as events:
                async with trio.open_nursery() as writers:
                    for i in range(50):
                        writers.start_soon(apps[i % 4].registry.register_service, rid, b"v", f"svc-{i}")
                written = trio.current_time()
                with trio.fail_after(5):
                    async for event in events:
                        seen.add(event.service_id)
                        if len(seen) == 50:
                            break
                assert trio.current_time() - written < 2.5


async def test_an_application_whose_bootstrap_peer_was_down_joins_when_it_returns() -> None:
    """mount(bootstrap=...) brings the rejoin loop of our own nodes: an application that started
    while its only bootstrap peer was down is not left alone once that peer is back."""
    from libp2p.peer.id import ID

    from registry_p2p.testnet import free_fixed_port

    boot_key = create_new_key_pair()
    port = free_fixed_port()
    boot_addr = f"/ip4/127.0.0.1/tcp/{port}/p2p/{ID.from_pubkey(boot_key.public_key)}"
    with trio.fail_after(60):
        async with default_stack() as (host, dht, pubsub):
            info = info_from_p2p_addr(Multiaddr(boot_addr))
            async with registry_p2p.mount(host, dht, pubsub, bootstrap=[info]):
                assert not host.get_connected_peers()
                async with (
                    default_stack(key_pair=boot_key, port=port) as (boot_host, boot_dht, boot_pubsub),
                    registry_p2p.mount(boot_host, boot_dht, boot_pubsub),
                ):
                    with trio.fail_after(15):
                        while boot_host.get_id() not in host.get_connected_peers():
                            await trio.sleep(0.05)


async def test_mount_undoes_on_exit_what_it_applied() -> None:
    """The swarm's dial settings and notifees are the application's again after unmounting."""
    with trio.fail_after(30):
        async with default_stack() as (host, dht, pubsub):
            swarm = host.get_network()

            def settings() -> tuple[Any, ...]:
                dials = (
                    swarm.retry_config,
                    swarm.connection_config,
                    swarm._negative_peer_cache._ttl,
                    swarm._inbound_limiter,
                    swarm.common_stream_handler,
                )
                return (*dials, list(swarm.notifees))

            before = settings()
            async with registry_p2p.mount(host, dht, pubsub):
                assert swarm.connection_config.max_connections_per_peer == 1
                assert swarm.retry_config is not before[0]
                # The routing-table filler and the pubsub stream keeper.
                assert len(swarm.notifees) == len(before[5]) + 2
                assert swarm._inbound_limiter is not before[3]
                assert swarm.common_stream_handler is not before[4]  # inbound streams gated
            assert settings() == before


def test_advertised_addresses_are_cached_on_the_host_object_only() -> None:
    from registry_p2p.adapter.pubsub import cache_advertised_addrs

    class Host:
        calls = 0

        def get_addrs(self) -> list[str]:
            Host.calls += 1
            return ["/ip4/127.0.0.1/tcp/1"]

    host, other = Host(), Host()
    undo = cache_advertised_addrs(host, ttl_s=60)
    assert host.get_addrs() == host.get_addrs() == ["/ip4/127.0.0.1/tcp/1"]
    assert Host.calls == 1
    other.get_addrs()
    assert Host.calls == 2  # another host of the same class is untouched
    undo()
    host.get_addrs()
    assert Host.calls == 3


async def test_default_applications_serve_federated_rendezvous_through_mount() -> None:
    """mount(..., rendezvous=True) on hosts built with py-libp2p's defaults: a plain py-libp2p client
    registers at one application and another discovers it at a different one."""
    from types import SimpleNamespace

    from . import rendezvous_client as rc

    def point(app: App) -> Any:
        return SimpleNamespace(peer_id=app.host.get_id().to_base58(), addrs=[str(a) for a in app.host.get_addrs()])

    with trio.fail_after(120):
        async with applications(4, rendezvous=True) as (_nursery, apps):
            for app in apps:
                await app.registry.settle()
            async with default_stack(serve=False) as (alice, _d1, _p1), default_stack(serve=False) as (bob, _d2, _p2):
                signed = rc.envelope(alice.get_private_key())
                reply = await rc.ask_once(alice, point(apps[1]), rc.register("mounted-ns", signed))
                assert rc.status(reply) == "OK", reply
                found = await rc.ask_once(bob, point(apps[3]), rc.discover("mounted-ns"))
                assert rc.status(found) == "OK"
                assert [r.signedPeerRecord for r in found.discoverResponse.registrations] == [signed]
