"""`registry-p2p node`: a storage (or bootstrap) node until SIGINT or SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

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

if TYPE_CHECKING:
    from registry_p2p.core.config import RegistryConfig
    from registry_p2p.node import Node  # py-libp2p loads when the node starts, not for --help

# core.config's HOST_POLICIES, spelled out: --help loads this module, and core.config loads
# protobuf (tests/test_runtime_imports.py checks that the two agree).
HOST_POLICIES = ("self-only", "allow-list", "open")


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
    "--api",
    "api",
    metavar="HOST:PORT",
    help="Serve the HTTP API (/v1/..., /health) on HOST:PORT (HOST defaults to 127.0.0.1); writes need"
    " the bearer token in <data dir>/api.token.",
)
@click.option(
    "--host-policy", type=click.Choice(HOST_POLICIES), help="Whose records this node countersigns [default: self-only]."
)
@click.option(
    "--no-rendezvous",
    is_flag=True,
    help="Do not serve libp2p's /rendezvous/1.0.0 (served by default, federated by the registry).",
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
    api: str | None,
    host_policy: str | None,
    no_rendezvous: bool,
    log_level: str | None,
    as_json: bool,
) -> None:
    """Run a storage (or bootstrap) node until SIGINT or SIGTERM.

    When ready it prints its peer id and full multiaddrs (with --json: one JSON line
    {"event": "ready", "peer_id": ..., "addrs": [...]}); a restart on the same --data-dir keeps the
    identity and every entry, and re-announces them to their replica sets (records registered
    through its API included: the node hosts and renews them).
    """
    config, table = load_config_file(config_path)
    level = log_level or table.get("log_level", "warning")
    configure_logging(level, table.get("log_format"), table.get("libp2p_log_level"))
    if host_policy is not None:
        config = replace(config, host_policy=host_policy)
    listen_addrs = parse_listen(list(listen) or table.get("listen") or [DEFAULT_LISTEN])
    announce_addrs = parse_listen(list(announce) or table.get("announce") or [], what="announce")
    boot = parse_bootstrap(list(bootstrap) or table.get("bootstrap") or [])
    directory = data_dir or table.get("data_dir")
    metrics_at = _parse_host_port(metrics or table.get("metrics"))
    api_at = _parse_api(api or table.get("api"), directory)
    out = NodeOutput(as_json)
    services = table.get("services", [])
    run_server(
        lambda: serve_node(
            listen_addrs,
            announce_addrs,
            boot,
            directory,
            config,
            metrics_at,
            out,
            api_at,
            rendezvous=not no_rendezvous,
            services=services,
        ),
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


def _parse_api(value: str | None, data_dir: str | None) -> tuple[str, int] | None:
    """--api HOST:PORT; beyond loopback only with a token, that is with a data dir to keep it in."""
    if not value:
        return None
    from registry_p2p.api.files import parse_host_port
    from registry_p2p.api.server import is_loopback

    try:
        host, port = parse_host_port(value)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not data_dir and not is_loopback(host):
        raise CliError(
            f"--api {value}: the API listens beyond loopback only with a token, kept in the data dir (give --data-dir)"
        )
    return host, port


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
    api_at: tuple[str, int] | None = None,
    *,
    rendezvous: bool = True,
    services: Sequence[ConfiguredService] = (),
) -> None:
    from registry_p2p.node import open_node

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
                        rendezvous=rendezvous,
                    )
                )
            await _run_node(node, directory, metrics_at, out, api_at, services)
    finally:
        if directory is not None and lock is not None:
            from registry_p2p.api.files import remove_api_info

            remove_api_info(directory)
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
    api_at: tuple[str, int] | None = None,
    services: Sequence[ConfiguredService] = (),
) -> None:
    import trio

    if api_at is None:
        await _run_node_ready(node, directory, metrics_at, out, None, services)
        return
    from registry_p2p.api.files import load_or_create_token, write_api_info
    from registry_p2p.api.server import ApiRefused, serve

    token = None
    if directory is not None:
        try:
            token = load_or_create_token(directory)
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot use the API token in {directory}: {exc}") from exc
    else:
        log.warning("no --data-dir: the API has no token, so it answers reads only")
    async with trio.open_nursery() as nursery:
        try:
            url = await nursery.start(serve, node.registry, api_at[0], api_at[1], token)
        except ApiRefused as exc:
            raise CliError(str(exc)) from exc
        if directory is not None:
            write_api_info(directory, url)
        await _run_node_ready(node, directory, metrics_at, out, url, services)
        nursery.cancel_scope.cancel()


async def _run_node_ready(
    node: Node,
    directory: Path | None,
    metrics_at: tuple[str, int] | None,
    out: NodeOutput,
    api_url: str | None,
    services: Sequence[ConfiguredService] = (),
) -> None:
    import trio

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
        if api_url:
            info["api"] = api_url
        if directory is not None:
            write_private(directory / NODE_INFO_FILE, json.dumps({**info, "pid": os.getpid()}))
        lines = [f"[bold]registry-p2p node ready[/]  peer id {node.peer_id}"]
        lines += [f"  listening on {a}" for a in addrs]
        if metrics_url:
            lines.append(f"  metrics at   {metrics_url}")
        if api_url:
            token = directory / "api.token" if directory else "none, reads only"
            lines.append(f"  API at       {api_url}/v1/ (token: {token})")
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
