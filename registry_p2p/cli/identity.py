"""Identities and data dirs: the data dir lock, private files, the key a client signs with."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any

import click

from registry_p2p.cli.output import CliError

LOCK_FILE = "node.lock"  # held (flock) by the node running on a data dir
NODE_INFO_FILE = "node.json"  # its peer id and addresses, while it runs


class DataDirLock:
    """An exclusive lock on a node's data dir (flock: released by the kernel even on kill -9)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise CliError(f"data dir {data_dir} is in use by another registry-p2p node") from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, str(os.getpid()).encode())

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def node_running_on(data_dir: Path) -> bool:
    path = data_dir / LOCK_FILE
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (created 0600, replaced atomically)."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def client_identity(data_dir: str | None, key_file: str | None, needed: bool) -> Any:
    """The key pair a client verb signs with; None (an ephemeral key) for read-only verbs."""
    if data_dir and key_file:
        raise click.UsageError("give --data-dir or --key-file, not both")
    from registry_p2p.node import load_identity, load_or_create_identity  # py-libp2p: only when a key is needed

    if key_file:
        return load_identity(key_file)
    if data_dir:
        directory = Path(data_dir)
        if not directory.is_dir():
            raise CliError(
                f"data dir {data_dir} does not exist"
                f" (create an identity there: registry-p2p keygen --data-dir {data_dir})"
            )
        if node_running_on(directory):
            raise CliError(
                f"data dir {data_dir} belongs to a running node; a client needs an identity of its own"
                " (registry-p2p keygen --data-dir DIR)"
            )
        return load_or_create_identity(directory)
    if needed:
        raise click.UsageError(
            "this command signs with your identity: pass --data-dir DIR or --key-file FILE"
            " (create one with registry-p2p keygen)"
        )
    return None


def peer_id_of(key_pair: Any) -> str:
    from libp2p.peer.id import ID

    return str(ID.from_pubkey(key_pair.public_key))
