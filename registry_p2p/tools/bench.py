"""`registry-p2p bench`: the registry against py-libp2p's own DHT records, same network, same run.

`python -m registry_p2p.tools.bench [--nodes 20] [--samples 30] [--k 20] [--json FILE] [--processes]
[--no-go | --go-peer PATH] [--profile FILE] [--profile-op METRIC]`

One process starts an N-node loopback network (every node a DHT server and a registry replica,
default configuration: replica sets of K=20) and three light clients (DHT client mode, no
store): a *writer*, a *reader* and a *watcher*. Every lookup, ours and the baseline's, is made
by the reader, which holds no local copy:
  - the registry's light client has no store at all, so `resolve` always asks replicas;
  - py-libp2p answers `get_value` / `find_providers` from its local stores when it can, and
    caches what it fetched, so the reader's value_store / provider_store entry for the key is
    dropped before each baseline lookup (and find_providers' duplicates are merged).

Keys: `--samples` resources (registry) and as many provider keys and value keys (baseline);
sample i registers records into resource i, provides key i and puts value i, so each lookup
finds what one write left, as find_providers does. Operations are interleaved (sample i of
every metric, then sample i+1) so that a change in machine load hits both sides alike, and each
timed operation starts on a quiet network (see `quiet`).

Measured:
  register_cold   writer.register_service(ack=1) by a client that knows neither the replica set
                  nor the resource: Kademlia lookup + resource fetch + write;
  register        the same client's next write into that resource (steady state);
  resolve_cold    reader.resolve(ack=1) after routing.forget(rid): one Kademlia lookup + read;
  resolve_warm    reader.resolve(ack=1) with the replica set cached;
  resolve_ack3    reader.resolve(ack=3), replica set cached;
  watch_delay     register returned on the writer -> event seen by the watcher (a light client);
  provide, put_value (from the writer), find_providers (count=20, the default),
  find_providers_1 (count=1), get_value (quorum 0, the default) (from the reader): py-libp2p
                  0.8.1's own records; its values use a namespace that accepts any value (no
                  signature to check, unlike ours: this favours the baseline);
  write_throughput_per_s: records accepted, verified (uncached ed25519) and committed by one
                  node, change feed included, sent as PutEntries batches of 100 over the wire by
                  10 concurrent issuers (10 light clients, each signing its own records before
                  the clock starts);
  floor_open_stream, floor_new_stream: py-libp2p itself, one request/response (a registry
                  frame, echoed with the same codec) between two of the network's nodes on a
                  stream kept open, and on a new stream per request; measured in the read rounds.

go-libp2p-kad-dht beside us: before our network starts, `registry-peer-go -bench` (interop/go;
the binary of `make interop-build`, built with `go build` when missing or older than its
sources) runs the same shape in one Go process (--nodes servers + 2 light clients, TCP+Noise+
Yamux on loopback, fresh keys, the reader holding nothing) with the same sample count:
go_provide, go_find_providers (count 20), go_find_providers_1, go_put_value, go_get_value and
go-libp2p's own floor (go_floor_open_stream, go_floor_new_stream).

--processes: afterwards, the registry figures again with every node a `registry-p2p node`
process on 127.0.0.1 (data dirs in a temp dir, node i joined through node i-1), measured from
three light clients in the bench process, printed next to the in-process figures.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import json
import logging
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import trio
import trio.testing
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.records.validator import Validator

from registry_p2p.adapter.streams import open_stream
from registry_p2p.core import build
from registry_p2p.core.config import RegistryConfig
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.net.framing import FrameReader, encode_frame
from registry_p2p.node import Node
from registry_p2p.pb import registry_pb2 as pb
from registry_p2p.testnet import Network

BASELINE_NS = "bench"
ISSUERS = 10
SETTLE_S = 5.0
OP_TIMEOUT_S = 60.0
STARTUP_S = 120.0

FLOOR_PROTOCOL = TProtocol("/registry-p2p/bench-echo/1.0.0")
FLOOR_TIMEOUT_S = 5.0  # one echo on loopback: a sample this slow is a failure, not a figure
GO_TIMEOUT_S = 600.0
GO_DIR = Path(__file__).resolve().parents[2] / "interop" / "go"
GO_BINARY = GO_DIR / "bin" / "registry-peer-go"  # what `make interop-build` produces

METRIC_ORDER = (
    "floor_open_stream",
    "floor_new_stream",
    "register",
    "register_cold",
    "resolve_warm",
    "resolve_cold",
    "resolve_ack3",
    "watch_delay",
    "provide",
    "find_providers",
    "find_providers_1",
    "put_value",
    "get_value",
    "go_floor_open_stream",
    "go_floor_new_stream",
    "go_provide",
    "go_find_providers",
    "go_find_providers_1",
    "go_put_value",
    "go_get_value",
)


class _AnyValue(Validator):  # type: ignore[misc]
    """The baseline's namespace: accepts any value (no signature check: favours the baseline)."""

    def validate(self, key: str, value: bytes) -> None:
        if not value:
            raise ValueError("empty")

    def select(self, key: str, values: list[bytes]) -> int:
        return 0


def bench_config(k: int = 20) -> RegistryConfig:
    """The defaults, with maintenance loops out of the way of a one-minute run, and one issuer's
    share of a resource as large as a resource: the throughput load (250 records per issuer and
    resource) stays the one earlier figures were measured with."""
    base = RegistryConfig()
    return replace(
        base,
        limits=replace(base.limits, replica_set_size=k, max_records_per_issuer_per_resource=256),
        replicate_interval_s=3600.0,
        renew_interval_s=3600.0,
        gc_interval_s=3600.0,
    )


# ------------------------------------------------------------------ network


@asynccontextmanager
async def bench_network(n: int, config: RegistryConfig) -> AsyncIterator[Network]:
    """The loopback network of registry_p2p.testnet, with the baseline's DHT namespace on every node."""
    async with trio.open_nursery() as nursery:
        net = Network(nursery, config)
        with trio.fail_after(STARTUP_S):
            await net.add()
            await net.add_many(n - 1)
            # A second self-lookup once everyone is up: the early joiners met only the first node.
            async with trio.open_nursery() as refreshing:
                for node in net.nodes:
                    refreshing.start_soon(_self_lookup, node)
        for node in net.nodes:
            node.dht.register_validator(BASELINE_NS, _AnyValue())
            # ADD_PROVIDER is limited to 10 per 10 s per peer; the baseline provides more keys
            # than that from one client. provide() is fire-and-forget, so this changes no
            # latency, only whether the records it sent are actually stored.
            _kad(node)._provider_rate_max = 1_000_000
        try:
            yield net
        finally:
            nursery.cancel_scope.cancel()


async def _self_lookup(node: Node) -> None:
    with trio.move_on_after(10), contextlib.suppress(Exception):
        await node.dht.peer_routing.find_closest_peers_network(node.host.get_id().to_bytes(), count=20)


async def add_client(net: Network) -> Node:
    """A light client (outside `net.nodes`) joined through the first three nodes."""
    node = await net.extra(serve=False, bootstrap=[server.addrs[0] for server in net.nodes[:3]])
    node.dht.register_validator(BASELINE_NS, _AnyValue())
    await _self_lookup(node)
    return node


async def settle_cpu(threshold: float = 0.15, window_s: float = 1.0, limit_s: float = 60.0) -> float:
    """Wait until this process uses less than `threshold` of a core over `window_s` (the DHT's
    routing-table refresh keeps a fresh network busy for a while); give up after `limit_s`.
    There is no event for "nothing left to do", hence the measurement. Returns the last reading."""
    used = 1.0
    with trio.move_on_after(limit_s):
        while used >= threshold:
            cpu, wall = time.process_time(), time.perf_counter()
            await trio.sleep(window_s)
            used = (time.process_time() - cpu) / (time.perf_counter() - wall)
    return used


async def quiet(timeout: float = SETTLE_S, *registries: Any) -> None:
    """Untimed: let the previous operation's background work finish before the next is timed.

    Three conditions, each bounded by `timeout`: the registries' own background work is done
    (a write still reaching the rest of its replica set), no task of the process is runnable,
    and the process stays under 10% of a core for 0.3 s. The last one is needed because a write
    keeps 20 nodes busy for up to a second after every task went idle once: each gossipsub
    heartbeat (every second) sends IHAVE/IDONTWANT traffic about the entries just published.
    """
    with trio.move_on_after(timeout):
        for reg in registries:
            await reg.settle(timeout)
        await trio.testing.wait_all_tasks_blocked(cushion=0.002)
    await settle_cpu(threshold=0.10, window_s=0.3, limit_s=timeout)


# ------------------------------------------------------------------ statistics


def quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "n": 0}
    p99 = ordered[min(len(ordered) - 1, max(0, -(-99 * len(ordered) // 100) - 1))]
    return {"p50_ms": statistics.median(ordered) * 1000, "p99_ms": p99 * 1000, "n": len(ordered)}


@dataclass
class Timings:
    samples: dict[str, list[float]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, list[str]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # this process's CPU seconds per operation
    profiler: cProfile.Profile | None = None  # --profile-op: enabled during that metric's operations only
    profile_op: str = ""

    async def time(self, name: str, op: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool] = bool) -> Any:
        """Time one operation; a wrong answer or an exception is a failure (counted, not timed)."""
        profiler = self.profiler if name == self.profile_op else None
        started, cpu = time.perf_counter(), time.process_time()
        try:
            if profiler is not None:
                profiler.enable()
            with trio.fail_after(OP_TIMEOUT_S):
                out = await op()
        except (Exception, trio.TooSlowError) as exc:
            self.fail(name, f"{type(exc).__name__}: {exc}")
            return None
        finally:
            if profiler is not None:
                profiler.disable()
        elapsed = time.perf_counter() - started
        if ok(out):
            self.samples.setdefault(name, []).append(elapsed)
            self.cpu.setdefault(name, []).append(time.process_time() - cpu)
        else:
            self.fail(name, "wrong answer")
        return out

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)

    def fail(self, name: str, why: str = "") -> None:
        self.failures[name] = self.failures.get(name, 0) + 1
        if why:
            self.reasons.setdefault(name, []).append(why[:200])


# ------------------------------------------------------------------ phases


def _key_hex(i: int, tag: str) -> str:
    # A sha2-256 multihash, as a hex string: provide()/find_providers() take it as the key bytes.
    return "1220" + hashlib.sha256(f"registry-p2p bench {tag} {i} {os.getpid()}".encode()).hexdigest()


async def make_resources(owner: Node, labels: list[str], concurrency: int = 2, attempts: int = 3) -> list[str]:
    """Untimed setup. On a machine loaded far beyond its cores a creation can time out at most of
    its replica set; it is then made again (said on stderr): no figure depends on it."""
    rids: list[str] = [""] * len(labels)
    limiter = trio.CapacityLimiter(concurrency)

    async def one(i: int) -> None:
        async with limiter:
            for attempt in range(1, attempts + 1):
                try:
                    rids[i] = await owner.registry.create_resource(labels[i])
                    return
                except RegistryError as exc:
                    if attempt == attempts:
                        raise
                    print(f"  setup: creating {labels[i]} failed ({str(exc)[:120]}); again", file=sys.stderr)

    async with trio.open_nursery() as nursery:
        for i in range(len(labels)):
            nursery.start_soon(one, i)
    return rids


async def phase_writes(t: Timings, rids: list[str], writer: Node, baseline: bool = True) -> None:
    """Sample i: register_cold and register into resource i, provide key i, put value i."""
    reg = writer.registry
    for i, rid in enumerate(rids):
        _progress("writes", i, len(rids), t)
        rid_bytes = resource_id_from_text(rid)
        # Cold: this client knows neither the replica set nor the resource (a fresh process).
        reg.routing.forget(rid_bytes)
        reg._write_resources.pop(rid_bytes, None)
        await t.time("register_cold", partial(reg.register_service, rid, b"cold %d" % i, "svc-cold", ack=1), _ok)
        await quiet(SETTLE_S, reg)
        # Steady state: replica set and resource known (a service re-registering, or writing
        # into a resource it has resolved).
        await t.time("register", partial(reg.register_service, rid, b"value %d" % i, "svc", ack=1), _ok)
        await quiet(SETTLE_S, reg)
        if not baseline:
            continue
        await t.time("provide", partial(_kad(writer).provide, _key_hex(i, "p")))
        await quiet()
        await t.time("put_value", partial(writer.dht.put_value, _value_key(i), b"value %d" % i), _always)
        await quiet()


def _progress(phase: str, i: int, n: int, t: Timings | None = None) -> None:
    if i and i % 5 == 0:
        failed = f"; failures so far {t.failures}" if t is not None and t.failures else ""
        print(f"  {phase}: {i}/{n} samples ({time.strftime('%H:%M:%S')}){failed}", file=sys.stderr, flush=True)


def _ok(out: Any) -> bool:
    return bool(out.ok)


def _always(out: Any) -> bool:
    return True


def _value_key(i: int) -> str:
    return f"/{BASELINE_NS}/{_key_hex(i, 'v')[4:]}"


# ------------------------------------------------------------------ the floor


async def _echo(stream: Any) -> None:
    """The floor's server: answers every frame with the same message, decoded and re-encoded with
    the registry's one codec (so the floor pays what a registry request pays for framing)."""
    reader = FrameReader(stream)
    with contextlib.suppress(Exception):
        while (message := await reader.read_message()) is not None:
            await stream.write(encode_frame(message))
    with contextlib.suppress(Exception):
        await stream.close()


@dataclass
class Floor:
    """One request/response of py-libp2p itself between two of the bench network's nodes: on a
    stream kept open (`floor_open_stream`) and on a new stream per request (`floor_new_stream`)."""

    client: Node
    server: Node
    stream: Any = None
    request: bytes = encode_frame(pb.Message(get_resource=pb.GetResourceRequest(resource_id=bytes(32))))

    async def start(self) -> None:
        self.server.host.set_stream_handler(FLOOR_PROTOCOL, _echo)
        await self.client.connect(self.server.addrs[0])
        self.stream = await self._open()
        await self._round_trip(self.stream)  # multistream negotiation: untimed

    async def _open(self) -> Any:
        return await open_stream(self.client.host, self.server.host.get_id(), [FLOOR_PROTOCOL], timeout=10.0)

    async def _round_trip(self, stream: Any) -> bool:
        await stream.write(self.request)
        reply = await FrameReader(stream).read_message()
        return reply is not None and reply.get_resource.resource_id == bytes(32)

    async def reopen_if_broken(self) -> None:
        """Untimed, before a sample: a new open stream when the last one failed."""
        if self.stream is None:
            self.stream = await self._open()
            await self._round_trip(self.stream)

    async def open_stream(self) -> bool:
        try:
            with trio.fail_after(FLOOR_TIMEOUT_S):
                return await self._round_trip(self.stream)
        except BaseException:
            # A failed round trip leaves the stream in an unknown state: the next sample gets a new one.
            stream, self.stream = self.stream, None
            with contextlib.suppress(Exception):
                await stream.reset()
            raise

    async def new_stream(self) -> bool:
        stream = await self._open()
        try:
            with trio.fail_after(FLOOR_TIMEOUT_S):
                return await self._round_trip(stream)
        finally:
            with contextlib.suppress(Exception):
                await stream.close()


async def phase_reads(
    t: Timings, rids: list[str], reader: Node, provider: Any, floor: Floor | None = None, baseline: bool = True
) -> None:
    """Sample i: resolve resource i cold, warm and with ack=3; find key i's provider; get value i;
    then the floor, in the same conditions (one sample of each per round)."""
    reg = reader.registry
    for i, rid in enumerate(rids):
        _progress("reads", i, len(rids), t)
        rid_bytes = resource_id_from_text(rid)

        def two(records: list[Any]) -> bool:
            return len(records) == 2

        def found(providers: set[Any]) -> bool:
            return provider in providers

        def right(value: bytes | None, i: int = i) -> bool:
            return value == b"value %d" % i

        reg.routing.forget(rid_bytes)
        await t.time("resolve_cold", partial(reg.resolve, rid, ack=1), two)
        await quiet(SETTLE_S, reg)
        await t.time("resolve_warm", partial(reg.resolve, rid, ack=1), two)
        await quiet(SETTLE_S, reg)
        await t.time("resolve_ack3", partial(reg.resolve, rid, ack=3), two)
        await quiet(SETTLE_S, reg)
        if not baseline:
            continue
        key = _key_hex(i, "p")
        await t.time("find_providers", partial(_find, reader, key, 20), found)
        await quiet()
        await t.time("find_providers_1", partial(_find, reader, key, 1), found)
        await quiet()
        await t.time("get_value", partial(_get, reader, _value_key(i)), right)
        await quiet()
        if floor is not None:
            with trio.move_on_after(FLOOR_TIMEOUT_S), contextlib.suppress(Exception):
                await floor.reopen_if_broken()
            await t.time("floor_open_stream", floor.open_stream)
            await quiet()
            await t.time("floor_new_stream", floor.new_stream)
            await quiet()


def _kad(node: Node) -> Any:
    """The node's py-libp2p KadDHT itself: the plain-DHT baseline uses its provider API, which the
    registry does not use and so `adapter.types.DhtLike` does not describe."""
    return node.dht


async def _find(reader: Node, key_hex: str, count: int) -> set[Any]:
    _kad(reader).provider_store.providers.pop(bytes.fromhex(key_hex), None)  # no local copy
    found = await _kad(reader).find_providers(key_hex, count=count)
    return {info.peer_id for info in found}  # py-libp2p does not de-duplicate


async def _get(reader: Node, key: str) -> bytes | None:
    with contextlib.suppress(Exception):
        reader.dht.value_store.remove(key.encode())  # no local copy
    value: bytes | None = await reader.dht.get_value(key)
    return value


async def phase_watch(t: Timings, rid: str, writer: Node, watcher: Node, samples: int) -> None:
    async with watcher.registry.watch(rid) as events:
        seen: dict[str, float] = {}
        arrived = trio.Event()

        async def consume() -> None:
            nonlocal arrived
            async for event in events:
                if event.kind == "registered" and event.service_id not in seen:
                    seen[event.service_id] = time.perf_counter()
                    arrived.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume)
            # Warm-up: the watcher's mesh forms over a gossipsub heartbeat or two.
            for attempt in range(20):
                arrived = trio.Event()
                with contextlib.suppress(Exception):
                    await writer.registry.register_service(rid, b"warm", f"warm-{attempt}", ack=1)
                with trio.move_on_after(1.0):
                    await arrived.wait()
                if f"warm-{attempt}" in seen:
                    break
            for i in range(samples):
                await quiet(SETTLE_S, writer.registry)
                name = f"w-{i}"
                arrived = trio.Event()
                try:
                    out = await writer.registry.register_service(rid, b"x", name, ack=1)
                except Exception as exc:
                    t.fail("watch_delay", f"write failed: {exc}")
                    continue
                returned = time.perf_counter()
                if not out.ok:
                    t.fail("watch_delay", f"write not acknowledged: {out.errors}")
                    continue
                with trio.move_on_after(5.0):
                    while name not in seen:
                        await arrived.wait()
                        arrived = trio.Event()
                if name in seen:
                    # An event may even beat the writer's return (a replica publishes before the
                    # writer has read its ack): that counts as no delay.
                    t.add("watch_delay", max(0.0, seen[name] - returned))
                else:
                    t.fail("watch_delay", "no event within 5 s")
            nursery.cancel_scope.cancel()


@dataclass
class Throughput:
    records: int
    accepted: int
    seconds: float
    requests: int
    refused: dict[str, int]
    cpu_ms_per_record: float = 0.0
    feed_backlog: int = 0  # batches of accepted entries not yet published when the clock stopped

    @property
    def per_s(self) -> float:
        return self.accepted / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ThroughputLoad:
    victim: Node
    issuers: list[Node]
    batches: list[list[pb.Message]]
    records: int


async def prepare_throughput(
    net: Network, victim: Node, per_resource: int = 250, resources_per_issuer: int = 4, batch: int = 100
) -> ThroughputLoad:
    """10 issuers (light clients) with pre-signed records for one node, as PutEntries batches.

    Quotas shape the load: a node keeps at most 256 live non-host records per resource and 1024
    per issuer, so each issuer writes `per_resource` records into each of its own
    `resources_per_issuer` resources (1,000 records each by default, 10,000 in all): nothing is
    evicted or refused for quota, every record is new. Untimed warm-up: the resources are stored
    and the node has joined their gossip topics (one record each, from an 11th key), so the timed
    part measures record writes only, not the once-per-resource work.
    """
    issuers = [await add_client(net) for _ in range(ISSUERS)]
    for issuer in issuers:
        await issuer.connect(victim.addrs[0])
    owner = issuers[0]
    now = owner.registry.clock_ms()
    count = ISSUERS * resources_per_issuer
    res_objs = [build.make_resource(owner.registry.key, f"throughput-{j}", now) for j in range(count)]
    victim_id = victim.host.get_id()
    warm_key = create_new_key_pair().private_key
    for res in res_objs:
        first = build.make_record(warm_key, res.id, "warm-up", b"first", now).encode()
        request = pb.PutEntriesRequest(resource_id=res.id, entries=[first], resource=res.to_pb())
        reply = await owner.registry.client.request(victim_id, pb.Message(put_entries=request))
        statuses = [Status(r.status) for r in reply.put_entries_response.results]
        if statuses != [Status.OK]:
            raise RuntimeError(f"the node refused the warm-up write: {reply}")
    batches: list[list[pb.Message]] = []
    for n, issuer in enumerate(issuers):
        mine = []
        for res in res_objs[n * resources_per_issuer : (n + 1) * resources_per_issuer]:
            raws = [
                build.make_record(issuer.registry.key, res.id, f"t-{j}", b"throughput value %d" % j, now).encode()
                for j in range(per_resource)
            ]
            for start in range(0, len(raws), batch):
                request = pb.PutEntriesRequest(resource_id=res.id, entries=raws[start : start + batch])
                mine.append(pb.Message(put_entries=request))
        batches.append(mine)
    for issuer in issuers:  # connections and streams open before the clock starts
        probe = pb.Message(get_resource=pb.GetResourceRequest(resource_id=res_objs[0].id))
        await issuer.registry.client.request(victim_id, probe)
    return ThroughputLoad(victim, issuers, batches, count * per_resource)


async def send_throughput(load: ThroughputLoad) -> Throughput:
    """The timed part: all issuers send their batches at once; the clock stops at the last answer."""
    victim_id = load.victim.host.get_id()
    accepted = 0
    refused: dict[str, int] = {}
    requests = 0

    async def send(issuer: Node, messages: list[pb.Message]) -> None:
        nonlocal accepted, requests
        for message in messages:
            reply = await issuer.registry.client.request(victim_id, message, timeout=60)
            requests += 1
            for r in reply.put_entries_response.results:
                status = Status(r.status)
                if status is Status.OK:
                    accepted += 1
                else:
                    refused[status.name] = refused.get(status.name, 0) + 1

    started, cpu = time.perf_counter(), time.process_time()
    async with trio.open_nursery() as nursery:
        for issuer, messages in zip(load.issuers, load.batches, strict=True):
            nursery.start_soon(send, issuer, messages)
    seconds = time.perf_counter() - started
    cpu_ms = (time.process_time() - cpu) * 1000 / max(1, accepted)
    backlog = load.victim.registry._accepted_receive.statistics().current_buffer_used
    return Throughput(load.records, accepted, seconds, requests, refused, cpu_ms, backlog)


# ------------------------------------------------------------------ one node per process

PROCESS_METRICS = ("register", "register_cold", "resolve_warm", "resolve_cold", "resolve_ack3", "watch_delay")


@dataclass
class ProcessesResult:
    """`--processes`: the registry's figures with every node a `registry-p2p node` process."""

    nodes: int
    timings: Timings
    startup_s: float
    wall_s: float

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in PROCESS_METRICS:
            q = quantiles(self.timings.samples.get(name, []))
            q["failures"] = self.timings.failures.get(name, 0)
            out[name] = q
        return out


def _config_toml(k: int) -> str:
    """bench_config(k) as the nodes' TOML (the light clients in the bench process use the same)."""
    config = bench_config(k)
    return (
        "[registry]\n"
        f"replicate_interval_s = {config.replicate_interval_s}\n"
        f"renew_interval_s = {config.renew_interval_s}\n"
        f"gc_interval_s = {config.gc_interval_s}\n"
        "[limits]\n"
        f"replica_set_size = {config.limits.replica_set_size}\n"
        f"max_records_per_issuer_per_resource = {config.limits.max_records_per_issuer_per_resource}\n"
    )


async def _spawn_node(directory: Path, config: Path, bootstrap: str | None) -> tuple[trio.Process, str]:
    """One `registry-p2p node --json` on 127.0.0.1 (stderr to a file in its data dir); its first address."""
    argv = [sys.executable, "-m", "registry_p2p.cli", "node", "--json", "--listen", "/ip4/127.0.0.1/tcp/0"]
    argv += ["--data-dir", str(directory / "data"), "--config", str(config), "--log-level", "warning"]
    if bootstrap:
        argv += ["--bootstrap", bootstrap]
    directory.mkdir()
    with open(directory / "stderr.log", "wb") as errors:
        proc = await trio.lowlevel.open_process(argv, stdout=subprocess.PIPE, stderr=errors)
    assert proc.stdout is not None
    buffered = b""
    with trio.fail_after(STARTUP_S):
        while True:
            chunk = await proc.stdout.receive_some()
            if not chunk:
                tail = (directory / "stderr.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"registry-p2p node exited before it was ready: {tail}")
            buffered += chunk
            *lines, buffered = buffered.split(b"\n")
            for line in lines:
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if event.get("event") == "ready":
                        return proc, str(event["addrs"][0])


async def _drain(proc: trio.Process) -> None:
    """Read a node's stdout to its end, so that its writes never block on a full pipe."""
    assert proc.stdout is not None
    with contextlib.suppress(Exception):
        while await proc.stdout.receive_some():
            pass


async def _stop_nodes(procs: list[trio.Process]) -> None:
    with trio.CancelScope(shield=True):
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in procs:
            with trio.move_on_after(10):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def run_processes(
    nodes: int, samples: int, k: int, log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)
) -> ProcessesResult:
    """`nodes` `registry-p2p node` processes on 127.0.0.1, each joined through the one before it
    (data dirs in a temp dir), measured from three light clients in this process, the phases of
    the in-process run (registry figures only: the nodes run no baseline namespace)."""
    wall0 = time.perf_counter()
    t = Timings()
    procs: list[trio.Process] = []
    with tempfile.TemporaryDirectory(prefix="registry-p2p-bench-") as tmp:
        root = Path(tmp)
        config_file = root / "bench.toml"
        config_file.write_text(_config_toml(k), encoding="utf-8")
        try:
            async with trio.open_nursery() as nursery:
                addrs: list[str] = []
                for i in range(nodes):
                    proc, addr = await _spawn_node(root / f"node{i}", config_file, addrs[-1] if addrs else None)
                    procs.append(proc)
                    addrs.append(addr)
                    nursery.start_soon(_drain, proc)
                net = Network(nursery, bench_config(k))
                with trio.fail_after(STARTUP_S):
                    clients = [await net.extra(serve=False, bootstrap=addrs[:3]) for _ in range(3)]
                    for client in clients:
                        await _self_lookup(client)
                writer, reader, watcher = clients
                startup = time.perf_counter() - wall0
                log(f"{nodes} node processes + 3 light clients up in {startup:.1f} s")
                await settle_cpu()
                rids = await make_resources(writer, [f"bench-p-{i}" for i in range(samples + 1)])
                watch_rid = rids.pop()
                await settle_cpu()
                log("processes: writes")
                await phase_writes(t, rids, writer, baseline=False)
                log("processes: reads")
                await phase_reads(t, rids, reader, writer.host.get_id(), baseline=False)
                log("processes: watch delay")
                await phase_watch(t, watch_rid, writer, watcher, samples)
                nursery.cancel_scope.cancel()
        finally:
            await _stop_nodes(procs)
    return ProcessesResult(nodes, t, startup, time.perf_counter() - wall0)


# ------------------------------------------------------------------ go-libp2p-kad-dht beside us


def _go_sources() -> list[Path]:
    found = [path for sub in ("cmd", "peer", "core", "pb") for path in (GO_DIR / sub).rglob("*.go")]
    return [*found, GO_DIR / "go.mod", GO_DIR / "go.sum"]


async def go_peer(log: Callable[[str], None]) -> Path | None:
    """The Go interop peer: the binary `make interop-build` produced if it is newer than its
    sources, else built here with `go build` (Go's own module cache); None without go or sources."""
    if not (GO_DIR / "go.mod").exists():
        return None
    fresh = GO_BINARY.exists() and all(p.stat().st_mtime <= GO_BINARY.stat().st_mtime for p in _go_sources())
    go = shutil.which("go")
    if fresh or go is None:
        return GO_BINARY if GO_BINARY.exists() else None
    log("building the Go interop peer (go build ./cmd/registry-peer-go)")
    with trio.fail_after(GO_TIMEOUT_S):
        done = await trio.run_process(
            [go, "build", "-o", str(GO_BINARY), "./cmd/registry-peer-go"], cwd=GO_DIR, capture_stderr=True, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"go build failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return GO_BINARY


async def run_go(binary: Path, servers: int, samples: int) -> dict[str, Any]:
    """`registry-peer-go -bench`: `servers` go-libp2p-kad-dht servers and 2 light clients in one Go
    process on loopback, the same sample count; its JSON, with n=0 figures as NaN (as ours)."""
    argv = [str(binary), "-bench", f"-bench-servers={servers}", "-bench-clients=2", f"-bench-samples={samples}"]
    with trio.fail_after(GO_TIMEOUT_S):
        done = await trio.run_process(argv, capture_stdout=True, capture_stderr=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{binary.name} -bench failed: {done.stderr.decode(errors='replace')[-2000:]}")
    out: dict[str, Any] = json.loads(done.stdout)
    for metric in out["metrics"].values():
        if not metric["n"]:
            metric["p50_ms"] = metric["p99_ms"] = float("nan")
    return out


# ------------------------------------------------------------------ the run


@dataclass
class BenchResult:
    nodes: int
    samples: int
    timings: Timings
    throughput: Throughput | None
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    wall_s: float
    cpu_s: float
    startup_s: float
    go: dict[str, Any] | None = None  # registry-peer-go -bench's JSON
    go_skipped: str = ""  # why there are no Go figures
    processes: ProcessesResult | None = None  # --processes

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        go = self.go["metrics"] if self.go else {}
        for name in METRIC_ORDER:
            if name in go:
                out[name] = {key: go[name][key] for key in ("p50_ms", "p99_ms", "n", "failures")}
            elif name in self.timings.samples or name in self.timings.failures:
                q = quantiles(self.timings.samples.get(name, []))
                q["failures"] = self.timings.failures.get(name, 0)
                out[name] = q
        if self.throughput is not None:
            out["write_throughput_per_s"] = round(self.throughput.per_s, 1)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": self.nodes,
            "samples": self.samples,
            "metrics": self.metrics(),
            "ratios": ratios(self.metrics()),
            "load_avg_before": self.load_before,
            "load_avg_after": self.load_after,
            "wall_s": round(self.wall_s, 1),
            "cpu_s": round(self.cpu_s, 1),
            "startup_s": round(self.startup_s, 1),
            "targets": {text: ok for text, ok in targets(self).items()},
            "go": None
            if self.go is None
            else {
                key: self.go[key] for key in ("servers", "clients", "samples", "versions", "wall_s", "failure_reasons")
            },
            "go_skipped": self.go_skipped,
            "processes": None if self.processes is None else self._processes_json(),
            "throughput": None
            if self.throughput is None
            else {
                "records": self.throughput.records,
                "accepted": self.throughput.accepted,
                "seconds": round(self.throughput.seconds, 3),
                "requests": self.throughput.requests,
                "refused": self.throughput.refused,
                "process_cpu_ms_per_record": round(self.throughput.cpu_ms_per_record, 3),
                "change_feed_backlog_after": self.throughput.feed_backlog,
            },
            "samples_ms": {k: [round(x * 1000, 2) for x in v] for k, v in self.timings.samples.items()},
            "process_cpu_ms_p50": self.cpu_p50(),
            "failure_reasons": self.timings.reasons,
        }

    def cpu_p50(self) -> dict[str, float]:
        """Median CPU time of this whole process (all its nodes) during each operation, in ms."""
        return {k: round(statistics.median(v) * 1000, 3) for k, v in self.timings.cpu.items() if v}

    def _processes_json(self) -> dict[str, Any]:
        assert self.processes is not None
        theirs, ours = self.processes.metrics(), self.metrics()
        floor = float(ours.get("floor_open_stream", {}).get("p50_ms", float("nan")))
        return {
            "nodes": self.processes.nodes,
            "startup_s": round(self.processes.startup_s, 1),
            "wall_s": round(self.processes.wall_s, 1),
            "metrics": theirs,
            "ratios": {
                **{f"{n}/in_process_{n}": _r(theirs[n]["p50_ms"], ours.get(n, {}).get("p50_ms")) for n in theirs},
                **{f"{n}/floor_open_stream": _r(theirs[n]["p50_ms"], floor) for n in theirs},
            },
            "samples_ms": {k: [round(x * 1000, 2) for x in v] for k, v in self.processes.timings.samples.items()},
            "failure_reasons": self.processes.timings.reasons,
        }


def _r(a: Any, b: Any) -> float:
    if a is None or b is None or not b or b != b:
        return float("nan")
    return round(float(a) / float(b), 3)


def ratios(m: dict[str, Any]) -> dict[str, float]:
    def r(a: str, b: str) -> float:
        if a in m and b in m and m[b]["p50_ms"]:
            return round(float(m[a]["p50_ms"]) / float(m[b]["p50_ms"]), 3)
        return float("nan")

    return {
        "register/provide": r("register", "provide"),
        "register_cold/provide": r("register_cold", "provide"),
        "register/put_value": r("register", "put_value"),
        "resolve_warm/find_providers": r("resolve_warm", "find_providers"),
        "resolve_warm/find_providers_1": r("resolve_warm", "find_providers_1"),
        "resolve_cold/find_providers": r("resolve_cold", "find_providers"),
        "resolve_ack3/find_providers": r("resolve_ack3", "find_providers"),
        "resolve_warm/get_value": r("resolve_warm", "get_value"),
        "resolve_cold/get_value": r("resolve_cold", "get_value"),
        # the floor (issue 13)
        "resolve_warm/floor_open_stream": r("resolve_warm", "floor_open_stream"),
        "register/floor_open_stream": r("register", "floor_open_stream"),
        "floor_new_stream/floor_open_stream": r("floor_new_stream", "floor_open_stream"),
        # go-libp2p-kad-dht (issue 13)
        "register_cold/go_provide": r("register_cold", "go_provide"),
        "resolve_cold/go_find_providers": r("resolve_cold", "go_find_providers"),
        "provide/go_provide": r("provide", "go_provide"),
        "find_providers/go_find_providers": r("find_providers", "go_find_providers"),
        "find_providers_1/go_find_providers_1": r("find_providers_1", "go_find_providers_1"),
        "put_value/go_put_value": r("put_value", "go_put_value"),
        "get_value/go_get_value": r("get_value", "go_get_value"),
        "floor_open_stream/go_floor_open_stream": r("floor_open_stream", "go_floor_open_stream"),
        "floor_new_stream/go_floor_new_stream": r("floor_new_stream", "go_floor_new_stream"),
    }


async def run_bench(
    nodes: int = 20,
    samples: int = 30,
    k: int = 20,
    throughput: bool = True,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
    go: bool = True,
    go_binary: Path | None = None,
    processes: bool = False,
    profiler: cProfile.Profile | None = None,
    profile_op: str = "",
) -> BenchResult:
    """Run go-libp2p-kad-dht's network (when there is a Go peer), then start ours and run every
    phase; return the figures (the core of `registry-p2p bench`)."""
    load_before = os.getloadavg()
    go_out: dict[str, Any] | None = None
    go_skipped = "--no-go" if not go else ""
    if go:
        binary = go_binary or await go_peer(log)
        if binary is None:
            go_skipped = "no Go interop peer (interop/go not here, or no `go` to build it; see --go-peer)"
            log(f"go-libp2p-kad-dht baseline skipped: {go_skipped}")
        else:
            log(f"go-libp2p-kad-dht: {nodes} servers + 2 light clients in one Go process ({binary})")
            go_out = await run_go(binary, nodes, samples)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    config = bench_config(k)
    t = Timings(profiler=profiler, profile_op=profile_op)
    async with bench_network(nodes, config) as net:
        with trio.fail_after(STARTUP_S):
            writer = await add_client(net)
            reader = await add_client(net)
            watcher = await add_client(net)
        startup = time.perf_counter() - wall0
        log(f"{nodes} nodes + 3 light clients up in {startup:.1f} s; creating {samples + 1} resources")
        await settle_cpu()  # the routing-table refreshes of a fresh network, before the untimed writes
        rids = await make_resources(writer, [f"bench-{i}" for i in range(samples + 1)])
        watch_rid = rids.pop()
        idle = await settle_cpu()
        log(f"network settled (process CPU {idle:.0%} of a core)")
        log("writes: register / provide / put_value")
        await phase_writes(t, rids, writer)
        floor = Floor(net.nodes[1], net.nodes[2])
        await floor.start()
        log("reads: resolve / find_providers / get_value / the floor")
        await phase_reads(t, rids, reader, writer.host.get_id(), floor)
        log("watch delay")
        await phase_watch(t, watch_rid, writer, watcher, samples)
        tp = None
        if throughput:
            log("write throughput of one node")
            await quiet()
            load = await prepare_throughput(net, net.nodes[nodes // 2])
            await settle_cpu()
            tp = await send_throughput(load)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    proc_result = None
    if processes:
        log(f"one node per process: {nodes} `registry-p2p node` processes, a bootstrap chain")
        proc_result = await run_processes(nodes, samples, k, log)
    return BenchResult(
        nodes=nodes,
        samples=samples,
        timings=t,
        throughput=tp,
        load_before=load_before,
        load_after=os.getloadavg(),
        wall_s=wall,
        cpu_s=cpu,
        startup_s=startup,
        go=go_out,
        go_skipped=go_skipped,
        processes=proc_result,
    )


# ------------------------------------------------------------------ output


def render(result: BenchResult) -> str:
    m = result.metrics()
    lines = [
        f"registry-p2p bench: {result.nodes} nodes (replica set K=20 unless --k), one process, loopback;"
        f" {result.samples} samples per metric",
        f"load average before {_load(result.load_before)}, after {_load(result.load_after)}; "
        f"{os.cpu_count()} CPUs; wall {result.wall_s:.0f} s, process CPU {result.cpu_s:.0f} s",
        "",
        f"{'metric':<22}{'p50 ms':>10}{'p99 ms':>10}{'n':>6}{'fail':>6}{'p50/floor':>11}{'p99/floor':>11}"
        f"{'cpu p50 ms':>12}",
    ]
    cpu = result.cpu_p50()
    floor = float(m.get("floor_open_stream", {}).get("p50_ms", float("nan")))
    go_floor = float(m.get("go_floor_open_stream", {}).get("p50_ms", float("nan")))
    for name in METRIC_ORDER:
        if name in m:
            q = m[name]
            base = go_floor if name.startswith("go_") else floor  # each side against its own floor
            lines.append(
                f"{name:<22}{q['p50_ms']:>10.2f}{q['p99_ms']:>10.2f}{q['n']:>6}{q['failures']:>6}"
                f"{_ratio(q['p50_ms'], base):>11}{_ratio(q['p99_ms'], base):>11}"
                f"{(f'{cpu[name]:.2f}' if name in cpu else '-'):>12}"
            )
    lines.append("  (floor: floor_open_stream p50 for ours and py-libp2p's, go_floor_open_stream p50 for Go's;")
    lines.append("   cpu: CPU time of the whole bench process, all its nodes, during the operation)")
    if result.go is not None:
        versions = result.go.get("versions", {})
        lines.append(
            f"  go: {versions.get('github.com/libp2p/go-libp2p', '?')} / kad-dht"
            f" {versions.get('github.com/libp2p/go-libp2p-kad-dht', '?')}, {result.go['servers']} servers +"
            f" {result.go['clients']} light clients in one Go process, run just before ours"
        )
    else:
        lines.append(f"  go-libp2p-kad-dht: not measured ({result.go_skipped})")
    lines.append("")
    lines.append("side by side, p50 ms (ratio to Go's p50):")
    lines.append(f"{'operation':<24}{'registry-p2p':>22}{'py-libp2p kad-dht':>22}{'go-libp2p-kad-dht':>20}")
    for label, ours, py, go in SIDE_BY_SIDE:
        go_p50 = float(m.get(go, {}).get("p50_ms", float("nan")))
        cells = []
        for name in (ours, py):
            if name and name in m:
                p50 = float(m[name]["p50_ms"])
                cells.append(f"{p50:.2f} ({_ratio(p50, go_p50).strip()})")
            else:
                cells.append("-")
        cells.append(f"{go_p50:.2f}" if go in m else "-")
        lines.append(f"{label:<24}{cells[0]:>22}{cells[1]:>22}{cells[2]:>20}")
    if result.processes is not None:
        pm = result.processes.metrics()
        lines.append("")
        lines.append(
            f"one node per process ({result.processes.nodes} `registry-p2p node` processes on 127.0.0.1, bootstrap"
            f" chain, light clients in the bench process; up in {result.processes.startup_s:.0f} s):"
        )
        lines.append(
            f"{'metric':<22}{'p50 ms':>10}{'p99 ms':>10}{'n':>6}{'fail':>6}{'in-proc p50':>13}{'proc/in-proc':>14}"
            f"{'p50/floor':>11}"
        )
        for name, q in pm.items():
            inproc = float(m.get(name, {}).get("p50_ms", float("nan")))
            lines.append(
                f"{name:<22}{q['p50_ms']:>10.2f}{q['p99_ms']:>10.2f}{q['n']:>6}{q['failures']:>6}{inproc:>13.2f}"
                f"{_ratio(q['p50_ms'], inproc):>14}{_ratio(q['p50_ms'], floor):>11}"
            )
    if result.throughput is not None:
        tp = result.throughput
        lines.append("")
        lines.append(
            f"write throughput of one node: {tp.per_s:,.0f} records/s ({tp.accepted:,} of {tp.records:,} accepted"
            f" in {tp.seconds:.2f} s, {tp.requests} PutEntries batches from {ISSUERS} issuers;"
            f" {tp.cpu_ms_per_record:.3f} ms of process CPU per record, change feed backlog {tp.feed_backlog}"
            + (f"; refused {tp.refused}" if tp.refused else "")
            + ")"
        )
    lines.append("")
    lines.append("ratios of p50 (registry / baseline):")
    for name, value in ratios(m).items():
        lines.append(f"  {name:<40}{value:>9.3f}")
    lines.append("")
    lines.append("targets:")
    for text, ok in targets(result).items():
        lines.append(f"  {'n/a   ' if ok is None else 'met   ' if ok else 'MISSED'} {text}")
    return "\n".join(lines)


def targets(result: BenchResult) -> dict[str, bool | None]:
    """Each target, met (True), missed (False) or not measured in this run (None)."""
    m = result.metrics()

    def get(name: str, q: str = "p50_ms") -> float:
        return float(m.get(name, {}).get(q, float("nan")))

    out: dict[str, bool | None] = {}

    def ratio(text: str, a: float, b: float, limit: float) -> None:
        value = a / b if b == b and b and a == a else float("nan")
        out[f"{text} ({value:.1f}x)"] = None if value != value else value <= limit

    def bound(text: str, value: float, limit: float, at_least: bool = False) -> None:
        met = value >= limit if at_least else value <= limit
        out[f"{text} ({value:,.2f})"] = None if value != value else met

    tp = result.throughput.per_s if result.throughput else float("nan")
    floor = get("floor_open_stream")
    # issue 13, as ratios in one run
    ratio("warm resolve p50 <= 3x floor_open_stream p50", get("resolve_warm"), floor, 3)
    ratio("warm resolve p99 <= 15x floor_open_stream p50", get("resolve_warm", "p99_ms"), floor, 15)
    ratio("cold resolve p50 <= 2x go_find_providers p50", get("resolve_cold"), get("go_find_providers"), 2)
    ratio("cold register p50 <= 2x go_provide p50", get("register_cold"), get("go_provide"), 2)
    bound("watch delay p99 <= 100 ms", get("watch_delay", "p99_ms"), 100)
    bound("one node >= 12,000 record writes/s", tp, 12000, at_least=True)
    # issue 6
    bound("warm resolve p50 <= 10 ms", get("resolve_warm"), 10)
    ratio("warm resolve p50 <= find_providers p50 / 5", get("resolve_warm"), get("find_providers"), 0.2)
    ratio("register p50 <= provide p50 / 3", get("register"), get("provide"), 1 / 3)
    bound("watch delay p99 <= 1000 ms", get("watch_delay", "p99_ms"), 1000)
    bound("one node >= 2,000 record writes/s", tp, 2000, at_least=True)
    return out


# (operation, ours, py-libp2p's, go-libp2p-kad-dht's): the rows of the side-by-side table
SIDE_BY_SIDE = (
    ("write, cold", "register_cold", "provide", "go_provide"),
    ("lookup, cold", "resolve_cold", "find_providers", "go_find_providers"),
    ("lookup, first provider", "", "find_providers_1", "go_find_providers_1"),
    ("put value", "", "put_value", "go_put_value"),
    ("get value / ack 3", "resolve_ack3", "get_value", "go_get_value"),
    ("request, open stream", "floor_open_stream", "", "go_floor_open_stream"),
    ("request, new stream", "floor_new_stream", "", "go_floor_new_stream"),
)


def _ratio(value: float, base: float) -> str:
    if base != base or value != value or not base:  # NaN or zero
        return "-"
    return f"{value / base:.1f}x"


def _load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="registry-p2p bench", description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=20, help="registry nodes in the network (default 20)")
    parser.add_argument("--samples", type=int, default=30, help="keys / operations per metric (default 30)")
    parser.add_argument("--k", type=int, default=20, help="replica set size K (default 20, the design default)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--no-throughput", action="store_true", help="skip the write-throughput phase")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the whole run; print the top functions")
    parser.add_argument(
        "--processes",
        action="store_true",
        help="also measure with one node per OS process (`registry-p2p node` subprocesses on 127.0.0.1)",
    )
    parser.add_argument("--no-go", action="store_true", help="skip the go-libp2p-kad-dht baseline")
    parser.add_argument(
        "--go-peer",
        metavar="PATH",
        type=Path,
        help=f"the registry-peer-go binary (default: {GO_BINARY}, built if needed)",
    )
    parser.add_argument(
        "--profile-op",
        metavar="METRIC",
        choices=METRIC_ORDER,
        help="cProfile the whole process only while METRIC's operations run (such as resolve_cold);"
        " print the top functions by cumulative and own time (and dump them to --profile FILE if given)",
    )
    parser.add_argument("--verbose", action="store_true", help="show library warnings and errors")
    args = parser.parse_args(argv)
    # py-libp2p logs an ERROR with a traceback for many harmless events (a peer closing a
    # connection, shutdown); the figures are the output here.
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING if args.verbose else logging.CRITICAL)
    logging.basicConfig(handlers=[handler], format="%(name)s: %(message)s")
    if args.nodes < 4 or args.samples < 1:
        parser.error("need --nodes >= 4 and --samples >= 1")

    op_profiler = cProfile.Profile() if args.profile_op else None

    def go() -> BenchResult:
        return trio.run(
            lambda: run_bench(
                args.nodes,
                args.samples,
                args.k,
                not args.no_throughput,
                go=not args.no_go,
                go_binary=args.go_peer,
                processes=args.processes,
                profiler=op_profiler,
                profile_op=args.profile_op or "",
            )
        )

    if op_profiler is not None:
        result = go()
        if args.profile:
            op_profiler.dump_stats(args.profile)
        print(f"profile of {args.profile_op} (the whole process while its operations ran):", file=sys.stderr)
        stats = pstats.Stats(op_profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(15)
    elif args.profile:
        profiler = cProfile.Profile()
        result = profiler.runcall(go)
        profiler.dump_stats(args.profile)
        stats = pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime")
        stats.print_stats(30)
    else:
        result = go()
    print(render(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result.to_json(), handle, indent=2)
            handle.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
