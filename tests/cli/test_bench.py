"""`registry-p2p bench`: a small run prints the table and writes the JSON shape issues 6 and 13 ask for."""

from __future__ import annotations

import json
import os
import shutil
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
    "floor_open_stream",
    "floor_new_stream",
)
GO_NAMES = ("go_provide", "go_find_providers", "go_put_value", "go_get_value", "go_floor_open_stream")
GO_PEER = Path(__file__).resolve().parents[2] / "interop" / "go" / "bin" / "registry-peer-go"


def test_a_small_bench_prints_figures_and_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = cli("bench", "--nodes", "5", "--samples", "2", "--k", "3", "--processes", "--json", str(out), timeout=280)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ratios of p50" in done.stdout and "write throughput of one node" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["nodes"] == 5
    for name in NAMES:
        metric = figures["metrics"][name]
        assert metric["p50_ms"] > 0 and metric["p99_ms"] >= metric["p50_ms"], (name, metric)
    assert figures["metrics"]["write_throughput_per_s"] > 0
    for name in NAMES:
        assert figures["metrics"][name]["n"] == 2 and figures["metrics"][name]["failures"] == 0, name
    assert figures["ratios"]["resolve_warm/floor_open_stream"] > 0
    assert "p50/floor" in done.stdout and "side by side" in done.stdout
    assert any(text.startswith("warm resolve p50 <= 3x floor_open_stream") for text in figures["targets"])
    # --processes: the registry's figures again, every node a `registry-p2p node` process.
    processes = figures["processes"]
    assert processes["nodes"] == 5 and "one node per process" in done.stdout
    for name in ("register", "register_cold", "resolve_warm", "resolve_cold", "resolve_ack3", "watch_delay"):
        metric = processes["metrics"][name]
        assert metric["n"] == 2 and metric["failures"] == 0, (name, metric, processes["failure_reasons"])
        assert processes["ratios"][f"{name}/in_process_{name}"] > 0
    if shutil.which("go") is None and not GO_PEER.exists() and not os.environ.get("CI"):
        assert figures["go"] is None and figures["go_skipped"]
        pytest.skip("no go toolchain and no registry-peer-go: the go-libp2p-kad-dht half was not measured")
    # go-libp2p-kad-dht beside us: the same network size and sample count, from the same command.
    assert figures["go"]["servers"] == 5 and figures["go"]["samples"] == 2, figures["go"]
    for name in GO_NAMES:
        metric = figures["metrics"][name]
        assert metric["n"] == 2 and metric["failures"] == 0, (name, metric)
        assert metric["p50_ms"] > 0 and metric["p99_ms"] >= metric["p50_ms"], (name, metric)
    assert figures["ratios"]["resolve_cold/go_find_providers"] > 0
    assert figures["ratios"]["register_cold/go_provide"] > 0


def test_bench_renewal_prints_messages_and_bytes_per_record_per_hour() -> None:
    done = cli("bench-renewal", "--records", "1,100", "--ttl", "60", "--cycles", "1", timeout=280)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("60 ")]
    assert [row[1] for row in rows] == ["baseline", "1", "100"], done.stdout
    for row in rows:
        assert float(row[2]) > 0 and float(row[3]) > 0 and row[-1] == "100%", row
    # Batched: 100 records of a resource renew in far fewer messages than one write each.
    assert float(rows[2][6]) < 0.1, done.stdout
