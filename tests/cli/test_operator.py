"""What an operator meets first, through real processes: logs (JSON, and py-libp2p's chatter kept
out of --log-level debug), /dns4/ bootstrap addresses, the metrics port's routes and gauges, shell
completion, and what `register` says about a record nobody renews."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

import registry_p2p

from .procs import CLI, NodeProc, Proc, clean_env, cli, cli_json, failure_line, scrape

pytestmark = pytest.mark.timeout(120)


@dataclass
class Net:
    node: NodeProc
    rid: str
    key: Path
    me: str  # the key's peer id


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    """A node with metrics, a resource on it and one record."""
    tmp = tmp_path_factory.mktemp("operator")
    node = NodeProc.start(tmp / "node", metrics=True)
    key = tmp / "me.key"
    me = cli_json("keygen", "--key-file", str(key))["peer_id"]
    rid = cli_json("resource", "create", "operator", "--key-file", str(key), bootstrap=node.addr)["resource_id"]
    out = cli_json("register", rid, "--value", "v", "--service-id", "svc", "--key-file", str(key), bootstrap=node.addr)
    assert out["ok"] is True
    yield Net(node, rid, key, me)
    node.stop()


def json_lines(stderr: str) -> list[dict[str, object]]:
    """Every stderr line but the final `registry-p2p: error:` one must be a JSON log object."""
    documents = []
    for line in stderr.splitlines():
        if line.startswith("registry-p2p: error:"):
            continue
        document = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(document), document
        documents.append(document)
    return documents


# ------------------------------------------------------------------------------------------ logs


def test_debug_logs_leave_py_libp2p_chatter_out_unless_asked(net: Net) -> None:
    args = ("resolve", net.rid, "--log-level", "debug", "--log-format", "json")
    quiet = cli(*args, bootstrap=net.node.addr)
    assert quiet.returncode == 0, quiet.stderr
    chatty_loggers = [
        d["logger"] for d in json_lines(quiet.stderr) if str(d["logger"]).startswith(("libp2p", "multiaddr"))
    ]
    assert chatty_loggers == []
    assert "Setting on_close" not in quiet.stderr  # py-libp2p's logging.debug(...) on the root logger
    # Asked for, py-libp2p's debug output is there, in the same JSON format.
    loud = cli(*args, "--libp2p-log-level", "debug", bootstrap=net.node.addr)
    assert loud.returncode == 0, loud.stderr
    loggers = [str(d["logger"]) for d in json_lines(loud.stderr)]
    assert sum(1 for name in loggers if name.startswith("multiaddr")) > 50
    assert any(name.startswith("libp2p") for name in loggers)
    assert len(loggers) > 10 * max(1, len(quiet.stderr.splitlines()))


def test_a_failure_logged_as_json_carries_its_traceback(net: Net) -> None:
    missing = "3pChYJdzPwaWK6URqXFc2FaQoZYWyvCodecyxDrPyjpe"
    done = cli("resource", "get", missing, "--log-level", "debug", "--log-format", "json", bootstrap=net.node.addr)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith("registry-p2p: error: resource")
    (failure,) = [d for d in json_lines(done.stderr) if d["message"] == "failure"]
    assert failure["level"] == "debug" and failure["logger"] == "registry_p2p.cli"
    assert "Traceback" in str(failure["exception"])


def test_node_logs_json_lines(tmp_path: Path) -> None:
    proc = Proc(["node", "--json", "--listen", "/ip4/127.0.0.1/tcp/0", "--log-format", "json", "--log-level", "info"])
    try:
        proc.json_line(lambda d: d.get("event") == "ready")
        warning = json.loads(proc.stderr_line("{", timeout=10))
        assert warning["level"] == "warning" and "no --data-dir" in warning["message"]
        assert warning["time"].endswith("+00:00")
    finally:
        assert proc.stop() == 0
    stopping = [json.loads(line) for line in proc.rest_of_stderr()]
    assert any(d["message"] == "received SIGTERM: stopping" for d in stopping), stopping


def test_node_takes_its_log_format_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('[node]\nlog_level = "info"\nlog_format = "json"\n')
    proc = Proc(["node", "--json", "--listen", "/ip4/127.0.0.1/tcp/0", "--config", str(config)])
    try:
        proc.json_line(lambda d: d.get("event") == "ready")
        warning = json.loads(proc.stderr_line("{", timeout=10))
        assert warning["level"] == "warning" and "no --data-dir" in warning["message"]
    finally:
        assert proc.stop() == 0


def test_a_config_files_log_format_must_be_known(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('[node]\nlog_format = "xml"\n')
    done = cli("node", "--config", str(config))
    assert done.returncode == 1
    assert "node.log_format must be one of text, json" in failure_line(done)


def test_json_formatter_keeps_extra_fields() -> None:
    import logging

    from registry_p2p.cli.logs import JsonFormatter

    record = logging.LogRecord("registry_p2p.x", logging.INFO, __file__, 1, "joined %s", ("a",), None)
    record.peer = "12D3KooW"
    document = json.loads(JsonFormatter().format(record))
    assert document["message"] == "joined a"
    assert document["peer"] == "12D3KooW"
    assert document["level"] == "info" and document["logger"] == "registry_p2p.x"


# ------------------------------------------------------------------------------------------- DNS


def test_dns4_bootstrap_address_is_resolved(net: Net) -> None:
    port, peer = net.node.addr.split("/")[4], net.node.peer_id
    records = cli_json("resolve", net.rid, "--bootstrap", f"/dns4/localhost/tcp/{port}/p2p/{peer}")["records"]
    assert [r["service_id"] for r in records] == ["svc"]


def test_unresolvable_bootstrap_name_fails_at_once_naming_it(net: Net) -> None:
    addr = f"/dns4/seed.registry-p2p.invalid/tcp/4600/p2p/{net.node.peer_id}"
    started = time.monotonic()
    done = cli("resolve", net.rid, "--bootstrap", addr, timeout=30)
    line = failure_line(done)
    assert "cannot resolve /dns4/seed.registry-p2p.invalid/tcp/4600" in line, line
    assert done.returncode == 1
    assert time.monotonic() - started < 20  # no dial timeout, no hang: the name fails at once


# --------------------------------------------------------------------------------------- metrics


def get(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    try:
        with urlopen(Request(url, method=method), timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def test_metrics_port_routes(net: Net) -> None:
    assert net.node.metrics is not None and net.node.metrics.endswith("/metrics")
    base = net.node.metrics.removesuffix("/metrics")
    status, kind, body = get(f"{base}/metrics")
    assert status == 200 and kind.startswith("text/plain") and b"registry_p2p_entries_stored" in body
    status, kind, body = get(f"{base}/health")
    assert (status, kind) == (200, "application/json")
    health = json.loads(body)
    assert health["status"] == "ok" and health["peer_id"] == net.node.peer_id
    for path in ("/", "/metricsx", "/metrics/", "/health/x", "/v1/status"):
        status, kind, body = get(base + path)
        assert (status, kind) == (404, "application/json"), path
        assert "no such path" in json.loads(body)["error"]
    assert get(f"{base}/metrics", method="POST")[0] == 405


def test_build_info_metric(net: Net) -> None:
    assert net.node.metrics is not None
    labels = {
        "libp2p": importlib.metadata.version("libp2p"),
        "python": platform.python_version(),
        "version": registry_p2p.__version__,
    }
    name = "registry_p2p_build_info{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    assert scrape(net.node.metrics)[name] == 1.0


def test_watchers_gauge_counts_a_watch_process(net: Net) -> None:
    assert net.node.metrics is not None
    remote = 'registry_p2p_watchers{where="remote"}'
    assert scrape(net.node.metrics)[remote] == 0
    watcher = Proc(["watch", net.rid, "--json"], bootstrap=net.node.addr)
    try:
        watcher.stderr_line("watching", timeout=60)
        assert until(lambda: scrape(str(net.node.metrics))[remote] == 1), scrape(str(net.node.metrics))
    finally:
        watcher.stop()
    assert until(lambda: scrape(str(net.node.metrics))[remote] == 0)


def until(condition: object, timeout: float = 10) -> bool:
    """Poll another process's state (a scrape: it has no event to wait on) until it holds."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# ------------------------------------------------------------------------------------ completion


def test_shell_completion_script_and_verb_names() -> None:
    env = clean_env()
    script = subprocess.run(
        CLI,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**env, "_REGISTRY_P2P_COMPLETE": "bash_source"},
    )
    assert script.returncode == 0, script.stderr
    assert "complete -o nosort -F _registry_p2p_completion registry-p2p" in script.stdout
    words = {**env, "_REGISTRY_P2P_COMPLETE": "bash_complete", "COMP_WORDS": "registry-p2p re", "COMP_CWORD": "1"}
    done = subprocess.run(CLI, capture_output=True, text=True, timeout=60, check=False, env=words)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["plain,register", "plain,resolve", "plain,resource", "plain,revoke"]
    words.update(COMP_WORDS="registry-p2p resolve --log-f", COMP_CWORD="2")
    done = subprocess.run(CLI, capture_output=True, text=True, timeout=60, check=False, env=words)
    assert done.stdout.split() == ["plain,--log-format"]


# -------------------------------------------------------------------------------------- register


def test_register_says_when_a_client_hosted_record_expires(net: Net) -> None:
    args = ("register", net.rid, "--value", "x", "--service-id", "short", "--ttl", "3600", "--key-file", str(net.key))
    before = int(time.time() * 1000)
    out = cli_json(*args, bootstrap=net.node.addr)
    after = int(time.time() * 1000)
    me = net.me
    assert out["ok"] is True and out["host"] == me and out["renewed_by"] is None
    assert before + 3_600_000 <= out["expires_at_ms"] <= after + 3_600_000
    done = cli(*args, bootstrap=net.node.addr)
    assert done.returncode == 0, done.stderr
    assert f"hosted by this client ({me}): nobody renews it, so it expires at " in done.stdout
    assert "(in 59m" in done.stdout or "(in 1h00m)" in done.stdout, done.stdout


def test_register_through_a_host_says_the_host_renews_it(net: Net, tmp_path: Path) -> None:
    host = net.node.peer_id  # the node's default policy is self-only: an open one is needed
    node = NodeProc.start(tmp_path / "host", bootstrap=[net.node.addr], extra=["--host-policy", "open"])
    try:
        args = ["register", net.rid, "--value", "y", "--service-id", "hosted", "--key-file", str(net.key)]
        out = cli_json(*args, "--host", node.peer_id, bootstrap=net.node.addr)
        assert out["ok"] is True and out["host"] == node.peer_id == out["renewed_by"] != host
        done = cli(*args, "--host", node.peer_id, bootstrap=net.node.addr)
        assert f"hosted by {node.peer_id}, which renews it while it runs" in done.stdout, done
    finally:
        node.stop()


def test_value_dash_reads_stdin(net: Net) -> None:
    args = ["register", net.rid, "--value", "-", "--service-id", "dash", "--key-file", str(net.key), "--json"]
    done = subprocess.run(
        [*CLI, *args],
        input=b"from stdin\xff",
        capture_output=True,
        timeout=60,
        env=clean_env(net.node.addr),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    records = cli_json("resolve", net.rid, bootstrap=net.node.addr)["records"]
    (record,) = [r for r in records if r["service_id"] == "dash"]
    import base64

    assert base64.b64decode(record["value_base64"]) == b"from stdin\xff"
