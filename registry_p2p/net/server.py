"""The /registry/1.0.0 server: answers requests on a stream until EOF; contains every failure.

py-libp2p lets one exception escaping a stream handler kill the whole host, so `handle_stream`
catches everything, answers bad input with an error status, and resets the stream on framing
errors. The request logic (`handle`) is synchronous and I/O-free apart from the store.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio
from libp2p.crypto.keys import PrivateKey

from registry_p2p.adapter.errors import is_stream_closed
from registry_p2p.core import names
from registry_p2p.core.budgets import StreamBudgets, TokenBuckets
from registry_p2p.core.build import countersign
from registry_p2p.core.config import RegistryConfig
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.grants import grant_allows
from registry_p2p.core.ids import b58, check_resource_id
from registry_p2p.core.model import SignedRecord, SignedResource, resource_from_pb
from registry_p2p.core.signing import Verifier
from registry_p2p.core.validate import validate_entry
from registry_p2p.net.framing import FrameError, FrameReader, FrameTooLarge, decode_message, encode_frame
from registry_p2p.net.guard import WarnOnce, reset_quietly
from registry_p2p.pb import registry_pb2 as pb
from registry_p2p.store import ItemResult, Store

if TYPE_CHECKING:
    from registry_p2p.adapter.types import StreamLike

log = logging.getLogger("registry_p2p.server")

PROTOCOL_ID = names.PROTOCOL_ID
MAX_PAGE = 1024
# A peer that keeps sending while rate limited is cut off after this many refusals in a row.
MAX_CONSECUTIVE_REFUSALS = 50
# Replies up to this size never count against the reply-bytes budget: they amplify nothing, and
# a peer's bulk reads (anti-entropy pages) must not get its writes refused.
SMALL_REPLY_BYTES = 4096


class _NotARequest(Exception):
    """A frame that is no registry request was answered: the stream is to be reset."""


def result(status: Status, text: str = "") -> pb.Result:
    return pb.Result(status=status.name, text=text)


def _from_item(item: ItemResult) -> pb.Result:
    return result(item.status, item.text)


@dataclass
class ServerStats:
    requests: dict[tuple[str, str], int] = field(default_factory=dict)
    resets: int = 0

    def count(self, kind: str, status: Status) -> None:
        key = (kind, status.name)
        self.requests[key] = self.requests.get(key, 0) + 1


class RegistryServer:
    def __init__(
        self,
        *,
        store: Store,
        key: PrivateKey,
        local_peer: bytes,
        config: RegistryConfig,
        verifier: Verifier,
        clock_ms: Callable[[], int],
        own_addrs: Callable[[], list[bytes]],
        on_accepted: Callable[[bytes, list[bytes]], None] | None = None,
        on_request: Callable[[str, Status, float], None] | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.local_peer = local_peer
        self.config = config
        self.verifier = verifier
        self.clock_ms = clock_ms
        self.own_addrs = own_addrs
        self.on_accepted = on_accepted
        self.on_request = on_request
        self.stats = ServerStats()
        limits = config.limits
        self.buckets = TokenBuckets[bytes](limits.requests_per_second, limits.request_burst)
        self.reply_bytes = TokenBuckets[bytes](limits.reply_bytes_per_second, limits.reply_bytes_burst)
        self.budgets = StreamBudgets(limits)
        self._warn_once = WarnOnce(log, "bad input")

    # ------------------------------------------------------------ stream loop

    async def handle_stream(self, stream: StreamLike) -> None:
        """The stream handler given to py-libp2p. Never raises."""
        try:
            peer = stream.muxed_conn.peer_id.to_bytes()
        except Exception:
            peer = b""
        refusal = self.budgets.open_stream(peer)
        if refusal is not None:
            self._warn_once(peer, "streams", refusal)
            self.stats.resets += 1
            await reset_quietly(stream)
            return
        try:
            await self._serve(stream, peer)
        except (trio.Cancelled, KeyboardInterrupt):
            await reset_quietly(stream)
            raise
        except FrameTooLarge as exc:
            self._warn_once(peer, "TOO_LARGE", str(exc))
            await _write_quietly(stream, pb.Message(error=result(Status.TOO_LARGE, str(exc))))
            await reset_quietly(stream)
            self.stats.resets += 1
        except _NotARequest:  # answered MALFORMED and logged already
            await reset_quietly(stream)
            self.stats.resets += 1
        except (FrameError, trio.TooSlowError) as exc:
            self._warn_once(peer, type(exc).__name__, str(exc) or "request timed out")
            await reset_quietly(stream)
            self.stats.resets += 1
        except Exception as exc:  # the stream failed under us, or a bug: never let it reach py-libp2p
            if not is_stream_closed(exc):
                log.exception("registry stream handler failed for peer %s", b58(peer) if peer else "?")
            await reset_quietly(stream)
            self.stats.resets += 1
        finally:
            self.budgets.close_stream(peer)

    async def _serve(self, stream: StreamLike, peer: bytes) -> None:
        reader = FrameReader(
            stream,
            self.config.limits.max_message_bytes,
            reserve=lambda size: self.budgets.reserve(peer, size),
            release=lambda size: self.budgets.release(peer, size),
        )
        try:
            await self._serve_frames(stream, peer, reader)
        finally:
            reader.release_budget()

    async def _serve_frames(self, stream: StreamLike, peer: bytes, reader: FrameReader) -> None:
        refusals = 0
        while True:
            with trio.fail_after(self.config.stream_idle_timeout_s):
                frame = await reader.read_frame()
            if frame is None:
                await stream.close()
                return
            not_a_request = False
            if not self.buckets.take(peer, trio.current_time()):
                refusals += 1
                reply = pb.Message(error=result(Status.RATE_LIMITED, "too many requests; slow down"))
                self._observe("rate_limited", Status.RATE_LIMITED)
                if refusals >= MAX_CONSECUTIVE_REFUSALS:
                    raise FrameError("peer ignores rate limiting")
            else:
                refusals = 0
                try:
                    request = decode_message(frame)
                except FrameError as exc:
                    self._warn_once(peer, "MALFORMED", str(exc))
                    reply = pb.Message(error=result(Status.MALFORMED, "not a registry Message"))
                    self._observe("undecodable", Status.MALFORMED)
                    not_a_request = True
                else:
                    not_a_request = self._handler_of(request)[1] is None
                    reply = self.handle(peer, request)
            frame = encode_frame(reply)
            if len(frame) > SMALL_REPLY_BYTES and not self.reply_bytes.take(peer, trio.current_time(), len(frame)):
                # Bytes answered count, not only requests: a 41-byte request can ask for 1 MiB.
                frame = encode_frame(pb.Message(error=result(Status.RATE_LIMITED, "too many bytes asked; slow down")))
                self._observe("rate_limited", Status.RATE_LIMITED)
            await stream.write(frame)
            if not_a_request:
                # Answered, then the stream ends: no client of ours sends what is not a request, and
                # garbage must not keep a stream and its share of the budgets alive (attacks.md §4:
                # an empty frame a second held 1,021 streams and cost the node ~1,000 answers a second).
                raise _NotARequest

    # ------------------------------------------------------------ requests

    def handle(self, peer: bytes, request: pb.Message) -> pb.Message:
        """Answer one request. Every failure becomes a status; nothing raises."""
        started = time.perf_counter()
        kind, handler = self._handler_of(request)
        if handler is None:
            self._warn_once(peer, "MALFORMED", f"unexpected {kind}")
            reply = pb.Message(request_id=request.request_id, error=result(Status.MALFORMED, f"unexpected {kind}"))
            self._observe(kind, Status.MALFORMED)
            return reply
        try:
            reply = handler(self, peer, getattr(request, kind))
        except RegistryError as err:
            self._warn_once(peer, err.status.name, err.text)
            reply = pb.Message(error=result(err.status, err.text))
        except Exception:
            log.exception("internal error answering %s", kind)
            reply = pb.Message(error=result(Status.INTERNAL, "internal error"))
        reply.request_id = request.request_id
        status = _status_of(reply)
        self._observe(kind, status, time.perf_counter() - started)
        return reply

    def _put_resource(self, peer: bytes, req: pb.PutResourceRequest) -> pb.Message:
        resource = resource_from_pb(req.resource, self.config.limits)
        item = self.store.put_resource(resource, self.clock_ms())
        return pb.Message(put_resource_response=pb.PutResourceResponse(result=_from_item(item)))

    def _get_resource(self, peer: bytes, req: pb.GetResourceRequest) -> pb.Message:
        resource = self.store.get_resource(check_resource_id(req.resource_id))
        if resource is None:
            return pb.Message(
                get_resource_response=pb.GetResourceResponse(result=result(Status.UNKNOWN_RESOURCE, "no such resource"))
            )
        return pb.Message(
            get_resource_response=pb.GetResourceResponse(result=result(Status.OK), resource=resource.to_pb())
        )

    def _put_entries(self, peer: bytes, req: pb.PutEntriesRequest) -> pb.Message:
        rid = check_resource_id(req.resource_id)
        given = resource_from_pb(req.resource, self.config.limits) if req.HasField("resource") else None
        if given is not None and given.id != rid:
            raise RegistryError(Status.MALFORMED, "the resource sent does not match resource_id")
        whole, items = self.store.put_entries(rid, list(req.entries), self.clock_ms(), resource=given)
        accepted = [raw for raw, item in zip(req.entries, items, strict=True) if item.status is Status.OK]
        if accepted and self.on_accepted is not None:
            self.on_accepted(rid, accepted)
        return pb.Message(
            put_entries_response=pb.PutEntriesResponse(result=_from_item(whole), results=[_from_item(i) for i in items])
        )

    def _get_entries(self, peer: bytes, req: pb.GetEntriesRequest) -> pb.Message:
        rid = check_resource_id(req.resource_id)
        resource = self.store.get_resource(rid)
        if resource is None:
            return pb.Message(
                get_entries_response=pb.GetEntriesResponse(result=result(Status.UNKNOWN_RESOURCE, "no such resource"))
            )
        limit = min(req.limit or 256, MAX_PAGE)
        entries, cursor = self.store.get_entries(
            rid, self.clock_ms(), limit=limit, cursor=req.cursor, include_tombstones=req.include_tombstones
        )
        return pb.Message(
            get_entries_response=pb.GetEntriesResponse(
                result=result(Status.OK), entries=entries, next_cursor=cursor, resource=resource.to_pb()
            )
        )

    def _digest(self, peer: bytes, req: pb.DigestRequest) -> pb.Message:
        rid = check_resource_id(req.resource_id)
        resource = self.store.get_resource(rid)
        if resource is None:
            return pb.Message(
                digest_response=pb.DigestResponse(result=result(Status.UNKNOWN_RESOURCE, "no such resource"))
            )
        root, items = self.store.digest(rid, self.clock_ms())
        response = pb.DigestResponse(result=result(Status.OK), root=root, resource_created_at_ms=resource.created_at_ms)
        if root != req.root:
            response.items.extend(pb.DigestItem(identity=i, version=v) for i, v in items)
        return pb.Message(digest_response=response)

    def _host_sign(self, peer: bytes, req: pb.HostSignRequest) -> pb.Message:
        now = self.clock_ms()
        try:
            request_body = pb.RecordBody.FromString(req.issuer_body)
        except Exception as exc:
            raise RegistryError(Status.MALFORMED, "issuer body does not decode") from exc
        if not self._may_host(request_body.issuer):
            return pb.Message(
                host_sign_response=pb.HostSignResponse(
                    result=result(Status.NOT_AUTHORIZED, f"host policy {self.config.host_policy!r} refuses this issuer")
                )
            )
        given = resource_from_pb(req.resource, self.config.limits) if req.HasField("resource") else None
        refusal = self._resource_refuses(request_body, given, now)
        if refusal is not None:
            return pb.Message(host_sign_response=pb.HostSignResponse(result=result(Status.NOT_AUTHORIZED, refusal)))
        record: SignedRecord = countersign(self.key, req, now, self.own_addrs(), self.config.limits)
        validate_entry(record, now, self.config.limits, self.verifier)
        # The host keeps the record so that it renews it (and answers for it) like its own.
        whole, items = self.store.put_entries(record.resource_id, [record], now, resource=given)
        for item in (whole, *items):
            if item.status is not Status.OK:
                return pb.Message(host_sign_response=pb.HostSignResponse(result=_from_item(item)))
        return pb.Message(host_sign_response=pb.HostSignResponse(result=result(Status.OK), record=record.to_pb()))

    def _resource_refuses(self, body: pb.RecordBody, given: SignedResource | None, now: int) -> str | None:
        """Why the resource's write policy refuses this issuer (so nothing is countersigned), or None.
        The newest of the copy sent and the stored one decides; the store checks again on write."""
        stored = self.store.get_resource(bytes(body.resource_id)) if len(body.resource_id) == 32 else None
        copies = [r for r in (given, stored) if r is not None and r.id == bytes(body.resource_id)]
        if not copies:
            return None  # the store answers UNKNOWN_RESOURCE
        resource = max(copies, key=lambda r: (r.created_at_ms, r.signature))
        issuer = bytes(body.issuer)
        if not resource.owner_approved or issuer == resource.owner:
            return None
        if grant_allows(self.store.grant_of(resource.id, issuer, now), body.service_id, now):
            return None
        return f"resource is owner-approved and issuer {b58(issuer)} holds no grant for service id {body.service_id!r}"

    def _may_host(self, issuer: bytes) -> bool:
        if issuer == self.local_peer:
            return True
        if self.config.host_policy == "open":
            return True
        if self.config.host_policy == "allow-list":
            return issuer in self.config.allowed_issuers
        return False

    _handlers: dict[str, Callable[[RegistryServer, bytes, Any], pb.Message]] = {
        "put_resource": _put_resource,
        "get_resource": _get_resource,
        "put_entries": _put_entries,
        "get_entries": _get_entries,
        "digest": _digest,
        "host_sign": _host_sign,
    }

    def _handler_of(self, request: pb.Message) -> tuple[str, Callable[[RegistryServer, bytes, Any], pb.Message] | None]:
        """The request's kind ("empty" when it has no body) and its handler, None when it is no request."""
        kind = request.WhichOneof("body") or "empty"
        return kind, self._handlers.get(kind)

    # ------------------------------------------------------------ bookkeeping

    def _observe(self, kind: str, status: Status, seconds: float = 0.0) -> None:
        """Count a request; `on_request(kind, status, seconds spent answering)` feeds metrics."""
        self.stats.count(kind, status)
        if self.on_request is not None:
            self.on_request(kind, status, seconds)


def _status_of(reply: pb.Message) -> Status:
    kind = reply.WhichOneof("body")
    if kind == "error":
        return Status(reply.error.status)
    body = getattr(reply, kind) if kind else None
    if body is not None and body.HasField("result"):
        return Status(body.result.status)
    return Status.OK


async def _write_quietly(stream: StreamLike, message: pb.Message) -> None:
    with trio.move_on_after(1):
        with contextlib.suppress(Exception):
            await stream.write(encode_frame(message))
