"""Reads and read repair: merge `ack` replicas' answers, then send each the winners it lacked."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import trio
from libp2p.peer.id import ID

from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.grants import authorized, grants_of
from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.core.model import Entry, SignedGrant, SignedResource, resource_from_pb
from registry_p2p.core.precedence import live_records, sort_for_resolve
from registry_p2p.core.repair import plan_read_repair
from registry_p2p.core.validate import check_entry_bytes, validate_resource
from registry_p2p.core.views import Grant, Record
from registry_p2p.net.addrs import addr_text
from registry_p2p.net.client import PeerUnavailable
from registry_p2p.registry.context import Context, errors_text
from registry_p2p.registry.resources import Resources

log = logging.getLogger("registry_p2p.registry")

T = TypeVar("T")


class Reads:
    """Resolve through the replica set; repair what the answers show stale (core.repair's plan)."""

    def __init__(self, ctx: Context, resources: Resources) -> None:
        self.ctx = ctx
        self.resources = resources

    async def resolve(
        self, resource_id: str, ack: int = 1, timeout: float | None = None, include_critical: bool = False
    ) -> list[Record]:
        """Live, passing records of a resource (critical ones too with `include_critical`), merged
        from `ack` replicas: a list, [] when none."""
        started = trio.current_time()
        rid = resource_id_from_text(resource_id)
        state = await self.collect(rid, ack, timeout)
        live = live_records(state.values(), self.ctx.clock_ms(), include_critical)
        records = sort_for_resolve(live, self.ctx.config.weight)
        if self.ctx.on_latency is not None:
            self.ctx.on_latency("resolve", trio.current_time() - started)
        return [Record.of(r, self.ctx.config.weight, addr_text=addr_text) for r in records]

    async def grants(self, resource_id: str, ack: int = 1, timeout: float | None = None) -> list[Grant]:
        """The live grants and revocations of a resource, merged from `ack` replicas."""
        state, _ = await self.collect_with_resource(resource_id_from_text(resource_id), ack, timeout)
        return sorted((Grant.of(g) for g in grants_of(state.values()).values()), key=lambda g: g.grantee)

    async def grant_of(self, rid: bytes, grantee: bytes) -> SignedGrant | None:
        """`grantee`'s winning grant entry in a resource, as one replica holds it."""
        state, _ = await self.collect_with_resource(rid, 1)
        return grants_of(state.values()).get(grantee)

    async def collect(
        self, rid: bytes, ack: int, timeout: float | None = None, memo: dict[bytes, Entry | None] | None = None
    ) -> dict[Any, Entry]:
        """The merged state of `ack` replicas, less what the resource's write policy refuses.
        `memo`: raw entries already decoded and validated (a caller's own, kept across reads)."""
        state, _ = await self.collect_with_resource(rid, ack, timeout, memo)
        return state

    async def collect_with_resource(
        self, rid: bytes, ack: int, timeout: float | None = None, memo: dict[bytes, Entry | None] | None = None
    ) -> tuple[dict[Any, Entry], SignedResource | None]:
        """`collect`, and the newest valid resource copy the replicas sent with their answers."""
        peers = await self.ctx.routing.replica_set(rid)
        if ack > len(peers):
            raise RegistryError(Status.UNAVAILABLE, f"ack={ack} but the replica set has {len(peers)} peers reachable")
        answers: dict[ID, list[Entry]] = {}
        memo = {} if memo is None else memo
        copies: list[SignedResource] = []

        async def ask(peer: ID) -> list[Entry] | None:
            pairs = await self.fetch_entries(peer, rid, memo, copies)
            if pairs is None:
                return None
            answers[peer] = entries = [entry for _, entry in pairs]
            return entries

        got, _ = await self.ctx.gather_replicas(
            rid, ask, need=ack, succeeded=lambda e: e is not None, timeout=timeout, first=peers
        )
        if len(got.successes) < ack:
            raise RegistryError(
                Status.UNAVAILABLE,
                f"only {len(got.successes)} of {ack} replicas answered: {errors_text(got.errors)}",
            )
        now = self.ctx.clock_ms()
        plan = plan_read_repair({p: answers[p] for p in got.successes}, now)
        resource = max(copies, key=lambda r: (r.created_at_ms, r.signature), default=None)
        # An owner-approved resource: what a stale replica still holds for a revoked or expired
        # grant is neither returned nor repaired onto others (they would refuse it anyway).
        grants = grants_of(plan.state.values())
        state = {e.identity: e for e in authorized(resource, plan.state.values(), now, grants)}
        missing = {p: kept for p, es in plan.missing.items() if (kept := authorized(resource, es, now, grants))}
        if missing:
            self.ctx.spawn(self._read_repair, rid, missing)
        return state, resource

    async def fetch_entries(
        self,
        peer: ID,
        rid: bytes,
        memo: dict[bytes, Entry | None] | None = None,
        copies: list[SignedResource] | None = None,
    ) -> list[tuple[bytes, Entry]] | None:
        """All live entries a replica holds (following the cursor), as (raw bytes, entry) pairs;
        None when it lacks the resource. `memo` shares decoding and validation across answers:
        replicas mostly agree, so most raw entries arrive many times. The replica's valid copy
        of the resource is added to `copies` (grants are checked against its owner)."""
        memo = {} if memo is None else memo
        entries: list[tuple[bytes, Entry]] = []
        now = self.ctx.clock_ms()
        answer = await self.ctx.rpc.all_entries(peer, rid)
        if not answer.ok:
            return None
        resource = self._valid_copy(rid, answer.resource, now)
        if resource is not None and copies is not None:
            copies.append(resource)
        for raw in answer.entries:
            if raw in memo:
                entry = memo[raw]
            else:
                try:
                    entry = check_entry_bytes(raw, now, self.ctx.limits, self.ctx.verifier, rid, resource)
                except RegistryError as err:
                    log.info("replica %s served an invalid entry: %s", peer, err)
                    entry = None
                memo[raw] = entry
            if entry is not None:
                entries.append((raw, entry))
        return entries

    def _valid_copy(self, rid: bytes, message: Any, now: int) -> SignedResource | None:
        if message is None:
            return None
        try:
            resource = resource_from_pb(message, self.ctx.limits)
            validate_resource(resource, now, self.ctx.limits, self.ctx.verifier)
        except RegistryError as err:
            log.info("a replica sent an invalid copy of its resource: %s", err)
            return None
        return resource if resource.id == rid else None

    async def _read_repair(self, rid: bytes, missing: dict[ID, list[Entry]]) -> None:
        """Send each replica the winning entries it lacked or held stale (core.repair's plan)."""
        resource = self.ctx.store.get_resource(rid) if self.ctx.store is not None else None
        if resource is None:
            resource = await self.resources.fetch_resource(rid)
            if resource is None:
                return
        carried = resource.to_pb()
        for peer, entries in missing.items():
            with trio.move_on_after(self.ctx.config.request_timeout_s):
                try:
                    await self.ctx.rpc.put_entries(peer, rid, [e.encode() for e in entries], carried)
                except PeerUnavailable as exc:
                    log.debug("read repair of %s failed: %s", peer, exc)
