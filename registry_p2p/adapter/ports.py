"""py-libp2p listens with SO_REUSEPORT: claim each fixed port first, so a port in use is refused."""

from __future__ import annotations

import socket
from typing import Any


def claim_listen_ports(addrs: list[Any]) -> None:
    """Refuse a TCP port that another socket holds, before py-libp2p listens on it.

    py-libp2p 0.8.1 listens with SO_REUSEPORT (for hole punching): a second node on a port in
    use started anyway, printed "listening on ...", and the kernel split incoming connections
    between the two processes. Each fixed port is bound once here without SO_REUSEPORT (with
    SO_REUSEADDR, so a restart on the same port is not blocked by connections in TIME_WAIT); a
    port held by any listener fails with OSError (EADDRINUSE). Port 0 is the kernel's choice.
    """
    for addr in addrs:
        values = {proto.name: value for proto, value in addr.items()}
        port = int(values.get("tcp") or 0)
        if not port:
            continue
        if "ip6" in values:
            family, ip = socket.AF_INET6, str(values["ip6"])
        elif "ip4" in values:
            family, ip = socket.AF_INET, str(values["ip4"])
        else:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((ip, port))
