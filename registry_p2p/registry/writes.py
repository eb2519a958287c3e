"""Writes: records (self-hosted or countersigned by a remote host) and tombstones, to `ack` replicas."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

import trio
from libp2p.kad_dht.utils import sort_peer_ids_by_distance
from libp2p.peer.id import ID

from registry_p2p.core import build
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.ids import peer_id_from_text, resource_id_from_text
from registry_p2p.core.model import SignedGrant, SignedRecord, SignedResource
from registry_p2p.core.validate import check_entry_bytes, validate_entry
from registry_p2p.core.views import WriteResult
from registry_p2p.net.client import PeerUnavailable
from registry_p2p.net.rpc import EntriesPut
from registry_p2p.pb import registry_pb2 as pb
from registry_p2p.registry.context import Context
from registry_p2p.registry.resources import Resources

log = logging.getLogger("registry_p2p.registry")

T = TypeVar("T")


class Writes:
    """Sign entries and spread them over the replica set."""

    def __init__(self, ctx: Context, resources: Resources, find_addrs: Callable[[ID], Awaitable[None]]) -> None:
        self.ctx = ctx
        self.resources = resources
        self.find_addrs = find_addrs
        # (resource id, grantee) -> the grantee's grant entry as the replicas hold it.
        self.lookup_grant: Callable[[bytes, bytes], Awaitable[SignedGrant | None]] | None = None

    async def register_service(
        self,
        resource_id: str,
        value: bytes | str,
        service_id: str = "",
        peer_id: str | None = None,
        ttl: int | None = None,
        ack: int = 1,
    ) -> WriteResult:
        """Advertise a service in a resource. `peer_id` names a remote host that must consent."""
        started = trio.current_time()
        rid = resource_id_from_text(resource_id)
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        resource, replicas = await self.resources.for_write(rid)
        now = self.ctx.clock_ms()
        host = peer_id_from_text(peer_id) if peer_id else self.ctx.me
        if host == self.ctx.me:
            record = build.make_record(
                self.ctx.key, rid, service_id, data, now, ttl, self.ctx.own_addrs(), self.ctx.limits
            )
        else:
            record = await self._host_sign(resource, host, service_id, data, now, ttl)
        validate_entry(record, now, self.ctx.limits, self.ctx.verifier, rid)
        if host == self.ctx.me:
            await self._keep_own_grant(resource)
        result = await self.write(resource, [record.encode()], ack, extra=[], replicas=replicas)
        if self.ctx.on_latency is not None:
            self.ctx.on_latency("register", trio.current_time() - started)
        return replace(result, expires_at_ms=record.expires_at_ms)

    async def _host_sign(
        self, resource: SignedResource, host: bytes, service_id: str, data: bytes, now: int, ttl: int | None
    ) -> SignedRecord:
        part = build.make_issuer_part(self.ctx.key, resource.id, host, service_id, data, now, ttl, self.ctx.limits)
        peer = ID(host)
        await self.find_addrs(peer)
        if resource.owner_approved and resource.owner != self.ctx.me:
            await self._hand_grant_to(peer, resource)
        try:
            signed = await self.ctx.rpc.host_sign(peer, part, resource.to_pb())
        except PeerUnavailable as exc:
            raise RegistryError(
                Status.UNAVAILABLE, f"the host peer {peer} could not be reached ({exc.reason})"
            ) from exc
        if signed.record is None:
            raise RegistryError(signed.status, signed.text or "host refused to countersign")
        record = check_entry_bytes(
            pb.Entry(record=signed.record).SerializeToString(),
            self.ctx.clock_ms(),
            self.ctx.limits,
            self.ctx.verifier,
            resource.id,
        )
        if not isinstance(record, SignedRecord) or record.issuer_body != part.body:
            raise RegistryError(Status.INVALID_SIGNATURE, "host returned a record we did not issue")
        return record

    async def grant(
        self,
        resource_id: str,
        issuer: str,
        service_prefix: str = "",
        expires_in_s: float | None = None,
        ack: int = 1,
        *,
        revoke: bool = False,
    ) -> WriteResult:
        """As the resource's owner, let `issuer` write records (service ids beginning with
        `service_prefix`, for `expires_in_s` seconds or for good), or with `revoke` withdraw it:
        every replica then drops the issuer's records."""
        rid = resource_id_from_text(resource_id)
        grantee = peer_id_from_text(issuer)
        resource, replicas = await self.resources.for_write(rid)
        if resource.owner != self.ctx.me:
            raise RegistryError(Status.NOT_AUTHORIZED, "only the resource's owner grants or revokes")
        if expires_in_s is not None and expires_in_s <= 0:
            raise RegistryError(Status.MALFORMED, "a grant's lifetime must be positive")
        now = self.ctx.clock_ms()
        expires_at = 0 if expires_in_s is None else now + int(expires_in_s * 1000)
        entry = build.make_grant(
            self.ctx.key,
            rid,
            grantee,
            now,
            service_prefix="" if revoke else service_prefix,
            expires_at_ms=expires_at,
            revoked=revoke,
            limits=self.ctx.limits,
        )
        validate_entry(entry, now, self.ctx.limits, self.ctx.verifier, rid, resource)
        return await self.write(resource, [entry.encode()], ack, extra=[], replicas=replicas)

    async def _keep_own_grant(self, resource: SignedResource) -> None:
        """A serving node keeps (and renews) its own records: in an owner-approved resource its
        store needs this node's grant to accept them, though it may hold no replica of it."""
        store = self.ctx.store
        if store is None or not resource.owner_approved or resource.owner == self.ctx.me:
            return
        now = self.ctx.clock_ms()
        if store.grant_of(resource.id, self.ctx.me, now) is not None or self.lookup_grant is None:
            return
        grant = await self.lookup_grant(resource.id, self.ctx.me)
        if grant is not None:
            store.put_entries(resource.id, [grant], now, resource=resource)

    async def _hand_grant_to(self, peer: ID, resource: SignedResource) -> None:
        """A host outside the replica set knows no grants: give it ours (an owner-signed entry of
        the resource it stores like a replica), so that it countersigns, keeps and renews the record."""
        now = self.ctx.clock_ms()
        grant = self.ctx.store.grant_of(resource.id, self.ctx.me, now) if self.ctx.store is not None else None
        if grant is None and self.lookup_grant is not None:
            grant = await self.lookup_grant(resource.id, self.ctx.me)
        if grant is None:
            return  # the host refuses with NOT_AUTHORIZED, which is the answer
        try:
            await self.ctx.rpc.put_entries(peer, resource.id, [grant.encode()], resource.to_pb())
        except PeerUnavailable as exc:
            raise RegistryError(
                Status.UNAVAILABLE, f"the host peer {peer} could not be reached ({exc.reason})"
            ) from exc

    async def unregister_service(
        self, resource_id: str, service_id: str = "", peer_id: str | None = None, ack: int = 1
    ) -> WriteResult:
        """Sign a tombstone for our record (hosted by `peer_id`, default ourselves) and spread it."""
        rid = resource_id_from_text(resource_id)
        resource, replicas = await self.resources.for_write(rid)
        host = peer_id_from_text(peer_id) if peer_id else self.ctx.me
        tombstone = build.make_tombstone(self.ctx.key, rid, host, service_id, self.ctx.clock_ms(), self.ctx.limits)
        # A remote host must learn of it too, or it would keep renewing the record.
        extra = [ID(host)] if host != self.ctx.me else []
        return await self.write(resource, [tombstone.encode()], ack, extra=extra, replicas=replicas)

    async def write(
        self,
        resource: SignedResource,
        raws: list[bytes],
        ack: int,
        extra: list[ID],
        replicas: list[ID] | None = None,
        *,
        store_locally: bool = True,
    ) -> WriteResult:
        """Store `raws` on the replica set; `replicas` is the set an earlier lookup found, if any.

        Neither one lookup nor the other is enough alone. A lookup drops a peer whose FIND_NODE
        failed once and a set smaller than K is not cached, so a second lookup can miss a replica
        the first found (a tombstone then never reached it); on a young network the first lookup
        can miss peers whose identify had not finished, found by the second. Both sets are asked,
        closest first. `store_locally=False`: the caller already put `raws` into this node's store.
        """
        rid = resource.id
        if replicas is not None:
            fresh = await self.ctx.routing.replica_set(rid)
            replicas = sort_peer_ids_by_distance(rid, list(dict.fromkeys([*fresh, *replicas])))
        if store_locally and self.ctx.store is not None and self.ctx.peer_id not in extra:
            # The host of a record keeps it (and renews it) whether or not it is a replica.
            self.ctx.store.put_entries(rid, raws, self.ctx.clock_ms(), resource=resource)
        carried = resource.to_pb()

        async def ask(peer: ID) -> EntriesPut:
            # A refusal is reported by its status (FROM_FUTURE, LIMIT_EXCEEDED...) in WriteResult.errors.
            return await self.ctx.rpc.put_entries(peer, rid, raws, carried)

        def stored(answer: EntriesPut) -> bool:
            return answer.stored

        # Return once `ack` replicas stored it; the rest of the replica set still gets the write.
        # The closest replicas are asked first (one spare): those a resolve asks first too.
        got, peers = await self.ctx.gather_replicas(
            rid,
            ask,
            need=max(1, ack) + len(extra),
            succeeded=stored,
            extra=extra,
            background=self.ctx.background,
            first=replicas,
        )
        acks = sum(1 for peer in list(got.successes) if peer in peers)
        errors = {str(peer): reason for peer, reason in list(got.errors.items())}
        return WriteResult(ok=acks >= ack, acks=acks, errors=errors, replicas=len(peers))
