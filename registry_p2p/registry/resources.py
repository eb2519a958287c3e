"""Resources: creating them, finding the newest valid copy, and the copy a write carries."""

from __future__ import annotations

import logging
from typing import TypeVar

import trio
from libp2p.peer.id import ID

from registry_p2p.adapter.dht_values import fresh_get_value, local_dht_value
from registry_p2p.core import build
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.ids import b58, resource_id_from_text
from registry_p2p.core.model import POLICY_OPEN, SignedResource, resource_from_pb
from registry_p2p.core.names import dht_key
from registry_p2p.core.validate import validate_resource
from registry_p2p.core.views import Resource
from registry_p2p.net.rpc import ResourcePut
from registry_p2p.pb import registry_pb2 as pb
from registry_p2p.registry.context import Context, errors_text

log = logging.getLogger("registry_p2p.registry")

T = TypeVar("T")


class Resources:
    """Create, fetch and cache resources; keep the DHT copy for plain libp2p peers."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # Resources fetched for writes by a node that does not store them (a light client):
        # any valid copy will do for a write, so a short-lived cache saves a round trip each.
        self._write_resources: dict[bytes, tuple[float, SignedResource]] = {}

    def resource_id(self, label: str, owner: str | None = None) -> str:
        from registry_p2p.core.ids import resource_id

        return resource_id(label, owner or b58(self.ctx.me))

    async def create_resource(self, label: str, policy: str = POLICY_OPEN) -> str:
        """Create (or refresh, with a newer created_at) the resource `label` owned by this peer,
        with write policy `policy` ("open" or "owner-approved"); a newer version replaces the
        policy of an older one, and replicas apply it to what they hold."""
        now = self.ctx.clock_ms()
        resource = build.make_resource(self.ctx.key, label, now, self.ctx.limits, policy)
        validate_resource(resource, now, self.ctx.limits, self.ctx.verifier)
        peers = await self.ctx.routing.replica_set(resource.id)
        message = resource.to_pb()

        async def ask(peer: ID) -> ResourcePut:
            return await self.ctx.rpc.put_resource(peer, message)

        got = await self.ctx.gather(peers, ask, len(peers), lambda answer: answer.stored)
        # The DHT copy serves plain libp2p peers; the replicas already answer for the resource.
        self.ctx.spawn(self.dht_put, resource)
        if not got.successes:
            raise RegistryError(Status.UNAVAILABLE, f"resource wasn't created: {errors_text(got.errors)}")
        return b58(resource.id)

    async def dht_put(self, resource: SignedResource) -> None:
        if self.ctx.dht is None:
            return
        with trio.move_on_after(self.ctx.config.request_timeout_s):
            try:
                await self.ctx.dht.put_value(dht_key(resource.id), resource.encode())
            except Exception as exc:  # the replicas hold the resource too; the DHT copy is for plain libp2p peers
                log.debug("DHT put of %s failed: %s", b58(resource.id), exc)

    async def get_resource(self, resource_id: str) -> Resource | None:
        resource = await self.fetch_resource(resource_id_from_text(resource_id))
        return Resource.of(resource) if resource is not None else None

    async def fetch_resource(self, rid: bytes) -> SignedResource | None:
        """The newest valid copy among the replica set (never a stale local DHT copy)."""
        resource, _ = await self.fetch_resource_and_replicas(rid)
        return resource

    async def fetch_resource_and_replicas(self, rid: bytes) -> tuple[SignedResource | None, list[ID]]:
        """The newest valid copy among the replica set, and the replica set it was asked of."""
        peers = await self.ctx.routing.replica_set(rid)
        found = await self._ask_resource(rid, peers)
        if not found:
            # Our view of the replica set may be stale (churn, a young routing table): look again.
            fresh = await self.ctx.routing.replica_set(rid, refresh=True)
            if fresh != peers:
                found = await self._ask_resource(rid, fresh)
            peers = fresh
        if not found and self.ctx.dht is not None:
            found = await self._dht_resource(rid)
        if not found:
            return None, peers
        return max(found, key=lambda r: (r.created_at_ms, r.signature)), peers

    async def _ask_resource(self, rid: bytes, peers: list[ID]) -> list[SignedResource]:

        async def ask(peer: ID) -> SignedResource | None:
            answer = await self.ctx.rpc.get_resource(peer, rid)
            if answer.resource is None:
                return None
            resource = resource_from_pb(answer.resource, self.ctx.limits)
            validate_resource(resource, self.ctx.clock_ms(), self.ctx.limits, self.ctx.verifier)
            return resource if resource.id == rid else None

        got = await self.ctx.gather(peers, ask, 1, lambda r: r is not None)
        return [r for r in got.successes.values() if r is not None]

    async def fetch_from(self, peer: ID, rid: bytes) -> SignedResource | None:
        """One replica's valid copy of a resource, if it has one."""
        found = await self._ask_resource(rid, [peer])
        return found[0] if found else None

    def local_dht_resource(self, rid: bytes) -> SignedResource | None:
        value = local_dht_value(self.ctx.dht, dht_key(rid)) if self.ctx.dht is not None else None
        if value is None:
            return None
        try:
            resource = resource_from_pb(pb.Resource.FromString(value), self.ctx.limits)
            validate_resource(resource, self.ctx.clock_ms(), self.ctx.limits, self.ctx.verifier)
        except Exception as exc:  # the DHT validator checked it when stored; it may have expired since
            log.debug("local DHT copy of %s unusable: %s", b58(rid), exc)
            return None
        return resource if resource.id == rid else None

    async def _dht_resource(self, rid: bytes) -> list[SignedResource]:
        with trio.move_on_after(self.ctx.config.request_timeout_s):
            try:
                value = await fresh_get_value(self.ctx.dht, dht_key(rid))
                if value:
                    resource = resource_from_pb(pb.Resource.FromString(value), self.ctx.limits)
                    validate_resource(resource, self.ctx.clock_ms(), self.ctx.limits, self.ctx.verifier)
                    if resource.id == rid:
                        return [resource]
            except Exception as exc:
                log.debug("DHT lookup of %s failed: %s", b58(rid), exc)
        return []

    async def for_write(self, rid: bytes) -> tuple[SignedResource, list[ID] | None]:
        """The resource a write carries, and the replica set when finding the resource looked it up.

        The write goes to that replica set too (see `Writes.write`).
        """
        local = self.ctx.store.get_resource(rid) if self.ctx.store is not None else None
        if local is not None:
            return local, None
        cached = self._write_resources.get(rid)
        if cached is not None and trio.current_time() - cached[0] < self.ctx.config.replica_cache_ttl_s:
            return cached[1], None
        # Any valid copy will do for a write (replicas keep the newest they know): the DHT copy
        # this node holds first. Without it, a writer cut off from every replica of the
        # resource (a partition) could not write at all, although the replicas it can reach
        # accept the write when it carries the resource.
        replicas: list[ID] | None = None
        fetched = self.local_dht_resource(rid)
        if fetched is None:
            fetched, replicas = await self.fetch_resource_and_replicas(rid)
        if fetched is None:
            raise RegistryError(Status.UNKNOWN_RESOURCE, f"resource {b58(rid)} not found")
        if len(self._write_resources) > 1024:
            self._write_resources.clear()
        self._write_resources[rid] = (trio.current_time(), fetched)
        return fetched, replicas or None
