"""Fuzzing: the wire decoder and the server handler take 10,000 generated inputs each.

Structured inputs are pb.Message trees of every request kind whose fields hold random bytes and
strings, real signed entries and resources, and mutations of them (bit flips, truncations,
splices, fields swapped between messages), so that most inputs get past the first checks and
reach validation and the store. Raw inputs are byte streams made of such frames, junk, bad
length prefixes and truncations, cut into random chunks and read through FrameReader.

Nothing may raise out of FrameReader but FrameError, nothing out of `RegistryServer.handle`
at all (every reply a pb.Message), and after the run every entry the store holds must validate.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from libp2p.crypto.ed25519 import create_new_key_pair

from registry_p2p.adapter.keys import make_verifier
from registry_p2p.core import build
from registry_p2p.core.config import RegistryConfig
from registry_p2p.core.ids import uvarint
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.net.framing import FrameError, FrameReader, decode_message, encode_frame
from registry_p2p.net.server import RegistryServer
from registry_p2p.pb import registry_pb2 as pb
from registry_p2p.store import Store

from .helpers import Tally

EXAMPLES = 10_000
NOW = 1_700_000_000_000
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ------------------------------------------------------------------ material


@functools.cache
def material() -> dict[str, Any]:
    """Real signed objects to build on: resources, records, renewals, tombstones, host-sign parts."""
    keys = [create_new_key_pair(bytes([i + 1]) * 32).private_key for i in range(4)]
    resources = [build.make_resource(keys[i], f"fuzz-{i}", NOW - 1000) for i in range(3)]
    entries: list[bytes] = []
    for res in resources:
        for k, key in enumerate(keys):
            for service in ("a", "b"):
                rec = build.make_record(
                    key, res.id, service, b"v%d" % k, NOW - 500 + k, addrs=[b"\x04\x7f\x00\x00\x01"]
                )
                entries.append(rec.encode())
                entries.append(build.renew(key, rec, NOW - 100 + k).encode())
                entries.append(build.make_tombstone(key, res.id, rec.host, service, NOW - 400 + k).encode())
        # Records hosted by someone else: two signatures.
        part = build.make_issuer_part(keys[0], res.id, peer_id_bytes_of(keys[1]), "hosted", b"h", NOW - 300)
        request = part.to_request()
        entries.append(pb.Entry(record=build.countersign(keys[1], request, NOW - 299, []).to_pb()).SerializeToString())
    parts = [
        build.make_issuer_part(keys[1], res.id, peer_id_bytes_of(keys[0]), "hs", b"x", NOW - 10).to_request()
        for res in resources
    ]
    return {
        "keys": keys,
        "resources": [r.to_pb() for r in resources],
        "rids": [r.id for r in resources],
        "entries": entries,
        "host_sign": parts,
        "server_key": keys[0],
    }


def mutate(data: bytes, how: int, pos: int, other: bytes) -> bytes:
    if not data:
        return other[:pos]
    pos %= len(data)
    if how == 0:  # flip a bit
        return data[:pos] + bytes([data[pos] ^ (1 << (pos % 8))]) + data[pos + 1 :]
    if how == 1:  # truncate
        return data[:pos]
    if how == 2:  # splice in bytes from elsewhere
        return data[:pos] + other[: len(other) // 2] + data[pos:]
    if how == 3:  # overwrite a run
        return data[:pos] + other[:8] + data[pos + 8 :]
    return data


# ------------------------------------------------------------------ generation
#
# Hypothesis draws a seed and a noise blob per example; the message trees are built from them
# here. (Composite strategies drawing every field spent 80% of the run inside Hypothesis's engine
# for the same variety of inputs: 10,000 examples would not fit in a minute.)


@functools.cache
def _pool(name: str) -> tuple[bytes, ...]:
    m = material()
    if name == "rids":
        return tuple(m["rids"])
    if name == "entries":
        return tuple(m["entries"])
    if name == "resources":
        return tuple(r.SerializeToString() for r in m["resources"])
    return tuple(p.SerializeToString() for p in m["host_sign"])


class Builder:
    """Turns (seed, noise) into structured messages and a raw byte stream."""

    KINDS = ("put_entries",) * 4 + (
        "put_resource",
        "get_resource",
        "get_entries",
        "digest",
        "host_sign",
        "host_sign",
        "junk",
        "empty",
    )

    def __init__(self, seed: int, noise: bytes) -> None:
        self.rng = random.Random(seed)
        self.noise = noise or b"\x00"

    def blob(self, max_size: int = 64) -> bytes:
        start = self.rng.randrange(len(self.noise))
        size = self.rng.randrange(max_size + 1)
        return (self.noise[start:] + self.noise)[:size]

    def text(self) -> str:
        return self.blob(40).decode("utf-8", "replace")

    def real_or_random(self, pool_name: str, max_size: int = 64) -> bytes:
        """Mostly real signed bytes, often mutated, sometimes pure noise."""
        choice = self.rng.randrange(4)
        if choice == 3:
            return self.blob(max_size)
        real = self.rng.choice(_pool(pool_name))
        if choice == 2:
            return mutate(real, self.rng.randrange(5), self.rng.randrange(10_000), self.blob(40))
        return real

    def resource(self, rid: bytes | None = None) -> pb.Resource:
        if rid is not None and rid in _pool("rids") and self.rng.random() < 0.7:
            raw = _pool("resources")[_pool("rids").index(rid)]  # the one that matches
        else:
            raw = self.real_or_random("resources", 200)
        try:
            return pb.Resource.FromString(raw)
        except Exception:
            return pb.Resource(body=raw, signature=raw[:64])

    def message(self) -> pb.Message:
        rng = self.rng
        kind = rng.choice(self.KINDS)
        rid = rng.choice(_pool("rids")) if rng.random() < 0.7 else self.real_or_random("rids", 40)
        message = pb.Message(request_id=rng.getrandbits(64))
        if kind == "put_resource":
            message.put_resource.resource.CopyFrom(self.resource())
        elif kind == "get_resource":
            message.get_resource.resource_id = rid
        elif kind == "put_entries":
            body = message.put_entries
            body.resource_id = rid
            body.entries.extend(self.real_or_random("entries", 300) for _ in range(rng.randrange(13)))
            if rng.random() < 0.5:
                body.resource.CopyFrom(self.resource(rid))
        elif kind == "get_entries":
            body = message.get_entries
            body.resource_id = rid
            body.limit = rng.choice([0, 1, 2, 1024, 2**32 - 1, rng.getrandbits(32)])
            body.cursor = self.blob(40) if rng.random() < 0.5 else b""
            body.include_tombstones = rng.random() < 0.5
        elif kind == "digest":
            message.digest.resource_id = rid
            message.digest.root = self.blob(40)
        elif kind == "host_sign":
            raw = self.real_or_random("host_sign", 200)
            try:
                message.host_sign.CopyFrom(pb.HostSignRequest.FromString(raw))
            except Exception:
                message.host_sign.issuer_body = raw
                message.host_sign.issuer_signature = self.blob(70)
            if rng.random() < 0.5:
                message.host_sign.resource.CopyFrom(self.resource())
        elif kind == "junk":
            # A body of a reply kind, or an error: the server must refuse, not crash.
            message.error.status = rng.randrange(13)
            message.error.text = self.text()
        return message

    def example(self) -> tuple[list[pb.Message], bytes, list[int]]:
        """1-2 structured messages, and a stream of their frames, intact or broken, in chunks."""
        rng = self.rng
        structured = [self.message() for _ in range(rng.randrange(1, 3))]
        parts = []
        for message in structured:
            frame = encode_frame(message)
            choice = rng.randrange(8)
            if choice <= 3:
                parts.append(frame)
            elif choice == 4:
                parts.append(frame[: rng.randrange(len(frame) + 1)])  # truncated
            elif choice == 5:
                parts.append(mutate(frame, rng.randrange(5), rng.randrange(10_000), b"\x80\x80\x01"))
            elif choice == 6:  # a length prefix promising more than follows, or over the limit
                parts.append(uvarint(rng.randrange(2**40)) + frame[:20])
            else:  # an over-long varint, or noise
                parts.append(b"\xff" * 11 if rng.random() < 0.3 else self.blob(60))
        chunks = [rng.randrange(1, 65) for _ in range(rng.randrange(7))]
        return structured, b"".join(parts), chunks


# ------------------------------------------------------------------ the system under test


class Target:
    def __init__(self) -> None:
        m = material()
        self.config = RegistryConfig()
        self.store = Store(
            ":memory:",
            local_peer=peer_id_bytes_of(m["server_key"]),
            limits=self.config.limits,
            verifier=make_verifier(),
        )
        self.server = RegistryServer(
            store=self.store,
            key=m["server_key"],
            local_peer=peer_id_bytes_of(m["server_key"]),
            config=self.config,
            verifier=self.store.verifier,
            clock_ms=lambda: NOW,
            own_addrs=lambda: [b"\x04\x7f\x00\x00\x01\x06\x10\x00"],
        )
        for res in m["resources"][:2]:  # most requests meet a resource that exists
            self.server.handle(b"peer", pb.Message(put_resource=pb.PutResourceRequest(resource=res)))
        self.tally = Tally("fuzz")

    def handle(self, message: pb.Message) -> pb.Message:
        reply = self.server.handle(b"\x00\x24" + b"x" * 36, message)
        assert isinstance(reply, pb.Message)
        kind = reply.WhichOneof("body")
        self.tally.add("handled")
        if kind == "error":
            self.tally.add("refused_" + pb.Status.Name(reply.error.status))
        elif kind == "put_entries_response":
            for r in reply.put_entries_response.results:
                self.tally.add("entry_" + pb.Status.Name(r.status))
        return reply

    def stored_entries_valid(self) -> tuple[int, int]:
        from registry_p2p.core.errors import RegistryError
        from registry_p2p.core.validate import check_entry_bytes

        checked = invalid = 0
        verifier = make_verifier()  # a fresh one: nothing taken on trust from the server's cache
        for rid in self.store.resource_ids():
            cursor = b""
            while True:
                raws, cursor = self.store.get_entries(rid, NOW, limit=1024, cursor=cursor, include_tombstones=True)
                for raw in raws:
                    checked += 1
                    try:
                        check_entry_bytes(raw, NOW, self.config.limits, verifier, rid)
                    except RegistryError:
                        invalid += 1
                if not cursor:
                    break
        return checked, invalid


class OneShotStream:
    """A stream handing out `data` in the given chunk sizes, then EOF; reads never block."""

    def __init__(self, data: bytes, chunks: list[int]) -> None:
        self.data = data
        self.sizes: Iterator[int] = iter(chunks)

    async def read(self, n: int | None = None) -> bytes:
        size = next(self.sizes, n or 65536)
        out, self.data = self.data[:size], self.data[size:]
        return out

    async def write(self, data: bytes) -> None:
        return None


def run_sync(coro: Any) -> Any:
    """Drive a coroutine that never suspends (the stream above never blocks)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise AssertionError("the frame reader suspended on a stream that never blocks")


# ------------------------------------------------------------------ tests


def test_handler_and_wire_decoder_take_10000_generated_inputs() -> None:
    """Each example: 1-2 structured messages straight to the handler, and a byte stream of their
    frames (intact, truncated, mutated, mis-prefixed, with noise) through FrameReader, the
    decoder and again the handler."""
    target = Target()
    tally = target.tally
    started = time.perf_counter()

    @FUZZ_SETTINGS
    @given(st.integers(min_value=0, max_value=2**64 - 1), st.binary(min_size=1, max_size=256))
    def one(seed: int, noise: bytes) -> None:
        structured, data, chunks = Builder(seed, noise).example()
        tally.add("examples")
        for message in structured:
            tally.add("structured")
            target.handle(message)
        reader = FrameReader(OneShotStream(data, chunks))
        tally.add("byte_streams")
        for _ in range(64):
            try:
                frame = run_sync(reader.read_frame())
            except FrameError:
                tally.add("frame_errors")
                return
            if frame is None:
                tally.add("clean_eof")
                return
            tally.add("frames")
            try:
                message = decode_message(frame)
            except FrameError:
                tally.add("undecodable")
                continue
            target.handle(message)

    one()
    checked, invalid = target.stored_entries_valid()
    tally.add("stored_checked", checked)
    tally.add("stored_invalid", invalid)
    tally.report()
    assert tally["examples"] >= EXAMPLES
    assert tally["structured"] >= EXAMPLES and tally["byte_streams"] >= EXAMPLES
    assert invalid == 0
    assert tally["entry_OK"] > 0 and checked > 0, "nothing was ever stored: only the refusals were exercised"
    assert time.perf_counter() - started < 150
