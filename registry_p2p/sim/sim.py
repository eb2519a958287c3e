"""The simulator: a modelled network of churning nodes driving core's pure protocol logic.

What is modelled, and why each shortcut is sound (see docs/SIMULATION.md for the figures):

- Node ids are 8 random bytes; a node's Kademlia position is sha256 of them as an int, exactly
  what `core.lookup` computes from a peer id, so `LookupState` and `ReplicaChoice` are driven on
  the same keyspace the bulk computations use (XOR on ints).
- The replica set a maintenance round, a write or a renewal uses is the K closest online peers on
  the asking node's side of any partition: what `ReplicaChoice.choose` returns after a complete
  lookup. Sampled lookups (`lookups_per_hour`) run the real `LookupState` over a routing-table
  model with stale entries, loss and latency, feed `ReplicaChoice.choose`, and report how often
  the chosen set equals that oracle set (`lookups.replica_set_agreement`).
- Entries are `core.model.SignedRecord` objects with random bytes in place of signatures. Every
  entry in the simulation was made by an honest writer, and Sybils only drop or withhold (they
  cannot forge), so `validate_entry` would accept each one until it expires: validity is
  modelled by `validate.is_live`, and precedence by `precedence.wins` on the entries themselves,
  whose precedence key (issued_at, host_signed_at, signatures) is what a real record carries.
- Every anti-entropy exchange is decided by `antientropy.plan_sync` on digests from
  `antientropy.live_digest` (memoised per pair of entry versions: both are pure), every resolve by
  `repair.plan_read_repair`. Messages are counted per kind with modelled sizes, not sent.
- Garbage collection only frees space: an expired entry is already left out of digests and
  answers (`is_live`), so it is dropped when next met instead of on a 10-minute timer.
- A sampled lookup runs at one simulated instant against the membership of that instant (its
  seconds of latency are tiny against sessions of hours).
"""

from __future__ import annotations

import bisect
import gc
import hashlib
import heapq
import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from registry_p2p.core.antientropy import PeerDigest, SyncPlan, live_digest, plan_sync
from registry_p2p.core.config import RegistryConfig
from registry_p2p.core.limits import Limits
from registry_p2p.core.lookup import ALPHA, QUERY_TIMEOUT_S, LookupState
from registry_p2p.core.model import SignedRecord
from registry_p2p.core.precedence import wins
from registry_p2p.core.repair import plan_read_repair
from registry_p2p.core.replicas import ReplicaChoice
from registry_p2p.core.validate import is_live
from registry_p2p.sim.churn import HOUR, Downtime, SessionModel
from registry_p2p.sim.engine import Loop

_CFG = RegistryConfig()
BITS = 256

# Modelled message sizes (bytes on the wire, framing included). A FIND_NODE answer carries K
# peers with a signed peer record and one or two addresses each (~90 B); a record is ~400 B
# (anchors §7: the 400-B 10-field record); each put carries the resource (~200 B).
FIND_NODE_REQUEST_B = 60
FIND_NODE_PEER_B = 90
DIGEST_REQUEST_B = 80
DIGEST_ANSWER_B = 80
DIGEST_ITEM_B = 48
GET_REQUEST_B = 80
RESOURCE_B = 200
ACK_B = 20


@dataclass(frozen=True, slots=True)
class Params:
    protocol: str = "registry"  # "registry" (ours) or "kad" (Kademlia-like provider records)
    nodes: int = 10_000
    hours: float = 48.0
    records: int = 10_000
    k: int = _CFG.limits.replica_set_size
    replicate_interval_s: float = _CFG.replicate_interval_s
    renew_interval_s: float = _CFG.renew_interval_s
    ttl_s: int = _CFG.limits.default_ttl_s
    jitter: float = _CFG.jitter
    startup_replicate_delay_s: float = _CFG.startup_replicate_delay_s or 5.0
    kad_republish_s: float = 24 * HOUR
    kad_expiry_s: float = 48 * HOUR
    churn: str = "rfm2"
    weibull_scale_h: float = 3.0
    weibull_shape: float = 0.6
    pareto_min_h: float = 0.5
    pareto_alpha: float = 1.2
    return_prob: float = 0.85  # a leaving node comes back (same id) with this probability
    downtime_median_h: float = 1.0
    lose_store_prob: float = 0.1  # a departure is a crash that loses the store
    sybil_fraction: float = 0.0  # Sybils accept writes and drop them, answer resolves with nothing
    loss: float = 0.01  # per message
    latency_median_ms: float = 40.0  # one way, log-normal
    latency_sigma: float = 0.6
    stale_s: float = 600.0  # a departed peer stays in routing tables this long
    partition_at_h: float | None = None
    partition_h: float = 2.0
    partition_fraction: float = 0.5
    partition_updates: float = 0.1  # records their writers update while partitioned
    warmup_h: float = 12.0  # churn only, before the first write
    write_window_h: float = 1.0
    sample_every_s: float = 1800.0
    lookups_per_hour: int = 60
    ack: int = 1
    record_bytes: int = 400
    seed: int = 1

    def session_model(self) -> SessionModel:
        return SessionModel(
            self.churn,
            scale_s=self.weibull_scale_h * HOUR,
            shape=self.weibull_shape,
            pareto_min_s=self.pareto_min_h * HOUR,
            pareto_alpha=self.pareto_alpha,
        )

    def check(self) -> None:
        if self.protocol not in ("registry", "kad"):
            raise ValueError("protocol must be registry or kad")
        if self.nodes < self.k or self.k < 1 or self.records < 1 or self.hours <= 0:
            raise ValueError("need nodes >= k >= 1, records >= 1, hours > 0")
        if not 0 <= self.sybil_fraction < 1 or not 0 <= self.loss < 1:
            raise ValueError("sybil_fraction and loss must be in [0, 1)")
        if not 1 <= self.ack <= self.k:
            raise ValueError("ack must be in [1, k]")
        self.session_model().draw_residual(random.Random(0))


@dataclass
class Report:
    params: dict[str, Any]
    wall_s: float = 0.0
    events: int = 0
    timeline: list[dict[str, float]] = field(default_factory=list)
    lookups: dict[str, float] = field(default_factory=dict)
    hops: list[int] = field(default_factory=list)
    messages_per_record_hour: dict[str, float] = field(default_factory=dict)
    bytes_per_record_hour: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    partition: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _subtree(ring: list[int], rpos: int, length: int) -> tuple[int, int]:
    if length <= 0:
        return 0, len(ring)
    shift = BITS - length
    base = (rpos >> shift) << shift
    return bisect.bisect_left(ring, base), bisect.bisect_left(ring, base + (1 << shift))


def closest_positions(ring: list[int], rpos: int, count: int) -> tuple[list[int], int]:
    """The `count` positions of the sorted `ring` closest to `rpos` by XOR, and the length of the
    smallest prefix subtree around `rpos` holding at least `count` of them (all of the closest
    are inside it: any position inside is closer than every position outside)."""
    n = len(ring)
    length = max(0, int(math.log2(n / count))) if n > count else 0
    lo, hi = _subtree(ring, rpos, length)
    while hi - lo < count and length > 0:
        length -= 1
        lo, hi = _subtree(ring, rpos, length)
    while length < BITS:
        lo2, hi2 = _subtree(ring, rpos, length + 1)
        if hi2 - lo2 < count:
            break
        length += 1
        lo, hi = lo2, hi2
    members = ring[lo:hi]
    members.sort(key=rpos.__xor__)
    return members[:count], length


@dataclass(frozen=True, slots=True)
class _Set:
    """A cached replica set: its peers closest first, as a set, its honest members, how many
    Sybils it holds, and the K-th member's distance (a join closer than it changes the set)."""

    peers: tuple[int, ...]
    positions: tuple[int, ...]
    members: frozenset[int]
    honest: frozenset[int]
    sybils: int
    kth: int


class Simulation:
    def __init__(self, params: Params, scripted: bool = False) -> None:
        """`scripted`: no churn, timers or sampling of its own; the caller adds nodes and
        records and calls write / replicate / go_offline itself (the validation test)."""
        params.check()
        self.p = params
        self.scripted = scripted
        self.rng = random.Random(params.seed)
        self.loop = Loop()
        self.limits = Limits(replica_set_size=params.k)
        self.sessions = params.session_model()
        self.downtime = Downtime(params.downtime_median_h * HOUR)
        self.kad = params.protocol == "kad"
        # nodes
        self.idb: list[bytes] = []
        self.pos: list[int] = []
        self.online = bytearray()
        self.sybil = bytearray()
        self.side = bytearray()
        self.gen: list[int] = []
        self.node_recs: list[set[int]] = []
        self.pending_renew: list[set[int]] = []
        self.node_at: dict[int, int] = {}
        self.rings: list[list[int]] = [[], []]
        self.known: list[int] = []  # online and recently departed: what routing tables hold
        self.partitioned = False
        # records
        self.rids: list[bytes] = []
        self.rpos: list[int] = []
        self.writer: list[int] = []
        self.holders: list[dict[int, SignedRecord]] = []
        self.by_version: list[dict[int, set[int]]] = []  # record -> id(entry) -> nodes holding it
        self.written = 0
        self.originals: list[tuple[int, ...]] = []
        # replica-set cache per side, invalidated by membership changes inside its subtree
        self.tcache: list[dict[int, _Set]] = [{}, {}]
        self.subindex: list[dict[tuple[int, int], set[int]]] = [{}, {}]
        self.used_lengths: list[set[int]] = [set(), set()]
        # memoised pure decisions
        self._digests: dict[int, tuple[bytes, list[tuple[bytes, bytes]]]] = {}
        self._plans: dict[tuple[int, int], SyncPlan] = {}
        self._by_id: dict[int, SignedRecord] = {}
        self._expiry: dict[int, int] = {}
        # measurements
        self.measuring = False
        self.msgs: dict[str, int] = {}
        self.bytes: dict[str, int] = {}
        self.maint_lookups = 0
        self.write_lookups = 0
        self.lookup_queries: list[int] = []
        self.lookup_latency: list[float] = []
        self.hops: list[int] = []
        self.agreement: list[float] = []
        self.sampled_ok = 0
        self.sampled = 0
        self.repairs = 0
        self.replicate_rounds = 0
        self.report = Report(asdict(params))
        self.partition_records: dict[int, SignedRecord] = {}

    # ------------------------------------------------------------------ helpers

    @property
    def now_ms(self) -> int:
        return int(self.loop.now * 1000)

    def jit(self) -> float:
        j = self.p.jitter
        return self.rng.uniform(1 - j, 1 + j) if j else 1.0

    def lost(self, messages: int = 2) -> bool:
        loss = self.p.loss
        return loss > 0 and self.rng.random() >= (1 - loss) ** messages

    def count(self, kind: str, messages: int, size: int) -> None:
        if self.measuring:
            self.msgs[kind] = self.msgs.get(kind, 0) + messages
            self.bytes[kind] = self.bytes.get(kind, 0) + size

    def side_of(self, node: int) -> int:
        return self.side[node] if self.partitioned else 0

    def live(self, entry: SignedRecord | None) -> bool:
        """core.validate.is_live, asked only from the entry's expiry on (before it, it is True)."""
        if entry is None:
            return False
        now_ms = self.loop.now * 1000
        expiry = self._expiry.get(id(entry))
        if expiry is None:
            expiry = self._expiry[id(entry)] = entry.expires_at_ms
        return now_ms < expiry or is_live(entry, int(now_ms), self.limits)

    # ------------------------------------------------------------------ membership

    def new_node(self, idb: bytes | None = None) -> int:
        """A node; `idb` is its id bytes (a real peer id in scripted runs), random otherwise."""
        n = len(self.idb)
        if idb is not None:
            pos = int.from_bytes(hashlib.sha256(idb).digest(), "big")
        while idb is None:
            idb = self.rng.randbytes(8)
            pos = int.from_bytes(hashlib.sha256(idb).digest(), "big")
            if pos in self.node_at:
                idb = None
        self.idb.append(idb)
        self.pos.append(pos)
        self.node_at[pos] = n
        self.online.append(0)
        self.sybil.append(1 if self.rng.random() < self.p.sybil_fraction else 0)
        self.side.append(0)
        self.gen.append(0)
        self.node_recs.append(set())
        self.pending_renew.append(set())
        return n

    def _ring_changed(self, side: int, node: int, joined: bool) -> None:
        """Drop the cached sets a join or leave changes: a join closer than the K-th member, a
        leave of a member. Only sets whose subtree holds the node can be concerned."""
        index = self.subindex[side]
        cache = self.tcache[side]
        pos = self.pos[node]
        rpos = self.rpos
        for length in self.used_lengths[side]:
            key = (length, pos >> (BITS - length)) if length else (0, 0)
            recs = index.get(key)
            if not recs:
                continue
            for r in list(recs):
                hit = cache.get(r)
                if hit is None:
                    recs.discard(r)
                elif joined:
                    if pos ^ rpos[r] < hit.kth:  # it takes its place in the set: no new search
                        cache[r] = self._with_joined(r, hit, node)
                elif node in hit.members:
                    del cache[r]
                    recs.discard(r)

    def go_online(self, n: int, session_s: float | None = None) -> None:
        """`session_s`: how long it stays (default: a session drawn from the churn model)."""
        self.online[n] = 1
        self.gen[n] += 1
        pos = self.pos[n]
        side = self.side_of(n)
        bisect.insort(self.rings[side], pos)
        i = bisect.bisect_left(self.known, pos)
        if i == len(self.known) or self.known[i] != pos:
            self.known.insert(i, pos)
        self._ring_changed(side, n, True)
        if self.scripted:
            return
        stay = self.sessions.draw(self.rng) if session_s is None else session_s
        self.loop.after(stay, lambda: self.go_offline(n))
        if not self.kad and not self.sybil[n]:
            g = self.gen[n]
            first = self.p.startup_replicate_delay_s if self.node_recs[n] else self.p.replicate_interval_s
            self.loop.after(first * self.jit(), lambda: self.replicate(n, g))
            for r in self.pending_renew[n]:
                self.loop.after(self.rng.uniform(0, self.p.renew_interval_s), partial(self.renew, r))
            self.pending_renew[n] = set()

    def go_offline(self, n: int, lose_store: bool | None = None) -> None:
        if not self.online[n]:
            return
        self.online[n] = 0
        self.gen[n] += 1
        pos = self.pos[n]
        side = self.side_of(n)
        ring = self.rings[side]
        del ring[bisect.bisect_left(ring, pos)]
        self._ring_changed(side, n, False)
        self.loop.after(self.p.stale_s, lambda: self._forget(n))
        if self.rng.random() < self.p.lose_store_prob if lose_store is None else lose_store:
            for r in list(self.node_recs[n]):
                self.drop_entry(r, n)
        if self.scripted:
            return
        if self.rng.random() < self.p.return_prob:
            self.loop.after(self.downtime.draw(self.rng), lambda: self.go_online(n))
        else:
            fresh = self.new_node()
            self.loop.after(self.rng.expovariate(1 / 60.0), lambda: self.go_online(fresh))

    def _forget(self, n: int) -> None:
        if self.online[n]:
            return
        i = bisect.bisect_left(self.known, self.pos[n])
        if i < len(self.known) and self.known[i] == self.pos[n]:
            del self.known[i]

    def replica_set(self, r: int, side: int) -> tuple[int, ...]:
        """The K closest online peers to record r's resource on `side` (the oracle set)."""
        return self._set(r, side).peers

    def _set(self, r: int, side: int) -> _Set:
        hit = self.tcache[side].get(r)
        if hit is not None:
            return hit
        rpos = self.rpos[r]
        positions, length = closest_positions(self.rings[side], rpos, self.p.k)
        hit = self.tcache[side][r] = self._make_set(r, positions)
        key = (length, rpos >> (BITS - length)) if length else (0, 0)
        self.subindex[side].setdefault(key, set()).add(r)
        self.used_lengths[side].add(length)
        return hit

    def _make_set(self, r: int, positions: list[int]) -> _Set:
        node_at = self.node_at
        sybil = self.sybil
        peers = tuple([node_at[p] for p in positions])
        honest = frozenset([p for p in peers if not sybil[p]])
        kth = positions[-1] ^ self.rpos[r] if len(positions) >= self.p.k else 1 << BITS
        return _Set(peers, tuple(positions), frozenset(peers), honest, len(peers) - len(honest), kth)

    def _with_joined(self, r: int, hit: _Set, node: int) -> _Set:
        rpos = self.rpos[r]
        positions = list(hit.positions)
        distances = [p ^ rpos for p in positions]
        pos = self.pos[node]
        positions.insert(bisect.bisect_left(distances, pos ^ rpos), pos)
        return self._make_set(r, positions[: self.p.k])

    def set_entry(self, r: int, node: int, entry: SignedRecord) -> None:
        h = self.holders[r]
        old = h.get(node)
        if old is entry:
            return
        versions = self.by_version[r]
        if old is not None:
            versions[id(old)].discard(node)
        h[node] = entry
        versions.setdefault(id(entry), set()).add(node)
        self.node_recs[node].add(r)

    def drop_entry(self, r: int, node: int) -> None:
        old = self.holders[r].pop(node, None)
        if old is not None:
            self.by_version[r][id(old)].discard(node)
        self.node_recs[node].discard(r)

    # ------------------------------------------------------------------ entries and decisions

    def make_entry(self, r: int, issued_at_ms: int) -> SignedRecord:
        writer = self.writer[r]
        ttl = int(self.p.kad_expiry_s) if self.kad else self.p.ttl_s
        wid = self.idb[writer] if writer >= 0 else b"publisher"
        entry = SignedRecord(
            resource_id=self.rids[r],
            issuer=wid,
            host=wid,
            service_id="",
            value=b"",
            issued_at_ms=issued_at_ms,
            ttl_s=ttl,
            host_signed_at_ms=self.now_ms,
            addrs=(),
            issuer_body=b"",
            issuer_signature=b"",
            host_body=b"",
            host_signature=self.rng.randbytes(64),
        )
        self._by_id[id(entry)] = entry  # ids key the memos: this keeps every entry alive
        return entry

    def _digest(self, entry: SignedRecord) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        d = self._digests.get(id(entry))
        if d is None:
            d = self._digests[id(entry)] = live_digest([entry], entry.host_signed_at_ms, self.limits)
        return d

    def plan(self, ours: SignedRecord, theirs: SignedRecord | None) -> SyncPlan:
        """core.antientropy.plan_sync on the two stores' digests (theirs None: resource unknown)."""
        key = (id(ours), id(theirs) if theirs is not None else 0)
        plan = self._plans.get(key)
        if plan is None:
            root, items = self._digest(ours)
            peer = None
            if theirs is not None:
                their_root, their_items = self._digest(theirs)
                peer = PeerDigest(their_root, 0, dict(their_items))
            plan = self._plans[key] = plan_sync(root, items, 0, peer)
        return plan

    def store(self, node: int, r: int, entry: SignedRecord) -> bool:
        """`node` receives `entry`: it keeps whichever wins (core.precedence.wins). Sybils drop it."""
        if self.sybil[node]:
            return False
        held = self.holders[r].get(node)
        if held is None or not self.live(held) or wins(entry, held):
            self.set_entry(r, node, entry)
            return True
        return False

    # ------------------------------------------------------------------ protocol actions

    def put_to_set(self, r: int, source: int, entry: SignedRecord) -> None:
        """A write or renewal: look up the replica set and put `entry` on each of its peers."""
        self.write_lookups += 1
        side = self.side_of(source) if source >= 0 else 0
        for peer in self.replica_set(r, side):
            if peer == source:
                continue
            self.count("put_entries", 2, self.p.record_bytes + RESOURCE_B + ACK_B)
            if not self.lost():
                self.store(peer, r, entry)

    def add_record(self, rid: bytes) -> int:
        self.rids.append(rid)
        self.rpos.append(int.from_bytes(hashlib.sha256(rid).digest(), "big"))
        self.writer.append(-1)
        self.holders.append({})
        self.by_version.append({})
        self.originals.append(())
        return len(self.rids) - 1

    def holding(self, r: int) -> set[int]:
        """The nodes whose store holds a live entry of record r."""
        return {n for n, e in self.holders[r].items() if self.live(e)}

    def write(self, r: int, writer: int | None = None) -> None:
        if self.kad:
            self.writer[r] = -1
            entry = self.make_entry(r, self.now_ms)
            self.put_to_set(r, -1, entry)
            self.originals[r] = tuple(p for p in self.replica_set(r, 0) if self.holders[r].get(p) is entry)
            self.loop.after(self.p.kad_republish_s, lambda: self.republish(r))
            self.written += 1
            return
        if writer is None:
            writer = self.random_online_honest()
        self.writer[r] = writer
        entry = self.make_entry(r, self.now_ms)
        self.set_entry(r, writer, entry)  # the host keeps its record, replica or not
        self.put_to_set(r, writer, entry)
        self.originals[r] = tuple(p for p in self.replica_set(r, 0) if self.holders[r].get(p) is entry)
        self.schedule_renew(r, entry)
        self.written += 1

    def republish(self, r: int) -> None:
        entry = self.make_entry(r, self.now_ms)
        self.put_to_set(r, -1, entry)
        self.loop.after(self.p.kad_republish_s, lambda: self.republish(r))

    def schedule_renew(self, r: int, entry: SignedRecord) -> None:
        # renew_once runs every renew_interval and re-signs records with less than half their TTL left
        due = entry.host_signed_at_ms / 1000 + entry.ttl_s / 2
        self.loop.at(due + self.rng.uniform(0, self.p.renew_interval_s), lambda: self.renew(r))

    def renew(self, r: int) -> None:
        writer = self.writer[r]
        held = self.holders[r].get(writer)
        if held is None or not self.live(held):
            return  # the host lost its store, or was away past the expiry: nobody renews it
        if held.host_signed_at_ms / 1000 + held.ttl_s / 2 > self.loop.now + 1:
            return  # already renewed (a duplicate check)
        if not self.online[writer]:
            self.pending_renew[writer].add(r)
            return
        fresh = self.make_entry(r, held.issued_at_ms)
        self.set_entry(r, writer, fresh)
        self.put_to_set(r, writer, fresh)
        self.schedule_renew(r, fresh)

    def update(self, r: int) -> None:
        """The writer registers a new value (a partition-time update): a newer issued_at wins."""
        writer = self.writer[r]
        if writer < 0 or not self.online[writer] or writer not in self.holders[r]:
            return
        entry = self.make_entry(r, self.now_ms)
        self.set_entry(r, writer, entry)
        self.put_to_set(r, writer, entry)
        self.partition_records[r] = entry

    def replicate(self, n: int, g: int) -> None:
        """Maintenance.replicate_once on node n: every resource it holds, with its replica set.

        Peers already holding our exact entry cost one digest exchange and change nothing
        (plan_sync on equal roots is idle): they are counted together, and only the others go
        through plan_sync one by one (a lost exchange is skipped, as the real loop skips it)."""
        if self.gen[n] != g or not self.online[n]:
            return
        self.replicate_rounds += 1
        side = self.side_of(n)
        holders = self.holders
        by_version = self.by_version
        record_b = self.p.record_bytes
        same_exchanges = 0
        sybil_pushes = 0
        for r in list(self.node_recs[n]):
            h = holders[r]
            ours = h.get(n)
            if ours is None:
                self.node_recs[n].discard(r)
                continue
            if not self.live(ours):  # gc
                self.drop_entry(r, n)
                continue
            self.maint_lookups += 1
            rs = self._set(r, side)
            synced = by_version[r].get(id(ours), ())
            others = set(rs.honest.difference(synced))
            others.discard(n)
            same_exchanges += len(rs.honest) - len(others) - (1 if n in rs.honest else 0)
            sybil_pushes += rs.sybils  # a Sybil never knows the resource: plan_sync pushes it all
            for peer in others:
                if self.lost():
                    self.count("digest", 1, DIGEST_REQUEST_B)
                    continue
                theirs = h.get(peer)
                if theirs is not None and not self.live(theirs):
                    theirs = None
                self.count("digest", 2, DIGEST_REQUEST_B + DIGEST_ANSWER_B + (DIGEST_ITEM_B if theirs else 0))
                plan = self.plan(ours, theirs)
                if plan.push:
                    self.count("put_entries", 2, record_b * len(plan.push) + RESOURCE_B + ACK_B)
                    if not self.lost():
                        self.store(peer, r, ours)
                if plan.pull and theirs is not None:
                    self.count("get_entries", 2, GET_REQUEST_B + record_b)
                    if not self.lost() and wins(theirs, ours):
                        self.set_entry(r, n, theirs)
                        ours = theirs
        exchanges = same_exchanges + sybil_pushes
        self.count("digest", 2 * exchanges, exchanges * (DIGEST_REQUEST_B + DIGEST_ANSWER_B))
        self.count("put_entries", 2 * sybil_pushes, sybil_pushes * (record_b + RESOURCE_B + ACK_B))
        if not self.scripted:
            self.loop.after(self.p.replicate_interval_s * self.jit(), lambda: self.replicate(n, g))

    def random_online_honest(self) -> int:
        ring = self.rings[0]
        while True:
            n = self.node_at[ring[self.rng.randrange(len(ring))]]
            if not self.sybil[n]:
                return n

    # ------------------------------------------------------------------ resolve (bulk and sampled)

    def resolve_answers(self, r: int, replicas: tuple[int, ...] | list[int]) -> dict[int, list[SignedRecord]]:
        """Reads.collect over `replicas`, closest first, `ack` needed and one spare in flight: an
        honest replica lacking the resource answers UNKNOWN (asked past), a Sybil answers OK with
        nothing, a lost request fails. Returns the successful answers that made the ack."""
        need = self.p.ack
        got: list[tuple[int, list[SignedRecord]]] = []
        h = self.holders[r]
        for peer in replicas:
            if self.lost():
                continue
            if self.sybil[peer]:
                got.append((peer, []))
            else:
                e = h.get(peer)
                if e is None or not self.live(e):
                    continue
                got.append((peer, [e]))
            if len(got) == need + 1:
                break
        if len(got) > need:  # of the window's need + 1 in flight, the first `need` to answer count
            del got[self.rng.randrange(len(got))]
        return dict(got)

    def resolvable(self, r: int, replicas: tuple[int, ...]) -> bool:
        answers = self.resolve_answers(r, replicas)
        return len(answers) >= self.p.ack and any(answers.values())

    def rtt(self) -> float:
        m = math.log(self.p.latency_median_ms / 1000)
        return self.rng.lognormvariate(m, self.p.latency_sigma) + self.rng.lognormvariate(m, self.p.latency_sigma)

    def find_node(self, q: int, target_pos: int, count: int) -> list[int]:
        """What q's routing table answers to FIND_NODE: for a far target, `count` random entries
        of the bucket that covers it (routing tables hold K per bucket, stale ones included); for
        a near one, the closest entries it knows (its own neighbourhood is fully known)."""
        known = self.known
        cpl = BITS - (self.pos[q] ^ target_pos).bit_length()
        lo, hi = _subtree(known, target_pos, cpl + 1)
        if hi - lo >= count:
            picks = self.rng.sample(range(lo, hi), count)
            positions = [known[i] for i in picks]
        else:
            positions, _ = closest_positions(known, target_pos, count)
        node_at = self.node_at
        return [node_at[p] for p in positions if node_at[p] != q]

    def sampled_lookup(self, q: int, r: int) -> tuple[list[int], bool, float, int, int]:
        """A lookup of 2K peers for record r from q, driven by core's LookupState.
        Returns (result, done, latency s, hops to the closest, queries sent)."""
        rid = self.rids[r]
        rpos = self.rpos[r]
        k = self.p.k
        idb = self.idb
        seeds = self.find_node(q, rpos, 2 * k)
        state: LookupState[int] = LookupState(
            rid, 2 * k, seeds, key_of=idb.__getitem__, alpha=ALPHA, query_timeout=QUERY_TIMEOUT_S, skip=q.__eq__
        )
        my_side = self.side_of(q)
        pending: list[tuple[float, int, int, bool]] = []
        t = 0.0
        seq = 0
        while True:
            for peer in state.next_queries(t):
                seq += 1
                reachable = self.online[peer] and self.side_of(peer) == my_side
                if reachable and not self.lost():
                    heapq.heappush(pending, (t + self.rtt(), seq, peer, True))
                else:
                    heapq.heappush(pending, (t + QUERY_TIMEOUT_S, seq, peer, False))
            if not pending or state.done:
                break
            t, _, peer, ok = heapq.heappop(pending)
            if ok:
                state.on_reply(peer, self.find_node(peer, rpos, k), t)
            else:
                state.on_failure(peer, t, timed_out=True)
        # As `net/routing.py` does: an unanswered peer still connected (here: online on this side,
        # its query lost) stays a candidate.
        unanswered = [p for p in state.unanswered() if self.online[p] and self.side_of(p) == my_side]
        return [*state.result(), *unanswered], state.done, t, state.hops_to_closest(), state.queries_sent

    def sampled_resolve(self) -> None:
        if not self.written:
            return
        q = self.random_online_honest()
        r = self.rng.randrange(self.written)
        result, done, latency, hops, queries = self.sampled_lookup(q, r)
        choice: ReplicaChoice[int] = ReplicaChoice(self.p.k, _CFG.replica_cache_ttl_s, key_of=self.idb.__getitem__)
        now = self.loop.now
        identified = choice.to_identify(self.rids[r], result, q, lambda _p: True, now)
        chosen = choice.choose(
            self.rids[r],
            result,
            identified,
            me=q,
            serves=True,
            advertised=lambda _p: True,
            connected=(),
            lookup_complete=done,
            now=now,
        )
        oracle = self.replica_set(r, self.side_of(q))
        self.agreement.append(len(set(chosen) & set(oracle)) / len(oracle))
        self.hops.append(hops)
        self.lookup_latency.append(latency)
        self.lookup_queries.append(queries)
        self.count("find_node", 2 * queries, queries * (FIND_NODE_REQUEST_B + self.p.k * FIND_NODE_PEER_B))
        answers = self.resolve_answers(r, chosen)
        self.count("resolve", 2 * len(answers), len(answers) * (GET_REQUEST_B + self.p.record_bytes))
        self.sampled += 1
        if any(answers.values()):
            self.sampled_ok += 1
        if self.kad:
            return
        plan = plan_read_repair(answers, self.now_ms)
        if plan.missing:
            self.repairs += 1
            for peer, missing in plan.missing.items():
                self.count("read_repair", 2, self.p.record_bytes * len(missing) + RESOURCE_B + ACK_B)
                for entry in missing:
                    if isinstance(entry, SignedRecord) and not self.lost():
                        self.store(peer, r, entry)

    # ------------------------------------------------------------------ measurement

    def sample(self) -> None:
        t_h = (self.loop.now - self.p.warmup_h * HOUR) / HOUR
        ok = 0
        in_set: list[int] = []
        originals_online: list[int] = []
        online = self.online
        entries = self._by_id
        expired = 0
        for r in range(self.written):
            rs = self._set(r, 0)
            if self.resolvable(r, rs.peers):
                ok += 1
            holding: set[int] = set()
            for vid, nodes in self.by_version[r].items():
                if nodes and self.live(entries[vid]):
                    holding |= nodes
            if not holding:
                expired += 1  # no store anywhere, online or not, holds a live version of it
            in_set.append(len(rs.honest & holding))
            originals_online.append(sum(1 for p in self.originals[r] if online[p] and p in holding))
        written = max(1, self.written)
        self.report.timeline.append(
            {
                "t_h": round(t_h, 3),
                "online": float(len(self.rings[0]) + len(self.rings[1])),
                "resolvable": ok / written,
                "unresolvable": float(self.written - ok),
                # Records whose host is gone for good (or lost its store) are not renewed and
                # expire with their TTL, by design: "lost" counts only records still live
                # somewhere (a store online or offline) that a resolve does not find.
                "expired": float(expired),
                "lost": float(self.written - ok - expired),
                "resolvable_live": ok / max(1, self.written - expired),
                "holders_in_k_p50": float(statistics.median(in_set)) if in_set else 0.0,
                "holders_in_k_p10": _percentile([float(x) for x in in_set], 0.1),
                "originals_online_p50": float(statistics.median(originals_online)) if originals_online else 0.0,
            }
        )

    # ------------------------------------------------------------------ partitions

    def start_partition(self) -> None:
        self.partitioned = True
        for n in range(len(self.idb)):
            self.side[n] = 1 if self.rng.random() < self.p.partition_fraction else 0
        self._rebuild_rings()
        span = self.p.partition_h * HOUR
        for r in range(self.written):
            if self.rng.random() < self.p.partition_updates:
                self.loop.after(self.rng.uniform(0, span * 0.5), partial(self.update, r))

    def heal(self) -> None:
        self.partitioned = False
        self._rebuild_rings()
        self.healed_at = self.loop.now
        self.report.partition["divergent_at_heal"] = self._divergent()
        self.loop.after(60.0, self.check_convergence)

    def _rebuild_rings(self) -> None:
        self.rings = [[], []]
        for n in range(len(self.idb)):
            if self.online[n]:
                self.rings[self.side_of(n)].append(self.pos[n])
        for ring in self.rings:
            ring.sort()
        self.tcache = [{}, {}]
        self.subindex = [{}, {}]
        self.used_lengths = [set(), set()]

    def _divergent(self) -> int:
        """Records updated during the partition whose replica set still holds an older version."""
        bad = 0
        for r, newest in self.partition_records.items():
            h = self.holders[r]
            if any(
                not self.sybil[p] and (e := h.get(p)) is not None and self.live(e) and wins(newest, e)
                for p in self.replica_set(r, 0)
            ):
                bad += 1
        return bad

    def check_convergence(self) -> None:
        left = self._divergent()
        after_s = self.loop.now - self.healed_at
        part = self.report.partition
        part.setdefault("divergent_over_time", []).append([round(after_s / 60, 1), left])
        total = max(1, len(self.partition_records))
        if "converged_99_s" not in part and left <= 0.01 * total:
            part["converged_99_s"] = after_s
        if left == 0:
            part["converged_s"] = after_s
            return
        if after_s < 4 * self.p.replicate_interval_s:
            self.loop.after(60.0, self.check_convergence)

    # ------------------------------------------------------------------ run

    def run(self, progress: Callable[[str], None] | None = None) -> Report:
        p = self.p
        started = time.perf_counter()
        # A population whose online part averages `nodes`: each node is online a fraction
        # S / (S + return_prob * D) of the time (mean session S, mean downtime D).
        probe = random.Random(p.seed + 1)
        mean_s = statistics.fmean(min(self.sessions.draw(probe), 1000 * HOUR) for _ in range(20_000))
        mean_d = statistics.fmean(min(self.downtime.draw(probe), 1000 * HOUR) for _ in range(20_000))
        availability = mean_s / (mean_s + p.return_prob * mean_d)
        # The start is stationary (see `sim.churn`): what is left of each session or absence.
        for _ in range(round(p.nodes / availability)):
            n = self.new_node()
            if self.rng.random() < availability:
                self.go_online(n, self.sessions.draw_residual(self.rng))
            else:
                self.loop.after(self.downtime.draw_residual(self.rng), partial(self.go_online, n))
        start = p.warmup_h * HOUR
        end = start + p.hours * HOUR
        for r in range(p.records):
            self.add_record(hashlib.sha256(b"sim-resource" + r.to_bytes(4, "big") + bytes([p.seed % 256])).digest())
        write_times = sorted(start + self.rng.uniform(0, p.write_window_h * HOUR) for _ in range(p.records))
        for r, when in enumerate(write_times):
            self.loop.at(when, partial(self.write, r))
        self.loop.at(start, self._start_measuring)
        every = p.sample_every_s
        t = start + every
        while t <= end + 1e-6:
            self.loop.at(t, self.sample)
            t += every
        if p.lookups_per_hour > 0:
            t = start + p.write_window_h * HOUR
            while True:
                t += self.rng.expovariate(p.lookups_per_hour / HOUR)
                if t > end:
                    break
                self.loop.at(t, self.sampled_resolve)
        if p.partition_at_h is not None:
            self.loop.at(start + p.partition_at_h * HOUR, self.start_partition)
            self.loop.at(start + (p.partition_at_h + p.partition_h) * HOUR, self.heal)
        hour = 0.0
        while hour < p.warmup_h + p.hours:
            hour = min(hour + 1, p.warmup_h + p.hours)
            self.loop.run_until(hour * HOUR)
            if progress is not None and hour > p.warmup_h:
                last = self.report.timeline[-1] if self.report.timeline else {}
                progress(
                    f"t={hour - p.warmup_h:5.1f} h  events={self.loop.events}  "
                    f"resolvable={last.get('resolvable_live', float('nan')):.4f} of live, "
                    f"expired={last.get('expired', 0):.0f}  "
                    f"wall={time.perf_counter() - started:.0f} s"
                )
        self._finish(time.perf_counter() - started)
        return self.report

    def _start_measuring(self) -> None:
        self.measuring = True

    def _finish(self, wall_s: float) -> None:
        p = self.p
        rep = self.report
        rep.wall_s = round(wall_s, 2)
        rep.events = self.loop.events
        mean_queries = statistics.fmean(self.lookup_queries) if self.lookup_queries else float(2 * p.k)
        per_lookup_b = mean_queries * (FIND_NODE_REQUEST_B + p.k * FIND_NODE_PEER_B)
        lookups = self.maint_lookups + self.write_lookups
        self.msgs["find_node"] = self.msgs.get("find_node", 0) + int(2 * mean_queries * lookups)
        self.bytes["find_node"] = self.bytes.get("find_node", 0) + int(per_lookup_b * lookups)
        scale = 1 / (p.records * p.hours)
        rep.messages_per_record_hour = {k: round(v * scale, 3) for k, v in sorted(self.msgs.items())}
        rep.bytes_per_record_hour = {k: round(v * scale, 1) for k, v in sorted(self.bytes.items())}
        rep.messages_per_record_hour["total"] = round(sum(self.msgs.values()) * scale, 3)
        rep.bytes_per_record_hour["total"] = round(sum(self.bytes.values()) * scale, 1)
        rep.hops = self.hops
        lat = self.lookup_latency
        rep.lookups = {
            "sampled": float(len(self.hops)),
            "hops_p50": _percentile([float(h) for h in self.hops], 0.5),
            "hops_p90": _percentile([float(h) for h in self.hops], 0.9),
            "latency_p50_s": round(_percentile(lat, 0.5), 3),
            "latency_p90_s": round(_percentile(lat, 0.9), 3),
            "queries_mean": round(mean_queries, 1),
            "replica_set_agreement": round(statistics.fmean(self.agreement), 4) if self.agreement else float("nan"),
            "sampled_resolve_success": round(self.sampled_ok / self.sampled, 4) if self.sampled else float("nan"),
            "read_repairs": float(self.repairs),
        }
        tl = rep.timeline
        worst = min((x["resolvable_live"] for x in tl), default=float("nan"))
        max_lost = max((x["lost"] for x in tl), default=float("nan"))

        def at(hours: float, key: str) -> float:
            best = min(tl, key=lambda x: abs(x["t_h"] - hours), default=None)
            return best[key] if best and abs(best["t_h"] - hours) <= 1 else float("nan")

        rep.summary = {
            "min_resolvable": worst,
            "max_unresolvable_records": max_lost,
            "unresolvable_at_36h": at(36, "lost"),
            "expired_at_48h": at(48, "expired"),
            "holders_in_k_p50_at_3h": at(3, "holders_in_k_p50"),
            "holders_in_k_p50_at_24h": at(24, "holders_in_k_p50"),
            "originals_online_p50_at_3h": at(3, "originals_online_p50"),
            "originals_online_p50_at_24h": at(24, "originals_online_p50"),
            "mean_online": round(statistics.fmean(x["online"] for x in tl), 1) if tl else float("nan"),
            "replicate_rounds": self.replicate_rounds,
            "nodes_created": len(self.idb),
        }


def run(params: Params, progress: Callable[[str], None] | None = None) -> Report:
    # The run allocates millions of small objects that live for hours of simulated time; the
    # cyclic collector's full passes over them cost more than the simulation (nothing here
    # makes reference cycles that outlive the run), so it is paused while it runs.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return Simulation(params).run(progress)
    finally:
        if enabled:
            gc.enable()
