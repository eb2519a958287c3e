"""What every inbound stream handler of a node shares: bad input logged once per peer and kind,
and a reset that can neither block nor raise."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import trio

from registry_p2p.core.ids import b58

if TYPE_CHECKING:
    from registry_p2p.adapter.types import StreamLike

# Forgotten wholesale beyond this many (peer, kind) pairs: fresh identities are free.
MAX_REMEMBERED = 10_000


class WarnOnce:
    """Log a peer's bad input at warning level the first time per kind, at debug level after."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log = log
        self.what = what  # e.g. "bad input", "bad rendezvous input"
        self._warned: set[tuple[bytes, str]] = set()

    def __call__(self, peer: bytes, kind: str, text: str) -> None:
        who = b58(peer) if peer else "?"
        key = (peer, kind)
        if key in self._warned:
            self.log.debug("%s again from %s: %s %s", self.what, who, kind, text)
            return
        if len(self._warned) > MAX_REMEMBERED:
            self._warned.clear()
        self._warned.add(key)
        self.log.warning("%s from %s: %s %s", self.what, who, kind, text)


async def reset_quietly(stream: StreamLike) -> None:
    """Reset a stream within a second, even while being cancelled, ignoring its failure."""
    with trio.CancelScope(shield=True), trio.move_on_after(1), contextlib.suppress(Exception):
        await stream.reset()
