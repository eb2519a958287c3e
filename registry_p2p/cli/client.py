"""What every network client verb shares: its options, the light node it joins with, input checks."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from registry_p2p.cli.app import json_option, log_option, run, step
from registry_p2p.cli.config import ENV_BOOTSTRAP, bootstrap_from, configure_logging, load_config_file
from registry_p2p.cli.identity import client_identity, peer_id_of
from registry_p2p.cli.output import CliError
from registry_p2p.cli.startup import STARTED

if TYPE_CHECKING:
    # trio and py-libp2p load when a light node starts (Client.run), not when a verb is defined:
    # a verb answered by a local node's API (cli/local.py) never loads them.
    import trio

    from registry_p2p.core.views import Resource
    from registry_p2p.node import Node

T = TypeVar("T")


def client_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options every network client verb shares."""
    decorators: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        click.option(
            "--bootstrap",
            "-b",
            multiple=True,
            metavar="MULTIADDR",
            help=f"A peer to join through, /…/p2p/<peer id> (repeatable; default: ${ENV_BOOTSTRAP}).",
        ),
        click.option(
            "--data-dir",
            type=click.Path(),
            help="Directory holding your identity key (identity.key); a node's data dir: use its API.",
        ),
        click.option(
            "--api",
            metavar="HOST:PORT",
            help="Use the HTTP API of the node there (default: $REGISTRY_P2P_API; token: $REGISTRY_P2P_API_TOKEN).",
        ),
        click.option("--key-file", type=click.Path(), help="Your identity key file (see registry-p2p keygen)."),
        click.option("--config", "config_path", type=click.Path(), help="TOML configuration (limits, timeouts)."),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            help="Bound in seconds on the whole command, joining included (watch: until it watches), and on"
            " each request [default: 6 per request].",
        ),
        log_option("error"),
        json_option,
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


@dataclass
class ClientArgs:
    bootstrap: tuple[str, ...]
    data_dir: str | None
    api: str | None
    key_file: str | None
    config_path: str | None
    timeout: float | None
    log_level: str | None
    as_json: bool


def client_args(kwargs: dict[str, Any]) -> ClientArgs:
    return ClientArgs(**{name: kwargs.pop(name) for name in ClientArgs.__dataclass_fields__})


class Client:
    """A verb's view of the network: a light node joined through the bootstrap peers."""

    def __init__(self, args: ClientArgs, *, signs: bool) -> None:
        configure_logging(args.log_level or "error")
        self.json = args.as_json
        config, node_table = load_config_file(args.config_path)
        if args.timeout is not None:
            config = replace(config, request_timeout_s=args.timeout)
        self.config = config
        self.timeout = args.timeout
        self.bound: trio.CancelScope | None = None  # --timeout, see run()
        self.doing = "starting"
        self.key_pair = client_identity(args.data_dir, args.key_file, signs)
        self.bootstrap = bootstrap_from(args.bootstrap, node_table.get("bootstrap"))
        if not self.bootstrap:
            raise click.UsageError(f"no bootstrap peer: pass --bootstrap MULTIADDR or set {ENV_BOOTSTRAP}")
        if self.key_pair is not None:
            me = peer_id_of(self.key_pair)
            if any(addr.endswith(f"/p2p/{me}") for addr in self.bootstrap):
                raise CliError(f"your identity {me} is the bootstrap peer's: a client needs an identity of its own")

    @contextlib.asynccontextmanager
    async def join(self) -> AsyncIterator[Node]:
        from registry_p2p.node import open_node

        async with contextlib.AsyncExitStack() as stack:
            self.doing = f"joining the network through {len(self.bootstrap)} bootstrap peer(s)"
            with step(self.doing):
                node = await stack.enter_async_context(
                    open_node(
                        [],
                        self.bootstrap,
                        key_pair=self.key_pair,
                        config=self.config,
                        serve=False,
                        require_bootstrap=True,
                    )
                )
            self.doing = "waiting for the network's answers"
            yield node
            # Writes go on reaching the rest of the replica set after `ack` answers: let them land.
            with step("finishing background writes"):
                await node.registry.settle()

    def run(self, body: Callable[[Node], Awaitable[T]]) -> T:
        """Join, run `body`, leave. With --timeout, all of it (the bootstrap dials and the wait for
        pubsub included, which open_node bounds at 10 s each) ends after that many seconds."""

        import trio

        async def bounded() -> T:
            done: list[T] = []
            elapsed = time.monotonic() - STARTED
            bound = math.inf if self.timeout is None else trio.current_time() + self.timeout - elapsed
            with trio.CancelScope(deadline=bound) as self.bound:
                async with self.join() as node:
                    done.append(await body(node))
            if done:
                return done[0]  # the time ran out while background writes went on: they were acknowledged
            raise CliError(f"timed out after {self.timeout:g} s (--timeout) {self.doing}")

        return run(bounded)

    def unbounded(self) -> None:
        """From here on the verb runs until it is stopped (watch): --timeout no longer applies."""
        if self.bound is not None:
            self.bound.deadline = math.inf

    def peer_id(self) -> str:
        """The peer id this verb signs as (a verb that signs has an identity)."""
        assert self.key_pair is not None
        return peer_id_of(self.key_pair)

    def limits(self) -> Any:
        return self.config.limits


def utf8_text(ctx: click.Context, param: click.Parameter, text: str) -> str:
    """Labels and service ids are strings on the wire. Python hands argv bytes that are not UTF-8
    over as lone surrogates, which no encoder accepts: a usage error."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise click.BadParameter(f"{os.fsencode(text)!r} is not UTF-8 text", ctx, param) from None
    return text


def value_bytes(value: str | None, value_file: str | None) -> bytes:
    """A record's value: bytes, taken from argv as they are (`os.fsencode` undoes the surrogate
    escapes of what is not UTF-8), or from a file, or from stdin (`--value -`, `--value-file -`)."""
    if value is not None and value_file is not None:
        raise click.UsageError("give --value or --value-file, not both")
    if value is not None and value != "-":
        return os.fsencode(value)
    if value_file is None and value is None:
        raise click.UsageError("Missing option '--value' (or '--value-file').")
    if value_file is None or value_file == "-":  # --value - or --value-file -
        return sys.stdin.buffer.read()
    try:
        return Path(value_file).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read value file {value_file}: {exc.strerror}") from exc


def check_resource_id(text: str) -> str:
    from registry_p2p.core.ids import resource_id_from_text

    resource_id_from_text(text)  # raises RegistryError(MALFORMED) with a readable text
    return text.strip()


def check_size(what: str, data: bytes, limit: int, key: str) -> None:
    if len(data) > limit:
        raise CliError(f"{what} is {len(data)} bytes; the limit is {limit} bytes (limits.{key})")


async def resource_must_exist(node: Node, rid: str) -> Resource:
    found = await node.registry.get_resource(rid)
    if found is None:
        raise CliError(f"resource {rid} not found (no peer of the network knows it)")
    return found
