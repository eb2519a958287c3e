"""Reads and read repair: merge `ack` replicas' answers, then send each the winners it lacked."""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, TypeVar

import trio
from libp2p.peer.id import ID

from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.grants import authorized, grants_of
from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.core.model import Entry, SignedGrant, SignedResource, resource_from_pb
from registry_p2p.core.precedence import live_records, sort_for_resolve
from registry_p2p.core.repair import plan_read_repair
from registry_p2p.core.validate import check_entry_bytes, is_live, validate_resource
from registry_p2p.core.views import Grant, Record
from registry_p2p.net.addrs import addr_text
from registry_p2p.net.client import PeerUnavailable
from registry_p2p.registry.context import Context, errors_text
from registry_p2p.registry.resources import Resources

log = logging.getLogger("registry_p2p.registry")

T = TypeVar("T")

# Entries found valid by earlier reads, by their raw bytes: resolving a resource again mostly
# receives the same entries, and decoding and checking each (~50 us, more than its share of the
# request) would otherwise be done anew by every read.
VALID_ENTRIES = 32768
# Entries one read repairs on each replica (see collect_with_resource), in one request.
REPAIR_SLICE = 64


class Reads:
    """Resolve through the replica set; repair what the answers show stale (core.repair's plan)."""

    def __init__(self, ctx: Context, resources: Resources) -> None:
        self.ctx = ctx
        self.resources = resources
        self._valid: OrderedDict[bytes, Entry] = OrderedDict()

    async def resolve(
        self, resource_id: str, ack: int = 1, timeout: float | None = None, include_critical: bool = False
    ) -> list[Record]:
        """Live, passing records of a resource (critical ones too with `include_critical`), merged
        from `ack` replicas: a list, [] when none."""
        started = trio.current_time()
        rid = resource_id_from_text(resource_id)
        state = await self.collect(rid, ack, timeout, records_only=True)
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
        self, rid: bytes, ack: int, timeout: float | None = None, *, records_only: bool = False
    ) -> dict[Any, Entry]:
        """The merged state of `ack` replicas, less what the resource's write policy refuses.
        `records_only`: the caller uses only the state's records (and grants): its tombstones
        and revocations are then read only when the replicas' records disagree."""
        state, _ = await self.collect_with_resource(rid, ack, timeout, records_only=records_only)
        return state

    async def collect_with_resource(
        self, rid: bytes, ack: int, timeout: float | None = None, *, records_only: bool = False
    ) -> tuple[dict[Any, Entry], SignedResource | None]:
        """`collect`, and the newest valid resource copy the replicas sent with their answers."""
        peers = await self.ctx.routing.replica_set(rid)
        if ack > len(peers):
            raise RegistryError(Status.UNAVAILABLE, f"ack={ack} but the replica set has {len(peers)} peers reachable")
        copies: list[SignedResource] = []
        deadline = None if timeout is None else trio.current_time() + timeout
        # With `records_only`, records and grants first. When every replica asked returns the
        # same ones, none of them holds a tombstone or a revocation that would change the result
        # (a replica keeps one entry per identity), so their tombstones, which can outnumber the
        # records many times (1,024 orphans of an attacker made every resolve 4x slower), need
        # not be read.
        answers = await self._gather(rid, ack, timeout, peers, copies, include_tombstones=not records_only)
        if records_only and len({frozenset(raws) for raws, _ in answers.values()}) > 1:
            left = None if deadline is None else max(deadline - trio.current_time(), 0.0)
            answers = await self._gather(rid, ack, left, peers, copies, include_tombstones=True)
        now = self.ctx.clock_ms()
        plan = plan_read_repair({p: entries for p, (_, entries) in answers.items()}, now)
        resource = max(copies, key=lambda r: (r.created_at_ms, r.signature), default=None)
        # An owner-approved resource: what a stale replica still holds for a revoked or expired
        # grant is neither returned nor repaired onto others (they would refuse it anyway).
        grants = grants_of(plan.state.values())
        state = {e.identity: e for e in authorized(resource, plan.state.values(), now, grants)}
        # One read repairs at most REPAIR_SLICE entries per replica, deletions first: what a single
        # write missed is repaired at once, a bulk difference (a replica back from away, or one
        # replica flooded with 250 new records by an attacker) over later reads and anti-entropy,
        # so that no read makes the other replicas verify hundreds of entries at once.
        missing = {
            p: sorted(kept, key=lambda e: not e.is_tombstone)[:REPAIR_SLICE]
            for p, es in plan.missing.items()
            if (kept := authorized(resource, es, now, grants))
        }
        if missing:
            self.ctx.spawn(self._read_repair, rid, missing)
        return state, resource

    async def _gather(
        self,
        rid: bytes,
        ack: int,
        timeout: float | None,
        peers: list[ID],
        copies: list[SignedResource],
        *,
        include_tombstones: bool,
    ) -> dict[ID, tuple[list[bytes], list[Entry]]]:
        """`ack` replicas' valid entries (raw, decoded); UNAVAILABLE when fewer answered."""
        answers: dict[ID, tuple[list[bytes], list[Entry]]] = {}

        async def ask(peer: ID) -> list[tuple[bytes, Entry]] | None:
            pairs = await self.fetch_entries(peer, rid, copies, include_tombstones=include_tombstones)
            if pairs is not None:
                answers[peer] = ([raw for raw, _ in pairs], [entry for _, entry in pairs])
            return pairs

        got, _ = await self.ctx.gather_replicas(
            rid, ask, need=ack, succeeded=lambda e: e is not None, timeout=timeout, first=peers
        )
        if len(got.successes) < ack:
            raise RegistryError(
                Status.UNAVAILABLE,
                f"only {len(got.successes)} of {ack} replicas answered: {errors_text(got.errors)}",
            )
        return {peer: answers[peer] for peer in got.successes}

    async def fetch_entries(
        self,
        peer: ID,
        rid: bytes,
        copies: list[SignedResource] | None = None,
        *,
        include_tombstones: bool = True,
    ) -> list[tuple[bytes, Entry]] | None:
        """All live entries a replica holds (following the cursor), as (raw bytes, entry) pairs;
        None when it lacks the resource. Replicas mostly agree, so most raw entries arrive many
        times: `_checked` decodes and validates each once. The replica's valid copy of the
        resource is added to `copies` (grants are checked against its owner)."""
        entries: list[tuple[bytes, Entry]] = []
        now = self.ctx.clock_ms()
        answer = await self.ctx.rpc.all_entries(peer, rid, include_tombstones=include_tombstones)
        if not answer.ok:
            return None
        resource = self._valid_copy(rid, answer.resource, now)
        if resource is not None and copies is not None:
            copies.append(resource)
        for raw in answer.entries:
            entry = self._checked(peer, raw, rid, resource, now)
            if entry is not None:
                entries.append((raw, entry))
        return entries

    def _checked(self, peer: ID, raw: bytes, rid: bytes, resource: SignedResource | None, now: int) -> Entry | None:
        """`raw` decoded and validated, or None when it is invalid; valid ones are remembered.
        A remembered entry is still checked for what time changes (its lifetime) and for the
        resource it was read from (the signed resource id); a refusal is never remembered, so a
        hostile replica cannot fill the memory with garbage, and FROM_FUTURE can become valid."""
        entry = self._valid.get(raw)
        if entry is not None and entry.resource_id == rid and is_live(entry, now, self.ctx.limits):
            self._valid.move_to_end(raw)
            return entry
        try:
            entry = check_entry_bytes(raw, now, self.ctx.limits, self.ctx.verifier, rid, resource)
        except RegistryError as err:
            log.info("replica %s served an invalid entry: %s", peer, err)
            return None
        self._valid[raw] = entry
        if len(self._valid) > VALID_ENTRIES:
            self._valid.popitem(last=False)
        return entry

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
