"""The seven attacks of issue 11 ("Hostile peers"), scaled to this machine, against a real node.

`python -m registry_p2p.tools.attacks [--quick] [--only NAME] [--json FILE]`

The victim is a `registry-p2p node` subprocess on 127.0.0.1, beside HONEST_NODES more node
subprocesses (all replicas of every resource: K exceeds the number of nodes). This process runs
the honest light client, which registers HONEST_RECORDS records in each of two resources and
resolves (ack = every node) throughout, and the attackers: fresh libp2p identities on stock
py-libp2p hosts speaking the registry protocol directly, or light/serving registry nodes where
the attack needs pubsub (7) or a replica's store (4).

For each attack: honest resolve p50/p95 before and during the attack; victim RSS before, peak
and after (VmRSS of /proc/PID/status); whether every honest record is still held by every node
(GetEntries on each); and for (1) free identities, (5) exhaustion and (6) flood, the attacker's
cost next to the victim's per attacking item: CPU seconds (/proc/PID/stat of the victim,
process time of this process) and TCP bytes (from `ss`: what the victim's sockets received, i.e.
what attackers sent it, and what they sent). This process also runs the honest probes; their
share, measured per probe before the attack, is subtracted from both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from multiaddr import Multiaddr

from registry_p2p.adapter.shutdown import close_host
from registry_p2p.core import build
from registry_p2p.core.config import RegistryConfig
from registry_p2p.core.ids import resource_id_from_text, uvarint
from registry_p2p.core.model import resource_from_pb
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.net.framing import FrameReader, encode_frame
from registry_p2p.net.notify import topic_of
from registry_p2p.net.routing import distance
from registry_p2p.net.server import PROTOCOL_ID
from registry_p2p.node import Node, open_node
from registry_p2p.pb import registry_pb2 as pb

HONEST_NODES = 3  # beside the victim
K = HONEST_NODES + 1  # every node is a replica of every resource (a set of K is cached: warm resolves)
ACK = K
HONEST_RECORDS = 4
LOOPBACK = "/ip4/127.0.0.1/tcp/0"
TICK = os.sysconf("SC_CLK_TCK")
REQUEST_TIMEOUT_S = 10.0
HONEST_VALUE = b"honest"

CONFIG_TOML = f"""\
[registry]
replicate_interval_s = 3600.0
renew_interval_s = 3600.0
gc_interval_s = 3600.0
gossip_heartbeat_s = 0.5

[limits]
replica_set_size = {K}
"""


def client_config() -> RegistryConfig:
    base = RegistryConfig()
    return replace(
        base,
        limits=replace(base.limits, replica_set_size=K),
        replicate_interval_s=3600.0,
        renew_interval_s=3600.0,
        gc_interval_s=3600.0,
        gossip_heartbeat_s=0.5,
        startup_replicate_delay_s=None,
    )


# ==================================================================== shared with tests/net


Request = Callable[[pb.Message], Awaitable[pb.Message]]


async def put_entries(request: Request, rid: bytes, raws: list[bytes]) -> list[str]:
    """One PutEntries; the status name of each entry (or of the whole refused request)."""
    reply = await request(pb.Message(put_entries=pb.PutEntriesRequest(resource_id=rid, entries=raws)))
    if reply.WhichOneof("body") == "error":
        return [pb.Status.Name(reply.error.status)] * len(raws)
    return [pb.Status.Name(r.status) for r in reply.put_entries_response.results]


async def raw_stream(host: Any, peer: ID) -> Any:
    """A registry-protocol stream from `host` to `peer`, for frames written by hand."""
    return await host.new_stream(peer, [TProtocol(PROTOCOL_ID)])


async def ended_within(stream: Any, seconds: float) -> bool:
    """True when the server ends the stream (reset or close) within `seconds`."""
    with trio.move_on_after(seconds):
        try:
            data = await stream.read(1)
        except Exception:
            return True
        return not data
    return False


# ==================================================================== processes


@dataclass
class NodeProc:
    """A `registry-p2p node` subprocess on 127.0.0.1 (no data dir: the store is in memory)."""

    process: trio.Process
    peer_id: str
    addr: str

    @property
    def id(self) -> ID:
        return ID.from_base58(self.peer_id)

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_s(self) -> float:
        return _cpu_of(self.process.pid)


def _cpu_of(pid: int | str) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


_SENT = re.compile(r"bytes_sent:(\d+)")
_RECEIVED = re.compile(r"bytes_received:(\d+)")


async def tcp_bytes_of(pid: int) -> dict[str, tuple[int, int]]:
    """(bytes sent, bytes received) of each TCP connection of process `pid`, from `ss`."""
    done = await trio.run_process(["ss", "-tinpH"], capture_stdout=True, capture_stderr=True, check=False)
    sockets: dict[str, tuple[int, int]] = {}
    key = None
    for line in done.stdout.decode(errors="replace").splitlines():
        if not line[:1].isspace():
            parts = line.split()
            key = f"{parts[3]}>{parts[4]}" if len(parts) > 5 and f"pid={pid}," in line else None
        elif key is not None:
            sent, received = _SENT.search(line), _RECEIVED.search(line)
            sockets[key] = (int(sent.group(1)) if sent else 0, int(received.group(1)) if received else 0)
    return sockets


class Ledger:
    """Bytes a process sent and received over TCP since `start`, from samples of its sockets (a
    connection opened and closed between two samples is missed; the sampling is every 0.25 s)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.first: dict[str, tuple[int, int]] = {}
        self.last: dict[str, tuple[int, int]] = {}

    async def start(self) -> None:
        self.first = await tcp_bytes_of(self.pid)
        self.last = dict(self.first)

    async def sample(self) -> None:
        for key, counts in (await tcp_bytes_of(self.pid)).items():
            self.first.setdefault(key, (0, 0))
            self.last[key] = counts

    def totals(self) -> tuple[int, int]:
        sent = sum(self.last[k][0] - self.first[k][0] for k in self.last)
        received = sum(self.last[k][1] - self.first[k][1] for k in self.last)
        return sent, received


async def start_node(config: Path, bootstrap: list[str], log: Path) -> NodeProc:
    args = [sys.executable, "-m", "registry_p2p.cli", "node", "--json", "--listen", LOOPBACK, "--config", str(config)]
    for addr in bootstrap:
        args += ["--bootstrap", addr]
    with log.open("ab") as err:
        process = await trio.lowlevel.open_process(args, stdout=-1, stderr=err)  # -1: subprocess.PIPE
    assert process.stdout is not None
    buf = b""
    with trio.fail_after(90):
        while b"\n" not in buf:
            chunk = await process.stdout.receive_some(65536)
            if not chunk:
                raise RuntimeError(f"node exited before it was ready: see {log}")
            buf += chunk
    ready = json.loads(buf.split(b"\n", 1)[0])
    addr = next(a for a in ready["addrs"] if "/127.0.0.1/" in a)
    return NodeProc(process, ready["peer_id"], addr)


async def stop_node(node: NodeProc) -> None:
    node.process.terminate()
    with trio.move_on_after(10):
        await node.process.wait()
        return
    node.process.kill()
    await node.process.wait()


# ==================================================================== attackers


class RawPeer:
    """A fresh identity on a stock py-libp2p host, writing registry frames by hand."""

    def __init__(self) -> None:
        self.key_pair = create_new_key_pair()
        self.host = new_host(key_pair=self.key_pair, listen_addrs=[Multiaddr(LOOPBACK)])
        self._streams: dict[ID, tuple[Any, FrameReader]] = {}
        self._ids = 0

    @asynccontextmanager
    async def running(self) -> AsyncIterator[RawPeer]:
        try:
            async with self.host.run([Multiaddr(LOOPBACK)]):
                yield self
        finally:
            await close_host(self.host)

    async def connect(self, addr: str) -> ID:
        info = info_from_p2p_addr(Multiaddr(addr))
        with trio.fail_after(REQUEST_TIMEOUT_S):
            await self.host.connect(info)
        return info.peer_id

    async def request(self, peer: ID, message: pb.Message) -> pb.Message:
        """One request on this peer's stream to `peer` (a new stream after a failure)."""
        self._ids += 1
        message.request_id = self._ids
        with trio.fail_after(REQUEST_TIMEOUT_S):
            if peer not in self._streams:
                stream = await raw_stream(self.host, peer)
                self._streams[peer] = (stream, FrameReader(stream))
            stream, reader = self._streams[peer]
            try:
                await stream.write(encode_frame(message))
                reply = await reader.read_message()
            except BaseException:
                del self._streams[peer]
                raise
        if reply is None:
            del self._streams[peer]
            raise ConnectionError("stream ended")
        return reply

    def to(self, peer: ID) -> Request:
        return lambda message: self.request(peer, message)


# ==================================================================== the run


@dataclass
class Sizes:
    before_samples: int
    identities: int  # (1)
    bloat_copies: int  # (2)
    tombstone_batches: int  # (3), 500 entries each
    repair_records: int  # (4)
    stream_peers: int  # (5a) peers x streams_per_peer
    streams_per_peer: int
    hold_s: float
    partial_peers: int  # (5b), 4 streams of ~1 MiB each
    idle_connections: int  # (5c)
    resources: int  # (6a)
    amplify_s: float  # (6b)
    phantoms: int  # (7)


FULL = Sizes(40, 2000, 10, 100, 600, 40, 48, 10.0, 24, 300, 4000, 10.0, 2000)
QUICK = Sizes(10, 300, 4, 6, 300, 4, 40, 2.0, 3, 40, 300, 2.0, 200)


@dataclass
class Run:
    sizes: Sizes
    nodes: list[NodeProc]  # victim first
    client: Node
    rids: list[str]
    honest: set[tuple[bytes, str]]  # (resource id, service id) of every honest record
    nursery: trio.Nursery
    prober: Prober  # resolves the attacked resource
    untouched: Prober  # resolves the other honest resource, which no attack writes into
    probe_victim_cpu_s: float = 0.0
    probe_victim_sent: float = 0.0  # bytes the victim sends per honest probe
    probe_victim_received: float = 0.0

    @property
    def victim(self) -> NodeProc:
        return self.nodes[0]

    @property
    def target(self) -> bytes:
        return resource_id_from_text(self.rids[0])


@dataclass
class Outcome:
    sent: int  # attacking items (records, streams, connections, requests...)
    unit: str
    result: str  # what the victim answered, in a few words
    extra: dict[str, Any] = field(default_factory=dict)
    at_victim: int = 0  # of `sent`, how many reached the victim (0: all)


class Prober:
    """The honest user in its own process (so that the attackers' work in this one does not
    delay it): a light client resolving the target resource (ack = every node) back to back,
    one JSON line per resolve: its start on CLOCK_MONOTONIC (shared by all processes), its
    milliseconds, and whether honest records came back."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.samples: list[tuple[float, float, bool]] = []

    @classmethod
    async def start(cls, nursery: trio.Nursery, bootstrap: list[str], rid: str, log: Path) -> Prober:
        args = [sys.executable, "-m", "registry_p2p.tools.attacks", "--probe", rid]
        for addr in bootstrap:
            args += ["--bootstrap", addr]
        with log.open("ab") as err:
            process = await trio.lowlevel.open_process(args, stdout=-1, stderr=err)
        prober = cls(process)
        nursery.start_soon(prober._read)
        return prober

    async def _read(self) -> None:
        assert self.process.stdout is not None
        buf = b""
        while True:
            chunk = await self.process.stdout.receive_some(65536)
            if not chunk:
                return
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                sample = json.loads(line)
                self.samples.append((sample["t"], sample["ms"], sample["ok"]))

    def between(self, start: float, end: float) -> tuple[list[float], int]:
        """Latencies of the resolves that started in [start, end), and how many failed."""
        window = [s for s in self.samples if start <= s[0] < end]
        return [ms for _, ms, ok in window if ok], sum(1 for *_, ok in window if not ok)

    async def wait_for(self, n: int, since: float) -> None:
        with trio.fail_after(120):
            while sum(1 for s in self.samples if s[0] >= since) < n:
                await trio.sleep(0.05)  # polls the reader's list; the child prints as it goes


async def probe_child(rid: str, bootstrap: list[str]) -> None:
    async with open_node([LOOPBACK], bootstrap, None, None, client_config(), serve=False) as client:
        while True:
            started = time.monotonic()
            try:
                records = await client.registry.resolve(rid, ack=ACK, timeout=REQUEST_TIMEOUT_S)
                ok = any(r.value == HONEST_VALUE for r in records)
            except Exception:
                ok = False
            ms = (time.monotonic() - started) * 1000
            print(json.dumps({"t": started, "ms": round(ms, 2), "ok": ok}), flush=True)
            await trio.sleep(0.05)


def pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def probe_before(run: Run) -> tuple[list[float], float, float]:
    """Honest resolves on a quiet network, and what each costs the victim."""
    ledger = Ledger(run.victim.process.pid)
    await ledger.start()
    vcpu0 = run.victim.cpu_s()
    since = time.monotonic()
    await run.prober.wait_for(run.sizes.before_samples, since)
    end = time.monotonic()
    samples, errors = run.prober.between(since, end)
    n = max(1, len(samples) + errors)
    run.probe_victim_cpu_s = (run.victim.cpu_s() - vcpu0) / n
    await ledger.sample()
    sent, received = ledger.totals()
    run.probe_victim_sent = sent / n
    run.probe_victim_received = received / n
    return samples, since, end


async def honest_everywhere(run: Run, peers: list[ID]) -> list[str]:
    """What honest records some node no longer holds ("node i: resource/service")."""
    missing: list[str] = []
    for index, peer in enumerate(peers):
        for rid_text in run.rids:
            rid = resource_id_from_text(rid_text)
            held: set[str] = set()
            cursor = b""
            try:
                while True:
                    request = pb.GetEntriesRequest(resource_id=rid, cursor=cursor)
                    reply = await run.client.registry.client.request(peer, pb.Message(get_entries=request))
                    answer = reply.get_entries_response
                    for raw in answer.entries:
                        entry = pb.Entry.FromString(raw)
                        if entry.WhichOneof("kind") == "record":
                            body = pb.RecordBody.FromString(entry.record.issuer_body)
                            if body.value == HONEST_VALUE and body.issuer == run.client.host.get_id().to_bytes():
                                held.add(body.service_id)
                    cursor = answer.next_cursor
                    if not cursor:
                        break
            except Exception as exc:
                missing.append(f"node{index}: {rid_text[:8]} unreadable ({type(exc).__name__})")
                continue
            for service in sorted(s for r, s in run.honest if r == rid and s not in held):
                missing.append(f"node{index}: {rid_text[:8]}/{service}")
    return missing


AttackFn = Callable[[Run], Awaitable[Outcome]]


@dataclass
class Attack:
    name: str
    number: str
    title: str
    fn: AttackFn
    costed: bool  # attacker's cost next to the victim's


async def run_attack(run: Run, attack: Attack) -> dict[str, Any]:
    before, before_start, before_end = await probe_before(run)
    rss_before = run.victim.rss_mib()
    peak = rss_before
    done = trio.Event()

    ledger = Ledger(run.victim.process.pid)
    await ledger.start()

    async def sample_rss() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, run.victim.rss_mib())
            with trio.move_on_after(0.1):
                await done.wait()

    async def sample_sockets() -> None:
        while not done.is_set():
            await ledger.sample()
            with trio.move_on_after(0.25):
                await done.wait()

    cpu0, vcpu0 = time.process_time(), run.victim.cpu_s()
    started = time.monotonic()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sample_rss)
        nursery.start_soon(sample_sockets)
        try:
            outcome = await attack.fn(run)
        except Exception as exc:  # reported in the table, not hidden: the other attacks still run
            outcome = Outcome(0, "item", f"attack failed: {_leaf(exc)!r}")
        finally:
            done.set()
    seconds = time.monotonic() - started
    ended = time.monotonic()
    during, errors = run.prober.between(started, ended)
    other_before = run.untouched.between(before_start, before_end)[0]
    other_during, other_errors = run.untouched.between(started, ended)
    probes = len(during) + errors
    cpu = time.process_time() - cpu0
    vcpu = run.victim.cpu_s() - vcpu0 - probes * run.probe_victim_cpu_s
    await ledger.sample()
    victim_sent, victim_received = ledger.totals()
    vwrote = victim_sent - probes * run.probe_victim_sent
    wrote = victim_received - probes * run.probe_victim_received  # what the attackers sent the victim
    with trio.move_on_after(2.0):  # the victim's own timers (resets, pruning) run a moment
        await trio.sleep_forever()
    peak = max(peak, run.victim.rss_mib())
    missing = await honest_everywhere(run, [n.id for n in run.nodes])
    p95_before, p95_during = pct(before, 0.95), pct(during, 0.95)
    row: dict[str, Any] = {
        "attack": attack.name,
        "number": attack.number,
        "title": attack.title,
        "seconds": round(seconds, 1),
        "sent": outcome.sent,
        "unit": outcome.unit,
        "result": outcome.result,
        "resolve_ms": {
            "before": {"p50": round(pct(before, 0.5), 1), "p95": round(p95_before, 1), "n": len(before)},
            "during": {"p50": round(pct(during, 0.5), 1), "p95": round(p95_during, 1), "n": len(during)},
            "errors": errors,
            "p95_ratio": round(p95_during / p95_before, 2) if during and before else None,
        },
        "untouched_resolve_ms": {
            "before": {"p50": round(pct(other_before, 0.5), 1), "p95": round(pct(other_before, 0.95), 1)},
            "during": {"p50": round(pct(other_during, 0.5), 1), "p95": round(pct(other_during, 0.95), 1)},
            "errors": other_errors,
            "p95_ratio": round(pct(other_during, 0.95) / pct(other_before, 0.95), 2)
            if other_during and other_before
            else None,
        },
        "victim_rss_mib": {
            "before": round(rss_before, 1),
            "peak": round(peak, 1),
            "after": round(run.victim.rss_mib(), 1),
        },
        "honest_all_resolve": not missing,
        "missing": missing[:10],
        **outcome.extra,
    }
    if attack.costed:
        n = max(1, outcome.sent)
        at_victim = max(1, outcome.at_victim or outcome.sent)
        row["cost"] = {
            "attacker_cpu_s": round(max(0.0, cpu), 3),
            "attacker_bytes": int(max(0, wrote)),
            "victim_cpu_s": round(max(0.0, vcpu), 3),
            "victim_bytes": int(max(0, vwrote)),
            "per_item": {
                "attacker_cpu_ms": round(max(0.0, cpu) / n * 1000, 3),
                "attacker_bytes": round(max(0, wrote) / at_victim),
                "victim_cpu_ms": round(max(0.0, vcpu) / at_victim * 1000, 3),
                "victim_bytes": round(max(0, vwrote) / at_victim),
            },
        }
    return row


# ==================================================================== the attacks


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _count(statuses: list[str]) -> str:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


async def free_identities(run: Run) -> Outcome:
    """(1) One self-hosted record from each fresh identity, newer than every honest record, in
    batches of 50 to every replica."""
    rid = run.target
    now = int(time.time() * 1000)
    flood = [
        build.make_record(create_new_key_pair().private_key, rid, "squat", b"x", now + i).encode()
        for i in range(run.sizes.identities)
    ]
    statuses: list[str] = []
    async with RawPeer().running() as attacker:
        for node in run.nodes:
            peer = await attacker.connect(node.addr)
            for start in range(0, len(flood), 50):
                statuses += await put_entries(attacker.to(peer), rid, flood[start : start + 50])
    refused = statuses.count("LIMIT_EXCEEDED")
    return Outcome(len(statuses), "record", _count(statuses), {"refused": refused}, at_victim=len(flood))


async def bloat(run: Run) -> Outcome:
    """(2) An honest record re-sent with 512 KiB of junk in its unsigned host key field."""
    statuses: list[str] = []
    async with RawPeer().running() as attacker:
        peer = await attacker.connect(run.victim.addr)
        reply = await attacker.request(peer, pb.Message(get_entries=pb.GetEntriesRequest(resource_id=run.target)))
        honest = next(
            pb.Entry.FromString(raw)
            for raw in reply.get_entries_response.entries
            if pb.RecordBody.FromString(pb.Entry.FromString(raw).record.issuer_body).value == HONEST_VALUE
        )
        honest.record.host_public_key = b"\x08\x01\x12\x20" + b"j" * (1 << 19)
        bloated = honest.SerializeToString()
        for node in run.nodes:
            target = await attacker.connect(node.addr)
            for _ in range(run.sizes.bloat_copies):
                try:
                    statuses += await put_entries(attacker.to(target), run.target, [bloated])
                except (Exception, trio.TooSlowError) as exc:
                    statuses.append(f"no answer ({type(exc).__name__})")
    return Outcome(len(statuses), "copy", _count(statuses))


async def tombstones(run: Run) -> Outcome:
    """(3) Batches of 500 from a fresh identity each: 100 records, their 100 tombstones and 300
    tombstones for records never held, into the honest resource."""
    rid = run.target
    statuses: list[str] = []
    async with RawPeer().running() as attacker:
        peer = await attacker.connect(run.victim.addr)
        for _ in range(run.sizes.tombstone_batches):
            key = create_new_key_pair().private_key
            host = peer_id_bytes_of(key)
            now = int(time.time() * 1000)
            batch = [build.make_record(key, rid, f"t-{i}", b"x", now).encode() for i in range(100)]
            batch += [build.make_tombstone(key, rid, host, f"t-{i}", now + 1).encode() for i in range(400)]
            statuses += await put_entries(attacker.to(peer), rid, batch)
    return Outcome(len(statuses), "entry", _count(statuses))


async def streams(run: Run) -> Outcome:
    """(5a) Peers each opening many registry streams, kept alive by an empty frame every second."""
    opened = 0
    refused = 0
    sizes = run.sizes

    async def one_peer(nursery_done: trio.Event) -> None:
        nonlocal opened, refused
        async with RawPeer().running() as attacker:
            peer = await attacker.connect(run.victim.addr)
            held = []
            for _ in range(sizes.streams_per_peer):
                try:
                    stream = await raw_stream(attacker.host, peer)
                except Exception:
                    refused += 1
                    continue
                held.append(stream)
            deadline = trio.current_time() + sizes.hold_s
            while trio.current_time() < deadline:
                alive = []
                for stream in held:
                    try:
                        await stream.write(b"\x00")  # an empty frame: answered MALFORMED
                        alive.append(stream)
                    except Exception:
                        refused += 1
                held = alive
                await trio.sleep(1.0)
            opened += len(held)
            for stream in held:
                with suppress(Exception):
                    await stream.reset()

    async with trio.open_nursery() as nursery:
        for _ in range(sizes.stream_peers):
            nursery.start_soon(one_peer, trio.Event())
    sent = sizes.stream_peers * sizes.streams_per_peer
    return Outcome(sent, "stream", f"{opened} held to the end, {sent - opened} reset or refused")


async def partial_frames(run: Run) -> Outcome:
    """(5b) Peers each opening 4 streams, each sending 1 MiB - 2 B of a 1 MiB - 1 B frame."""
    held = 0
    ended = 0
    body = b"\x0a" + b"p" * ((1 << 20) - 3)

    async def one_peer() -> None:
        nonlocal held, ended
        async with RawPeer().running() as attacker:
            peer = await attacker.connect(run.victim.addr)
            open_streams = []
            for _ in range(4):
                try:
                    stream = await raw_stream(attacker.host, peer)
                    await stream.write(uvarint((1 << 20) - 1))
                    for start in range(0, len(body), 65536):
                        await stream.write(body[start : start + 65536])
                    open_streams.append(stream)
                except Exception:
                    ended += 1
            with trio.move_on_after(run.sizes.hold_s):
                await trio.sleep_forever()
            for stream in open_streams:
                if await ended_within(stream, 0.01):
                    ended += 1
                else:
                    held += 1
                with suppress(Exception):
                    await stream.reset()

    async with trio.open_nursery() as nursery:
        for _ in range(run.sizes.partial_peers):
            nursery.start_soon(one_peer)
    sent = run.sizes.partial_peers * 4
    return Outcome(sent, "stream", f"{held} held to the end, {ended} reset", {"held": held})


async def connections(run: Run) -> Outcome:
    """(5c) Fresh identities each holding an idle connection; then a new honest client resolves."""
    results: list[bool] = []
    done = trio.Event()

    async def idle(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with RawPeer().running() as attacker:
            try:
                await attacker.connect(run.victim.addr)
                results.append(True)
            except (Exception, trio.TooSlowError):
                results.append(False)
            task_status.started()
            await done.wait()

    admitted = "no"
    async with trio.open_nursery() as nursery:
        for _ in range(run.sizes.idle_connections):
            await nursery.start(idle)
        # A new honest client, whose first contact is the victim, still gets in and resolves.
        async with open_node([LOOPBACK], [run.victim.addr], None, None, client_config(), serve=False) as newcomer:
            with trio.move_on_after(30):
                while True:
                    try:
                        records = await newcomer.registry.resolve(run.rids[0], ack=1, timeout=REQUEST_TIMEOUT_S)
                        if any(r.value == HONEST_VALUE for r in records):
                            admitted = "yes"
                            break
                    except Exception:
                        pass
                    await trio.sleep(0.25)  # a refused client's back-off
        with trio.move_on_after(run.sizes.hold_s):
            await trio.sleep_forever()
        done.set()
    return Outcome(len(results), "connection", f"{results.count(True)} connected; a new client admitted: {admitted}")


async def resources(run: Run) -> Outcome:
    """(6a) Resources: half from one owner, half from a fresh owner each, PutResource to the victim."""
    statuses: list[str] = []
    now = int(time.time() * 1000)
    owner = create_new_key_pair().private_key
    half = run.sizes.resources // 2
    made = [build.make_resource(owner, f"flood-{i}", now).to_pb() for i in range(half)]
    made += [build.make_resource(create_new_key_pair().private_key, "flood", now).to_pb() for _ in range(half)]
    async with RawPeer().running() as attacker:
        peer = await attacker.connect(run.victim.addr)
        for i, resource in enumerate(made):
            reply = await attacker.request(peer, pb.Message(put_resource=pb.PutResourceRequest(resource=resource)))
            if reply.WhichOneof("body") == "error":
                statuses.append(pb.Status.Name(reply.error.status))
                if reply.error.status == pb.Status.Value("RATE_LIMITED"):
                    await trio.sleep(0.05)  # the attacker stays under the request rate
            else:
                statuses.append(pb.Status.Name(reply.put_resource_response.result.status))
            if i % 90 == 89:
                await trio.sleep(1.0)  # under 100 requests/s
    return Outcome(len(made), "resource", _count(statuses))


async def amplification(run: Run) -> Outcome:
    """(6b) The attacker fills a resource of its own with 200 records of 4 KiB, then asks for them
    (GetEntries) as fast as the victim answers, from one peer."""
    now = int(time.time() * 1000)
    owner = create_new_key_pair().private_key
    resource = build.make_resource(owner, "amplify", now)
    requests = 0
    limited = 0
    answered = 0
    async with RawPeer().running() as attacker:
        peer = await attacker.connect(run.victim.addr)
        await attacker.request(peer, pb.Message(put_resource=pb.PutResourceRequest(resource=resource.to_pb())))
        for _ in range(2):
            key = create_new_key_pair().private_key
            raws = [build.make_record(key, resource.id, f"a-{i}", b"v" * 4000, now).encode() for i in range(100)]
            for start in range(0, 100, 25):
                await put_entries(attacker.to(peer), resource.id, raws[start : start + 25])
        ask = pb.Message(get_entries=pb.GetEntriesRequest(resource_id=resource.id, limit=1000))
        deadline = trio.current_time() + run.sizes.amplify_s
        while trio.current_time() < deadline:
            reply = await attacker.request(peer, ask)
            requests += 1
            if reply.WhichOneof("body") == "error":
                limited += 1
            else:
                answered += sum(len(e) for e in reply.get_entries_response.entries)
            await trio.sleep(0.011)  # under 100 requests/s
        per_second = answered / run.sizes.amplify_s
    return Outcome(
        requests,
        "request",
        f"{limited} RATE_LIMITED; {answered / max(1, requests - limited) / 1024:.0f} KiB per answer",
        {"victim_egress_mib_per_s": round(per_second / (1 << 20), 2)},
    )


async def phantoms(run: Run) -> Outcome:
    """(7) An attacker's valid records, and re-encoded copies of an honest one, gossiped straight
    to a watcher (the honest client); the watcher must surface only what replicas announce."""
    rid = run.target
    surfaced: list[str] = []
    real = f"real-{time.monotonic_ns()}"
    async with (
        open_node([LOOPBACK], [run.victim.addr], None, None, client_config(), serve=False) as attacker,
        run.client.registry.watch(run.rids[0]) as events,
    ):
        got_real = trio.Event()

        async def watch() -> None:
            async for event in events:
                if event.kind == "registered" and event.record is not None and event.record.value != HONEST_VALUE:
                    surfaced.append(event.service_id)
                if event.service_id == real:
                    got_real.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await attacker.connect(run.client.addrs[0])
            with trio.fail_after(15):
                wait = attacker.pubsub.wait_for_subscription  # type: ignore[attr-defined]
                await wait(run.client.host.get_id(), topic_of(rid), timeout=15)
            now = int(time.time() * 1000)
            for i in range(run.sizes.phantoms):
                phantom = build.make_record(create_new_key_pair().private_key, rid, f"phantom-{i}", b"x", now)
                await attacker.pubsub.publish(topic_of(rid), phantom.encode())
                if i % 50 == 49:
                    await trio.sleep(0.05)
            written = await run.client.registry.register_service(run.rids[0], b"real", real, ack=1)
            with trio.move_on_after(15):
                await got_real.wait()
            nursery.cancel_scope.cancel()
        await run.client.registry.unregister_service(run.rids[0], real, ack=1)
    phantom_events = [s for s in surfaced if s.startswith("phantom-")]
    return Outcome(
        run.sizes.phantoms,
        "message",
        f"{len(phantom_events)} phantom events; the real record (written: {written.ok}) "
        f"{'surfaced' if got_real.is_set() else 'MISSED'}",
        {"phantom_events": len(phantom_events)},
    )


async def read_repair(run: Run) -> Outcome:
    """(4) A serving attacker, a replica of the honest resource, holds many records it hosts
    itself; honest resolves through it read-repair them into the other replicas."""
    # An identity closer to the resource than its farthest replica: the attacker enters its set.
    farthest = max(distance(run.target, node.id) for node in run.nodes)
    key_pair = create_new_key_pair()
    while distance(run.target, ID.from_pubkey(key_pair.public_key)) >= farthest:
        key_pair = create_new_key_pair()
    async with open_node([LOOPBACK], [run.nodes[1].addr], None, key_pair, client_config()) as attacker:
        assert attacker.store is not None
        rid = run.target
        reply = await attacker.registry.client.request(
            run.victim.id, pb.Message(get_resource=pb.GetResourceRequest(resource_id=rid))
        )
        now = attacker.registry.clock_ms()
        attacker.store.put_resource(
            resource_from_pb(reply.get_resource_response.resource, attacker.registry.config.limits), now
        )
        records = [
            build.make_record(attacker.registry.key, rid, f"laundered-{i}", b"x", now + i)
            for i in range(run.sizes.repair_records)
        ]
        for start in range(0, len(records), 100):
            attacker.store.put_entries(rid, records[start : start + 100], now)
        me = attacker.host.get_id()
        await run.client.connect(attacker.addrs[0])
        with trio.fail_after(30):
            while me not in (replicas := await run.client.registry.routing.replica_set(rid, refresh=True)):
                await trio.sleep(0.2)  # the new node enters the client's routing table
        resolves = 0
        returned = 0
        failed = 0
        for _ in range(5):
            resolves += 1
            try:
                got = await run.client.registry.resolve(run.rids[0], ack=len(replicas), timeout=REQUEST_TIMEOUT_S)
            except Exception:
                failed += 1
                continue
            returned = max(returned, sum(1 for r in got if r.service_id.startswith("laundered-")))
        await run.client.registry.settle()
        missing = await honest_everywhere(run, [attacker.host.get_id()])
    await run.client.registry.routing.replica_set(rid, refresh=True)
    return Outcome(
        resolves,
        "resolve",
        f"the attacker is 1 of {len(replicas)} replicas; {returned} of its records returned by a resolve"
        f" ({failed} of {resolves} resolves failed)",
        {"attacker_holds_honest": not missing},
    )


ATTACKS = [
    Attack("free_identities", "1", "free identities flood a resource", free_identities, True),
    Attack("bloat", "2", "re-encoded honest record, 512 KiB junk key", bloat, False),
    Attack("tombstones", "3", "tombstones of records in the same batch", tombstones, False),
    Attack("streams", "5a", "streams kept alive by empty frames", streams, True),
    Attack("partial_frames", "5b", "1 MiB partial frames held", partial_frames, True),
    Attack("connections", "5c", "fresh identities hold idle connections", connections, True),
    Attack("resources", "6a", "resource flood (one owner, fresh owners)", resources, True),
    Attack("amplification", "6b", "GetEntries of 800 KiB for 60 B", amplification, True),
    Attack("phantoms", "7", "valid records gossiped to a watcher", phantoms, False),
    Attack("read_repair", "4", "a replica launders its records via read repair", read_repair, False),
]


async def run_all(sizes: Sizes, only: list[str], log_dir: Path) -> dict[str, Any]:
    chosen = [a for a in ATTACKS if not only or a.name in only or a.number in only]
    if not chosen:
        raise SystemExit(f"no attack named {only}; choose from {[a.name for a in ATTACKS]}")
    config = log_dir / "node.toml"
    config.write_text(CONFIG_TOML)
    nodes: list[NodeProc] = []
    rows: list[dict[str, Any]] = []
    prober: Prober | None = None
    untouched: Prober | None = None
    try:
        first = await start_node(config, [], log_dir / "honest0.log")
        nodes = [first]
        victim = await start_node(config, [first.addr], log_dir / "victim.log")
        nodes = [victim, first]
        for i in range(1, HONEST_NODES):
            nodes.append(await start_node(config, [first.addr, victim.addr], log_dir / f"honest{i}.log"))
        boot = [n.addr for n in nodes]
        async with (
            open_node([LOOPBACK], boot, None, None, client_config(), serve=False) as client,
            trio.open_nursery() as nursery,
        ):
            with trio.fail_after(60):
                while len(await client.registry.routing.replica_set(b"\x00" * 32, refresh=True)) < ACK:
                    await trio.sleep(0.2)  # the nodes' routing tables fill in
            rids = [await client.registry.create_resource(label) for label in ("honest-a", "honest-b")]
            honest: set[tuple[bytes, str]] = set()
            for rid in rids:
                for i in range(HONEST_RECORDS):
                    result = await client.registry.register_service(rid, HONEST_VALUE, f"honest-{i}", ack=ACK)
                    assert result.ok, result
                    honest.add((resource_id_from_text(rid), f"honest-{i}"))
            await client.registry.settle()
            prober = await Prober.start(nursery, boot, rids[0], log_dir / "prober.log")
            untouched = await Prober.start(nursery, boot, rids[1], log_dir / "prober-untouched.log")
            run = Run(sizes, nodes, client, rids, honest, nursery, prober, untouched)
            for attack in chosen:
                print(f"attack {attack.number} {attack.name} ...", file=sys.stderr, flush=True)
                rows.append(await run_attack(run, attack))
            nursery.cancel_scope.cancel()
    finally:
        for child in (prober, untouched):
            if child is not None:
                child.process.terminate()
        with trio.CancelScope(shield=True):
            for node in nodes:
                await stop_node(node)
    return {
        "quick": sizes is QUICK,
        "nodes": len(nodes),
        "victim": "registry-p2p node subprocess",
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "attacks": rows,
    }


def _plural(unit: str) -> str:
    return unit[:-1] + "ies" if unit.endswith("y") else unit + "s"


def table(report: dict[str, Any]) -> str:
    lines = [
        "| # | attack | sent | victim answered | resolve p50/p95 ms before | during | p95 ratio | errors "
        "| untouched resource p95 ratio | victim RSS MiB before/peak/after | honest all resolve |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["attacks"]:
        r = row["resolve_ms"]
        rss = row["victim_rss_mib"]
        lines.append(
            f"| {row['number']} | {row['title']} | {row['sent']:,} {_plural(row['unit'])} | {row['result']} "
            f"| {r['before']['p50']}/{r['before']['p95']} | {r['during']['p50']}/{r['during']['p95']} "
            f"| {r['p95_ratio']} | {r['errors']} | {row.get('untouched_resolve_ms', {}).get('p95_ratio')} "
            f"| {rss['before']}/{rss['peak']}/{rss['after']} "
            f"| {'yes' if row['honest_all_resolve'] else 'NO: ' + '; '.join(row['missing'][:3])} |"
        )
    costed = [row for row in report["attacks"] if "cost" in row]
    if costed:
        lines += [
            "",
            "| # | per attacking item | attacker CPU ms | attacker bytes | victim CPU ms | victim bytes |",
            "|---|---|---|---|---|---|",
        ]
        for row in costed:
            c = row["cost"]["per_item"]
            lines.append(
                f"| {row['number']} | {row['unit']} | {c['attacker_cpu_ms']} | {c['attacker_bytes']:,} "
                f"| {c['victim_cpu_ms']} | {c['victim_bytes']:,} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registry_p2p.tools.attacks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a test")
    parser.add_argument("--only", action="append", default=[], help="run only this attack (name or number; repeatable)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON ('-' for stdout only)")
    parser.add_argument("--probe", metavar="RID", help=argparse.SUPPRESS)  # the honest prober's process
    parser.add_argument("--bootstrap", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        trio.run(probe_child, args.probe, args.bootstrap)
        return 0
    with tempfile.TemporaryDirectory(prefix="attacks-") as tmp:
        report = trio.run(run_all, QUICK if args.quick else FULL, args.only, Path(tmp))
    if args.json == "-":
        print(json.dumps(report))
    else:
        print(f"loadavg {' '.join(report['loadavg'])}; {report['nodes']} node processes, victim first")
        print(table(report))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
