"""py-libp2p's loggers: no handler, no propagation, warnings for routine events, and chatter.

py-libp2p (and the multiaddr package under it) log routine work at DEBUG: a resolve against a
5-node testnet printed 460 lines under `--log-level debug`, 420 of them from multiaddr's
per-address transforms and 40 from `logging.debug(...)` calls py-libp2p makes on the root logger.
Their level is therefore chosen on its own (`set_libp2p_log_level`, the CLI's
`--libp2p-log-level`), WARNING unless asked, whatever the level of the registry's own loggers.
"""

from __future__ import annotations

import importlib.util
import logging
import os

# Loggers of py-libp2p and of the libraries it brings whose routine output is not ours to show.
CHATTY = ("libp2p", "multiaddr")
OFF = logging.CRITICAL + 10  # above every level: nothing

_chosen = {"level": logging.WARNING}


class _FromLibp2pOnRoot(logging.Filter):
    """py-libp2p also calls `logging.debug(...)` on the root logger itself (swarm_connection's
    "Setting on_close for peer ..."): those records carry the root's name, so only their source
    file tells them apart. A filter on the root logger sees only the records logged on it."""

    def __init__(self) -> None:
        super().__init__()
        self.level = logging.WARNING
        # Located, not imported: importing py-libp2p costs a second, and a verb answered by a local
        # node's API configures logging without ever loading it.
        spec = importlib.util.find_spec("libp2p")
        origin = spec.origin if spec is not None else None
        self.prefix = os.path.dirname(origin) + os.sep if origin else ""

    def filter(self, record: logging.LogRecord) -> bool:
        if self.prefix and record.pathname.startswith(self.prefix):
            return record.levelno >= self.level
        return True


_root_filter: _FromLibp2pOnRoot | None = None


def set_libp2p_log_level(level: int) -> None:
    """The level py-libp2p and multiaddr log at from now on (`OFF`: not at all); applied at once
    and by every later `route_libp2p_logging` (each `open_node` calls it)."""
    _chosen["level"] = level
    route_libp2p_logging()


def route_libp2p_logging(level: int | None = None) -> None:
    """py-libp2p sets its logger to propagate=False with no handler: send it to ours instead.

    `level` defaults to the one chosen with `set_libp2p_log_level` (WARNING unless chosen). At
    WARNING and above, py-libp2p's routine warnings are held back too: its DHT logs a WARNING on
    every clean stream EOF, so `libp2p.kad_dht` is held at ERROR, and so on below. Asked for INFO
    or DEBUG, it says everything.
    """
    global _root_filter
    if level is None:
        level = _chosen["level"]
    lib = logging.getLogger("libp2p")
    lib.propagate = True
    for name in CHATTY:
        logging.getLogger(name).setLevel(level)
    if _root_filter is None:
        _root_filter = _FromLibp2pOnRoot()
    _root_filter.level = level
    root = logging.getLogger()
    if _root_filter not in root.filters:
        root.addFilter(_root_filter)
    quiet = level >= logging.WARNING
    for noisy in ("libp2p.kad_dht", "libp2p.pubsub", "libp2p.network"):
        logging.getLogger(noisy).setLevel(max(level, logging.ERROR) if quiet else level)
    # Sets itself to INFO on import and reports every round of dialing.
    logging.getLogger("libp2p.network.auto_connector").setLevel(level)
    # Servers query light clients (DHT client mode) during lookups and log each refusal as an
    # ERROR with a multi-line dump: a known py-libp2p quirk, harmless, and not ours to report.
    logging.getLogger("libp2p.host.basic_host").setLevel(max(level, logging.CRITICAL) if quiet else level)
