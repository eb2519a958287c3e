"""Existing py-libp2p applications gain the registry in a few lines.

Each application below is built the way py-libp2p's own examples build one: `new_host`, a
Kademlia DHT in server mode, gossipsub and pubsub with their defaults, started as services, joined
to the network through one bootstrap peer. Mounting the registry is the block marked "the
registry": one `async with` (and a SQLite file if the entries should survive a restart).
Everything the registry needs from py-libp2p, `mount` applies to the objects it is given and
undoes on exit; importing registry_p2p changes nothing in py-libp2p.

Three applications run here on loopback: two workers advertise a service, a client finds both.

    .venv/bin/python examples/mount_into_host.py
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
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
from registry_p2p.adapter.keys import make_verifier
from registry_p2p.store import Store


@asynccontextmanager
async def existing_application(name: str, bootstrap: str | None) -> AsyncIterator[tuple[Any, Any, Any]]:
    """Stands for your application: a host, a DHT and gossipsub, however you already start them."""
    listen = [Multiaddr("/ip4/127.0.0.1/tcp/0")]
    host = new_host(key_pair=create_new_key_pair(), listen_addrs=listen)
    dht = KadDHT(host, DHTMode.SERVER)
    router = GossipSub([PROTOCOL_ID_V11, PROTOCOL_ID], degree=6, degree_low=4, degree_high=12)
    pubsub = Pubsub(host, router)
    async with (
        host.run(listen),
        background_trio_service(dht),
        background_trio_service(pubsub),
        background_trio_service(router),
    ):
        await pubsub.wait_until_ready()
        if bootstrap is not None:  # joining the network, as your application already does
            peer = info_from_p2p_addr(Multiaddr(bootstrap))
            await host.connect(peer)
            await dht.add_peer(peer.peer_id)
        print(f"{name}: {host.get_addrs()[0]}")
        try:
            yield host, dht, pubsub
        finally:
            pubsub.seen_messages.stop()


async def worker(name: str, bootstrap: str | None, data: Path, rid_of: dict[str, str], ready: trio.Event) -> None:
    async with existing_application(name, bootstrap) as (host, dht, pubsub):
        # ---------------------------------------------------------------- the registry
        store = Store(data / f"{name}.sqlite", local_peer=host.get_id().to_bytes(), verifier=make_verifier())
        async with registry_p2p.mount(host, dht, pubsub, store=store) as registry:
            # ------------------------------------------------------------ (that was all)
            if "rid" not in rid_of:
                rid_of["rid"] = await registry.create_resource("image-resizer")
                rid_of["boot"] = str(host.get_addrs()[0])
            out = await registry.register_service(rid_of["rid"], f"{name}: up to 4096 px".encode(), "resizer")
            print(f"{name}: registered in {rid_of['rid']}: ok={out.ok}, stored by {out.acks} replica(s)")
            ready.set()
            await trio.sleep_forever()
        store.close()


async def main() -> None:
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)  # py-libp2p logs routine events loudly
    data = Path(tempfile.mkdtemp(prefix="registry-example-"))
    shared: dict[str, str] = {}
    async with trio.open_nursery() as nursery:
        first, second = trio.Event(), trio.Event()
        nursery.start_soon(worker, "worker1", None, data, shared, first)
        await first.wait()
        nursery.start_soon(worker, "worker2", shared["boot"], data, shared, second)
        await second.wait()
        async with (
            existing_application("client", shared["boot"]) as (host, dht, pubsub),
            registry_p2p.mount(host, dht, pubsub, serve=False) as lookup,
        ):
            for record in await lookup.resolve(shared["rid"]):
                print(f"client: found {record.service_id!r} on {record.host}: {record.value.decode()}")
                print(f"client:   reachable at {', '.join(record.addrs)}")
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
