"""The Kademlia lookup state (core/lookup.py) driven by hand and by hypothesis, with a fake clock."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_p2p.core.lookup import Failure, LookupState, PeerState, closest, kad_distance

TARGET = b"target-resource"
PEERS = [f"peer-{i}".encode() for i in range(40)]
BY_DISTANCE = closest(TARGET, PEERS, bytes)


def lookup(seeds: list[bytes], count: int = 4, alpha: int = 3, **kw: object) -> LookupState[bytes]:
    return LookupState(TARGET, count, seeds, key_of=bytes, alpha=alpha, **kw)  # type: ignore[arg-type]


def test_distance_is_xor_of_the_sha256_hashes() -> None:
    want = int.from_bytes(hashlib.sha256(TARGET).digest(), "big") ^ int.from_bytes(
        hashlib.sha256(b"peer-1").digest(), "big"
    )
    assert kad_distance(TARGET, b"peer-1") == want
    assert [kad_distance(TARGET, p) for p in BY_DISTANCE] == sorted(kad_distance(TARGET, p) for p in PEERS)


def test_alpha_is_respected_and_the_window_slides() -> None:
    state = lookup(BY_DISTANCE[10:20], count=4, alpha=3)
    first = state.next_queries(0.0)
    assert first == BY_DISTANCE[10:13]
    assert state.next_queries(0.0) == [] and state.in_flight == 3
    # One answer frees one slot: the next closest is asked without waiting for the others.
    state.on_reply(first[0], [], 0.1)
    assert state.next_queries(0.1) == [BY_DISTANCE[13]]
    assert state.in_flight == 3


def test_terminates_when_the_closest_have_answered_and_never_asks_further() -> None:
    state = lookup(BY_DISTANCE[5:30], count=3, alpha=2)
    now = 0.0
    while not state.done:
        for peer in state.next_queries(now):
            state.on_reply(peer, [], now)
        now += 1
    assert state.result() == BY_DISTANCE[5:8]
    assert state.queries_sent == 3
    assert state.state_of(BY_DISTANCE[8]) is PeerState.CANDIDATE


def test_closer_peers_from_a_reply_are_asked_and_replace_farther_ones() -> None:
    state = lookup([BY_DISTANCE[20]], count=2, alpha=1)
    (seed,) = state.next_queries(0.0)
    state.on_reply(seed, [BY_DISTANCE[0], BY_DISTANCE[1], BY_DISTANCE[30]], 0.5)
    assert state.next_queries(0.5) == [BY_DISTANCE[0]]
    assert state.hops_of(BY_DISTANCE[0]) == 1 and state.hops_of(seed) == 0
    state.on_reply(BY_DISTANCE[0], [], 0.6)
    assert state.next_queries(0.6) == [BY_DISTANCE[1]]
    state.on_reply(BY_DISTANCE[1], [], 0.7)
    assert state.done and state.result() == BY_DISTANCE[:2]
    assert state.hops_to_closest() == 2  # the seed's answer, then the closest's own


def test_hops_to_closest_is_one_when_a_seed_is_the_closest_and_zero_without_a_result() -> None:
    state = lookup(BY_DISTANCE[:3], count=2, alpha=3)
    for peer in state.next_queries(0.0):
        state.on_reply(peer, [], 0.1)
    assert state.done and state.hops_to_closest() == 1
    empty = lookup([BY_DISTANCE[0]], count=1, alpha=1)
    (only,) = empty.next_queries(0.0)
    empty.on_failure(only, 0.1, unreachable=True)
    assert empty.result() == [] and empty.hops_to_closest() == 0


def test_a_failing_peer_leaves_the_answer_and_the_next_closest_is_asked() -> None:
    state = lookup(BY_DISTANCE[:6], count=3, alpha=3)
    assert state.next_queries(0.0) == BY_DISTANCE[:3]
    state.on_failure(BY_DISTANCE[1], 0.1, unreachable=True)
    assert state.failure_of(BY_DISTANCE[1]) is Failure.UNREACHABLE
    assert state.next_queries(0.1) == [BY_DISTANCE[3]]
    for peer in (BY_DISTANCE[0], BY_DISTANCE[2], BY_DISTANCE[3]):
        state.on_reply(peer, [BY_DISTANCE[1]], 0.2)  # others still name the failed peer
    assert state.done
    assert state.result() == [BY_DISTANCE[0], BY_DISTANCE[2], BY_DISTANCE[3]]
    assert state.state_of(BY_DISTANCE[1]) is PeerState.FAILED


def test_a_timed_out_peer_fails_at_its_deadline_and_its_late_reply_is_dropped() -> None:
    state = lookup(BY_DISTANCE[:4], count=2, alpha=2, query_timeout=3.0)
    assert state.next_queries(0.0) == BY_DISTANCE[:2]
    state.on_reply(BY_DISTANCE[1], [], 1.0)
    assert state.next_deadline() == 3.0
    assert state.expire(2.9) == []
    assert state.expire(3.0) == [BY_DISTANCE[0]]
    assert state.failure_of(BY_DISTANCE[0]) is Failure.TIMED_OUT
    assert state.next_queries(3.0) == [BY_DISTANCE[2]]
    # The slow peer answers after all, naming a peer nobody else named: too late, ignored.
    state.on_reply(BY_DISTANCE[0], [BY_DISTANCE[10]], 3.5)
    assert state.state_of(BY_DISTANCE[0]) is PeerState.FAILED and state.state_of(BY_DISTANCE[10]) is None
    assert state.in_flight == 1
    state.on_reply(BY_DISTANCE[2], [], 4.0)
    assert state.done and state.result() == [BY_DISTANCE[1], BY_DISTANCE[2]]


def test_unanswered_names_the_reached_peers_that_failed_closest_first_never_the_unreachable() -> None:
    state = lookup(BY_DISTANCE[:8], count=4, alpha=4, query_timeout=3.0)
    assert state.next_queries(0.0) == BY_DISTANCE[:4]
    state.on_failure(BY_DISTANCE[3], 0.1)  # reached, answered garbage
    state.on_failure(BY_DISTANCE[0], 0.2, unreachable=True)  # gone
    state.on_reply(BY_DISTANCE[2], [], 0.3)
    assert state.expire(3.0) == [BY_DISTANCE[1]]  # late
    assert state.unanswered() == [BY_DISTANCE[1], BY_DISTANCE[3]]
    assert BY_DISTANCE[1] not in state.result() and BY_DISTANCE[0] not in state.unanswered()


def test_a_timeout_reported_by_the_driver_counts_as_a_failure() -> None:
    state = lookup(BY_DISTANCE[:2], count=1, alpha=1)
    (peer,) = state.next_queries(0.0)
    state.on_failure(peer, 3.0, timed_out=True)
    assert state.failure_of(peer) is Failure.TIMED_OUT
    assert state.expire(100.0) == [] and state.next_deadline() is None  # no timeout of its own
    assert state.next_queries(3.0) == [BY_DISTANCE[1]]


def test_skipped_peers_are_never_learnt_and_duplicates_count_once() -> None:
    gone = {BY_DISTANCE[0]}
    state = lookup([BY_DISTANCE[0], BY_DISTANCE[1], BY_DISTANCE[1]], count=3, skip=lambda p: p in gone)
    assert state.next_queries(0.0) == [BY_DISTANCE[1]]
    state.on_reply(BY_DISTANCE[1], [BY_DISTANCE[0], BY_DISTANCE[1]], 0.1)
    assert state.done and state.result() == [BY_DISTANCE[1]]


def test_no_seeds_is_done_at_once_and_bad_parameters_are_refused() -> None:
    assert lookup([]).done and lookup([]).result() == []
    with pytest.raises(ValueError):
        lookup([], count=0)
    with pytest.raises(ValueError):
        lookup([], alpha=0)


def test_reports_for_unknown_or_answered_peers_change_nothing() -> None:
    state = lookup(BY_DISTANCE[:1], count=1)
    (peer,) = state.next_queries(0.0)
    state.on_reply(b"stranger", [BY_DISTANCE[0]], 0.1)
    state.on_failure(b"stranger", 0.1)
    state.on_reply(peer, [], 0.2)
    state.on_failure(peer, 0.3)  # a duplicate report after its answer
    assert state.done and state.result() == [peer]


# ---------------------------------------------------------------- properties over a static network


@st.composite
def networks(draw: st.DrawFn) -> tuple[list[bytes], set[bytes], list[bytes], int, int]:
    size = draw(st.integers(min_value=1, max_value=30))
    peers = PEERS[:size]
    failing = set(draw(st.lists(st.sampled_from(peers), max_size=size // 2)))
    seeds = draw(st.lists(st.sampled_from(peers), min_size=1, max_size=5))
    count = draw(st.integers(min_value=1, max_value=6))
    alpha = draw(st.integers(min_value=1, max_value=4))
    return peers, failing, seeds, count, alpha


@settings(max_examples=200, deadline=None)
@given(networks(), st.randoms(use_true_random=False))
def test_result_is_the_true_closest_live_peers_whatever_the_reply_order(
    network: tuple[list[bytes], set[bytes], list[bytes], int, int], rng: object
) -> None:
    """Each live peer knows everyone and answers with enough of its closest to replace the failed
    ones; replies, failures and timeouts come in any order: the result is the true K closest live
    peers, provided any seed is live."""
    import random

    assert isinstance(rng, random.Random)
    peers, failing, seeds, count, alpha = network
    answer_size = count + len(failing)

    def answer(asked: bytes) -> list[bytes]:
        return closest(TARGET, [p for p in peers if p != asked], bytes)[:answer_size]

    state = lookup(seeds, count=count, alpha=alpha)
    now = 0.0
    waiting: list[bytes] = []
    steps = 0
    while not state.done:
        steps += 1
        assert steps < 10 * len(peers) + 10, "the lookup does not terminate"
        started = state.next_queries(now)
        waiting.extend(started)
        assert state.in_flight <= alpha
        assert state.in_flight == len(waiting)
        peer = waiting.pop(rng.randrange(len(waiting)))
        now += rng.random()
        if peer in failing:
            if rng.random() < 0.5:
                state.on_failure(peer, now, unreachable=True)
            else:  # silent: the driver's timer fires, then its answer straggles in and is dropped
                state.on_failure(peer, now, timed_out=True)
                state.on_reply(peer, answer(peer), now + 1)
        else:
            state.on_reply(peer, answer(peer), now)
    live = [p for p in peers if p not in failing]
    if set(seeds) <= failing:
        assert state.result() == []
    else:
        assert state.result() == closest(TARGET, live, bytes)[:count]
    assert not set(state.result()) & failing


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(PEERS), st.lists(st.sampled_from(PEERS), max_size=6), min_size=1),
    st.integers(min_value=1, max_value=5),
    st.integers(min_value=1, max_value=4),
    st.randoms(use_true_random=False),
)
def test_on_any_sparse_network_it_ends_with_answered_peers_closest_first(
    tables: dict[bytes, list[bytes]], count: int, alpha: int, rng: object
) -> None:
    import random

    assert isinstance(rng, random.Random)
    seeds = list(tables)[:2]
    state = lookup(seeds, count=count, alpha=alpha)
    waiting: list[bytes] = []
    while not state.done:
        waiting.extend(state.next_queries(0.0))
        peer = waiting.pop(rng.randrange(len(waiting)))
        if peer in tables:
            state.on_reply(peer, tables[peer], 0.0)
        else:
            state.on_failure(peer, 0.0, unreachable=True)
    result = state.result()
    assert result == closest(TARGET, result, bytes)
    assert all(state.state_of(p) is PeerState.ANSWERED for p in result)
    assert len(result) <= count
    ended = [p for p in PEERS if state.state_of(p) in (PeerState.ANSWERED, PeerState.FAILED)]
    assert state.queries_sent == len(ended)


def test_closest_orders_peer_ids_as_py_libp2p_kademlia_does() -> None:
    from libp2p.crypto.ed25519 import create_new_key_pair
    from libp2p.kad_dht.utils import sort_peer_ids_by_distance
    from libp2p.peer.id import ID

    ids = [ID.from_pubkey(create_new_key_pair(bytes([i]) * 32).public_key) for i in range(1, 30)]
    for target in (TARGET, b"\x00" * 32, b"another"):
        assert closest(target, ids, ID.to_bytes) == sort_peer_ids_by_distance(target, ids)
