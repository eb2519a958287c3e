"""`registry-p2p testnet`: N nodes on loopback in one process, or the demo (registry_p2p.testnet, loaded lazily)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from registry_p2p.cli.app import cli, json_option, log_option, run, run_server
from registry_p2p.cli.config import ENV_BOOTSTRAP, configure_logging
from registry_p2p.cli.output import CliError, StdoutConsole, emit_json, err_console


@cli.command()
@click.option(
    "--nodes", "-n", type=click.IntRange(min=1, max=100), default=None, help="How many nodes [default: 5, demo: 9]."
)
@click.option(
    "--base-port",
    type=click.IntRange(min=0, max=65535),
    default=0,
    help="Node i listens on 127.0.0.1:P+i [default: any free port].",
)
@click.option("--data-dir", type=click.Path(), help="Keep each node's identity and store in DIR/node<i>.")
@click.option(
    "--demo", is_flag=True, help="Register example services, stop a third of the nodes, show that nothing was lost."
)
@log_option("error")
@json_option
def testnet(
    nodes: int | None, base_port: int, data_dir: str | None, demo: bool, log_level: str | None, as_json: bool
) -> None:
    """Run N nodes on loopback in one process (until Ctrl-C), or the demo."""
    from registry_p2p import testnet as tn

    configure_logging(log_level or "error")
    console = StdoutConsole(highlight=False, soft_wrap=True)
    if demo:
        count = nodes or 9
        if count < 6:
            raise click.UsageError("the demo needs at least 6 nodes")
        if not run(lambda: tn.run_demo(console, count, base_port)):
            raise CliError("the demo lost records (see above)")
        return
    count = nodes or 5
    directory = Path(data_dir) if data_dir else None
    ready = False

    async def body() -> None:
        import trio

        from registry_p2p.core.config import RegistryConfig

        nonlocal ready
        async with tn.testnet(count, RegistryConfig(), base_port, directory, console=err_console) as net:
            ready = True
            if as_json:
                emit_json(
                    {
                        "event": "ready",
                        "bootstrap": net.bootstrap[0],
                        "nodes": [{"peer_id": n.peer_id, "addrs": n.addrs} for n in net.nodes],
                    }
                )
            else:
                console.print(f"[bold]{count} nodes running on 127.0.0.1[/] (Ctrl-C to stop)")
                for n in net.nodes:
                    console.print(f"  {net.name(n.peer_id):<7} {n.addrs[0]}")
                console.print(f"\nbootstrap address:\n  export {ENV_BOOTSTRAP}={net.bootstrap[0]}")
                console.print(
                    "then, for example:\n  registry-p2p keygen --key-file me.key\n"
                    "  registry-p2p resource create my-service --key-file me.key"
                )
                sys.stdout.flush()
            await trio.sleep_forever()

    run_server(body, lambda: ready)
