"""Service discovery end to end: workers advertise a service, a client finds and calls each one.

Three registry nodes form the network. Three workers each serve their own protocol,
`/demo/echo/1.0.0`, and register in the resource "echo" (the value says what they offer; the
record carries the addresses they listen on). A client that knows none of them resolves the
resource and calls every worker over that protocol, dialing the addresses found in the records
(`execute_on_resource`, Fluence's executeOnResource).

    .venv/bin/python examples/discovery_demo.py
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import Any

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from registry_p2p import Record, open_node

ECHO = TProtocol("/demo/echo/1.0.0")
LOOPBACK = "/ip4/127.0.0.1/tcp/0"


def echo_handler(name: str) -> Any:
    async def handle(stream: Any) -> None:
        try:
            request = await stream.read(1024)
            await stream.write(f"{name} echoes {request.decode()!r}".encode())
        finally:
            await stream.close()

    return handle


async def call_echo(host: Any, record: Record) -> str:
    """What a client does with each record: open the service's own protocol on its host."""
    stream = await host.new_stream(ID.from_base58(record.host), [ECHO])
    try:
        await stream.write(b"hello")
        return (await stream.read(1024)).decode()
    finally:
        await stream.close()


async def main() -> None:
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(open_node([LOOPBACK]))
        bootstrap = [first.addrs[0]]
        for _ in range(2):
            await stack.enter_async_context(open_node([LOOPBACK], bootstrap))
        print(f"network: 3 registry nodes, bootstrap {bootstrap[0]}")

        owner = await stack.enter_async_context(open_node([], bootstrap, serve=False))
        rid = await owner.registry.create_resource("echo")
        print(f"resource 'echo': {rid}")

        for i in range(1, 4):
            # A worker is any libp2p host; here a light node (it stores no registry data).
            worker = await stack.enter_async_context(open_node([LOOPBACK], bootstrap, serve=False))
            worker.host.set_stream_handler(ECHO, echo_handler(f"worker{i}"))
            out = await worker.registry.register_service(
                rid, f"echo over {ECHO}".encode(), service_id=f"worker{i}", ack=2
            )
            await worker.registry.settle()
            print(f"worker{i} {worker.peer_id} registered (ok={out.ok}, acks={out.acks}) at {worker.addrs[0]}")

        client = await stack.enter_async_context(open_node([], bootstrap, serve=False))
        print("client: resolving 'echo' and calling every worker over its own protocol")
        async for record, answer in client.registry.execute_on_resource(rid, call_echo, ack=2):
            shown = answer if isinstance(answer, str) else f"failed: {answer!r}"
            print(f"  {record.service_id} via {record.addrs[0] if record.addrs else '?'}: {shown}")


if __name__ == "__main__":
    trio.run(main)
