"""execute_on_resource: resolve, dial each record's host through its addrs, run a call on it."""

from __future__ import annotations

from typing import Any

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from registry_p2p.core.views import Record

from .harness import cfg, network

ECHO = TProtocol("/test/echo/1.0.0")


async def echo_handler(stream: Any) -> None:
    try:
        data = await stream.read(1024)
        await stream.write(b"echo:" + data)
        await stream.close()
    except Exception:
        await stream.reset()


async def test_execute_on_every_advertised_host() -> None:
    with trio.fail_after(90):
        async with network(4, cfg(k=3)) as net:
            owner = net.nodes[0]
            rid = await owner.registry.create_resource("workers")
            workers = [s.node for s in await net.add_many(3, serve=False)]
            for i, worker in enumerate(workers):
                assert worker is not None
                worker.host.set_stream_handler(ECHO, echo_handler)
                await worker.registry.register_service(rid, f"worker-{i}".encode(), "echo")
            client = (await net.add(serve=False)).node
            assert client is not None

            async def call(host: Any, record: Record) -> bytes:
                stream = await host.new_stream(ID.from_base58(record.host), [ECHO])
                await stream.write(record.value)
                reply: bytes = await stream.read(1024)
                await stream.close()
                return reply

            results = {}
            async for record, result in client.registry.execute_on_resource(rid, call, timeout=10):
                assert not isinstance(result, BaseException), result
                results[record.host] = result
            assert results == {w.peer_id: f"echo:worker-{i}".encode() for i, w in enumerate(workers) if w}
