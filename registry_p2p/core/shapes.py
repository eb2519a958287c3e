"""The JSON shapes of the Resources API's objects: what the CLI's `--json` prints and what the HTTP
API answers (one definition for both). Pure functions of the views; no import beyond the standard
library at run time, so that the CLI's fast path (talking to a local node) stays light."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry_p2p.core.views import Event, Grant, Record, Resource, WriteResult


def record_json(record: Record) -> dict[str, Any]:
    try:
        text: str | None = record.value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {
        "resource_id": record.resource_id,
        "issuer": record.issuer,
        "host": record.host,
        "service_id": record.service_id,
        "value_text": text,
        "value_base64": base64.b64encode(record.value).decode("ascii"),
        "issued_at_ms": record.issued_at_ms,
        "expires_at_ms": record.expires_at_ms,
        "addrs": list(record.addrs),
        "weight": record.weight,
        "health": record.health,
    }


def resource_json(resource: Resource) -> dict[str, Any]:
    return {
        "resource_id": resource.id,
        "label": resource.label,
        "owner": resource.owner,
        "created_at_ms": resource.created_at_ms,
        "policy": resource.policy,
    }


def grant_json(grant: Grant) -> dict[str, Any]:
    return {
        "grantee": grant.grantee,
        "service_prefix": grant.service_prefix,
        "issued_at_ms": grant.issued_at_ms,
        "expires_at_ms": grant.expires_at_ms or None,
        "revoked": grant.revoked,
    }


def write_json(result: WriteResult) -> dict[str, Any]:
    """`replicas`: the size of the replica set found (fewer than `ack` explains a shortfall)."""
    return {"ok": result.ok, "acks": result.acks, "errors": dict(result.errors), "replicas": result.replicas}


def event_json(event: Event) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "resource_id": event.resource_id,
        "issuer": event.issuer,
        "host": event.host,
        "service_id": event.service_id,
        "record": record_json(event.record) if event.record is not None else None,
    }
