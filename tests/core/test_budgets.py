"""Budgets: streams and bytes of frames still arriving (per peer and in total), token buckets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from registry_p2p.core.budgets import StreamBudgets, StreamCounts, TokenBuckets
from registry_p2p.core.limits import Limits

LIMITS = Limits(
    max_streams_per_peer=2, max_streams_total=3, max_partial_bytes_per_peer=100, max_partial_bytes_total=150
)


def test_streams_per_peer_and_in_total() -> None:
    budgets = StreamBudgets(LIMITS)
    assert budgets.open_stream(b"a") is None and budgets.open_stream(b"a") is None
    assert "peer holds 2" in (budgets.open_stream(b"a") or "")
    assert budgets.open_stream(b"b") is None
    assert "node holds 3" in (budgets.open_stream(b"c") or "")
    budgets.close_stream(b"a")
    assert budgets.open_stream(b"c") is None
    budgets.close_stream(b"zz")  # never opened: nothing to release
    assert budgets.streams_total == 3


def test_bytes_per_peer_and_in_total() -> None:
    budgets = StreamBudgets(LIMITS)
    assert budgets.reserve(b"a", 100) and not budgets.reserve(b"a", 1)
    assert budgets.reserve(b"b", 50) and not budgets.reserve(b"c", 1)
    budgets.release(b"a", 100)
    assert budgets.reserve(b"c", 100) and budgets.bytes_total == 150
    budgets.release(b"c", 1000)  # releasing more than held releases what is held
    assert budgets.bytes_of(b"c") == 0 and budgets.bytes_total == 50


@given(st.lists(st.tuples(st.sampled_from([b"a", b"b", b"c"]), st.booleans(), st.integers(0, 120)), max_size=80))
def test_totals_never_exceed_limits_and_always_equal_the_sum(ops: list[tuple[bytes, bool, int]]) -> None:
    budgets = StreamBudgets(LIMITS)
    for peer, take, size in ops:
        if take:
            budgets.open_stream(peer)
            budgets.reserve(peer, size)
        else:
            budgets.close_stream(peer)
            budgets.release(peer, size)
        peers = (b"a", b"b", b"c")
        assert budgets.streams_total == sum(budgets.streams_of(p) for p in peers) <= 3
        assert budgets.bytes_total == sum(budgets.bytes_of(p) for p in peers) <= 150
        assert all(budgets.streams_of(p) <= 2 and budgets.bytes_of(p) <= 100 for p in peers)


def test_stream_counts_name_what_they_count_and_free_places_on_close() -> None:
    counts = StreamCounts(per_peer=1, total=2, what="inbound streams")
    assert counts.open_stream(b"a") is None
    assert counts.open_stream(b"a") == "peer holds 1 inbound streams (limit 1)"
    assert counts.open_stream(b"b") is None
    assert counts.open_stream(b"c") == "node holds 2 inbound streams (limit 2)"
    counts.close_stream(b"a")
    assert counts.streams_of(b"a") == 0 and counts.open_stream(b"c") is None


def test_token_buckets_spend_a_burst_then_refill_at_their_rate() -> None:
    buckets = TokenBuckets[str](rate=2.0, burst=3)
    assert [buckets.take("a", 10.0) for _ in range(4)] == [True, True, True, False]
    assert buckets.take("b", 10.0)  # one bucket per key
    assert not buckets.take("a", 10.4)  # a refusal takes nothing
    assert buckets.take("a", 10.5) and not buckets.take("a", 10.5)
    assert buckets.take("a", 12.0, cost=3.0)  # never more than the burst, however long it waited
    assert not buckets.take("a", 100.0, cost=3.5)


def test_a_clock_stepping_back_adds_no_tokens() -> None:
    buckets = TokenBuckets[str](rate=1.0, burst=1)
    assert buckets.take("a", 50.0)
    assert not buckets.take("a", 20.0)
    assert not buckets.take("a", 20.5)
    assert buckets.take("a", 21.0)


@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0, 5), st.floats(0.1, 2)), max_size=60))
def test_token_buckets_never_allow_more_than_burst_plus_rate_times_time(
    steps: list[tuple[int, float, float]],
) -> None:
    rate, burst = 1.5, 4
    buckets = TokenBuckets[int](rate, burst)
    now = 0.0
    spent: dict[int, float] = {}
    for key, advance, cost in steps:
        now += advance
        if buckets.take(key, now, cost):
            spent[key] = spent.get(key, 0.0) + cost
    for total in spent.values():
        assert total <= burst + rate * now + 1e-9


def test_a_key_forgotten_by_the_lru_comes_back_full() -> None:
    buckets = TokenBuckets[int](rate=0.001, burst=1, max_keys=2)
    assert buckets.take(1, 0.0) and not buckets.take(1, 0.0)
    buckets.take(2, 0.0)
    buckets.take(3, 0.0)  # 1 is the least recently used: forgotten
    assert buckets.take(1, 0.0)
