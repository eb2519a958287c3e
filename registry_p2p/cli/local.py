"""The local node's HTTP API, for the client verbs: finding it, calling it, and `status`/`peers`.

Standard library only (http.client), with nothing of trio or py-libp2p: a verb answered by a local
node costs the interpreter's start, click, and one HTTP request. The node is found through
`--api HOST:PORT`, $REGISTRY_P2P_API, or `--data-dir DIR` when a node runs on DIR with its API on
(it writes DIR/api.json); the token for writes is $REGISTRY_P2P_API_TOKEN or DIR/api.token.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from registry_p2p.api.files import (
    ENV_API,
    ENV_TOKEN,
    KEEPALIVE_S,
    TOKEN_FILE,
    parse_host_port,
    read_api_info,
    read_token,
)
from registry_p2p.cli.app import cli, json_option, log_option
from registry_p2p.cli.config import configure_logging
from registry_p2p.cli.identity import node_running_on
from registry_p2p.cli.output import CliError, StdoutConsole, emit_json

log = logging.getLogger("registry_p2p.cli")
T = TypeVar("T")

DEFAULT_TIMEOUT_S = 30.0  # the node bounds each network wait itself (request_timeout_s)


class ApiFailed(CliError):
    """The API answered with an error document: its message is the line printed."""

    def __init__(self, http_status: int, status: str, message: str, document: Any = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status = status
        self.document = document


@dataclass
class LocalNode:
    url: str  # http://HOST:PORT
    token: str | None
    found: str  # how: "--api", "$REGISTRY_P2P_API", "the node running on data dir DIR"
    timeout: float = DEFAULT_TIMEOUT_S

    def call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        """One request; the JSON answer, or ApiFailed (CliError when the node does not answer)."""
        if query:
            path += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        connection, response = self._request(method, path, data, headers)
        try:
            raw = self._read(response.read)
        finally:
            connection.close()
        return self._answer(response.status, raw)

    def events(self, path: str, idle_s: float = 3 * KEEPALIVE_S) -> Iterator[tuple[str, Any]]:
        """A GET answered with Server-Sent Events: (event name, JSON data) as each comes. CliError
        when the node cannot be reached, ApiFailed when it refuses, NodeGone when an open stream
        ends or stays silent for `idle_s` (the node sends a keepalive every KEEPALIVE_S)."""
        connection, response = self._request("GET", path, None, {"Accept": "text/event-stream"})
        try:
            if response.status != 200:
                self._answer(response.status, self._read(response.read))
                raise CliError(f"the node's API at {self.url} answered {response.status} without an event stream")
            if connection.sock is not None:
                connection.sock.settimeout(idle_s)
            name, data = "message", list[str]()
            try:
                for raw_line in response:
                    line = raw_line.decode("utf-8").rstrip("\r\n")
                    if not line:
                        if data:
                            yield name, json.loads("\n".join(data))
                        name, data = "message", []
                    elif line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    # a line starting with ":" is a keepalive
            except (OSError, ValueError) as exc:
                raise NodeGone(f"the node's API at {self.url} stopped answering ({exc})") from None
            raise NodeGone(f"the node's API at {self.url} closed the stream")
        finally:
            connection.close()

    def _request(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str]
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        parsed = urllib.parse.urlsplit(self.url)
        if self.token is not None:
            headers = {**headers, "Authorization": f"Bearer {self.token}"}
        connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=self.timeout)

        def send() -> http.client.HTTPResponse:
            connection.request(method, path, body=data, headers=headers)
            return connection.getresponse()

        try:
            return connection, self._read(send)
        except BaseException:
            connection.close()
            raise

    def _read(self, step: Callable[[], T]) -> T:
        """One blocking step of a request, its socket errors as the line a verb prints."""
        try:
            return step()
        except TimeoutError:
            raise CliError(f"the node's API at {self.url} did not answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise CliError(f"cannot reach the node's API at {self.url} ({self.found}): {exc.strerror or exc}") from None

    def _answer(self, status: int, raw: bytes) -> Any:
        """The JSON document of an answer, or ApiFailed with its error's message."""
        try:
            document = json.loads(raw)
        except ValueError:
            raise CliError(f"the node's API at {self.url} answered {status} without JSON") from None
        error = document.get("error") if isinstance(document, dict) else None
        if status >= 400 and isinstance(error, dict):
            text = str(error.get("message", "error"))
            if status == 401:
                text += f" (set ${ENV_TOKEN}, or give the node's --data-dir)"
            raise ApiFailed(status, str(error.get("status", "")), text, document)
        if status >= 400 and not (isinstance(document, dict) and "ok" in document):
            raise CliError(f"the node's API at {self.url} answered {status}")
        return document


class NodeGone(CliError):
    """An event stream of the local node ended: the node stopped, or it no longer answers."""


def _url(value: str, what: str) -> str:
    try:
        host, port = parse_host_port(value.removeprefix("http://").rstrip("/"), what)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def find_local_node(api: str | None, data_dir: str | None, key_file: str | None = None) -> LocalNode | None:
    """The node whose API a verb uses, None for the light-node path (said under --log-level debug)."""
    env_token = os.environ.get(ENV_TOKEN, "").strip() or None
    directory = Path(data_dir) if data_dir else None

    def token() -> str | None:
        if env_token is not None or directory is None:
            return env_token
        try:
            return read_token(directory / TOKEN_FILE)
        except (OSError, ValueError):
            return None

    if api:
        if key_file:
            raise click.UsageError("--api signs with the node's identity: give --api or --key-file, not both")
        local = LocalNode(_url(api, "--api"), token(), "--api")
    elif directory is not None and node_running_on(directory):
        url = read_api_info(directory)
        if url is None:
            log.debug("the node running on %s serves no API (start it with --api): light node", directory)
            return None
        local = LocalNode(url, token(), f"the node running on data dir {directory}")
    elif os.environ.get(ENV_API, "").strip() and not key_file and directory is None:
        local = LocalNode(_url(os.environ[ENV_API], f"${ENV_API}"), token(), f"${ENV_API}")
    else:
        log.debug("no local node API (--api, $%s, or a node on --data-dir): joining as a light node", ENV_API)
        return None
    log.debug("using the local node's API at %s (found through %s)", local.url, local.found)
    return local


def local_from(args: Any) -> LocalNode | None:
    """For a client verb's ClientArgs: configures logging first, as the light path does."""
    configure_logging(args.log_level or "error")
    local = find_local_node(args.api, args.data_dir, args.key_file)
    if local is not None and args.timeout is not None:
        local.timeout = args.timeout
    return local


def path_of(rid: str, tail: str = "") -> str:
    return "/v1/resources/" + urllib.parse.quote(rid.strip(), safe="") + tail


def node_options(fn: Any) -> Any:
    for decorator in reversed(
        [
            click.option("--api", metavar="HOST:PORT", help=f"The node's API [default: ${ENV_API}]."),
            click.option("--data-dir", type=click.Path(), help="The data dir of the node (it runs with --api)."),
            click.option("--timeout", type=click.FloatRange(min=0.1), help="Seconds to wait for the answer."),
            log_option("error"),
            json_option,
        ]
    ):
        fn = decorator(fn)
    return fn


def _required(api: str | None, data_dir: str | None, timeout: float | None, log_level: str | None) -> LocalNode:
    configure_logging(log_level or "error")
    local = find_local_node(api, data_dir)
    if local is None:
        raise CliError(
            f"no local node: this verb asks a running node's API (registry-p2p node --api HOST:PORT), found"
            f" through --data-dir DIR, --api HOST:PORT or ${ENV_API}"
        )
    if timeout is not None:
        local.timeout = timeout
    return local


@cli.command()
@node_options
def status(api: str | None, data_dir: str | None, timeout: float | None, log_level: str | None, as_json: bool) -> None:
    """The local node: peer id, addresses, peers, resources held and their replica sets."""
    document = _required(api, data_dir, timeout, log_level).call("GET", "/v1/status")
    if as_json:
        emit_json(document)
        return
    from rich.markup import escape
    from rich.table import Table

    console = StdoutConsole(highlight=False, soft_wrap=True)
    counts = document.get("counts", {})
    console.print(f"peer id   {document['peer_id']}")
    for addr in document.get("addrs", []):
        console.print(f"address   {addr}")
    console.print(f"peers     {len(document.get('peers', []))}")
    console.print(
        f"stored    {counts.get('resources', 0)} resource(s), {counts.get('records', 0)} record(s),"
        f" {counts.get('tombstones', 0)} tombstone(s)"
    )
    if document.get("resources"):
        table = Table(show_edge=False, header_style="bold")
        for column in ("resource", "label", "records", "replica set"):
            table.add_column(column, overflow="fold")
        for held in document["resources"]:
            replicas = "\n".join(held["replicas"]) or "-"
            if held["replicas"] and held["replicas_from"] != "lookup":
                replicas += "\n(closest known peers)"
            table.add_row(held["resource_id"], escape(held["label"]), str(held["record_count"]), replicas)
        console.print(table)


@cli.command()
@node_options
def peers(api: str | None, data_dir: str | None, timeout: float | None, log_level: str | None, as_json: bool) -> None:
    """The peers the local node is connected to, with their addresses."""
    document = _required(api, data_dir, timeout, log_level).call("GET", "/v1/peers")
    if as_json:
        emit_json(document)
        return
    if not document["peers"]:
        click.echo("no peers")
    for peer in document["peers"]:
        click.echo(f"{peer['peer_id']}  {' '.join(peer['addrs']) or '-'}")
