"""keygen and id: identities are created private, never overwritten, and shown consistently."""

from __future__ import annotations

import stat
from pathlib import Path

from .procs import cli, cli_json, failure_line


def test_keygen_and_id(tmp_path: Path) -> None:
    made = cli_json("keygen", "--data-dir", str(tmp_path / "me"))
    assert stat.S_IMODE((tmp_path / "me").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "me" / "identity.key").stat().st_mode) == 0o600
    assert cli_json("id", "--data-dir", str(tmp_path / "me")) == {"peer_id": made["peer_id"], "addrs": []}
    again = failure_line(cli("keygen", "--data-dir", str(tmp_path / "me"), "--json"))
    assert "already exists" in again

    key = cli_json("keygen", "--key-file", str(tmp_path / "other.key"))
    assert stat.S_IMODE((tmp_path / "other.key").stat().st_mode) == 0o600
    assert key["peer_id"] != made["peer_id"]
    shown = cli("id", "--key-file", str(tmp_path / "other.key"))
    assert shown.returncode == 0 and key["peer_id"] in shown.stdout

    rid = cli_json("resource", "id", "echo", "--owner", made["peer_id"])
    assert rid == cli_json("resource", "id", "echo", "--data-dir", str(tmp_path / "me"))
