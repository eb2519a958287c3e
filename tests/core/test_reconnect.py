"""The bootstrap schedule: retries with backoff while cut off, prompt again once connected."""

from __future__ import annotations

import pytest

from registry_p2p.core.reconnect import BootstrapSchedule


def test_connected_enough_or_to_a_bootstrap_peer_is_never_due() -> None:
    s = BootstrapSchedule(min_peers=4)
    assert not s.due(0.0, connected=4, bootstrap_connected=0)
    assert not s.due(0.0, connected=1, bootstrap_connected=1)
    assert s.due(0.0, connected=3, bootstrap_connected=0)


def test_backs_off_while_unreachable_up_to_the_cap() -> None:
    s = BootstrapSchedule(min_peers=1, first_delay_s=1.0, max_delay_s=8.0)
    now, gaps = 0.0, []
    for _ in range(6):
        assert s.due(now, 0, 0)
        s.attempted(now, reached=False)
        wait = s.next_check_in(now)
        assert not s.due(now + wait - 0.001, 0, 0)
        gaps.append(wait)
        now += wait
    assert gaps == [2.0, 4.0, 8.0, 8.0, 8.0, 8.0]


def test_a_success_resets_the_backoff() -> None:
    s = BootstrapSchedule(min_peers=1, first_delay_s=1.0, max_delay_s=30.0)
    for t in range(4):
        s.attempted(float(t), reached=False)
    s.attempted(100.0, reached=True)
    assert s.next_check_in(100.0) == 1.0
    assert s.due(101.0, 0, 0)


def test_nothing_due_sleeps_the_first_delay() -> None:
    s = BootstrapSchedule(first_delay_s=0.5)
    assert s.next_check_in(10.0) == 0.5


def test_bad_delays_are_refused() -> None:
    with pytest.raises(ValueError):
        BootstrapSchedule(first_delay_s=0)
    with pytest.raises(ValueError):
        BootstrapSchedule(first_delay_s=5, max_delay_s=1)
