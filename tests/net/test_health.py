"""Health checks on a loopback network: a failing check re-signs its record critical, resolve
hides it, watchers see it, and it comes back when the check passes again."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.health import CheckSpec
from registry_p2p.core.views import Event

from .harness import cfg, network

INTERVAL = 1.0
TIMEOUT = 0.5
# A watch event reaches a subscriber within a second of the write (tests/net/test_watch.py).
PROPAGATION = 1.0


async def next_event(events: AsyncIterator[Event], timeout: float) -> Event:
    with trio.fail_after(timeout):
        return await events.__anext__()


async def _closing_handler(stream: trio.SocketStream) -> None:
    await stream.aclose()


async def serve(port: int, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """A TCP service on 127.0.0.1:port, until cancelled (which closes its listener)."""
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
    await trio.serve_listeners(_closing_handler, listeners, task_status=task_status)


async def test_tcp_check_flips_critical_when_the_listener_closes_and_back_when_it_reopens() -> None:
    with trio.fail_after(120):
        async with network(4, cfg(k=3)) as net, trio.open_nursery() as outer:
            host, watcher, reader = net.nodes[0], net.nodes[1], net.nodes[3]
            service = trio.CancelScope()

            async def run_service(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
                with service:
                    await serve(0, task_status=task_status)

            listeners = await outer.start(run_service)
            port = listeners[0].socket.getsockname()[1]
            rid = await host.registry.create_resource("checked")
            check = CheckSpec("tcp", f"127.0.0.1:{port}", interval_s=INTERVAL, timeout_s=TIMEOUT)
            assert (await host.registry.register_service(rid, b"web", "web", check=check)).ok

            async with watcher.registry.watch(rid) as events:
                first = await next_event(events, 10)
                assert first.kind == "registered" and first.record is not None
                assert first.record.health == "passing"

                service.cancel()  # the listener closes: connections are refused from now on
                closed = trio.current_time()
                event = await next_event(events, INTERVAL + TIMEOUT + PROPAGATION)
                assert event.kind == "critical" and event.service_id == "web"
                assert event.record is not None and event.record.health == "critical"
                assert trio.current_time() - closed <= INTERVAL + TIMEOUT + PROPAGATION
                status = host.registry.check_status(rid, "web")
                assert status is not None and status[0] == "critical" and "refused" in status[1].lower()

                assert await reader.registry.resolve(rid) == []
                everything = await reader.registry.resolve(rid, include_critical=True)
                assert [(r.service_id, r.health) for r in everything] == [("web", "critical")]

                reopen = trio.CancelScope()

                async def run_again(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
                    with reopen:
                        await serve(port, task_status=task_status)

                await outer.start(run_again)
                opened = trio.current_time()
                event = await next_event(events, INTERVAL + TIMEOUT + PROPAGATION)
                assert event.kind == "passing" and event.record is not None and event.record.health == "passing"
                assert trio.current_time() - opened <= INTERVAL + TIMEOUT + PROPAGATION
                back = await reader.registry.resolve(rid)
                assert [(r.service_id, r.health) for r in back] == [("web", "passing")]
                reopen.cancel()


async def test_ttl_check_not_refreshed_turns_critical() -> None:
    ttl = 1.0
    with trio.fail_after(120):
        async with network(3, cfg(k=3)) as net:
            host, watcher = net.nodes[0], net.nodes[1]
            rid = await host.registry.create_resource("ttl-checked")
            await host.registry.register_service(rid, b"job", "job", check=CheckSpec("ttl", ttl_s=ttl))
            async with watcher.registry.watch(rid) as events:
                assert (await next_event(events, 10)).kind == "registered"
                await host.registry.check_pass(rid, "job", output="alive")
                reported = trio.current_time()
                event = await next_event(events, ttl + PROPAGATION)
                assert event.kind == "critical"
                assert trio.current_time() - reported >= ttl  # not before its ttl ran out
                assert host.registry.check_status(rid, "job") == ("critical", "no report for 1 s")
                await host.registry.check_pass(rid, "job", output="alive again")
                assert (await next_event(events, PROPAGATION)).kind == "passing"
                assert [r.health for r in await watcher.registry.resolve(rid)] == ["passing"]


async def test_command_check_runs_only_when_the_host_policy_enables_it() -> None:
    with trio.fail_after(120):
        async with network(3, cfg(k=3)) as net:
            host = net.nodes[0]
            rid = await host.registry.create_resource("commands")
            failing = CheckSpec(
                "command", argv=(sys.executable, "-c", "raise SystemExit(3)"), interval_s=2, timeout_s=2
            )
            with pytest.raises(RegistryError) as refused:
                await host.registry.register_service(rid, b"x", "cmd", check=failing)
            assert refused.value.status is Status.NOT_AUTHORIZED
            assert "command checks are disabled by this host's policy" in refused.value.text
            # Refused before anything was signed: no record appeared.
            assert await host.registry.resolve(rid, include_critical=True) == []
            for absurd in (
                CheckSpec("tcp", "127.0.0.1:1", interval_s=0.0),
                CheckSpec("tcp", "127.0.0.1:1", interval_s=1e9),
            ):
                with pytest.raises(RegistryError, match="interval_s"):
                    await host.registry.register_service(rid, b"x", "absurd", check=absurd)
            assert await host.registry.resolve(rid, include_critical=True) == []
            # A check needs a live record hosted here.
            with pytest.raises(RegistryError) as missing:
                host.registry.add_check(rid, CheckSpec("ttl", ttl_s=5), "nothing")
            assert missing.value.status is Status.UNKNOWN_RESOURCE

        async with network(3, cfg(k=3, allow_command_checks=True)) as net:
            host = net.nodes[0]
            rid = await host.registry.create_resource("commands")
            async with host.registry.watch(rid) as events:
                await host.registry.register_service(rid, b"x", "cmd", check=failing)
                kinds = [(await next_event(events, 10)).kind, (await next_event(events, 10)).kind]
                assert kinds == ["registered", "critical"]
            assert host.registry.check_status(rid, "cmd") == ("critical", "exit 3")


async def test_probe_pings_each_records_host_and_marks_the_ones_that_do_not_answer() -> None:
    deadline = 2.0
    with trio.fail_after(120):
        async with network(3, cfg(k=3)) as net:
            reader = net.nodes[2]
            alive = net.nodes[1]
            gone_slot = await net.add()
            gone = gone_slot.node
            assert gone is not None
            rid = await net.nodes[0].registry.create_resource("probed")
            assert (await alive.registry.register_service(rid, b"a", "alive", ack=3)).ok
            assert (await gone.registry.register_service(rid, b"g", "gone", ack=3)).ok
            await net.stop(gone_slot)
            records = await reader.registry.resolve(rid)
            assert sorted(r.service_id for r in records) == ["alive", "gone"]
            started = trio.current_time()
            rtts = await reader.registry.probe(records, deadline)
            assert trio.current_time() - started <= deadline + 0.5  # concurrent, each bounded
            by_service = dict(zip((r.service_id for r in records), rtts, strict=True))
            assert by_service["gone"] is None
            alive_rtt = by_service["alive"]
            assert alive_rtt is not None and 0 < alive_rtt < deadline * 1000
