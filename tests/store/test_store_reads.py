"""Reading: expiry on read, pagination, resolve order, digests."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.limits import DEFAULT_LIMITS, Limits
from registry_p2p.core.model import decode_entry, identity_digest
from registry_p2p.core.precedence import digest_items, digest_root, sort_for_resolve
from registry_p2p.store import Store
from tests.store.store_helpers import LOCAL, NOW, VERIFIER, StoreFactory, pid, record, resource, tombstone

RID = resource().id


def _walk(st: Store, now: int, limit: int, tombstones: bool = False) -> list[bytes]:
    out: list[bytes] = []
    cursor = b""
    while True:
        page, cursor = st.get_entries(RID, now, limit=limit, cursor=cursor, include_tombstones=tombstones)
        assert len(page) <= limit
        out.extend(page)
        if not cursor:
            return out


def _ident(raw: bytes) -> bytes:
    return identity_digest(decode_entry(raw, DEFAULT_LIMITS).identity)


def test_a_record_is_never_served_at_or_after_its_expiry(store: Store) -> None:
    rec = record(2, ttl_s=60, signed_at=NOW + 1000)
    tomb = tombstone(3)
    assert all(r.ok for r in store.put_entries(RID, [rec, tomb], NOW + 1000)[1])
    before, at = rec.expires_at_ms - 1, rec.expires_at_ms
    assert store.get_entries(RID, before)[0] == [rec.encode()]
    assert store.live_records(RID, before) == [rec]
    ident = identity_digest(rec.identity)
    assert store.entries_by_identity_digest(RID, [ident], before) == [rec.encode()]
    for now in (at, at + 1, at + 10**7):
        assert store.get_entries(RID, now)[0] == []
        assert store.get_entries(RID, now, include_tombstones=True)[0] == [tomb.encode()]
        assert store.live_records(RID, now) == []
        assert store.entries_by_identity_digest(RID, [ident], now) == []
        assert ident not in dict(store.digest(RID, now)[1])
    assert store.counts()["records"] == 1  # not collected, just never served


def test_entries_are_ordered_by_identity_digest_and_paginated(store: Store) -> None:
    recs = [record(2 + i % 4, f"svc-{i}") for i in range(23)]
    tombs = [tombstone(7, f"gone-{i}") for i in range(5)]
    assert all(r.ok for r in store.put_entries(RID, recs + tombs, NOW)[1])
    everything = _walk(store, NOW, limit=1000, tombstones=True)
    assert [_ident(raw) for raw in everything] == sorted(_ident(raw) for raw in everything)
    assert sorted(everything) == sorted(e.encode() for e in recs + tombs)
    for limit in (1, 2, 5, 22, 23, 24):
        assert _walk(store, NOW, limit) == _walk(store, NOW, 1000)
        assert len(_walk(store, NOW, limit)) == 23
    first, cursor = store.get_entries(RID, NOW, limit=23)
    assert len(first) == 23 and cursor == b""
    # limit 0 means the default page size.
    assert store.get_entries(RID, NOW, limit=0)[0] == first


def test_pages_stop_at_the_byte_budget(store: Store) -> None:
    recs = [record(2, f"s{i}", value=bytes(1000)) for i in range(10)]
    store.put_entries(RID, recs, NOW)
    page, cursor = store.get_entries(RID, NOW, max_bytes=3000)
    assert len(page) == 2 and cursor
    # Even a budget smaller than one entry makes progress.
    page, cursor = store.get_entries(RID, NOW, max_bytes=1)
    assert len(page) == 1 and cursor


def test_bad_cursor_is_malformed(store: Store) -> None:
    for cursor in (b"\x02" + bytes(16), b"\x01" + bytes(3), b"garbage"):
        with pytest.raises(RegistryError) as info:
            store.get_entries(RID, NOW, cursor=cursor)
        assert info.value.status == Status.MALFORMED


def test_unknown_resource_reads_are_empty(make_store: StoreFactory) -> None:
    st = make_store()
    assert st.get_entries(RID, NOW) == ([], b"")
    assert st.live_records(RID, NOW) == []
    assert st.digest(RID, NOW) == (digest_root([]), [])
    assert st.entries_by_identity_digest(RID, [bytes(16)], NOW) == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    initial=st.integers(0, 30),
    limit=st.integers(1, 7),
    additions=st.lists(st.integers(0, 4), min_size=0, max_size=10),
)
def test_pagination_walks_every_entry_exactly_once_while_entries_are_added(
    initial: int, limit: int, additions: list[int]
) -> None:
    with Store(local_peer=pid(LOCAL), verifier=VERIFIER) as st:
        st.put_resource(resource(), NOW)
        st.put_entries(RID, [record(2 + i % 5, f"p{i}") for i in range(initial)], NOW)
        present = set(_walk(st, NOW, 1000))
        seen: list[bytes] = []
        cursor, step, added = b"", 0, 0
        while True:
            page, cursor = st.get_entries(RID, NOW, limit=limit, cursor=cursor)
            seen.extend(page)
            if not cursor:
                break
            # Between pages: new entries, and a renewal (new bytes) of one already seen.
            n = additions[step] if step < len(additions) else 0
            fresh = [record(8, f"late-{added + j}") for j in range(n)]
            added += n
            st.put_entries(RID, fresh, NOW)
            step += 1
        assert len(seen) == len(set(seen))
        assert len({_ident(raw) for raw in seen}) == len(seen)
        assert present <= set(seen)


def test_live_records_are_in_resolve_order(make_store: StoreFactory) -> None:
    weights = {pid(3): 10, pid(4): 10, pid(5): -1}
    st = make_store(weight=lambda p: weights.get(p, 0))
    st.put_resource(resource(), NOW)
    recs = [record(2, at=NOW - 5), record(3, at=NOW - 9), record(4, at=NOW - 1), record(5, at=NOW), record(6)]
    st.put_entries(RID, recs, NOW)
    got = st.live_records(RID, NOW)
    assert got == sort_for_resolve(recs, lambda p: weights.get(p, 0))
    assert [r.issuer for r in got][:2] == [pid(4), pid(3)] and got[-1].issuer == pid(5)
    # Served from the decode cache the second time, same answer.
    assert st.live_records(RID, NOW) == got


def test_digest_matches_core_and_covers_tombstones(store: Store) -> None:
    entries = [record(2, "a"), record(3, "b"), tombstone(4, "c"), record(5, "d", ttl_s=60)]
    store.put_entries(RID, entries, NOW)
    root, items = store.digest(RID, NOW)
    assert items == digest_items(entries)
    assert root == digest_root(digest_items(entries))
    later = NOW + 60_000
    root_later, items_later = store.digest(RID, later)
    assert items_later == digest_items(entries[:3])
    assert root_later == digest_root(items_later) != root


def test_entries_by_identity_digest(store: Store) -> None:
    entries = [record(2 + i, f"e{i}") for i in range(6)] + [tombstone(9, "t")]
    store.put_entries(RID, entries, NOW)
    wanted = [identity_digest(e.identity) for e in entries[::2]] + [bytes(16)]
    got = store.entries_by_identity_digest(RID, wanted, NOW)
    assert sorted(got) == sorted(e.encode() for e in entries[::2])
    assert [_ident(raw) for raw in got] == sorted(_ident(raw) for raw in got)


def test_many_identity_digests_at_once(make_store: StoreFactory) -> None:
    st = make_store(
        limits=Limits(
            max_records_per_resource=2000, max_records_per_issuer=2000, max_records_per_issuer_per_resource=2000
        )
    )
    st.put_resource(resource(), NOW)
    entries = [record(2, f"bulk-{i}") for i in range(1200)]
    assert all(r.ok for r in st.put_entries(RID, entries, NOW)[1])
    digests = [identity_digest(e.identity) for e in entries]
    assert len(st.entries_by_identity_digest(RID, iter(digests), NOW)) == 1200
