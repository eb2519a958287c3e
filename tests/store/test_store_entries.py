"""Writing records and tombstones: validation, precedence, batches."""

from __future__ import annotations

from registry_p2p.core.errors import Status
from registry_p2p.core.limits import DEFAULT_LIMITS, Limits
from registry_p2p.core.model import SignedRecord
from registry_p2p.pb import registry_pb2 as pb
from registry_p2p.store import Store
from tests.store.store_helpers import LOCAL, NOW, VERIFIER, StoreFactory, pid, record, resource, tombstone

RID = resource().id


def _entries(st: Store, now: int = NOW, tombstones: bool = False) -> list[bytes]:
    out, cursor = st.get_entries(RID, now, include_tombstones=tombstones)
    assert cursor == b""
    return out


def test_record_round_trip_keeps_every_field(store: Store) -> None:
    addrs = (b"\x04\x7f\x00\x00\x01\x06\x10\x01", b"\x04\x0a\x00\x00\x02\x06\x10\x02")
    self_hosted = record(2, "echo", value=b"\x00\xffpayload", ttl_s=3600, addrs=addrs)
    remote = record(3, "echo", value=b"v2", ttl_s=600, addrs=addrs[:1], host=4)
    whole, items = store.put_entries(RID, [self_hosted, remote], NOW)
    assert whole.ok and [r.status for r in items] == [Status.OK, Status.OK]
    got = {r.identity: r for r in store.live_records(RID, NOW)}
    assert got[self_hosted.identity] == self_hosted
    assert got[remote.identity] == remote
    assert got[remote.identity].issuer_signature and not got[self_hosted.identity].issuer_signature
    assert sorted(_entries(store)) == sorted([self_hosted.encode(), remote.encode()])


def test_only_the_canonical_encoding_is_stored(store: Store) -> None:
    rec = record(2)
    # An unknown field outside the signed parts would let any relay make a longer copy of the same
    # signed content: refused, and the canonical encoding is what is stored, byte for byte.
    raw = rec.encode() + b"\xf8\x01\x07"
    assert store.put_entries(RID, [raw], NOW)[1][0].status == Status.MALFORMED
    assert _entries(store) == []
    assert store.put_entries(RID, [rec.encode()], NOW)[1][0].ok
    assert _entries(store) == [rec.encode()]
    assert store.put_entries(RID, [raw], NOW)[1][0].status == Status.MALFORMED
    assert _entries(store) == [rec.encode()]


def test_unknown_resource(make_store: StoreFactory) -> None:
    st = make_store()
    whole, items = st.put_entries(RID, [record(2), record(3)], NOW)
    assert whole.status == Status.UNKNOWN_RESOURCE
    assert [r.status for r in items] == [Status.UNKNOWN_RESOURCE] * 2
    assert st.counts() == {"resources": 0, "records": 0, "tombstones": 0, "grants": 0}


def test_resource_sent_along_is_stored_first(make_store: StoreFactory) -> None:
    st = make_store()
    whole, items = st.put_entries(RID, [record(2)], NOW, resource=resource())
    assert whole.ok and items[0].ok
    assert st.get_resource(RID) == resource()
    # An older copy sent along does not replace the stored one and does not stop the batch.
    assert st.put_resource(resource(1, "echo", NOW + 10), NOW + 10).ok
    whole, items = st.put_entries(RID, [record(3)], NOW + 10, resource=resource())
    assert whole.ok and items[0].ok
    assert st.get_resource(RID) == resource(1, "echo", NOW + 10)


def test_resource_sent_along_must_match_and_be_valid(make_store: StoreFactory) -> None:
    st = make_store()
    other = resource(1, "other")
    whole, items = st.put_entries(RID, [record(2)], NOW, resource=other)
    assert whole.status == Status.MALFORMED and items[0].status == Status.MALFORMED
    future = resource(1, "echo", NOW + 120_000)
    whole, items = st.put_entries(future.id, [record(2, res=future)], NOW, resource=future)
    assert whole.status == Status.FROM_FUTURE
    assert st.resource_ids() == []


def test_older_issued_at_is_superseded_and_newer_replaces(store: Store) -> None:
    old, new = record(2, at=NOW - 1000), record(2, at=NOW)
    assert store.put_entries(RID, [new], NOW)[1][0].ok
    result = store.put_entries(RID, [old], NOW)[1][0]
    assert result.status == Status.SUPERSEDED and "precedence" in result.text
    assert _entries(store) == [new.encode()]
    newer = record(2, at=NOW + 1)
    assert store.put_entries(RID, [newer], NOW + 1)[1][0].ok
    assert _entries(store, NOW + 1) == [newer.encode()]


def test_identical_entry_is_idempotent(store: Store) -> None:
    rec = record(2)
    for _ in range(3):
        _whole, items = store.put_entries(RID, [rec, rec], NOW)
        assert [r.status for r in items] == [Status.OK, Status.OK]
    assert store.counts()["records"] == 1


def test_renewal_replaces_same_issued_at(store: Store) -> None:
    rec = record(2, at=NOW)
    renewed = record(2, at=NOW, signed_at=NOW + 5000)
    assert store.put_entries(RID, [rec], NOW)[1][0].ok
    assert store.put_entries(RID, [renewed], NOW + 5000)[1][0].ok
    assert store.put_entries(RID, [rec], NOW + 5000)[1][0].status == Status.SUPERSEDED
    assert store.live_records(RID, NOW + 5000) == [renewed]


def test_full_tie_is_broken_by_signature_in_any_order(make_store: StoreFactory) -> None:
    # Same issued_at and host_signed_at, different host bodies (addrs): only the signatures differ.
    a = record(2, addrs=(b"\x04\x7f\x00\x00\x01",))
    b = record(2, addrs=(b"\x04\x7f\x00\x00\x02",))
    assert a.precedence_key[:3] == b.precedence_key[:3] and a.host_signature != b.host_signature
    winner = a if a.precedence_key > b.precedence_key else b
    for order in ((a, b), (b, a)):
        st = make_store()
        st.put_resource(resource(), NOW)
        first, second = order
        assert st.put_entries(RID, [first], NOW)[1][0].ok
        assert st.put_entries(RID, [second], NOW)[1][0].status == (Status.OK if second is winner else Status.SUPERSEDED)
        assert st.live_records(RID, NOW) == [winner]


def test_from_future_beyond_skew(store: Store) -> None:
    skew = DEFAULT_LIMITS.max_clock_skew_ms
    items = store.put_entries(
        RID, [record(2, at=NOW + skew + 1), record(3, at=NOW + skew), tombstone(4, at=NOW + skew + 1)], NOW
    )[1]
    assert [r.status for r in items] == [Status.FROM_FUTURE, Status.OK, Status.FROM_FUTURE]
    assert "future" in items[0].text


def test_expired_record_is_refused(store: Store) -> None:
    rec = record(2, ttl_s=60)
    assert store.put_entries(RID, [rec], NOW + 60_000)[1][0].status == Status.EXPIRED
    assert store.counts()["records"] == 0


def test_tombstone_with_newer_issued_at_hides_the_record(store: Store) -> None:
    rec, tomb = record(2, at=NOW), tombstone(2, at=NOW + 1)
    assert store.put_entries(RID, [rec], NOW)[1][0].ok
    assert store.put_entries(RID, [tomb], NOW + 1)[1][0].ok
    assert _entries(store, NOW + 1) == []
    assert _entries(store, NOW + 1, tombstones=True) == [tomb.encode()]
    assert store.live_records(RID, NOW + 1) == []
    assert store.counts() == {"resources": 1, "records": 0, "tombstones": 1, "grants": 0}
    # The record arriving again (replication, replay) stays deleted.
    assert store.put_entries(RID, [rec], NOW + 2)[1][0].status == Status.SUPERSEDED


def test_tombstone_beats_record_with_equal_issued_at(store: Store) -> None:
    rec, tomb = record(2, at=NOW), tombstone(2, at=NOW)
    assert store.put_entries(RID, [tomb, rec], NOW)[1][1].status == Status.SUPERSEDED
    assert _entries(store, tombstones=True) == [tomb.encode()]


def test_older_tombstone_does_not_delete(store: Store) -> None:
    rec, tomb = record(2, at=NOW), tombstone(2, at=NOW - 1)
    assert store.put_entries(RID, [rec], NOW)[1][0].ok
    assert store.put_entries(RID, [tomb], NOW)[1][0].status == Status.SUPERSEDED
    assert _entries(store) == [rec.encode()]


def test_later_record_replaces_the_tombstone(store: Store) -> None:
    tomb, rec = tombstone(2, at=NOW), record(2, at=NOW + 10)
    assert store.put_entries(RID, [record(2, at=NOW - 10), tomb], NOW)[1][1].ok
    assert store.put_entries(RID, [rec], NOW + 10)[1][0].ok
    assert _entries(store, NOW + 10, tombstones=True) == [rec.encode()]
    assert store.counts() == {"resources": 1, "records": 1, "tombstones": 0, "grants": 0}


def test_replayed_older_issued_at_is_superseded(store: Store) -> None:
    v1, v2, tomb = record(2, at=NOW - 2000), record(2, at=NOW - 1000), tombstone(2, at=NOW)
    assert all(r.ok for r in store.put_entries(RID, [v1, v2, tomb], NOW)[1])
    for stale in (v1, v2, tombstone(2, at=NOW - 1)):
        assert store.put_entries(RID, [stale], NOW)[1][0].status == Status.SUPERSEDED
    assert _entries(store, tombstones=True) == [tomb.encode()]


def test_dead_row_never_blocks_a_newcomer(store: Store) -> None:
    # A stored record with a higher issued_at that has expired (not yet collected) is as good as
    # absent: a replica that already ran gc would accept the newcomer, so this one must too.
    expired = record(2, at=NOW, ttl_s=60)
    older_but_live = record(2, at=NOW - 1000, signed_at=NOW + 60_000)
    assert store.put_entries(RID, [expired], NOW)[1][0].ok
    assert store.put_entries(RID, [older_but_live], NOW + 60_000)[1][0].ok
    assert store.live_records(RID, NOW + 60_000) == [older_but_live]


def _tampered(rec: SignedRecord) -> bytes:
    message = pb.Entry.FromString(rec.encode())
    sig = bytearray(message.record.host_signature)
    sig[10] ^= 0x40
    message.record.host_signature = bytes(sig)
    return message.SerializeToString()


def test_one_bad_item_never_aborts_the_batch(store: Store) -> None:
    big = record(5, "big", value=b"x" * 5000, limits=Limits(max_value_bytes=8192))
    other_res = resource(1, "elsewhere")
    good = [record(2, "a"), record(3, "b"), tombstone(4, "c"), record(6, "d")]
    batch: list[bytes | SignedRecord] = [
        good[0].encode(),
        _tampered(record(7, "forged")),
        good[1],
        record(8, "moved", res=other_res).encode(),
        b"\x0a\x03not an entry",
        good[2].encode(),
        big.encode(),
        b"",
        good[3].encode(),
    ]
    whole, items = store.put_entries(RID, batch, NOW)
    assert whole.ok
    assert [r.status for r in items] == [
        Status.OK,
        Status.INVALID_SIGNATURE,
        Status.OK,
        Status.INVALID_SIGNATURE,
        Status.MALFORMED,
        Status.OK,
        Status.TOO_LARGE,
        Status.MALFORMED,
        Status.OK,
    ]
    assert all(r.text for r in items if not r.ok)
    assert sorted(_entries(store, tombstones=True)) == sorted(e.encode() for e in good)
    assert store.get_resource(other_res.id) is None


def test_oversized_entry_object_is_refused(store: Store) -> None:
    rec = record(2, value=b"x" * 3000)
    small = Limits(max_message_bytes=1024)
    with Store(local_peer=pid(LOCAL), limits=small, verifier=VERIFIER) as st:
        st.put_resource(resource(), NOW)
        assert st.put_entries(RID, [rec], NOW)[1][0].status == Status.TOO_LARGE
        assert st.put_entries(RID, [rec.encode()], NOW)[1][0].status == Status.TOO_LARGE
    assert store.put_entries(RID, [rec], NOW)[1][0].ok


def test_results_follow_request_order_for_duplicates_in_one_batch(store: Store) -> None:
    old, new = record(2, at=NOW - 5), record(2, at=NOW)
    items = store.put_entries(RID, [new, old, new, tombstone(2, at=NOW - 1)], NOW)[1]
    assert [r.status for r in items] == [Status.OK, Status.SUPERSEDED, Status.OK, Status.SUPERSEDED]


def test_an_internal_failure_on_one_item_spares_the_others(make_store: StoreFactory) -> None:
    def weight(peer: bytes) -> int:
        if peer == pid(3):
            raise RuntimeError("weight table unavailable")
        return 0

    st = make_store(weight=weight)
    st.put_resource(resource(), NOW)
    items = st.put_entries(RID, [record(2, "a"), record(3, "b"), record(4, "c")], NOW)[1]
    assert [r.status for r in items] == [Status.OK, Status.INTERNAL, Status.OK]
    assert "weight table unavailable" in items[1].text
    assert sorted(st.get_entries(RID, NOW)[0]) == sorted([record(2, "a").encode(), record(4, "c").encode()])
