"""py-libp2p's real objects have every member `adapter/types.py` says the registry uses.

mypy sees py-libp2p as Any, so nothing else would notice a Protocol naming a member py-libp2p
does not have (or an upgrade of py-libp2p dropping one)."""

from __future__ import annotations

import trio
from libp2p.custom_types import TProtocol
from libp2p.pubsub.pb import rpc_pb2

from registry_p2p import open_node
from registry_p2p.adapter.types import (
    DhtLike,
    HostLike,
    MessageLike,
    MuxedConnLike,
    NetworkLike,
    PeerRoutingLike,
    PeerstoreLike,
    PubsubLike,
    RoutingTableLike,
    StreamLike,
    SubscriptionLike,
    ValueStoreLike,
)

PROBE = TProtocol("/registry-types-probe/1.0.0")


async def test_py_libp2p_objects_satisfy_the_protocols() -> None:
    async with open_node() as a, open_node(bootstrap=[a.addrs[0]]) as b:
        assert isinstance(a.host, HostLike)
        assert isinstance(a.host.get_network(), NetworkLike)
        assert isinstance(a.host.get_peerstore(), PeerstoreLike)
        assert isinstance(a.dht, DhtLike)
        assert isinstance(a.dht.routing_table, RoutingTableLike)
        assert isinstance(a.dht.peer_routing, PeerRoutingLike)
        assert isinstance(a.dht.value_store, ValueStoreLike)
        assert isinstance(a.pubsub, PubsubLike)
        assert isinstance(await a.pubsub.subscribe("registry-types-probe"), SubscriptionLike)
        assert isinstance(rpc_pb2.Message(data=b"x", from_id=b"y"), MessageLike)

        accepted: list[object] = []
        arrived = trio.Event()

        async def handler(stream: StreamLike) -> None:
            accepted.append(stream)
            arrived.set()
            await stream.close()

        a.host.set_stream_handler(PROBE, handler)
        with trio.fail_after(10):
            opened = await b.host.new_stream(a.host.get_id(), [PROBE])
            await opened.write(b"probe")
            await arrived.wait()
        for stream in (opened, accepted[0]):
            assert isinstance(stream, StreamLike)
            assert isinstance(stream.muxed_conn, MuxedConnLike)
        await opened.reset()
