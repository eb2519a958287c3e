"""core.health: check definitions refused clearly, and the state of one check over time."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_p2p.core.health import (
    MAX_INTERVAL_S,
    MIN_INTERVAL_S,
    CheckRefused,
    CheckSpec,
    CheckState,
    HealthPolicy,
    check_spec,
)
from registry_p2p.core.model import HEALTH_CRITICAL, HEALTH_PASSING

OPEN = HealthPolicy()


@pytest.mark.parametrize(
    ("spec", "policy", "why"),
    [
        (CheckSpec("command", argv=("true",)), HealthPolicy(), "command checks are disabled"),
        (CheckSpec("command", argv=()), HealthPolicy(allow_commands=True), "needs argv"),
        (CheckSpec("tcp", "127.0.0.1:80", interval_s=0), OPEN, "interval_s 0 s is outside"),
        (CheckSpec("tcp", "127.0.0.1:80", interval_s=0.001), OPEN, "interval_s 0.001 s is outside"),
        (CheckSpec("tcp", "127.0.0.1:80", interval_s=1e9), OPEN, "interval_s 1e+09 s is outside"),
        (CheckSpec("tcp", "127.0.0.1:80", interval_s=math.nan), OPEN, "must be a number"),
        (CheckSpec("tcp", "127.0.0.1:80", interval_s=5, timeout_s=6), OPEN, "timeout_s 6 s is outside [0.05, 5]"),
        (CheckSpec("tcp", "127.0.0.1:80", timeout_s=0), OPEN, "timeout_s 0 s is outside"),
        (CheckSpec("tcp", "localhost"), OPEN, "is not host:port"),
        (CheckSpec("tcp", "localhost:99999"), OPEN, "no valid port"),
        (CheckSpec("http", "https://example.invalid/"), OPEN, "is not an http:// URL"),
        (CheckSpec("http", "ftp://x/"), OPEN, "is not an http:// URL"),
        (CheckSpec("ttl", ttl_s=0), OPEN, "ttl_s 0 s is outside"),
        (CheckSpec("ttl", ttl_s=1e7), OPEN, "ttl_s 1e+07 s is outside"),
        (CheckSpec("ttl", "127.0.0.1:1", ttl_s=10), OPEN, "has no target"),
        (CheckSpec("tcp", "127.0.0.1:80", argv=("x",)), OPEN, "takes no argv"),
        (CheckSpec("grpc", "127.0.0.1:80"), OPEN, "is not one of tcp, http, command, ttl"),
    ],
)
def test_bad_check_definitions_are_refused_saying_why(spec: CheckSpec, policy: HealthPolicy, why: str) -> None:
    with pytest.raises(CheckRefused, match=re.escape(why)):
        check_spec(spec, policy)


@pytest.mark.parametrize(
    ("spec", "policy"),
    [
        (CheckSpec("tcp", "127.0.0.1:80", interval_s=1, timeout_s=1), OPEN),
        (CheckSpec("tcp", "[::1]:8080"), OPEN),
        (CheckSpec("http", "http://127.0.0.1:8080/health?x=1"), OPEN),
        (CheckSpec("ttl", ttl_s=30), OPEN),
        (CheckSpec("command", argv=("true",)), HealthPolicy(allow_commands=True)),
    ],
)
def test_sound_definitions_are_accepted(spec: CheckSpec, policy: HealthPolicy) -> None:
    check_spec(spec, policy)


def test_a_probed_check_flips_on_each_change_only() -> None:
    state = CheckState(CheckSpec("tcp", "127.0.0.1:1", interval_s=2, timeout_s=1), now_ms=1000)
    assert state.status == HEALTH_PASSING and state.next_due_ms() == 1000  # probed at once
    assert state.on_result(True, "up", 1000) is None
    assert state.next_due_ms() == 3000
    assert state.on_result(False, "refused", 3000) == HEALTH_CRITICAL
    assert state.last_output == "refused"
    assert state.on_result(False, "refused", 5000) is None
    assert state.on_result(True, "up", 7000) == HEALTH_PASSING
    with pytest.raises(CheckRefused, match="only a ttl check takes reports"):
        state.report(True, "", 7000)


def test_a_ttl_check_turns_critical_without_a_report_and_passes_on_the_next() -> None:
    state = CheckState(CheckSpec("ttl", ttl_s=10), now_ms=0)
    assert state.next_due_ms() == 10_000
    assert state.on_deadline(9_999) is None
    assert state.report(True, "fine", 5_000) is None
    assert state.next_due_ms() == 15_000
    assert state.on_deadline(14_999) is None
    assert state.on_deadline(15_000) == HEALTH_CRITICAL
    assert state.on_deadline(25_000) is None  # still critical: no second change
    assert state.report(True, "back", 26_000) == HEALTH_PASSING
    assert state.report(False, "degraded", 27_000) == HEALTH_CRITICAL


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_every_interval_is_either_in_range_or_refused(interval: float) -> None:
    spec = CheckSpec("tcp", "127.0.0.1:80", interval_s=interval, timeout_s=MIN_INTERVAL_S)
    inside = math.isfinite(interval) and MIN_INTERVAL_S <= interval <= MAX_INTERVAL_S
    if inside:
        check_spec(spec, OPEN)
    else:
        with pytest.raises(CheckRefused):
            check_spec(spec, OPEN)


def test_spec_from_mapping_reads_toml_and_json_alike_and_names_the_bad_key() -> None:
    from registry_p2p.core.health import spec_from_mapping

    spec = spec_from_mapping({"kind": "tcp", "target": "127.0.0.1:80", "interval_s": 5, "timeout_s": 0.5})
    assert spec == CheckSpec(kind="tcp", target="127.0.0.1:80", interval_s=5.0, timeout_s=0.5)
    assert spec_from_mapping({"kind": "ttl", "ttl_s": 30}) == CheckSpec(kind="ttl", ttl_s=30.0)
    assert spec_from_mapping({"kind": "command", "argv": ["true"]}).argv == ("true",)
    for fields, text in (
        ({"kind": "tcp", "port": 80}, "unknown key check.port"),
        ({"kind": "tcp", "interval_s": "5"}, "check.interval_s has the wrong type"),
        ({"kind": "tcp", "interval_s": True}, "check.interval_s has the wrong type"),
        ({"kind": 1}, "check.kind has the wrong type"),
        ({"kind": "command", "argv": ["a", 1]}, "check.argv must be a list of strings"),
    ):
        with pytest.raises(CheckRefused, match=re.escape(text)):
            spec_from_mapping(fields)
