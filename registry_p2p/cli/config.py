"""The TOML configuration file, and the addresses given on the command line."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_p2p.cli.logs import LIBP2P_LEVELS, LOG_FORMATS
from registry_p2p.cli.logs import LOG_LEVELS as LOG_LEVELS  # cli/logs.py: logging of every verb
from registry_p2p.cli.logs import configure_logging as configure_logging
from registry_p2p.cli.output import CliError, one_line
from registry_p2p.core.health import CheckRefused, CheckSpec, HealthPolicy, check_spec, spec_from_mapping

if TYPE_CHECKING:
    from registry_p2p.core.config import RegistryConfig

ENV_BOOTSTRAP = "REGISTRY_P2P_BOOTSTRAP"
DEFAULT_LISTEN = "/ip4/0.0.0.0/tcp/4600"
CONFIG_SECTIONS = ("node", "registry", "limits", "host", "trust", "health", "service")
SERVICE_KEYS: dict[str, type | tuple[type, ...]] = {
    "resource": str,
    "service_id": str,
    "value": str,
    "ttl_s": int,
    "check": dict,
}


@dataclass(frozen=True, slots=True)
class ConfiguredService:
    """A `[[service]]` of the node's configuration: a record it registers and hosts itself, in a
    resource it owns (created if needed), optionally with a health check it runs."""

    resource: str
    service_id: str
    value: str
    ttl_s: int | None
    check: CheckSpec | None


def _typed(table: dict[str, Any], keys: dict[str, type | tuple[type, ...]], where: str) -> None:
    for key, value in table.items():
        expected = keys.get(key)
        if expected is None:
            raise ValueError(f"unknown key {where}.{key} (keys: {', '.join(keys)})")
        if isinstance(value, bool) or not isinstance(value, expected):
            raise ValueError(f"{where}.{key} has the wrong type")


def services_from(data: dict[str, Any], config: RegistryConfig) -> list[ConfiguredService]:
    """The `[[service]]` tables, each check validated against the host policy (ValueError)."""
    tables = data.get("service", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ValueError("service must be an array of tables ([[service]])")
    policy = HealthPolicy(allow_commands=config.allow_command_checks)
    services = []
    for i, table in enumerate(tables):
        where = f"service[{i}]"
        _typed(table, SERVICE_KEYS, where)
        if not table.get("resource"):
            raise ValueError(f"{where}.resource (the label of a resource this node owns) is required")
        check = None
        if "check" in table:
            fields = table["check"]
            if not isinstance(fields, dict):
                raise ValueError(f"{where}.check must be a table")
            if fields.get("kind") == "ttl":
                raise ValueError(
                    f"{where}.check: a ttl check is reported by its service (the API's PUT"
                    " /v1/resources/{id}/check, or Registry.check_pass); a node's configuration cannot report it"
                )
            try:
                check = spec_from_mapping(fields, f"{where}.check")
                check_spec(check, policy)
            except CheckRefused as exc:
                raise ValueError(f"{where}.check refused: {exc}") from exc
        services.append(
            ConfiguredService(
                resource=table["resource"],
                service_id=table.get("service_id", ""),
                value=table.get("value", ""),
                ttl_s=table.get("ttl_s"),
                check=check,
            )
        )
    return services


NODE_KEYS: dict[str, type] = {
    "listen": list,
    "announce": list,
    "bootstrap": list,
    "data_dir": str,
    "metrics": str,
    "log_level": str,
    "log_format": str,
    "libp2p_log_level": str,
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
        if section != "service" and not isinstance(value, dict):
            raise CliError(f"config file {path}: {section} must be a table ([{section}])")
    node = dict(data.get("node", {}))
    for key, value in node.items():
        expected = NODE_KEYS.get(key)
        if expected is None:
            raise CliError(f"config file {path}: unknown key node.{key}")
        if not isinstance(value, expected) or (isinstance(value, list) and not all(isinstance(v, str) for v in value)):
            kind = "a list of strings" if expected is list else "a string"
            raise CliError(f"config file {path}: node.{key} must be {kind}")
    for key, allowed in (("log_level", LOG_LEVELS), ("log_format", LOG_FORMATS), ("libp2p_log_level", LIBP2P_LEVELS)):
        if key in node and node[key] not in allowed:
            raise CliError(f"config file {path}: node.{key} must be one of {', '.join(allowed)}")
    try:
        config = config_from_mapping({k: v for k, v in data.items() if k != "service"})
        node["services"] = services_from(data, config)
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
