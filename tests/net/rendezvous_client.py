"""A spec-following /rendezvous/1.0.0 client for the tests, on py-libp2p's own signed envelopes.

Envelopes come from py-libp2p (`seal_record`), not from the registry's code, so the server's
check (core/rendezvous.py) is tested against another implementation of RFC 0002.
"""

from __future__ import annotations

from typing import Any

import trio
from libp2p.crypto.keys import PrivateKey
from libp2p.custom_types import TProtocol
from libp2p.peer.envelope import seal_record
from libp2p.peer.id import ID
from libp2p.peer.peer_record import PeerRecord
from multiaddr import Multiaddr

from registry_p2p.core.ids import uvarint
from registry_p2p.core.rendezvous import PROTOCOL_ID
from registry_p2p.net.framing import FrameReader, encode_frame
from registry_p2p.pb import rendezvous_pb2 as rpb

M = rpb.Message


def envelope(key: PrivateKey, addrs: tuple[str, ...] = ("/ip4/127.0.0.1/tcp/4001",), seq: int = 1) -> bytes:
    peer = ID.from_pubkey(key.get_public_key())
    sealed = seal_record(PeerRecord(peer, [Multiaddr(a) for a in addrs], seq), key)
    return bytes(sealed.marshal_envelope())


def register(ns: str, signed: bytes, ttl: int | None = None) -> rpb.Message:
    reg = M.Register(ns=ns, signedPeerRecord=signed)
    if ttl is not None:
        reg.ttl = ttl
    return M(type=M.REGISTER, register=reg)


def discover(ns: str = "", limit: int | None = None, cookie: bytes | None = None) -> rpb.Message:
    disc = M.Discover(ns=ns)
    if limit is not None:
        disc.limit = limit
    if cookie is not None:
        disc.cookie = cookie
    return M(type=M.DISCOVER, discover=disc)


def unregister(ns: str) -> rpb.Message:
    return M(type=M.UNREGISTER, unregister=M.Unregister(ns=ns))


class Session:
    """One stream to a rendezvous point; many requests on it (as go clients do)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.reader = FrameReader(stream)

    async def send(self, message: rpb.Message) -> None:
        await self.stream.write(encode_frame(message))

    async def send_raw(self, data: bytes) -> None:
        await self.stream.write(data)

    async def ask(self, message: rpb.Message) -> rpb.Message:
        await self.send(message)
        with trio.fail_after(10):
            frame = await self.reader.read_frame()
        assert frame is not None, "the server closed the stream instead of answering"
        return rpb.Message.FromString(frame)

    async def close(self) -> None:
        await self.stream.close()


async def session(host: Any, point: Any) -> Session:
    """A stream from `host` to the node `point` (a registry Node)."""
    peer = ID.from_base58(point.peer_id)
    host.get_peerstore().add_addrs(peer, [Multiaddr(a.split("/p2p/")[0]) for a in point.addrs], 600)
    with trio.fail_after(10):
        stream = await host.new_stream(peer, [TProtocol(PROTOCOL_ID)])
    return Session(stream)


async def ask_once(host: Any, point: Any, message: rpb.Message) -> rpb.Message:
    """One request on a stream of its own (as rust-libp2p's client does)."""
    s = await session(host, point)
    try:
        return await s.ask(message)
    finally:
        await s.close()


def status(reply: rpb.Message) -> str:
    body = reply.registerResponse if reply.type == M.REGISTER_RESPONSE else reply.discoverResponse
    return M.ResponseStatus.Name(body.status)


__all__ = ["uvarint"]
