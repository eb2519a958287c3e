"""A listen address whose port is taken stops `node` and `testnet` at start, with one line naming
the address. py-libp2p listens with SO_REUSEPORT, so the kernel alone would let a second
listener share the port (with another registry-p2p node) and half the connections go astray."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from .procs import NodeProc, cli, failure_line

pytestmark = pytest.mark.timeout(120)


def assert_in_use(done_line: str, port: int) -> None:
    assert done_line.startswith("registry-p2p: error: "), done_line
    assert f"/ip4/127.0.0.1/tcp/{port}" in done_line and "in use" in done_line, done_line


@pytest.fixture
def held() -> Iterator[socket.socket]:
    """A port on 127.0.0.1 held by a plain listener, bound without SO_REUSEPORT."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener


def test_node_on_a_port_held_by_another_program(held: socket.socket, tmp_path: Path) -> None:
    port = held.getsockname()[1]
    done = cli("node", "--listen", f"/ip4/127.0.0.1/tcp/{port}", "--data-dir", str(tmp_path / "node"), "--json")
    assert_in_use(failure_line(done), port)
    assert done.returncode == 1


def test_node_on_a_port_held_by_another_node(tmp_path: Path) -> None:
    first = NodeProc.start(tmp_path / "first")
    try:
        port = int(first.addr.split("/")[4])
        args = ["node", "--listen", f"/ip4/127.0.0.1/tcp/{port}", "--data-dir", str(tmp_path / "second"), "--json"]
        done = cli(*args)
        assert_in_use(failure_line(done), port)
        assert done.returncode == 1
        assert first.proc.popen.poll() is None, "the first node must keep running"
    finally:
        first.stop()


def port_below_a_held_one(held: socket.socket) -> int:
    """P such that P is free and P + 1 is `held`'s (another listener is bound on P meanwhile)."""
    for _ in range(20):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            candidate = probe.getsockname()[1] - 1
        with socket.socket() as below:
            try:
                below.bind(("127.0.0.1", candidate))
                held.bind(("127.0.0.1", candidate + 1))
            except OSError:
                continue
        held.listen()
        return candidate
    raise AssertionError("found no free port below a free one")


def test_testnet_whose_second_port_is_taken() -> None:
    with socket.socket() as held:
        base = port_below_a_held_one(held)
        # One process for all the nodes: when it has exited, none of them runs any more.
        done = cli("testnet", "--nodes", "2", "--base-port", str(base), "--json", timeout=30)
    assert_in_use(failure_line(done), base + 1)
    assert done.returncode == 1


def test_a_node_on_a_wildcard_prints_and_advertises_dialable_addresses(tmp_path: Path) -> None:
    """`node --listen /ip4/0.0.0.0/...` printed (and advertised) 0.0.0.0, which nobody can dial;
    a client then joins through the printed loopback address and sees the same list."""
    node = NodeProc.launch(tmp_path / "node", listen="/ip4/0.0.0.0/tcp/0")
    try:
        ready = node.json_line(lambda d: d.get("event") == "ready", timeout=60)
        addrs = ready["addrs"]
        assert addrs and not any("/0.0.0.0/" in a for a in addrs), addrs
        loopback = [a for a in addrs if a.startswith("/ip4/127.0.0.1/tcp/")]
        assert loopback, addrs
        assert cli("keygen", "--data-dir", str(tmp_path / "me")).returncode == 0
        created = cli("resource", "create", "x", "--data-dir", str(tmp_path / "me"), bootstrap=loopback[0])
        assert created.returncode == 0, created.stderr
    finally:
        node.stop()


def test_announce_replaces_the_advertised_addresses(tmp_path: Path) -> None:
    node = NodeProc.launch(tmp_path / "node", extra=["--announce", "/dns4/registry.example/tcp/4600"])
    try:
        ready = node.json_line(lambda d: d.get("event") == "ready", timeout=60)
        assert ready["addrs"] == [f"/dns4/registry.example/tcp/4600/p2p/{ready['peer_id']}"]
    finally:
        node.stop()
    bad = cli("node", "--announce", "nonsense", "--data-dir", str(tmp_path / "bad"))
    assert bad.returncode == 1 and "announce address 'nonsense' is not a multiaddr" in failure_line(bad), bad.stderr
