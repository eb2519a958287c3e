"""`registry-p2p bench`: registry_p2p.tools.bench, loaded only when the verb runs."""

from __future__ import annotations

import sys

import click

from registry_p2p.cli.app import cli


@cli.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("bench_args", nargs=-1, type=click.UNPROCESSED)
def bench(bench_args: tuple[str, ...]) -> None:
    """Measure the registry against py-libp2p's DHT records on a loopback network (--help for options)."""
    from registry_p2p.tools import bench as bench_module

    sys.exit(bench_module.main(list(bench_args)))


@cli.command(
    "bench-renewal",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("bench_args", nargs=-1, type=click.UNPROCESSED)
def bench_renewal(bench_args: tuple[str, ...]) -> None:
    """Renewal messages and bytes per record per hour, batched per resource (--help for options)."""
    from registry_p2p.tools import bench_renewal as bench_module

    sys.exit(bench_module.main(list(bench_args)))
