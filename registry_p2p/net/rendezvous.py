"""The `/rendezvous/1.0.0` stream handler: one or many requests per stream, every failure contained.

Framing is net/framing's codec (uvarint length, at most 1 MiB per frame); parsing, the spec's
rules, cookies and pages are core/rendezvous.py; the writes and reads behind each request are
registry/rendezvous.py. The registry server's admission applies: its per-peer stream and
partial-frame budgets and its request rate (a rate-limited request gets E_UNAVAILABLE).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import trio

from registry_p2p.adapter.errors import is_stream_closed
from registry_p2p.core import rendezvous as rv
from registry_p2p.core.budgets import StreamBudgets, TokenBuckets
from registry_p2p.core.ids import b58
from registry_p2p.core.signing import Verifier
from registry_p2p.net.framing import FrameError, FrameReader, encode_frame
from registry_p2p.net.guard import WarnOnce, reset_quietly
from registry_p2p.pb import rendezvous_pb2 as rpb

if TYPE_CHECKING:
    from registry_p2p.adapter.types import StreamLike

log = logging.getLogger("registry_p2p.rendezvous")

MAX_FRAME_BYTES = 1024 * 1024


class Rendezvous(Protocol):
    """What answers the requests (registry/rendezvous.py)."""

    async def register(self, reg: rv.Registration) -> int: ...
    async def unregister(self, unreg: rv.Unregistration) -> None: ...
    async def discover(self, disc: rv.Discovery) -> tuple[list[rv.Found], bytes, int]: ...


@dataclass
class RendezvousStats:
    requests: dict[tuple[str, str], int] = field(default_factory=dict)
    resets: int = 0

    def count(self, kind: str, code: rv.Code) -> None:
        key = (kind, code.name)
        self.requests[key] = self.requests.get(key, 0) + 1


class RendezvousServer:
    def __init__(
        self,
        service: Rendezvous,
        verifier: Verifier,
        budgets: StreamBudgets,
        buckets: TokenBuckets[bytes],
        idle_timeout_s: float,
        request_timeout_s: float,
    ) -> None:
        self.service = service
        self.verifier = verifier
        self.budgets = budgets
        self.buckets = buckets
        self.idle_timeout_s = idle_timeout_s
        self.request_timeout_s = request_timeout_s
        self.stats = RendezvousStats()
        self._warn_once = WarnOnce(log, "bad rendezvous input")

    async def handle_stream(self, stream: StreamLike) -> None:
        """The stream handler given to py-libp2p. Never raises."""
        try:
            peer = stream.muxed_conn.peer_id.to_bytes()
        except Exception:
            peer = b""
        refusal = self.budgets.open_stream(peer)
        if refusal is not None:
            self._warn_once(peer, "streams", refusal)
            await self._reset(stream)
            return
        reader = FrameReader(
            stream,
            MAX_FRAME_BYTES,
            reserve=lambda size: self.budgets.reserve(peer, size),
            release=lambda size: self.budgets.release(peer, size),
        )
        try:
            await self._serve(stream, peer, reader)
        except (trio.Cancelled, KeyboardInterrupt):
            await self._reset(stream)
            raise
        except (FrameError, rv.BadMessage, trio.TooSlowError) as exc:
            self._warn_once(peer, type(exc).__name__, str(exc) or "timed out")
            await self._reset(stream)
        except Exception as exc:  # the stream failed under us, or a bug: never let it reach py-libp2p
            if not is_stream_closed(exc):
                log.exception("rendezvous stream handler failed for peer %s", b58(peer) if peer else "?")
            await self._reset(stream)
        finally:
            reader.release_budget()
            self.budgets.close_stream(peer)

    async def _serve(self, stream: StreamLike, peer: bytes, reader: FrameReader) -> None:
        while True:
            with trio.fail_after(self.idle_timeout_s):
                frame = await reader.read_frame()
            if frame is None:
                await stream.close()
                return
            message = rv.decode_request(frame)
            reply = await self.answer(peer, message)
            if reply is not None:
                await stream.write(encode_frame(reply))

    async def answer(self, peer: bytes, message: rpb.Message) -> rpb.Message | None:
        """The reply to one request (None for UNREGISTER, which has none). Never raises."""
        kind = rpb.Message.MessageType.Name(message.type)
        if not self.buckets.take(peer, trio.current_time()):
            self.stats.count(kind, rv.Code.E_UNAVAILABLE)
            return _refusal(message.type, rv.RendezvousError(rv.Code.E_UNAVAILABLE, "too many requests; slow down"))
        request = rv.parse_request(message, peer, self.verifier)
        try:
            with trio.fail_after(self.request_timeout_s):
                if isinstance(request, rv.RendezvousError):
                    raise request
                if isinstance(request, rv.Registration):
                    ttl = await self.service.register(request)
                    reply: rpb.Message | None = rv.register_response(rv.Code.OK, ttl_s=ttl)
                elif isinstance(request, rv.Unregistration):
                    await self.service.unregister(request)
                    reply = None
                else:
                    found, cookie, now = await self.service.discover(request)
                    reply = rv.discover_response(rv.Code.OK, found=found, cookie=cookie, now_ms=now)
        except rv.RendezvousError as err:
            self._warn_once(peer, err.code.name, err.text)
            self.stats.count(kind, err.code)
            return _refusal(message.type, err)
        except trio.TooSlowError:
            self.stats.count(kind, rv.Code.E_UNAVAILABLE)
            return _refusal(message.type, rv.RendezvousError(rv.Code.E_UNAVAILABLE, "the registry did not answer"))
        except Exception:
            log.exception("internal error answering rendezvous %s", kind)
            self.stats.count(kind, rv.Code.E_INTERNAL_ERROR)
            return _refusal(message.type, rv.RendezvousError(rv.Code.E_INTERNAL_ERROR, "internal error"))
        self.stats.count(kind, rv.Code.OK)
        return reply

    async def _reset(self, stream: StreamLike) -> None:
        self.stats.resets += 1
        await reset_quietly(stream)


def _refusal(request_type: int, err: rv.RendezvousError) -> rpb.Message | None:
    if request_type == rpb.Message.REGISTER:
        return rv.register_response(err.code, err.text)
    if request_type == rpb.Message.DISCOVER:
        return rv.discover_response(err.code, err.text)
    return None  # UNREGISTER has no reply, even when refused
