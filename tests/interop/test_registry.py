"""Records and change notifications across the Python, Go and Rust implementations."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from registry_p2p.core import b58, build, resource_id_from_text
from registry_p2p.core.health import CheckSpec
from registry_p2p.node import Node
from registry_p2p.pb import registry_pb2 as pb
from registry_p2p.registry import wall_clock_ms
from tests.net.harness import wait_for

from .conftest import K, Mesh
from .peers import ExternalPeer

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240, func_only=True)]

# (issuer, host, service_id, value): what every resolver and watcher must agree on.
Seen = tuple[str, str, str, bytes]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def register(peer: ExternalPeer, rid: str, service_id: str, value: bytes, ack: int = K) -> None:
    reply = await peer.cmd("register", resource_id=rid, service_id=service_id, value_base64=b64(value), ack=ack)
    assert reply["success"] and reply["acks"] >= ack, f"{peer.name} register: {reply}"


async def resolve_everywhere(mesh: Mesh, rid: str) -> dict[str, set[Seen]]:
    views: dict[str, set[Seen]] = {}
    for i, node in enumerate(mesh.py):
        records = await node.registry.resolve(rid, ack=K)
        views[f"py{i}"] = {(r.issuer, r.host, r.service_id, r.value) for r in records}
    for peer in (mesh.go, mesh.rust):
        reply = await peer.cmd("resolve", resource_id=rid, ack=K)
        assert reply["answers"] >= K, f"{peer.name} resolve: {reply}"
        views[peer.name] = {
            (r["issuer"], r["host"], r["service_id"], base64.b64decode(r["value_base64"])) for r in reply["records"]
        }
    return views


async def test_records_resolve_to_the_same_merged_set(mesh: Mesh) -> None:
    go, rust = mesh.go, mesh.rust
    owner, writer = mesh.py[0], mesh.py[1]
    with trio.fail_after(150):
        rid = await owner.registry.create_resource("mixed-services")
        out = await writer.registry.register_service(rid, b"from-python", "py-svc", ack=K)
        assert out.ok and out.acks == K, out
        await register(go, rid, "go-svc", b"from-go")
        await register(rust, rid, "rust-svc", b"from-rust")
        # Each Python replica stored all three (the Go and Rust writes went to every replica).
        rid_bytes = resource_id_from_text(rid)
        for i, node in enumerate(mesh.py):
            assert node.store is not None
            held = {b58(r.issuer) for r in node.store.live_records(rid_bytes, wall_clock_ms())}
            assert held == {writer.peer_id, go.peer_id, rust.peer_id}, f"py{i} holds {held}"

        expected = {
            (writer.peer_id, writer.peer_id, "py-svc", b"from-python"),
            (go.peer_id, go.peer_id, "go-svc", b"from-go"),
            (rust.peer_id, rust.peer_id, "rust-svc", b"from-rust"),
        }
        views = await resolve_everywhere(mesh, rid)
        assert all(view == expected for view in views.values()), views

        # An unregister from Go (a tombstone) removes its record for every resolver.
        reply = await go.cmd("unregister", resource_id=rid, service_id="go-svc", ack=K)
        assert reply["success"] and reply["acks"] == K, reply
        views = await resolve_everywhere(mesh, rid)
        assert all(view == expected - {(go.peer_id, go.peer_id, "go-svc", b"from-go")} for view in views.values()), (
            views
        )


class Watcher:
    """What one watcher printed or yielded, pulled on demand (no background task, no sleeps)."""

    def __init__(self, name: str, receive: Callable[[], Awaitable[Any]]) -> None:
        self.name = name
        self._receive = receive
        self.seen: list[tuple[str, Seen]] = []

    def _add(self, event: Any) -> None:
        if hasattr(event, "record"):  # a Python Event
            value = event.record.value if event.record is not None else b""
        else:  # a Go/Rust WatchEvent
            value = event.value or b""
        self.seen.append((event.kind, (event.issuer, event.host, event.service_id, value)))

    async def until(self, wanted: set[tuple[str, Seen]], timeout: float = 20.0) -> None:
        try:
            with trio.fail_after(timeout):
                while not wanted <= set(self.seen):
                    self._add(await self._receive())
        except trio.TooSlowError:
            raise AssertionError(f"{self.name} watcher: missing {wanted - set(self.seen)}; got {self.seen}") from None

    async def drain(self, seconds: float) -> None:
        """Whatever else arrives within `seconds` (to prove that something does not)."""
        with trio.move_on_after(seconds):
            while True:
                self._add(await self._receive())


def forged_entry(node: Node, rid: str, service_id: str) -> bytes:
    """A record signed by `node`, then tampered: one bit of the host signature flipped."""
    record = build.make_record(
        node.host.get_private_key(), resource_id_from_text(rid), service_id, b"forged", wall_clock_ms()
    )
    entry = pb.Entry.FromString(record.encode())
    signature = bytearray(entry.record.host_signature)
    signature[5] ^= 0x01
    entry.record.host_signature = bytes(signature)
    return entry.SerializeToString()


async def test_changes_reach_watchers_in_every_language(mesh: Mesh) -> None:
    go, rust = mesh.go, mesh.rust
    owner, writer, watcher_node = mesh.py[0], mesh.py[1], mesh.py[3]
    with trio.fail_after(150):
        rid = await owner.registry.create_resource("watched")
        # Go and Rust talk to each other directly too, so their own publishes reach each other.
        await go.cmd("connect", addr=rust.addrs[0])
        for peer in (go, rust):
            await peer.cmd("watch", resource_id=rid)
        async with watcher_node.registry.watch(rid) as events:
            py_w = Watcher("py3", events.__anext__)
            go_w = Watcher("go", go.events.receive)
            rust_w = Watcher("rust", rust.events.receive)
            everyone = (py_w, go_w, rust_w)

            def reg(peer_id: str, service_id: str, value: bytes) -> tuple[str, Seen]:
                return ("registered", (peer_id, peer_id, service_id, value))

            # A Python registration reaches the Go and Rust watchers (and the Python one).
            out = await writer.registry.register_service(rid, b"py-value", "py-svc", ack=K)
            assert out.ok, out
            for w in everyone:
                await w.until({reg(writer.peer_id, "py-svc", b"py-value")})

            # Entries stored by one write are announced as one EntryBatch message.
            rid_bytes = resource_id_from_text(rid)
            now = wall_clock_ms()
            resource = build.make_resource(owner.host.get_private_key(), "watched", now)  # the same id
            raws = [
                build.make_record(writer.host.get_private_key(), rid_bytes, f"batch-{i}", b"b", now).encode()
                for i in range(3)
            ]
            request = pb.PutEntriesRequest(resource_id=rid_bytes, entries=raws, resource=resource.to_pb())
            reply = await owner.registry.client.request(writer.host.get_id(), pb.Message(put_entries=request))
            assert {pb.Status.Name(r.status) for r in reply.put_entries_response.results} == {"OK"}
            for w in everyone:
                await w.until({reg(writer.peer_id, f"batch-{i}", b"b") for i in range(3)})

            # Go's and Rust's registrations reach the Python watcher (and each other).
            await register(go, rid, "go-svc", b"go-value")
            await register(rust, rid, "rust-svc", b"rust-value")
            both = {reg(go.peer_id, "go-svc", b"go-value"), reg(rust.peer_id, "rust-svc", b"rust-value")}
            for w in everyone:
                await w.until(both)

            # Tampered messages published as they are by Go and by Rust: every validator drops
            # them. Valid registrations published after them must surface; the forged ones never.
            rejected_before = watcher_node.registry.notifier.rejected
            forged = {
                go: forged_entry(writer, rid, "forged-via-go"),
                rust: forged_entry(writer, rid, "forged-via-rust"),
            }
            for peer, data in forged.items():
                await peer.cmd("publish_raw", resource_id=rid, data_hex=data.hex())
            await register(go, rid, "go-after", b"after")
            await register(rust, rid, "rust-after", b"after")
            later = {reg(go.peer_id, "go-after", b"after"), reg(rust.peer_id, "rust-after", b"after")}
            for w in everyone:
                await w.until(later)
            for w in everyone:
                await w.drain(1.0)
                surfaced = [s for s in w.seen if s[1][2].startswith("forged")]
                assert not surfaced, f"{w.name} surfaced a tampered message: {surfaced}"
            # They did arrive, and were rejected by the validators (not merely lost).
            await wait_for(lambda: watcher_node.registry.notifier.rejected >= rejected_before + 2, timeout=10)
            await wait_for(lambda: "pubsub entry rejected" in rust.log_text(), timeout=10)
            await wait_for(lambda: "pubsub: rejected message" in go.log_text(), timeout=10)


async def test_a_critical_record_is_hidden_and_reported_in_every_language(mesh: Mesh) -> None:
    go, rust = mesh.go, mesh.rust
    owner, host, watcher_node = mesh.py[0], mesh.py[1], mesh.py[3]
    with trio.fail_after(150):
        rid = await owner.registry.create_resource("health-checked")
        await go.cmd("connect", addr=rust.addrs[0])
        for peer in (go, rust):
            await peer.cmd("watch", resource_id=rid)
        async with watcher_node.registry.watch(rid) as events:
            everyone = (
                Watcher("py3", events.__anext__),
                Watcher("go", go.events.receive),
                Watcher("rust", rust.events.receive),
            )
            seen: Seen = (host.peer_id, host.peer_id, "checked", b"up?")
            out = await host.registry.register_service(rid, b"up?", "checked", ack=K, check=CheckSpec("ttl", ttl_s=60))
            assert out.ok, out
            for w in everyone:
                await w.until({("registered", seen)})

            # The service reports itself failing: its host re-signs the record critical.
            await host.registry.check_pass(rid, "checked", ok=False, output="disk full")
            for w in everyone:
                await w.until({("critical", seen)})
            await wait_for(lambda: host.registry.health.resigned >= 1)
            for peer in (go, rust):
                hidden = await peer.cmd("resolve", resource_id=rid, ack=K)
                assert hidden["records"] == [], f"{peer.name} resolved a critical record: {hidden}"
                everything = await peer.cmd("resolve", resource_id=rid, ack=K, all=True)
                assert [(r["service_id"], r["health"]) for r in everything["records"]] == [("checked", "critical")]
            assert await watcher_node.registry.resolve(rid, ack=K) == []

            # Passing again: every watcher says so, every resolver returns it.
            await host.registry.check_pass(rid, "checked", ok=True)
            for w in everyone:
                await w.until({("passing", seen)})
            for peer in (go, rust):
                back = await peer.cmd("resolve", resource_id=rid, ack=K)
                assert [(r["service_id"], r["health"]) for r in back["records"]] == [("checked", "passing")], back
