"""`registry-p2p testnet`: N nodes in one process that clients can join; and the demo `make demo` runs."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from .procs import Proc, cli, cli_json

pytestmark = pytest.mark.timeout(120)


def test_testnet_serves_clients_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    net = Proc(["testnet", "--nodes", "3", "--json"])
    try:
        ready = net.json_line(lambda d: d.get("event") == "ready", timeout=60)
        assert len(ready["nodes"]) == 3
        assert ready["bootstrap"] == ready["nodes"][0]["addrs"][0]
        key = str(tmp_path / "me.key")
        assert cli("keygen", "--key-file", key).returncode == 0
        rid = cli_json("resource", "create", "on-testnet", "--key-file", key, bootstrap=ready["bootstrap"])
        assert cli_json("resolve", rid["resource_id"], bootstrap=ready["bootstrap"]) == {"records": []}
        assert net.stop(signal.SIGINT) == 0
    finally:
        net.kill()


def test_demo_registers_stops_a_third_and_loses_nothing() -> None:
    started = time.monotonic()
    done = cli("testnet", "--demo", timeout=90)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "3 workers register the service echo" in out
    assert "stopping 3 of 9 nodes" in out
    assert "before the stop: 3 records; after stopping 3 of 9 nodes: 3 — nothing lost" in out
    assert took < 60, f"the demo took {took:.0f} s"
