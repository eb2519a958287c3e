"""adapter.streams.open_stream: a stream that failed on a connection closed under it (two
connections to one peer raced) is opened once more; a peer that cannot be dialed is not retried."""

from __future__ import annotations

from typing import Any

import pytest
from libp2p.network.exceptions import SwarmDialAllFailedError, SwarmException

from registry_p2p.adapter.streams import open_stream


class FakeHost:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    def get_connected_peers(self) -> list[Any]:
        return []

    async def new_stream(self, peer: Any, protocols: list[Any]) -> str:
        self.calls += 1
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
