"""A node's own `[[service]]` with a tcp health check: `resolve` leaves the record out while the
check fails, `resolve --all` shows it critical, and it passes again once the service listens;
`resolve --probe` pings its host."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from .procs import NodeProc, cli, cli_json, failure_line

pytestmark = pytest.mark.timeout(180)


def test_a_configured_check_hides_a_dead_service_from_resolve_but_not_from_resolve_all(tmp_path: Path) -> None:
    service = socket.create_server(("127.0.0.1", 0))
    port = service.getsockname()[1]
    service.close()  # nothing listens: connections to the port are refused
    config = tmp_path / "node.toml"
    config.write_text(
        '[[service]]\nresource = "web"\nservice_id = "frontend"\nvalue = "http://127.0.0.1"\n'
        f'[service.check]\nkind = "tcp"\ntarget = "127.0.0.1:{port}"\ninterval_s = 1\ntimeout_s = 0.5\n'
    )
    node = NodeProc.start(tmp_path / "node", extra=["--config", str(config)])
    try:
        hosting = node.proc.json_line(lambda d: d.get("event") == "service", timeout=60)
        rid = hosting["resource_id"]
        assert (hosting["service_id"], hosting["check"]) == ("frontend", "tcp")
        # The first probe runs at once and fails: a critical re-sign follows within a second.
        while True:
            every = cli_json("resolve", "--all", rid, bootstrap=node.addr)["records"]
            if [r["health"] for r in every] == ["critical"]:
                break
        assert cli_json("resolve", rid, bootstrap=node.addr)["records"] == []
        table = cli("resolve", "--all", rid, bootstrap=node.addr)
        assert table.returncode == 0 and "critical" in table.stdout and "frontend" in table.stdout
        assert cli("resolve", rid, bootstrap=node.addr).stdout.strip() == "no records"

        with socket.create_server(("127.0.0.1", port)):
            while True:
                records = cli_json("resolve", rid, bootstrap=node.addr)["records"]
                if records:
                    break
            assert [(r["service_id"], r["health"]) for r in records] == [("frontend", "passing")]
            # --probe pings the record's host (the node) over libp2p: it answers.
            probed = cli_json("resolve", "--probe", "5", rid, bootstrap=node.addr)["records"]
            assert len(probed) == 1 and probed[0]["rtt_ms"] is not None and probed[0]["rtt_ms"] >= 0
    finally:
        node.stop()


SERVICE = '[[service]]\nresource = "web"\n'


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (
            '[service.check]\nkind = "command"\nargv = ["true"]\n',
            "service[0].check refused: command checks are disabled by this host's policy",
        ),
        (
            '[service.check]\nkind = "tcp"\ntarget = "127.0.0.1:1"\ninterval_s = 0\n',
            "service[0].check refused: check interval_s 0 s is outside [1, 86400] s",
        ),
        ('[service.check]\nkind = "tcp"\ntarget = "127.0.0.1:1"\ninterval_s = 1e9\n', "is outside [1, 86400] s"),
        ('[service.check]\nkind = "ttl"\n', "a ttl check is reported by its service (the API's PUT"),
        ('[service.check]\nkind = "tcp"\nport = 80\n', "service[0].check refused: unknown key service[0].check.port"),
        ('[service.check]\nkind = "tcp"\ntimeout_s = "2s"\n', "service[0].check.timeout_s has the wrong type"),
    ],
    ids=[
        "command while commands are disabled",
        "interval 0",
        "interval 1e9",
        "ttl check in a config",
        "unknown key",
        "wrong type",
    ],
)
def test_a_check_outside_the_host_policy_stops_the_node_at_start(tmp_path: Path, check: str, expected: str) -> None:
    config = tmp_path / "node.toml"
    config.write_text(SERVICE + check)
    line = failure_line(cli("node", "--config", str(config), "--listen", "/ip4/127.0.0.1/tcp/0", "--json"))
    assert line.startswith(f"registry-p2p: error: config file {config}: "), line
    assert expected in line, line
