"""Crash: kill -9 a node process in the middle of a write stream, restart it on its data dir.

The node is a real process (`python -m registry_p2p.cli node --json` on a data dir). A light
client in this process streams pre-signed records to it as PutEntries batches from four
concurrent tasks; an entry counts as acknowledged once the node answered OK for it. After
KILL_AFTER acknowledgements the node gets SIGKILL while requests are in flight. Then:
the SQLite file must pass `PRAGMA integrity_check` and open as a Store as it is (no repair, no
rebuild); every acknowledged entry must be in it; and the node restarted on the same data dir,
with the same peer id, must serve every acknowledged entry over the wire.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID

from registry_p2p.adapter.keys import make_verifier
from registry_p2p.core import build
from registry_p2p.core.config import RegistryConfig
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.ids import peer_id_from_text
from registry_p2p.net.client import PeerUnavailable
from registry_p2p.node import STORE_FILE, open_node
from registry_p2p.pb import registry_pb2 as pb
from registry_p2p.store import Store

from .helpers import Tally

ISSUERS = 8
PER_ISSUER = 200  # one resource per issuer: under the 256 records a node keeps per resource
BATCH = 20
SENDERS = 4
KILL_AFTER = 400


class NodeProcess:
    """`registry-p2p node --json` on a data dir; `ready` reads its first JSON line."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        self.log = log.open("ab")
        self.proc: trio.Process | None = None
        self.peer_id = ""
        self.addr = ""

    async def start(self) -> None:
        args = [sys.executable, "-m", "registry_p2p.cli", "node", "--json"]
        args += ["--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir", str(self.data_dir)]
        self.proc = await trio.lowlevel.open_process(args, stdout=subprocess.PIPE, stderr=self.log)
        assert self.proc.stdout is not None
        buffer = b""
        with trio.fail_after(90):
            while True:
                chunk = await self.proc.stdout.receive_some(4096)
                if not chunk:
                    raise AssertionError(f"the node exited before it was ready (see {self.log.name})")
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    event = json.loads(line)
                    if event.get("event") == "ready":
                        self.peer_id = event["peer_id"]
                        self.addr = event["addrs"][0]
                        return

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        with trio.fail_after(30):
            await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            with trio.move_on_after(30):
                await self.proc.wait()
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        self.log.close()


def prepared_batches(owner_key: Any, now: int) -> list[pb.PutEntriesRequest]:
    batches = []
    for n in range(ISSUERS):
        # Four keys per resource: one issuer's share of a resource is half of it.
        keys = [create_new_key_pair().private_key for _ in range(4)]
        resource = build.make_resource(owner_key, f"crash-{n}", now)
        raws = [
            build.make_record(keys[i % 4], resource.id, f"s-{i}", b"v%d" % i, now).encode() for i in range(PER_ISSUER)
        ]
        for start in range(0, PER_ISSUER, BATCH):
            chunk = raws[start : start + BATCH]
            batches.append(pb.PutEntriesRequest(resource_id=resource.id, entries=chunk, resource=resource.to_pb()))
    # Interleave the issuers, as independent writers would.
    per = PER_ISSUER // BATCH
    return [batches[i * per + j] for j in range(per) for i in range(ISSUERS)]


async def test_kill_9_mid_stream_keeps_every_acknowledged_entry(tmp_path: Path) -> None:
    tally = Tally("crash")
    data_dir = tmp_path / "node"
    node = NodeProcess(data_dir, tmp_path / "node.log")
    acked: set[bytes] = set()
    with trio.fail_after(200):
        await node.start()
        try:
            async with open_node(bootstrap=[node.addr], config=RegistryConfig(), serve=False) as client:
                peer = ID.from_base58(node.peer_id)
                batches = prepared_batches(client.registry.key, client.registry.clock_ms())
                killed = trio.Event()
                in_flight = 0

                async def sender() -> None:
                    nonlocal in_flight
                    while batches and not killed.is_set():
                        request = batches.pop(0)
                        tally.add("entries_sent", len(request.entries))
                        in_flight += 1
                        try:
                            reply = await client.registry.client.request(
                                peer, pb.Message(put_entries=request), timeout=10
                            )
                        except (PeerUnavailable, RegistryError):
                            tally.add("requests_failed")
                            return
                        finally:
                            in_flight -= 1
                        for raw, result in zip(request.entries, reply.put_entries_response.results, strict=True):
                            if Status(result.status) is Status.OK:
                                acked.add(raw)
                        tally.add("batches_answered")

                async def killer() -> None:
                    while len(acked) < KILL_AFTER:
                        await trio.sleep(0.005)  # polls our own counter: no event for "N acks"
                    tally.add("requests_in_flight_at_kill", in_flight)
                    await node.kill9()
                    killed.set()

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(killer)
                    for _ in range(SENDERS):
                        nursery.start_soon(sender)
                tally.add("acknowledged", len(acked))

                # The file as the crash left it: intact, and a Store opens it as it is.
                path = data_dir / STORE_FILE
                tally.add("wal_bytes_at_crash", (data_dir / (STORE_FILE + "-wal")).stat().st_size)
                with contextlib.closing(sqlite3.connect(path)) as raw_db:
                    assert raw_db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                store = Store(path, local_peer=peer_id_from_text(node.peer_id), verifier=make_verifier())
                try:
                    stored = set()
                    now = client.registry.clock_ms()
                    for rid in store.resource_ids():
                        cursor = b""
                        while True:
                            raws, cursor = store.get_entries(rid, now, limit=1024, cursor=cursor)
                            stored.update(raws)
                            if not cursor:
                                break
                finally:
                    store.close()
                tally.add("in_store_after_crash", len(stored))
                missing_on_disk = acked - stored

                # Restarted on its data dir: same identity, serves every acknowledged entry.
                await node.stop()
                node = NodeProcess(data_dir, tmp_path / "node.log")
                await node.start()
                assert node.peer_id == str(peer)
                served: set[bytes] = set()
                async with open_node(bootstrap=[node.addr], serve=False, require_bootstrap=True) as reader:
                    for rid in prepared_resource_ids(acked, stored):
                        get = pb.GetEntriesRequest(resource_id=rid, limit=1024)
                        reply = await reader.registry.client.request(peer, pb.Message(get_entries=get))
                        served.update(reply.get_entries_response.entries)
                missing_served = acked - served
                tally.add("served_after_restart", len(served))
                tally.add("lost", len(missing_on_disk | missing_served))
        finally:
            await node.stop()
    tally.report()
    assert tally["acknowledged"] >= KILL_AFTER
    assert not missing_on_disk, f"{len(missing_on_disk)} acknowledged entries not in the store after the crash"
    assert not missing_served, f"{len(missing_served)} acknowledged entries not served after the restart"


def prepared_resource_ids(acked: set[bytes], stored: set[bytes]) -> list[bytes]:
    from registry_p2p.core.limits import DEFAULT_LIMITS
    from registry_p2p.core.model import decode_entry

    return sorted({decode_entry(raw, DEFAULT_LIMITS).resource_id for raw in acked | stored})
