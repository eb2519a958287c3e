"""`python -m registry_p2p.tools.attacks`: two of the attacks in their quick sizes against a real
node process, so the command cannot rot. Timing is only reported (this machine is noisy): the
test asserts what the tool reports about records and memory."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .procs import clean_env

pytestmark = pytest.mark.timeout(300)


def test_quick_attacks_leave_every_honest_record_and_bounded_memory() -> None:
    args = ["--quick", "--only", "free_identities", "--only", "partial_frames", "--json", "-"]
    done = subprocess.run(
        [sys.executable, "-m", "registry_p2p.tools.attacks", *args],
        capture_output=True,
        text=True,
        timeout=280,
        env=clean_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    rows = {row["attack"]: row for row in report["attacks"]}
    assert set(rows) == {"free_identities", "partial_frames"}
    for row in rows.values():
        assert row["honest_all_resolve"], row
        assert row["resolve_ms"]["during"]["n"] > 0, row
        assert "failed" not in row["result"], row
        assert row["cost"]["attacker_cpu_s"] >= 0 and row["cost"]["victim_cpu_s"] >= 0, row
    # The flood reached the per-resource cap: incumbents kept their place, newcomers were refused.
    assert rows["free_identities"]["refused"] > 0, rows["free_identities"]
    # 3 peers x 4 streams of ~1 MiB partial frames: at most 2 MiB per peer are held, and the
    # victim's RSS grows by far less than the 12 MiB sent.
    frames = rows["partial_frames"]
    assert frames["held"] <= 2 * 3, frames
    rss = frames["victim_rss_mib"]
    assert rss["peak"] - rss["before"] < 12, rss
