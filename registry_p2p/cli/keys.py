"""`keygen` and `id`: identities, offline."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import click

from registry_p2p.cli.app import cli, json_option
from registry_p2p.cli.config import configure_logging
from registry_p2p.cli.identity import NODE_INFO_FILE, node_running_on, peer_id_of
from registry_p2p.cli.output import CliError, emit_json


@cli.command()
@click.option("--data-dir", type=click.Path(), help="Create DIR (0700) with DIR/identity.key (0600).")
@click.option("--key-file", type=click.Path(), help="Write the key to FILE (0600).")
@json_option
def keygen(data_dir: str | None, key_file: str | None, as_json: bool) -> None:
    """Create an ed25519 identity (never overwrites one)."""
    from registry_p2p.node import IDENTITY_FILE, load_or_create_identity  # py-libp2p: not for --help

    configure_logging("error")
    if bool(data_dir) == bool(key_file):
        raise click.UsageError("pass exactly one of --data-dir DIR or --key-file FILE")
    if data_dir:
        path = Path(data_dir) / IDENTITY_FILE
        if path.exists():
            raise CliError(f"{path} already exists; keygen never overwrites an identity")
        key_pair = load_or_create_identity(data_dir)
    else:
        from libp2p.crypto.ed25519 import create_new_key_pair

        path = Path(str(key_file))
        key_pair = create_new_key_pair()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CliError(f"{path} already exists; keygen never overwrites an identity") from None
        except OSError as exc:
            raise CliError(f"cannot create {path}: {exc.strerror}") from exc
        with os.fdopen(fd, "wb") as handle:
            handle.write(key_pair.private_key.serialize())
    peer_id = peer_id_of(key_pair)
    if as_json:
        emit_json({"peer_id": peer_id, "path": str(path)})
    else:
        click.echo(f"peer id {peer_id}\nkey     {path}")


@cli.command("id")
@click.option("--data-dir", type=click.Path(), help="A node's or a client's data dir.")
@click.option("--key-file", type=click.Path(), help="An identity key file.")
@json_option
def id_(data_dir: str | None, key_file: str | None, as_json: bool) -> None:
    """Show the peer id of an identity, and the addresses of the node running on DATA_DIR."""
    from registry_p2p.node import IDENTITY_FILE, load_identity

    configure_logging("error")
    if bool(data_dir) == bool(key_file):
        raise click.UsageError("pass exactly one of --data-dir DIR or --key-file FILE")
    addrs: list[str] = []
    if data_dir:
        directory = Path(data_dir)
        if not directory.is_dir():
            raise CliError(f"data dir {data_dir} does not exist")
        if not (directory / IDENTITY_FILE).exists():
            raise CliError(f"data dir {data_dir} holds no identity ({IDENTITY_FILE}); create one with keygen")
        key_pair = load_identity(directory / IDENTITY_FILE)
        info = directory / NODE_INFO_FILE
        if node_running_on(directory) and info.exists():
            with contextlib.suppress(ValueError, OSError):
                addrs = list(json.loads(info.read_text()).get("addrs", []))
    else:
        key_pair = load_identity(str(key_file))
    peer_id = peer_id_of(key_pair)
    if as_json:
        emit_json({"peer_id": peer_id, "addrs": addrs})
    else:
        click.echo(f"peer id {peer_id}")
        for addr in addrs:
            click.echo(f"addr    {addr}")
