"""Resolve latency from Python, Go and Rust on the same network. Run with -s to see the figures."""

from __future__ import annotations

import statistics

import pytest
import trio

from .conftest import K, Mesh
from .peers import ExternalPeer
from .test_registry import register

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240, func_only=True)]

ROUNDS = 20


async def test_resolve_latency_figures(mesh: Mesh) -> None:
    go, rust = mesh.go, mesh.rust
    with trio.fail_after(180):
        client = (await mesh.net.add(serve=False)).node  # a Python light client, like Go and Rust
        assert client is not None
        rid = await mesh.py[0].registry.create_resource("latency")
        await mesh.py[1].registry.register_service(rid, b"py", "py-svc", ack=K)
        await register(go, rid, "go-svc", b"go")
        await register(rust, rid, "rust-svc", b"rust")

        async def py_resolve(ack: int) -> int:
            return len(await client.registry.resolve(rid, ack=ack))

        async def ext_resolve(peer: ExternalPeer, ack: int) -> int:
            reply = await peer.cmd("resolve", resource_id=rid, ack=ack)
            return len(reply["records"])

        lines = [f"resolve latency, {ROUNDS} rounds, 4 Python replicas, 3 records (ms: median / min / max)"]
        for ack in (1, K):
            for name, call in (
                ("python", lambda a=ack: py_resolve(a)),
                ("go", lambda a=ack: ext_resolve(go, a)),
                ("rust", lambda a=ack: ext_resolve(rust, a)),
            ):
                times = []
                for _ in range(ROUNDS):
                    started = trio.current_time()
                    found = await call()
                    times.append((trio.current_time() - started) * 1000)
                    assert found == 3, f"{name} resolved {found} records"
                lines.append(
                    f"  ack={ack} {name:>6}: {statistics.median(times):7.1f} / {min(times):6.1f} / {max(times):7.1f}"
                )
        print("\n" + "\n".join(lines))
