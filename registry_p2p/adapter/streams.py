"""py-libp2p's new_stream: it hangs on a half-dead connection, and fails on one closed under it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio
from libp2p.custom_types import TProtocol
from libp2p.network.exceptions import SwarmDialAllFailedError

if TYPE_CHECKING:
    from libp2p.peer.id import ID

    from registry_p2p.adapter.types import HostLike, StreamLike

log = logging.getLogger("registry_p2p.adapter.streams")

STREAM_ON_EXISTING_CONNECTION_TIMEOUT_S = 2.0


async def open_stream(host: HostLike, peer: ID, protocols: list[TProtocol], timeout: float) -> StreamLike:
    """host.new_stream within `timeout`, robust to half-dead and to losing connections.

    When a peer goes away, py-libp2p 0.8.1 may keep its connection in the swarm although the
    socket is closed: new streams on it then hang forever. A stream that does not open within
    2 s on an existing connection means exactly that: drop the connection and dial afresh (which
    fails at once if the peer is really gone). A new connection gets the whole `timeout`.

    When two connections to one peer race (a peer reconnecting under the same id right after it
    left, or both sides dialing at once), max_connections_per_peer=1 closes one of them, maybe
    the one a stream was being opened on: such a failure is tried once more.

    A connection closed under the swarm can also stay listed in it (py-libp2p removes it from
    its table only when the connection's own task ends): new_stream then fails at once with
    "No valid connections available" and never dials. Such leftovers are dropped before a
    stream is opened, so the peer is dialed afresh.
    """
    deadline = trio.current_time() + timeout
    try:
        return await _open_stream_once(host, peer, protocols, deadline, timeout)
    except (SwarmDialAllFailedError, trio.TooSlowError):
        raise  # no connection at all, or no time left
    except Exception as exc:
        log.debug("stream to %s failed (%s); once more", peer, exc)
    return await _open_stream_once(host, peer, protocols, deadline, timeout)


async def _open_stream_once(
    host: HostLike, peer: ID, protocols: list[TProtocol], deadline: float, timeout: float
) -> StreamLike:
    await _drop_closed_connections(host, peer, deadline)
    if peer in host.get_connected_peers():
        with trio.move_on_after(min(STREAM_ON_EXISTING_CONNECTION_TIMEOUT_S, deadline - trio.current_time())):
            return await host.new_stream(peer, protocols)
        log.debug("connection to %s is half dead; redialing", peer)
        with trio.move_on_at(deadline):
            try:
                await host.get_network().close_peer(peer)
            except Exception as exc:
                log.debug("close_peer failed: %s", exc)
    with trio.move_on_at(deadline):
        return await host.new_stream(peer, protocols)
    raise trio.TooSlowError(f"no stream to {peer} within {timeout} s")


def only_closed_connections(host: HostLike, peer: ID) -> bool:
    """The swarm lists connections to `peer` and every one is closed: a leftover, not a peer
    that is connected (nothing, not even identify, can run on it until it is dropped)."""
    connections = host.get_network().get_connections(peer)
    return bool(connections) and all(getattr(conn, "is_closed", False) for conn in connections)


def has_live_connection(host: HostLike, peer: ID) -> bool:
    """The swarm holds a connection to `peer` that is not closed."""
    return any(not getattr(conn, "is_closed", False) for conn in host.get_network().get_connections(peer))


async def _drop_closed_connections(host: HostLike, peer: ID, deadline: float) -> None:
    """Forget `peer`'s connections when every one the swarm lists is closed."""
    if not only_closed_connections(host, peer):
        return
    log.debug("only closed connections to %s are listed; dropping them to dial afresh", peer)
    with trio.move_on_at(deadline):
        try:
            await host.get_network().close_peer(peer)
        except Exception as exc:
            log.debug("close_peer failed: %s", exc)
