"""Health checks of the services this node hosts: their definitions, the host's policy, and the
sans-IO state of one check (when it is due, what a result changes). Time is a parameter.

A check is set by the host's own operator or local service (configuration, the library), never
taken from a remote issuer's request: a HostSign never makes a host run anything. Its runner
(registry/health.py) probes, feeds each result to `CheckState`, and when the status changes
re-signs the record with the new `HostBody.health` and spreads it.

Kinds:
- "tcp": a TCP connection to `target` ("host:port") opens within `timeout_s`;
- "http": a GET of `target` (an http:// URL) answers 2xx within `timeout_s`;
- "command": `argv` exits with status 0 within `timeout_s` (refused unless the host policy
  enables commands: running a program is the operator's explicit choice);
- "ttl": the service itself reports passing (`Registry.check_pass`) at least every `ttl_s`;
  a missed report turns it critical, a report passing again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

# HostBody.health (the wire's HealthStatus, protocols/registry.proto): PASSING is the zero value,
# never encoded (absent on old records). Spelled out here rather than read from the generated
# protobuf module so that the CLI, which reads checks from its config, starts without protobuf
# (~40 ms); tests/test_runtime_imports.py checks that they agree with the wire.
HEALTH_PASSING = 0
HEALTH_CRITICAL = 1
HEALTH_NAMES = {HEALTH_PASSING: "passing", HEALTH_CRITICAL: "critical"}

CHECK_KINDS = ("tcp", "http", "command", "ttl")
# An interval under a second probes a service many times per second per record; one over a day
# leaves a dead service resolvable for a day (the default TTL already bounds that).
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 86_400.0
MIN_TIMEOUT_S = 0.05
MAX_ARGV = 64
MAX_TARGET_BYTES = 1024


class CheckRefused(ValueError):
    """A check definition this host does not accept (bad values, or outside its policy)."""


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """What the host operator allows checks to do. Commands are off unless enabled."""

    allow_commands: bool = False


@dataclass(frozen=True, slots=True)
class CheckSpec:
    kind: str
    target: str = ""  # tcp: "host:port"; http: "http://host:port/path"
    argv: tuple[str, ...] = ()  # command
    interval_s: float = 10.0
    timeout_s: float = 2.0
    ttl_s: float = 0.0  # ttl: the longest gap between two reports of the service


CHECK_FIELDS: dict[str, type | tuple[type, ...]] = {
    "kind": str,
    "target": str,
    "argv": list,
    "interval_s": (int, float),
    "timeout_s": (int, float),
    "ttl_s": (int, float),
}


def spec_from_mapping(fields: Mapping[str, object], where: str = "check") -> CheckSpec:
    """A check definition from a TOML table or a JSON object (the same keys as CheckSpec's fields);
    CheckRefused names the key that is unknown or of the wrong type. Its values are checked by
    `check_spec`, against the host's policy."""
    for key, value in fields.items():
        expected = CHECK_FIELDS.get(key)
        if expected is None:
            raise CheckRefused(f"unknown key {where}.{key} (keys: {', '.join(CHECK_FIELDS)})")
        if isinstance(value, bool) or not isinstance(value, expected):
            raise CheckRefused(f"{where}.{key} has the wrong type")
    argv = fields.get("argv", [])
    assert isinstance(argv, list)
    if not all(isinstance(a, str) for a in argv):
        raise CheckRefused(f"{where}.argv must be a list of strings")
    defaults = CheckSpec(kind="tcp")

    def seconds(key: str, default: float) -> float:
        value = fields.get(key, default)
        assert isinstance(value, (int, float))
        return float(value)

    return CheckSpec(
        kind=str(fields.get("kind", "")),
        target=str(fields.get("target", "")),
        argv=tuple(argv),
        interval_s=seconds("interval_s", defaults.interval_s),
        timeout_s=seconds("timeout_s", defaults.timeout_s),
        ttl_s=seconds("ttl_s", defaults.ttl_s),
    )


def _finite_in(value: float, low: float, high: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CheckRefused(f"{what} must be a number of seconds")
    if not low <= value <= high:
        raise CheckRefused(f"{what} {value:g} s is outside [{low:g}, {high:g}] s")


def split_host_port(target: str) -> tuple[str, int]:
    """("host", port) of a tcp target "host:port" (IPv6 as "[::1]:port")."""
    host, sep, port_text = target.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise CheckRefused(f"tcp target {target!r} is not host:port")
    port = int(port_text)
    if not 0 < port < 65536:
        raise CheckRefused(f"tcp target {target!r} has no valid port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def check_spec(spec: CheckSpec, policy: HealthPolicy) -> None:
    """Raise CheckRefused, saying why, unless `spec` is a check this host runs."""
    if spec.kind not in CHECK_KINDS:
        raise CheckRefused(f"check kind {spec.kind!r} is not one of {', '.join(CHECK_KINDS)}")
    if spec.kind == "command" and not policy.allow_commands:
        raise CheckRefused(
            "command checks are disabled by this host's policy (enable them with [health] allow_commands = true)"
        )
    if len(spec.target.encode("utf-8")) > MAX_TARGET_BYTES:
        raise CheckRefused(f"check target is over {MAX_TARGET_BYTES} bytes")
    if spec.kind == "ttl":
        _finite_in(spec.ttl_s, MIN_INTERVAL_S, MAX_INTERVAL_S, "ttl check's ttl_s")
        if spec.target or spec.argv:
            raise CheckRefused("a ttl check has no target or argv: the service reports itself")
        return
    _finite_in(spec.interval_s, MIN_INTERVAL_S, MAX_INTERVAL_S, "check interval_s")
    _finite_in(spec.timeout_s, MIN_TIMEOUT_S, spec.interval_s, "check timeout_s")
    if spec.kind == "tcp":
        split_host_port(spec.target)
    elif spec.kind == "http":
        parts = urlsplit(spec.target)
        if parts.scheme != "http" or not parts.hostname:
            raise CheckRefused(f"http check target {spec.target!r} is not an http:// URL")
        try:
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            raise CheckRefused(f"http check target {spec.target!r}: {exc}") from exc
    elif spec.kind == "command" and (
        not spec.argv or not all(isinstance(a, str) and a for a in spec.argv) or len(spec.argv) > MAX_ARGV
    ):
        raise CheckRefused(f"a command check needs argv: 1 to {MAX_ARGV} non-empty strings")
    if spec.kind != "command" and spec.argv:
        raise CheckRefused(f"a {spec.kind} check takes no argv")


class CheckState:
    """One check's status and schedule. A new check starts passing (the record was just
    registered passing); one failed probe, or a missed TTL report, makes it critical, and one
    passing probe or report makes it passing again.

    Probed kinds: run a probe when `next_due_ms` comes, feed its outcome to `on_result`. TTL
    kind: `report` when the service reports; `on_deadline` when `next_due_ms` comes.
    Each returns the new status when it changed, None otherwise."""

    def __init__(self, spec: CheckSpec, now_ms: int) -> None:
        self.spec = spec
        self.status = HEALTH_PASSING
        self.last_output = ""
        if spec.kind == "ttl":
            self._due_ms = now_ms + int(spec.ttl_s * 1000)
        else:
            self._due_ms = now_ms  # probe at once

    def next_due_ms(self) -> int:
        return self._due_ms

    def _set(self, status: int, output: str) -> int | None:
        self.last_output = output
        if status == self.status:
            return None
        self.status = status
        return status

    def on_result(self, ok: bool, output: str, started_ms: int) -> int | None:
        """The outcome of the probe started at `started_ms` (the next is one interval later)."""
        self._due_ms = started_ms + int(self.spec.interval_s * 1000)
        return self._set(HEALTH_PASSING if ok else HEALTH_CRITICAL, output)

    def report(self, ok: bool, output: str, now_ms: int) -> int | None:
        """The service's own report (ttl checks): it holds until `ttl_s` from now."""
        if self.spec.kind != "ttl":
            raise CheckRefused(f"only a ttl check takes reports, this one is {self.spec.kind}")
        self._due_ms = now_ms + int(self.spec.ttl_s * 1000)
        return self._set(HEALTH_PASSING if ok else HEALTH_CRITICAL, output)

    def on_deadline(self, now_ms: int) -> int | None:
        """A ttl check whose report did not come in time: critical (until the next report)."""
        if now_ms < self._due_ms:
            return None
        self._due_ms = now_ms + int(self.spec.ttl_s * 1000)
        return self._set(HEALTH_CRITICAL, f"no report for {self.spec.ttl_s:g} s")
