"""`registry-p2p node`: a storage (or bootstrap) node until SIGINT or SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import trio

from registry_p2p.cli.app import cli, json_option, log, log_option, run_server, step
from registry_p2p.cli.config import (
    DEFAULT_LISTEN,
    ConfiguredService,
    configure_logging,
    load_config_file,
    parse_bootstrap,
    parse_listen,
)
from registry_p2p.cli.identity import NODE_INFO_FILE, DataDirLock, write_private
from registry_p2p.cli.output import CliError, StdoutConsole, emit_json
from registry_p2p.core.config import HOST_POLICIES, RegistryConfig
from registry_p2p.node import Node, open_node


@cli.command()
@click.option(
    "--listen",
    "-l",
    multiple=True,
    metavar="MULTIADDR",
    help=f"Listen address (repeatable) [default: {DEFAULT_LISTEN}].",
)
@click.option(
    "--announce",
    multiple=True,
    metavar="MULTIADDR",
    help="Advertise this address instead of the listen addresses (repeatable): a public address, a DNS name.",
)
@click.option("--bootstrap", "-b", multiple=True, metavar="MULTIADDR", help="A peer to join through (repeatable).")
@click.option(
    "--data-dir",
    type=click.Path(),
    help="Identity key and SQLite store (created 0700). Without it, nothing survives a restart.",
)
@click.option("--config", "config_path", type=click.Path(), help="TOML configuration (see examples/registry-p2p.toml).")
@click.option("--metrics", metavar="HOST:PORT", help="Serve Prometheus metrics on http://HOST:PORT/metrics.")
@click.option(
    "--host-policy", type=click.Choice(HOST_POLICIES), help="Whose records this node countersigns [default: self-only]."
)
@log_option("warning")
@json_option
def node(
    listen: tuple[str, ...],
    announce: tuple[str, ...],
    bootstrap: tuple[str, ...],
    data_dir: str | None,
    config_path: str | None,
    metrics: str | None,
    host_policy: str | None,
    log_level: str | None,
    as_json: bool,
) -> None:
    """Run a storage (or bootstrap) node until SIGINT or SIGTERM.

    When ready it prints its peer id and full multiaddrs (with --json: one JSON line
    {"event": "ready", "peer_id": ..., "addrs": [...]}); a restart on the same --data-dir keeps the
    identity and every entry, and re-announces them to their replica sets.
    """
    config, table = load_config_file(config_path)
    level = log_level or table.get("log_level", "warning")
    configure_logging(level)
    if host_policy is not None:
        config = replace(config, host_policy=host_policy)
    listen_addrs = parse_listen(list(listen) or table.get("listen") or [DEFAULT_LISTEN])
    announce_addrs = parse_listen(list(announce) or table.get("announce") or [], what="announce")
    boot = parse_bootstrap(list(bootstrap) or table.get("bootstrap") or [])
    directory = data_dir or table.get("data_dir")
    metrics_at = _parse_host_port(metrics or table.get("metrics"))
    out = NodeOutput(as_json)
    services = table.get("services", [])
    run_server(
        lambda: serve_node(listen_addrs, announce_addrs, boot, directory, config, metrics_at, out, services),
        lambda: out.ready,
    )
    out.event("stopped", "node stopped")


def _parse_host_port(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    host, _, port = value.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise CliError(f"--metrics expects HOST:PORT (such as 127.0.0.1:9464), not {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class NodeOutput:
    """Human lines on stdout, or JSON lines ({"event": ...}) with --json."""

    def __init__(self, as_json: bool) -> None:
        self.json = as_json
        self.console = StdoutConsole(highlight=False)
        self.ready = False

    def event(self, kind: str, text: str, **fields: Any) -> None:
        self.ready = self.ready or kind == "ready"
        if self.json:
            emit_json({"event": kind, **fields})
        else:
            self.console.print(text, soft_wrap=True)
            sys.stdout.flush()


async def serve_node(
    listen: list[str],
    announce: list[str],
    bootstrap: list[str],
    data_dir: str | None,
    config: RegistryConfig,
    metrics_at: tuple[str, int] | None,
    out: NodeOutput,
    services: Sequence[ConfiguredService] = (),
) -> None:
    directory = Path(data_dir) if data_dir else None
    lock = None
    if directory is not None:
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise CliError(f"cannot create data dir {directory}: {exc.strerror}") from exc
        lock = DataDirLock(directory)
    else:
        log.warning("no --data-dir: the identity and every entry are lost when this node stops")
    try:
        async with contextlib.AsyncExitStack() as stack:
            with step("starting the node" + (f" and joining through {len(bootstrap)} peer(s)" if bootstrap else "")):
                node = await stack.enter_async_context(
                    open_node(
                        listen,
                        bootstrap,
                        directory,
                        None,
                        config,
                        serve=True,
                        require_bootstrap=bool(bootstrap),
                        announce=announce,
                    )
                )
            await _run_node(node, directory, metrics_at, out, services)
    finally:
        if directory is not None and lock is not None:
            with contextlib.suppress(OSError):
                (directory / NODE_INFO_FILE).unlink()
            lock.release()


async def _register_services(node: Node, services: Sequence[ConfiguredService], out: NodeOutput) -> None:
    """The node's own `[[service]]` records, registered (and checked) by the node itself."""
    for service in services:
        rid = await node.registry.create_resource(service.resource)
        with step(f"registering service {service.service_id!r} in {service.resource!r}"):
            result = await node.registry.register_service(
                rid, service.value, service.service_id, ttl=service.ttl_s, check=service.check
            )
        check = f", checked by {service.check.kind} every {service.check.interval_s:g} s" if service.check else ""
        out.event(
            "service",
            f"hosting service {service.service_id!r} in {service.resource!r} ({rid}){check}",
            resource=service.resource,
            resource_id=rid,
            service_id=service.service_id,
            acks=result.acks,
            check=service.check.kind if service.check else None,
        )


async def _run_node(
    node: Node,
    directory: Path | None,
    metrics_at: tuple[str, int] | None,
    out: NodeOutput,
    services: Sequence[ConfiguredService] = (),
) -> None:
    from registry_p2p.metrics import NodeMetrics

    metrics = None
    metrics_url = None
    if metrics_at is not None:
        metrics = NodeMetrics(node)
        try:
            host, port = metrics.serve(*metrics_at)
        except OSError as exc:
            raise CliError(f"cannot serve metrics on {metrics_at[0]}:{metrics_at[1]}: {exc.strerror}") from exc
        metrics_url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/metrics"
    try:
        addrs = node.addrs
        info = {"peer_id": node.peer_id, "addrs": addrs, "data_dir": str(directory.resolve()) if directory else None}
        if metrics_url:
            info["metrics"] = metrics_url
        if directory is not None:
            write_private(directory / NODE_INFO_FILE, json.dumps({**info, "pid": os.getpid()}))
        lines = [f"[bold]registry-p2p node ready[/]  peer id {node.peer_id}"]
        lines += [f"  listening on {a}" for a in addrs]
        if metrics_url:
            lines.append(f"  metrics at   {metrics_url}")
        lines.append(f"  data dir     {info['data_dir']}" if directory else "  data dir     none (in memory)")
        out.event("ready", "\n".join(lines), **info)
        _restored(node, node.registry.config, out)
        await _register_services(node, services, out)
        await trio.sleep_forever()
    finally:
        if metrics is not None:
            metrics.close()


def _restored(node: Node, config: RegistryConfig, out: NodeOutput) -> None:
    """Say what the data dir brought back; the registry re-announces it to the replica sets."""
    if node.store is None:
        return
    counts = node.store.counts()
    if not counts["resources"]:
        return
    delay = config.startup_replicate_delay_s
    when = f"within {delay:g} s" if delay is not None else "at the first replication round"
    out.event(
        "restored",
        f"restored {counts['resources']} resource(s), {counts['records']} record(s) and "
        f"{counts['tombstones']} tombstone(s) from the data dir; re-announcing them {when}",
        **counts,
    )
