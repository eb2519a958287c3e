"""Registry configuration: limits, timeouts, maintenance intervals, host policy, trusted peers.

Pure data. The CLI reads it from TOML (`registry_p2p.cli`); library users build it directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from registry_p2p.core.ids import peer_id_from_text
from registry_p2p.core.limits import DEFAULT_LIMITS, Limits

HOST_POLICIES = ("self-only", "allow-list", "open")


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    limits: Limits = DEFAULT_LIMITS
    # A write or resolve succeeds with `ack` answers before this many seconds (Fluence: 6 s).
    request_timeout_s: float = 6.0
    # A server drops a stream on which no complete request arrived for this long.
    stream_idle_timeout_s: float = 60.0
    replicate_interval_s: float = 3600.0
    # A node that starts with entries in its store re-announces them this soon (None: at the
    # first regular round), so a restarted replica catches up at once.
    startup_replicate_delay_s: float | None = 5.0
    renew_interval_s: float = 600.0
    gc_interval_s: float = 600.0
    # Each wait is multiplied by a random factor in [1 - jitter, 1 + jitter].
    jitter: float = 0.1
    replica_cache_ttl_s: float = 60.0
    host_policy: str = "self-only"
    allowed_issuers: frozenset[bytes] = frozenset()
    # Local trust: weight(peer) orders resolve results and chooses evictions. Never from the wire.
    weights: Mapping[bytes, int] = field(default_factory=dict)
    gossip_heartbeat_s: float = 1.0
    # A new connection is never pruned this soon after it opened (open_node's hosts only).
    connection_grace_s: float = 10.0
    # Health checks that run a command: off unless the operator enables them ([health]).
    allow_command_checks: bool = False

    def weight(self, peer: bytes) -> int:
        return self.weights.get(peer, 0)

    def check(self) -> None:
        self.limits.check()
        if self.host_policy not in HOST_POLICIES:
            raise ValueError(f"host_policy must be one of {', '.join(HOST_POLICIES)}")
        for name in (
            "request_timeout_s",
            "stream_idle_timeout_s",
            "replicate_interval_s",
            "renew_interval_s",
            "gc_interval_s",
            "replica_cache_ttl_s",
            "gossip_heartbeat_s",
            "connection_grace_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.startup_replicate_delay_s is not None and self.startup_replicate_delay_s < 0:
            raise ValueError("startup_replicate_delay_s must not be negative")


_TOP_KEYS = {
    "request_timeout_s",
    "stream_idle_timeout_s",
    "replicate_interval_s",
    "startup_replicate_delay_s",
    "renew_interval_s",
    "gc_interval_s",
    "jitter",
    "replica_cache_ttl_s",
    "host_policy",
    "gossip_heartbeat_s",
    "connection_grace_s",
}


def config_from_mapping(data: Mapping[str, Any], base: RegistryConfig | None = None) -> RegistryConfig:
    """Build a config from a parsed TOML document; raise ValueError naming the offending key.

    Sections: `[registry]` (the top-level settings), `[limits]` (fields of Limits),
    `[host]` (`policy`, `allowed_issuers = [peer ids]`), `[trust]` (`"<peer id>" = weight`),
    `[health]` (`allow_commands = true` lets health checks run commands).
    Other top-level tables (such as `[node]`) belong to the caller and are ignored here.
    """
    config = base or RegistryConfig()
    registry = data.get("registry", {})
    if not isinstance(registry, Mapping):
        raise ValueError("[registry] must be a table")
    updates: dict[str, Any] = {}
    for key, value in registry.items():
        if key not in _TOP_KEYS:
            raise ValueError(f"unknown key registry.{key}")
        expected = str if key == "host_policy" else (int, float)
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ValueError(f"registry.{key} has the wrong type")
        updates[key] = float(value) if key != "host_policy" else value
    limits_table = data.get("limits", {})
    if not isinstance(limits_table, Mapping):
        raise ValueError("[limits] must be a table")
    limit_updates: dict[str, Any] = {}
    for key, value in limits_table.items():
        if key not in Limits.__dataclass_fields__:
            raise ValueError(f"unknown key limits.{key}")
        current = getattr(config.limits, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"limits.{key} must be a number")
        if isinstance(current, int) and not isinstance(value, int):
            raise ValueError(f"limits.{key} must be an integer")
        limit_updates[key] = value
    host = data.get("host", {})
    if not isinstance(host, Mapping):
        raise ValueError("[host] must be a table")
    for key, value in host.items():
        if key == "policy":
            if not isinstance(value, str):
                raise ValueError("host.policy must be a string")
            updates["host_policy"] = value
        elif key == "allowed_issuers":
            if not isinstance(value, list):
                raise ValueError("host.allowed_issuers must be a list of peer ids")
            try:
                updates["allowed_issuers"] = frozenset(peer_id_from_text(str(p)) for p in value)
            except Exception as exc:
                raise ValueError(f"host.allowed_issuers: {exc}") from exc
        else:
            raise ValueError(f"unknown key host.{key}")
    health = data.get("health", {})
    if not isinstance(health, Mapping):
        raise ValueError("[health] must be a table")
    for key, value in health.items():
        if key != "allow_commands":
            raise ValueError(f"unknown key health.{key}")
        if not isinstance(value, bool):
            raise ValueError("health.allow_commands must be true or false")
        updates["allow_command_checks"] = value
    trust = data.get("trust", {})
    if not isinstance(trust, Mapping):
        raise ValueError("[trust] must be a table of peer id = weight")
    weights: dict[bytes, int] = dict(config.weights)
    for peer, weight in trust.items():
        try:
            peer_bytes = peer_id_from_text(peer)
        except Exception as exc:
            raise ValueError(f"trust.{peer}: not a peer id") from exc
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise ValueError(f"trust.{peer} must be an integer weight")
        weights[peer_bytes] = weight
    if weights:
        updates["weights"] = weights
    result = replace(config, limits=replace(config.limits, **limit_updates), **updates)
    try:
        result.check()
    except ValueError as exc:
        raise ValueError(f"invalid configuration: {exc}") from exc
    return result
