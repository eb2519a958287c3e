"""The py-libp2p adapter's pieces that no multi-node test covers on its own: the exception
classifier (against py-libp2p's real exception classes and a real refused negotiation), the
key adapter, the peerstore, local DHT values, identify, and gossipsub's message ids and queues.

Where each other workaround is tested: docs/ARCHITECTURE.md, "py-libp2p workarounds"."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import PrivateKey
from libp2p.crypto.keys import PublicKey as Libp2pPublicKey
from libp2p.crypto.secp256k1 import create_new_key_pair as secp256k1_pair
from libp2p.custom_types import TProtocol
from libp2p.host.exceptions import StreamFailure
from libp2p.kad_dht import DHTMode, KadDHT
from libp2p.network.exceptions import SwarmDialAllFailedError
from libp2p.network.stream.exceptions import StreamClosed, StreamEOF, StreamError, StreamReset
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.peer.peerstore import PeerStoreError
from libp2p.protocol_muxer.exceptions import (
    MultiselectClientError,
    MultiselectCommunicatorError,
    ProtocolNotSupportedError,
)
from libp2p.stream_muxer.exceptions import MuxedStreamEOF
from multiaddr import Multiaddr

from registry_p2p.adapter.dht_values import local_dht_value
from registry_p2p.adapter.errors import is_protocol_unsupported, is_stream_closed
from registry_p2p.adapter.identify import announce_protocols, request_identify
from registry_p2p.adapter.keys import decode_public_key, make_verifier
from registry_p2p.adapter.peerstore import known_addrs
from registry_p2p.adapter.pubsub import _GossipSub, make_gossipsub, message_id, stop_pubsub_thread
from registry_p2p.adapter.secure_writes import atomic_secure_writes
from registry_p2p.adapter.shutdown import close_host
from registry_p2p.adapter.streams import open_stream
from registry_p2p.core import RegistryError, Status, build
from registry_p2p.core.signing import RECORD_DOMAIN, PublicKey, SigningKey, sign
from registry_p2p.net.client import PeerUnavailable, RegistryClient
from registry_p2p.net.framing import FrameReader
from registry_p2p.pb import registry_pb2 as pb

from .harness import LOOPBACK, wait_for

NOW = 1_767_225_600_000


def raised_from(outer: BaseException, cause: BaseException) -> BaseException:
    """`outer` as `raise outer from cause` leaves it."""
    try:
        raise outer from cause
    except BaseException as exc:
        return exc


@asynccontextmanager
async def running_hosts(n: int) -> AsyncIterator[list[Any]]:
    hosts = [new_host() for _ in range(n)]
    async with trio.open_nursery() as nursery:
        for host in hosts:
            started = trio.Event()

            async def run(host: Any = host, started: trio.Event = started) -> None:
                async with host.run([Multiaddr(LOOPBACK)]):
                    started.set()
                    await trio.sleep_forever()

            nursery.start_soon(run)
            await started.wait()
        try:
            yield hosts
        finally:
            for host in hosts:
                await close_host(host)
            nursery.cancel_scope.cancel()


# ------------------------------------------------------------------ the exception classifier


def test_stream_endings_are_classified_by_class() -> None:
    for ended in (StreamEOF("eof"), StreamReset("reset"), StreamClosed("closed"), StreamError("error")):
        assert is_stream_closed(ended), ended
    for other in (ValueError("StreamEOF"), RuntimeError("stream closed"), SwarmDialAllFailedError("x")):
        assert not is_stream_closed(other), other


def test_py_libp2p_end_of_stream_classes_are_eof_errors() -> None:
    """net/framing.py catches EOFError so that it needs no py-libp2p import: this pins why that works."""
    assert issubclass(StreamEOF, EOFError)
    assert issubclass(MuxedStreamEOF, EOFError)
    assert not issubclass(StreamReset, EOFError)


class RaisingStream:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def read(self, n: int | None = None) -> bytes:
        raise self.exc

    async def write(self, data: bytes) -> None:
        return None


async def test_the_frame_reader_ends_cleanly_on_py_libp2p_eof_and_not_on_a_reset() -> None:
    for eof in (StreamEOF("eof"), MuxedStreamEOF("eof")):
        assert await FrameReader(RaisingStream(eof)).read_frame() is None
    with pytest.raises(StreamReset):
        await FrameReader(RaisingStream(StreamReset("reset"))).read_frame()


def test_a_refused_negotiation_is_unsupported_and_a_broken_one_is_not() -> None:
    refused = raised_from(StreamFailure("failed to open a stream to peer x"), MultiselectClientError("na"))
    assert is_protocol_unsupported(refused)
    assert is_protocol_unsupported(ProtocolNotSupportedError("protocol not supported: /registry/1.0.0"))
    broken = raised_from(
        StreamFailure("failed to open a stream to peer x"),
        raised_from(MultiselectClientError("handshake read failed"), MultiselectCommunicatorError("eof")),
    )
    assert not is_protocol_unsupported(broken)
    # Text says nothing: only the classes count.
    for other in (SwarmDialAllFailedError("protocol"), RuntimeError("MultiselectClientError"), StreamReset("x")):
        assert not is_protocol_unsupported(other), other


async def test_a_peer_without_the_protocol_is_classified_unsupported() -> None:
    with trio.fail_after(30):
        async with running_hosts(2) as (a, b):
            await a.connect(PeerInfo(b.get_id(), b.get_addrs()))
            with pytest.raises(Exception) as caught:
                await open_stream(a, b.get_id(), [TProtocol("/not-spoken/1.0.0")], timeout=10)
            assert is_protocol_unsupported(caught.value)
            # ...and the client marks it so (the replica-set routing then leaves the peer out).
            client = RegistryClient(a, 1 << 20, default_timeout=10)
            with pytest.raises(PeerUnavailable) as unavailable:
                await client.request(b.get_id(), pb.Message(get_resource=pb.GetResourceRequest(resource_id=b"x" * 32)))
            assert unavailable.value.unsupported
            await client.close()


# ------------------------------------------------------------------ keys


def test_py_libp2p_keys_satisfy_cores_key_protocols() -> None:
    for pair in (create_new_key_pair(b"\x01" * 32), secp256k1_pair(b"\x02" * 32)):
        assert isinstance(pair.private_key, PrivateKey) and isinstance(pair.private_key, SigningKey)
        assert isinstance(pair.public_key, Libp2pPublicKey) and isinstance(pair.public_key, PublicKey)
        decoded = decode_public_key(pair.public_key.serialize())
        signature = sign(pair.private_key, RECORD_DOMAIN, b"body")
        assert decoded.verify(RECORD_DOMAIN + b"body", signature)


def test_make_verifier_checks_records_signed_by_py_libp2p_keys() -> None:
    key = create_new_key_pair(b"\x03" * 32).private_key
    resource = build.make_resource(key, "adapter", NOW)
    record = build.make_record(key, resource.id, "svc", b"v", NOW)
    verifier = make_verifier(cache_size=0)
    verifier.verify(record.host, b"registry-p2p/host/v1:", record.host_body, record.host_signature)
    with pytest.raises(RegistryError) as bad:
        verifier.verify(record.host, b"registry-p2p/host/v1:", record.host_body + b"x", record.host_signature)
    assert bad.value.status is Status.INVALID_SIGNATURE


# ------------------------------------------------------------------ peerstore, DHT values, identify


def test_an_unknown_peer_has_no_known_addresses_rather_than_an_error() -> None:
    host = new_host()
    stranger = ID.from_pubkey(create_new_key_pair(b"\x04" * 32).public_key)
    with pytest.raises(PeerStoreError):  # what py-libp2p does, and known_addrs absorbs
        host.get_peerstore().addrs(stranger)
    assert known_addrs(host, stranger) == []
    addr = Multiaddr("/ip4/127.0.0.1/tcp/4001")
    host.get_peerstore().add_addrs(stranger, [addr], 600)
    assert known_addrs(host, stranger) == [addr]


def test_local_dht_value_reads_the_value_store_without_a_lookup() -> None:
    dht = KadDHT(new_host(), DHTMode.SERVER)
    assert local_dht_value(dht, "/reg/none") is None
    dht.value_store.put(b"/reg/some", b"value")
    assert local_dht_value(dht, "/reg/some") == b"value"


def test_request_identify_uses_basic_hosts_scheduler_and_tolerates_its_absence() -> None:
    assert callable(getattr(new_host(), "_schedule_identify", None)), "py-libp2p renamed its identify scheduler"

    class Host:
        def __init__(self) -> None:
            self.asked: list[tuple[Any, str]] = []

        def _schedule_identify(self, peer: Any, *, reason: str) -> None:
            self.asked.append((peer, reason))

    host = Host()
    request_identify(host, "peer")
    assert host.asked == [("peer", "registry-routing")]
    request_identify(object(), "peer")  # a host without it: nothing to do, nothing raised


async def test_the_routing_table_filler_asks_again_for_an_identify_that_died() -> None:
    """py-libp2p identifies a connection once; when that run dies the peer stays unknown (and out of
    the routing table) for the connection's life. The filler asks again, so the peer gets in."""
    from libp2p.kad_dht.common import PROTOCOL_ID as KAD_PROTOCOL

    from registry_p2p.adapter.routing_table import RoutingTableFiller

    class Dht:
        def __init__(self) -> None:
            self.added: list[ID] = []

        async def add_peer(self, peer: ID) -> None:
            self.added.append(peer)

    async def never_answer(stream: Any) -> None:
        await stream.reset()

    with trio.fail_after(30):
        async with running_hosts(2) as (a, b):
            b.set_stream_handler(KAD_PROTOCOL, never_answer)  # b speaks kad (for identify)
            await a.connect(PeerInfo(b.get_id(), b.get_addrs()))
            await wait_for(lambda: str(KAD_PROTOCOL) in a.get_peerstore().get_protocols(b.get_id()), timeout=10)
            # What a dead identify leaves: a connection, and nothing known of what the peer speaks.
            a.get_peerstore().set_protocols(b.get_id(), [])
            a._identified_peers.pop(b.get_id(), None)
            dht = Dht()
            filler = RoutingTableFiller(a, dht)  # type: ignore[arg-type]
            filler.IDENTIFY_WAIT_S = 0.2
            await filler._add(b.get_id())
            assert dht.added == [b.get_id()]


async def test_a_protocol_added_after_connecting_is_announced_to_connected_peers() -> None:
    late = TProtocol("/late/1.0.0")
    with trio.fail_after(30):
        async with running_hosts(2) as (a, b):
            await a.connect(PeerInfo(b.get_id(), b.get_addrs()))
            await wait_for(lambda: bool(a.get_peerstore().get_protocols(b.get_id())), timeout=10)

            async def handler(stream: Any) -> None:
                await stream.close()

            b.set_stream_handler(late, handler)
            assert late not in a.get_peerstore().get_protocols(b.get_id())
            await announce_protocols(b)
            await wait_for(lambda: late in a.get_peerstore().get_protocols(b.get_id()), timeout=5)


# ------------------------------------------------------------------ gossipsub


def test_message_ids_are_the_sha256_of_the_data() -> None:
    class Message:
        data = b"entries"

    assert message_id(Message()) == hashlib.sha256(b"entries").digest()


def test_pending_queues_are_cut_at_once_and_expired_entries_still_pruned() -> None:
    router = _GossipSub(["/meshsub/1.1.0"], degree=6, degree_low=4, degree_high=12, max_pending_messages_per_peer=32)
    peer = ID.from_pubkey(create_new_key_pair(b"\x05" * 32).public_key)
    now = time.time()
    router._pending_messages[peer] = [(now, i) for i in range(40)]
    router._prune_pending_messages(peer)
    assert [m for _, m in router._pending_messages[peer]] == list(range(24, 40))  # the newest half of the cap
    router._pending_messages[peer] = [(now - 3600, "old")] + [(now, i) for i in range(3)]
    router._prune_pending_messages(peer)
    assert [m for _, m in router._pending_messages[peer]] == [0, 1, 2]


def test_the_pubsub_sweeper_thread_is_stopped() -> None:
    pubsub, _router = make_gossipsub(new_host())
    sweeper = pubsub.seen_messages._thread
    assert sweeper.is_alive()
    stop_pubsub_thread(pubsub)
    sweeper.join(timeout=5)
    assert not sweeper.is_alive()


# ------------------------------------------------------------------ secure writes

SINK = TProtocol("/registry-p2p-test/sink/1.0.0")


async def _sink(stream: Any) -> None:
    try:
        while await stream.read(65536):
            pass
    except Exception:
        return


async def cancelled_writes_until_broken(a: Any, b: Any, seconds: float) -> float | None:
    """Twenty writers on streams of one connection a -> b, every write cancelled after a random
    0-2 ms, round after round for `seconds`: when the connection broke, None if it did not."""
    b.set_stream_handler(SINK, _sink)
    await a.connect(PeerInfo(b.get_id(), b.get_addrs()))
    (connection,) = a.get_network().get_connections(b.get_id())
    rng = random.Random(1)
    started = trio.current_time()

    async def writer() -> None:
        try:
            with trio.fail_after(5):
                stream = await a.new_stream(b.get_id(), [SINK])
            for _ in range(50):
                with trio.move_on_after(rng.random() * 0.002):
                    await stream.write(b"x" * rng.randrange(10, 3000))
            await stream.reset()  # yamux holds at most 256 open streams
        except Exception:
            return  # the connection broke under it

    with trio.move_on_after(seconds):
        while not connection.is_closed:
            async with trio.open_nursery() as nursery:
                for _ in range(20):
                    nursery.start_soon(writer)
    return trio.current_time() - started if connection.is_closed else None


async def test_a_cancelled_write_breaks_a_py_libp2p_connection_and_not_an_atomic_one() -> None:
    """adapter/secure_writes.py. Bare py-libp2p: Noise takes a nonce, the cancelled write never
    sends it, the peer fails to authenticate the next message and closes the connection (this
    part failing means py-libp2p fixed it, and the workaround can go). With atomic writes on both
    hosts, the same treatment leaves the connection open and usable."""
    with trio.fail_after(60):
        async with running_hosts(2) as (a, b):
            broke_after = await cancelled_writes_until_broken(a, b, 20.0)
            assert broke_after is not None, "py-libp2p survived cancelled writes: drop secure_writes.py"
        async with running_hosts(2) as (a, b):
            undo = [atomic_secure_writes(a), atomic_secure_writes(b)]
            assert await cancelled_writes_until_broken(a, b, 3.0) is None
            with trio.fail_after(5):
                stream = await a.new_stream(b.get_id(), [SINK])
                await stream.write(b"still fine")
                await stream.close()
            for step in undo:
                step()
            assert "secure_inbound" not in vars(a.get_network().upgrader.security_multistream)
        # Applied to a host already connected (mount on an application's running host): the
        # connection's existing session is made atomic too.
        async with running_hosts(2) as (a, b):
            await a.connect(PeerInfo(b.get_id(), b.get_addrs()))
            atomic_secure_writes(a)
            assert await cancelled_writes_until_broken(a, b, 3.0) is None
