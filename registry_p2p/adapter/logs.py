"""py-libp2p's loggers: no handler, no propagation, and warnings for routine events."""

from __future__ import annotations

import logging


def route_libp2p_logging(level: int = logging.WARNING) -> None:
    """py-libp2p sets its logger to propagate=False with no handler: send it to ours instead.

    Its DHT logs a WARNING on every clean stream EOF, so `libp2p.kad_dht` is held at ERROR.
    """
    lib = logging.getLogger("libp2p")
    lib.propagate = True
    lib.setLevel(level)
    for noisy in ("libp2p.kad_dht", "libp2p.pubsub", "libp2p.network"):
        logging.getLogger(noisy).setLevel(max(level, logging.ERROR))
    # Sets itself to INFO on import and reports every round of dialing.
    logging.getLogger("libp2p.network.auto_connector").setLevel(max(level, logging.WARNING))
    # Servers query light clients (DHT client mode) during lookups and log each refusal as an
    # ERROR with a multi-line dump: a known py-libp2p quirk, harmless, and not ours to report.
    logging.getLogger("libp2p.host.basic_host").setLevel(logging.CRITICAL)
