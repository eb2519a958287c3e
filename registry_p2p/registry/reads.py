"""Reads and read repair: merge `ack` replicas' answers, then send each the winners it lacked."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import trio
from libp2p.peer.id import ID

from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.core.model import Entry
from registry_p2p.core.precedence import live_records, sort_for_resolve
from registry_p2p.core.repair import plan_read_repair
from registry_p2p.core.validate import check_entry_bytes
from registry_p2p.core.views import Record
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

    async def collect(self, rid: bytes, ack: int, timeout: float | None = None) -> dict[Any, Entry]:
        peers = await self.ctx.routing.replica_set(rid)
        if ack > len(peers):
            raise RegistryError(Status.UNAVAILABLE, f"ack={ack} but the replica set has {len(peers)} peers reachable")
        answers: dict[ID, list[Entry]] = {}
        memo: dict[bytes, Entry | None] = {}

        async def ask(peer: ID) -> list[Entry] | None:
            pairs = await self.fetch_entries(peer, rid, memo)
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
        plan = plan_read_repair({p: answers[p] for p in got.successes}, self.ctx.clock_ms())
        if plan.missing:
            self.ctx.spawn(self._read_repair, rid, plan.missing)
        return plan.state

    async def fetch_entries(
        self, peer: ID, rid: bytes, memo: dict[bytes, Entry | None] | None = None
    ) -> list[tuple[bytes, Entry]] | None:
        """All live entries a replica holds (following the cursor), as (raw bytes, entry) pairs;
        None when it lacks the resource. `memo` shares decoding and validation across answers:
        replicas mostly agree, so most raw entries arrive many times."""
        memo = {} if memo is None else memo
        entries: list[tuple[bytes, Entry]] = []
        now = self.ctx.clock_ms()
        answer = await self.ctx.rpc.all_entries(peer, rid)
        if not answer.ok:
            return None
        for raw in answer.entries:
            if raw in memo:
                entry = memo[raw]
            else:
                try:
                    entry = check_entry_bytes(raw, now, self.ctx.limits, self.ctx.verifier, rid)
                except RegistryError as err:
                    log.info("replica %s served an invalid entry: %s", peer, err)
                    entry = None
                memo[raw] = entry
            if entry is not None:
                entries.append((raw, entry))
        return entries

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
