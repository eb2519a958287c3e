"""py-libp2p's identify: run once per connection, never pushed when a protocol is added later."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from libp2p.peer.id import ID

    from registry_p2p.adapter.types import HostLike

log = logging.getLogger("registry_p2p.adapter.identify")


async def announce_protocols(host: Any, timeout: float = 5.0) -> None:
    """Tell connected peers what this host speaks now (identify push).

    py-libp2p runs identify once, when a connection opens, and pushes nothing when a protocol
    handler is added later. An application that connects to its bootstrap peer and then mounts
    the registry was therefore known to that peer as a peer without /registry/1.0.0, and left
    out of every replica set it computed.
    """
    from libp2p.identity.identify_push.identify_push import push_identify_to_peers

    with trio.move_on_after(timeout):
        try:
            await push_identify_to_peers(host)
        except Exception as exc:
            log.debug("identify push failed: %s", exc)


def request_identify(host: HostLike, peer: ID) -> None:
    """Run identify again on a connected peer whose protocols we still do not know.

    py-libp2p schedules identify once per peer when it connects; when two connections race (one
    is closed under max_connections_per_peer=1) that identify dies with the losing connection and
    the peer stays unidentified for good. BasicHost's scheduler is private; this is its one use.
    """
    schedule = getattr(host, "_schedule_identify", None)
    if schedule is not None:
        try:
            schedule(peer, reason="registry-routing")
        except Exception as exc:
            log.debug("could not schedule identify for %s: %s", peer, exc)
