"""JSON and rich output of the verbs, and the mapping of an exception to one line and an exit status."""

from __future__ import annotations

import base64
import errno
import json
import os
import select
import signal
import sys
import time
from typing import Any

import trio
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from registry_p2p.core.errors import RegistryError
from registry_p2p.core.views import Event, Record, Resource, WriteResult
from registry_p2p.node import NodeError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)  # one message, one line


class StdoutConsole(Console):
    """Rich on stdout: a reader that went away raises BrokenPipeError, which ends the command
    quietly (see main), where rich itself would exit with status 1."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


class CliError(Exception):
    """A user-facing failure: its text is the one line printed on stderr."""


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped a verb, after its cleanup ran: exit 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__("interrupted" if signum == signal.SIGINT else "terminated")
        self.signum = signum


def stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader went away (rather than a socket of py-libp2p's)."""
    poller = select.poll()
    poller.register(sys.stdout.fileno(), select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, separators=(", ", ": ")) + "\n")
    sys.stdout.flush()


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe_error(exc: BaseException) -> tuple[str, int]:
    """The line to print and the exit status for an exception that ended a verb."""
    exc = root_cause(exc)
    if isinstance(exc, CliError | NodeError):
        return str(exc), 1
    if isinstance(exc, RegistryError):
        return exc.text, 1
    if isinstance(exc, Interrupted):
        return str(exc), 128 + exc.signum
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(exc, trio.TooSlowError):
        return "timed out", 1
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}", 1
    return f"internal error: {type(exc).__name__}: {exc} (run with --log-level debug for details)", 70


def root_cause(exc: BaseException) -> BaseException:
    """The most telling leaf of an exception group (trio nurseries wrap what they raise)."""
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    leaves = [root_cause(e) for e in exc.exceptions]
    for kind in (CliError, NodeError, RegistryError, Interrupted, KeyboardInterrupt):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    meaningful = [leaf for leaf in leaves if not isinstance(leaf, trio.Cancelled)]
    return (meaningful or leaves)[0]


def record_json(record: Record) -> dict[str, Any]:
    try:
        text: str | None = record.value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {
        "resource_id": record.resource_id,
        "issuer": record.issuer,
        "host": record.host,
        "service_id": record.service_id,
        "value_text": text,
        "value_base64": base64.b64encode(record.value).decode("ascii"),
        "issued_at_ms": record.issued_at_ms,
        "expires_at_ms": record.expires_at_ms,
        "addrs": list(record.addrs),
        "weight": record.weight,
        "health": record.health,
    }


def resource_json(resource: Resource) -> dict[str, Any]:
    return {
        "resource_id": resource.id,
        "label": resource.label,
        "owner": resource.owner,
        "created_at_ms": resource.created_at_ms,
    }


def write_json(result: WriteResult) -> dict[str, Any]:
    return {"ok": result.ok, "acks": result.acks, "errors": dict(result.errors)}


def event_json(event: Event) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "resource_id": event.resource_id,
        "issuer": event.issuer,
        "host": event.host,
        "service_id": event.service_id,
        "record": record_json(event.record) if event.record is not None else None,
    }


def value_cell(value: bytes, width: int = 60) -> str:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = "base64:" + base64.b64encode(value).decode("ascii")
    return text if len(text) <= width else text[: width - 1] + "…"


def local_time(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def expires_in(ms: int) -> str:
    left = max(0, ms - int(time.time() * 1000)) // 1000
    hours, rest = divmod(left, 3600)
    return f"in {hours}h{rest // 60:02d}m" if hours else f"in {rest // 60}m{rest % 60:02d}s"


def records_table(records: list[Record], rtts: list[float | None] | None = None) -> Table:
    table = Table(show_edge=False, header_style="bold")
    table.add_column("service", overflow="fold")
    table.add_column("host", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("expires", no_wrap=True)
    table.add_column("health", no_wrap=True)
    table.add_column("addrs", overflow="fold")
    if rtts is not None:
        table.add_column("ping", no_wrap=True)
    for i, r in enumerate(records):
        probed = [] if rtts is None else ["unreachable" if rtts[i] is None else f"{rtts[i]:.1f} ms"]
        table.add_row(
            escape(r.service_id) or '""',
            r.host,
            escape(value_cell(r.value)),
            expires_in(r.expires_at_ms),
            r.health,
            "\n".join(r.addrs) or "-",
            *probed,
        )
    return table
