"""`register`, `unregister` and `resolve`: a service's records in a resource."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

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
from registry_p2p.cli.local import ApiFailed, LocalNode, local_from, path_of
from registry_p2p.cli.output import CliError, StdoutConsole, emit_json, record_json, records_table, write_json

if TYPE_CHECKING:
    from registry_p2p.core.views import Record, WriteResult
    from registry_p2p.node import Node


@cli.command()
@click.argument("resource_id")
@click.option(
    "--value", help="The advertisement (up to 4 KiB, its bytes as given; -: from stdin): an address, a URL, JSON…"
)
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
    """Advertise a service in a resource, signed by your identity.

    Through a local node's API (see --api) the node signs it with its identity, hosts it and renews
    it for as long as it runs; otherwise it is your identity's, and nobody renews it (it expires
    after --ttl)."""
    args = client_args(kwargs)
    local = local_from(args)
    if local is not None:
        data = value_bytes(value, value_file)
        wanted: dict[str, Any] = {"value_base64": base64.b64encode(data).decode("ascii"), "service_id": service_id}
        wanted.update({k: v for k, v in (("ttl", ttl), ("host", host_peer), ("ack", ack)) if v is not None})
        path = path_of(resource_id, "/records")
        report_api_write(
            local, args.as_json, "POST", path, ack, "registered (hosted and renewed by the node)", body=wanted
        )
        return
    rid = check_resource_id(resource_id)
    data = value_bytes(value, value_file)
    client = Client(args, signs=True)
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

    result = client.run(body)
    from registry_p2p.cli.output import expires_in, local_time

    if not result.ok or result.expires_at_ms is None:
        report_write(client, result, ack, "registered")
        return
    host = host_peer or client.peer_id()
    # A remote host keeps the record and renews it while it runs; this short-lived process does not.
    renewed_by = host if host != client.peer_id() else None
    if client.json:
        emit_json({**write_json(result), "host": host, "expires_at_ms": result.expires_at_ms, "renewed_by": renewed_by})
        return
    when = f"{local_time(result.expires_at_ms)} ({expires_in(result.expires_at_ms)})"
    click.echo(f"registered: stored by {result.acks} replica(s)")
    if renewed_by is not None:
        click.echo(f"hosted by {host}, which renews it while it runs; it expires at {when} otherwise")
    else:
        click.echo(
            f"hosted by this client ({host}): nobody renews it, so it expires at {when};"
            " register it again before then, or have a node host it (--host PEER)"
        )


@cli.command()
@click.argument("resource_id")
@click.option("--service-id", callback=utf8_text, default="", show_default=True, help="The service to withdraw.")
@click.option("--ack", type=click.IntRange(min=1), default=1, show_default=True, help="Replicas that must store it.")
@click.option("--host", "host_peer", metavar="PEER_ID", help="The peer hosting the record [default: you].")
@client_options
def unregister(resource_id: str, service_id: str, ack: int, host_peer: str | None, **kwargs: Any) -> None:
    """Withdraw your record from a resource (a signed tombstone)."""
    args = client_args(kwargs)
    local = local_from(args)
    if local is not None:
        query = {"service_id": service_id, "ack": ack, "host": host_peer}
        report_api_write(local, args.as_json, "DELETE", path_of(resource_id, "/records"), ack, "unregistered", query)
        return
    rid = check_resource_id(resource_id)
    client = Client(args, signs=True)

    async def body(node: Node) -> WriteResult:
        return await node.registry.unregister_service(rid, service_id=service_id, peer_id=host_peer, ack=ack)

    report_write(client, client.run(body), ack, "unregistered")


def report_write(client: Client, result: WriteResult, ack: int, done: str) -> None:
    report_write_json(client.json, write_json(result), ack, done)


def report_api_write(
    local: LocalNode,
    as_json: bool,
    method: str,
    path: str,
    ack: int,
    done: str,
    query: dict[str, Any] | None = None,
    body: Any = None,
) -> None:
    try:
        document = local.call(method, path, body=body, query=query)
    except ApiFailed as failed:
        if not (isinstance(failed.document, dict) and "ok" in failed.document):
            raise
        document = failed.document  # fewer than `ack` replicas stored it: reported as on the light path
    report_write_json(as_json, document, ack, done)


def report_write_json(as_json: bool, result: dict[str, Any], ack: int, done: str) -> None:
    if as_json:
        emit_json(result)
    elif result["ok"]:
        click.echo(f"{done}: stored by {result['acks']} replica(s)")
    if not result["ok"]:
        raise CliError(write_shortfall(result, ack))


def write_shortfall(result: dict[str, Any], ack: int) -> str:
    """Why fewer than `ack` replicas stored a write (write_json's shape): the replicas that failed,
    and a replica set smaller than `ack`."""
    text = f"stored on {result['acks']} of the {ack} replicas asked for"
    if result["errors"]:
        text += "; " + "; ".join(f"{peer}: {why}" for peer, why in list(result["errors"].items())[:3])
    replicas = result["replicas"]
    if replicas < ack:
        text += f"; the replica set has only {replicas} peer{'s' if replicas != 1 else ''}"
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
    args = client_args(kwargs)
    local = local_from(args) if probe is None else None  # a probe pings from this process: the light path
    if local is not None:
        query: dict[str, Any] = {"ack": ack, "all": "1"} if include_critical else {"ack": ack}
        found = local.call("GET", path_of(resource_id, "/records"), query=query)["records"]
        show_records(args.as_json, found)
        return
    rid = check_resource_id(resource_id)
    client = Client(args, signs=False)

    async def body(node: Node) -> tuple[list[Record], list[float | None] | None]:
        from registry_p2p.core.errors import RegistryError, Status

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
    rows = [record_json(r) for r in records]
    if rtts is not None:
        for row, rtt in zip(rows, rtts, strict=True):
            row["rtt_ms"] = None if rtt is None else round(rtt, 1)
    show_records(client.json, rows, rtts)


def show_records(as_json: bool, records: list[dict[str, Any]], rtts: list[float | None] | None = None) -> None:
    if as_json:
        emit_json({"records": records})
    elif records:
        console = StdoutConsole(highlight=False)
        if not console.is_terminal:
            console = StdoutConsole(highlight=False, width=240)  # piped: one record per line when it fits
        console.print(records_table(records, rtts))
    else:
        click.echo("no records")
