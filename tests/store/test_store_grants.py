"""Owner-approved resources in the store: grants as entries, NOT_AUTHORIZED for strangers,
revocations and policy switches dropping what they no longer authorize."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from libp2p.crypto.ed25519 import create_new_key_pair

from registry_p2p.core.build import make_record
from registry_p2p.core.errors import Status
from registry_p2p.core.grants import grant_allows
from registry_p2p.core.limits import Limits
from registry_p2p.core.model import SignedGrant, decode_entry
from registry_p2p.core.precedence import wins
from registry_p2p.store import Store
from tests.store.store_helpers import (
    NOW,
    StoreFactory,
    approved_resource,
    grant,
    pid,
    record,
    resource,
    tombstone,
)

RES = approved_resource()
RID = RES.id
LATER = NOW + 10


def _store(make_store: StoreFactory, limits: Limits | None = None) -> Store:
    st = make_store(limits=limits) if limits is not None else make_store()
    assert st.put_resource(RES, NOW).ok
    return st


def _statuses(st: Store, items: list[object], now: int = LATER) -> list[Status]:
    whole, results = st.put_entries(RID, items, now)  # type: ignore[arg-type]
    assert whole.ok, whole
    return [r.status for r in results]


def _issuers(st: Store, now: int = LATER) -> set[bytes]:
    return {r.issuer for r in st.live_records(RID, now)}


def test_policy_round_trips_and_default_is_open() -> None:
    assert RES.owner_approved and RES.policy == "owner-approved"
    assert resource().policy == "open"
    # Open resources keep the bytes they had before the field existed: the default is not encoded.
    assert b"\x20" not in resource().body[-2:]


def test_stranger_refused_owner_and_grantee_accepted(make_store: StoreFactory) -> None:
    st = _store(make_store)
    assert _statuses(st, [record(3, res=RES)]) == [Status.NOT_AUTHORIZED]
    assert _statuses(st, [tombstone(3, res=RES)]) == [Status.NOT_AUTHORIZED]
    assert _statuses(st, [record(1, res=RES)]) == [Status.OK]
    assert _statuses(st, [grant(2), record(2, res=RES)]) == [Status.OK, Status.OK]
    assert _issuers(st) == {pid(1), pid(2)}
    assert st.counts()["grants"] == 1


def test_grant_and_record_in_one_batch_in_any_order(make_store: StoreFactory) -> None:
    st = _store(make_store)
    # Anti-entropy pushes in identity-digest order: the grant is applied first whatever its place.
    assert _statuses(st, [record(2, res=RES), grant(2)]) == [Status.OK, Status.OK]


def test_service_prefix(make_store: StoreFactory) -> None:
    st = _store(make_store)
    statuses = _statuses(st, [grant(2, prefix="web/"), record(2, "web/a", res=RES), record(2, "db/a", res=RES)])
    assert statuses == [Status.OK, Status.OK, Status.NOT_AUTHORIZED]


def test_bad_grants_refused_nothing_stored(make_store: StoreFactory) -> None:
    st = _store(make_store)
    other = approved_resource(label="other")
    statuses = _statuses(
        st,
        [
            grant(2, signer=3),  # signed by a non-owner
            grant(2, at=LATER + 3_600_000),  # from the future
            grant(2, expires_at=NOW),  # expired
            grant(1),  # the owner needs none
        ],
    )
    assert statuses == [Status.INVALID_SIGNATURE, Status.FROM_FUTURE, Status.EXPIRED, Status.MALFORMED]
    # For another resource: refused as a forgery.
    assert _statuses(st, [grant(2, res=other)]) == [Status.INVALID_SIGNATURE]
    forged = grant(2)
    tampered = SignedGrant(**{**{f: getattr(forged, f) for f in SignedGrant.__slots__}, "signature": b"\x00" * 64})
    assert _statuses(st, [tampered]) == [Status.INVALID_SIGNATURE]
    assert st.counts()["grants"] == 0
    assert _statuses(st, [record(2, res=RES)]) == [Status.NOT_AUTHORIZED]


def test_oversized_grant_list_refused_whole(make_store: StoreFactory) -> None:
    st = _store(make_store, Limits(max_grants_per_resource=3))
    whole, results = st.put_entries(RID, [grant(i) for i in range(2, 7)], LATER)
    assert whole.status == Status.TOO_LARGE and all(r.status == Status.TOO_LARGE for r in results)
    assert st.counts()["grants"] == 0
    # Within a request's bound, the resource's bound still holds per grant.
    assert _statuses(st, [grant(i) for i in range(2, 5)]) == [Status.OK] * 3
    assert _statuses(st, [grant(5)]) == [Status.LIMIT_EXCEEDED]


def test_revocation_drops_the_grantees_records_and_wins(make_store: StoreFactory) -> None:
    st = _store(make_store)
    assert _statuses(st, [grant(2), grant(3), record(2, res=RES), record(3, res=RES)]) == [Status.OK] * 4
    assert _statuses(st, [grant(2, at=NOW + 1, revoked=True)]) == [Status.OK]
    assert _issuers(st) == {pid(3)}
    # Replays: the revoked grant, and the grantee's record, change nothing.
    assert _statuses(st, [grant(2), record(2, res=RES)]) == [Status.SUPERSEDED, Status.NOT_AUTHORIZED]
    assert _issuers(st) == {pid(3)}
    # A revocation of the same instant wins over the grant (the one precedence rule).
    assert _statuses(st, [grant(3, revoked=True)]) == [Status.OK]
    assert _issuers(st) == set()
    # The revoked grantee may still unregister; a newer grant lets it back.
    assert (
        _statuses(st, [tombstone(2, res=RES), grant(2, at=NOW + 2), record(2, res=RES, at=NOW + 2)]) == [Status.OK] * 3
    )
    assert _issuers(st) == {pid(2)}


def test_narrowed_grant_drops_what_it_no_longer_covers(make_store: StoreFactory) -> None:
    st = _store(make_store)
    assert _statuses(st, [grant(2), record(2, "web/a", res=RES), record(2, "db/a", res=RES)]) == [Status.OK] * 3
    assert _statuses(st, [grant(2, at=NOW + 1, prefix="web/")]) == [Status.OK]
    assert {r.service_id for r in st.live_records(RID, LATER)} == {"web/a"}


def test_expired_grant_stops_writes_and_its_records_go(make_store: StoreFactory) -> None:
    st = _store(make_store)
    assert _statuses(st, [grant(2, expires_at=NOW + 60_000), record(2, res=RES)]) == [Status.OK, Status.OK]
    after = NOW + 61_000
    assert _statuses(st, [record(2, res=RES, at=after)], now=after) == [Status.NOT_AUTHORIZED]
    assert st.live_records(RID, after) == []
    gc = st.gc(after)
    assert (gc.grants, gc.unauthorized) == (1, 1)
    assert st.counts()["records"] == 0


def test_switch_to_owner_approved_drops_squatters(make_store: StoreFactory) -> None:
    st = make_store()
    open_version = resource(label="fleet")
    assert open_version.id == RID
    assert st.put_resource(open_version, NOW - 1).ok
    assert all(r.ok for r in st.put_entries(RID, [record(i, res=RES) for i in range(2, 6)], LATER)[1])
    assert all(r.ok for r in st.put_entries(RID, [grant(2)], LATER)[1])
    kept = len(st.digest(RID, LATER)[1])  # 4 records and the grant, kept for the next digest
    assert st.put_resource(RES, LATER).ok
    assert _issuers(st) == {pid(2)}
    assert len(st.digest(RID, LATER)[1]) == kept - 3  # dropped without an entry written: not kept
    # Replaying the older, open version changes nothing.
    assert st.put_resource(open_version, LATER).status == Status.SUPERSEDED
    assert _statuses(st, [record(3, res=RES)]) == [Status.NOT_AUTHORIZED]


def test_grants_are_paginated_and_in_digests(make_store: StoreFactory) -> None:
    st = _store(make_store)
    _statuses(st, [grant(i) for i in range(2, 12)])
    seen: list[bytes] = []
    cursor = b""
    while True:
        page, cursor = st.get_entries(RID, LATER, limit=3, cursor=cursor)
        seen.extend(page)
        if not cursor:
            break
    assert len(seen) == 10 and all(isinstance(decode_entry(raw, Limits()), SignedGrant) for raw in seen)
    assert len(st.digest(RID, LATER)[1]) == 10


def test_flood_of_fresh_identities_stores_none(make_store: StoreFactory) -> None:
    st = _store(make_store)
    assert _statuses(st, [grant(2), record(2, res=RES)]) == [Status.OK, Status.OK]
    flood = [
        make_record(create_new_key_pair((1000 + i).to_bytes(32, "big")).private_key, RID, "svc", b"x", NOW)
        for i in range(300)
    ]
    assert set(_statuses(st, flood)) == {Status.NOT_AUTHORIZED}
    assert _issuers(st) == {pid(2)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.permutations(list(range(4))), st.integers(0, 3))
def test_any_delivery_order_ends_in_the_same_state(make_store: StoreFactory, order: list[int], split: int) -> None:
    """Grant, revocation, newer grant and a record, in any order and batching: one final state."""
    items = [grant(2), grant(2, at=NOW + 5, revoked=True), grant(2, at=NOW + 9, prefix="a"), record(2, "a1", res=RES)]
    st = _store(make_store)
    sequence = [items[i] for i in order]
    for chunk in (sequence[:split], sequence[split:]):
        if chunk:
            st.put_entries(RID, chunk, LATER)
    grants = st.grants(RID, LATER)
    assert [g.issued_at_ms for g in grants] == [NOW + 9]
    # A model: the record is accepted when the winning grant allows it, and dropped when the
    # winning grant stops allowing it while held. Within a batch grants are applied first.
    winner: SignedGrant | None = None
    held = False
    for chunk in (sequence[:split], sequence[split:]):
        for item in sorted(chunk, key=lambda e: not isinstance(e, SignedGrant)):
            if isinstance(item, SignedGrant):
                if winner is None or wins(item, winner):
                    winner = item
                    held = held and grant_allows(winner, "a1", LATER)
            else:
                held = grant_allows(winner, "a1", LATER)
    assert [r.service_id for r in st.live_records(RID, LATER)] == (["a1"] if held else [])
