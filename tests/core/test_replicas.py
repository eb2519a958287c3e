"""Replica-set choice (core/replicas.py) with a fake clock: marks expire, sets are cached with a TTL."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from registry_p2p.core.lookup import closest
from registry_p2p.core.replicas import UNREACHABLE_TTL_S, UNSUPPORTED_TTL_S, ReplicaChoice

RID = b"resource-id"
ME = b"me"
PEERS = [f"peer-{i}".encode() for i in range(20)]
BY_DISTANCE = closest(RID, PEERS, bytes)


def registry_peers(peer: bytes) -> bool | None:
    return True


def choice(k: int = 3, ttl: float = 60.0) -> ReplicaChoice[bytes]:
    return ReplicaChoice(k, ttl, key_of=bytes)


def choose(
    c: ReplicaChoice[bytes],
    candidates: list[bytes],
    now: float,
    *,
    advertised: object = registry_peers,
    serves: bool = False,
    complete: bool = True,
    connected: list[bytes] | None = None,
) -> list[bytes]:
    assert callable(advertised)
    identified = c.to_identify(RID, candidates, ME, advertised, now)
    return c.choose(
        RID,
        candidates,
        identified,
        me=ME,
        serves=serves,
        advertised=advertised,
        connected=connected or [],
        lookup_complete=complete,
        now=now,
    )


def test_the_k_closest_registry_peers_are_chosen_and_cached_until_the_ttl() -> None:
    c = choice(k=3, ttl=60.0)
    peers = choose(c, list(reversed(PEERS)), now=0.0)
    assert peers == BY_DISTANCE[:3]
    assert c.cached(RID, 60.0) == peers and c.cached(RID, 60.01) is None
    assert c.is_replica(RID, BY_DISTANCE[0], 1.0) is True
    assert c.is_replica(RID, ME, 1.0) is False and c.is_replica(b"other", ME, 1.0) is None
    assert c.cached_sizes() == [3]
    c.forget(RID)
    assert c.cached(RID, 1.0) is None


def test_we_take_our_place_when_we_serve() -> None:
    c = choice(k=len(PEERS) + 1)
    assert ME in choose(c, PEERS, 0.0, serves=True)
    assert ME not in choose(choice(), [ME, *PEERS], 0.0)


def test_to_identify_names_the_2k_closest_eligible_candidates() -> None:
    c = choice(k=3)
    c.mark_unreachable(BY_DISTANCE[0], 0.0)
    got = c.to_identify(RID, [ME, *PEERS, *PEERS], ME, registry_peers, 1.0)
    assert got == BY_DISTANCE[1:7]


def test_unsupported_peers_are_excluded_until_their_mark_expires() -> None:
    c = choice(k=2)
    c.mark_unsupported(BY_DISTANCE[0], 0.0)
    assert c.speaks_registry(BY_DISTANCE[0], True, UNSUPPORTED_TTL_S) is False
    assert choose(c, PEERS, UNSUPPORTED_TTL_S) == BY_DISTANCE[1:3]
    # It may have mounted the registry since.
    assert c.speaks_registry(BY_DISTANCE[0], True, UNSUPPORTED_TTL_S + 0.1) is True
    assert choose(c, PEERS, UNSUPPORTED_TTL_S + 0.1) == BY_DISTANCE[:2]


def test_peers_that_do_not_speak_the_registry_are_never_chosen() -> None:
    light = set(BY_DISTANCE[:2])
    peers = choose(choice(k=2), PEERS, 0.0, advertised=lambda p: p not in light)
    assert peers == BY_DISTANCE[2:4]


def test_unreachable_marks_expire_and_a_new_connection_clears_them() -> None:
    c = choice(k=2)
    c.mark_unreachable(BY_DISTANCE[0], 0.0)
    assert c.recently_unreachable(BY_DISTANCE[0], UNREACHABLE_TTL_S)
    assert c.excluded(BY_DISTANCE[0], True, 1.0)
    assert choose(c, PEERS, 1.0) == BY_DISTANCE[1:3]
    assert not c.recently_unreachable(BY_DISTANCE[0], UNREACHABLE_TTL_S + 0.1)
    c.mark_unreachable(BY_DISTANCE[1], 20.0)
    c.reachable_again(BY_DISTANCE[1])
    assert not c.recently_unreachable(BY_DISTANCE[1], 20.0)


def test_a_set_that_leaves_out_a_marked_closer_peer_is_reused_only_until_the_mark_expires() -> None:
    """One failed stream open (the losing side of a connection race on a live peer) marks it for
    UNREACHABLE_TTL_S; a set chosen meanwhile must not keep it out for the whole cache TTL."""
    c = choice(k=3, ttl=60.0)
    c.mark_unreachable(BY_DISTANCE[1], 0.0)
    assert choose(c, PEERS, 1.0) == [BY_DISTANCE[0], BY_DISTANCE[2], BY_DISTANCE[3]]
    assert c.cached(RID, UNREACHABLE_TTL_S) is not None
    assert c.cached(RID, UNREACHABLE_TTL_S + 0.01) is None
    assert choose(c, PEERS, UNREACHABLE_TTL_S + 0.01) == BY_DISTANCE[:3]
    assert c.cached(RID, 60.0) is not None  # nobody closer is marked: the full TTL
    # A marked peer farther than the whole set changes nothing.
    c.forget(RID)
    c.mark_unreachable(BY_DISTANCE[10], 20.0)
    choose(c, PEERS, 20.0)
    assert c.cached(RID, 79.0) is not None


def test_a_mark_drops_every_cached_set_holding_that_peer() -> None:
    c = choice(k=2)
    assert choose(c, PEERS, 0.0) == BY_DISTANCE[:2]
    c.mark_unreachable(BY_DISTANCE[1], 1.0)
    assert c.cached(RID, 1.0) is None
    assert choose(c, PEERS, 1.0) == [BY_DISTANCE[0], BY_DISTANCE[2]]
    c.mark_unsupported(BY_DISTANCE[0], 2.0)
    assert c.cached(RID, 2.0) is None
    c.mark_unreachable(b"stranger", 3.0)  # in no set: nothing else is dropped
    choose(c, PEERS, 3.0)
    c.mark_unreachable(b"stranger", 4.0)
    assert c.cached(RID, 4.0) is not None


def test_a_set_smaller_than_k_is_not_remembered() -> None:
    c = choice(k=4)
    assert choose(c, PEERS[:2], 0.0, serves=True) == closest(RID, [*PEERS[:2], ME], bytes)
    assert c.cached(RID, 0.0) is None
    assert len(choose(c, PEERS[:4], 1.0)) == 4
    assert c.cached(RID, 1.0) is not None


def test_an_incomplete_lookup_or_an_unidentified_candidate_is_not_remembered() -> None:
    c = choice(k=2)
    assert choose(c, PEERS, 0.0, complete=False) == BY_DISTANCE[:2]
    assert c.cached(RID, 0.0) is None
    # One of the 2K closest never said what it speaks: chosen from the others, not remembered.
    silent = BY_DISTANCE[3]
    assert choose(c, PEERS, 0.0, advertised=lambda p: None if p == silent else True) == BY_DISTANCE[:2]
    assert c.cached(RID, 0.0) is None


def test_with_no_registry_candidate_the_connected_peers_are_all_there_is() -> None:
    c = choice(k=3)
    connected = [PEERS[5], PEERS[6]]
    got = choose(c, [], 0.0, connected=connected, advertised=lambda p: None)
    assert got == closest(RID, connected, bytes)
    assert c.cached(RID, 0.0) is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(PEERS), max_size=30),
    st.sets(st.sampled_from(PEERS)),
    st.sets(st.sampled_from(PEERS)),
    st.integers(min_value=1, max_value=6),
    st.booleans(),
)
def test_the_choice_is_the_k_closest_eligible_candidates(
    candidates: list[bytes], unreachable: set[bytes], light: set[bytes], k: int, serves: bool
) -> None:
    c = choice(k=k)
    for peer in unreachable:
        c.mark_unreachable(peer, 0.0)
    got = choose(c, candidates, 1.0, advertised=lambda p: p not in light, serves=serves)
    eligible = [p for p in dict.fromkeys(candidates) if p not in unreachable and p not in light]
    if not eligible:
        assert got == ([ME] if serves else [])
    else:
        assert got == closest(RID, [*eligible, *([ME] if serves else [])], bytes)[:k]
    assert (c.cached(RID, 1.0) is not None) == (len(got) >= k and bool(eligible))
