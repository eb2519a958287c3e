"""The plain, typed, immutable objects the Resources API returns (DESIGN §5)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from registry_p2p.core.ids import b58
from registry_p2p.core.model import HEALTH_NAMES, POLICY_OPEN, SignedGrant, SignedRecord, SignedResource


@dataclass(frozen=True, slots=True)
class Grant:
    """An owner's grant (or revocation) in an owner-approved resource."""

    resource_id: str
    grantee: str
    service_prefix: str
    issued_at_ms: int
    expires_at_ms: int  # 0 = no expiry
    revoked: bool

    @classmethod
    def of(cls, grant: SignedGrant) -> Grant:
        return cls(
            b58(grant.resource_id),
            b58(grant.grantee),
            grant.service_prefix,
            grant.issued_at_ms,
            grant.expires_at_ms,
            grant.revoked,
        )


@dataclass(frozen=True, slots=True)
class Resource:
    id: str
    label: str
    owner: str
    created_at_ms: int
    policy: str = POLICY_OPEN  # "open" | "owner-approved"

    @classmethod
    def of(cls, resource: SignedResource) -> Resource:
        return cls(b58(resource.id), resource.label, b58(resource.owner), resource.created_at_ms, resource.policy)


AddrText = Callable[[bytes], str | None]
"""Renders a binary multiaddr as text, None when it is not one (net.addrs.addr_text)."""


@dataclass(frozen=True, slots=True)
class Record:
    resource_id: str
    issuer: str
    host: str
    service_id: str
    value: bytes
    issued_at_ms: int
    expires_at_ms: int
    addrs: tuple[str, ...]
    weight: int = 0
    health: str = "passing"  # "passing" | "critical": the host's checks of the service

    @classmethod
    def of(cls, record: SignedRecord, weight: Callable[[bytes], int] | None = None, *, addr_text: AddrText) -> Record:
        """The view of `record`; its addresses rendered by `addr_text`, those it rejects left out."""
        addrs = tuple(a for a in (addr_text(raw) for raw in record.addrs) if a is not None)
        return cls(
            resource_id=b58(record.resource_id),
            issuer=b58(record.issuer),
            host=b58(record.host),
            service_id=record.service_id,
            value=record.value,
            issued_at_ms=record.issued_at_ms,
            expires_at_ms=record.expires_at_ms,
            addrs=addrs,
            weight=weight(record.issuer) if weight else 0,
            health=HEALTH_NAMES[record.health],
        )


@dataclass(frozen=True, slots=True)
class WriteResult:
    """`ok` when at least `ack` replicas stored the write; `errors` maps peer → status or 'timeout';
    `replicas`: how many peers the replica set had (fewer than `ack` explains a shortfall);
    `expires_at_ms`: for a register, when the record written expires unless its host renews it."""

    ok: bool
    acks: int
    errors: dict[str, str] = field(default_factory=dict)
    replicas: int = 0
    expires_at_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # "registered" | "unregistered" | "expired" | "critical" | "passing"
    resource_id: str
    issuer: str
    host: str
    service_id: str
    record: Record | None
