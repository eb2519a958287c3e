"""Read-repair planning (core/repair.py): replicas' answers in, merged state and each one's gaps out."""

from __future__ import annotations

import itertools

from libp2p.crypto.keys import KeyPair

from registry_p2p.core import build
from registry_p2p.core.model import SignedResource
from registry_p2p.core.precedence import live_records, merge
from registry_p2p.core.repair import plan_read_repair

from .conftest import NOW


def test_replicas_that_agree_need_nothing(alice: KeyPair, resource: SignedResource) -> None:
    rec = build.make_record(alice.private_key, resource.id, "s", b"v", NOW)
    plan = plan_read_repair({"a": [rec], "b": [rec], "c": [rec]}, NOW)
    assert list(plan.state.values()) == [rec]
    assert plan.missing == {}


def test_no_answers_is_an_empty_state() -> None:
    plan = plan_read_repair({}, NOW)
    assert plan.state == {} and plan.missing == {}


def test_a_partial_answer_gets_what_it_lacked(alice: KeyPair, resource: SignedResource) -> None:
    key = alice.private_key
    one, two, three = (build.make_record(key, resource.id, s, b"v", NOW) for s in ("1", "2", "3"))
    plan = plan_read_repair({"full": [one, two, three], "partial": [two], "empty": []}, NOW)
    assert set(plan.missing) == {"partial", "empty"}
    assert plan.missing["partial"] == [one, three]
    assert plan.missing["empty"] == [one, two, three]


def test_a_replica_holding_the_record_gets_the_tombstone(alice: KeyPair, resource: SignedResource) -> None:
    key = alice.private_key
    rec = build.make_record(key, resource.id, "s", b"v", NOW)
    tomb = build.make_tombstone(key, resource.id, rec.host, "s", NOW + 1)
    plan = plan_read_repair({"stale": [rec], "fresh": [tomb]}, NOW + 2)
    assert list(plan.state.values()) == [tomb]
    assert plan.missing == {"stale": [tomb]}
    assert live_records(plan.state.values(), NOW + 2) == []
    # And the other way round: a newer registration replaces an older tombstone.
    again = build.make_record(key, resource.id, "s", b"w", NOW + 3)
    plan = plan_read_repair({"stale": [tomb], "fresh": [again]}, NOW + 4)
    assert plan.missing == {"stale": [again]}


def test_a_renewal_is_a_newer_version_to_repair(alice: KeyPair, resource: SignedResource) -> None:
    key = alice.private_key
    rec = build.make_record(key, resource.id, "s", b"v", NOW)
    renewed = build.renew(key, rec, NOW + 10)
    plan = plan_read_repair({"old": [rec], "new": [renewed]}, NOW + 11)
    assert plan.missing == {"old": [renewed]}


def test_failed_replicas_are_not_repaired(alice: KeyPair, resource: SignedResource) -> None:
    """A replica that failed or timed out is absent from the answers: nothing is sent to it, and
    the state is what the replicas that answered hold."""
    key = alice.private_key
    rec = build.make_record(key, resource.id, "s", b"v", NOW)
    answers = {"answered": [rec]}
    plan = plan_read_repair(answers, NOW)
    assert plan.missing == {} and list(plan.state.values()) == [rec]


def test_answers_in_any_order_give_the_same_plan(alice: KeyPair, bob: KeyPair, resource: SignedResource) -> None:
    a, b = alice.private_key, bob.private_key
    rec_a = build.make_record(a, resource.id, "s", b"v", NOW)
    tomb_a = build.make_tombstone(a, resource.id, rec_a.host, "s", NOW + 1)
    rec_b = build.make_record(b, resource.id, "s", b"v", NOW)
    renewed_b = build.renew(b, rec_b, NOW + 5)
    answers = {"x": [rec_a, rec_b], "y": [renewed_b, tomb_a], "z": [tomb_a], "w": []}
    expected = plan_read_repair(answers, NOW + 6)
    assert sorted(e.encode() for e in expected.state.values()) == sorted(
        e.encode() for e in merge(*answers.values()).values()
    )
    for order in itertools.permutations(answers):
        plan = plan_read_repair({replica: list(reversed(answers[replica])) for replica in order}, NOW + 6)
        assert plan.state == expected.state
        assert {r: sorted(e.encode() for e in es) for r, es in plan.missing.items()} == {
            r: sorted(e.encode() for e in es) for r, es in expected.missing.items()
        }
    assert set(expected.missing) == {"x", "z", "w"}


def test_expired_records_are_merged_but_not_sent(alice: KeyPair, resource: SignedResource) -> None:
    key = alice.private_key
    short = build.make_record(key, resource.id, "short", b"v", NOW, ttl_s=60)
    long = build.make_record(key, resource.id, "long", b"v", NOW, ttl_s=3600)
    now = NOW + 61_000  # `short` expired between the answers and the plan
    plan = plan_read_repair({"full": [short, long], "empty": []}, now)
    assert plan.missing == {"empty": [long]}
    assert len(plan.state) == 2 and live_records(plan.state.values(), now) == [long]
