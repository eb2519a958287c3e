"""`registry-p2p bench`: a small run prints the table and writes the JSON shape issue 6 asks for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .procs import cli

pytestmark = pytest.mark.timeout(300)

NAMES = (
    "register",
    "resolve_warm",
    "resolve_cold",
    "resolve_ack3",
    "watch_delay",
    "provide",
    "find_providers",
    "put_value",
    "get_value",
)


def test_a_small_bench_prints_figures_and_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = cli("bench", "--nodes", "5", "--samples", "2", "--k", "3", "--json", str(out), timeout=280)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ratios of p50" in done.stdout and "write throughput of one node" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["nodes"] == 5
    for name in NAMES:
        metric = figures["metrics"][name]
        assert metric["p50_ms"] > 0 and metric["p99_ms"] >= metric["p50_ms"], (name, metric)
    assert figures["metrics"]["write_throughput_per_s"] > 0


def test_bench_renewal_prints_messages_and_bytes_per_record_per_hour() -> None:
    done = cli("bench-renewal", "--records", "1,100", "--ttl", "60", "--cycles", "1", timeout=280)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("60 ")]
    assert [row[1] for row in rows] == ["baseline", "1", "100"], done.stdout
    for row in rows:
        assert float(row[2]) > 0 and float(row[3]) > 0 and row[-1] == "100%", row
    # Batched: 100 records of a resource renew in far fewer messages than one write each.
    assert float(rows[2][6]) < 0.1, done.stdout
