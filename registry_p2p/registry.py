"""`Registry`: the plugin object mounted on a py-libp2p host (DESIGN §5, §6).

It owns the /registry/1.0.0 handler, the client, the replica-set routing, the gossipsub change
feed and the maintenance loops, all as tasks in one nursery that `mount` cancels on exit.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import trio
from libp2p.custom_types import TProtocol
from libp2p.kad_dht.utils import sort_peer_ids_by_distance
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from multiaddr import Multiaddr

from registry_p2p.core import build
from registry_p2p.core.antientropy import PeerDigest, plan_sync
from registry_p2p.core.config import RegistryConfig
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.ids import b58, peer_id_from_text, resource_id_from_text
from registry_p2p.core.model import Entry, SignedRecord, SignedResource, resource_from_pb
from registry_p2p.core.names import DHT_NAMESPACE, PROTOCOL_ID, dht_key
from registry_p2p.core.precedence import live_records, sort_for_resolve, wins
from registry_p2p.core.repair import plan_read_repair
from registry_p2p.core.signing import Verifier, peer_id_bytes_of
from registry_p2p.core.validate import check_entry_bytes, validate_entry, validate_resource
from registry_p2p.core.views import Event, Record, Resource, WriteResult
from registry_p2p.net.addrs import host_addrs
from registry_p2p.net.client import PeerUnavailable, RegistryClient
from registry_p2p.net.compat import (
    RoutingTableFiller,
    announce_protocols,
    fresh_get_value,
    local_dht_value,
    one_connection_per_peer,
    quick_dial_retries,
)
from registry_p2p.net.fanout import Gathered, gather
from registry_p2p.net.notify import Notifier
from registry_p2p.net.routing import ResourceValidator, Routing
from registry_p2p.net.rpc import PAGE, EntriesPut, RegistryRpc, ResourcePut
from registry_p2p.net.server import RegistryServer
from registry_p2p.pb import registry_pb2 as pb
from registry_p2p.store import Store

log = logging.getLogger("registry_p2p.registry")

T = TypeVar("T")
# Replica sets tried per request: the first, then up to two recomputed without unreachable peers.
REPLICA_ROUNDS = 3


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class MaintenanceStats:
    replicate_rounds: int = 0
    pushed_entries: int = 0
    pushed_bytes: int = 0
    pulled_entries: int = 0
    renewed: int = 0
    gc_records: int = 0
    gc_tombstones: int = 0
    gc_resources: int = 0


class Registry:
    """The Resources API. Create it with `mount(...)` or `registry_p2p.open_node(...)`."""

    def __init__(
        self,
        host: Any,
        dht: Any,
        pubsub: Any,
        store: Store | None,
        config: RegistryConfig,
        clock_ms: Callable[[], int] = wall_clock_ms,
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
        self.verifier = store.verifier if store is not None else Verifier()
        self.store = store
        self.serves = store is not None
        self.client = RegistryClient(host, self.limits.max_message_bytes, config.request_timeout_s)
        self.routing = Routing(host, dht, self.limits.replica_set_size, self.serves, config.replica_cache_ttl_s)
        self.notifier = Notifier(pubsub, self._check_gossip) if pubsub is not None else None
        self.maintenance = MaintenanceStats()
        self.on_latency: Callable[[str, float], None] | None = None
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
        self._accepted_send, self._accepted_receive = trio.open_memory_channel[tuple[bytes, list[bytes]]](4096)
        self._nursery: trio.Nursery | None = None
        self._background: _Background | None = None
        # Resources fetched for writes by a node that does not store them (a light client):
        # any valid copy will do for a write, so a short-lived cache saves a round trip each.
        self._write_resources: dict[bytes, tuple[float, SignedResource]] = {}

    # ================================================================ lifecycle

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve and maintain until cancelled. `mount` runs this for you."""
        if self.dht is not None:
            self.dht.register_validator(DHT_NAMESPACE, ResourceValidator(self.limits, self.verifier, self.clock_ms))
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._background = _Background(nursery)
            if self.notifier is not None:
                await nursery.start(self.notifier.run)
            if self.server is not None and self.store is not None:
                self.host.set_stream_handler(TProtocol(PROTOCOL_ID), self.server.handle_stream)
                if self.host.get_connected_peers():
                    nursery.start_soon(announce_protocols, self.host)
                nursery.start_soon(self._publish_accepted)
                first_replicate = self.config.replicate_interval_s * 0.2
                if self.config.startup_replicate_delay_s is not None and self.store.resource_ids():
                    first_replicate = self.config.startup_replicate_delay_s
                nursery.start_soon(self._loop, self.config.replicate_interval_s, self.replicate_once, first_replicate)
                nursery.start_soon(
                    self._loop, self.config.renew_interval_s, self.renew_once, 0.5 * self.config.renew_interval_s
                )
                nursery.start_soon(self._loop, self.config.gc_interval_s, self.gc_once, 0.5 * self.config.gc_interval_s)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                with trio.CancelScope(shield=True):
                    if self.server is not None:
                        with suppress(Exception):
                            self.host.remove_stream_handler(TProtocol(PROTOCOL_ID))
                    await self.client.close()

    async def _loop(self, interval: float, step: Callable[[], Awaitable[Any]], first_delay: float) -> None:
        await trio.sleep(first_delay * self._jitter())
        while True:
            try:
                await step()
            except Exception:
                log.exception("maintenance step %s failed", getattr(step, "__name__", step))
            await trio.sleep(interval * self._jitter())

    def _jitter(self) -> float:
        j = self.config.jitter
        return random.uniform(1 - j, 1 + j) if j else 1.0

    def own_addrs(self) -> list[bytes]:
        """What records hosted here carry in `addrs`: addresses others can dial, never a wildcard."""
        return [a.to_bytes() for a in host_addrs(self.host)]

    # ================================================================ plumbing

    async def _gather(
        self, peers: list[ID], ask: Callable[[ID], Awaitable[T]], need: int, succeeded: Callable[[T], bool]
    ) -> Any:
        return await gather(
            peers,
            ask,
            need=need,
            timeout=self.config.request_timeout_s,
            succeeded=succeeded,
            on_unsupported=self.routing.mark_unsupported,
            on_unreachable=self.routing.mark_unreachable,
            window=need + 1,
        )

    async def _gather_replicas(
        self,
        rid: bytes,
        ask: Callable[[ID], Awaitable[T]],
        *,
        need: int,
        succeeded: Callable[[T], bool],
        extra: list[ID] | None = None,
        timeout: float | None = None,
        background: Any = None,
        first: list[ID] | None = None,
    ) -> tuple[Gathered[T], list[ID]]:
        """Ask the replica set of `rid` (and `extra` peers) until `need` answers succeeded.

        A replica set can name peers that left: routing tables and the replica-set cache keep
        them. Each failed request marks its peer unreachable, so when a round falls short because
        peers were unreachable the set is computed again without them and the peers not yet asked
        are asked: after churn a resolve reaches the live replicas instead of failing. Returns
        what was gathered and every replica asked (to count acks among replicas only). `first` is
        the replica set when the caller already looked it up.
        """
        total: Gathered[T] = Gathered()
        asked: set[ID] = set()
        replicas: list[ID] = []
        extra = extra or []
        deadline = math.inf
        for round_ in range(REPLICA_ROUNDS):
            peers = first if round_ == 0 and first is not None else await self.routing.replica_set(rid)
            if deadline == math.inf:
                # The timeout bounds the requests; the first lookup has its own bound.
                deadline = trio.current_time() + (timeout or self.config.request_timeout_s)
            replicas += [p for p in peers if p not in replicas]
            targets = [p for p in dict.fromkeys([*extra, *peers]) if p not in asked]
            remaining = need - len(total.successes)
            if not targets or deadline <= trio.current_time():
                break
            asked.update(targets)
            got = await gather(
                targets,
                ask,
                need=remaining,
                timeout=deadline - trio.current_time(),
                succeeded=succeeded,
                on_unsupported=self.routing.mark_unsupported,
                on_unreachable=self.routing.mark_unreachable,
                background=background,
                # The closest replicas first, one spare; more only on failure.
                window=remaining + 1,
            )
            total.successes.update(got.successes)
            total.errors.update(got.errors)
            total.timed_out = got.timed_out
            unreachable = [p for p in got.errors if self.routing.recently_unreachable(p)]
            if len(total.successes) >= need or got.timed_out or not unreachable:
                break
        return total, replicas

    def _check_gossip(self, resource_id: bytes, data: bytes) -> Entry:
        return check_entry_bytes(data, self.clock_ms(), self.limits, self.verifier, resource_id)

    def _accepted(self, resource_id: bytes, raws: list[bytes]) -> None:
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

    def _spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        if self._background is not None:
            self._background.start_soon(fn, *args)

    async def settle(self, timeout: float | None = None) -> bool:
        """Wait until background work is done: writes still reaching the rest of a replica set
        after `ack` answers, read repairs. A short-lived client calls this before it exits.
        Returns False when `timeout` (default: the request timeout) passed first."""
        if self._background is None:
            return True
        with trio.move_on_after(self.config.request_timeout_s if timeout is None else timeout):
            await self._background.idle()
            return True
        return False

    # ================================================================ resources

    def resource_id(self, label: str, owner: str | None = None) -> str:
        from registry_p2p.core.ids import resource_id

        return resource_id(label, owner or b58(self.me))

    async def create_resource(self, label: str) -> str:
        """Create (or refresh, with a newer created_at) the resource `label` owned by this peer."""
        now = self.clock_ms()
        resource = build.make_resource(self.key, label, now, self.limits)
        validate_resource(resource, now, self.limits, self.verifier)
        peers = await self.routing.replica_set(resource.id)
        message = resource.to_pb()

        async def ask(peer: ID) -> ResourcePut:
            return await self.rpc.put_resource(peer, message)

        got = await self._gather(peers, ask, len(peers), lambda answer: answer.stored)
        # The DHT copy serves plain libp2p peers; the replicas already answer for the resource.
        self._spawn(self._dht_put, resource)
        if not got.successes:
            raise RegistryError(Status.UNAVAILABLE, f"resource wasn't created: {_errors_text(got.errors)}")
        return b58(resource.id)

    async def _dht_put(self, resource: SignedResource) -> None:
        if self.dht is None:
            return
        with trio.move_on_after(self.config.request_timeout_s):
            try:
                await self.dht.put_value(dht_key(resource.id), resource.encode())
            except Exception as exc:  # the replicas hold the resource too; the DHT copy is for plain libp2p peers
                log.debug("DHT put of %s failed: %s", b58(resource.id), exc)

    async def get_resource(self, resource_id: str) -> Resource | None:
        resource = await self._fetch_resource(resource_id_from_text(resource_id))
        return Resource.of(resource) if resource is not None else None

    async def _fetch_resource(self, rid: bytes) -> SignedResource | None:
        """The newest valid copy among the replica set (never a stale local DHT copy)."""
        resource, _ = await self._fetch_resource_and_replicas(rid)
        return resource

    async def _fetch_resource_and_replicas(self, rid: bytes) -> tuple[SignedResource | None, list[ID]]:
        """The newest valid copy among the replica set, and the replica set it was asked of."""
        peers = await self.routing.replica_set(rid)
        found = await self._ask_resource(rid, peers)
        if not found:
            # Our view of the replica set may be stale (churn, a young routing table): look again.
            fresh = await self.routing.replica_set(rid, refresh=True)
            if fresh != peers:
                found = await self._ask_resource(rid, fresh)
            peers = fresh
        if not found and self.dht is not None:
            found = await self._dht_resource(rid)
        if not found:
            return None, peers
        return max(found, key=lambda r: (r.created_at_ms, r.signature)), peers

    async def _ask_resource(self, rid: bytes, peers: list[ID]) -> list[SignedResource]:

        async def ask(peer: ID) -> SignedResource | None:
            answer = await self.rpc.get_resource(peer, rid)
            if answer.resource is None:
                return None
            resource = resource_from_pb(answer.resource, self.limits)
            validate_resource(resource, self.clock_ms(), self.limits, self.verifier)
            return resource if resource.id == rid else None

        got = await self._gather(peers, ask, 1, lambda r: r is not None)
        return [r for r in got.successes.values() if r is not None]

    def _local_dht_resource(self, rid: bytes) -> SignedResource | None:
        value = local_dht_value(self.dht, dht_key(rid)) if self.dht is not None else None
        if value is None:
            return None
        try:
            resource = resource_from_pb(pb.Resource.FromString(value), self.limits)
            validate_resource(resource, self.clock_ms(), self.limits, self.verifier)
        except Exception as exc:  # the DHT validator checked it when stored; it may have expired since
            log.debug("local DHT copy of %s unusable: %s", b58(rid), exc)
            return None
        return resource if resource.id == rid else None

    async def _dht_resource(self, rid: bytes) -> list[SignedResource]:
        with trio.move_on_after(self.config.request_timeout_s):
            try:
                value = await fresh_get_value(self.dht, dht_key(rid))
                if value:
                    resource = resource_from_pb(pb.Resource.FromString(value), self.limits)
                    validate_resource(resource, self.clock_ms(), self.limits, self.verifier)
                    if resource.id == rid:
                        return [resource]
            except Exception as exc:
                log.debug("DHT lookup of %s failed: %s", b58(rid), exc)
        return []

    async def _resource_for_write(self, rid: bytes) -> tuple[SignedResource, list[ID] | None]:
        """The resource a write carries, and the replica set when finding the resource looked it up.

        The write goes to that replica set too (see `_write`).
        """
        local = self.store.get_resource(rid) if self.store is not None else None
        if local is not None:
            return local, None
        cached = self._write_resources.get(rid)
        if cached is not None and trio.current_time() - cached[0] < self.config.replica_cache_ttl_s:
            return cached[1], None
        # Any valid copy will do for a write (replicas keep the newest they know): the DHT copy
        # this node holds first. Without it, a writer cut off from every replica of the
        # resource (a partition) could not write at all, although the replicas it can reach
        # accept the write when it carries the resource.
        replicas: list[ID] | None = None
        fetched = self._local_dht_resource(rid)
        if fetched is None:
            fetched, replicas = await self._fetch_resource_and_replicas(rid)
        if fetched is None:
            raise RegistryError(Status.UNKNOWN_RESOURCE, f"resource {b58(rid)} not found")
        if len(self._write_resources) > 1024:
            self._write_resources.clear()
        self._write_resources[rid] = (trio.current_time(), fetched)
        return fetched, replicas or None

    # ================================================================ writes

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
        resource, replicas = await self._resource_for_write(rid)
        now = self.clock_ms()
        host = peer_id_from_text(peer_id) if peer_id else self.me
        if host == self.me:
            record = build.make_record(self.key, rid, service_id, data, now, ttl, self.own_addrs(), self.limits)
        else:
            record = await self._host_sign(resource, host, service_id, data, now, ttl)
        validate_entry(record, now, self.limits, self.verifier, rid)
        result = await self._write(resource, [record.encode()], ack, extra=[], replicas=replicas)
        if self.on_latency is not None:
            self.on_latency("register", trio.current_time() - started)
        return result

    async def _host_sign(
        self, resource: SignedResource, host: bytes, service_id: str, data: bytes, now: int, ttl: int | None
    ) -> SignedRecord:
        part = build.make_issuer_part(self.key, resource.id, host, service_id, data, now, ttl, self.limits)
        peer = ID(host)
        await self._find_addrs(peer)
        try:
            signed = await self.rpc.host_sign(peer, part, resource.to_pb())
        except PeerUnavailable as exc:
            raise RegistryError(
                Status.UNAVAILABLE, f"the host peer {peer} could not be reached ({exc.reason})"
            ) from exc
        if signed.record is None:
            raise RegistryError(signed.status, signed.text or "host refused to countersign")
        record = check_entry_bytes(
            pb.Entry(record=signed.record).SerializeToString(), self.clock_ms(), self.limits, self.verifier, resource.id
        )
        if not isinstance(record, SignedRecord) or record.issuer_body != part.body:
            raise RegistryError(Status.INVALID_SIGNATURE, "host returned a record we did not issue")
        return record

    async def _find_addrs(self, peer: ID) -> None:
        """Look a peer's addresses up in the DHT when this node knows none (a remote host that
        this client never met): without them a request to it fails with "no known addresses"."""
        if peer in self.host.get_connected_peers() or self.dht is None:
            return
        try:
            if self.host.get_peerstore().addrs(peer):
                return
        except Exception:  # py-libp2p raises PeerStoreError for a peer it never heard of
            pass
        with trio.move_on_after(self.config.request_timeout_s):
            try:
                info = await self.dht.find_peer(peer)
            except Exception as exc:
                log.debug("DHT lookup of %s failed: %s", peer, exc)
                return
            if info is not None and info.addrs:
                self.host.get_peerstore().add_addrs(peer, info.addrs, 600)

    async def unregister_service(
        self, resource_id: str, service_id: str = "", peer_id: str | None = None, ack: int = 1
    ) -> WriteResult:
        """Sign a tombstone for our record (hosted by `peer_id`, default ourselves) and spread it."""
        rid = resource_id_from_text(resource_id)
        resource, replicas = await self._resource_for_write(rid)
        host = peer_id_from_text(peer_id) if peer_id else self.me
        tombstone = build.make_tombstone(self.key, rid, host, service_id, self.clock_ms(), self.limits)
        # A remote host must learn of it too, or it would keep renewing the record.
        extra = [ID(host)] if host != self.me else []
        return await self._write(resource, [tombstone.encode()], ack, extra=extra, replicas=replicas)

    async def _write(
        self, resource: SignedResource, raws: list[bytes], ack: int, extra: list[ID], replicas: list[ID] | None = None
    ) -> WriteResult:
        """Store `raws` on the replica set; `replicas` is the set an earlier lookup found, if any.

        Neither one lookup nor the other is enough alone. A lookup drops a peer whose FIND_NODE
        failed once and a set smaller than K is not cached, so a second lookup can miss a replica
        the first found (a tombstone then never reached it); on a young network the first lookup
        can miss peers whose identify had not finished, found by the second. Both sets are asked,
        closest first.
        """
        rid = resource.id
        if replicas is not None:
            fresh = await self.routing.replica_set(rid)
            replicas = sort_peer_ids_by_distance(rid, list(dict.fromkeys([*fresh, *replicas])))
        if self.store is not None and self.peer_id not in extra:
            # The host of a record keeps it (and renews it) whether or not it is a replica.
            self.store.put_entries(rid, raws, self.clock_ms(), resource=resource)
        carried = resource.to_pb()

        async def ask(peer: ID) -> EntriesPut:
            # A refusal is reported by its status (FROM_FUTURE, LIMIT_EXCEEDED...) in WriteResult.errors.
            return await self.rpc.put_entries(peer, rid, raws, carried)

        def stored(answer: EntriesPut) -> bool:
            return answer.stored

        # Return once `ack` replicas stored it; the rest of the replica set still gets the write.
        # The closest replicas are asked first (one spare): those a resolve asks first too.
        got, peers = await self._gather_replicas(
            rid,
            ask,
            need=max(1, ack) + len(extra),
            succeeded=stored,
            extra=extra,
            background=self._background,
            first=replicas,
        )
        acks = sum(1 for peer in list(got.successes) if peer in peers)
        errors = {str(peer): reason for peer, reason in list(got.errors.items())}
        return WriteResult(ok=acks >= ack, acks=acks, errors=errors, replicas=len(peers))

    # ================================================================ reads

    async def resolve(self, resource_id: str, ack: int = 1, timeout: float | None = None) -> list[Record]:
        """Live records of a resource, merged from `ack` replicas: a list, [] when none."""
        started = trio.current_time()
        rid = resource_id_from_text(resource_id)
        state = await self._collect(rid, ack, timeout)
        records = sort_for_resolve(live_records(state.values(), self.clock_ms()), self.config.weight)
        if self.on_latency is not None:
            self.on_latency("resolve", trio.current_time() - started)
        return [Record.of(r, self.config.weight) for r in records]

    async def _collect(self, rid: bytes, ack: int, timeout: float | None = None) -> dict[Any, Entry]:
        peers = await self.routing.replica_set(rid)
        if ack > len(peers):
            raise RegistryError(Status.UNAVAILABLE, f"ack={ack} but the replica set has {len(peers)} peers reachable")
        answers: dict[ID, list[Entry]] = {}
        memo: dict[bytes, Entry | None] = {}

        async def ask(peer: ID) -> list[Entry] | None:
            pairs = await self._fetch_entries(peer, rid, memo)
            if pairs is None:
                return None
            answers[peer] = entries = [entry for _, entry in pairs]
            return entries

        got, _ = await self._gather_replicas(
            rid, ask, need=ack, succeeded=lambda e: e is not None, timeout=timeout, first=peers
        )
        if len(got.successes) < ack:
            raise RegistryError(
                Status.UNAVAILABLE,
                f"only {len(got.successes)} of {ack} replicas answered: {_errors_text(got.errors)}",
            )
        plan = plan_read_repair({p: answers[p] for p in got.successes}, self.clock_ms())
        if plan.missing:
            self._spawn(self._read_repair, rid, plan.missing)
        return plan.state

    async def _fetch_entries(
        self, peer: ID, rid: bytes, memo: dict[bytes, Entry | None] | None = None
    ) -> list[tuple[bytes, Entry]] | None:
        """All live entries a replica holds (following the cursor), as (raw bytes, entry) pairs;
        None when it lacks the resource. `memo` shares decoding and validation across answers:
        replicas mostly agree, so most raw entries arrive many times."""
        memo = {} if memo is None else memo
        entries: list[tuple[bytes, Entry]] = []
        now = self.clock_ms()
        answer = await self.rpc.all_entries(peer, rid)
        if not answer.ok:
            return None
        for raw in answer.entries:
            if raw in memo:
                entry = memo[raw]
            else:
                try:
                    entry = check_entry_bytes(raw, now, self.limits, self.verifier, rid)
                except RegistryError as err:
                    log.info("replica %s served an invalid entry: %s", peer, err)
                    entry = None
                memo[raw] = entry
            if entry is not None:
                entries.append((raw, entry))
        return entries

    async def _read_repair(self, rid: bytes, missing: dict[ID, list[Entry]]) -> None:
        """Send each replica the winning entries it lacked or held stale (core.repair's plan)."""
        resource = self.store.get_resource(rid) if self.store is not None else None
        if resource is None:
            resource = await self._fetch_resource(rid)
            if resource is None:
                return
        carried = resource.to_pb()
        for peer, entries in missing.items():
            with trio.move_on_after(self.config.request_timeout_s):
                try:
                    await self.rpc.put_entries(peer, rid, [e.encode() for e in entries], carried)
                except PeerUnavailable as exc:
                    log.debug("read repair of %s failed: %s", peer, exc)

    # ================================================================ watch

    @asynccontextmanager
    async def watch(self, resource_id: str) -> AsyncIterator[AsyncIterator[Event]]:
        """Yield an async iterator of events: the current records first, then every change."""
        if self.notifier is None:
            raise RegistryError(Status.UNAVAILABLE, "this registry has no pubsub")
        rid = resource_id_from_text(resource_id)
        # Gossipsub reaches only subscribers among our connections: join the replicas' mesh first.
        peers = await self.routing.replica_set(rid)
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
        state: dict[Any, Entry] = {}
        try:
            snapshot = await self._collect(rid, 1)
        except RegistryError as err:
            log.info("watch snapshot of %s failed (%s); changes only", b58(rid), err)
            snapshot = {}
        now = self.clock_ms()
        # Changes that arrived while the snapshot was taken go through the same precedence rule.
        for known in snapshot.values():
            if isinstance(known, SignedRecord) and known.expires_at_ms <= now:
                continue
            state[known.identity] = known
            if isinstance(known, SignedRecord):
                await send.send(self._event("registered", known))
        while True:
            next_expiry = min((e.expires_at_ms for e in state.values() if isinstance(e, SignedRecord)), default=None)
            wait = None if next_expiry is None else max(0.0, (next_expiry - self.clock_ms()) / 1000)
            entry: Entry | None = None
            with trio.move_on_after(wait if wait is not None else float("inf")):
                entry = await changes.receive()
            if entry is None:
                now = self.clock_ms()
                for ident, old in list(state.items()):
                    if isinstance(old, SignedRecord) and old.expires_at_ms <= now:
                        del state[ident]
                        await send.send(self._event("expired", old, record=False))
                continue
            current = state.get(entry.identity)
            if current is not None and not wins(entry, current):
                continue
            state[entry.identity] = entry
            if isinstance(entry, SignedRecord):
                await send.send(self._event("registered", entry))
            elif isinstance(current, SignedRecord):
                await send.send(self._event("unregistered", entry, record=False))

    def _event(self, kind: str, entry: Entry, record: bool = True) -> Event:
        return Event(
            kind=kind,
            resource_id=b58(entry.resource_id),
            issuer=b58(entry.issuer),
            host=b58(entry.host),
            service_id=entry.service_id,
            record=Record.of(entry, self.config.weight) if record and isinstance(entry, SignedRecord) else None,
        )

    # ================================================================ execute on resource

    async def execute_on_resource(
        self,
        resource_id: str,
        fn: Callable[[Any, Record], Awaitable[T]],
        ack: int = 1,
        timeout: float | None = None,
    ) -> AsyncIterator[tuple[Record, T | BaseException]]:
        """Resolve, dial each record's host through its addrs, run `await fn(host, record)` concurrently.

        Yields (record, result or exception) in completion order; each call is bounded by `timeout`.
        """
        records = await self.resolve(resource_id, ack=ack)
        results: list[tuple[Record, T | BaseException]] = []
        limit = timeout or self.config.request_timeout_s

        async def one(record: Record) -> None:
            try:
                with trio.fail_after(limit):
                    await self._dial_record_host(record)
                    value = await fn(self.host, record)
                results.append((record, value))
            except Exception as exc:
                results.append((record, exc))

        async with trio.open_nursery() as nursery:
            for record in records:
                nursery.start_soon(one, record)
        for item in results:
            yield item

    async def _dial_record_host(self, record: Record) -> None:
        peer = ID.from_base58(record.host)
        if peer == self.peer_id or peer in self.host.get_connected_peers():
            return
        addrs = [Multiaddr(a) for a in record.addrs]
        if addrs:
            self.host.get_peerstore().add_addrs(peer, addrs, 3600)
        await self.host.connect(PeerInfo(peer, addrs or self.host.get_peerstore().addrs(peer)))

    # ================================================================ maintenance

    async def replicate_once(self) -> None:
        """Anti-entropy: exchange digests with each resource's replica set, push and pull differences."""
        if self.store is None:
            return
        self.maintenance.replicate_rounds += 1
        for rid in self.store.resource_ids():
            resource = self.store.get_resource(rid)
            if resource is None:
                continue
            peers = await self.routing.replica_set(rid, refresh=True)
            async with trio.open_nursery() as nursery:
                for peer in peers:
                    if peer != self.peer_id:
                        nursery.start_soon(self._sync_with, peer, resource)
            if peers and peers[0] == self.peer_id:
                await self._dht_put(resource)

    async def _sync_with(self, peer: ID, resource: SignedResource) -> None:
        assert self.store is not None
        rid = resource.id
        with trio.move_on_after(self.config.request_timeout_s * 2):
            try:
                root, items = self.store.digest(rid, self.clock_ms())
                answer = await self.rpc.digest(peer, rid, root)
                if answer.status is Status.UNKNOWN_RESOURCE:
                    theirs = None
                elif not answer.ok:
                    log.debug("sync of %s with %s refused: %s %s", b58(rid), peer, answer.status.name, answer.text)
                    return
                else:
                    theirs = PeerDigest(answer.root, answer.resource_created_at_ms, answer.items)
                plan = plan_sync(root, items, resource.created_at_ms, theirs)
                if plan.push_resource:
                    await self.rpc.put_resource(peer, resource.to_pb())
                if plan.push:
                    raws = self.store.entries_by_identity_digest(rid, plan.push, self.clock_ms())
                    for start in range(0, len(raws), PAGE):
                        chunk = raws[start : start + PAGE]
                        await self.rpc.put_entries(peer, rid, chunk, resource.to_pb())
                        self.maintenance.pushed_entries += len(chunk)
                        self.maintenance.pushed_bytes += sum(len(r) for r in chunk)
                if plan.pull:
                    pairs = await self._fetch_entries(peer, rid)
                    if pairs:
                        _, results = self.store.put_entries(rid, [raw for raw, _ in pairs], self.clock_ms())
                        self.maintenance.pulled_entries += sum(1 for r in results if r.status is Status.OK)
            except PeerUnavailable as exc:
                log.debug("sync of %s with %s failed: %s", b58(rid), peer, exc)
                if exc.unsupported:
                    self.routing.mark_unsupported(peer)
                else:
                    self.routing.mark_unreachable(peer)
            except RegistryError as exc:  # the store refused our own batch (e.g. its limits)
                log.debug("sync of %s with %s failed: %s", b58(rid), peer, exc)

    async def renew_once(self) -> int:
        """Re-sign our host records with less than half their TTL left, and spread them."""
        if self.store is None:
            return 0
        now = self.clock_ms()
        renewed = 0
        for record in self.store.due_for_renewal(now):
            fresh = build.renew(self.key, record, now, self.own_addrs() or None, self.limits)
            resource = self.store.get_resource(record.resource_id)
            if resource is None:
                continue
            await self._write(resource, [fresh.encode()], 1, extra=[])
            renewed += 1
        self.maintenance.renewed += renewed
        return renewed

    async def gc_once(self) -> Any:
        if self.store is None:
            return None
        removed = self.store.gc(self.clock_ms())
        self.maintenance.gc_records += removed.records
        self.maintenance.gc_tombstones += removed.tombstones
        self.maintenance.gc_resources += removed.resources
        return removed


class _Background:
    """Starts tasks in the registry's nursery and counts them, so `settle` can wait for them."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._running = 0
        self._done = trio.Event()
        self._done.set()

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        if self._running == 0:
            self._done = trio.Event()
        self._running += 1
        self._nursery.start_soon(self._run, fn, args)

    async def _run(self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        try:
            await fn(*args)
        finally:
            self._running -= 1
            if self._running == 0:
                self._done.set()

    async def idle(self) -> None:
        while self._running:
            await self._done.wait()


async def _iterate(receive: trio.MemoryReceiveChannel[Event]) -> AsyncIterator[Event]:
    async for event in receive:
        yield event


def _errors_text(errors: dict[Any, str]) -> str:
    if not errors:
        return "no replica answered"
    return "; ".join(f"{peer}: {reason}" for peer, reason in list(errors.items())[:5])


@asynccontextmanager
async def mount(
    host: Any,
    dht: Any,
    pubsub: Any,
    store: Store | None = None,
    config: RegistryConfig | None = None,
    *,
    serve: bool = True,
    clock_ms: Callable[[], int] = wall_clock_ms,
) -> AsyncIterator[Registry]:
    """Mount the registry on a running py-libp2p host, DHT and pubsub; unmount on exit.

    `store` defaults to an in-memory store when `serve` is true; `serve=False` makes a light
    client that stores nothing and is never part of a replica set.

    Everything the registry needs from py-libp2p is applied here, on the objects given, and
    undone on exit (each step is named after the py-libp2p behaviour it handles, in net/compat.py):
    peers learned from every connection, in both directions, go into the DHT's routing table
    (py-libp2p adds none); a refused dial is retried once and forgotten after 5 s (not 3 retries
    and 60 s); one connection per peer (py-libp2p's default of 3 makes every dial wait 250 ms).
    """
    config = config or RegistryConfig()
    if store is None and serve:
        store = Store(":memory:", local_peer=host.get_id().to_bytes(), limits=config.limits, weight=config.weight)
    registry = Registry(host, dht, pubsub, store if serve else None, config, clock_ms)
    undo = [quick_dial_retries(host), one_connection_per_peer(host)]
    filler = RoutingTableFiller(host, dht, on_connected=registry.routing.reachable_again)
    swarm = host.get_network()
    swarm.register_notifee(filler)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(filler.run)
            filler.learn_connected()
            await nursery.start(registry.run)
            try:
                yield registry
            finally:
                nursery.cancel_scope.cancel()
    finally:
        with suppress(Exception):
            swarm.remove_notifee(filler)
        for step in reversed(undo):
            step()
