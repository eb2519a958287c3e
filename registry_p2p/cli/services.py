"""`register`, `unregister` and `resolve`: a service's records in a resource."""

from __future__ import annotations

from typing import Any

import click

from registry_p2p.cli.app import cli
from registry_p2p.cli.client import (
    Client,
    check_resource_id,
    check_size,
    client_args,
    client_options,
    resource_must_exist,
    utf8_text,
    value_bytes,
)
from registry_p2p.cli.output import CliError, StdoutConsole, emit_json, record_json, records_table, write_json
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.views import Record, WriteResult
from registry_p2p.node import Node


@cli.command()
@click.argument("resource_id")
@click.option("--value", help="The advertisement (up to 4 KiB, its bytes as given): an address, a URL, JSON…")
@click.option("--value-file", metavar="FILE", help="Read the value from FILE (-: from stdin) instead of --value.")
@click.option(
    "--service-id", callback=utf8_text, default="", show_default=True, help="Names the service within the resource."
)
@click.option("--ttl", type=click.IntRange(min=1), help="Seconds the record lives [default: 86400].")
@click.option("--ack", type=click.IntRange(min=1), default=1, show_default=True, help="Replicas that must store it.")
@click.option("--host", "host_peer", metavar="PEER_ID", help="Another peer that hosts the service (it must consent).")
@client_options
def register(
    resource_id: str,
    value: str | None,
    value_file: str | None,
    service_id: str,
    ttl: int | None,
    ack: int,
    host_peer: str | None,
    **kwargs: Any,
) -> None:
    """Advertise a service in a resource, signed by your identity."""
    rid = check_resource_id(resource_id)
    data = value_bytes(value, value_file)
    client = Client(client_args(kwargs), signs=True)
    limits = client.limits()
    check_size("value", data, limits.max_value_bytes, "max_value_bytes")
    check_size("service id", service_id.encode("utf-8"), limits.max_service_id_bytes, "max_service_id_bytes")
    if ttl is not None and not limits.min_ttl_s <= ttl <= limits.max_ttl_s:
        raise click.UsageError(f"--ttl must be between {limits.min_ttl_s} and {limits.max_ttl_s} seconds")

    async def body(node: Node) -> WriteResult:
        # A remote host that cannot be reached fails here, before anything is written.
        return await node.registry.register_service(
            rid, data, service_id=service_id, peer_id=host_peer, ttl=ttl, ack=ack
        )

    report_write(client, client.run(body), ack, "registered")


@cli.command()
@click.argument("resource_id")
@click.option("--service-id", callback=utf8_text, default="", show_default=True, help="The service to withdraw.")
@click.option("--ack", type=click.IntRange(min=1), default=1, show_default=True, help="Replicas that must store it.")
@click.option("--host", "host_peer", metavar="PEER_ID", help="The peer hosting the record [default: you].")
@client_options
def unregister(resource_id: str, service_id: str, ack: int, host_peer: str | None, **kwargs: Any) -> None:
    """Withdraw your record from a resource (a signed tombstone)."""
    rid = check_resource_id(resource_id)
    client = Client(client_args(kwargs), signs=True)

    async def body(node: Node) -> WriteResult:
        return await node.registry.unregister_service(rid, service_id=service_id, peer_id=host_peer, ack=ack)

    report_write(client, client.run(body), ack, "unregistered")


def report_write(client: Client, result: WriteResult, ack: int, done: str) -> None:
    if client.json:
        emit_json(write_json(result))
    elif result.ok:
        click.echo(f"{done}: stored by {result.acks} replica(s)")
    if not result.ok:
        raise CliError(write_shortfall(result, ack))


def write_shortfall(result: WriteResult, ack: int) -> str:
    """Why fewer than `ack` replicas stored a write: the replicas that failed, and a replica set
    smaller than `ack`."""
    text = f"stored on {result.acks} of the {ack} replicas asked for"
    if result.errors:
        text += "; " + "; ".join(f"{peer}: {why}" for peer, why in list(result.errors.items())[:3])
    if result.replicas < ack:
        text += f"; the replica set has only {result.replicas} peer{'s' if result.replicas != 1 else ''}"
    return text


@cli.command()
@click.argument("resource_id")
@click.option(
    "--ack", type=click.IntRange(min=1), default=1, show_default=True, help="Replicas whose answers to merge."
)
@click.option(
    "--all",
    "include_critical",
    is_flag=True,
    help="Also list records whose host reports them critical (a failing health check).",
)
@click.option(
    "--probe",
    "probe",
    type=click.FloatRange(min=0.1, max=60),
    default=None,
    metavar="SECONDS",
    help="Ping each record's host over libp2p within SECONDS; unreachable ones are marked (JSON: rtt_ms null).",
)
@click.option("--reachable", is_flag=True, help="With --probe: leave out the records whose host did not answer.")
@client_options
def resolve(
    resource_id: str, ack: int, include_critical: bool, probe: float | None, reachable: bool, **kwargs: Any
) -> None:
    """List the live, passing records of a resource (with --all, critical ones too)."""
    if reachable and probe is None:
        raise click.UsageError("--reachable needs --probe SECONDS")
    rid = check_resource_id(resource_id)
    client = Client(client_args(kwargs), signs=False)

    async def body(node: Node) -> tuple[list[Record], list[float | None] | None]:
        try:
            found = await node.registry.resolve(rid, ack=ack, include_critical=include_critical)
        except RegistryError as err:
            if err.status is Status.UNAVAILABLE:
                await resource_must_exist(node, rid)  # "not found" says more than "no answer"
            raise
        return found, (await node.registry.probe(found, probe) if probe is not None else None)

    records, rtts = client.run(body)
    if rtts is not None and reachable:
        kept = [(r, t) for r, t in zip(records, rtts, strict=True) if t is not None]
        records, rtts = [r for r, _ in kept], [t for _, t in kept]
    if client.json:
        rows = [record_json(r) for r in records]
        if rtts is not None:
            for row, rtt in zip(rows, rtts, strict=True):
                row["rtt_ms"] = None if rtt is None else round(rtt, 1)
        emit_json({"records": rows})
    elif records:
        console = StdoutConsole(highlight=False)
        if not console.is_terminal:
            console = StdoutConsole(highlight=False, width=240)  # piped: one record per line when it fits
        console.print(records_table(records, rtts))
    else:
        click.echo("no records")
