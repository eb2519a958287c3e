"""Bad input on /registry/1.0.0: each gets an error status or a reset; the node keeps serving."""

from __future__ import annotations

import os
from typing import Any

import pytest
import trio
from libp2p.custom_types import TProtocol

from registry_p2p.core import build
from registry_p2p.core.errors import Status
from registry_p2p.core.ids import resource_id_from_text, uvarint
from registry_p2p.net.framing import FrameReader, encode_frame
from registry_p2p.net.server import PROTOCOL_ID
from registry_p2p.node import Node
from registry_p2p.pb import registry_pb2 as pb

from .harness import Network, cfg, network


async def raw_stream(src: Node, dst: Node) -> Any:
    return await src.host.new_stream(dst.host.get_id(), [TProtocol(PROTOCOL_ID)])


async def read_reply_or_reset(stream: Any, timeout: float = 5.0) -> pb.Message | None:
    """The next answer, or None when the server reset or closed the stream."""
    with trio.fail_after(timeout):
        try:
            return await FrameReader(stream).read_message()
        except Exception:
            return None


async def still_serves(net: Network, victim: Node, rid: str) -> None:
    other = net.nodes[2]
    reply = await other.registry.client.request(
        victim.host.get_id(),
        pb.Message(get_resource=pb.GetResourceRequest(resource_id=resource_id_from_text(rid))),
    )
    assert Status(reply.get_resource_response.result.status) is Status.OK


@pytest.fixture
async def three() -> Any:
    config = cfg(k=3, stream_idle_timeout_s=1.0)
    async with network(3, config) as net:
        rid = await net.nodes[0].registry.create_resource("robust")
        yield net, rid


async def test_random_bytes(three: Any) -> None:
    net, rid = three
    victim, attacker = net.nodes[0], net.nodes[1]
    for seed in range(5):
        stream = await raw_stream(attacker, victim)
        data = os.urandom(200 + seed)
        await stream.write(data)
        reply = await read_reply_or_reset(stream)
        if reply is not None:
            assert reply.WhichOneof("body") == "error"
            assert Status(reply.error.status) in (Status.MALFORMED, Status.TOO_LARGE)
    await still_serves(net, victim, rid)


async def test_oversized_frame_is_refused_and_reset(three: Any) -> None:
    net, rid = three
    victim, attacker = net.nodes[0], net.nodes[1]
    stream = await raw_stream(attacker, victim)
    await stream.write(uvarint(2 * 1024 * 1024) + b"\x00" * 1024)
    reply = await read_reply_or_reset(stream)
    assert reply is not None and Status(reply.error.status) is Status.TOO_LARGE
    assert await read_reply_or_reset(stream) is None  # then the stream is reset
    await still_serves(net, victim, rid)


async def test_request_that_never_finishes_is_cut_off(three: Any) -> None:
    net, rid = three
    victim, attacker = net.nodes[0], net.nodes[1]
    stream = await raw_stream(attacker, victim)
    await stream.write(uvarint(100) + b"\x0a\x01")  # a frame announced, never completed
    started = trio.current_time()
    assert await read_reply_or_reset(stream, timeout=10) is None
    assert trio.current_time() - started < 5  # the idle timeout is 1 s in this network
    await still_serves(net, victim, rid)


async def test_flood_from_one_peer_is_rate_limited(three: Any) -> None:
    net, rid = three
    victim, attacker = net.nodes[0], net.nodes[1]
    stream = await raw_stream(attacker, victim)
    request = encode_frame(pb.Message(get_resource=pb.GetResourceRequest(resource_id=resource_id_from_text(rid))))
    reader = FrameReader(stream)
    statuses: list[Status] = []
    with trio.fail_after(60):
        for _ in range(1000):
            await stream.write(request)
            reply = await reader.read_message()
            if reply is None:
                break
            if reply.WhichOneof("body") == "error":
                statuses.append(Status(reply.error.status))
            else:
                statuses.append(Status(reply.get_resource_response.result.status))
    assert Status.RATE_LIMITED in statuses, "1,000 requests at once exceed the burst of 200"
    assert statuses.count(Status.OK) >= 200
    await still_serves(net, victim, rid)


async def test_bad_signatures_are_refused_and_nothing_is_stored(three: Any) -> None:
    net, rid = three
    victim, attacker = net.nodes[0], net.nodes[1]
    rid_bytes = resource_id_from_text(rid)
    now = attacker.registry.clock_ms()
    good = build.make_record(attacker.registry.key, rid_bytes, "good", b"v", now)
    forged = build.make_record(attacker.registry.key, rid_bytes, "forged", b"v", now).to_pb()
    forged.host_signature = bytes(64)
    request = pb.PutEntriesRequest(
        resource_id=rid_bytes, entries=[pb.Entry(record=forged).SerializeToString(), good.encode(), b"\xff\x00"]
    )
    reply = await attacker.registry.client.request(victim.host.get_id(), pb.Message(put_entries=request))
    statuses = [Status(r.status) for r in reply.put_entries_response.results]
    assert statuses == [Status.INVALID_SIGNATURE, Status.OK, Status.MALFORMED]
    assert victim.store is not None
    assert [r.service_id for r in victim.store.live_records(rid_bytes, now)] == ["good"]


async def test_exceptions_inside_the_handler_never_reach_the_host(three: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    net, rid = three
    victim, attacker = net.nodes[0], net.nodes[1]
    server = victim.registry.server
    assert server is not None

    def boom(*args: Any) -> pb.Message:
        raise RuntimeError("bug inside a request handler")

    monkeypatch.setitem(server._handlers, "digest", boom)
    reply = await read_reply_or_reset_after(
        attacker, victim, pb.Message(digest=pb.DigestRequest(resource_id=b"x" * 32))
    )
    assert reply is not None and Status(reply.error.status) is Status.INTERNAL

    async def broken_serve(stream: Any, peer: bytes) -> None:
        raise RuntimeError("bug in the stream loop")

    monkeypatch.setattr(server, "_serve", broken_serve)
    try:
        stream = await raw_stream(attacker, victim)
        await stream.write(b"anything")
        reply = await read_reply_or_reset(stream)
    except Exception:  # the reset can even beat the end of protocol negotiation
        reply = None
    assert reply is None
    monkeypatch.undo()
    await still_serves(net, victim, rid)


async def read_reply_or_reset_after(src: Node, dst: Node, message: pb.Message) -> pb.Message | None:
    stream = await raw_stream(src, dst)
    await stream.write(encode_frame(message))
    return await read_reply_or_reset(stream)


async def test_a_frame_that_is_no_request_is_answered_then_the_stream_reset(three: Any) -> None:
    """An empty frame a second kept a stream alive for good (attacks.md §4: 1,021 of them cost the
    node ~1,000 answers a second); now what is not a request ends its stream once answered."""
    net, rid = three
    victim, attacker = net.nodes[0], net.nodes[1]
    request = encode_frame(pb.Message(get_resource=pb.GetResourceRequest(resource_id=resource_id_from_text(rid))))
    for garbage in (b"\x00", uvarint(3) + b"\xff\xff\xff"):  # an empty Message; bytes that are none
        stream = await raw_stream(attacker, victim)
        await stream.write(request)
        reply = await read_reply_or_reset(stream)
        assert reply is not None and Status(reply.get_resource_response.result.status) is Status.OK
        await stream.write(garbage)
        reply = await read_reply_or_reset(stream)
        assert reply is not None and Status(reply.error.status) is Status.MALFORMED
        assert await read_reply_or_reset(stream) is None  # then the stream is reset
    await still_serves(net, victim, rid)
