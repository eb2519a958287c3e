"""`watch` when the network goes away and comes back, and when its reader goes away."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .procs import CLI, NodeProc, Proc, clean_env, cli, cli_json

pytestmark = pytest.mark.timeout(180)

LOST = "lost every peer of the network: reconnecting through the bootstrap peers"


def register(node: NodeProc, rid: str, key: Path, service_id: str) -> None:
    args = ["register", rid, "--value", service_id, "--service-id", service_id, "--key-file", str(key)]
    assert cli_json(*args, bootstrap=node.addr)["ok"] is True


def test_watch_says_when_every_peer_is_gone_and_when_it_is_back(tmp_path: Path) -> None:
    node = NodeProc.start(tmp_path / "node")
    watcher = None
    try:
        key = tmp_path / "me.key"
        assert cli("keygen", "--key-file", str(key)).returncode == 0
        rid = cli_json("resource", "create", "outage", "--key-file", str(key), bootstrap=node.addr)["resource_id"]
        register(node, rid, key, "before")
        watcher = Proc(["watch", rid, "--json"], bootstrap=node.addr)
        watcher.stderr_line("watching", timeout=30)
        assert watcher.json_line(lambda e: e["service_id"] == "before")["kind"] == "registered"

        assert node.stop() == 0
        watcher.stderr_line(LOST, timeout=10)

        # The node comes back on its address (same port, same data dir: same peer id).
        port = node.addr.split("/")[4]
        node = NodeProc.start(node.data_dir, listen=f"/ip4/127.0.0.1/tcp/{port}")
        watcher.stderr_line(f"reconnected to {node.peer_id}: watching again", timeout=45)
        assert watcher.stderr_seen.count(LOST) == 1, watcher.stderr_seen
        # Watching again starts from the current records, then the changes follow.
        assert watcher.json_line(lambda e: e["service_id"] == "before")["kind"] == "registered"
        register(node, rid, key, "after")
        assert watcher.json_line(lambda e: e["service_id"] == "after", timeout=15)["kind"] == "registered"
        assert watcher.stop(signal.SIGINT) == 130
    finally:
        if watcher is not None:
            watcher.kill()
        node.proc.kill()


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProc, str, Path]]:
    """A node, a resource on it with one record, and the owner's key."""
    tmp = tmp_path_factory.mktemp("watched")
    node = NodeProc.start(tmp / "node")
    key = tmp / "me.key"
    assert cli("keygen", "--key-file", str(key)).returncode == 0
    rid = cli_json("resource", "create", "piped", "--key-file", str(key), bootstrap=node.addr)["resource_id"]
    register(node, rid, key, "first")
    yield node, rid, key
    node.stop()


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_watch_ends_quietly_when_its_reader_goes_away(
    watched: tuple[NodeProc, str, Path], tmp_path: Path, as_json: bool
) -> None:
    """`registry-p2p watch ID | head -1`."""
    node, rid, key = watched
    with (tmp_path / "stderr").open("w") as stderr:
        args = [*CLI, "watch", rid, *(["--json"] if as_json else [])]
        watcher = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, env=clean_env(node.addr))
    try:
        assert watcher.stdout is not None
        first: list[bytes] = []
        reader = threading.Thread(target=lambda: first.append(watcher.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=30)
        assert first and b"registered" in first[0], first
        watcher.stdout.close()  # the reader goes away, as head does after its line
        register(node, rid, key, f"second-{as_json}")  # something more to print
        assert watcher.wait(timeout=30) == 0
    finally:
        watcher.kill()
        watcher.wait()
    assert (tmp_path / "stderr").read_text().splitlines() == [f"watching {rid} (Ctrl-C to stop)"]
