"""An existing py-libp2p application gains the registry in a few lines.

The application below already has what a py-libp2p program usually has: a host, a Kademlia DHT
and gossipsub, started as services. Mounting the registry is the block marked "the registry":
one `async with`, and a SQLite file if the entries should survive a restart. Two such
applications run here on loopback; one advertises a service, the other finds it.

    .venv/bin/python examples/mount_into_host.py
"""

from __future__ import annotations

import hashlib
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
from libp2p.pubsub.gossipsub import PROTOCOL_ID, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service
from multiaddr import Multiaddr

import registry_p2p
from registry_p2p.store import Store


@asynccontextmanager
async def existing_application(name: str) -> AsyncIterator[tuple[Any, Any, Any]]:
    """Stands for your application: a host, a DHT and gossipsub, however you already start them."""
    key_pair = create_new_key_pair()
    listen = [Multiaddr("/ip4/127.0.0.1/tcp/0")]
    host = new_host(key_pair=key_pair, listen_addrs=listen)
    dht = KadDHT(host, DHTMode.SERVER)
    # Registry peers in other languages agree on message ids: sha256 of the data.
    router = GossipSub([PROTOCOL_ID], degree=6, degree_low=4, degree_high=12, heartbeat_interval=1)
    pubsub = Pubsub(host, router, msg_id_constructor=lambda message: hashlib.sha256(message.data).digest())
    async with (
        host.run(listen),
        background_trio_service(dht),
        background_trio_service(pubsub),
        background_trio_service(router),
    ):
        await pubsub.wait_until_ready()
        print(f"{name}: {host.get_addrs()[0]}")
        yield host, dht, pubsub
        pubsub.seen_messages.stop()


async def main() -> None:
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)  # py-libp2p logs routine events loudly
    data = Path(tempfile.mkdtemp(prefix="registry-example-"))
    async with existing_application("worker") as (host, dht, pubsub):
        # ---------------------------------------------------------------- the registry
        store = Store(data / "registry.sqlite", local_peer=host.get_id().to_bytes())
        async with registry_p2p.mount(host, dht, pubsub, store=store) as registry:
            # ------------------------------------------------------------ (that was all)
            rid = await registry.create_resource("image-resizer")
            out = await registry.register_service(rid, b"resize up to 4096 px", service_id="resizer")
            print(f"worker: registered in {rid}: ok={out.ok}, stored by {out.acks} replica(s)")

            async with existing_application("client") as (client_host, client_dht, client_pubsub):
                # Join the worker's network (connecting does not fill py-libp2p's routing table).
                worker = info_from_p2p_addr(host.get_addrs()[0])
                await client_host.connect(worker)
                await client_dht.add_peer(worker.peer_id)
                async with registry_p2p.mount(client_host, client_dht, client_pubsub, serve=False) as lookup:
                    for record in await lookup.resolve(rid):
                        print(f"client: found {record.service_id!r} on {record.host}: {record.value.decode()}")
                        print(f"client:   reachable at {', '.join(record.addrs)}")
        store.close()


if __name__ == "__main__":
    trio.run(main)
