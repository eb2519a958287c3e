"""`registry-p2p watch`: the records of a resource, then every change, across outages."""

from __future__ import annotations

import base64
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from registry_p2p.cli.app import cli
from registry_p2p.cli.client import Client, check_resource_id, client_args, client_options, resource_must_exist
from registry_p2p.cli.local import ApiFailed, LocalNode, NodeGone, find_local_node, local_from, path_of
from registry_p2p.cli.output import CliError, Interrupted, StdoutConsole, emit_json, err_console, event_json, value_cell

if TYPE_CHECKING:
    from registry_p2p.core.views import Event
    from registry_p2p.node import Node


@cli.command()
@click.argument("resource_id")
@client_options
def watch(resource_id: str, **kwargs: Any) -> None:
    """Print the current records, then every change, until Ctrl-C (--json: one object per line).

    Through the local node's API when one runs (--api, $REGISTRY_P2P_API, or the node on
    --data-dir), else as a light node. When the node, or every peer, is gone it says so, and once
    it answers again it watches again from the current records.
    """
    args = client_args(kwargs)
    console = StdoutConsole(highlight=False, soft_wrap=True)  # one event, one line
    local = local_from(args)
    if local is not None:
        timeout = local.timeout

        def find() -> LocalNode | None:
            found = find_local_node(args.api, args.data_dir, args.key_file)
            if found is not None:
                found.timeout = timeout
            return found

        _watch_through_api(local, find, resource_id, args.as_json, console)
        return
    rid = check_resource_id(resource_id)
    client = Client(args, signs=False)

    async def show(events: AsyncIterator[Event]) -> None:
        async for event in events:
            if client.json:
                emit_json(event_json(event))
                continue
            value = event.record.value if event.record is not None else None
            _print_event(console, event.kind, event.service_id, event.host, value)

    async def body(node: Node) -> None:
        import trio

        await resource_must_exist(node, rid)
        back_through = None
        while True:
            # Entered again after an outage: the replica set may have changed, and the changes
            # made meanwhile were never announced to us; the snapshot has them.
            async with node.registry.watch(rid) as events:
                if back_through is None:
                    err_console.print(f"watching {rid} (Ctrl-C to stop)")
                    client.unbounded()
                else:
                    err_console.print(f"reconnected to {back_through}: watching again (the records follow)")
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(show, events)
                    await _until_alone(node)
                    nursery.cancel_scope.cancel()
            err_console.print("lost every peer of the network: reconnecting through the bootstrap peers")
            back_through = await _until_connected(node)

    client.run(body)


WATCH_POLL_S = 0.5
API_RETRY_S = 1.0


def _print_event(console: StdoutConsole, kind: str, service_id: str, host: str, value: bytes | None) -> None:
    line = f"{time.strftime('%H:%M:%S')} {kind:<12} service={service_id!r} host={host}"
    if value is not None:
        line += f" value={value_cell(value)!r}"
    console.print(escape(line))
    sys.stdout.flush()


def _watch_through_api(
    local: LocalNode, find: Callable[[], LocalNode | None], resource_id: str, as_json: bool, console: StdoutConsole
) -> None:
    """The local node's SSE watch, printed as the light-node path prints. When the node goes away
    it says so and looks for it again every API_RETRY_S (`find`: a restarted node may listen on
    another port); back, the stream starts again from the current records."""
    path = path_of(resource_id, "/watch")
    lost = False

    def terminated(signum: int, frame: object) -> None:
        raise Interrupted(signum)  # 143, as the light-node path ends on SIGTERM

    signal.signal(signal.SIGTERM, terminated)
    while True:
        try:
            for name, data in local.events(path):
                if name == "watching":
                    if lost:
                        err_console.print(f"reconnected to the node's API at {local.url}: watching again")
                    else:
                        err_console.print(f"watching {resource_id.strip()} (Ctrl-C to stop)")
                    lost = False
                elif as_json:
                    emit_json(data)
                else:
                    record = data.get("record")
                    value = base64.b64decode(record["value_base64"]) if record else None
                    _print_event(console, name, data["service_id"], data["host"], value)
        except ApiFailed:
            raise  # it answers, and refuses: said once, as every verb does
        except NodeGone as gone:
            lost = True
            err_console.print(f"{gone}: looking for it again every {API_RETRY_S:g} s")
        except CliError:
            if not lost:
                raise  # never reached at all
        time.sleep(API_RETRY_S)
        local = find() or local


async def _until_alone(node: Node) -> None:
    """Return once the node has no connection left (its peers stopped, or the network is down)."""
    import trio

    while node.host.get_connected_peers():
        await trio.sleep(WATCH_POLL_S)


async def _until_connected(node: Node) -> str:
    """Wait for a connection again (open_node dials the bootstrap peers, backing off): its peer id."""
    import trio

    while not (peers := node.host.get_connected_peers()):
        await trio.sleep(WATCH_POLL_S)
    return str(peers[0])
