"""Execute on resource: resolve, dial each record's host, run a function on each concurrently."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import trio
from libp2p.host.ping import PingService
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from multiaddr import Multiaddr

from registry_p2p.core.views import Record
from registry_p2p.registry.context import Context
from registry_p2p.registry.reads import Reads

log = logging.getLogger("registry_p2p.registry")

T = TypeVar("T")


class Execute:
    """Run application functions against the hosts a resolve returns."""

    def __init__(self, ctx: Context, reads: Reads) -> None:
        self.ctx = ctx
        self.reads = reads

    async def execute_on_resource(
        self,
        resource_id: str,
        fn: Callable[[Any, Record], Awaitable[T]],
        ack: int = 1,
        timeout: float | None = None,
    ) -> AsyncIterator[tuple[Record, T | BaseException]]:
        """Resolve, dial each record's host through its addrs, run `await fn(host, record)` concurrently.

        Yields (record, result or exception) in completion order; each call is bounded by `timeout`.
        """
        records = await self.reads.resolve(resource_id, ack=ack)
        results: list[tuple[Record, T | BaseException]] = []
        limit = timeout or self.ctx.config.request_timeout_s

        async def one(record: Record) -> None:
            try:
                with trio.fail_after(limit):
                    await self.dial_record_host(record)
                    value = await fn(self.ctx.host, record)
                results.append((record, value))
            except Exception as exc:
                results.append((record, exc))

        async with trio.open_nursery() as nursery:
            for record in records:
                nursery.start_soon(one, record)
        for item in results:
            yield item

    async def probe(self, records: list[Record], deadline: float) -> list[float | None]:
        """Ping (the libp2p ping protocol) each record's host through its addrs, concurrently:
        the round trip in ms, None when it did not answer within `deadline` seconds (dial
        included). Our own records answer 0.0 without a ping."""
        rtts: list[float | None] = [None] * len(records)

        async def one(i: int, record: Record) -> None:
            peer = ID.from_base58(record.host)
            if peer == self.ctx.peer_id:
                rtts[i] = 0.0
                return
            with trio.move_on_after(deadline):
                try:
                    await self.dial_record_host(record)
                    started = trio.current_time()
                    await PingService(self.ctx.host).ping(peer)
                    rtts[i] = (trio.current_time() - started) * 1000
                except Exception as exc:
                    log.debug("probe of %s failed: %s", record.host, exc)

        async with trio.open_nursery() as nursery:
            for i, record in enumerate(records):
                nursery.start_soon(one, i, record)
        return rtts

    async def dial_record_host(self, record: Record) -> None:
        peer = ID.from_base58(record.host)
        if peer == self.ctx.peer_id or peer in self.ctx.host.get_connected_peers():
            return
        addrs = [Multiaddr(a) for a in record.addrs]
        if addrs:
            self.ctx.host.get_peerstore().add_addrs(peer, addrs, 3600)
        await self.ctx.host.connect(PeerInfo(peer, addrs or self.ctx.host.get_peerstore().addrs(peer)))
