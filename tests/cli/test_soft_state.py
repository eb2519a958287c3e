"""Soft state: a host killed with SIGKILL while its records have a 60 s TTL (the shortest the
protocol allows) is gone from every resolver within 60 s plus one renewal interval.

Three `registry-p2p node` processes store the records (each is in the replica set: it has 20
places); the host is a separate process that renews its records at half their TTL. It is
killed right after a renewal, the worst moment: its records then live a whole TTL more.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from .procs import NodeProc, Proc, cli_json

pytestmark = pytest.mark.timeout(300)

HOST = Path(__file__).with_name("soft_host.py")
TTL_S = 60
RENEWAL_INTERVAL_S = TTL_S / 2  # a host renews a record when half its TTL is left
RECORDS = 3


def live_records(rid: str, addr: str) -> list[dict[str, object]]:
    """What a resolve through `addr` that merges the answers of all three storing nodes returns
    (critical records included: only expiry may make these go)."""
    records: list[dict[str, object]] = cli_json("resolve", "--all", "--ack", "3", rid, bootstrap=addr)["records"]
    return records


def test_a_killed_hosts_records_are_gone_within_one_ttl_and_one_renewal_interval(tmp_path: Path) -> None:
    first = NodeProc.start(tmp_path / "a")
    others = [NodeProc.start(tmp_path / name, bootstrap=[first.addr]) for name in ("b", "c")]
    resolvers = [first, *others]
    host = Proc([str(HOST), first.addr, str(RECORDS), str(TTL_S)], program=[sys.executable])
    try:
        rid = host.json_line(lambda d: "resource_id" in d, timeout=60)["resource_id"]
        renewed = host.json_line(lambda d: "renewed" in d, timeout=RENEWAL_INTERVAL_S + 30)
        assert renewed["renewed"] >= RECORDS
        host.popen.send_signal(signal.SIGKILL)
        host.popen.wait(timeout=10)
        killed = time.monotonic()

        # Still there after the kill, with the expiry of the renewal.
        for resolver in resolvers:
            records = live_records(rid, resolver.addr)
            assert len(records) == RECORDS, f"{resolver.addr}: {records}"
        expiry_ms = max(int(str(r["expires_at_ms"])) for r in records)
        # Renewed: a full TTL from the renewal, not the half left of the first signature.
        assert expiry_ms >= int(renewed["at_ms"]) + (TTL_S - 5) * 1000

        # Polled (a resolve is a process of its own, ~1-2 s): no event announces an expiry.
        deadline = killed + TTL_S + RENEWAL_INTERVAL_S
        while live_records(rid, first.addr):
            assert time.monotonic() < deadline, "records outlived 60 s + one renewal interval after the kill"
        gone_after = time.monotonic() - killed
        assert time.time() * 1000 >= expiry_ms, "gone before the expiry its host signed"
        for resolver in others:
            assert live_records(rid, resolver.addr) == []
        expired_after = expiry_ms / 1000 - (time.time() - (time.monotonic() - killed))
        print(
            f"soft state: records expired {expired_after:.1f} s and were seen gone from every resolver"
            f" {gone_after:.1f} s after SIGKILL (TTL {TTL_S} s; each resolve is a process of its own)"
        )
        assert gone_after <= TTL_S + RENEWAL_INTERVAL_S
    finally:
        host.kill()
        for resolver in resolvers:
            resolver.stop()
