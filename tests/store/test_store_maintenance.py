"""gc, renewal and the metrics counters."""

from __future__ import annotations

from registry_p2p.core.build import renew
from registry_p2p.core.limits import DEFAULT_LIMITS, Limits
from registry_p2p.store import GcResult, Store
from tests.store.store_helpers import LOCAL, NOW, StoreFactory, key, record, resource, tombstone

RID = resource().id
TTL_MS = DEFAULT_LIMITS.resource_ttl_s * 1000


def test_empty_resource_is_collected_exactly_at_its_ttl(make_store: StoreFactory) -> None:
    st = make_store()
    st.put_resource(resource(), NOW)
    assert st.gc(NOW + TTL_MS - 1) == GcResult(0, 0, 0)
    assert st.resource_ids() == [RID]
    assert st.gc(NOW + TTL_MS) == GcResult(0, 0, 1)
    assert st.resource_ids() == []
    assert st.counts() == {"resources": 0, "records": 0, "tombstones": 0, "grants": 0}


def test_a_resource_lives_while_it_has_live_entries(make_store: StoreFactory) -> None:
    st = make_store()
    st.put_resource(resource(), NOW)
    late = NOW + TTL_MS - 1000
    rec = record(2, at=late, ttl_s=3600)
    assert st.put_entries(RID, [rec], late)[1][0].ok
    assert st.gc(NOW + TTL_MS) == GcResult(0, 0, 0)
    assert st.gc(rec.expires_at_ms) == GcResult(1, 0, 1)
    assert st.get_resource(RID) is None


def test_a_live_tombstone_keeps_its_resource(make_store: StoreFactory) -> None:
    st = make_store()
    st.put_resource(resource(), NOW)
    tomb = tombstone(2, at=NOW)
    st.put_entries(RID, [tomb], NOW)
    assert st.gc(NOW + TTL_MS).resources == 0
    end = NOW + DEFAULT_LIMITS.tombstone_lifetime_ms
    assert st.gc(end - 1) == GcResult(0, 0, 0)
    assert st.gc(end) == GcResult(0, 1, 1)


def test_expired_records_and_old_tombstones_are_collected(store: Store) -> None:
    short = [record(2, "a", ttl_s=60), record(3, "b", ttl_s=120)]
    tombs = [tombstone(4, "c", at=NOW), tombstone(5, "d", at=NOW + 1)]
    long = record(6, "e", ttl_s=DEFAULT_LIMITS.max_ttl_s)
    assert all(r.ok for r in store.put_entries(RID, [*short, *tombs, long], NOW + 1)[1])
    assert store.gc(NOW + 60_000) == GcResult(1, 0, 0)
    assert store.gc(NOW + 120_000) == GcResult(1, 0, 0)
    lifetime = DEFAULT_LIMITS.tombstone_lifetime_ms
    assert store.gc(NOW + lifetime) == GcResult(1, 1, 0)  # the long record expires with the first tombstone
    assert store.counts() == {"resources": 1, "records": 0, "tombstones": 1, "grants": 0}
    # The last tombstone was all that kept the (long past its TTL) resource.
    assert store.gc(NOW + lifetime + 1) == GcResult(0, 1, 1)
    assert store.counts() == {"resources": 0, "records": 0, "tombstones": 0, "grants": 0}


def test_gc_keeps_live_host_records(store: Store) -> None:
    mine = record(LOCAL, "mine", ttl_s=120)
    store.put_entries(RID, [mine], NOW)
    assert store.gc(NOW + 119_999) == GcResult(0, 0, 0)
    assert store.live_records(RID, NOW + 119_999) == [mine]


def test_renewal_is_due_at_half_the_ttl_not_before(store: Store) -> None:
    mine = record(LOCAL, "mine", ttl_s=120, signed_at=NOW + 7)
    hosted = record(3, "hosted", ttl_s=3600, host=LOCAL)
    others = record(2, "theirs", ttl_s=120)
    assert all(r.ok for r in store.put_entries(RID, [mine, hosted, others], NOW + 7)[1])
    half = NOW + 7 + 60_000
    assert store.due_for_renewal(half - 1) == []
    assert store.due_for_renewal(half) == [mine]
    assert store.due_for_renewal(NOW + 100_000) == [mine]
    assert store.due_for_renewal(NOW + 1_800_000) == [hosted]  # mine has expired by then
    # Renewed: not due again until half of the new TTL.
    fresh = renew(key(LOCAL), mine, half)
    assert store.put_entries(RID, [fresh], half)[1][0].ok
    assert store.due_for_renewal(half) == []
    assert store.due_for_renewal(half + 60_000) == [fresh]
    # An expired one is beyond renewal.
    assert store.due_for_renewal(fresh.expires_at_ms) == []


def test_tombstoned_host_record_is_not_renewed(store: Store) -> None:
    mine = record(LOCAL, "mine", ttl_s=120)
    store.put_entries(RID, [mine, tombstone(LOCAL, "mine", at=NOW + 1)], NOW + 1)
    assert store.due_for_renewal(NOW + 100_000) == []


def test_counts(make_store: StoreFactory) -> None:
    st = make_store(limits=Limits())
    st.put_resource(resource(), NOW)
    st.put_resource(resource(1, "other"), NOW)
    st.put_entries(RID, [record(2, "a"), record(3, "b"), tombstone(4, "c")], NOW)
    assert st.counts() == {"resources": 2, "records": 2, "tombstones": 1, "grants": 0}


def test_reweigh_updates_the_stored_weights(make_store: StoreFactory) -> None:
    table: dict[bytes, int] = {}
    st = make_store(weight=lambda peer: table.get(peer, 0))
    st.put_resource(resource(), NOW)
    st.put_entries(RID, [record(2, "a"), record(2, "b"), record(3, "c")], NOW)
    assert st.reweigh() == 0
    table[record(2).issuer] = 7
    assert st.reweigh() == 2
    assert st.reweigh() == 0
