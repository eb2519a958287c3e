"""Maintenance: anti-entropy with each resource's replica set (core.antientropy's plan), renewal of
our host records, garbage collection; each a loop with jitter."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
from libp2p.peer.id import ID

from registry_p2p.core import build
from registry_p2p.core.antientropy import DhtRepublish, PeerDigest, plan_sync
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.ids import b58
from registry_p2p.core.model import Identity, SignedRecord, SignedResource
from registry_p2p.net.client import PeerUnavailable
from registry_p2p.net.rpc import PAGE
from registry_p2p.registry.context import Context
from registry_p2p.registry.reads import Reads
from registry_p2p.registry.resources import Resources
from registry_p2p.registry.writes import Writes

log = logging.getLogger("registry_p2p.registry")

T = TypeVar("T")


class Maintenance:
    """The replicate / renew / gc steps and the loop that runs each."""

    def __init__(
        self,
        ctx: Context,
        resources: Resources,
        reads: Reads,
        writes: Writes,
        health_of: Callable[[Identity], int | None] = lambda identity: None,
    ) -> None:
        self.ctx = ctx
        self.resources = resources
        self.reads = reads
        self.writes = writes
        self.dht_republish = DhtRepublish()
        # The current status of a record's health check (None: none), kept by each renewal.
        self.health_of = health_of
        self._renew_wake = trio.Event()

    def wake_renewal(self) -> None:
        """Make the renew loop look again now (a short-lived record was just registered here)."""
        self._renew_wake.set()

    async def replicate_once(self) -> None:
        """Anti-entropy: exchange digests with each resource's replica set, push and pull differences."""
        if self.ctx.store is None:
            return
        self.ctx.maintenance.replicate_rounds += 1
        held = self.ctx.store.resource_ids()
        self.dht_republish.forget_except(held)
        for rid in held:
            resource = self.ctx.store.get_resource(rid)
            if resource is None:
                continue
            peers = await self.ctx.routing.replica_set(rid, refresh=True)
            async with trio.open_nursery() as nursery:
                for peer in peers:
                    if peer != self.ctx.peer_id:
                        nursery.start_soon(self._sync_with, peer, resource)
            if peers and peers[0] == self.ctx.peer_id:
                version, replicas, now = resource.signature, [p.to_bytes() for p in peers], trio.current_time()
                if self.dht_republish.due(rid, version, replicas, now):
                    await self.resources.dht_put(resource)
                    self.dht_republish.done(rid, version, replicas, now)
                    self.ctx.maintenance.dht_puts += 1

    async def _sync_with(self, peer: ID, resource: SignedResource) -> None:
        assert self.ctx.store is not None
        rid = resource.id
        with trio.move_on_after(self.ctx.config.request_timeout_s * 2):
            try:
                root, items = self.ctx.store.digest(rid, self.ctx.clock_ms())
                answer = await self.ctx.rpc.digest(peer, rid, root)
                if answer.status is Status.UNKNOWN_RESOURCE:
                    theirs = None
                elif not answer.ok:
                    log.debug("sync of %s with %s refused: %s %s", b58(rid), peer, answer.status.name, answer.text)
                    return
                else:
                    theirs = PeerDigest(answer.root, answer.resource_created_at_ms, answer.items)
                plan = plan_sync(root, items, resource.created_at_ms, theirs)
                if plan.pull_resource:
                    newer = await self.resources.fetch_from(peer, rid)
                    if newer is not None and self.ctx.store.put_resource(newer, self.ctx.clock_ms()).ok:
                        resource = newer
                        root, items = self.ctx.store.digest(rid, self.ctx.clock_ms())
                        plan = plan_sync(root, items, resource.created_at_ms, theirs)
                if plan.push_resource:
                    await self.ctx.rpc.put_resource(peer, resource.to_pb())
                if plan.push:
                    raws = self.ctx.store.entries_by_identity_digest(rid, plan.push, self.ctx.clock_ms())
                    for start in range(0, len(raws), PAGE):
                        chunk = raws[start : start + PAGE]
                        await self.ctx.rpc.put_entries(peer, rid, chunk, resource.to_pb())
                        self.ctx.maintenance.pushed_entries += len(chunk)
                        self.ctx.maintenance.pushed_bytes += sum(len(r) for r in chunk)
                if plan.pull:
                    pairs = await self.reads.fetch_entries(peer, rid)
                    if pairs:
                        _, results = self.ctx.store.put_entries(rid, [raw for raw, _ in pairs], self.ctx.clock_ms())
                        self.ctx.maintenance.pulled_entries += sum(1 for r in results if r.status is Status.OK)
            except PeerUnavailable as exc:
                log.debug("sync of %s with %s failed: %s", b58(rid), peer, exc)
                if exc.unsupported:
                    self.ctx.routing.mark_unsupported(peer)
                else:
                    self.ctx.routing.mark_unreachable(peer)
            except RegistryError as exc:  # the store refused our own batch (e.g. its limits)
                log.debug("sync of %s with %s failed: %s", b58(rid), peer, exc)

    async def renew_once(self) -> int:
        """Re-sign our host records with less than half their TTL left, and spread them: one
        write per resource (up to a page of entries per request) to its replica set, not one per
        record. Each keeps the current status of its health check."""
        if self.ctx.store is None:
            return 0
        now = self.ctx.clock_ms()
        addrs = self.ctx.own_addrs() or None
        by_resource: dict[bytes, list[SignedRecord]] = {}
        # Records falling due within the next min_ttl_s / 8 (7.5 s) are renewed with those due
        # now: records registered together then renew together, in one batch, from then on.
        first_due = self.ctx.store.next_renewal_ms(now)
        early_ms = self.ctx.limits.min_ttl_s * 1000 // 8 if first_due is not None and first_due <= now else 0
        for record in self.ctx.store.due_for_renewal(now, early_ms):
            by_resource.setdefault(record.resource_id, []).append(record)
        renewed = 0
        for rid, records in by_resource.items():
            resource = self.ctx.store.get_resource(rid)
            if resource is None:
                continue
            # Signed all at once, before any wait: a health re-sign made meanwhile reads these
            # from the store and dates itself after them.
            raws = [
                build.renew(self.ctx.key, r, now, addrs, self.ctx.limits, self.health_of(r.identity)).encode()
                for r in records
            ]
            for start in range(0, len(raws), PAGE):
                await self.writes.write(resource, raws[start : start + PAGE], 1, extra=[])
            renewed += len(raws)
            self.ctx.maintenance.renew_writes += (len(raws) + PAGE - 1) // PAGE
        self.ctx.maintenance.renewed += renewed
        return renewed

    async def renew_loop(self, interval: float, first_delay: float) -> None:
        """`renew_once` every `interval` (jittered), and sooner when a record is due earlier: a
        record with a short TTL (soft state) is renewed soon after half its TTL, before it
        expires. The loop looks at least every min_ttl_s / 4 (15 s by default: one indexed query)
        so that a short-lived record registered during a long sleep is not missed."""
        await self._renew_sleep(min(first_delay * self._jitter(), self._renew_wait(first_delay)))
        while True:
            try:
                await self.renew_once()
            except Exception:
                log.exception("maintenance step renew_once failed")
            await self._renew_sleep(self._renew_wait(interval * self._jitter()))

    async def _renew_sleep(self, seconds: float) -> None:
        with trio.move_on_after(seconds):
            await self._renew_wake.wait()
        self._renew_wake = trio.Event()

    def _renew_wait(self, longest: float) -> float:
        wait = min(longest, self.ctx.limits.min_ttl_s / 4)
        if self.ctx.store is not None:
            due = self.ctx.store.next_renewal_ms(self.ctx.clock_ms())
            if due is not None:
                wait = min(wait, max(0.0, (due - self.ctx.clock_ms()) / 1000) + 0.05)
        return wait

    async def gc_once(self) -> Any:
        if self.ctx.store is None:
            return None
        removed = self.ctx.store.gc(self.ctx.clock_ms())
        self.ctx.maintenance.gc_records += removed.records
        self.ctx.maintenance.gc_tombstones += removed.tombstones
        self.ctx.maintenance.gc_resources += removed.resources
        return removed

    async def loop(self, interval: float, step: Callable[[], Awaitable[Any]], first_delay: float) -> None:
        await trio.sleep(first_delay * self._jitter())
        while True:
            try:
                await step()
            except Exception:
                log.exception("maintenance step %s failed", getattr(step, "__name__", step))
            await trio.sleep(interval * self._jitter())

    def _jitter(self) -> float:
        j = self.ctx.config.jitter
        return random.uniform(1 - j, 1 + j) if j else 1.0
