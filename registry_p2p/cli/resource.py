"""`registry-p2p resource create|get|id`, and `grant` / `revoke` for owner-approved resources."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from registry_p2p.cli.app import cli, json_option
from registry_p2p.cli.client import (
    Client,
    check_resource_id,
    check_size,
    client_args,
    client_options,
    resource_must_exist,
    utf8_text,
)
from registry_p2p.cli.config import configure_logging
from registry_p2p.cli.identity import client_identity, node_running_on, peer_id_of
from registry_p2p.cli.local import local_from, path_of
from registry_p2p.cli.output import emit_json, grant_json, local_time, resource_json
from registry_p2p.cli.services import report_write

if TYPE_CHECKING:
    from registry_p2p.core.views import Grant, Resource, WriteResult
    from registry_p2p.node import Node

# core.model's POLICIES, spelled out: the verbs must not import protobuf before they run
# (tests/test_runtime_imports.py checks that the two agree).
POLICIES = ("open", "owner-approved")
POLICY_OPEN = "open"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(ctx: click.Context, param: click.Parameter, text: str | None) -> float | None:
    """ "90", "90s", "15m", "12h" or "30d" → seconds."""
    if text is None:
        return None
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:]) if value else None
    number = value[:-1] if unit is not None else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a duration (e.g. 90s, 15m, 12h, 30d)") from None
    if not seconds > 0 or seconds > 100 * 365 * 86400:
        raise click.BadParameter(f"{text!r} must be a positive duration of at most 100 years")
    return seconds


def check_issuer(ctx: click.Context, param: click.Parameter, text: str) -> str:
    from registry_p2p.core.errors import RegistryError
    from registry_p2p.core.ids import peer_id_from_text

    try:
        peer_id_from_text(text)
    except RegistryError as err:
        raise click.BadParameter(f"{text!r} is not a peer id ({err.text})") from None
    return text.strip()


@cli.group()
def resource() -> None:
    """Create, fetch or compute the id of a resource (a named, owner-signed group of services)."""


@resource.command("create")
@click.argument("label", callback=utf8_text)
@click.option(
    "--policy",
    type=click.Choice(POLICIES),
    default=POLICY_OPEN,
    show_default=True,
    help="Who may register: anyone, or only you and the issuers you `grant` (a newer version replaces it).",
)
@client_options
def resource_create(label: str, policy: str, **kwargs: Any) -> None:
    """Create the resource LABEL owned by your identity (a local node's, through its API); prints its id."""
    args = client_args(kwargs)
    local = local_from(args)
    if local is not None:
        rid = local.call("POST", "/v1/resources", body={"label": label, "policy": policy})["resource_id"]
    else:
        client = Client(args, signs=True)
        check_size("label", label.encode("utf-8"), client.limits().max_label_bytes, "max_label_bytes")

        async def body(node: Node) -> str:
            return await node.registry.create_resource(label, policy)

        rid = client.run(body)
    if args.as_json:
        emit_json({"resource_id": rid})
    else:
        click.echo(rid)


@resource.command("get")
@click.argument("resource_id")
@click.option("--ack", type=click.IntRange(min=1), default=1, show_default=True, help="Replicas whose grants to merge.")
@client_options
def resource_get(resource_id: str, ack: int, **kwargs: Any) -> None:
    """Fetch a resource (label, owner, creation time, write policy and grants) from the network."""
    args = client_args(kwargs)
    local = local_from(args)
    if local is not None:
        found = local.call("GET", path_of(resource_id), query={"ack": ack})
    else:
        rid = check_resource_id(resource_id)
        client = Client(args, signs=False)

        async def body(node: Node) -> tuple[Resource, list[Grant]]:
            resource = await resource_must_exist(node, rid)
            return resource, await node.registry.grants(rid, ack)

        resource, grants = client.run(body)
        found = {**resource_json(resource), "grants": [grant_json(g) for g in grants]}
    if args.as_json:
        emit_json(found)
        return
    created = local_time(found["created_at_ms"])
    click.echo(f"id      {found['resource_id']}\nlabel   {found['label']}\nowner   {found['owner']}\ncreated {created}")
    click.echo(f"policy  {found.get('policy', POLICY_OPEN)}")
    for g in found.get("grants", []):
        if g["revoked"]:
            click.echo(f"revoked {g['grantee']}")
            continue
        scope = f" service ids {g['service_prefix']!r}…" if g["service_prefix"] else ""
        until = f" until {local_time(g['expires_at_ms'])}" if g["expires_at_ms"] else ""
        click.echo(f"grant   {g['grantee']}{scope}{until}")


@cli.command()
@click.argument("resource_id")
@click.argument("issuer", callback=check_issuer)
@click.option("--service-prefix", callback=utf8_text, default="", help="Only service ids beginning with this.")
@click.option("--expires", callback=parse_duration, metavar="DURATION", help="e.g. 12h, 30d [default: never].")
@click.option("--ack", type=click.IntRange(min=1), default=1, show_default=True, help="Replicas that must store it.")
@client_options
def grant(resource_id: str, issuer: str, service_prefix: str, expires: float | None, ack: int, **kwargs: Any) -> None:
    """Let ISSUER register services in your owner-approved resource."""
    rid = check_resource_id(resource_id)
    client = Client(client_args(kwargs), signs=True)
    check_size(
        "service prefix", service_prefix.encode("utf-8"), client.limits().max_service_id_bytes, "max_service_id_bytes"
    )

    async def body(node: Node) -> WriteResult:
        return await node.registry.grant(rid, issuer, service_prefix, expires, ack)

    report_write(client, client.run(body), ack, "granted")


@cli.command()
@click.argument("resource_id")
@click.argument("issuer", callback=check_issuer)
@click.option("--ack", type=click.IntRange(min=1), default=1, show_default=True, help="Replicas that must store it.")
@client_options
def revoke(resource_id: str, issuer: str, ack: int, **kwargs: Any) -> None:
    """Withdraw ISSUER's grant: every replica drops its records."""
    rid = check_resource_id(resource_id)
    client = Client(client_args(kwargs), signs=True)

    async def body(node: Node) -> WriteResult:
        return await node.registry.revoke(rid, issuer, ack)

    report_write(client, client.run(body), ack, "revoked")


@resource.command("id")
@click.argument("label", callback=utf8_text)
@click.option("--owner", metavar="PEER_ID", help="The owner's peer id [default: the identity given].")
@click.option("--data-dir", type=click.Path(), help="Take the owner from this identity.")
@click.option("--key-file", type=click.Path(), help="Take the owner from this identity key.")
@json_option
def resource_id_cmd(label: str, owner: str | None, data_dir: str | None, key_file: str | None, as_json: bool) -> None:
    """Compute the id of LABEL owned by PEER_ID (offline)."""
    configure_logging("error")
    if owner is None and data_dir and not key_file and node_running_on(Path(data_dir)):
        from registry_p2p.node import IDENTITY_FILE, load_identity

        owner = peer_id_of(load_identity(Path(data_dir) / IDENTITY_FILE))  # the running node's: read only
    if owner is None:
        key_pair = client_identity(data_dir, key_file, needed=False)
        if key_pair is None:
            raise click.UsageError("pass --owner PEER_ID (or the owner's --data-dir / --key-file)")
        owner = peer_id_of(key_pair)
    from registry_p2p.core.ids import resource_id

    rid = resource_id(label, owner)
    if as_json:
        emit_json({"resource_id": rid})
    else:
        click.echo(rid)
