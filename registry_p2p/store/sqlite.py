"""SQLite storage applying the core rules atomically (DESIGN §2, §6, §7).

Durability: a file store runs in WAL mode with `synchronous=NORMAL` by default. In WAL mode a
commit is a write() of the transaction's pages into the -wal file before COMMIT returns, so once
`put_*` has returned, a process crash (kill -9, an exception tearing the interpreter down) cannot
lose it: the data sits in the OS page cache and is replayed from the WAL on the next open. What
NORMAL gives up is the fsync at each commit, so a power loss or kernel crash may lose the last
transactions (never corrupt the file). Registry data is soft state: hosts renew their records and
replicas re-push what a peer lacks through anti-entropy, so a lost second of writes heals itself,
whereas an fsync per batch would cap writes at the disk's flush rate. `synchronous="FULL"` is
available for operators who want every acknowledged write to survive power loss; the benchmark
(`python -m registry_p2p.tools.bench_store`) prints both figures.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, NamedTuple

from registry_p2p.core import rendezvous
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.grants import authorization_error
from registry_p2p.core.ids import b58
from registry_p2p.core.limits import DEFAULT_LIMITS, Limits
from registry_p2p.core.model import (
    Entry,
    SignedGrant,
    SignedRecord,
    SignedResource,
    SignedTombstone,
    decode_entry,
    identity_digest,
    peek_record,
    policy_of_body,
)
from registry_p2p.core.precedence import (
    EvictionCandidate,
    compare_with_stored,
    digest_root,
    eviction_victim,
    outranks_record,
    outranks_tombstone,
    sort_for_resolve,
    tombstone_victim,
    wins,
)
from registry_p2p.core.signing import DeferredSignatures, Verifier
from registry_p2p.core.validate import validate_entry, validate_grant, validate_resource
from registry_p2p.store.schema import MIGRATIONS, migrate

log = logging.getLogger("registry_p2p.store")

DEFAULT_PAGE = 256
CURSOR_VERSION = b"\x01"
_IDENT_BYTES = 16
# Room left in a 1 MiB frame for the response envelope and the resource copy it carries.
_PAGE_HEADROOM = 16 * 1024
_IN_CHUNK = 500  # stays far below SQLite's bound on host parameters

# Stored rows were validated when written. Reading them back must not fail because an operator
# has since lowered a size limit, so they are decoded without any.
_UNBOUNDED = 2**62
_STORED = Limits(
    min_ttl_s=0,
    max_ttl_s=_UNBOUNDED,
    max_value_bytes=_UNBOUNDED,
    max_label_bytes=_UNBOUNDED,
    max_service_id_bytes=_UNBOUNDED,
    max_addrs=_UNBOUNDED,
    max_addr_bytes=_UNBOUNDED,
    max_message_bytes=_UNBOUNDED,
)


@dataclass(frozen=True, slots=True)
class ItemResult:
    status: Status
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.status == Status.OK


@dataclass(frozen=True, slots=True)
class GcResult:
    records: int
    tombstones: int
    resources: int
    grants: int = 0  # expired grants and revocations
    unauthorized: int = 0  # records whose grant expired, in owner-approved resources


# What `entries.is_tombstone` holds: the kind of the row. Grants are stored as entries of their
# resource (same table, digests, pages and expiry as records), as kinds no record query matches
# (those ask for is_tombstone = 0, tombstone ones for = 1).
KIND_RECORD, KIND_TOMBSTONE, KIND_GRANT, KIND_REVOCATION = 0, 1, 2, 3


def _kind(entry: Entry) -> int:
    if isinstance(entry, SignedGrant):
        return KIND_REVOCATION if entry.revoked else KIND_GRANT
    return KIND_TOMBSTONE if entry.is_tombstone else KIND_RECORD


def _precedence_flag(kind: int) -> bool:
    """The second element of a stored row's precedence prefix: a tombstone or a revocation."""
    return kind in (KIND_TOMBSTONE, KIND_REVOCATION)


OK = ItemResult(Status.OK)

_UPSERT = (
    "INSERT INTO entries (rk, ident, issuer, host, service_id, is_tombstone, issued_at_ms, host_signed_at_ms,"
    " expires_at_ms, weight, version, raw, orphan, local_host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (rk, ident) DO UPDATE SET is_tombstone = excluded.is_tombstone,"
    " issued_at_ms = excluded.issued_at_ms, host_signed_at_ms = excluded.host_signed_at_ms,"
    " expires_at_ms = excluded.expires_at_ms, weight = excluded.weight, version = excluded.version,"
    " raw = excluded.raw, orphan = excluded.orphan"
)


def _refusal(err: RegistryError) -> ItemResult:
    return ItemResult(err.status, err.text)


class _Checked(NamedTuple):
    """An item of a batch that decoded and passed validation but for its signatures, which are
    verified only if it is about to be written (`signatures.settle`)."""

    raw: bytes
    ident: bytes
    entry: Entry
    signatures: DeferredSignatures


# What a write needs to know about the stored row of an identity.
_Row = tuple[int, int, int, int, bytes, int]  # is_tombstone, issued_at, host_signed_at, expires_at, raw, orphan


class _CachedDigest(NamedTuple):
    mark: tuple[int, int, int]  # the resource's change mark (Store.change_mark) when it was taken
    taken_ms: int
    next_expiry_ms: int  # the first moment one of its rows is no longer live
    root: bytes
    items: list[tuple[bytes, bytes]]


_CACHED_DIGESTS = 4096
_NEVER_MS = 2**63 - 1


class _Ranked(NamedTuple):
    """Rows of one kind that compete for a resource's places, and the column that is their age."""

    terms: tuple[str, ...]  # conditions on a row of entries, all of which hold
    age: str

    def rows(self, table: str = "") -> str:
        """The condition in SQL, its columns qualified by `table` (an alias) when given."""
        prefix = f"{table}." if table else ""
        return " AND ".join(prefix + term for term in self.terms)


# Records of other hosts rank by (weight, host_signed_at); tombstones by (weight, issued_at).
_RECORDS = _Ranked(("is_tombstone = 0", "local_host = 0"), "host_signed_at_ms")
_TOMBSTONES = _Ranked(("is_tombstone = 1",), "issued_at_ms")


class _Batch:
    """Per-transaction state of one put_entries call.

    The stored rows of the batch's identities are read in one query up front and kept current
    by the batch's own writes; quota counters are read the first time they are needed and then
    kept current the same way. A batch of n items thus costs O(1) queries besides its writes.
    """

    __slots__ = (
        "dropped",
        "grant_count",
        "grants",
        "hosted_for",
        "hosted_for_others",
        "issuers",
        "issuers_here",
        "lowest_record",
        "lowest_tombstone",
        "orphans",
        "records",
        "resource",
        "rows",
        "tombstones",
    )

    def __init__(self, rows: dict[bytes, _Row], resource: SignedResource) -> None:
        self.rows = rows
        self.resource = resource
        self.grants: dict[bytes, SignedGrant | None] = {}  # grantee -> its live grant entry
        self.grant_count: int | None = None
        self.dropped = 0  # records a revocation or a narrowed grant removed
        self.records: int | None = None
        self.orphans: int | None = None
        self.tombstones: int | None = None
        self.issuers: dict[bytes, int] = {}
        self.issuers_here: dict[bytes, int] = {}  # in the batch's resource
        self.hosted_for: dict[bytes, int] = {}  # records this node hosts for a remote issuer
        self.hosted_for_others: int | None = None
        # (weight, host_signed_at) of the lowest live record, (weight, issued_at) of the lowest
        # tombstone: what a newcomer to a full resource must outrank. Any write resets them.
        self.lowest_record: tuple[int, int] | None = None
        self.lowest_tombstone: tuple[int, int] | None = None

    def records_changed(self, issuer: bytes, delta: int) -> None:
        if self.records is not None:
            self.records += delta
        if issuer in self.issuers:
            self.issuers[issuer] += delta
        if issuer in self.issuers_here:
            self.issuers_here[issuer] += delta


class Store:
    """The registry's storage: resources, and per identity the winning record or tombstone."""

    def __init__(
        self,
        path: str | os.PathLike[str] = ":memory:",
        *,
        local_peer: bytes,
        limits: Limits = DEFAULT_LIMITS,
        verifier: Verifier,
        weight: Callable[[bytes], int] = lambda peer: 0,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        decode_cache_size: int = 32768,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be 'NORMAL' or 'FULL'")
        self.path = os.fspath(path)
        self.local_peer = local_peer
        self.limits = limits
        self.verifier = verifier
        self.weight = weight
        self._lock = threading.RLock()
        self._decoded: OrderedDict[bytes, Entry] = OrderedDict()
        self._decode_cache_size = decode_cache_size
        # Change marks: a counter per resource bumped by every entry written, and an epoch bumped
        # by gc, so that a reader can tell in O(1) that a resource's entries are what it last saw.
        self._changes: dict[int, int] = {}
        self._epoch = 0
        # Each resource's digest while its change mark holds and no entry of it has expired: a
        # digest reads every live row (1.9 ms for 1,000), and anti-entropy and rendezvous reads at
        # other nodes ask for it far more often than the entries change.
        self._digests: OrderedDict[int, _CachedDigest] = OrderedDict()
        in_memory = self.path == ":memory:" or self.path == ""
        if not in_memory and not self.path.startswith("file:"):
            # Create it ourselves so that the file (and the -wal/-shm files SQLite derives from its
            # mode) is never readable by other users, even for an instant.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        # Autocommit mode: every transaction below is explicit. check_same_thread is off because
        # the network layer may hand calls to a worker thread; self._lock serialises them.
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, uri=self.path.startswith("file:")
        )
        try:
            if not in_memory:
                mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise RuntimeError(f"could not put {self.path} in WAL mode (got {mode})")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            migrate(self._db, MIGRATIONS, where=self.path)
            self._adopt_local_peer()
        except BaseException:
            self._db.close()
            raise
        self._closed = False

    def _adopt_local_peer(self) -> None:
        """Keep `local_host` true to the peer this store runs as, even after a change of key."""
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'local_peer'").fetchone()
            if row is not None and row[0] == self.local_peer:
                return
            db.execute("UPDATE entries SET local_host = (host = ?)", (self.local_peer,))
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('local_peer', ?)", (self.local_peer,))

    # ---------------------------------------------------------------- lifecycle

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ---------------------------------------------------------------- resources

    def put_resource(self, resource: SignedResource, now_ms: int) -> ItemResult:
        """Store `resource` unless a newer one is stored (newest created_at wins)."""
        with self._lock:
            try:
                validate_resource(resource, now_ms, self.limits, self.verifier)
            except RegistryError as err:
                return _refusal(err)
            with self._transaction():
                return self._put_resource(resource, now_ms)

    def _put_resource(self, new: SignedResource, now_ms: int) -> ItemResult:
        stored = self._resource_row(new.id)
        if stored is None:
            owned = self._db.execute("SELECT count(*) FROM resources WHERE owner = ?", (new.owner,)).fetchone()[0]
            if new.owner == rendezvous.OWNER:
                if owned >= self.limits.max_rendezvous_namespaces:
                    return ItemResult(
                        Status.LIMIT_EXCEEDED,
                        f"this node already holds {owned} rendezvous namespaces"
                        f" (limit {self.limits.max_rendezvous_namespaces})",
                    )
            elif owned >= self.limits.max_resources_per_owner:
                return ItemResult(
                    Status.LIMIT_EXCEEDED,
                    f"this owner already has {owned} resources on this node"
                    f" (limit {self.limits.max_resources_per_owner})",
                )
            total = self._db.execute("SELECT count(*) FROM resources").fetchone()[0]
            if total >= self.limits.max_resources_total:
                return ItemResult(
                    Status.LIMIT_EXCEEDED,
                    f"this node already holds {total} resources (limit {self.limits.max_resources_total})",
                )
            self._db.execute(
                "INSERT INTO resources (id, label, owner, created_at_ms, body, signature, owner_public_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (new.id, new.label, new.owner, new.created_at_ms, new.body, new.signature, new.owner_public_key),
            )
            return OK
        if stored.created_at_ms > new.created_at_ms:
            return ItemResult(
                Status.SUPERSEDED,
                f"a newer version of this resource is stored (created at {stored.created_at_ms} ms, "
                f"this one at {new.created_at_ms} ms)",
            )
        if stored.created_at_ms == new.created_at_ms:
            # Two signatures for one instant: the greater signature wins on every replica.
            if (new.signature, new.encode()) == (stored.signature, stored.encode()):
                return OK
            if (new.signature, new.encode()) < (stored.signature, stored.encode()):
                return ItemResult(
                    Status.SUPERSEDED,
                    f"another version of this resource created at the same instant ({new.created_at_ms} ms) "
                    "is stored and wins (greater signature)",
                )
        # UPDATE, never REPLACE: a REPLACE deletes the row and would cascade to every entry.
        self._db.execute(
            "UPDATE resources SET label = ?, owner = ?, created_at_ms = ?, body = ?, signature = ?,"
            " owner_public_key = ? WHERE id = ?",
            (new.label, new.owner, new.created_at_ms, new.body, new.signature, new.owner_public_key, new.id),
        )
        if new.owner_approved:
            # A resource switched to owner-approved (or still so) keeps only authorized records.
            rk = self._rk(new.id)
            if rk is not None:
                dropped = self._drop_unauthorized(rk, new, now_ms)
                if dropped:
                    log.info(
                        "resource %s is owner-approved: dropped %d unauthorized records", b58(new.id), len(dropped)
                    )
        return OK

    def _resource_row(self, resource_id: bytes) -> SignedResource | None:
        row = self._db.execute(
            "SELECT label, owner, created_at_ms, body, signature, owner_public_key FROM resources WHERE id = ?",
            (resource_id,),
        ).fetchone()
        if row is None:
            return None
        label, owner, created_at_ms, body, signature, owner_public_key = row
        return SignedResource(
            id=resource_id,
            label=label,
            owner=owner,
            created_at_ms=created_at_ms,
            body=body,
            signature=signature,
            owner_public_key=owner_public_key,
            policy=policy_of_body(body),
        )

    def get_resource(self, resource_id: bytes) -> SignedResource | None:
        with self._lock:
            return self._resource_row(resource_id)

    def resource_ids(self) -> list[bytes]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT id FROM resources ORDER BY id")]

    def _rk(self, resource_id: bytes) -> int | None:
        row = self._db.execute("SELECT rk FROM resources WHERE id = ?", (resource_id,)).fetchone()
        return None if row is None else int(row[0])

    # ---------------------------------------------------------------- writing entries

    def put_entries(
        self,
        resource_id: bytes,
        entries: Sequence[bytes | Entry],
        now_ms: int,
        *,
        resource: SignedResource | None = None,
    ) -> tuple[ItemResult, list[ItemResult]]:
        """Apply a batch in one transaction; return the request's result and one result per item.

        An item that fails (undecodable, forged, stale, over quota) fails alone: the others are
        still applied, and nothing that failed is stored.
        """
        with self._lock:
            # Decoding and signature checks need no database: done before the write transaction begins.
            refused = self._refused_by_a_full_resource(resource_id, entries, now_ms, resource)
            checked: list[_Checked | ItemResult] = []
            for index, item in enumerate(entries):
                checked.append(refused.get(index) or self._check_item(item, resource_id, now_ms))
            resource_result = OK
            if resource is not None:
                if resource.id != resource_id:
                    bad = ItemResult(Status.MALFORMED, "the resource sent with the entries has another id")
                    return bad, [bad] * len(entries)
                try:
                    validate_resource(resource, now_ms, self.limits, self.verifier)
                except RegistryError as err:
                    resource_result = _refusal(err)
            with self._transaction():
                if resource is not None and resource_result.ok:
                    resource_result = self._put_resource(resource, now_ms)
                rk = self._rk(resource_id)
                if rk is None:
                    if resource is not None and not resource_result.ok:
                        whole = ItemResult(resource_result.status, f"resource: {resource_result.text}")
                    else:
                        whole = ItemResult(Status.UNKNOWN_RESOURCE, "resource is not stored here; send it along")
                    return whole, [whole] * len(entries)
                stored_resource = self._resource_row(resource_id)
                assert stored_resource is not None
                grants = sum(1 for c in checked if isinstance(c, _Checked) and isinstance(c.entry, SignedGrant))
                if grants > self.limits.max_grants_per_resource:
                    whole = ItemResult(
                        Status.TOO_LARGE,
                        f"{grants} grants in one request"
                        f" (a resource holds at most {self.limits.max_grants_per_resource})",
                    )
                    return whole, [whole] * len(entries)
                # A grant's signer is the resource's owner: checked now that the resource is known.
                for index, c in enumerate(checked):
                    if isinstance(c, _Checked) and isinstance(c.entry, SignedGrant):
                        try:
                            validate_grant(c.entry, stored_resource, now_ms, self.limits, self.verifier)
                        except RegistryError as err:
                            checked[index] = _refusal(err)
                valid = [c for c in checked if isinstance(c, _Checked)]
                batch = _Batch(self._stored_rows(rk, [c.ident for c in valid]), stored_resource)
                issuers = {
                    c.entry.issuer for c in valid if not c.entry.is_tombstone and c.entry.host != self.local_peer
                }
                batch.issuers = self._issuer_counts(issuers, now_ms)
                results: list[ItemResult] = [OK] * len(checked)
                # Tombstones first: each frees the quota place its record held. A replica pulling
                # what it missed while away receives new records and the tombstones of old ones in
                # one batch; in identity order a record could otherwise evict a live record (or be
                # refused) for room that a tombstone later in the same batch frees. An identity sent
                # more than once keeps request order, so its per-item results read as sequential.
                # Grants go before both: a replica pulling a grantee's records with their grant
                # must judge the records with it.
                repeated = Counter(c.ident for c in valid)
                first = [
                    i for i, c in enumerate(checked) if isinstance(c, _Checked) and isinstance(c.entry, SignedGrant)
                ]
                first += [
                    i
                    for i, c in enumerate(checked)
                    if isinstance(c, _Checked) and c.entry.is_tombstone and repeated[c.ident] == 1
                ]
                moved = set(first)
                for index in [*first, *(i for i in range(len(checked)) if i not in moved)]:
                    outcome = checked[index]
                    if isinstance(outcome, ItemResult):
                        results[index] = outcome
                    else:
                        results[index] = self._apply(rk, outcome, now_ms, batch)
                return OK, results

    def _refused_by_a_full_resource(
        self, resource_id: bytes, entries: Sequence[bytes | Entry], now_ms: int, given: SignedResource | None
    ) -> dict[int, ItemResult]:
        """The newcomers of a batch that a full open resource refuses whatever the batch holds,
        found from their identities alone (`peek_record`): a flood of free identities then costs
        the node a parse per record, not a decode with its checks (attack 1 of issue 11).

        Only for a batch of records of this resource, every one of which parses: a tombstone or a
        grant in it could free a place, and what does not parse is answered by the full decode.
        Within such a batch the count of records only grows and the lowest (weight, age) only
        rises, so a newcomer refused against them at the start is refused at its turn too. An
        identity with a live row (a record or a tombstone) is left to the precedence rule; a
        newcomer that is also invalid is answered LIMIT_EXCEEDED rather than what is wrong with it.
        """
        if not entries or not all(isinstance(e, bytes) for e in entries):
            return {}
        rk = self._rk(resource_id)
        stored = self._resource_row(resource_id) if rk is not None else None
        if rk is None or stored is None or stored.owner_approved:
            return {}
        if given is not None and given.signature != stored.signature:
            return {}  # a new copy of the resource comes first: its policy may differ
        # Most batches meet a resource with room: one count, and nothing is parsed twice.
        records = self._db.execute(
            "SELECT count(*) FROM entries WHERE rk = ? AND expires_at_ms > ? AND is_tombstone = 0 AND local_host = 0",
            (rk, now_ms),
        ).fetchone()[0]
        if records < self.limits.max_records_per_resource:
            return {}
        peeks = [peek_record(bytes(e), self.limits) for e in entries if isinstance(e, bytes)]
        if not all(p is not None and p.resource_id == resource_id for p in peeks):
            return {}
        counted = {
            i: p
            for i, p in enumerate(peeks)
            if p is not None and p.host != self.local_peer and p.issuer != rendezvous.OWNER
        }
        if not counted:
            return {}
        lowest = self._lowest(rk, now_ms, _RECORDS)
        if lowest is None:
            return {}
        rows = self._stored_rows(rk, [p.ident for p in counted.values()])
        refusal = self._no_record_room(records)
        out: dict[int, ItemResult] = {}
        for index, peek in counted.items():
            row = rows.get(peek.ident)
            if row is not None and row[3] > now_ms:
                continue
            if not outranks_record(self.weight(peek.issuer), lowest[0]):
                out[index] = refusal
        return out

    def _stored_rows(self, rk: int, idents: list[bytes]) -> dict[bytes, _Row]:
        rows: dict[bytes, _Row] = {}
        wanted = sorted(set(idents))
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            for ident, *row in self._db.execute(
                "SELECT ident, is_tombstone, issued_at_ms, host_signed_at_ms, expires_at_ms, raw, orphan FROM entries"
                f" WHERE rk = ? AND ident IN ({','.join('?' * len(chunk))})",
                (rk, *chunk),
            ):
                rows[ident] = tuple(row)
        return rows

    def _issuer_counts(self, issuers: set[bytes], now_ms: int) -> dict[bytes, int]:
        counts = dict.fromkeys(issuers, 0)
        wanted = sorted(issuers)
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            counts.update(
                self._db.execute(
                    "SELECT issuer, count(*) FROM entries WHERE issuer IN"
                    f" ({','.join('?' * len(chunk))}) AND expires_at_ms > ? AND is_tombstone = 0 AND local_host = 0"
                    " GROUP BY issuer",
                    (*chunk, now_ms),
                )
            )
        return counts

    def _check_item(self, item: bytes | Entry, resource_id: bytes, now_ms: int) -> _Checked | ItemResult:
        signatures = DeferredSignatures()
        try:
            # An entry object is checked through its encoding too, so that the size limits hold for
            # local writers (renewal, HostSign) exactly as for bytes from the wire.
            raw = bytes(item) if isinstance(item, bytes | bytearray | memoryview) else item.encode()
            entry = decode_entry(raw, self.limits)
            if isinstance(entry, SignedGrant):
                # Its signature is the owner's: validated once the resource is read (put_entries).
                if entry.resource_id != resource_id:
                    raise RegistryError(Status.INVALID_SIGNATURE, "grant is signed for another resource")
            else:
                validate_entry(entry, now_ms, self.limits, signatures, resource_id)
        except RegistryError as err:
            return _refusal(err)
        except Exception as exc:  # a decoding surprise is the sender's problem; never the batch's
            return ItemResult(Status.MALFORMED, f"entry does not decode: {exc}")
        return _Checked(raw, identity_digest(entry.identity), entry, signatures)

    def _apply(self, rk: int, item: _Checked, now_ms: int, batch: _Batch) -> ItemResult:
        try:
            return self._apply_item(rk, item, now_ms, batch)
        except RegistryError as err:  # a signature checked just before the write: nothing was written
            return _refusal(err)
        except Exception as exc:
            if not self._db.in_transaction:
                raise  # SQLite rolled the whole transaction back (disk full, I/O error): the batch failed
            # Nothing of this item was written (see _write); recount on next use to be safe.
            batch.records, batch.orphans, batch.grant_count = None, None, None
            batch.lowest_record = batch.lowest_tombstone = None
            batch.issuers = {}
            batch.grants = {}
            return ItemResult(Status.INTERNAL, f"store error: {exc}")

    def _apply_item(self, rk: int, item: _Checked, now_ms: int, batch: _Batch) -> ItemResult:
        raw, ident, entry, signatures = item
        row = batch.rows.get(ident)
        # A row past its lifetime is dead whether or not gc has run yet: it neither blocks a
        # newcomer nor counts against a quota, so gc timing can never change what a replica accepts.
        if row is not None and row[3] <= now_ms:
            row = None
        if isinstance(entry, SignedGrant):
            return self._apply_grant(rk, entry, raw, ident, now_ms, batch, row)
        resource = batch.resource
        if resource.owner_approved and entry.issuer != resource.owner:
            why = authorization_error(resource, entry, self._grant_of(rk, entry.issuer, now_ms, batch), now_ms)
            if why is not None:
                return ItemResult(Status.NOT_AUTHORIZED, why)
        held_record = row is not None and not row[0]
        held_tombstone = row is not None and bool(row[0])
        if row is not None:
            refusal = self._precedence(entry, raw, row)
            if refusal is OK and raw != row[4]:
                # Another encoding of the stored entry is answered OK (and so is gossiped on):
                # it must carry the same valid signatures.
                signatures.settle(self.verifier)
            if refusal is not None:
                return refusal
        counted = entry.host != self.local_peer
        orphan = 0
        victim: EvictionCandidate | None = None
        evicted_tombstone: tuple[bytes, int] | None = None  # (ident, orphan) of a tombstone making room
        if isinstance(entry, SignedRecord):
            expires_at_ms = entry.expires_at_ms
            host_signed_at_ms = entry.host_signed_at_ms
            if counted and not held_record:
                room = self._make_room(rk, entry, now_ms, batch)
                if isinstance(room, ItemResult):
                    return room
                victim = room
            elif entry.issuer != self.local_peer and not held_record:
                refusal = self._hosting_room(entry, now_ms, batch)
                if refusal is not None:
                    return refusal
        else:
            expires_at_ms = entry.issued_at_ms + self.limits.tombstone_lifetime_ms
            host_signed_at_ms = 0
            if held_tombstone:
                orphan = row[5] if row is not None else 0
            else:
                if not held_record:
                    orphan = 1
                    if batch.orphans is None:
                        batch.orphans = self._db.execute(
                            "SELECT count(*) FROM entries WHERE rk = ? AND is_tombstone = 1 AND orphan = 1"
                            " AND expires_at_ms > ?",
                            (rk, now_ms),
                        ).fetchone()[0]
                    if batch.orphans >= self.limits.max_orphan_tombstones_per_resource:
                        return ItemResult(
                            Status.LIMIT_EXCEEDED,
                            f"this resource already holds {batch.orphans} tombstones for records this node never "
                            f"stored (limit {self.limits.max_orphan_tombstones_per_resource})",
                        )
                room_for_tombstone = self._make_tombstone_room(rk, entry, now_ms, batch)
                if isinstance(room_for_tombstone, ItemResult):
                    return room_for_tombstone
                evicted_tombstone = room_for_tombstone
        # Admitted on its decoded fields alone: only now are its signatures worth checking.
        signatures.settle(self.verifier)
        stored: _Row = (int(entry.is_tombstone), entry.issued_at_ms, host_signed_at_ms, expires_at_ms, raw, orphan)
        values = (rk, ident, entry.issuer, entry.host, entry.service_id, *stored[:4], self.weight(entry.issuer))
        evict = identity_digest(victim.identity) if victim is not None else None
        if evicted_tombstone is not None:
            evict = evicted_tombstone[0]
        self._write((*values, entry.version, raw, orphan, int(not counted)), rk, evict)
        # Bookkeeping only once the write has succeeded.
        batch.rows[ident] = stored
        batch.lowest_record = batch.lowest_tombstone = None
        if victim is not None:
            batch.rows.pop(identity_digest(victim.identity), None)
            batch.records_changed(victim.identity[1], -1)
        if counted and entry.is_tombstone and held_record:
            batch.records_changed(entry.issuer, -1)
        elif counted and not entry.is_tombstone and not held_record:
            batch.records_changed(entry.issuer, +1)
        if not counted and entry.issuer != self.local_peer and held_record != (not entry.is_tombstone):
            # A record hosted for another issuer came (+1) or went (-1): keep the hosting quotas current.
            change = -1 if entry.is_tombstone else +1
            if entry.issuer in batch.hosted_for:
                batch.hosted_for[entry.issuer] += change
            if batch.hosted_for_others is not None:
                batch.hosted_for_others += change
        if orphan and not held_tombstone and batch.orphans is not None:
            batch.orphans += 1
        if evicted_tombstone is not None:
            batch.rows.pop(evicted_tombstone[0], None)
            if evicted_tombstone[1] and batch.orphans is not None:
                batch.orphans -= 1
        elif entry.is_tombstone and not held_tombstone and batch.tombstones is not None:
            batch.tombstones += 1
        if not entry.is_tombstone and held_tombstone and batch.tombstones is not None:
            batch.tombstones -= 1
        return OK

    def _grant_of(self, rk: int, grantee: bytes, now_ms: int, batch: _Batch) -> SignedGrant | None:
        """The live grant entry (grant or revocation) of `grantee` in the batch's resource."""
        if grantee in batch.grants:
            return batch.grants[grantee]
        ident = identity_digest((batch.resource.id, grantee, b"", ""))
        row = self._db.execute(
            "SELECT raw FROM entries WHERE rk = ? AND ident = ? AND is_tombstone IN (?, ?) AND expires_at_ms > ?",
            (rk, ident, KIND_GRANT, KIND_REVOCATION, now_ms),
        ).fetchone()
        decoded = self._decode(row[0]) if row is not None else None
        grant = decoded if isinstance(decoded, SignedGrant) else None
        batch.grants[grantee] = grant
        return grant

    def _apply_grant(
        self, rk: int, grant: SignedGrant, raw: bytes, ident: bytes, now_ms: int, batch: _Batch, row: _Row | None
    ) -> ItemResult:
        """Store a grant or a revocation; then drop the grantee's records it no longer authorizes."""
        if row is not None:
            refusal = self._precedence(grant, raw, row)
            if refusal is not None:
                return refusal
        else:
            if batch.grant_count is None:
                batch.grant_count = self._db.execute(
                    "SELECT count(*) FROM entries WHERE rk = ? AND is_tombstone IN (?, ?) AND expires_at_ms > ?",
                    (rk, KIND_GRANT, KIND_REVOCATION, now_ms),
                ).fetchone()[0]
            if batch.grant_count >= self.limits.max_grants_per_resource:
                return ItemResult(
                    Status.LIMIT_EXCEEDED,
                    f"this resource already holds {batch.grant_count} grants"
                    f" (limit {self.limits.max_grants_per_resource})",
                )
        kind = _kind(grant)
        stored: _Row = (kind, grant.issued_at_ms, 0, grant.stored_until_ms, raw, 0)
        self._write(
            (rk, ident, grant.grantee, b"", "", *stored[:4], self.weight(grant.grantee), grant.version, raw, 0, 0),
            rk,
            None,
        )
        batch.rows[ident] = stored
        batch.grants[grant.grantee] = grant
        if row is None and batch.grant_count is not None:
            batch.grant_count += 1
        if batch.resource.owner_approved:
            dropped = self._drop_unauthorized(rk, batch.resource, now_ms, grant.grantee)
            batch.dropped += len(dropped)
            if dropped:
                # The dropped rows are gone from the batch's view and its quota counts.
                for gone in dropped:
                    batch.rows.pop(gone, None)
                batch.records, batch.issuers, batch.issuers_here = None, {}, {}
                batch.lowest_record = batch.lowest_tombstone = None
        return OK

    def _drop_unauthorized(
        self, rk: int, resource: SignedResource, now_ms: int, issuer: bytes | None = None
    ) -> list[bytes]:
        """Delete the records of `resource` (of `issuer` only, if given) its policy no longer
        authorizes: after a revocation, a narrowed or expired grant, a switch to owner-approved."""
        if not resource.owner_approved:
            return []
        query = "SELECT ident, issuer, raw FROM entries WHERE rk = ? AND is_tombstone = 0"
        args: tuple[object, ...] = (rk,)
        if issuer is not None:
            query += " AND issuer = ?"
            args = (rk, issuer)
        grants: dict[bytes, SignedGrant | None] = {}
        doomed: list[tuple[int, bytes]] = []
        for ident, row_issuer, raw in self._db.execute(query, args).fetchall():
            if row_issuer == resource.owner:
                continue
            record = self._decode(raw)
            if not isinstance(record, SignedRecord | SignedTombstone):
                continue
            if row_issuer not in grants:
                grant_row = self._db.execute(
                    "SELECT raw FROM entries WHERE rk = ? AND ident = ? AND is_tombstone IN (?, ?)"
                    " AND expires_at_ms > ?",
                    (rk, identity_digest((resource.id, row_issuer, b"", "")), KIND_GRANT, KIND_REVOCATION, now_ms),
                ).fetchone()
                decoded = self._decode(grant_row[0]) if grant_row is not None else None
                grants[row_issuer] = decoded if isinstance(decoded, SignedGrant) else None
            if authorization_error(resource, record, grants[row_issuer], now_ms) is not None:
                doomed.append((rk, ident))
        if doomed:
            self._changes[rk] = self._changes.get(rk, 0) + 1
            self._db.executemany("DELETE FROM entries WHERE rk = ? AND ident = ?", doomed)
        return [ident for _, ident in doomed]

    def _write(self, values: tuple[object, ...], rk: int, victim: bytes | None) -> None:
        """Upsert one row, evicting the row `victim` (an ident) in the same step: both happen or neither."""
        self._changes[rk] = self._changes.get(rk, 0) + 1
        db = self._db
        if victim is not None:
            db.execute("SAVEPOINT evict")
            try:
                db.execute("DELETE FROM entries WHERE rk = ? AND ident = ?", (rk, victim))
                db.execute(_UPSERT, values)
            except BaseException:
                db.execute("ROLLBACK TO evict")
                db.execute("RELEASE evict")
                raise
            db.execute("RELEASE evict")
        else:
            db.execute(_UPSERT, values)

    def _precedence(self, entry: Entry, raw: bytes, row: _Row) -> ItemResult | None:
        """None when `entry` supersedes the stored row; otherwise the result to answer."""
        stored_tombstone, stored_issued, stored_signed, _, stored_raw, _ = row
        order = compare_with_stored(entry, stored_issued, _precedence_flag(stored_tombstone), stored_signed)
        if order > 0:
            return None
        if order == 0:
            if raw == stored_raw:
                return OK
            # Only a full tie needs the stored entry itself (signatures, then encoding).
            stored = self._decode(stored_raw)
            if wins(entry, stored):
                return None
            if not wins(stored, entry):
                return OK  # the same signed entry, carried in a different encoding
        names = {KIND_RECORD: "record", KIND_TOMBSTONE: "tombstone", KIND_GRANT: "grant", KIND_REVOCATION: "revocation"}
        return ItemResult(
            Status.SUPERSEDED,
            f"a {names[stored_tombstone]} for this identity issued at {stored_issued} ms is stored and takes"
            f" precedence over this {names[_kind(entry)]} (issued at {entry.issued_at_ms} ms)",
        )

    def _make_tombstone_room(
        self, rk: int, tombstone: Entry, now_ms: int, batch: _Batch
    ) -> ItemResult | tuple[bytes, int] | None:
        """The resource-wide tombstone quota for a tombstone that adds a live tombstone row.

        Returns a refusal, the (ident, orphan) of the tombstone to evict for it, or None when there
        is room. The victim is chosen by core's eviction rule with issued_at as the age: a deletion
        always lands (unregister must work on a full resource), at worst at the cost of the oldest
        tombstone of the lowest weight, whose record, if a stale replica still had it, could come
        back only until its own expiry.
        """
        db = self._db
        if batch.tombstones is None:
            batch.tombstones = db.execute(
                "SELECT count(*) FROM entries WHERE rk = ? AND is_tombstone = 1 AND expires_at_ms > ?",
                (rk, now_ms),
            ).fetchone()[0]
        if batch.tombstones < self.limits.max_tombstones_per_resource:
            return None
        weight = self.weight(tombstone.issuer)
        lowest = batch.lowest_tombstone
        if lowest is None:
            lowest = batch.lowest_tombstone = self._lowest(rk, now_ms, _TOMBSTONES)
        if lowest is None:
            return ItemResult(Status.LIMIT_EXCEEDED, f"limit {self.limits.max_tombstones_per_resource} tombstones")
        if not outranks_tombstone((weight, tombstone.issued_at_ms), lowest):
            # Decided on the lowest alone, before reading the tombstones that share it (a flood
            # of refusals must not cost a scan each).
            return self._no_tombstone_room(batch)
        rows = {
            (bytes(rid), issuer, host, service_id): (bytes(ident), orphan)
            for rid, issuer, host, service_id, ident, orphan in self._tied_with(rk, now_ms, _TOMBSTONES, lowest)
        }
        candidates = [EvictionCandidate(identity, lowest[0], lowest[1]) for identity in rows]
        victim = tombstone_victim(candidates, weight, tombstone.issued_at_ms)
        if victim is None:
            return self._no_tombstone_room(batch)
        return rows[victim.identity]

    def _lowest(self, rk: int, now_ms: int, kind: _Ranked) -> tuple[int, int] | None:
        """The lowest (weight, age) among a resource's live rows of `kind`: what a newcomer must outrank."""
        row = self._db.execute(
            f"SELECT weight, {kind.age} FROM entries WHERE rk = ? AND expires_at_ms > ? AND {kind.rows()}"
            f" ORDER BY weight, {kind.age} LIMIT 1",
            (rk, now_ms),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def _tied_with(self, rk: int, now_ms: int, kind: _Ranked, lowest: tuple[int, int]) -> list[tuple[Any, ...]]:
        """Every live row of `kind` sharing the lowest (weight, age): (resource id, issuer, host,
        service_id, ident, orphan), so that core's rule breaks the tie by identity as everywhere else."""
        rows = kind.rows("e")
        return list(
            self._db.execute(
                "SELECT r.id, e.issuer, e.host, e.service_id, e.ident, e.orphan"
                " FROM entries e JOIN resources r ON r.rk = e.rk"
                f" WHERE e.rk = ? AND e.expires_at_ms > ? AND {rows} AND e.weight = ? AND e.{kind.age} = ?",
                (rk, now_ms, lowest[0], lowest[1]),
            )
        )

    def _no_tombstone_room(self, batch: _Batch) -> ItemResult:
        return ItemResult(
            Status.LIMIT_EXCEEDED,
            f"this resource already holds {batch.tombstones} tombstones, none older than this one "
            f"(limit {self.limits.max_tombstones_per_resource})",
        )

    def _hosting_room(self, record: SignedRecord, now_ms: int, batch: _Batch) -> ItemResult | None:
        """Quotas for a new record this node hosts for another issuer (what HostSign stores)."""
        db = self._db
        if batch.hosted_for_others is None:
            batch.hosted_for_others = db.execute(
                "SELECT count(*) FROM entries WHERE local_host = 1 AND is_tombstone = 0 AND expires_at_ms > ?"
                " AND issuer != ?",
                (now_ms, self.local_peer),
            ).fetchone()[0]
        if batch.hosted_for_others >= self.limits.max_hosted_for_others:
            return ItemResult(
                Status.LIMIT_EXCEEDED,
                f"this node already hosts {batch.hosted_for_others} records for other issuers"
                f" (limit {self.limits.max_hosted_for_others})",
            )
        count = batch.hosted_for.get(record.issuer)
        if count is None:
            count = db.execute(
                "SELECT count(*) FROM entries WHERE local_host = 1 AND is_tombstone = 0 AND expires_at_ms > ?"
                " AND issuer = ?",
                (now_ms, record.issuer),
            ).fetchone()[0]
            batch.hosted_for[record.issuer] = count
        if count >= self.limits.max_hosted_per_remote_issuer:
            return ItemResult(
                Status.LIMIT_EXCEEDED,
                f"this node already hosts {count} records for this issuer"
                f" (limit {self.limits.max_hosted_per_remote_issuer})",
            )
        return None

    def _make_room(
        self, rk: int, record: SignedRecord, now_ms: int, batch: _Batch
    ) -> ItemResult | EvictionCandidate | None:
        """Quotas for a record that adds one live non-host record.

        Returns a refusal, the record to evict in its favour, or None when there is room.
        """
        db = self._db
        if record.issuer == rendezvous.OWNER:
            return self._rendezvous_room(rk, record, now_ms)
        if batch.records is None:
            batch.records = db.execute(
                "SELECT count(*) FROM entries WHERE rk = ? AND expires_at_ms > ? AND is_tombstone = 0"
                " AND local_host = 0",
                (rk, now_ms),
            ).fetchone()[0]
        full = batch.records >= self.limits.max_records_per_resource
        weight = self.weight(record.issuer)
        lowest = None
        if full:
            # Decided first, on the lowest (weight, host_signed_at) alone: a flood of newcomers to a
            # full resource is refused at no query each (attack 1 of issue 11).
            lowest = batch.lowest_record
            if lowest is None:
                lowest = batch.lowest_record = self._lowest(rk, now_ms, _RECORDS)
            if lowest is None:
                return ItemResult(Status.LIMIT_EXCEEDED, f"limit {self.limits.max_records_per_resource} records")
            if not outranks_record(weight, lowest[0]):
                return self._no_record_room(batch.records)
        count = batch.issuers.get(record.issuer)
        if count is None:
            count = db.execute(
                "SELECT count(*) FROM entries WHERE issuer = ? AND expires_at_ms > ? AND is_tombstone = 0"
                " AND local_host = 0",
                (record.issuer, now_ms),
            ).fetchone()[0]
            batch.issuers[record.issuer] = count
        if count >= self.limits.max_records_per_issuer:
            return ItemResult(
                Status.LIMIT_EXCEEDED,
                f"this issuer already has {count} records on this node (limit {self.limits.max_records_per_issuer})",
            )
        here = batch.issuers_here.get(record.issuer)
        if here is None:
            here = db.execute(
                "SELECT count(*) FROM entries WHERE issuer = ? AND rk = ? AND expires_at_ms > ? AND is_tombstone = 0"
                " AND local_host = 0",
                (record.issuer, rk, now_ms),
            ).fetchone()[0]
            batch.issuers_here[record.issuer] = here
        if here >= self.limits.max_records_per_issuer_per_resource:
            # A fair share: one issuer alone cannot fill a resource that keeps its incumbents.
            return ItemResult(
                Status.LIMIT_EXCEEDED,
                f"this issuer already has {here} records in this resource on this node"
                f" (limit {self.limits.max_records_per_issuer_per_resource})",
            )
        if lowest is None:
            return None
        candidates = [
            EvictionCandidate((bytes(rid), issuer, host, service_id), lowest[0], lowest[1])
            for rid, issuer, host, service_id, _ident, _orphan in self._tied_with(rk, now_ms, _RECORDS, lowest)
        ]
        victim = eviction_victim(candidates, weight)
        if victim is None:
            return self._no_record_room(batch.records)
        return victim

    def _no_record_room(self, records: int | None) -> ItemResult:
        return ItemResult(
            Status.LIMIT_EXCEEDED,
            f"this resource holds {records} records (limit {self.limits.max_records_per_resource}) and "
            "this one ranks no higher than the lowest-weight, oldest of them",
        )

    # ---------------------------------------------------------------- reading entries

    def _rendezvous_room(self, rk: int, record: SignedRecord, now_ms: int) -> ItemResult | None:
        """Quotas of a new rendezvous registration: per peer (the spec's 1,000), per namespace, in all."""
        db = self._db
        live = "issuer = ? AND expires_at_ms > ? AND is_tombstone = 0"
        peer = db.execute(
            f"SELECT count(*) FROM entries WHERE {live} AND service_id = ?",
            (rendezvous.OWNER, now_ms, record.service_id),
        ).fetchone()[0]
        if peer >= rendezvous.MAX_REGISTRATIONS_PER_PEER:
            return ItemResult(
                Status.LIMIT_EXCEEDED,
                f"this peer already has {peer} rendezvous registrations on this node"
                f" (limit {rendezvous.MAX_REGISTRATIONS_PER_PEER})",
            )
        here = db.execute(f"SELECT count(*) FROM entries WHERE {live} AND rk = ?", (rendezvous.OWNER, now_ms, rk))
        count = here.fetchone()[0]
        if count >= self.limits.max_registrations_per_namespace:
            return ItemResult(
                Status.LIMIT_EXCEEDED,
                f"this namespace holds {count} registrations (limit {self.limits.max_registrations_per_namespace})",
            )
        total = db.execute(f"SELECT count(*) FROM entries WHERE {live}", (rendezvous.OWNER, now_ms)).fetchone()[0]
        if total >= self.limits.max_rendezvous_registrations:
            return ItemResult(
                Status.LIMIT_EXCEEDED,
                f"this node holds {total} rendezvous registrations (limit {self.limits.max_rendezvous_registrations})",
            )
        return None

    def rendezvous_registrations(self, peer_service_id: str, now_ms: int) -> int:
        """How many live rendezvous registrations of this peer (base58 id) the node holds."""
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM entries WHERE issuer = ? AND expires_at_ms > ? AND is_tombstone = 0"
                " AND service_id = ?",
                (rendezvous.OWNER, now_ms, peer_service_id),
            ).fetchone()
            return int(row[0])

    def _decode(self, raw: bytes) -> Entry:
        # Keyed by the exact bytes rather than the entry's version: two encodings of one signed entry
        # (e.g. with and without a carried public key) share a version but decode differently.
        entry = self._decoded.get(raw)
        if entry is not None:
            self._decoded.move_to_end(raw)
            return entry
        entry = decode_entry(raw, _STORED)
        self._decoded[raw] = entry
        if len(self._decoded) > self._decode_cache_size:
            self._decoded.popitem(last=False)
        return entry

    def get_entries(
        self,
        resource_id: bytes,
        now_ms: int,
        *,
        limit: int = DEFAULT_PAGE,
        cursor: bytes = b"",
        include_tombstones: bool = False,
        max_bytes: int | None = None,
    ) -> tuple[list[bytes], bytes]:
        """One page of live entries (raw bytes) in identity-digest order, and the next cursor.

        The cursor is b"" when nothing follows. A page also stops before `max_bytes` (default: what
        fits in one frame) but always holds at least one entry, so a walk always progresses.
        """
        if limit <= 0:
            limit = DEFAULT_PAGE
        budget = self.limits.max_message_bytes - _PAGE_HEADROOM if max_bytes is None else max_bytes
        after = _parse_cursor(cursor)
        with self._lock:
            rk = self._rk(resource_id)
            if rk is None:
                return [], b""
            rows = self._db.execute(
                "SELECT ident, raw FROM entries WHERE rk = ? AND ident > ? AND expires_at_ms > ?"
                # Grants travel with the records they authorize: a reader judges records with them.
                + ("" if include_tombstones else f" AND is_tombstone IN ({KIND_RECORD}, {KIND_GRANT})")
                + " ORDER BY ident LIMIT ?",
                (rk, after, now_ms, limit + 1),
            ).fetchall()
        page: list[bytes] = []
        size = 0
        for _ident, raw in rows[:limit]:
            if page and size + len(raw) > budget:
                return page, CURSOR_VERSION + rows[len(page) - 1][0]
            page.append(raw)
            size += len(raw)
        if len(rows) > limit:
            return page, CURSOR_VERSION + rows[limit - 1][0]
        return page, b""

    def live_records(self, resource_id: bytes, now_ms: int) -> list[SignedRecord]:
        """The live records of a resource, decoded, in resolve order (weight, then newest first)."""
        with self._lock:
            rk = self._rk(resource_id)
            if rk is None:
                return []
            rows = self._db.execute(
                "SELECT raw FROM entries WHERE rk = ? AND is_tombstone = 0 AND expires_at_ms > ?", (rk, now_ms)
            ).fetchall()
            records = [self._decode(raw) for (raw,) in rows]
            resource = self._resource_row(resource_id)
            if resource is not None and resource.owner_approved:
                # Stored records were authorized when written; a grant may have expired since.
                grants = {g.grantee: g for g in self.grants(resource_id, now_ms)}
                records = [
                    r
                    for r in records
                    if isinstance(r, SignedRecord)
                    and authorization_error(resource, r, grants.get(r.issuer), now_ms) is None
                ]
        return sort_for_resolve([r for r in records if isinstance(r, SignedRecord)], self.weight)

    def grant_of(self, resource_id: bytes, grantee: bytes, now_ms: int) -> SignedGrant | None:
        """The live grant entry (grant or revocation) of `grantee` in a resource, if any."""
        with self._lock:
            rk = self._rk(resource_id)
            resource = self._resource_row(resource_id)
            if rk is None or resource is None:
                return None
            return self._grant_of(rk, grantee, now_ms, _Batch({}, resource))

    def grants(self, resource_id: bytes, now_ms: int) -> list[SignedGrant]:
        """The live grants and revocations of a resource, by grantee."""
        with self._lock:
            rk = self._rk(resource_id)
            if rk is None:
                return []
            rows = self._db.execute(
                "SELECT raw FROM entries WHERE rk = ? AND is_tombstone IN (?, ?) AND expires_at_ms > ? ORDER BY issuer",
                (rk, KIND_GRANT, KIND_REVOCATION, now_ms),
            ).fetchall()
            decoded = [self._decode(raw) for (raw,) in rows]
        return [g for g in decoded if isinstance(g, SignedGrant)]

    def digest(self, resource_id: bytes, now_ms: int) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """(root, sorted (identity digest, version) items) over live records and tombstones.
        The items list may be shared with later calls: read it, do not change it."""
        with self._lock:
            rk = self._rk(resource_id)
            if rk is None:
                return digest_root([]), []
            mark = self._mark(rk)
            cached = self._digests.get(rk)
            if cached is not None and cached.mark == mark and cached.taken_ms <= now_ms < cached.next_expiry_ms:
                self._digests.move_to_end(rk)
                return cached.root, cached.items
            rows = self._db.execute(
                "SELECT ident, version, expires_at_ms FROM entries WHERE rk = ? AND expires_at_ms > ? ORDER BY ident",
                (rk, now_ms),
            ).fetchall()
            items = [(ident, version) for ident, version, _ in rows]
            root = digest_root(items)
            next_expiry = min((expires for *_, expires in rows), default=_NEVER_MS)
            self._digests[rk] = _CachedDigest(mark, now_ms, next_expiry, root, items)
            if len(self._digests) > _CACHED_DIGESTS:
                self._digests.popitem(last=False)
        return root, items

    def entries_by_identity_digest(self, resource_id: bytes, digests: Iterable[bytes], now_ms: int) -> list[bytes]:
        """Raw live entries (records and tombstones) with these identity digests, in digest order."""
        wanted = sorted(set(digests))
        out: list[bytes] = []
        with self._lock:
            rk = self._rk(resource_id)
            if rk is None:
                return []
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                out.extend(
                    raw
                    for (raw,) in self._db.execute(
                        f"SELECT raw FROM entries WHERE rk = ? AND expires_at_ms > ? AND ident IN ({marks})"
                        " ORDER BY ident",
                        (rk, now_ms, *chunk),
                    )
                )
        return out

    # ---------------------------------------------------------------- maintenance

    def change_mark(self, resource_id: bytes) -> tuple[int, int, int] | None:
        """Equal marks mean the resource's stored entries have not changed in between (None: not stored)."""
        with self._lock:
            rk = self._rk(resource_id)
            return None if rk is None else self._mark(rk)

    def _mark(self, rk: int) -> tuple[int, int, int]:
        return (self._epoch, rk, self._changes.get(rk, 0))

    def gc(self, now_ms: int) -> GcResult:
        """Drop expired records, tombstones past their lifetime, and empty resources past their TTL."""
        with self._lock, self._transaction() as db:
            self._epoch += 1
            records = db.execute(
                "DELETE FROM entries WHERE is_tombstone = 0 AND expires_at_ms <= ?", (now_ms,)
            ).rowcount
            tombstones = db.execute(
                "DELETE FROM entries WHERE is_tombstone = 1 AND expires_at_ms <= ?", (now_ms,)
            ).rowcount
            # Records whose grant expired go with it: only resources with an expired grant row can
            # hold such records, and each record is judged by core's rule.
            unauthorized = 0
            for (resource_id,) in db.execute(
                "SELECT DISTINCT r.id FROM entries e JOIN resources r ON r.rk = e.rk"
                " WHERE e.is_tombstone IN (?, ?) AND e.expires_at_ms <= ?",
                (KIND_GRANT, KIND_REVOCATION, now_ms),
            ).fetchall():
                resource = self._resource_row(resource_id)
                rk = self._rk(resource_id)
                if resource is not None and rk is not None:
                    unauthorized += len(self._drop_unauthorized(rk, resource, now_ms))
            grants = db.execute(
                "DELETE FROM entries WHERE is_tombstone IN (?, ?) AND expires_at_ms <= ?",
                (KIND_GRANT, KIND_REVOCATION, now_ms),
            ).rowcount
            # A live tombstone keeps its resource: dropping both would let a stale replica's copy of
            # the deleted record come back through anti-entropy.
            resources = db.execute(
                "DELETE FROM resources WHERE created_at_ms + ? <= ?"
                " AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.rk = resources.rk AND e.expires_at_ms > ?)",
                (self.limits.resource_ttl_s * 1000, now_ms, now_ms),
            ).rowcount
        return GcResult(
            records=records, tombstones=tombstones, resources=resources, grants=grants, unauthorized=unauthorized
        )

    def due_for_renewal(self, now_ms: int, early_ms: int = 0) -> list[SignedRecord]:
        """Live records hosted by this node with half or less of their TTL left (or that will
        have within `early_ms`: renewed with the others, they stay in one batch after)."""
        with self._lock:
            # now >= host_signed_at + ttl/2  <=>  2*now >= host_signed_at + expires_at, in integers.
            rows = self._db.execute(
                "SELECT raw FROM entries WHERE expires_at_ms > ? AND is_tombstone = 0 AND local_host = 1"
                " AND host_signed_at_ms + expires_at_ms <= 2 * ? ORDER BY expires_at_ms",
                (now_ms, now_ms + early_ms),
            ).fetchall()
            records = [self._decode(raw) for (raw,) in rows]
        return [r for r in records if isinstance(r, SignedRecord)]

    def next_renewal_ms(self, now_ms: int) -> int | None:
        """When the first live record hosted here reaches half its TTL (`due_for_renewal`'s
        threshold), None when none is hosted here."""
        with self._lock:
            (low,) = self._db.execute(
                "SELECT min(host_signed_at_ms + expires_at_ms) FROM entries"
                " WHERE expires_at_ms > ? AND is_tombstone = 0 AND local_host = 1",
                (now_ms,),
            ).fetchone()
        return None if low is None else (low + 1) // 2

    def counts(self) -> dict[str, int]:
        """Rows held (collected or not), for metrics."""
        with self._lock:
            resources = self._db.execute("SELECT count(*) FROM resources").fetchone()[0]
            by_kind = dict(self._db.execute("SELECT is_tombstone, count(*) FROM entries GROUP BY 1").fetchall())
        return {
            "resources": resources,
            "records": by_kind.get(KIND_RECORD, 0),
            "tombstones": by_kind.get(KIND_TOMBSTONE, 0),
            "grants": by_kind.get(KIND_GRANT, 0) + by_kind.get(KIND_REVOCATION, 0),
        }

    def reweigh(self) -> int:
        """Recompute the stored weights after the weight function changed; return rows changed."""
        with self._lock, self._transaction() as db:
            weights: dict[bytes, int] = {}
            updates: list[tuple[int, int]] = []
            for rowid, issuer, stored in db.execute("SELECT rowid, issuer, weight FROM entries"):
                weight = weights.get(issuer)
                if weight is None:
                    weight = weights[issuer] = self.weight(issuer)
                if weight != stored:
                    updates.append((weight, rowid))
            db.executemany("UPDATE entries SET weight = ? WHERE rowid = ?", updates)
        return len(updates)


def _parse_cursor(cursor: bytes) -> bytes:
    if not cursor:
        return b""
    if len(cursor) != 1 + _IDENT_BYTES or cursor[:1] != CURSOR_VERSION:
        raise RegistryError(Status.MALFORMED, "unknown pagination cursor")
    return cursor[1:]


__all__ = ["GcResult", "ItemResult", "Store"]
