"""The operator's scenario, every step a real `registry-p2p` process: a bootstrap node and two
more, clients that create, register, resolve, watch and unregister, and a restart of the
bootstrap node on its data dir. The three nodes are shared by the tests of this module."""

from __future__ import annotations

import signal
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .procs import NodeProc, Proc, cli, cli_json, scrape

pytestmark = pytest.mark.timeout(180)


@dataclass
class Net:
    a: NodeProc  # the bootstrap node, with metrics
    b: NodeProc
    c: NodeProc
    me: Path  # the client's data dir (its identity)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    base = tmp_path_factory.mktemp("net")
    keygen = Proc(["keygen", "--data-dir", str(base / "me"), "--json"])
    a = NodeProc.start(base / "a", metrics=True)
    launched = [NodeProc.launch(base / name, bootstrap=[a.addr]) for name in ("b", "c")]
    b, c = (NodeProc.ready(proc, base / name) for proc, name in zip(launched, ("b", "c"), strict=True))
    assert keygen.popen.wait(timeout=30) == 0
    network = Net(a, b, c, base / "me")
    yield network
    for node in (network.a, network.b, network.c):
        node.proc.kill()


def test_node_data_dir_is_private(net: Net) -> None:
    assert stat.S_IMODE(net.a.data_dir.stat().st_mode) == 0o700
    files = list(net.a.data_dir.iterdir())
    assert {"identity.key", "registry.sqlite"} <= {f.name for f in files}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_id_shows_the_running_node(net: Net) -> None:
    shown = cli_json("id", "--data-dir", str(net.a.data_dir))
    assert shown == {"peer_id": net.a.peer_id, "addrs": [net.a.addr]}


def test_watch_prints_the_registration(net: Net) -> None:
    me = ["--data-dir", str(net.me)]
    rid = cli_json("resource", "create", "watched", *me, bootstrap=net.a.addr)["resource_id"]
    watcher = Proc(["watch", rid, "--json"], bootstrap=net.b.addr)
    try:
        watcher.stderr_line("watching", timeout=30)
        out = cli_json(
            "register", rid, "--value", "tcp://10.0.0.7:7", "--service-id", "echo", *me, bootstrap=net.c.addr
        )
        assert out["ok"] is True
        event = watcher.json_line(lambda e: e["service_id"] == "echo", timeout=15)
        assert event["kind"] == "registered"
        assert event["record"]["value_text"] == "tcp://10.0.0.7:7"
        assert watcher.stop(signal.SIGINT) == 130  # Ctrl-C: interrupted
    finally:
        watcher.kill()


def test_metrics_scrape_shows_counters_moving(net: Net) -> None:
    assert net.a.metrics is not None
    before = scrape(net.a.metrics)
    me = ["--data-dir", str(net.me)]
    rid = cli_json("resource", "create", "metered", *me, bootstrap=net.a.addr)["resource_id"]
    for service in ("one", "two"):
        assert cli_json("register", rid, "--value", service, "--service-id", service, *me, bootstrap=net.a.addr)["ok"]
    table = cli("resolve", rid, "--ack", "3", bootstrap=net.a.addr)  # all three replicas; no --json: a table
    assert table.returncode == 0, table.stderr
    assert "service" in table.stdout and "one" in table.stdout and "two" in table.stdout
    after = scrape(net.a.metrics)

    def moved(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    # Every replica (K=20 > 3 nodes) stores both records before `register` returns.
    assert moved('registry_p2p_requests_total{status="OK",type="put_entries"}') >= 2
    assert moved('registry_p2p_requests_total{status="OK",type="put_resource"}') >= 1
    assert moved('registry_p2p_requests_total{status="OK",type="get_entries"}') >= 1
    assert moved('registry_p2p_request_seconds_count{type="get_entries"}') >= 1
    assert moved('registry_p2p_request_seconds_count{type="put_entries"}') >= 2
    assert moved('registry_p2p_entries_stored{kind="records"}') >= 2
    assert moved('registry_p2p_entries_stored{kind="resources"}') >= 1
    assert after["registry_p2p_connected_peers"] >= 2
    assert after["process_resident_memory_bytes"] > 0


def test_owner_approved_resource_grant_and_revoke(net: Net, tmp_path: Path) -> None:
    me = ["--data-dir", str(net.me)]
    member = ["--data-dir", str(tmp_path / "member")]
    assert cli("keygen", *member).returncode == 0
    member_id = cli_json("id", *member)["peer_id"]
    rid = cli_json("resource", "create", "fleet", "--policy", "owner-approved", *me, bootstrap=net.a.addr)[
        "resource_id"
    ]
    refused = cli("register", rid, "--value", "v", "--service-id", "web/1", "--ack", "2", *member, bootstrap=net.b.addr)
    assert refused.returncode != 0 and "NOT_AUTHORIZED" in refused.stderr, refused.stderr
    granted = cli_json(
        "grant", rid, member_id, "--service-prefix", "web/", "--expires", "1h", "--ack", "2", *me, bootstrap=net.a.addr
    )
    assert granted["ok"] is True, granted
    written = cli_json(
        "register", rid, "--value", "v", "--service-id", "web/1", "--ack", "2", *member, bootstrap=net.b.addr
    )
    assert written["ok"] is True, written
    # The grant was stored by 2 of the 3 replicas: a read of 2 meets at least one of them.
    shown = cli_json("resource", "get", rid, "--ack", "2", bootstrap=net.c.addr)
    assert shown["policy"] == "owner-approved"
    (grant,) = shown["grants"]
    assert (grant["grantee"], grant["service_prefix"], grant["revoked"]) == (member_id, "web/", False)
    assert grant["expires_at_ms"] > grant["issued_at_ms"]
    text = cli("resource", "get", rid, "--ack", "2", bootstrap=net.c.addr).stdout
    assert "policy  owner-approved" in text and f"grant   {member_id} service ids 'web/'" in text, text
    assert cli_json("revoke", rid, member_id, "--ack", "2", *me, bootstrap=net.a.addr)["ok"] is True
    assert cli_json("resolve", rid, "--ack", "2", bootstrap=net.c.addr) == {"records": []}
    after = cli_json("resource", "get", rid, "--ack", "2", bootstrap=net.c.addr)
    assert [g["revoked"] for g in after["grants"]] == [True]


def test_create_register_resolve_restart_unregister(net: Net) -> None:
    """The issue's scenario; it restarts the bootstrap node, so it runs last."""
    me = ["--data-dir", str(net.me)]
    created = cli_json("resource", "create", "echo-service", *me, bootstrap=net.a.addr)
    rid = created["resource_id"]
    assert cli_json("resource", "id", "echo-service", *me) == created
    written = cli_json(
        "register", rid, "--value", "hello", "--service-id", "echo", "--ack", "2", *me, bootstrap=net.a.addr
    )
    # `errors` may name a replica whose stream failed while two others stored it (py-libp2p's connection race
    # on a fresh client, see tests/net/test_open_stream.py): informational, the write is acknowledged.
    assert written["ok"] is True and written["acks"] >= 2, written
    assert all(isinstance(reason, str) and reason for reason in written["errors"].values()), written

    # Reads after a write made through another node merge two replicas (see the end of this test).
    records = cli_json("resolve", rid, "--ack", "2", bootstrap=net.b.addr)["records"]
    assert len(records) == 1
    record = records[0]
    assert (record["resource_id"], record["service_id"], record["value_text"]) == (rid, "echo", "hello")
    assert record["value_base64"] == "aGVsbG8="
    assert record["issuer"] == record["host"]
    assert record["expires_at_ms"] > record["issued_at_ms"]

    # Restart the bootstrap node on its data dir (and port): same identity, entries kept.
    assert net.a.stop(signal.SIGTERM) == 0
    port = net.a.addr.split("/")[4]
    proc = NodeProc.launch(net.a.data_dir, bootstrap=[net.b.addr], listen=f"/ip4/127.0.0.1/tcp/{port}", metrics=True)
    net.a = NodeProc.ready(proc, net.a.data_dir)
    assert net.a.addr.endswith(f"/tcp/{port}/p2p/{net.a.peer_id}")
    # Counted from its store as it starts: what it kept on disk (and re-announces).
    restored = net.a.proc.json_line(lambda d: d.get("event") == "restored", timeout=30)
    assert restored["resources"] >= 1 and restored["records"] >= 1

    records = cli_json("resolve", rid, "--ack", "2", bootstrap=net.a.addr)["records"]
    assert [(r["service_id"], r["value_text"]) for r in records] == [("echo", "hello")]

    out = cli_json("unregister", rid, "--service-id", "echo", "--ack", "2", *me, bootstrap=net.a.addr)
    assert out["ok"] is True
    assert cli_json("resolve", rid, "--ack", "2", bootstrap=net.a.addr) == {"records": []}, out
    # Writes and reads through different nodes use quorums of the three replicas (2 + 2 > 3), so
    # every read meets the latest write. An ack-1 read answered by one replica alone can be older
    # than a write made through another node: a fresh client can miss a replica it has not
    # identified yet (seen in CI, three times in ~15 runs; open in the session note), and then
    # only anti-entropy brings that replica the write. That is what ack 1 promises.
    assert cli_json("resolve", rid, "--ack", "2", bootstrap=net.c.addr) == {"records": []}, out
