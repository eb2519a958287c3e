"""The `registry-p2p` click group, the options verbs share, and running a verb's async part under signals."""

from __future__ import annotations

import contextlib
import importlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import click

from registry_p2p import __version__
from registry_p2p.cli.logs import LOG_LEVELS, log_format_options
from registry_p2p.cli.output import Interrupted, err_console
from registry_p2p.cli.startup import loaded

T = TypeVar("T")

log = logging.getLogger("registry_p2p.cli")


def run(async_fn: Callable[[], Awaitable[T]]) -> T:
    """Run the async part of a verb. SIGINT and SIGTERM cancel it, so that its cleanup runs, and
    then raise Interrupted: a KeyboardInterrupt thrown into py-libp2p's tasks can surface as
    anything (a TrioInternalError among others)."""
    import trio  # not at import time: a verb answered by a local node's API never loads it

    # Until here Ctrl-C ends the command at once (startup.guard_loading: modules load lazily, in
    # the verb, and nothing has started); from here trio turns it into a cancellation.
    loaded()
    return trio.run(lambda: until_signal(async_fn))


async def until_signal(body: Callable[[], Awaitable[T]]) -> T:
    """`body`, cancelled by SIGINT or SIGTERM (see run)."""
    import trio

    signums: list[int] = []
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def on_signal() -> None:
                async for signum in signals:
                    log.info("received %s: stopping", signal.Signals(signum).name)
                    signums.append(signum)
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(on_signal)
            result = await body()
            nursery.cancel_scope.cancel()
            return result
    raise Interrupted(signums[0])


def run_server(body: Callable[[], Awaitable[None]], ready: Callable[[], bool]) -> None:
    """Run a node or a testnet: once it is ready, a signal is how it stops (exit 0); before, the
    signal interrupted its start."""
    try:
        run(body)
    except Interrupted:
        if not ready():
            raise


@contextlib.contextmanager
def step(text: str) -> Iterator[None]:
    """A spinner on stderr while something that can take a second runs (terminals only)."""
    if err_console.is_terminal:
        with err_console.status(text):
            yield
    else:
        yield


# Each verb's module, imported when the verb runs (or when --help lists them all): a verb answered
# by a local node's API loads only its own module, never trio or py-libp2p.
VERB_MODULES = {
    "bench": "bench",
    "bench-renewal": "bench",
    "grant": "resource",
    "id": "keys",
    "keygen": "keys",
    "node": "node",
    "peers": "local",
    "register": "services",
    "resolve": "services",
    "resource": "resource",
    "revoke": "resource",
    "sim": "sim",
    "status": "local",
    "testnet": "testnet",
    "unregister": "services",
    "watch": "watch",
}


class LazyGroup(click.Group):
    """A group whose commands are registered by their modules on first use (see VERB_MODULES)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(VERB_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = VERB_MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"registry_p2p.cli.{module}")
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="registry-p2p")
def cli() -> None:
    """A decentralized service registry for libp2p networks.

    Run a node with `registry-p2p node`, or try everything locally with `registry-p2p testnet`.
    Client verbs (resource, register, unregister, resolve, watch) use the local node's HTTP API
    when one runs (--api HOST:PORT, $REGISTRY_P2P_API, or the node running on --data-dir DIR);
    otherwise they join a network through --bootstrap MULTIADDR or $REGISTRY_P2P_BOOTSTRAP.
    """


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--json`, and `--log-format` and `--libp2p-log-level` (cli/logs.py): every verb has them."""
    fn = log_format_options(fn)
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(fn)


def log_option(default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--log-level", type=click.Choice(LOG_LEVELS), default=None, help=f"Logging on stderr [default: {default}]."
    )
