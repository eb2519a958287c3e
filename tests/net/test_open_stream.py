"""adapter.streams.open_stream: a stream that failed on a connection closed under it (two
connections to one peer raced) is opened once more; a peer that cannot be dialed is not retried;
closed connections left listed in the swarm are dropped so the peer is dialed afresh."""

from __future__ import annotations

from typing import Any

import pytest
from libp2p.network.exceptions import SwarmDialAllFailedError, SwarmException

from registry_p2p.adapter.streams import open_stream


class FakeConnection:
    def __init__(self, closed: bool) -> None:
        self.is_closed = closed


class FakeNetwork:
    def __init__(self) -> None:
        self.connections: dict[Any, list[FakeConnection]] = {}
        self.closed_peers: list[Any] = []

    def get_connections(self, peer: Any = None) -> list[FakeConnection]:
        return list(self.connections.get(peer, []))

    async def close_peer(self, peer: Any) -> None:
        self.closed_peers.append(peer)
        self.connections.pop(peer, None)


class FakeHost:
    """new_stream fails with `failures` first; like py-libp2p's swarm, it fails without dialing
    while the peer has connections listed and none of them is open."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0
        self.network = FakeNetwork()

    def get_network(self) -> FakeNetwork:
        return self.network

    def get_connected_peers(self) -> list[Any]:
        return list(self.network.connections)

    async def new_stream(self, peer: Any, protocols: list[Any]) -> str:
        self.calls += 1
        listed = self.network.get_connections(peer)
        if listed and all(conn.is_closed for conn in listed):
            raise SwarmException(f"No valid connections available for peer {peer}")
        if self.failures:
            raise self.failures.pop(0)
        return "stream"


async def test_a_stream_on_a_losing_connection_is_opened_again() -> None:
    host = FakeHost([SwarmException("No valid connections available for peer x")])
    assert await open_stream(host, "peer", [], timeout=5) == "stream"
    assert host.calls == 2


async def test_a_peer_that_cannot_be_dialed_is_not_retried() -> None:
    host = FakeHost([SwarmDialAllFailedError("unable to connect")])
    with pytest.raises(SwarmDialAllFailedError):
        await open_stream(host, "peer", [], timeout=5)
    assert host.calls == 1


async def test_only_one_retry() -> None:
    host = FakeHost([SwarmException("closed"), SwarmException("closed again")])
    with pytest.raises(SwarmException, match="closed again"):
        await open_stream(host, "peer", [], timeout=5)
    assert host.calls == 2


async def test_a_peer_listed_only_with_closed_connections_is_dialed_afresh() -> None:
    host = FakeHost([])
    host.network.connections["peer"] = [FakeConnection(closed=True), FakeConnection(closed=True)]
    assert await open_stream(host, "peer", [], timeout=5) == "stream"
    assert host.network.closed_peers == ["peer"]
    assert host.calls == 1


async def test_an_open_connection_is_kept_beside_a_closed_one() -> None:
    host = FakeHost([])
    host.network.connections["peer"] = [FakeConnection(closed=True), FakeConnection(closed=False)]
    assert await open_stream(host, "peer", [], timeout=5) == "stream"
    assert host.network.closed_peers == []
