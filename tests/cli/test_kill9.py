"""kill -9 in the middle of a stream of writes loses no acknowledged write.

The node is the only storage node, so an acknowledged write is one it said it committed. It is
killed (SIGKILL: no cleanup at all) while four writes are in flight, restarted on its data dir,
and asked for what it has: every acknowledged write must be there.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from .procs import NodeProc, Proc, cli, cli_json

pytestmark = pytest.mark.timeout(180)

WRITER = Path(__file__).with_name("writer.py")
KILL_AFTER_ACKS = 40
MAX_WRITES = 200  # under the 256 records one issuer may keep in a resource on a node


def test_kill_9_mid_stream_loses_no_acknowledged_write(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    node = NodeProc.start(data_dir)
    assert cli("keygen", "--key-file", str(tmp_path / "writer.key")).returncode == 0
    writer = Proc([str(WRITER), node.addr, str(tmp_path / "writer.key"), str(MAX_WRITES)], program=[sys.executable])
    acked: set[str] = set()
    try:
        rid = writer.json_line(lambda d: "resource_id" in d, timeout=60)["resource_id"]
        while len(acked) < KILL_AFTER_ACKS:
            line = writer.json_line(timeout=30)
            assert "ack" in line, f"a write failed before the kill: {line}"
            acked.add(line["ack"])
        node.proc.popen.send_signal(signal.SIGKILL)
        node.proc.popen.wait(timeout=10)
        # Writes answered before the node died still count: read on until each of the writer's
        # four tasks has seen a write fail.
        failures = 0
        while failures < 4:
            line = writer.json_line(timeout=30)
            if "fail" in line:
                failures += 1
            else:
                acked.add(line["ack"])
    finally:
        writer.kill()

    restarted = NodeProc.start(data_dir)
    try:
        assert restarted.peer_id == node.peer_id
        found = {r["service_id"] for r in cli_json("resolve", rid, bootstrap=restarted.addr)["records"]}
    finally:
        restarted.stop()
    lost = acked - found
    print(f"kill -9: {len(acked)} writes acknowledged, {len(found)} found after restart, {len(lost)} lost")
    assert not lost, f"acknowledged but lost: {sorted(lost)}"
