"""`registry-p2p watch`: the records of a resource, then every change, across outages."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from registry_p2p.cli.app import cli
from registry_p2p.cli.client import Client, check_resource_id, client_args, client_options, resource_must_exist
from registry_p2p.cli.output import StdoutConsole, emit_json, err_console, event_json, value_cell

if TYPE_CHECKING:
    from registry_p2p.core.views import Event
    from registry_p2p.node import Node


@cli.command()
@click.argument("resource_id")
@client_options
def watch(resource_id: str, **kwargs: Any) -> None:
    """Print the current records, then every change, until Ctrl-C (--json: one object per line).

    When every peer is gone it says so, and once its bootstrap peers answer again (the node dials
    them meanwhile) it watches again from the current records.
    """
    rid = check_resource_id(resource_id)
    client = Client(client_args(kwargs), signs=False)
    console = StdoutConsole(highlight=False, soft_wrap=True)  # one event, one line

    async def show(events: AsyncIterator[Event]) -> None:
        async for event in events:
            if client.json:
                emit_json(event_json(event))
                continue
            line = f"{time.strftime('%H:%M:%S')} {event.kind:<12} service={event.service_id!r} host={event.host}"
            if event.record is not None:
                line += f" value={value_cell(event.record.value)!r}"
            console.print(escape(line))
            sys.stdout.flush()

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
