"""The TOML configuration file, and the addresses given on the command line."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_p2p.cli.logs import LOG_LEVELS as LOG_LEVELS  # cli/logs.py: logging of every verb
from registry_p2p.cli.logs import configure_logging as configure_logging
from registry_p2p.cli.output import CliError, one_line

if TYPE_CHECKING:
    from registry_p2p.core.config import RegistryConfig

ENV_BOOTSTRAP = "REGISTRY_P2P_BOOTSTRAP"
DEFAULT_LISTEN = "/ip4/0.0.0.0/tcp/4600"
CONFIG_SECTIONS = ("node", "registry", "limits", "host", "trust")
NODE_KEYS: dict[str, type] = {
    "listen": list,
    "announce": list,
    "bootstrap": list,
    "data_dir": str,
    "metrics": str,
    "log_level": str,
    "api": str,
}


def load_config_file(path: str | None) -> tuple[RegistryConfig, dict[str, Any]]:
    """Parse a TOML configuration; every problem names the file and the offending key."""
    from registry_p2p.core.config import RegistryConfig, config_from_mapping  # protobuf: only when needed

    if path is None:
        return RegistryConfig(), {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read config file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CliError(f"config file {path} is not UTF-8 text") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"config file {path} is not valid TOML: {exc}") from exc
    for section, value in data.items():
        if section not in CONFIG_SECTIONS:
            raise CliError(f"config file {path}: unknown key {section!r} (sections: {', '.join(CONFIG_SECTIONS)})")
        if not isinstance(value, dict):
            raise CliError(f"config file {path}: {section} must be a table ([{section}])")
    node = dict(data.get("node", {}))
    for key, value in node.items():
        expected = NODE_KEYS.get(key)
        if expected is None:
            raise CliError(f"config file {path}: unknown key node.{key}")
        if not isinstance(value, expected) or (isinstance(value, list) and not all(isinstance(v, str) for v in value)):
            kind = "a list of strings" if expected is list else "a string"
            raise CliError(f"config file {path}: node.{key} must be {kind}")
    if "log_level" in node and node["log_level"] not in LOG_LEVELS:
        raise CliError(f"config file {path}: node.log_level must be one of {', '.join(LOG_LEVELS)}")
    try:
        config = config_from_mapping(data)
    except ValueError as exc:
        raise CliError(f"config file {path}: {exc}") from exc
    return config, node


def parse_bootstrap(values: tuple[str, ...] | list[str]) -> list[str]:
    """Check each bootstrap multiaddr (it must end in /p2p/<peer id>); one line on failure."""
    from multiaddr import Multiaddr

    out = []
    for value in values:
        try:
            addr = Multiaddr(value)
        except Exception as exc:
            raise CliError(f"bootstrap address {value!r} is not a multiaddr: {multiaddr_reason(exc)}") from exc
        if "p2p" not in [p.name for p in addr.protocols()]:
            raise CliError(f"bootstrap address {value!r} needs a /p2p/<peer id> part")
        out.append(str(addr))
    return out


def parse_listen(values: list[str], what: str = "listen") -> list[str]:
    from multiaddr import Multiaddr

    out = []
    for value in values:
        try:
            out.append(str(Multiaddr(value)))
        except Exception as exc:
            raise CliError(f"{what} address {value!r} is not a multiaddr: {multiaddr_reason(exc)}") from exc
    return out


def multiaddr_reason(exc: Exception) -> str:
    text = one_line(str(exc))
    match = re.search(r"': (.*?)(?: \(string: .*\))?$", text)
    return match.group(1) if match else text


def bootstrap_from(flags: tuple[str, ...], file_values: list[str] | None = None) -> list[str]:
    if flags:
        values = list(flags)
    elif os.environ.get(ENV_BOOTSTRAP, "").strip():
        values = [v for v in re.split(r"[,\s]+", os.environ[ENV_BOOTSTRAP]) if v]
    else:
        values = list(file_values or [])
    return parse_bootstrap(values)
