"""The typed client of /registry/1.0.0: one method per request of protocols/registry.proto.

Every answer is a typed outcome carrying its status, and only "no answer" raises: PeerUnavailable
(unreachable, the protocol refused, no answer in time). A refusal, a whole-message `error` answer
included, is an outcome whose `status` is not OK, so callers branch on values, never on exception
types. Requests to this node itself are answered by its own server's handler, in process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from libp2p.peer.id import ID

from registry_p2p.core.build import IssuerPart
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.net.client import PeerUnavailable, RegistryClient
from registry_p2p.pb import registry_pb2 as pb

# Entries asked for per get_entries page, and pushed per put_entries request.
PAGE = 512
# A replica that keeps answering with a cursor is followed this far and no further.
MAX_PAGES = 10_000

LocalHandler = Callable[[bytes, pb.Message], pb.Message]


@dataclass(frozen=True, slots=True)
class Answer:
    """The status of an answer (`Result` on the wire)."""

    status: Status = Status.OK
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def describe(self) -> str:
        """How a refusal is reported (fanout's errors, WriteResult.errors): the status name."""
        return self.status.name


@dataclass(frozen=True, slots=True)
class ResourcePut(Answer):
    @property
    def stored(self) -> bool:
        """The replica holds this resource or a newer one."""
        return self.status in (Status.OK, Status.SUPERSEDED)


@dataclass(frozen=True, slots=True)
class ResourceGot(Answer):
    resource: pb.Resource | None = None  # None unless status is OK


@dataclass(frozen=True, slots=True)
class EntriesPut(Answer):
    items: tuple[Answer, ...] = ()  # one per entry sent, in order

    @property
    def stored(self) -> bool:
        """The request and every entry in it were accepted."""
        return self.ok and all(item.ok for item in self.items)

    def describe(self) -> str:
        refused = next((a for a in (self, *self.items) if not a.ok), self)
        return refused.status.name


@dataclass(frozen=True, slots=True)
class EntriesPage(Answer):
    entries: tuple[bytes, ...] = ()  # serialized Entry messages
    next_cursor: bytes = b""  # empty: no more pages
    resource: pb.Resource | None = None


@dataclass(frozen=True, slots=True)
class AllEntries(Answer):
    """Every page of a get_entries walk; `status` is the first page's refusal, if any."""

    entries: list[bytes] = field(default_factory=list)
    resource: pb.Resource | None = None  # the replica's copy, from the first page


@dataclass(frozen=True, slots=True)
class Digest(Answer):
    root: bytes = b""
    resource_created_at_ms: int = 0
    items: dict[bytes, bytes] = field(default_factory=dict)  # identity digest -> version; empty when roots matched


@dataclass(frozen=True, slots=True)
class HostSigned(Answer):
    record: pb.Record | None = None  # the countersigned record, unless refused


def _answer(result: pb.Result) -> tuple[Status, str]:
    return Status(result.status), result.text


class RegistryRpc:
    """Requests to registry peers over `client`'s persistent streams; to ourselves, through `local`."""

    def __init__(self, client: RegistryClient, local_peer: ID, local: LocalHandler | None) -> None:
        self.client = client
        self.local_peer = local_peer
        self._local_peer_bytes = local_peer.to_bytes()
        self.local = local

    async def _request(self, peer: ID, message: pb.Message, reply_field: str) -> pb.Message | Answer:
        """The reply, or the refusal when the peer answered with a whole-message error."""
        if peer == self.local_peer:
            if self.local is None:
                raise PeerUnavailable(peer, "this node stores nothing")
            reply = self.local(self._local_peer_bytes, message)
            if reply.WhichOneof("body") == "error":
                return Answer(*_answer(reply.error))
            return reply
        try:
            reply = await self.client.request(peer, message)
        except RegistryError as err:  # the peer's `error` answer
            return Answer(err.status, err.text)
        if reply.WhichOneof("body") != reply_field:
            return Answer(Status.MALFORMED, f"expected {reply_field}, got {reply.WhichOneof('body')}")
        return reply

    async def put_resource(self, peer: ID, resource: pb.Resource) -> ResourcePut:
        reply = await self._request(
            peer, pb.Message(put_resource=pb.PutResourceRequest(resource=resource)), "put_resource_response"
        )
        if isinstance(reply, Answer):
            return ResourcePut(reply.status, reply.text)
        return ResourcePut(*_answer(reply.put_resource_response.result))

    async def get_resource(self, peer: ID, resource_id: bytes) -> ResourceGot:
        message = pb.Message(get_resource=pb.GetResourceRequest(resource_id=resource_id))
        reply = await self._request(peer, message, "get_resource_response")
        if isinstance(reply, Answer):
            return ResourceGot(reply.status, reply.text)
        body = reply.get_resource_response
        status, text = _answer(body.result)
        return ResourceGot(status, text, body.resource if status is Status.OK else None)

    async def put_entries(
        self, peer: ID, resource_id: bytes, raws: list[bytes], resource: pb.Resource | None = None
    ) -> EntriesPut:
        request = pb.PutEntriesRequest(resource_id=resource_id, entries=raws, resource=resource)
        reply = await self._request(peer, pb.Message(put_entries=request), "put_entries_response")
        if isinstance(reply, Answer):
            return EntriesPut(reply.status, reply.text)
        body = reply.put_entries_response
        items = tuple(Answer(*_answer(r)) for r in body.results)
        return EntriesPut(*_answer(body.result), items=items)

    async def get_entries(
        self, peer: ID, resource_id: bytes, *, limit: int = PAGE, cursor: bytes = b"", include_tombstones: bool = True
    ) -> EntriesPage:
        request = pb.GetEntriesRequest(
            resource_id=resource_id, limit=limit, cursor=cursor, include_tombstones=include_tombstones
        )
        reply = await self._request(peer, pb.Message(get_entries=request), "get_entries_response")
        if isinstance(reply, Answer):
            return EntriesPage(reply.status, reply.text)
        body = reply.get_entries_response
        status, text = _answer(body.result)
        resource = body.resource if body.HasField("resource") else None
        return EntriesPage(status, text, tuple(body.entries), body.next_cursor, resource)

    async def all_entries(
        self, peer: ID, resource_id: bytes, *, page: int = PAGE, include_tombstones: bool = True
    ) -> AllEntries:
        """Every live entry a replica holds (its tombstones and revocations too unless told not
        to), following its cursor."""
        entries: list[bytes] = []
        cursor = b""
        resource: pb.Resource | None = None
        for _ in range(MAX_PAGES):
            got = await self.get_entries(
                peer, resource_id, limit=page, cursor=cursor, include_tombstones=include_tombstones
            )
            if not got.ok:
                return AllEntries(got.status, got.text)
            entries.extend(got.entries)
            resource = resource or got.resource
            cursor = got.next_cursor
            if not cursor:
                break
        return AllEntries(entries=entries, resource=resource)

    async def digest(self, peer: ID, resource_id: bytes, root: bytes) -> Digest:
        reply = await self._request(
            peer, pb.Message(digest=pb.DigestRequest(resource_id=resource_id, root=root)), "digest_response"
        )
        if isinstance(reply, Answer):
            return Digest(reply.status, reply.text)
        body = reply.digest_response
        items = {i.identity: i.version for i in body.items}
        return Digest(
            *_answer(body.result), root=body.root, resource_created_at_ms=body.resource_created_at_ms, items=items
        )

    async def host_sign(self, peer: ID, part: IssuerPart, resource: pb.Resource) -> HostSigned:
        request = part.to_request()
        request.resource.CopyFrom(resource)
        reply = await self._request(peer, pb.Message(host_sign=request), "host_sign_response")
        if isinstance(reply, Answer):
            return HostSigned(reply.status, reply.text)
        body = reply.host_sign_response
        status, text = _answer(body.result)
        return HostSigned(status, text, body.record if status is Status.OK else None)
