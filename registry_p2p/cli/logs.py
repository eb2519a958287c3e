"""Logging of every verb on stderr: `--log-level`, `--log-format text|json`, `--libp2p-log-level`.

`--log-format json` writes one JSON object per line: `time` (UTC, ISO 8601), `level`, `logger`,
`message`, the fields passed with `extra=`, and `exception` (the traceback) when there is one.
py-libp2p's level is chosen on its own (adapter/logs.py says why): by default it says nothing
at --log-level warning or error (it logs routine events, a refused dial or a peer gone, as
errors, and the registry reports what matters itself), and only its warnings at info or debug.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

from registry_p2p.adapter.logs import OFF, set_libp2p_log_level

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
LIBP2P_LEVELS = (*LOG_LEVELS, "off")
_FORMAT_KEY = "registry_p2p.log_format"
_LIBP2P_KEY = "registry_p2p.libp2p_log_level"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The attributes every LogRecord has: whatever else a record carries came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in document:
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = record.stack_info
        return json.dumps(document, default=str, ensure_ascii=False)


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            ctx.meta[key] = value
        return value

    return callback


def log_format_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--log-format` and `--libp2p-log-level`, read by configure_logging (not verb arguments)."""
    fn = click.option(
        "--libp2p-log-level",
        type=click.Choice(LIBP2P_LEVELS),
        default=None,
        expose_value=False,
        callback=_remember(_LIBP2P_KEY),
        help="py-libp2p's own logging [default: off at --log-level warning/error, else warning].",
    )(fn)
    return click.option(
        "--log-format",
        type=click.Choice(LOG_FORMATS),
        default=None,
        expose_value=False,
        callback=_remember(_FORMAT_KEY),
        help="text, or json: one JSON object per line (time, level, logger, message, fields) [default: text].",
    )(fn)


def configure_logging(level: str, log_format: str | None = None, libp2p_level: str | None = None) -> None:
    """Log at `level` on stderr; the format and py-libp2p's level come from the verb's options,
    else from the arguments (a config file's node.log_format and node.libp2p_log_level)."""
    ctx = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    log_format = meta.get(_FORMAT_KEY) or log_format or "text"
    libp2p_level = meta.get(_LIBP2P_KEY) or libp2p_level or ("off" if level in ("warning", "error") else "warning")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler], force=True)
    set_libp2p_log_level(OFF if libp2p_level == "off" else getattr(logging, libp2p_level.upper()))
    if level != "debug":
        # py-libp2p and its dependencies warn about unclosed sockets and deprecations on their own.
        warnings.simplefilter("ignore")
