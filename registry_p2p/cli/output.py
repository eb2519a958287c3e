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

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from registry_p2p.core.shapes import event_json, grant_json, record_json, resource_json, write_json

# The JSON shapes live in core/shapes.py (the HTTP API answers the same); re-exported for the verbs.
__all__ = ["event_json", "grant_json", "record_json", "resource_json", "write_json"]

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


def _loaded(module: str, name: str) -> type[BaseException] | None:
    """An exception class of a module only if that module is loaded: a verb that answered through
    a local node's API never imported trio or py-libp2p, so none of their exceptions can occur."""
    found = sys.modules.get(module)
    return getattr(found, name, None) if found is not None else None


def describe_error(exc: BaseException) -> tuple[str, int]:
    """The line to print and the exit status for an exception that ended a verb."""
    exc = root_cause(exc)
    node_error = _loaded("registry_p2p.node", "NodeError")
    registry_error = _loaded("registry_p2p.core.errors", "RegistryError")
    too_slow = _loaded("trio", "TooSlowError")
    if isinstance(exc, CliError) or (node_error and isinstance(exc, node_error)):
        return str(exc), 1
    if registry_error and isinstance(exc, registry_error):
        return str(getattr(exc, "text", exc)), 1
    if isinstance(exc, Interrupted):
        return str(exc), 128 + exc.signum
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130
    if too_slow and isinstance(exc, too_slow):
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
    kinds = (
        CliError,
        _loaded("registry_p2p.node", "NodeError"),
        _loaded("registry_p2p.core.errors", "RegistryError"),
        Interrupted,
        KeyboardInterrupt,
    )
    for kind in kinds:
        for leaf in leaves:
            if kind is not None and isinstance(leaf, kind):
                return leaf
    cancelled = _loaded("trio", "Cancelled")
    meaningful = [leaf for leaf in leaves if cancelled is None or not isinstance(leaf, cancelled)]
    return (meaningful or leaves)[0]


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


def records_table(records: list[dict[str, Any]], rtts: list[float | None] | None = None) -> Table:
    """The records (their JSON shape, record_json: the light path and the API's answers alike)."""
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
            escape(r["service_id"]) or '""',
            r["host"],
            escape(value_cell(base64.b64decode(r["value_base64"]))),
            expires_in(r["expires_at_ms"]),
            r.get("health", "passing"),
            "\n".join(r["addrs"]) or "-",
            *probed,
        )
    return table
