"""Health checks of the records this node hosts (core.health's state, net.probes' probes).

Each check is a task in the registry's nursery. When a check's status changes, the record is
re-signed with the new HostBody.health (a newer host signature, which supersedes the old one
by the one precedence rule) and written to the record's replica set, which announces it.
The renew loop keeps each record's current status (`status_of`). Checks come only from this
node's own operator or local service (config, the library): nothing on the wire adds one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import trio

from registry_p2p.core import build
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.health import CheckRefused, CheckSpec, CheckState, HealthPolicy, check_spec
from registry_p2p.core.ids import b58
from registry_p2p.core.model import HEALTH_NAMES, Identity, SignedRecord
from registry_p2p.net.probes import probe
from registry_p2p.registry.context import Context
from registry_p2p.registry.writes import Writes

log = logging.getLogger("registry_p2p.registry")


@dataclass
class _Check:
    identity: Identity
    state: CheckState
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    wake: trio.Event = field(default_factory=trio.Event)


def _name(identity: Identity) -> str:
    rid, issuer, _, service_id = identity
    return f"{b58(rid)}/{service_id!r} of {b58(issuer)}"


class HealthChecks:
    """The checks of this host's records, by record identity; at most one per record."""

    def __init__(self, ctx: Context, writes: Writes, policy: HealthPolicy) -> None:
        self.ctx = ctx
        self.writes = writes
        self.policy = policy
        self._checks: dict[Identity, _Check] = {}
        self._nursery: trio.Nursery | None = None
        self.resigned = 0  # re-signs for a change of status

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for check in self._checks.values():
                nursery.start_soon(self._run, check)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None

    def _hosted(self, identity: Identity) -> SignedRecord | None:
        """Our live record of `identity`, as the store holds it (None: gone, or not hosted here)."""
        if self.ctx.store is None:
            return None
        for record in self.ctx.store.live_records(identity[0], self.ctx.clock_ms()):
            if record.identity == identity:
                return record
        return None

    def validate(self, spec: CheckSpec) -> None:
        """Raise RegistryError NOT_AUTHORIZED, saying why, for a check this host does not run."""
        try:
            check_spec(spec, self.policy)
        except CheckRefused as err:
            raise RegistryError(Status.NOT_AUTHORIZED, f"check refused: {err}") from err

    def add(self, identity: Identity, spec: CheckSpec) -> None:
        """Start checking the record `identity` (hosted here); replaces its previous check."""
        self.validate(spec)
        if identity[2] != self.ctx.me:
            raise RegistryError(Status.NOT_AUTHORIZED, "only the host of a record checks it")
        if self._hosted(identity) is None:
            raise RegistryError(Status.UNKNOWN_RESOURCE, f"no live record {_name(identity)} is hosted here")
        self.remove(identity)
        check = _Check(identity, CheckState(spec, self.ctx.clock_ms()))
        self._checks[identity] = check
        if self._nursery is not None:
            self._nursery.start_soon(self._run, check)
        log.info("health check %s (%s) added for %s", spec.kind, spec.target or " ".join(spec.argv), _name(identity))

    def remove(self, identity: Identity) -> bool:
        check = self._checks.pop(identity, None)
        if check is None:
            return False
        check.scope.cancel()
        return True

    def status_of(self, identity: Identity) -> int | None:
        """The current status of the record's check; None when it has none."""
        check = self._checks.get(identity)
        return None if check is None else check.state.status

    def status_text(self, identity: Identity) -> tuple[str, str] | None:
        """("passing" | "critical", the last probe's line) of the record's check, None without one."""
        check = self._checks.get(identity)
        return None if check is None else (HEALTH_NAMES[check.state.status], check.state.last_output)

    async def report(self, identity: Identity, ok: bool, output: str = "") -> None:
        """The service's report for its ttl check."""
        check = self._checks.get(identity)
        if check is None:
            raise RegistryError(Status.UNKNOWN_RESOURCE, f"no health check for {_name(identity)}")
        try:
            change = check.state.report(ok, output, self.ctx.clock_ms())
        except CheckRefused as err:
            raise RegistryError(Status.MALFORMED, str(err)) from err
        check.wake.set()  # its deadline moved
        if change is not None:
            await self._resign(check, change)

    async def _run(self, check: _Check) -> None:
        with check.scope:
            while True:
                wait = max(0.0, (check.state.next_due_ms() - self.ctx.clock_ms()) / 1000)
                with trio.move_on_after(wait):
                    await check.wake.wait()
                check.wake = trio.Event()
                now = self.ctx.clock_ms()
                if now < check.state.next_due_ms():
                    continue  # woken by a report: wait for the new deadline
                if check.state.spec.kind == "ttl":
                    change = check.state.on_deadline(now)
                else:
                    try:
                        ok, output = await probe(check.state.spec)
                    except Exception as exc:  # a probe's surprise is a failing check, not a dead task
                        ok, output = False, f"probe failed: {exc!r}"
                    change = check.state.on_result(ok, output, now)
                if change is not None:
                    await self._resign(check, change)

    async def _resign(self, check: _Check, status: int) -> None:
        record = self._hosted(check.identity)
        if record is None:
            log.info("health check of %s stops: the record is gone", _name(check.identity))
            self.remove(check.identity)
            return
        resource = self.ctx.store.get_resource(record.resource_id) if self.ctx.store is not None else None
        if resource is None:
            return
        log.info("%s is %s (%s): re-signing it", _name(check.identity), HEALTH_NAMES[status], check.state.last_output)
        fresh = build.renew(
            self.ctx.key, record, self.ctx.clock_ms(), self.ctx.own_addrs() or None, self.ctx.limits, health=status
        )
        self.resigned += 1
        try:
            await self.writes.write(resource, [fresh.encode()], 1, extra=[])
        except RegistryError as err:  # stored here; the renew loop and anti-entropy retry the spread
            log.info("spreading %s's new status failed: %s", _name(check.identity), err)
