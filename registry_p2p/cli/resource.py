"""`registry-p2p resource create|get|id`."""

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
from registry_p2p.cli.output import emit_json, local_time, resource_json

if TYPE_CHECKING:
    from registry_p2p.node import Node


@cli.group()
def resource() -> None:
    """Create, fetch or compute the id of a resource (a named, owner-signed group of services)."""


@resource.command("create")
@click.argument("label", callback=utf8_text)
@client_options
def resource_create(label: str, **kwargs: Any) -> None:
    """Create the resource LABEL owned by your identity (a local node's, through its API); prints its id."""
    args = client_args(kwargs)
    local = local_from(args)
    if local is not None:
        rid = local.call("POST", "/v1/resources", body={"label": label})["resource_id"]
    else:
        client = Client(args, signs=True)
        check_size("label", label.encode("utf-8"), client.limits().max_label_bytes, "max_label_bytes")

        async def body(node: Node) -> str:
            return await node.registry.create_resource(label)

        rid = client.run(body)
    if args.as_json:
        emit_json({"resource_id": rid})
    else:
        click.echo(rid)


@resource.command("get")
@click.argument("resource_id")
@client_options
def resource_get(resource_id: str, **kwargs: Any) -> None:
    """Fetch a resource (label, owner, creation time) from the network."""
    args = client_args(kwargs)
    local = local_from(args)
    if local is not None:
        found = local.call("GET", path_of(resource_id))
    else:
        rid = check_resource_id(resource_id)
        client = Client(args, signs=False)
        found = resource_json(client.run(lambda node: resource_must_exist(node, rid)))
    if args.as_json:
        emit_json(found)
    else:
        created = local_time(found["created_at_ms"])
        click.echo(
            f"id      {found['resource_id']}\nlabel   {found['label']}\nowner   {found['owner']}\ncreated {created}"
        )


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
