"""The watch state (core/watch.py) with a fake clock: late, reordered and repeated delivery."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from libp2p.crypto.keys import KeyPair

from registry_p2p.core import DEFAULT_LIMITS, build
from registry_p2p.core.errors import RegistryError, Status, malformed
from registry_p2p.core.gossip import encode_payloads
from registry_p2p.core.model import Entry, SignedRecord, SignedResource, decode_entry
from registry_p2p.core.precedence import live_records, merge
from registry_p2p.core.views import Event
from registry_p2p.core.watch import WatchState, event_of, message_entries

from .conftest import NOW

TTL_S = 60
TTL_MS = TTL_S * 1000


def record(key: KeyPair, resource: SignedResource, service: str, at_ms: int, value: bytes = b"v") -> SignedRecord:
    return build.make_record(key.private_key, resource.id, service, value, at_ms, ttl_s=TTL_S)


def kinds(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.kind, e.service_id) for e in events]


def test_the_snapshot_reports_live_records_only(alice: KeyPair, resource: SignedResource) -> None:
    live = record(alice, resource, "live", NOW)
    old = record(alice, resource, "old", NOW - 2 * TTL_MS)
    gone = build.make_tombstone(alice.private_key, resource.id, live.host, "gone", NOW)
    state = WatchState()
    events = state.start([live, old, gone], NOW)
    assert kinds(events) == [("registered", "live")]
    assert events[0].record is not None and events[0].record.value == b"v"
    assert state.next_expiry() == live.expires_at_ms
    assert state.live() == [live]


def test_expiry_fires_once_at_its_time(alice: KeyPair, resource: SignedResource) -> None:
    first = record(alice, resource, "a", NOW)
    second = record(alice, resource, "b", NOW + 5_000)
    state = WatchState()
    state.start([first, second], NOW + 5_000)
    assert state.next_expiry() == first.expires_at_ms
    assert state.expire(first.expires_at_ms - 1) == []
    events = state.expire(first.expires_at_ms)
    assert kinds(events) == [("expired", "a")] and events[0].record is None
    assert state.expire(first.expires_at_ms + 1) == []
    assert state.next_expiry() == second.expires_at_ms
    assert kinds(state.expire(10 * TTL_MS + NOW)) == [("expired", "b")]
    assert state.next_expiry() is None


def test_a_renewal_is_registered_again_and_extends_the_expiry(alice: KeyPair, resource: SignedResource) -> None:
    original = record(alice, resource, "svc", NOW)
    renewed = build.renew(alice.private_key, original, NOW + 30_000)
    state = WatchState()
    state.start([original], NOW)
    events = state.on_entry(renewed, NOW + 30_000)
    assert kinds(events) == [("registered", "svc")]
    assert state.next_expiry() == renewed.expires_at_ms > original.expires_at_ms
    assert state.expire(original.expires_at_ms) == []
    assert kinds(state.expire(renewed.expires_at_ms)) == [("expired", "svc")]


def test_a_duplicate_or_an_older_record_makes_no_event(alice: KeyPair, resource: SignedResource) -> None:
    older = record(alice, resource, "svc", NOW, b"older")
    newer = record(alice, resource, "svc", NOW + 1_000, b"newer")
    state = WatchState()
    assert kinds(state.on_entry(newer, NOW + 1_000)) == [("registered", "svc")]
    assert state.on_entry(newer, NOW + 1_001) == []
    assert state.on_entry(older, NOW + 1_002) == []
    assert state.live() == [newer]


def test_out_of_order_versions_end_on_the_newest(alice: KeyPair, resource: SignedResource) -> None:
    versions = [record(alice, resource, "svc", NOW + i * 1_000, bytes([i])) for i in range(4)]
    state = WatchState()
    events = [e for v in (versions[2], versions[0], versions[3], versions[1]) for e in state.on_entry(v, NOW + 4_000)]
    assert [e.record.value for e in events if e.record is not None] == [b"\x02", b"\x03"]
    assert state.live() == [versions[3]]


def test_a_tombstone_before_its_record_keeps_the_service_unregistered(alice: KeyPair, resource: SignedResource) -> None:
    live = record(alice, resource, "svc", NOW)
    tombstone = build.make_tombstone(alice.private_key, resource.id, live.host, "svc", NOW + 1_000)
    state = WatchState()
    assert state.on_entry(tombstone, NOW + 1_000) == []  # nothing was registered: nothing to report
    assert state.on_entry(live, NOW + 1_001) == []
    assert state.live() == [] and state.next_expiry() is None


def test_a_tombstone_after_its_record_unregisters_once(alice: KeyPair, resource: SignedResource) -> None:
    live = record(alice, resource, "svc", NOW)
    tombstone = build.make_tombstone(alice.private_key, resource.id, live.host, "svc", NOW + 1_000)
    state = WatchState()
    state.start([live], NOW)
    events = state.on_entry(tombstone, NOW + 1_000)
    assert kinds(events) == [("unregistered", "svc")] and events[0].record is None
    assert state.on_entry(tombstone, NOW + 1_000) == []
    assert state.next_expiry() is None
    # A registration issued after the tombstone brings the service back.
    again = record(alice, resource, "svc", NOW + 2_000)
    assert kinds(state.on_entry(again, NOW + 2_000)) == [("registered", "svc")]


def test_an_entry_arriving_after_a_due_expiry_reports_the_expiry_first(
    alice: KeyPair, resource: SignedResource
) -> None:
    live = record(alice, resource, "svc", NOW)
    tombstone = build.make_tombstone(alice.private_key, resource.id, live.host, "svc", NOW + 1_000)
    state = WatchState()
    state.start([live], NOW)
    # The driver's timer has not fired yet when the tombstone comes in after the expiry.
    assert kinds(state.on_entry(tombstone, live.expires_at_ms)) == [("expired", "svc")]


def test_an_expired_record_is_not_resurrected_by_an_older_one(alice: KeyPair, resource: SignedResource) -> None:
    older = build.make_record(alice.private_key, resource.id, "svc", b"old", NOW, ttl_s=10 * TTL_S)
    newer = record(alice, resource, "svc", NOW + 1_000)
    state = WatchState()
    state.start([newer], NOW + 1_000)
    assert kinds(state.expire(newer.expires_at_ms)) == [("expired", "svc")]
    # The older record outlives the newer one, but resolve would not return it: neither do we.
    assert older.expires_at_ms > newer.expires_at_ms
    assert state.on_entry(older, newer.expires_at_ms + 1) == []


def test_a_superseding_record_already_expired_ends_the_live_one(alice: KeyPair, resource: SignedResource) -> None:
    live = build.make_record(alice.private_key, resource.id, "svc", b"long", NOW, ttl_s=10 * TTL_S)
    short = record(alice, resource, "svc", NOW + 1_000)
    state = WatchState()
    state.start([live], NOW + 1_000)
    assert kinds(state.on_entry(short, short.expires_at_ms)) == [("expired", "svc")]
    assert state.live() == [] and state.next_expiry() is None


def test_events_carry_the_weight_of_the_issuer(alice: KeyPair, resource: SignedResource) -> None:
    live = record(alice, resource, "svc", NOW)
    (event,) = WatchState(weight=lambda issuer: 7 if issuer == live.issuer else 0).start([live], NOW)
    assert event.record is not None and event.record.weight == 7
    assert event_of("expired", live).record is None


def test_message_entries_drop_expired_entries_and_reject_invalid_ones(alice: KeyPair, resource: SignedResource) -> None:
    fresh = record(alice, resource, "fresh", NOW)
    stale = record(alice, resource, "stale", NOW - 2 * TTL_MS)

    def check(raw: bytes) -> Entry:
        entry = decode_entry(raw, DEFAULT_LIMITS)
        if isinstance(entry, SignedRecord) and entry.expires_at_ms <= NOW:
            raise RegistryError(Status.EXPIRED, "expired")
        if entry.service_id == "forged":
            raise malformed("forged")
        return entry

    (batch,) = encode_payloads([fresh.encode(), stale.encode()])
    assert message_entries(batch, check) == [fresh]
    forged = record(alice, resource, "forged", NOW)
    (bad,) = encode_payloads([fresh.encode(), forged.encode()])
    assert message_entries(bad, check) is None
    assert message_entries(b"\x00garbage", check) is None


@settings(max_examples=100, deadline=None)
@given(st.permutations(range(6)), st.lists(st.integers(min_value=0, max_value=5), max_size=6))
def test_whatever_the_order_and_repeats_the_watch_ends_where_merge_does(
    alice: KeyPair, resource: SignedResource, order: list[int], repeats: list[int]
) -> None:
    """Versions of two services (records and a tombstone) delivered in any order, some twice: the
    live records the watch ends with are those of `merge`, and each surfaces at most once."""
    entries: list[Entry] = [
        record(alice, resource, "a", NOW, b"a0"),
        record(alice, resource, "a", NOW + 1_000, b"a1"),
        build.make_tombstone(alice.private_key, resource.id, record(alice, resource, "a", NOW).host, "a", NOW + 500),
        record(alice, resource, "b", NOW, b"b0"),
        build.make_tombstone(alice.private_key, resource.id, record(alice, resource, "b", NOW).host, "b", NOW + 2_000),
        record(alice, resource, "b", NOW + 1_500, b"b1"),
    ]
    delivery = [entries[i] for i in order] + [entries[i] for i in repeats]
    now = NOW + 3_000
    state = WatchState()
    registered: list[bytes] = []
    for entry in delivery:
        for event in state.on_entry(entry, now):
            if event.kind == "registered":
                assert event.record is not None
                registered.append(event.record.value)
    want = live_records(merge(delivery).values(), now)
    assert sorted(r.encode() for r in state.live()) == sorted(r.encode() for r in want)
    assert len(registered) == len(set(registered))
