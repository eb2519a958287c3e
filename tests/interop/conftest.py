"""A mixed network on 127.0.0.1: 4 Python nodes (in process), the Go peer and the Rust peer.

The binaries are built (or found up to date) once per session. Outside CI a missing toolchain
skips these tests with the reason; with CI=true it is an error, never a skip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry_p2p.node import Node
from tests.net.harness import Network, cfg, network, wait_for

from .peers import IN_CI, ExternalPeer, Unavailable, go_binary, run_peer, rust_binary

K = 4  # replica set size everywhere: the 4 Python nodes


@dataclass
class Mesh:
    net: Network
    py: list[Node]
    go: ExternalPeer
    rust: ExternalPeer

    @property
    def peer_ids(self) -> list[str]:
        return [n.peer_id for n in self.py] + [self.go.peer_id, self.rust.peer_id]

    def name(self, peer_id: str) -> str:
        for i, node in enumerate(self.py):
            if node.peer_id == peer_id:
                return f"py{i}"
        return {self.go.peer_id: "go", self.rust.peer_id: "rust"}.get(peer_id, peer_id)


def _binary(build: Callable[[], Path], what: str) -> Path:
    try:
        return build()
    except Unavailable as exc:
        if IN_CI:
            pytest.fail(f"CI=true and the {what} peer is unavailable: {exc}")
        pytest.skip(f"{what} peer unavailable: {exc}")


@pytest.fixture(scope="session")
def go_bin() -> Path:
    return _binary(go_binary, "Go")


@pytest.fixture(scope="session")
def rust_bin() -> Path:
    return _binary(rust_binary, "Rust")


@pytest.fixture
async def mesh(go_bin: Path, rust_bin: Path, tmp_path: Path) -> AsyncIterator[Mesh]:
    """The Go peer bootstraps from py0 and the Rust peer from py1; nothing else is wired by hand."""
    async with network(4, cfg(k=K)) as net:
        py = net.nodes
        go_args = ["--bootstrap", py[0].addrs[0], "--k", str(K)]
        rust_args = ["--bootstrap", py[1].addrs[0], "--k", str(K)]
        async with (
            run_peer("go", go_bin, go_args, tmp_path / "go.log") as go,
            run_peer("rust", rust_bin, rust_args, tmp_path / "rust.log") as rust,
        ):
            # Their bootstrap nodes add them to their routing tables once identify is done
            # (RoutingTableFiller): a condition in another component, with no event to wait on.
            await wait_for(lambda: _in_table(py[0], go.peer_id) and _in_table(py[1], rust.peer_id), timeout=10)
            yield Mesh(net, py, go, rust)


def _in_table(node: Node, peer_id: str) -> bool:
    return any(str(p) == peer_id for p in node.dht.routing_table.get_peer_ids())
