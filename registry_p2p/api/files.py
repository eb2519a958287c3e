"""What a node running the HTTP API leaves in its data dir, for the CLI and other local programs:
`api.json` (where it listens, while it runs) and `api.token` (the bearer token writes need, created
0600 at the first start and kept). Standard library only: the CLI reads these before anything else."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path

API_INFO_FILE = "api.json"
TOKEN_FILE = "api.token"
ENV_API = "REGISTRY_P2P_API"
ENV_TOKEN = "REGISTRY_P2P_API_TOKEN"
# An SSE comment this often on an idle event stream: proxies keep it open, a gone client is
# noticed, and a client that hears nothing for several of them knows the node is gone.
KEEPALIVE_S = 15.0


def load_or_create_token(data_dir: Path) -> str:
    """The data dir's API token: read, or created (mode 0600, 32 random bytes as hex) if absent."""
    path = data_dir / TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_token(path)
    token = secrets.token_hex(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def read_token(path: Path) -> str:
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise ValueError(f"{path} is empty: delete it and a new token is created at the next start")
    return token


def write_api_info(data_dir: Path, url: str) -> None:
    """Record where the API listens (replaced atomically; removed by `remove_api_info` at stop)."""
    path = data_dir / API_INFO_FILE
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps({"url": url, "pid": os.getpid()}))
    os.replace(tmp, path)


def remove_api_info(data_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (data_dir / API_INFO_FILE).unlink()


def read_api_info(data_dir: Path) -> str | None:
    """The URL a node on `data_dir` wrote, None when there is none (or it is unreadable)."""
    try:
        document = json.loads((data_dir / API_INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = document.get("url") if isinstance(document, dict) else None
    return url if isinstance(url, str) else None


def parse_host_port(value: str, what: str = "--api") -> tuple[str, int]:
    """HOST:PORT, [V6]:PORT or :PORT / PORT (then 127.0.0.1). ValueError with a readable text."""
    host, sep, port = value.strip().rpartition(":")
    if not sep:
        host, port = "", value.strip()
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{what} expects HOST:PORT (such as 127.0.0.1:5080), not {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)
