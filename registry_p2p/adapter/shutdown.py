"""py-libp2p's host shutdown under cancellation leaves listeners and sockets open."""

from __future__ import annotations

import logging
from typing import Any

import trio

log = logging.getLogger("registry_p2p.adapter.shutdown")


async def close_host(host: Any) -> None:
    """Close the listener and every connection, even when leaving under cancellation.

    Leaving host.run() under cancellation leaves the listener open (it still accepts). It also
    leaves the sockets open: each connection's task, cancelled first, marks its SwarmConn closed
    before the muxer is closed, so swarm.close() then skips it. The peers never see the
    connection end and keep a half-dead one (new streams on it hang) until garbage collection
    closes the socket. Each muxer is closed here directly, so peers see EOF at once.

    The listeners are closed first: swarm.close() closes the connections one by one (each Yamux
    close ends with a 0.1 s sleep) and only then its listeners, so a node with many connections,
    or one whose close hung, left the 5 s below with its port still listening, and a node
    restarting on that port was refused.
    """
    with trio.CancelScope(shield=True), trio.move_on_after(5):
        swarm = host.get_network()
        for listener in list(getattr(swarm, "listeners", {}).values()):
            try:
                await listener.close()  # idempotent: swarm.close() calls it again
            except Exception as exc:
                log.debug("closing a listener failed: %s", exc)
        connections = [conn for conns in list(swarm.connections.values()) for conn in conns]
        # Concurrently: Yamux.close() ends with a 0.1 s sleep.
        async with trio.open_nursery() as nursery:
            for conn in connections:
                muxed = getattr(conn, "muxed_conn", None)
                if muxed is not None and not muxed.is_closed:
                    nursery.start_soon(_close_muxed, muxed)
        try:
            await host.close()
        except Exception as exc:
            log.debug("host.close failed: %s", exc)


async def _close_muxed(muxed: Any) -> None:
    try:
        await muxed.close()
    except Exception as exc:
        log.debug("closing a connection failed: %s", exc)
