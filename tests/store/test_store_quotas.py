"""Per-resource, per-issuer and orphan-tombstone quotas (DESIGN §7), on every write path."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry_p2p.adapter.keys import make_verifier
from registry_p2p.core.errors import Status
from registry_p2p.core.limits import Limits
from registry_p2p.core.model import SignedRecord
from registry_p2p.store import Store
from tests.store.store_helpers import LOCAL, NOW, VERIFIER, StoreFactory, pid, record, resource, tombstone

RID = resource().id
FOUR = Limits(max_records_per_resource=4)


def _weights(table: dict[int, int]) -> dict[bytes, int]:
    return {pid(i): w for i, w in table.items()}


def _full_store(make_store: StoreFactory, weights: dict[int, int], limits: Limits = FOUR) -> Store:
    """Four records, issuers 2..5, host-signed at NOW+2..NOW+5 (issuer 2 is the oldest)."""
    table = _weights(weights)
    st = make_store(limits=limits, weight=lambda peer: table.get(peer, 0))
    st.put_resource(resource(), NOW)
    items = st.put_entries(RID, [record(i, signed_at=NOW + i) for i in range(2, 6)], NOW + 10)[1]
    assert all(r.ok for r in items)
    return st


def _issuers(st: Store, now: int = NOW + 10) -> set[int]:
    by_peer = {pid(i): i for i in range(20)}
    return {by_peer[r.issuer] for r in st.live_records(RID, now)}


def test_higher_weight_evicts_the_lowest(make_store: StoreFactory) -> None:
    st = _full_store(make_store, {2: 5, 3: 1, 4: 5, 5: 5, 6: 2})
    assert st.put_entries(RID, [record(6, signed_at=NOW)], NOW + 10)[1][0].ok
    assert _issuers(st) == {2, 4, 5, 6}


def test_equal_weight_and_newer_is_refused_the_incumbents_keep_their_place(make_store: StoreFactory) -> None:
    st = _full_store(make_store, {})
    result = st.put_entries(RID, [record(6, signed_at=NOW + 6)], NOW + 10)[1][0]
    assert result.status == Status.LIMIT_EXCEEDED
    assert _issuers(st) == {2, 3, 4, 5}


def test_lower_weight_is_refused(make_store: StoreFactory) -> None:
    st = _full_store(make_store, {2: 3, 3: 3, 4: 3, 5: 3, 6: 1})
    result = st.put_entries(RID, [record(6, signed_at=NOW + 9)], NOW + 10)[1][0]
    assert result.status == Status.LIMIT_EXCEEDED and "limit 4" in result.text
    assert _issuers(st) == {2, 3, 4, 5}


def test_equal_weight_and_older_is_refused(make_store: StoreFactory) -> None:
    st = _full_store(make_store, {})
    assert st.put_entries(RID, [record(6, signed_at=NOW + 1)], NOW + 10)[1][0].status == Status.LIMIT_EXCEEDED
    assert _issuers(st) == {2, 3, 4, 5}


def test_replacing_an_existing_identity_is_not_new(make_store: StoreFactory) -> None:
    st = _full_store(make_store, {2: -1})
    # Issuer 2 has the lowest weight and the oldest signature, yet may still update its own record.
    update = record(2, at=NOW + 1, value=b"updated")
    assert st.put_entries(RID, [update], NOW + 10)[1][0].ok
    assert _issuers(st) == {2, 3, 4, 5}


def test_the_limit_holds_within_a_batch(make_store: StoreFactory) -> None:
    st = make_store(limits=FOUR)
    st.put_resource(resource(), NOW)
    batch = [record(i, signed_at=NOW + 100 - i) for i in range(2, 12)]  # newest first: all but 4 refused
    items = st.put_entries(RID, batch, NOW + 100)[1]
    assert [r.status for r in items] == [Status.OK] * 4 + [Status.LIMIT_EXCEEDED] * 6
    assert len(st.live_records(RID, NOW + 100)) == 4
    batch = [record(i, "s2", signed_at=NOW + 100 + i) for i in range(12, 22)]  # newer, equal weight: refused
    items = st.put_entries(RID, batch, NOW + 100)[1]
    assert all(r.status == Status.LIMIT_EXCEEDED for r in items)
    assert _issuers(st, NOW + 100) == {2, 3, 4, 5}
    assert st.counts()["records"] == 4


def test_expired_rows_do_not_count(make_store: StoreFactory) -> None:
    st = make_store(limits=FOUR)
    st.put_resource(resource(), NOW)
    assert all(r.ok for r in st.put_entries(RID, [record(i, ttl_s=60) for i in range(2, 6)], NOW)[1])
    later = NOW + 60_000  # all four expired, none collected
    assert st.put_entries(RID, [record(6, at=later, signed_at=later)], later)[1][0].ok
    assert st.counts()["records"] == 5
    assert _issuers(st, later) == {6}


def test_host_records_of_the_local_peer_are_exempt(make_store: StoreFactory) -> None:
    st = _full_store(make_store, {6: 1})
    mine = [record(LOCAL, f"local-{i}") for i in range(6)]
    hosted_for_others = [record(7, f"hosted-{i}", host=LOCAL) for i in range(3)]
    assert all(r.ok for r in st.put_entries(RID, mine + hosted_for_others, NOW + 10)[1])
    assert len(st.live_records(RID, NOW + 10)) == 4 + 9
    # ...and they are never evicted to make room.
    assert st.put_entries(RID, [record(6, signed_at=NOW + 9)], NOW + 10)[1][0].ok
    assert _issuers(st) == {3, 4, 5, 6, LOCAL, 7}


def test_a_tombstone_frees_its_slot(make_store: StoreFactory) -> None:
    st = _full_store(make_store, {6: -5})
    assert st.put_entries(RID, [record(6)], NOW + 10)[1][0].status == Status.LIMIT_EXCEEDED
    assert st.put_entries(RID, [tombstone(3, at=NOW + 1), record(6)], NOW + 10)[1][1].ok


def test_per_issuer_quota(make_store: StoreFactory) -> None:
    st = make_store(limits=Limits(max_records_per_issuer=3))
    resources = [resource(1, f"r{i}") for i in range(3)]
    for res in resources:
        st.put_resource(res, NOW)
    assert st.put_entries(resources[0].id, [record(2, "a", res=resources[0])], NOW)[1][0].ok
    items = st.put_entries(resources[1].id, [record(2, s, res=resources[1]) for s in ("a", "b", "c")], NOW)[1]
    assert [r.status for r in items] == [Status.OK, Status.OK, Status.LIMIT_EXCEEDED]
    assert "issuer" in items[2].text
    # No eviction for this quota; updates of held identities and other issuers still pass.
    items = st.put_entries(resources[2].id, [record(2, "a", res=resources[2]), record(3, "a", res=resources[2])], NOW)[
        1
    ]
    assert [r.status for r in items] == [Status.LIMIT_EXCEEDED, Status.OK]
    assert st.put_entries(resources[1].id, [record(2, "a", res=resources[1], at=NOW + 1)], NOW + 1)[1][0].ok
    # A tombstone gives the issuer a slot back; its own host records never count.
    tomb = tombstone(2, "a", res=resources[0], at=NOW + 2)
    assert st.put_entries(resources[0].id, [tomb], NOW + 2)[1][0].ok
    assert st.put_entries(resources[2].id, [record(2, "a", res=resources[2])], NOW + 2)[1][0].ok


def test_orphan_tombstones_are_bounded(make_store: StoreFactory) -> None:
    st = make_store(limits=Limits(max_orphan_tombstones_per_resource=2))
    st.put_resource(resource(), NOW)
    st.put_entries(RID, [record(2, "held")], NOW)
    items = st.put_entries(RID, [tombstone(3, "x"), tombstone(4, "x"), tombstone(5, "x")], NOW)[1]
    assert [r.status for r in items] == [Status.OK, Status.OK, Status.LIMIT_EXCEEDED]
    # Deleting a held record, or renewing a stored tombstone, is not an orphan.
    items = st.put_entries(RID, [tombstone(2, "held", at=NOW + 1), tombstone(3, "x", at=NOW + 1)], NOW + 1)[1]
    assert all(r.ok for r in items)
    # Orphans past their lifetime no longer count.
    later = NOW + Limits().tombstone_lifetime_ms + 2
    assert st.put_entries(RID, [tombstone(5, "x", at=later)], later)[1][0].ok


def test_every_tombstone_counts_records_deleted_in_the_same_batch_included(make_store: StoreFactory) -> None:
    """attacks.md §6: a record put and deleted in one batch left an uncounted tombstone; 32 such
    requests put 70,000 of them into a resource and its digest outgrew a frame."""
    limits = Limits(max_tombstones_per_resource=6, max_orphan_tombstones_per_resource=4)
    st = make_store(limits=limits)
    st.put_resource(resource(), NOW)
    for round_ in range(5):
        at = NOW + round_ * 10
        batch = [record(2, f"r{round_}-{i}", at=at) for i in range(4)]
        batch += [tombstone(2, f"r{round_}-{i}", at=at + 1) for i in range(4)]
        st.put_entries(RID, batch, at + 1)
        assert st.counts()["tombstones"] <= 6
    assert st.counts()["tombstones"] == 6
    # The digest stays within the quota too.
    assert len(st.digest(RID, NOW + 100)[1]) <= 6 + st.counts()["records"]


def test_a_deletion_lands_on_a_full_resource_in_place_of_the_oldest_tombstone(make_store: StoreFactory) -> None:
    st = make_store(limits=Limits(max_tombstones_per_resource=2))
    st.put_resource(resource(), NOW)
    assert all(r.ok for r in st.put_entries(RID, [record(2, "a"), record(2, "b"), record(2, "c")], NOW)[1])
    assert all(
        r.ok for r in st.put_entries(RID, [tombstone(2, "a", at=NOW + 1), tombstone(2, "b", at=NOW + 2)], NOW + 2)[1]
    )
    # Full: the honest unregister of "c" still lands, and the oldest tombstone ("a") makes room.
    assert st.put_entries(RID, [tombstone(2, "c", at=NOW + 3)], NOW + 3)[1][0].ok
    assert st.counts()["tombstones"] == 2
    assert st.live_records(RID, NOW + 3) == []
    # A tombstone older than every one held is refused rather than pushing a newer one out.
    refused = st.put_entries(RID, [tombstone(3, "z", at=NOW)], NOW + 3)[1][0]
    assert refused.status == Status.LIMIT_EXCEEDED


def test_resources_are_bounded_per_owner_and_in_total_on_every_path(make_store: StoreFactory) -> None:
    """attacks.md §1: one owner put 20,000 resources into one node, with no cap at all."""
    st = make_store(limits=Limits(max_resources_per_owner=3, max_resources_total=5))
    mine = [resource(1, f"r{i}") for i in range(4)]
    assert [st.put_resource(r, NOW).status for r in mine] == [Status.OK] * 3 + [Status.LIMIT_EXCEEDED]
    # A newer version of a stored resource is no new resource.
    assert st.put_resource(resource(1, "r0", at=NOW + 1), NOW + 1).ok
    # A resource sent along with entries counts the same.
    whole, _ = st.put_entries(mine[3].id, [record(2, res=mine[3])], NOW, resource=mine[3])
    assert whole.status == Status.LIMIT_EXCEEDED
    others = [resource(owner, "x") for owner in (2, 3, 4)]
    assert [st.put_resource(r, NOW).status for r in others] == [Status.OK, Status.OK, Status.LIMIT_EXCEEDED]
    assert st.counts()["resources"] == 5


def test_reweigh_changes_who_is_evicted(make_store: StoreFactory) -> None:
    table: dict[bytes, int] = {}
    st = make_store(limits=FOUR, weight=lambda peer: table.get(peer, 0))
    st.put_resource(resource(), NOW)
    st.put_entries(RID, [record(i, signed_at=NOW + i) for i in range(2, 6)], NOW + 10)
    table.update(_weights({2: 9, 3: 9, 4: 9, 5: 1, 6: 5}))
    assert st.reweigh() == 4
    assert st.put_entries(RID, [record(6)], NOW + 10)[1][0].ok
    assert _issuers(st) == {2, 3, 4, 6}


_POOL: list[SignedRecord] = []


def _pool() -> list[SignedRecord]:
    if not _POOL:
        _POOL.extend(record(2 + i % 6, f"s{i % 3}", at=NOW + i % 4, signed_at=NOW + i) for i in range(36))
    return _POOL


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(st.lists(st.integers(0, 35), min_size=1, max_size=12), min_size=1, max_size=6),
    weights=st.lists(st.integers(0, 2), min_size=6, max_size=6),
)
def test_quotas_hold_for_any_sequence_of_batches(batches: list[list[int]], weights: list[int]) -> None:
    table = _weights({2 + i: w for i, w in enumerate(weights)})
    limits = Limits(max_records_per_resource=3, max_records_per_issuer=2)
    with Store(local_peer=pid(LOCAL), limits=limits, verifier=VERIFIER, weight=lambda p: table.get(p, 0)) as s:
        s.put_resource(resource(), NOW)
        for batch in batches:
            s.put_entries(RID, [_pool()[i] for i in batch], NOW + 100)
            live = s.live_records(RID, NOW + 100)
            assert len(live) <= 3
            per_issuer: dict[bytes, int] = {}
            for rec in live:
                per_issuer[rec.issuer] = per_issuer.get(rec.issuer, 0) + 1
            assert max(per_issuer.values(), default=0) <= 2


def test_a_batch_applies_its_tombstones_before_its_records(make_store: StoreFactory) -> None:
    """A replica back from an outage pulls the tombstones of some old records and new records in
    one batch (in identity order, records may come first): the tombstones free the places, so the
    new records never evict live records for room the batch itself frees."""
    st = _full_store(make_store, {})  # issuers 2..5, 2 the oldest
    news = [record(i, signed_at=NOW + i) for i in (6, 7)]
    gone = [tombstone(i, at=NOW + 1) for i in (4, 5)]
    batch = [entry for pair in zip(news, gone, strict=True) for entry in pair]  # records first
    _, results = st.put_entries(RID, batch, NOW + 10)
    assert all(r.ok for r in results), results
    assert _issuers(st) == {2, 3, 6, 7}


def test_records_hosted_for_other_issuers_are_bounded_per_issuer_and_in_total(make_store: StoreFactory) -> None:
    """attacks.md §5: with an open host policy one issuer had 3,000 records countersigned and kept."""
    limits = Limits(max_hosted_per_remote_issuer=3, max_hosted_for_others=5)
    st = make_store(limits=limits)
    st.put_resource(resource(), NOW)
    first = [record(7, f"for-7-{i}", host=LOCAL) for i in range(4)]
    statuses = [r.status for r in st.put_entries(RID, first, NOW + 10)[1]]
    assert statuses == [Status.OK] * 3 + [Status.LIMIT_EXCEEDED], "3 per remote issuer, counted within a batch"
    # Re-signing a record already hosted (renewal) is no new place.
    assert st.put_entries(RID, [record(7, "for-7-0", host=LOCAL, signed_at=NOW + 5)], NOW + 10)[1][0].ok
    second = [record(8, f"for-8-{i}", host=LOCAL) for i in range(3)]
    statuses = [r.status for r in st.put_entries(RID, second, NOW + 10)[1]]
    assert statuses == [Status.OK, Status.OK, Status.LIMIT_EXCEEDED], "5 for all other issuers together"
    # The node's own services are not hosting for others: never refused by these quotas.
    mine = [record(LOCAL, f"mine-{i}") for i in range(10)]
    assert all(r.ok for r in st.put_entries(RID, mine, NOW + 10)[1])
    # An unregistered hosted record frees its place.
    assert st.put_entries(RID, [tombstone(7, "for-7-1", host=LOCAL, at=NOW + 6)], NOW + 10)[1][0].ok
    assert st.put_entries(RID, [record(9, "for-9", host=LOCAL)], NOW + 10)[1][0].ok


def _forged(rec: SignedRecord) -> SignedRecord:
    """`rec` with its host signature broken (its fields all decode and check but for that)."""
    broken = bytes([rec.host_signature[0] ^ 1]) + rec.host_signature[1:]
    return replace(rec, host_signature=broken)


def test_a_full_resource_refuses_newcomers_before_checking_their_signatures(make_store: StoreFactory) -> None:
    """Attack (1) of issue 11: a flood of fresh identities at a full resource. What would be
    refused anyway is refused on its decoded fields, so the flood costs the node a decode per
    record instead of a verification; what could be stored is verified first."""
    verifier = make_verifier()
    st = make_store(limits=FOUR, verifier=verifier)
    st.put_resource(resource(), NOW)
    assert all(r.ok for r in st.put_entries(RID, [record(i, signed_at=NOW + i) for i in range(2, 6)], NOW + 10)[1])
    before = verifier.verifications
    flood = [record(i, signed_at=NOW + 9) for i in range(6, 16)] + [_forged(record(16, signed_at=NOW + 9))]
    items = st.put_entries(RID, flood, NOW + 10)[1]
    assert {r.status for r in items} == {Status.LIMIT_EXCEEDED}
    assert verifier.verifications == before  # not one signature checked for the refused
    assert _issuers(st) == {2, 3, 4, 5}
    # Where there is room, a forged newcomer is checked and refused, and nothing of it is stored.
    roomy = make_store(limits=FOUR, verifier=verifier)
    roomy.put_resource(resource(), NOW)
    forged = _forged(record(6))
    assert roomy.put_entries(RID, [forged], NOW)[1][0].status == Status.INVALID_SIGNATURE
    assert roomy.live_records(RID, NOW) == []
    # So is a forged update of a stored record; a forged copy of it is refused one way or the other.
    honest = record(7)
    assert roomy.put_entries(RID, [honest], NOW)[1][0].ok
    assert roomy.put_entries(RID, [_forged(record(7, at=NOW + 1))], NOW + 1)[1][0].status == Status.INVALID_SIGNATURE
    copy = roomy.put_entries(RID, [_forged(honest)], NOW + 1)[1][0]
    assert copy.status in (Status.INVALID_SIGNATURE, Status.SUPERSEDED)
    assert [r.encode() for r in roomy.live_records(RID, NOW + 1)] == [honest.encode()]


def _rows(s: Store) -> list[tuple[bytes, str, bytes]]:
    return sorted((r.issuer, r.service_id, r.encode()) for r in s.live_records(RID, NOW + 100))


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(st.lists(st.integers(0, 35), min_size=1, max_size=12), min_size=1, max_size=6),
    weights=st.lists(st.integers(0, 2), min_size=6, max_size=6),
)
def test_a_batch_as_bytes_is_answered_and_stored_as_its_decoded_entries(
    batches: list[list[int]], weights: list[int]
) -> None:
    """Bytes from the wire may be refused at a full resource from their identities alone
    (`Store._refused_by_a_full_resource`); entries given decoded are always decoded and checked in
    full. Both must answer and store the same for any sequence of valid batches."""
    table = _weights({2 + i: w for i, w in enumerate(weights)})
    limits = Limits(max_records_per_resource=3)
    stores = [
        Store(local_peer=pid(LOCAL), limits=limits, verifier=VERIFIER, weight=lambda p: table.get(p, 0))
        for _ in range(2)
    ]
    wire, decoded = stores
    try:
        for s in stores:
            s.put_resource(resource(), NOW)
        for batch in batches:
            entries = [_pool()[i] for i in batch]
            from_wire = wire.put_entries(RID, [e.encode() for e in entries], NOW + 100)[1]
            as_given = decoded.put_entries(RID, entries, NOW + 100)[1]
            assert [(r.status, r.text) for r in from_wire] == [(r.status, r.text) for r in as_given]
            assert _rows(wire) == _rows(decoded)
    finally:
        for s in stores:
            s.close()


def test_a_flood_at_a_full_resource_costs_a_parse_per_record_not_a_decode(
    make_store: StoreFactory, monkeypatch: Any
) -> None:
    """Attack (1) of issue 11: newcomers a full open resource refuses are never decoded; a batch
    that could free a place (a tombstone in it) or a record of a held identity is decoded in full."""
    from registry_p2p.store import sqlite

    st = _full_store(make_store, {})  # issuers 2..5, full
    decoded: list[bytes] = []
    real = sqlite.decode_entry

    def counting(data: bytes, limits: Limits) -> Any:
        decoded.append(data)
        return real(data, limits)

    monkeypatch.setattr(sqlite, "decode_entry", counting)
    flood = [record(i, signed_at=NOW + 9).encode() for i in range(6, 16)]
    items = st.put_entries(RID, flood, NOW + 10)[1]
    assert {r.status for r in items} == {Status.LIMIT_EXCEEDED}
    assert decoded == []
    renewal = record(3, signed_at=NOW + 11).encode()  # a held identity: precedence decides
    assert [r.ok for r in st.put_entries(RID, [*flood[:2], renewal], NOW + 10)[1]] == [False, False, True]
    assert decoded == [renewal]
    # A tombstone frees a place: the whole batch is decoded, and the newcomer takes the place.
    freeing = [flood[0], tombstone(4, at=NOW + 1).encode()]
    assert [r.ok for r in st.put_entries(RID, freeing, NOW + 10)[1]] == [True, True]
    assert _issuers(st) == {2, 3, 5, 6}
