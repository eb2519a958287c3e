"""py-libp2p's secure sessions break their connection when a write is cancelled.

A Noise session encrypts a message (taking the next nonce) and only then sends it; between the
two, trio may deliver a cancellation (`Lock.acquire` and `socket.send` both check for one). The
message is then never sent, every later message carries a nonce the peer does not expect, and
the peer closes the connection on "Failed authentication of message". A send cancelled half-way
leaves half a frame on the wire, with the same end. Cancelling a write is ordinary here: a
fan-out cancels the requests it no longer needs, every request has a deadline. On loopback,
twenty writers cancelled at random after 0-2 ms broke a connection within 0.3 s
(tests/net/test_adapter.py); under load in CI this closed live connections between registry
peers, so a tombstone missed a live replica (issue 10's intermittent failures).

So a write on a secure session is made atomic: it runs shielded from cancellation, for at most
`SECURE_WRITE_TIMEOUT_S`; a caller's cancellation is delivered when the message has gone out.
A write that cannot finish in that time (the peer stopped reading) may have sent part of a
message: the session is closed, as nothing more can be sent on it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import trio
from libp2p.io.exceptions import ConnectionClosedError

log = logging.getLogger("registry_p2p.adapter.secure_writes")

SECURE_WRITE_TIMEOUT_S = 5.0
_MARK = "_registry_p2p_atomic_writes"


def atomic_secure_writes(host: Any) -> Callable[[], None]:
    """Make writes atomic on every secure session of `host`: those of its connections now, and
    those its upgrader makes from now on (whatever the security protocol). Returns the undo,
    which stops wrapping new sessions (sessions already wrapped stay so: unwrapping a live one
    would bring the bug back)."""
    swarm = host.get_network()
    multistream = getattr(getattr(swarm, "upgrader", None), "security_multistream", None)
    for connections in list(getattr(swarm, "connections", {}).values()):
        for connection in list(connections):
            session = getattr(getattr(connection, "muxed_conn", None), "secured_conn", None)
            if session is not None:
                make_writes_atomic(session)
    if multistream is None or getattr(multistream, _MARK, False):
        return lambda: None
    inbound = multistream.secure_inbound
    outbound = multistream.secure_outbound

    async def secure_inbound(conn: Any) -> Any:
        return make_writes_atomic(await inbound(conn))

    async def secure_outbound(conn: Any, peer_id: Any) -> Any:
        return make_writes_atomic(await outbound(conn, peer_id))

    multistream.secure_inbound = secure_inbound
    multistream.secure_outbound = secure_outbound
    setattr(multistream, _MARK, True)

    def undo() -> None:
        for name in ("secure_inbound", "secure_outbound", _MARK):
            with contextlib.suppress(AttributeError):
                delattr(multistream, name)

    return undo


def make_writes_atomic(session: Any) -> Any:
    """Wrap `session.write` (once) so that a cancellation cannot split encrypting from sending."""
    if getattr(session, _MARK, False):
        return session
    write = session.write

    async def atomic_write(data: bytes) -> None:
        # One scope: shielded from the caller's cancellation, bounded by its own deadline (it is
        # on every frame's path, and a second nested scope doubled its cost).
        with trio.CancelScope(shield=True, deadline=trio.current_time() + SECURE_WRITE_TIMEOUT_S) as scope:
            await write(data)
        if not scope.cancelled_caught:
            return
        log.debug("a secure write did not finish in %.0f s; closing its connection", SECURE_WRITE_TIMEOUT_S)
        with trio.CancelScope(shield=True, deadline=trio.current_time() + 1), contextlib.suppress(Exception):
            await session.close()
        raise ConnectionClosedError(f"secure write did not finish in {SECURE_WRITE_TIMEOUT_S} s")

    session.write = atomic_write
    setattr(session, _MARK, True)
    return session
