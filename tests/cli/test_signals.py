"""Ctrl-C ends any verb with status 130 and the one line `registry-p2p: error: interrupted`, never
a traceback, whenever it arrives: while the modules load, while the verb joins the network, while
it watches. A node that is ready stops cleanly instead (status 0): that is how it is stopped."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .procs import NodeProc, Proc, SilentPeer, cli, cli_json

pytestmark = pytest.mark.timeout(120)

RID = "E2MzPhmjSMbSmyWiFJd8cB4SPk7AYsWMdV1WyyKzpsGd"  # well formed, never created
INTERRUPTED = "registry-p2p: error: interrupted"


def interrupted(proc: Proc, sig: int = signal.SIGINT) -> list[str]:
    """Send `sig`; the process must exit with 128 + its number. Its remaining stderr lines."""
    status = proc.stop(sig)
    rest = proc.rest_of_stderr()
    assert status == 128 + sig, f"{proc.args[:2]} exited {status} on {signal.Signals(sig).name}: {rest}"
    assert not any("Traceback" in line for line in rest), rest
    return rest


def loading(pid: int) -> bool:
    """Whether the process has begun loading the registry's modules: protobuf's C extension,
    which they load early on, is mapped (the interpreter itself is up by then)."""
    return "/_upb/_message" in Path(f"/proc/{pid}/maps").read_text()


@pytest.fixture
def silent() -> Iterator[SilentPeer]:
    with SilentPeer() as peer:
        yield peer


def test_ctrl_c_while_the_modules_load(silent: SilentPeer) -> None:
    proc = Proc(["resolve", RID, "--bootstrap", silent.addr])
    try:
        deadline = time.monotonic() + 30
        # Nothing to wait on but the process's own state: poll it.
        while not loading(proc.pid):
            assert proc.popen.poll() is None and time.monotonic() < deadline, proc.errors()
            time.sleep(0.002)
        assert interrupted(proc) == [INTERRUPTED]
    finally:
        proc.kill()


@pytest.mark.parametrize("verb", ["resolve", "watch", "node"])
def test_ctrl_c_while_joining(silent: SilentPeer, tmp_path: Path, verb: str) -> None:
    args = ["node", "--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir", str(tmp_path)] if verb == "node" else [verb, RID]
    proc = Proc([*args, "--bootstrap", silent.addr])
    try:
        assert silent.accepted.wait(30), proc.errors()  # the verb dialled: its handshake now hangs
        assert interrupted(proc) == [INTERRUPTED]
    finally:
        proc.kill()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProc]:
    started = NodeProc.start(tmp_path_factory.mktemp("signals") / "node")
    yield started
    started.stop()


@pytest.mark.parametrize(
    ("sig", "line"), [(signal.SIGINT, INTERRUPTED), (signal.SIGTERM, "registry-p2p: error: terminated")]
)
def test_signal_while_watching(node: NodeProc, tmp_path: Path, sig: int, line: str) -> None:
    key = str(tmp_path / "me.key")
    assert cli("keygen", "--key-file", key).returncode == 0
    rid = cli_json("resource", "create", "watched", "--key-file", key, bootstrap=node.addr)["resource_id"]
    watcher = Proc(["watch", rid, "--json"], bootstrap=node.addr)
    try:
        watcher.stderr_line("watching", timeout=30)
        assert interrupted(watcher, sig) == [line]
    finally:
        watcher.kill()


def test_a_ready_node_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    node = NodeProc.start(tmp_path / "node")
    assert node.stop(signal.SIGINT) == 0
    assert node.proc.json_line(lambda d: d.get("event") == "stopped", timeout=10)
    assert node.proc.rest_of_stderr() == []
