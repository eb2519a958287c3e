"""`Registry`: the plugin object mounted on a py-libp2p host (DESIGN §5, §6), a facade over its parts.

It owns the /registry/1.0.0 handler, the client, the replica-set routing, the gossipsub change
feed and the maintenance loops, all as tasks in one nursery that `mount` cancels on exit. Each
role is a part sharing one `Context`: resources, writes, reads and repair, execute, maintenance;
the watch and the change feed live here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo

from registry_p2p.adapter.dialing import one_connection_per_peer, quick_dial_retries
from registry_p2p.adapter.identify import announce_protocols
from registry_p2p.adapter.inbound_slots import count_open_inbound_connections
from registry_p2p.adapter.inbound_streams import gate_inbound_streams
from registry_p2p.adapter.keys import make_verifier
from registry_p2p.adapter.peerstore import known_addrs
from registry_p2p.adapter.pubsub_streams import keep_pubsub_streams_on_live_connections
from registry_p2p.adapter.routing_table import RoutingTableFiller
from registry_p2p.adapter.secure_writes import atomic_secure_writes
from registry_p2p.core.budgets import StreamCounts
from registry_p2p.core.config import RegistryConfig
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.grants import check_authorized
from registry_p2p.core.health import CheckSpec, HealthPolicy
from registry_p2p.core.ids import b58, peer_id_from_text, resource_id_from_text
from registry_p2p.core.model import POLICY_OPEN, Entry, Identity, SignedGrant, SignedResource
from registry_p2p.core.names import DHT_NAMESPACE, PROTOCOL_ID
from registry_p2p.core.precedence import wins
from registry_p2p.core.rendezvous import PROTOCOL_ID as RENDEZVOUS_ID
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.core.validate import check_entry_bytes
from registry_p2p.core.views import Event, Grant, Record, Resource, WriteResult
from registry_p2p.core.watch import WatchState
from registry_p2p.net.addrs import addr_text
from registry_p2p.net.bootstrap import keep_joined
from registry_p2p.net.client import RegistryClient
from registry_p2p.net.guard import WarnOnce
from registry_p2p.net.notify import Notifier
from registry_p2p.net.rendezvous import RendezvousServer
from registry_p2p.net.routing import ResourceValidator, Routing
from registry_p2p.net.rpc import RegistryRpc
from registry_p2p.net.server import RegistryServer
from registry_p2p.registry.context import Background, Context, MaintenanceStats, own_addrs, wall_clock_ms
from registry_p2p.registry.execute import Execute
from registry_p2p.registry.health import HealthChecks
from registry_p2p.registry.maintenance import Maintenance
from registry_p2p.registry.reads import Reads
from registry_p2p.registry.rendezvous import Rendezvous
from registry_p2p.registry.resources import Resources
from registry_p2p.registry.writes import Writes
from registry_p2p.store import Store

if TYPE_CHECKING:
    from registry_p2p.adapter.types import DhtLike, HostLike, PubsubLike

log = logging.getLogger("registry_p2p.registry")

T = TypeVar("T")


class Registry:
    """The Resources API. Create it with `mount(...)` or `registry_p2p.open_node(...)`."""

    def __init__(
        self,
        host: HostLike,
        dht: DhtLike,
        pubsub: PubsubLike,
        store: Store | None,
        config: RegistryConfig,
        clock_ms: Callable[[], int] = wall_clock_ms,
        rendezvous: bool = False,
    ) -> None:
        config.check()
        self.host = host
        self.dht = dht
        self.pubsub = pubsub
        self.config = config
        self.limits = config.limits
        self.clock_ms = clock_ms
        self.key = host.get_private_key()
        self.peer_id: ID = host.get_id()
        self.me = peer_id_bytes_of(self.key)
        # One verifier (and cache) for the store, the server and the change feed: an entry a replica
        # accepted is then checked again by its own gossip validator as a cache hit.
        self.verifier = store.verifier if store is not None else make_verifier()
        self.store = store
        self.serves = store is not None
        self.client = RegistryClient(host, self.limits.max_message_bytes, config.request_timeout_s)
        self.routing = Routing(host, dht, self.limits.replica_set_size, self.serves, config.replica_cache_ttl_s)
        self.notifier = Notifier(pubsub, self._check_gossip, self._gossip_sources) if pubsub is not None else None
        self._watch_sources: dict[bytes, set[bytes]] = {}
        # What the watches here know of their resources: the write policy and the grants.
        self._watch_states: dict[bytes, list[WatchState]] = {}
        self._gossip_grants: dict[Identity, SignedGrant] = {}
        self.maintenance = MaintenanceStats()
        # Every inbound stream of the host, any protocol, until its handler returns (mount gates them).
        self.inbound_streams = StreamCounts(
            self.limits.max_inbound_streams_per_peer, self.limits.max_inbound_streams_total, "inbound streams"
        )
        self._warn_streams = WarnOnce(log, "too many streams")
        self.server: RegistryServer | None = None
        if store is not None:
            self.server = RegistryServer(
                store=store,
                key=self.key,
                local_peer=self.me,
                config=config,
                verifier=self.verifier,
                clock_ms=clock_ms,
                own_addrs=self.own_addrs,
                on_accepted=self._accepted,
            )
        self.rpc = RegistryRpc(self.client, self.peer_id, self.server.handle if self.server is not None else None)
        self.ctx = Context(
            host=host,
            dht=dht,
            pubsub=pubsub,
            config=config,
            clock_ms=clock_ms,
            key=self.key,
            peer_id=self.peer_id,
            me=self.me,
            verifier=self.verifier,
            store=store,
            client=self.client,
            rpc=self.rpc,
            routing=self.routing,
            notifier=self.notifier,
            server=self.server,
            maintenance=self.maintenance,
        )
        self.resources = Resources(self.ctx)
        self.writes = Writes(self.ctx, self.resources, self._find_addrs)
        self.reads = Reads(self.ctx, self.resources)
        self.writes.lookup_grant = self.reads.grant_of
        self.execute = Execute(self.ctx, self.reads)
        self.health = HealthChecks(self.ctx, self.writes, HealthPolicy(allow_commands=config.allow_command_checks))
        self.maintainer = Maintenance(self.ctx, self.resources, self.reads, self.writes, self.health.status_of)
        # /rendezvous/1.0.0 (DESIGN §11): served by storing nodes that enable it.
        self.rendezvous: Rendezvous | None = None
        self.rendezvous_server: RendezvousServer | None = None
        if rendezvous and self.server is not None:
            self.rendezvous = Rendezvous(self.ctx, self.writes, self.reads)
            self.rendezvous_server = RendezvousServer(
                self.rendezvous,
                self.verifier,
                self.server.budgets,
                self.server.buckets,
                config.stream_idle_timeout_s,
                config.request_timeout_s,
            )
        self._accepted_send, self._accepted_receive = trio.open_memory_channel[tuple[bytes, list[bytes]]](4096)
        self._nursery: trio.Nursery | None = None

    @property
    def on_latency(self) -> Callable[[str, float], None] | None:
        """Called with ("register" | "resolve", seconds) after each; for metrics."""
        return self.ctx.on_latency

    @on_latency.setter
    def on_latency(self, observe: Callable[[str, float], None] | None) -> None:
        self.ctx.on_latency = observe

    # ================================================================ lifecycle

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve and maintain until cancelled. `mount` runs this for you."""
        if self.dht is not None:
            self.dht.register_validator(DHT_NAMESPACE, ResourceValidator(self.limits, self.verifier, self.clock_ms))
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.ctx.background = Background(nursery)
            if self.notifier is not None:
                await nursery.start(self.notifier.run)
            if self.server is not None and self.store is not None:
                self.host.set_stream_handler(TProtocol(PROTOCOL_ID), self.server.handle_stream)
                if self.rendezvous_server is not None:
                    self.host.set_stream_handler(TProtocol(RENDEZVOUS_ID), self.rendezvous_server.handle_stream)
                if self.host.get_connected_peers():
                    nursery.start_soon(announce_protocols, self.host)
                nursery.start_soon(self._publish_accepted)
                loop = self.maintainer.loop
                first_replicate = self.config.replicate_interval_s * 0.2
                if self.config.startup_replicate_delay_s is not None and self.store.resource_ids():
                    first_replicate = self.config.startup_replicate_delay_s
                nursery.start_soon(loop, self.config.replicate_interval_s, self.replicate_once, first_replicate)
                nursery.start_soon(
                    self.maintainer.renew_loop, self.config.renew_interval_s, 0.5 * self.config.renew_interval_s
                )
                await nursery.start(self.health.run)
                nursery.start_soon(loop, self.config.gc_interval_s, self.gc_once, 0.5 * self.config.gc_interval_s)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                with trio.CancelScope(shield=True):
                    if self.server is not None:
                        with suppress(Exception):
                            self.host.remove_stream_handler(TProtocol(PROTOCOL_ID))
                    if self.rendezvous_server is not None:
                        with suppress(Exception):
                            self.host.remove_stream_handler(TProtocol(RENDEZVOUS_ID))
                    await self.client.close()

    def refused_stream(self, peer: bytes, reason: str) -> None:
        """An inbound stream reset before negotiation: logged once per peer."""
        self._warn_streams(peer, "streams", reason)

    def own_addrs(self) -> list[bytes]:
        """What records hosted here carry in `addrs`: addresses others can dial, never a wildcard."""
        return own_addrs(self.host)

    async def settle(self, timeout: float | None = None) -> bool:
        """Wait until background work is done: writes still reaching the rest of a replica set
        after `ack` answers, read repairs. A short-lived client calls this before it exits.
        Returns False when `timeout` (default: the request timeout) passed first."""
        background = self.ctx.background
        if background is None:
            return True
        with trio.move_on_after(self.config.request_timeout_s if timeout is None else timeout):
            await background.idle()
            return True
        return False

    # ================================================================ change feed

    def _check_gossip(self, resource_id: bytes, data: bytes) -> Entry:
        """A change-feed entry, refused like a write: invalid, or (owner-approved resource) from
        an issuer that neither this node's store nor its watches know a grant for."""
        now = self.clock_ms()
        stored = self.store.get_resource(resource_id) if self.store is not None else None
        watches = self._watch_states.get(resource_id, [])
        resource = stored or next((w.resource for w in watches if w.resource is not None), None)
        entry = check_entry_bytes(data, now, self.limits, self.verifier, resource_id, resource)
        if isinstance(entry, SignedGrant):
            # Remembered for the records announced after it (a replica announces a grant and the
            # records it let in together, the grant first).
            if len(self._gossip_grants) > 4096:
                self._gossip_grants.clear()
            known = self._gossip_grants.get(entry.identity)
            if known is None or wins(entry, known):
                self._gossip_grants[entry.identity] = entry
            return entry
        if resource is None or not resource.owner_approved:
            return entry
        candidates = [self._gossip_grants.get((resource_id, entry.issuer, b"", ""))]
        if self.store is not None and stored is not None:
            candidates.append(self.store.grant_of(resource_id, entry.issuer, now))
        candidates.extend(watch.grant_of(entry.issuer) for watch in watches)
        grant: SignedGrant | None = None
        for candidate in candidates:
            if candidate is not None and (grant is None or wins(candidate, grant)):
                grant = candidate
        check_authorized(resource, entry, grant, now)
        return entry

    def _accepted(self, resource_id: bytes, raws: list[bytes]) -> None:
        # Grants first (an Entry holding a grant begins with 0x1A, field 3): a watcher judges the
        # records announced with a grant by it.
        raws = sorted(raws, key=lambda raw: raw[:1] != b"\x1a")
        try:
            self._accepted_send.send_nowait((resource_id, raws))
        except trio.WouldBlock:
            log.warning("change feed is behind; %d entries not announced", len(raws))

    async def _publish_accepted(self) -> None:
        async for rid, raws in self._accepted_receive:
            if self.notifier is None:
                continue
            try:
                # Replicas publish without joining the topic: its mesh is the watchers only (each
                # watcher connects to the replica set, so gossipsub's fanout reaches it). With every
                # replica in every topic of its store, gossipsub's per-topic heartbeat work grew with
                # (resources x replicas) and took half a node's CPU on an idle 20-node network.
                await self.notifier.publish_entries(rid, raws)
            except Exception:
                log.exception("announcing accepted entries failed")

    # ================================================================ the parts' API

    def resource_id(self, label: str, owner: str | None = None) -> str:
        return self.resources.resource_id(label, owner)

    async def create_resource(self, label: str, policy: str = POLICY_OPEN) -> str:
        """Create (or refresh, with a newer created_at) the resource `label` owned by this peer.
        `policy` "owner-approved" accepts records only from the owner and the issuers it grants."""
        return await self.resources.create_resource(label, policy)

    async def get_resource(self, resource_id: str) -> Resource | None:
        return await self.resources.get_resource(resource_id)

    async def grant(
        self,
        resource_id: str,
        issuer: str,
        service_prefix: str = "",
        expires_in_s: float | None = None,
        ack: int = 1,
    ) -> WriteResult:
        """As the owner of an owner-approved resource, let `issuer` register services in it
        (only service ids beginning with `service_prefix`; until `expires_in_s` seconds from now)."""
        return await self.writes.grant(resource_id, issuer, service_prefix, expires_in_s, ack)

    async def revoke(self, resource_id: str, issuer: str, ack: int = 1) -> WriteResult:
        """Withdraw `issuer`'s grant: every replica drops its records, watchers see them unregistered."""
        return await self.writes.grant(resource_id, issuer, ack=ack, revoke=True)

    async def grants(self, resource_id: str, ack: int = 1, timeout: float | None = None) -> list[Grant]:
        """The live grants and revocations of a resource."""
        return await self.reads.grants(resource_id, ack, timeout)

    async def register_service(
        self,
        resource_id: str,
        value: bytes | str,
        service_id: str = "",
        peer_id: str | None = None,
        ttl: int | None = None,
        ack: int = 1,
        check: CheckSpec | None = None,
    ) -> WriteResult:
        """Advertise a service in a resource. `peer_id` names a remote host that must consent.
        `check`: a health check this node runs on the record it hosts (see `add_check`); it is
        validated before anything is signed."""
        if check is not None:
            if peer_id and peer_id_from_text(peer_id) != self.me:
                raise RegistryError(Status.NOT_AUTHORIZED, "only the host of a record checks it; this one is remote")
            self.health.validate(check)
        result = await self.writes.register_service(resource_id, value, service_id, peer_id, ttl, ack)
        if ttl is not None and (not peer_id or peer_id_from_text(peer_id) == self.me):
            self.maintainer.wake_renewal()  # it may be due before the loop's next look
        if check is not None:
            self.add_check(resource_id, check, service_id)
        return result

    async def unregister_service(
        self, resource_id: str, service_id: str = "", peer_id: str | None = None, ack: int = 1
    ) -> WriteResult:
        """Sign a tombstone for our record (hosted by `peer_id`, default ourselves) and spread it."""
        if not peer_id or peer_id_from_text(peer_id) == self.me:
            self.health.remove(self._hosted_identity(resource_id, service_id, None))
        return await self.writes.unregister_service(resource_id, service_id, peer_id, ack)

    # ================================================================ health checks

    def _hosted_identity(self, resource_id: str, service_id: str, issuer: str | None) -> Identity:
        rid = resource_id_from_text(resource_id)
        return (rid, peer_id_from_text(issuer) if issuer else self.me, self.me, service_id)

    def add_check(self, resource_id: str, check: CheckSpec, service_id: str = "", issuer: str | None = None) -> None:
        """Check the health of a record hosted here (issued by `issuer`, default ourselves): a
        failing check re-signs it `critical` (resolve then leaves it out, watchers see
        "critical"), a passing one `passing` again. Raises RegistryError NOT_AUTHORIZED for a
        check the host policy refuses (a command while commands are disabled, absurd intervals),
        UNKNOWN_RESOURCE when no live record of that identity is hosted here. One check per
        record: a new one replaces the old."""
        self.health.add(self._hosted_identity(resource_id, service_id, issuer), check)

    def remove_check(self, resource_id: str, service_id: str = "", issuer: str | None = None) -> bool:
        """Stop checking a record (its current status stays until its next change or renewal)."""
        return self.health.remove(self._hosted_identity(resource_id, service_id, issuer))

    async def check_pass(
        self, resource_id: str, service_id: str = "", ok: bool = True, output: str = "", issuer: str | None = None
    ) -> None:
        """The service's report for its ttl check: passing (or failing with `ok=False`) until the
        check's ttl_s runs out without another report."""
        await self.health.report(self._hosted_identity(resource_id, service_id, issuer), ok, output)

    def check_status(self, resource_id: str, service_id: str = "", issuer: str | None = None) -> tuple[str, str] | None:
        """("passing" | "critical", the last probe's line) of a record's check; None without one."""
        return self.health.status_text(self._hosted_identity(resource_id, service_id, issuer))

    async def resolve(
        self, resource_id: str, ack: int = 1, timeout: float | None = None, include_critical: bool = False
    ) -> list[Record]:
        """Live records of a resource, merged from `ack` replicas: a list, [] when none. Records
        their host reports critical (a failing health check) are left out unless `include_critical`."""
        return await self.reads.resolve(resource_id, ack, timeout, include_critical)

    def execute_on_resource(
        self,
        resource_id: str,
        fn: Callable[[Any, Record], Awaitable[T]],
        ack: int = 1,
        timeout: float | None = None,
    ) -> AsyncIterator[tuple[Record, T | BaseException]]:
        """Resolve, dial each record's host through its addrs, run `await fn(host, record)` concurrently.

        Yields (record, result or exception) in completion order; each call is bounded by `timeout`.
        """
        return self.execute.execute_on_resource(resource_id, fn, ack, timeout)

    async def probe(self, records: list[Record], deadline: float = 2.0) -> list[float | None]:
        """Liveness at resolve time: ping each record's host over libp2p (dialing its addrs),
        concurrently; per record the round trip in ms, or None when its host did not answer
        within `deadline` seconds."""
        return await self.execute.probe(records, deadline)

    async def replicate_once(self) -> None:
        """Anti-entropy: exchange digests with each resource's replica set, push and pull differences."""
        await self.maintainer.replicate_once()

    async def renew_once(self) -> int:
        """Re-sign our host records with less than half their TTL left, and spread them."""
        return await self.maintainer.renew_once()

    async def gc_once(self) -> Any:
        return await self.maintainer.gc_once()

    async def _collect(self, rid: bytes, ack: int, timeout: float | None = None) -> dict[Any, Entry]:
        return await self.reads.collect(rid, ack, timeout)

    @property
    def _write_resources(self) -> dict[bytes, tuple[float, SignedResource]]:
        """The resource copies cached for writes (the bench clears one to time a cold write)."""
        return self.resources._write_resources

    def _local_dht_resource(self, rid: bytes) -> SignedResource | None:
        return self.resources.local_dht_resource(rid)

    async def _dial_record_host(self, record: Record) -> None:
        await self.execute.dial_record_host(record)

    # ================================================================ watch

    @asynccontextmanager
    async def watch(self, resource_id: str) -> AsyncIterator[AsyncIterator[Event]]:
        """Yield an async iterator of events: the current records first, then every change."""
        if self.notifier is None:
            raise RegistryError(Status.UNAVAILABLE, "this registry has no pubsub")
        rid = resource_id_from_text(resource_id)
        # Gossipsub reaches only subscribers among our connections: join the replicas' mesh first.
        peers = await self.routing.replica_set(rid)
        self._watch_sources.setdefault(rid, set()).update(p.to_bytes() for p in peers)
        async with trio.open_nursery() as nursery:
            for peer in peers:
                if peer != self.peer_id:
                    nursery.start_soon(self._connect, peer)
        await self.notifier.join(rid)
        changes = self.notifier.listen(rid)
        send, receive = trio.open_memory_channel[Event](1024)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch_task, rid, changes, send)
                try:
                    yield _iterate(receive)
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            self.notifier.unlisten(rid, changes)
            if not self.notifier.listener_count(rid):
                self._watch_sources.pop(rid, None)

    def _gossip_sources(self, rid: bytes) -> set[bytes] | None:
        """The peers whose announcements of `rid` a watch here surfaces: the replicas it found
        when it started, those of the current replica set, and the K closest peers of the
        routing table. The last matters on a network smaller than K, whose replica sets are never
        cached: a watch that started while some replicas were still unidentified (a young network,
        a fresh client) would otherwise ignore exactly the replicas a write reached."""
        watched = self._watch_sources.get(rid)
        if watched is None:
            return None
        current = [*(self.routing.cached(rid) or ()), *self.routing.local_closest(rid)]
        return watched | {p.to_bytes() for p in current}

    async def _connect(self, peer: ID) -> None:
        if peer in self.host.get_connected_peers():
            return
        with trio.move_on_after(self.config.request_timeout_s):
            try:
                await self.host.connect(PeerInfo(peer, self.host.get_peerstore().addrs(peer)))
            except Exception as exc:
                log.debug("connect to %s failed: %s", peer, exc)

    async def _watch_task(
        self, rid: bytes, changes: trio.MemoryReceiveChannel[Entry], send: trio.MemorySendChannel[Event]
    ) -> None:
        """Drives `core.watch.WatchState`: the snapshot, then each change or expiry as it comes."""
        state = WatchState(self.config.weight, addr_text)
        self._watch_states.setdefault(rid, []).append(state)
        try:
            await self._watch_loop(rid, state, changes, send)
        finally:
            states = self._watch_states.get(rid, [])
            if state in states:
                states.remove(state)
            if not states:
                self._watch_states.pop(rid, None)

    async def _watch_loop(
        self,
        rid: bytes,
        state: WatchState,
        changes: trio.MemoryReceiveChannel[Entry],
        send: trio.MemorySendChannel[Event],
    ) -> None:
        try:
            snapshot, state.resource = await self.reads.collect_with_resource(rid, 1)
        except RegistryError as err:
            log.info("watch snapshot of %s failed (%s); changes only", b58(rid), err)
            snapshot = {}
        # Changes that arrived while the snapshot was taken go through the same precedence rule.
        for event in state.start(snapshot.values(), self.clock_ms()):
            await send.send(event)
        while True:
            next_expiry = state.next_expiry()
            wait = float("inf") if next_expiry is None else max(0.0, (next_expiry - self.clock_ms()) / 1000)
            entry: Entry | None = None
            with trio.move_on_after(wait):
                entry = await changes.receive()
            now = self.clock_ms()
            for event in state.expire(now) if entry is None else state.on_entry(entry, now):
                await send.send(event)

    async def _find_addrs(self, peer: ID) -> None:
        """Look a peer's addresses up in the DHT when this node knows none (a remote host that
        this client never met): without them a request to it fails with "no known addresses"."""
        if peer in self.host.get_connected_peers() or self.dht is None or known_addrs(self.host, peer):
            return
        with trio.move_on_after(self.config.request_timeout_s):
            try:
                info = await self.dht.find_peer(peer)
            except Exception as exc:
                log.debug("DHT lookup of %s failed: %s", peer, exc)
                return
            if info is not None and info.addrs:
                self.host.get_peerstore().add_addrs(peer, info.addrs, 600)


async def _iterate(receive: trio.MemoryReceiveChannel[Event]) -> AsyncIterator[Event]:
    async for event in receive:
        yield event


@asynccontextmanager
async def mount(
    host: HostLike,
    dht: DhtLike,
    pubsub: PubsubLike,
    store: Store | None = None,
    config: RegistryConfig | None = None,
    *,
    serve: bool = True,
    clock_ms: Callable[[], int] = wall_clock_ms,
    bootstrap: Sequence[PeerInfo] = (),
    rendezvous: bool = False,
) -> AsyncIterator[Registry]:
    """Mount the registry on a running py-libp2p host, DHT and pubsub; unmount on exit.

    `store` defaults to an in-memory store when `serve` is true; `serve=False` makes a light
    client that stores nothing and is never part of a replica set.

    Everything the registry needs from py-libp2p is applied here, on the objects given, and
    undone on exit (each step is named after the py-libp2p behaviour it handles, in adapter/):
    peers learned from every connection, in both directions, go into the DHT's routing table
    (py-libp2p adds none); a refused dial is retried once and forgotten after 5 s (not 3 retries
    and 60 s); one connection per peer (py-libp2p's default of 3 makes every dial wait 250 ms);
    inbound connections counted while open (py-libp2p keeps each one's slot until the swarm
    stops, so after ~250 connections ever a node refused every inbound connection for good);
    a pubsub stream left on a closed connection of a peer still connected moved to a live one
    (py-libp2p kept writing into it, and what it wrote was lost); writes on secure sessions made
    atomic under cancellation (a cancelled Noise write lost its nonce and the peer closed the
    connection); an inbound stream beyond `max_inbound_streams_per_peer` (every protocol of the
    host counts) or `max_inbound_streams_total` reset before protocol negotiation (py-libp2p
    negotiates every stream before a handler can refuse it, and negotiation is most of its cost).

    `bootstrap` (the peers the application joined through, as PeerInfo): while the host has
    fewer than a handful of peers and none of these, they are dialed again with backoff, so a
    node whose bootstrap peers were down when it started does not stay alone for good.

    `rendezvous`: also serve `/rendezvous/1.0.0` (libp2p's rendezvous protocol) on the host, its
    namespaces federated over the registry (DESIGN §11); needs `serve`.
    """
    config = config or RegistryConfig()
    if store is None and serve:
        store = Store(
            ":memory:",
            local_peer=host.get_id().to_bytes(),
            limits=config.limits,
            verifier=make_verifier(),
            weight=config.weight,
        )
    registry = Registry(host, dht, pubsub, store if serve else None, config, clock_ms, rendezvous)
    undo = [
        atomic_secure_writes(host),
        quick_dial_retries(host),
        one_connection_per_peer(host),
        count_open_inbound_connections(host),
        gate_inbound_streams(host, registry.inbound_streams, registry.refused_stream),
    ]
    filler = RoutingTableFiller(host, dht, on_connected=registry.routing.reachable_again)
    swarm = host.get_network()
    swarm.register_notifee(filler)
    try:
        async with trio.open_nursery() as nursery:
            undo.append(keep_pubsub_streams_on_live_connections(host, pubsub, nursery))
            await nursery.start(filler.run)
            filler.learn_connected()
            await nursery.start(registry.run)
            nursery.start_soon(keep_joined, host, dht, list(bootstrap))
            try:
                yield registry
            finally:
                nursery.cancel_scope.cancel()
    finally:
        with suppress(Exception):
            swarm.remove_notifee(filler)
        for step in reversed(undo):
            step()
