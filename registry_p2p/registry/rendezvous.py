"""Rendezvous registrations as registry records: federated over every node (DESIGN §11).

A namespace is the resource `core.rendezvous.namespace_resource_id(ns)`; a registration is a
record of the well-known key whose value is the client's envelope, byte for byte. REGISTER and
UNREGISTER are registry writes to the namespace's replica set, DISCOVER a registry read of it,
so any node answers for any namespace, and a registration outlives the node it was sent to.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import suppress

import trio
from libp2p.peer.id import ID

from registry_p2p.adapter.keys import rendezvous_key
from registry_p2p.core import build
from registry_p2p.core import rendezvous as rv
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.model import SignedRecord, SignedResource
from registry_p2p.core.precedence import live_records
from registry_p2p.net.client import PeerUnavailable
from registry_p2p.registry.context import Context
from registry_p2p.registry.reads import Reads
from registry_p2p.registry.writes import Writes

log = logging.getLogger("registry_p2p.rendezvous")

# A write waits for this many replicas (fewer when the replica set is smaller), so that the
# registration survives the node it was sent to; the rest of the replica set gets it after.
WRITE_ACK = 2


class Rendezvous:
    """The registry side of a rendezvous point: register, unregister and discover."""

    def __init__(self, ctx: Context, writes: Writes, reads: Reads, cookie_key: bytes | None = None) -> None:
        self.ctx = ctx
        self.writes = writes
        self.reads = reads
        self.key = rendezvous_key()
        self.cookies = rv.Cookies(cookie_key or secrets.token_bytes(32))
        self._resources: dict[str, SignedResource] = {}
        self._local: dict[str, tuple[tuple[int, int, int], list[rv.Found]]] = {}
        self._remote: dict[str, tuple[ID, bytes, list[rv.Found]]] = {}
        self.on_latency = ctx.on_latency

    def resource(self, ns: str) -> SignedResource:
        """The namespace's resource: the same bytes on every node."""
        resource = self._resources.get(ns)
        if resource is None:
            resource = build.make_resource(self.key, ns, rv.RESOURCE_CREATED_AT_MS, self.ctx.limits)
            if len(self._resources) > 4096:
                self._resources.clear()
            self._resources[ns] = resource
        return resource

    async def register(self, reg: rv.Registration) -> int:
        """Store the registration on the namespace's replica set; the granted TTL."""
        started = trio.current_time()
        resource = self.resource(reg.ns)
        now = self.ctx.clock_ms()
        service_id = rv.service_id_of(reg.peer_id)
        store = self.ctx.store
        record = build.make_record(self.key, resource.id, service_id, reg.envelope, now, reg.ttl_s, (), self.ctx.limits)
        raw = record.encode()
        if store is not None:
            if store.rendezvous_registrations(service_id, now) >= rv.MAX_REGISTRATIONS_PER_PEER and not any(
                r.service_id == service_id for r in store.live_records(resource.id, now)
            ):
                raise rv.RendezvousError(
                    rv.Code.E_NOT_AUTHORIZED, f"a peer may hold {rv.MAX_REGISTRATIONS_PER_PEER} registrations"
                )
            _, items = store.put_entries(resource.id, [raw], now, resource=resource)
            if not items[0].ok and items[0].status != Status.SUPERSEDED:
                raise _refusal(items[0].status, items[0].text)
        result = await self.writes.write(resource, [raw], WRITE_ACK, extra=[], store_locally=False)
        if result.acks == 0 and store is None:
            raise rv.RendezvousError(rv.Code.E_UNAVAILABLE, f"no replica stored it: {result.errors}")
        if result.acks < min(WRITE_ACK, result.replicas):
            log.info("registration in %r reached %d replicas of %d", reg.ns, result.acks, result.replicas)
        if self.on_latency is not None:
            self.on_latency("rendezvous_register", trio.current_time() - started)
        return reg.ttl_s

    async def unregister(self, unreg: rv.Unregistration) -> None:
        """Tombstone the peer's registration, if it has one: an UNREGISTER of nothing writes
        nothing, so it can neither create namespaces (each a resource held for the tombstone's
        72 h) nor fill the orphan-tombstone quota."""
        resource = self.resource(unreg.ns)
        service_id = rv.service_id_of(unreg.peer_id)
        now = self.ctx.clock_ms()
        if not await self._registered(resource.id, service_id, now):
            return
        tombstone = build.make_tombstone(self.key, resource.id, rv.OWNER, service_id, now, self.ctx.limits)
        self._local.pop(unreg.ns, None)
        await self.writes.write(resource, [tombstone.encode()], WRITE_ACK, extra=[])

    async def _registered(self, rid: bytes, service_id: str, now: int) -> bool:
        store = self.ctx.store
        if store is not None and any(r.service_id == service_id for r in store.live_records(rid, now)):
            return True
        try:
            state = await self.reads.collect(rid, 1, records_only=True)
        except RegistryError:
            return False  # no replica holds the namespace
        return any(
            isinstance(e, SignedRecord) and e.service_id == service_id and e.expires_at_ms > now for e in state.values()
        )

    async def discover(self, disc: rv.Discovery) -> tuple[list[rv.Found], bytes, int]:
        """The next page of registrations, its cookie, and the time it was taken (for TTLs)."""
        after = self.cookies.read(disc.ns, disc.cookie)
        now = self.ctx.clock_ms()
        if disc.ns:
            found = await self._namespace(disc.ns, now)
        else:
            found = self._every_local_namespace(now)
        chosen, position = rv.page(found, after, disc.limit, in_order=bool(disc.ns))
        return chosen, self.cookies.make(disc.ns, 0 if position is None else position), now

    async def _namespace(self, ns: str, now: int) -> list[rv.Found]:
        rid = rv.namespace_resource_id(ns)
        store = self.ctx.store
        mark = store.change_mark(rid) if store is not None else None
        if store is not None and mark is not None and self.ctx.routing.is_replica(rid):
            # A replica answers from its own copy, as it answers any replica read (writes reach it,
            # anti-entropy repairs it): no request leaves the node. What it found is kept until the
            # store's entries of the namespace change.
            cached = self._local.get(ns)
            if cached is None or cached[0] != mark:
                cached = (mark, _found(ns, store.live_records(rid, now)))
                if len(self._local) > 1024:
                    self._local.clear()
                self._local[ns] = cached
            return [f for f in cached[1] if f.expires_at_ms > now]
        # Another node: the closest replica's digest root says whether what this node found last
        # time is still what that replica holds (one small request instead of every registration).
        peers = await self.ctx.routing.replica_set(rid)
        if peers and peers[0] != self.ctx.peer_id:
            closest = peers[0]
            known = self._remote.get(ns)
            root = known[1] if known is not None and known[0] == closest else b""
            digest = None
            with suppress(PeerUnavailable):
                digest = await self.ctx.rpc.digest(closest, rid, root)
            if digest is not None and digest.ok:
                if known is not None and root and digest.root == root:
                    return [f for f in known[2] if f.expires_at_ms > now]
                # What is kept under that replica's root must be what that replica holds: read
                # from it, not from whichever replica answers first (one that a registration had
                # not reached yet would otherwise be served under the newer root until the next
                # change in the namespace).
                pairs = None
                with suppress(PeerUnavailable):
                    pairs = await self.reads.fetch_entries(closest, rid, include_tombstones=False)
                if pairs is not None:
                    found = _found(ns, live_records([entry for _, entry in pairs], now))
                    if len(self._remote) > 1024:
                        self._remote.clear()
                    self._remote[ns] = (closest, digest.root, found)
                    return found
        try:
            state = await self.reads.collect(rid, 1, records_only=True)
        except RegistryError as err:
            if self.ctx.store is None:
                raise rv.RendezvousError(rv.Code.E_UNAVAILABLE, err.text) from err
            # No replica answered: what this node holds itself is the best answer it has.
            log.info("discover of %r from the local store only: %s", ns, err.text)
            return _found(ns, self.ctx.store.live_records(rid, now))
        return _found(ns, live_records(state.values(), now))

    def _every_local_namespace(self, now: int) -> list[rv.Found]:
        """An empty namespace: every registration this node holds (no node knows every namespace)."""
        store = self.ctx.store
        if store is None:
            return []
        found: list[rv.Found] = []
        for rid in store.resource_ids():
            resource = store.get_resource(rid)
            if resource is not None and resource.owner == rv.OWNER:
                found.extend(_found(resource.label, store.live_records(rid, now)))
        return found


def _found(ns: str, records: list[SignedRecord]) -> list[rv.Found]:
    """A namespace's registrations, in DISCOVER order (what a node keeps is sorted once)."""
    out = []
    for record in records:
        if record.issuer != rv.OWNER:
            continue
        peer = record.value  # the envelope; its peer is the service_id (checked by core.validate)
        out.append(
            rv.Found(
                ns, peer, record.expires_at_ms, rv.position_of(record.issued_at_ms, ns, record.service_id.encode())
            )
        )
    out.sort(key=rv.by_position)
    return out


def _refusal(status: Status, text: str) -> rv.RendezvousError:
    if status == Status.LIMIT_EXCEEDED:
        return rv.RendezvousError(rv.Code.E_UNAVAILABLE, text)
    if status in (Status.INVALID_SIGNATURE, Status.MALFORMED, Status.TOO_LARGE):
        return rv.RendezvousError(rv.Code.E_INVALID_SIGNED_PEER_RECORD, text)
    return rv.RendezvousError(rv.Code.E_INTERNAL_ERROR, f"{status.name}: {text}")
