"""The HTTP API through real `registry-p2p node --api` processes: every route, the OpenAPI document
against the routes served, the token, bad input, the SSE watch across nodes, the CLI on the API,
and the Node.js example. Two nodes (A, and B joined through A) are shared by the module."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import shutil
import signal
import stat
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from ..cli.procs import LOOPBACK, NodeProc, Proc, cli, failure_line

pytestmark = pytest.mark.timeout(180)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class Api:
    node: NodeProc
    url: str
    token: str

    def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = "", raw: bytes | None = None
    ) -> tuple[int, Any]:
        """(status, JSON answer); token "" means this node's token, None none at all."""
        parsed = urllib.parse.urlsplit(self.url)
        headers = {"Content-Type": "application/json"}
        given = self.token if token == "" else token
        if given is not None:
            headers["Authorization"] = f"Bearer {given}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        assert "Traceback" not in text
        assert response.getheader("content-type", "").startswith("application/json"), (response.status, text)
        return response.status, json.loads(text)


class Watch:
    """GET …/watch read in a thread: (event name, data, arrival time) queued as they come."""

    def __init__(self, api: Api, rid: str) -> None:
        parsed = urllib.parse.urlsplit(api.url)
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        self.connection.request("GET", f"/v1/resources/{rid}/watch")
        self.response = self.connection.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("content-type", "").startswith("text/event-stream")
        self.events: queue.Queue[tuple[str, Any, float]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        name, data = "message", []
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if not line:
                    if data:
                        self.events.put((name, json.loads("\n".join(data)), time.monotonic()))
                    name, data = "message", []
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
        except (OSError, ValueError, AttributeError):  # closed by close() (http.client drops its file)
            pass

    def next(self, name: str, timeout: float = 30, **match: Any) -> tuple[Any, float]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                kind, data, at = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {name} event {match} within {timeout} s") from None
            if kind == name and all(data.get(k) == v for k, v in match.items()):
                return data, at

    def close(self) -> None:
        self.connection.close()


@dataclass
class Net:
    a: Api
    b: Api
    rid: str  # a resource owned by A


def _api(node: NodeProc) -> Api:
    assert node.api is not None and node.api.startswith("http://127.0.0.1:")
    return Api(node, node.api, (node.data_dir / "api.token").read_text().strip())


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    base = tmp_path_factory.mktemp("api")
    a = NodeProc.start(base / "a", extra=["--api", "127.0.0.1:0"])
    b = NodeProc.start(base / "b", bootstrap=[a.addr], extra=["--api", ":0"])  # HOST defaults to 127.0.0.1
    try:
        api_a = _api(a)
        status, created = api_a.call("POST", "/v1/resources", {"label": "shared"})
        assert status == 201, created
        yield Net(api_a, _api(b), created["resource_id"])
    finally:
        for node in (a, b):
            node.proc.kill()


def test_token_file_and_api_address_are_in_the_data_dir(net: Net) -> None:
    data_dir = net.a.node.data_dir
    assert stat.S_IMODE((data_dir / "api.token").stat().st_mode) == 0o600
    assert len(net.a.token) == 64
    assert json.loads((data_dir / "api.json").read_text())["url"] == net.a.url


def test_every_route_answers_in_the_cli_json_shapes(net: Net) -> None:
    a, b, rid = net.a, net.b, net.rid
    assert a.call("GET", "/health") == (200, {"status": "ok", "peer_id": a.node.peer_id, "peers": 1})
    status, resource = b.call("GET", f"/v1/resources/{rid}?ack=2")
    assert status == 200 and resource["label"] == "shared" and resource["owner"] == a.node.peer_id
    assert set(resource) == {"resource_id", "label", "owner", "created_at_ms", "policy", "grants"}
    assert resource["policy"] == "open" and resource["grants"] == []

    status, written = b.call("POST", f"/v1/resources/{rid}/records", {"value": "http://b:80", "service_id": "web"})
    assert status == 200 and written["ok"] and written["acks"] >= 1, written
    assert set(written) == {"ok", "acks", "errors", "replicas"}
    status, found = a.call("GET", f"/v1/resources/{rid}/records?ack=2")
    assert status == 200, found
    (record,) = [r for r in found["records"] if r["service_id"] == "web"]
    assert record["value_text"] == "http://b:80" and record["issuer"] == record["host"] == b.node.peer_id
    assert record["addrs"] and all("/tcp/" in addr for addr in record["addrs"])  # the node's, dialable

    # B holds the record it registered (so it renews it and re-announces it after a restart).
    status, held = b.call("GET", "/v1/status")
    assert status == 200 and held["peer_id"] == b.node.peer_id and held["addrs"] == [b.node.addr]
    assert [p["peer_id"] for p in held["peers"]] == [a.node.peer_id]
    (mine,) = [r for r in held["resources"] if r["resource_id"] == rid]
    assert mine["record_count"] >= 1 and any(r["host"] == b.node.peer_id for r in mine["records"])
    assert set(mine["replicas"]) <= {a.node.peer_id, b.node.peer_id} and mine["replicas"]
    status, peers = a.call("GET", "/v1/peers")
    assert status == 200 and peers["peers"][0]["peer_id"] == b.node.peer_id

    status, removed = b.call("DELETE", f"/v1/resources/{rid}/records?service_id=web&ack=1")
    assert status == 200 and removed["ok"], removed
    status, found = b.call("GET", f"/v1/resources/{rid}/records")
    assert status == 200 and not [r for r in found["records"] if r["service_id"] == "web"]


def test_openapi_document_names_exactly_the_routes_served(net: Net) -> None:
    from registry_p2p.api.server import Api as ServerApi

    status, document = net.a.call("GET", "/v1/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    app = ServerApi(None, None).app()  # type: ignore[arg-type]  # only the routing table is read
    served = {(r.path, m) for r in app.routes for m in getattr(r, "methods", ()) if m != "HEAD"}
    assert documented == served
    # ...and the node behind them answers each one (no route-level 404 or 405).
    for path, method in sorted(documented):
        concrete = path.replace("{resource_id}", net.rid)
        if path.endswith("/watch"):
            Watch(net.a, net.rid).close()
            continue
        if path.startswith("/ui"):
            with urllib.request.urlopen(net.a.url + path, timeout=30) as page:
                assert page.status == 200 and page.headers["content-type"].startswith(("text/html", "text/javascript"))
            continue
        status, answer = net.a.call(method, concrete, {} if method in ("POST", "PUT") else None, token=None)
        if path.endswith("/check") and method == "GET":  # the route answers: A checks no service of it
            assert status == 404 and answer["error"]["status"] == "UNKNOWN_RESOURCE", answer
            continue
        assert status in ((401,) if method in ("POST", "DELETE", "PUT") else (200,)), (method, path, answer)


def test_writes_need_the_token(net: Net) -> None:
    rid = net.rid
    for token in (None, "not-the-token"):
        for method, path, body in (
            ("POST", "/v1/resources", {"label": "x"}),
            ("POST", f"/v1/resources/{rid}/records", {"value": "v"}),
            ("DELETE", f"/v1/resources/{rid}/records", None),
        ):
            status, answer = net.a.call(method, path, body, token=token)
            assert status == 401 and answer["error"]["status"] == "UNAUTHORIZED", (method, path, answer)
    assert net.a.call("GET", f"/v1/resources/{rid}/records", token=None)[0] == 200  # reads need none


@pytest.mark.parametrize(
    ("method", "path", "raw", "expected"),
    [
        ("POST", "/v1/resources", b"{not json", 400),
        ("POST", "/v1/resources", b"[1, 2]", 400),
        ("POST", "/v1/resources", b'{"label": 5}', 400),
        ("POST", "/v1/resources", b"\xff\xfe", 400),
        ("POST", "/v1/resources", b'{"label": "' + b"x" * 70_000 + b'"}', 413),
        ("GET", "/v1/resources/not-an-id", None, 400),
        ("GET", "/v1/resources/not-an-id/records", None, 400),
        ("GET", "/v1/resources/RID/records?ack=0", None, 400),
        ("GET", "/v1/resources/RID/records?ack=x", None, 400),
        ("GET", "/v1/resources/RID?ack=0", None, 400),
        ("GET", "/v1/resources/2YbWhFpqBEJ8bPh6CoQFrhQh3jfJzHpXFK5sJGsBN8Rq", None, 404),
        ("POST", "/v1/resources/RID/records", b"{}", 400),
        ("POST", "/v1/resources/RID/records", b'{"value": "a", "value_base64": "YQ=="}', 400),
        ("POST", "/v1/resources/RID/records", b'{"value_base64": "not base64!"}', 400),
        ("POST", "/v1/resources/RID/records", b'{"value": "v", "ttl": 0}', 400),
        ("POST", "/v1/resources/RID/records", b'{"value": "v", "ack": "many"}', 400),
        ("POST", "/v1/resources/RID/records", b'{"value": "' + b"v" * 5000 + b'"}', 413),
        ("POST", "/v1/resources/RID/records", b'{"value": "v", "host": "nobody"}', 400),
        ("GET", "/v1/nothing-here", None, 404),
        ("PUT", "/v1/resources", b"{}", 405),
    ],
)
def test_bad_input_is_a_4xx_json_error(net: Net, method: str, path: str, raw: bytes | None, expected: int) -> None:
    status, answer = net.a.call(method, path.replace("RID", net.rid), raw=raw)
    assert status == expected, answer
    assert set(answer) == {"error"} and answer["error"]["message"] and answer["error"]["status"]
    assert net.a.call("GET", "/health")[0] == 200


def test_watch_delivers_a_registration_made_through_another_node_within_1_s(net: Net) -> None:
    watch = Watch(net.a, net.rid)
    try:
        watch.next("watching")
        status, written = net.b.call("POST", f"/v1/resources/{net.rid}/records", {"value": "live", "service_id": "w"})
        acked = time.monotonic()
        assert status == 200 and written["ok"], written
        event, arrived = watch.next("registered", service_id="w")
        assert event["record"]["value_text"] == "live" and event["host"] == net.b.node.peer_id
        assert arrived - acked < 1.0, f"the event came {arrived - acked:.2f} s after the write was acknowledged"
        net.b.call("DELETE", f"/v1/resources/{net.rid}/records?service_id=w")
        event, _ = watch.next("unregistered", service_id="w", timeout=5)
        assert event["record"] is None
    finally:
        watch.close()


def test_a_record_registered_through_the_api_is_hosted_across_a_restart(net: Net, tmp_path: Path) -> None:
    """The node, not the caller, hosts it: after a restart on its data dir the node still holds it,
    re-announces it and renews it (TTL 60 s: renewed once half of it is left, ~30 s in)."""
    c = NodeProc.start(tmp_path / "c", bootstrap=[net.a.node.addr], extra=["--api", "127.0.0.1:0"])
    watch = Watch(net.a, net.rid)
    try:
        watch.next("watching")
        body = {"value": "hosted-by-c", "service_id": "restarted", "ttl": 60}
        status, written = _api(c).call("POST", f"/v1/resources/{net.rid}/records", body)
        assert status == 200 and written["ok"], written
        first, _ = watch.next("registered", service_id="restarted")
        assert c.stop(signal.SIGTERM) == 0
        restarted_at_ms = time.time() * 1000
        proc = NodeProc.launch(c.data_dir, bootstrap=[net.a.node.addr], extra=["--api", "127.0.0.1:0"])
        c = NodeProc.ready(proc, c.data_dir)
        restored = c.proc.json_line(lambda d: d.get("event") == "restored", timeout=30)
        assert restored["records"] >= 1, restored
        status, held = _api(c).call("GET", "/v1/status")
        (mine,) = [r for r in held["resources"] if r["resource_id"] == net.rid]
        assert any(r["service_id"] == "restarted" and r["host"] == c.peer_id for r in mine["records"]), mine
        renewed, _ = watch.next("registered", service_id="restarted", timeout=60)
        assert renewed["host"] == c.peer_id and renewed["record"]["value_text"] == "hosted-by-c"
        # A renewal re-signs the host's part only: its expiry is that signature's time plus the TTL.
        assert renewed["record"]["issued_at_ms"] == first["record"]["issued_at_ms"]
        assert renewed["record"]["expires_at_ms"] - 60_000 > restarted_at_ms, "renewed before the restart, not after"
    finally:
        watch.close()
        c.proc.kill()


def test_a_ttl_check_set_and_reported_through_the_api(net: Net) -> None:
    """Any program, in any language, can have its node check it: a ttl check set with the
    registration, then reported by the service (Consul's TTL checks); critical records leave resolve."""
    a, b, rid = net.a, net.b, net.rid
    base = f"/v1/resources/{rid}"
    body = {"value": "http://b:81", "service_id": "ttl-checked", "check": {"kind": "ttl", "ttl_s": 3600}}
    status, written = b.call("POST", f"{base}/records", body)
    assert status == 200 and written["ok"], written
    status, check = b.call("GET", f"{base}/check?service_id=ttl-checked")
    assert (status, check["status"]) == (200, "passing"), check

    def resolved(query: str = "") -> dict[str, str]:
        status, found = a.call("GET", f"{base}/records?ack=2{query}")
        assert status == 200, found
        return {r["service_id"]: r["health"] for r in found["records"] if r["service_id"] == "ttl-checked"}

    assert resolved() == {"ttl-checked": "passing"}
    report = {"service_id": "ttl-checked", "status": "critical", "output": "disk full"}
    assert b.call("PUT", f"{base}/check", report, token=None)[0] == 401
    status, check = b.call("PUT", f"{base}/check", report)
    assert status == 200 and (check["status"], check["output"]) == ("critical", "disk full"), check
    # The PUT answers once one of the two replicas stored the re-signed record: a read of both meets it.
    assert resolved() == {}
    assert resolved("&all=1") == {"ttl-checked": "critical"}
    status, check = b.call("PUT", f"{base}/check", {"service_id": "ttl-checked"})  # passing is the default
    assert status == 200 and check["status"] == "passing", check
    assert resolved() == {"ttl-checked": "passing"}

    refused = [
        ({"value": "v", "check": {"kind": "command", "argv": ["true"]}}, 403, "command checks are disabled"),
        ({"value": "v", "check": {"kind": "tcp", "port": 80}}, 400, "unknown key check.port"),
        ({"value": "v", "check": {"kind": "tcp", "target": "x:1", "interval_s": 0}}, 403, "outside [1, 86400] s"),
        ({"value": "v", "check": "tcp"}, 400, "check must be a JSON object"),
    ]
    for registration, expected, text in refused:
        status, error = b.call("POST", f"{base}/records", {**registration, "service_id": "refused"})
        assert status == expected and text in error["error"]["message"], (registration, status, error)
    assert b.call("GET", f"{base}/check?service_id=refused")[0] == 404  # refused before anything was signed
    status, found = a.call("GET", f"{base}/records?ack=2")
    assert not [r for r in found["records"] if r["service_id"] == "refused"]
    assert b.call("PUT", f"{base}/check", {"service_id": "ttl-checked", "status": "fine"})[0] == 400
    assert b.call("PUT", f"{base}/check", {"service_id": "nothing-here"})[0] == 404


def test_cli_uses_the_local_node_and_says_so(net: Net) -> None:
    a = net.a
    data_dir = ["--data-dir", str(a.node.data_dir)]
    done = cli("register", net.rid, "--value", "from-cli", "--service-id", "c", *data_dir, "--log-level", "debug")
    assert done.returncode == 0, done.stderr
    assert "registered (hosted and renewed by the node): stored by" in done.stdout
    assert f"using the local node's API at {a.url}" in done.stderr
    env = {"REGISTRY_P2P_API": a.url.removeprefix("http://")}
    found = cli("resolve", net.rid, "--json", env=env)
    assert found.returncode == 0, found.stderr
    (record,) = [r for r in json.loads(found.stdout)["records"] if r["service_id"] == "c"]
    assert record["host"] == a.node.peer_id and record["value_text"] == "from-cli"
    refused = cli("unregister", net.rid, "--service-id", "c", env=env)  # no token in the environment
    assert "Bearer" in failure_line(refused) and refused.returncode == 1
    gone = cli("unregister", net.rid, "--service-id", "c", "--json", env={**env, "REGISTRY_P2P_API_TOKEN": a.token})
    assert gone.returncode == 0 and json.loads(gone.stdout)["ok"], gone.stderr
    status = json.loads(cli("status", "--json", *data_dir).stdout)
    assert status["peer_id"] == a.node.peer_id and any(r["resource_id"] == net.rid for r in status["resources"])
    human = cli("status", "--api", a.url.removeprefix("http://"))
    assert human.returncode == 0 and f"peer id   {a.node.peer_id}" in human.stdout and "shared" in human.stdout
    peers = cli("peers", *data_dir)
    assert peers.returncode == 0 and peers.stdout.startswith(net.b.node.peer_id), peers
    got = json.loads(cli("resource", "get", net.rid, "--json", *data_dir).stdout)
    assert got["label"] == "shared"
    missing = cli("resolve", "not-an-id", *data_dir)
    assert "resource id 'not-an-id'" in failure_line(missing)


def test_cli_watch_uses_the_local_nodes_event_stream_across_its_restart(net: Net, tmp_path: Path) -> None:
    d = NodeProc.start(tmp_path / "d", bootstrap=[net.a.node.addr], extra=["--api", "127.0.0.1:0"])
    watcher = Proc(["watch", net.rid, "--json", "--data-dir", str(d.data_dir)])
    try:
        watcher.stderr_line(f"watching {net.rid} (Ctrl-C to stop)", timeout=30)
        status, written = net.b.call("POST", f"/v1/resources/{net.rid}/records", {"value": "sse", "service_id": "cw"})
        assert status == 200 and written["ok"], written
        event = watcher.json_line(lambda e: e["service_id"] == "cw", timeout=15)
        assert event["kind"] == "registered" and event["record"]["value_text"] == "sse"
        assert event["host"] == net.b.node.peer_id

        assert d.stop(signal.SIGTERM) == 0  # the node goes; the watch says so and waits for it
        lost = watcher.stderr_line(f"the node's API at {d.api} ", timeout=30)
        assert lost.endswith(": looking for it again every 1 s"), lost
        proc = NodeProc.launch(d.data_dir, bootstrap=[net.a.node.addr], extra=["--api", "127.0.0.1:0"])
        d = NodeProc.ready(proc, d.data_dir)  # on another API port: found again through the data dir
        watcher.stderr_line(f"reconnected to the node's API at {d.api}: watching again", timeout=30)
        again = watcher.json_line(lambda e: e["service_id"] == "cw", timeout=15)  # the records first, again
        assert again["kind"] == "registered" and again["record"]["value_text"] == "sse"
        net.b.call("DELETE", f"/v1/resources/{net.rid}/records?service_id=cw")
        gone = watcher.json_line(lambda e: e["service_id"] == "cw", timeout=15)
        assert gone["kind"] == "unregistered" and gone["record"] is None
        assert watcher.stop(signal.SIGTERM) == 143  # as the light-node path
    finally:
        watcher.kill()
        d.proc.kill()


def test_without_a_local_node_the_cli_joins_as_a_light_node(net: Net, tmp_path: Path) -> None:
    done = cli("resolve", net.rid, "--json", "--log-level", "debug", bootstrap=net.a.node.addr)
    assert done.returncode == 0, done.stderr
    assert "joining as a light node" in done.stderr
    assert "records" in json.loads(done.stdout.splitlines()[-1])
    assert "no local node" in failure_line(cli("status", "--data-dir", str(tmp_path)))


def test_no_listener_beyond_loopback_without_a_token() -> None:
    done = cli("node", "--listen", LOOPBACK, "--api", "0.0.0.0:0", timeout=30)
    assert "beyond loopback only with a token" in failure_line(done)


async def test_serve_refuses_beyond_loopback_without_a_token() -> None:
    from registry_p2p.api import ApiRefused, serve

    with pytest.raises(ApiRefused, match="beyond loopback"):
        with trio.fail_after(5):
            await serve(None, "0.0.0.0", 0, None)  # type: ignore[arg-type]  # refused before it is used


def test_node_example_registers_and_watches(net: Net) -> None:
    node = shutil.which("node")
    if node is None:
        if not os.environ.get("CI"):
            pytest.skip("node (Node.js 20) is not installed")
        raise AssertionError("CI=true: Node.js must be installed (.ci/run installs it)")
    env = {**os.environ, "REGISTRY_P2P_API": net.b.url, "REGISTRY_P2P_API_TOKEN": net.b.token}
    done = subprocess.run(
        [node, str(EXAMPLES / "api_client.mjs"), net.rid, "js", "http://10.0.0.9:8080"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"watching {net.rid}" in done.stdout
    assert "registered js: stored by" in done.stdout
    assert "saw js come back through the watch" in done.stdout
    status, found = net.a.call("GET", f"/v1/resources/{net.rid}/records")
    assert status == 200
    assert any(r["service_id"] == "js" and r["host"] == net.b.node.peer_id for r in found["records"])


def _browser() -> Any:
    """Headless Chromium driven by Debian's chromium-driver (nothing downloaded)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        chromium = None
    if chromium is None or driver is None:
        if not os.environ.get("CI"):
            pytest.skip("chromium, chromium-driver or selenium is not installed")
        raise AssertionError("CI=true: .ci/run installs chromium and chromium-driver, the test extras selenium")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def test_dashboard_shows_peers_and_a_registration_as_it_happens(net: Net, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _browser()
    try:
        browser.get(f"{net.a.url}/ui")
        wait = WebDriverWait(browser, 30)
        wait.until(lambda b: net.b.node.peer_id in b.find_element(By.ID, "peers").text)
        assert browser.find_element(By.ID, "peer-id").text == net.a.node.peer_id
        wait.until(lambda b: net.rid in b.find_element(By.ID, "resources").text)
        status, written = net.b.call("POST", f"/v1/resources/{net.rid}/records", {"value": "seen", "service_id": "ui"})
        assert status == 200 and written["ok"], written
        # The live feed (the SSE watch) and the records held (the status, every 2 s) both show it.
        wait.until(lambda b: "registered shared/ui" in b.find_element(By.ID, "feed").text)
        wait.until(lambda b: "seen" in b.find_element(By.ID, "resources").text)
        assert re.search(r"in 2[34]h\d\dm", browser.find_element(By.ID, "resources").text)  # its expiry
        browser.save_screenshot(str(tmp_path / "dashboard.png"))
        if os.environ.get("REGISTRY_P2P_SCREENSHOT"):  # how docs/dashboard.png is made
            browser.save_screenshot(os.environ["REGISTRY_P2P_SCREENSHOT"])
    finally:
        browser.quit()
