"""PublishPacer: never more than the budget per topic in any second; nothing offered is lost."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from registry_p2p.core.pacing import WINDOW_S, PublishPacer, budget_under


def drive(
    pacer: PublishPacer[str], offers: list[tuple[float, str, int]], until: float
) -> list[tuple[float, str, list[bytes]]]:
    """Run a fake clock: offers at their times, a publish of everything ready at each wake-up."""
    published: list[tuple[float, str, list[bytes]]] = []
    pending = sorted(offers)
    now = 0.0
    counter = 0
    while now <= until:
        while pending and pending[0][0] <= now:
            _, key, count = pending.pop(0)
            raws = [f"{key}-{counter + i}".encode() for i in range(count)]
            counter += count
            pacer.offer(key, raws)
        for key in pacer.ready(now):
            raws = pacer.take(key)
            pacer.sent(key, now)
            published.append((now, key, raws))
        ready_at = pacer.next_ready_at(now)
        candidates = [t for t in (ready_at, pending[0][0] if pending else None) if t is not None]
        if not candidates:
            break
        now = max(min(candidates), now + 1e-6) if min(candidates) <= now else min(candidates)
    return published


def test_first_messages_leave_at_once_then_the_rest_waits_and_leaves_together() -> None:
    pacer: PublishPacer[str] = PublishPacer(per_window=2)
    published = drive(pacer, [(0.0, "t", 1), (0.1, "t", 1), (0.2, "t", 1), (0.3, "t", 5)], until=10)
    times = [round(t, 3) for t, _, _ in published]
    assert times == [0.0, 0.1, 1.0]
    assert len(published[2][2]) == 6, "the held entries leave as one message"


def test_topics_have_separate_budgets() -> None:
    pacer: PublishPacer[str] = PublishPacer(per_window=1)
    published = drive(pacer, [(0.0, "a", 1), (0.0, "b", 1), (0.1, "a", 1)], until=10)
    assert [(round(t, 3), k) for t, k, _ in published] == [(0.0, "a"), (0.0, "b"), (1.0, "a")]


def test_unlimited_pacer_publishes_everything_at_once() -> None:
    pacer: PublishPacer[str] = PublishPacer(per_window=None)
    pacer.offer("t", [b"1"])
    pacer.offer("t", [b"2"])
    assert pacer.next_ready_at(5.0) == 5.0
    assert pacer.ready(5.0) == ["t"] and pacer.take("t") == [b"1", b"2"]
    assert pacer.next_ready_at(5.0) is None


def test_forget_idle_keeps_history_inside_the_window() -> None:
    pacer: PublishPacer[str] = PublishPacer(per_window=1)
    pacer.sent("t", 0.0)
    pacer.forget_idle(0.5)
    pacer.offer("t", [b"x"])
    assert pacer.next_ready_at(0.5) == WINDOW_S
    pacer.take("t")
    pacer.forget_idle(2.0)
    assert pacer.next_ready_at(2.0) is None


def test_budget_is_half_the_limit_and_at_least_one() -> None:
    assert budget_under(None) is None
    assert budget_under(10.0) == 5
    assert budget_under(1.0) == 1


@settings(max_examples=200, deadline=None)
@given(
    per_window=st.integers(min_value=1, max_value=6),
    offers=st.lists(
        st.tuples(st.floats(min_value=0, max_value=5, allow_nan=False), st.sampled_from("abc"), st.integers(1, 4)),
        max_size=60,
    ),
)
def test_never_over_budget_and_nothing_lost_or_reordered(per_window: int, offers: list[tuple[float, str, int]]) -> None:
    pacer: PublishPacer[str] = PublishPacer(per_window)
    published = drive(pacer, offers, until=100)
    for key in "abc":
        times = [t for t, k, _ in published if k == key]
        for i, start in enumerate(times):
            in_window = [t for t in times[i:] if t < start + WINDOW_S]
            assert len(in_window) <= per_window
        sent = [raw for _, k, raws in published if k == key for raw in raws]
        offered = sum(count for _, k, count in offers if k == key)
        assert len(sent) == offered
        assert sent == sorted(sent, key=lambda raw: int(raw.split(b"-")[1]))
