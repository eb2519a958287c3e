"""Anti-entropy planning (core/antientropy.py): digests in, push and pull out; time is a parameter."""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair

from registry_p2p.core import DEFAULT_LIMITS, build
from registry_p2p.core.antientropy import NOTHING, PeerDigest, SyncPlan, live_digest, plan_sync
from registry_p2p.core.model import Entry, SignedResource, identity_digest
from registry_p2p.core.precedence import merge

from .conftest import NOW

L = DEFAULT_LIMITS


@dataclass
class FakeClock:
    now_ms: int = NOW

    def advance(self, ms: int) -> int:
        self.now_ms += ms
        return self.now_ms


@dataclass
class Replica:
    """A replica's entries of one resource, as a dict store would hold them (precedence applied)."""

    entries: dict[bytes, Entry]
    created_at_ms: int = NOW

    @classmethod
    def of(cls, *entries: Entry) -> Replica:
        return cls({identity_digest(e.identity): e for e in merge(entries).values()})

    def digest(self, now_ms: int) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        return live_digest(self.entries.values(), now_ms, L)

    def answer(self, their_root: bytes, now_ms: int) -> PeerDigest:
        """What a replica's digest handler answers: the items only when the roots differ."""
        root, items = self.digest(now_ms)
        return PeerDigest(root, self.created_at_ms, {} if root == their_root else dict(items))

    def take(self, entries: list[Entry]) -> None:
        for entry in merge(list(self.entries.values()), entries).values():
            self.entries[identity_digest(entry.identity)] = entry


def sync(ours: Replica, theirs: Replica, now_ms: int) -> SyncPlan:
    """One anti-entropy exchange from `ours` with `theirs`, the plan applied as the registry does."""
    root, items = ours.digest(now_ms)
    plan = plan_sync(root, items, ours.created_at_ms, theirs.answer(root, now_ms))
    theirs.take([ours.entries[ident] for ident in plan.push])
    if plan.pull:
        ours.take([e for e in theirs.entries.values() if e.is_tombstone or e.expires_at_ms > now_ms])
    return plan


def test_equal_digests_mean_nothing_to_do(alice: KeyPair, resource: SignedResource) -> None:
    rec = build.make_record(alice.private_key, resource.id, "s", b"v", NOW)
    a, b = Replica.of(rec), Replica.of(rec)
    root, items = a.digest(NOW)
    assert plan_sync(root, items, NOW, b.answer(root, NOW)) == NOTHING
    assert NOTHING.idle
    # Equal roots, but the replica's resource is older: the resource alone is sent.
    older = PeerDigest(root, NOW - 1, {})
    assert plan_sync(root, items, NOW, older) == SyncPlan(push_resource=True)
    # Equal roots, the replica's resource newer: we fetch it (its policy may judge what we hold).
    assert plan_sync(root, items, NOW, PeerDigest(root, NOW + 1, {})) == SyncPlan(pull_resource=True)


def test_resource_versions_are_exchanged_whatever_the_entries(alice: KeyPair, resource: SignedResource) -> None:
    """A replica that missed a newer resource version (e.g. a switch to owner-approved) learns it
    in the same round as the entries, not only once the entries agree."""
    rec = build.make_record(alice.private_key, resource.id, "s", b"v", NOW)
    root, items = Replica.of(rec).digest(NOW)
    other_root, other_items = Replica.of().digest(NOW)
    plan = plan_sync(root, items, NOW, PeerDigest(other_root, NOW - 1, dict(other_items)))
    assert plan.push_resource and plan.push == (identity_digest(rec.identity),) and not plan.pull_resource
    plan = plan_sync(other_root, other_items, NOW - 1, PeerDigest(root, NOW, dict(items)))
    assert plan.pull_resource and plan.pull and not plan.push_resource


def test_a_replica_without_the_resource_gets_everything_and_is_not_pulled(
    alice: KeyPair, resource: SignedResource
) -> None:
    key = alice.private_key
    entries = [build.make_record(key, resource.id, s, b"v", NOW) for s in ("a", "b")]
    root, items = Replica.of(*entries).digest(NOW)
    plan = plan_sync(root, items, NOW, None)
    assert set(plan.push) == {identity_digest(e.identity) for e in entries}
    assert not plan.pull and not plan.push_resource
    # Nothing held, nothing known: nothing to do.
    empty_root, empty = Replica.of().digest(NOW)
    assert plan_sync(empty_root, empty, NOW, None).idle


def test_each_side_sends_what_the_other_lacks(alice: KeyPair, resource: SignedResource) -> None:
    key = alice.private_key
    shared = build.make_record(key, resource.id, "shared", b"v", NOW)
    only_ours = build.make_record(key, resource.id, "ours", b"v", NOW)
    only_theirs = build.make_record(key, resource.id, "theirs", b"v", NOW)
    ours, theirs = Replica.of(shared, only_ours), Replica.of(shared, only_theirs)
    plan = sync(ours, theirs, NOW)
    assert plan.push == (identity_digest(only_ours.identity),) and plan.pull
    assert ours.digest(NOW) == theirs.digest(NOW)
    assert sync(ours, theirs, NOW).idle
    assert sync(theirs, ours, NOW).idle


def test_tombstone_against_record_converges_on_the_winner(alice: KeyPair, resource: SignedResource) -> None:
    key = alice.private_key
    rec = build.make_record(key, resource.id, "s", b"v", NOW)
    tomb = build.make_tombstone(key, resource.id, rec.host, "s", NOW + 1)
    for ours, theirs in ((Replica.of(tomb), Replica.of(rec)), (Replica.of(rec), Replica.of(tomb))):
        plan = sync(ours, theirs, NOW + 2)
        # Different versions of one identity: each side sends its own; the receiver keeps the winner.
        assert plan.push == (identity_digest(rec.identity),) and plan.pull
        assert list(ours.entries.values()) == [tomb] == list(theirs.entries.values())
        assert sync(ours, theirs, NOW + 2).idle


def test_expired_entries_are_not_pushed(alice: KeyPair, resource: SignedResource) -> None:
    key = alice.private_key
    clock = FakeClock()
    short = build.make_record(key, resource.id, "short", b"v", clock.now_ms, ttl_s=60)
    long = build.make_record(key, resource.id, "long", b"v", clock.now_ms, ttl_s=3600)
    tomb = build.make_tombstone(key, resource.id, short.host, "gone", clock.now_ms)
    ours = Replica.of(short, long, tomb)
    root, items = ours.digest(clock.now_ms)
    assert len(plan_sync(root, items, NOW, None).push) == 3
    clock.advance(61_000)  # `short` expired; the tombstone lives for the longest TTL
    root, items = ours.digest(clock.now_ms)
    assert set(plan_sync(root, items, NOW, None).push) == {identity_digest(e.identity) for e in (long, tomb)}
    clock.advance(L.tombstone_lifetime_ms)  # everything is past its lifetime now
    root, items = ours.digest(clock.now_ms)
    assert plan_sync(root, items, NOW, None).idle
    # A replica still announcing an entry that expired here is pulled from; what it sends is
    # then checked against `now` by the receiver (validation refuses expired entries).
    assert plan_sync(root, items, NOW, PeerDigest(b"other", NOW, {identity_digest(short.identity): short.version})).pull


def test_the_plan_does_not_depend_on_the_order_of_digest_items(alice: KeyPair, resource: SignedResource) -> None:
    key = alice.private_key
    mine = [build.make_record(key, resource.id, f"m{i}", b"v", NOW) for i in range(8)]
    theirs = [build.make_record(key, resource.id, f"t{i}", b"v", NOW) for i in range(8)]
    root, items = Replica.of(*mine, *theirs[:3]).digest(NOW)
    _, their_items = Replica.of(*theirs).digest(NOW)
    expected = plan_sync(root, items, NOW, PeerDigest(b"x", NOW, dict(their_items)))
    shuffler = random.Random(7)
    for _ in range(5):
        shuffler.shuffle(items)
        shuffler.shuffle(their_items)
        assert plan_sync(root, items, NOW, PeerDigest(b"x", NOW, dict(their_items))) == expected
    assert len(expected.push) == 8 and expected.pull


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_one_exchange_makes_two_replicas_equal(data: st.DataObject) -> None:
    """Any two sets of versions of a few identities: after one exchange both hold the merge."""
    pool = _pool()
    ours = Replica.of(*data.draw(st.lists(st.sampled_from(pool), max_size=12)))
    theirs = Replica.of(*data.draw(st.lists(st.sampled_from(pool), max_size=12)))
    expected = merge(list(ours.entries.values()), list(theirs.entries.values()))
    sync(ours, theirs, NOW + 50)
    assert ours.digest(NOW + 50) == theirs.digest(NOW + 50)
    assert sorted(e.encode() for e in ours.entries.values()) == sorted(e.encode() for e in expected.values())
    assert sync(ours, theirs, NOW + 50).idle and sync(theirs, ours, NOW + 50).idle


@functools.cache
def _pool() -> list[Entry]:
    """Versions of three identities: records, a renewal, older and newer tombstones."""
    key = create_new_key_pair(b"\x33" * 32).private_key
    rid = build.make_resource(key, "pool", NOW, L).id
    entries: list[Entry] = []
    for service in ("a", "b", "c"):
        rec = build.make_record(key, rid, service, b"1", NOW)
        entries += [
            rec,
            build.make_record(key, rid, service, b"2", NOW + 10),
            build.renew(key, rec, NOW + 5),
            build.make_tombstone(key, rid, rec.host, service, NOW + 1),
            build.make_tombstone(key, rid, rec.host, service, NOW + 20),
        ]
    return entries


def test_a_resource_is_put_into_the_dht_again_only_when_it_changed_or_its_copy_ages() -> None:
    from registry_p2p.core.antientropy import DhtRepublish

    schedule = DhtRepublish(republish_s=100.0)
    rid, other = b"r" * 32, b"o" * 32
    assert schedule.due(rid, b"v1", [b"a", b"b"], now=0.0)
    schedule.done(rid, b"v1", [b"a", b"b"], now=0.0)
    # Unchanged, within the republish interval: no put (it used to be one per round).
    assert not schedule.due(rid, b"v1", [b"a", b"b"], now=99.0)
    # A newer version of the resource, a changed replica set, or an ageing copy: put again.
    assert schedule.due(rid, b"v2", [b"a", b"b"], now=1.0)
    assert schedule.due(rid, b"v1", [b"a", b"c"], now=1.0)
    assert schedule.due(rid, b"v1", [b"a", b"b"], now=100.0)
    # A resource no longer held is forgotten; when it comes back it is put at once.
    schedule.done(other, b"w", [b"a"], now=0.0)
    schedule.forget_except([other])
    assert schedule.due(rid, b"v1", [b"a", b"b"], now=1.0)
    assert not schedule.due(other, b"w", [b"a"], now=1.0)
