"""The `registry-p2p` command: run a node, use the registry from the shell, start a local testnet.

Every client verb runs as a short-lived light node (it stores nothing) that joins the network
through `--bootstrap` or $REGISTRY_P2P_BOOTSTRAP, does one thing and leaves. With `--json` a verb
prints exactly one JSON document on stdout (`watch`: one per line). Any failure exits non-zero
with one line on stderr; `--log-level debug` adds the details (and tracebacks) before it.

One module per verb group (keys, node, resource, services, watch, testnet, bench) registers its
commands on the group of `app`; `output` holds the JSON and rich output and the error mapping.
"""

# ruff: noqa: E402 (the SIGINT handler must be in place before the slow imports)

from __future__ import annotations

from registry_p2p.cli.startup import fail, guard_loading, loaded, stdout_gone

guard_loading()

import logging
import sys

import click

from registry_p2p.cli import bench, keys, node, resource, services, sim, testnet, watch
from registry_p2p.cli.app import cli, log
from registry_p2p.cli.output import describe_error, one_line, root_cause, stdout_closed

VERBS = (bench, keys, node, resource, services, sim, testnet, watch)  # imported for their commands


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one line on stderr and a non-zero status for any failure."""
    try:
        status = cli.main(args=argv, prog_name="registry-p2p", standalone_mode=False)
    except click.exceptions.Abort:
        fail("interrupted", 130)
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError):
            hint = f" (see {exc.ctx.command_path if exc.ctx else 'registry-p2p'} --help)"
        fail(one_line(exc.format_message()) + hint, exc.exit_code)
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        if isinstance(root_cause(exc), BrokenPipeError) and stdout_closed():
            # As for any Unix filter, output that nobody reads any more is no failure.
            stdout_gone()
            sys.exit(0)
        text, code = describe_error(exc)
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            log.debug("failure", exc_info=exc)
        fail(one_line(text), code)
    sys.exit(status if isinstance(status, int) else 0)


loaded()
