"""`registry-p2p node` serves /rendezvous/1.0.0 unless --no-rendezvous."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from registry_p2p.adapter.errors import is_protocol_unsupported
from registry_p2p.node import open_node
from tests.net import rendezvous_client as rc

from .procs import NodeProc


class _Point:
    def __init__(self, node: NodeProc) -> None:
        self.peer_id = node.peer_id
        self.addrs = [node.addr]


async def test_a_node_serves_rendezvous_by_default_and_not_with_no_rendezvous(tmp_path: Path) -> None:
    served = NodeProc.start(tmp_path / "a")
    silent = NodeProc.start(tmp_path / "b", extra=["--no-rendezvous"])
    try:
        with trio.fail_after(60):
            async with open_node(serve=False) as client:
                signed = rc.envelope(client.host.get_private_key())
                reply = await rc.ask_once(client.host, _Point(served), rc.register("cli", signed))
                assert rc.status(reply) == "OK" and reply.registerResponse.ttl == 7200
                found = await rc.ask_once(client.host, _Point(served), rc.discover("cli"))
                assert [r.signedPeerRecord for r in found.discoverResponse.registrations] == [signed]
                with pytest.raises(Exception) as refused:
                    await rc.ask_once(client.host, _Point(silent), rc.discover("cli"))
                assert is_protocol_unsupported(refused.value), refused.value
    finally:
        assert served.stop() == 0
        assert silent.stop() == 0
