"""Building and signing resources, records and tombstones. Every signature goes through `sign`."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.limits import DEFAULT_LIMITS, Limits
from registry_p2p.core.model import (
    HEALTH_PASSING,
    POLICY_OPEN,
    POLICY_PB,
    SignedGrant,
    SignedRecord,
    SignedResource,
    SignedTombstone,
    decode_resource,
    grant_from_pb,
    record_from_pb,
    tombstone_from_pb,
)
from registry_p2p.core.signing import (
    GRANT_DOMAIN,
    HOST_DOMAIN,
    RECORD_DOMAIN,
    RESOURCE_DOMAIN,
    TOMBSTONE_DOMAIN,
    SigningKey,
    peer_id_bytes_of,
    public_key_field,
    sign,
)
from registry_p2p.pb import registry_pb2 as pb


def make_resource(
    owner_key: SigningKey, label: str, now_ms: int, limits: Limits = DEFAULT_LIMITS, policy: str = POLICY_OPEN
) -> SignedResource:
    if policy not in POLICY_PB:
        raise ValueError(f"unknown write policy {policy!r} (known: {', '.join(POLICY_PB)})")
    body = pb.ResourceBody(
        label=label, owner=peer_id_bytes_of(owner_key), created_at_ms=now_ms, write_policy=POLICY_PB[policy]
    ).SerializeToString()
    message = pb.Resource(
        body=body, signature=sign(owner_key, RESOURCE_DOMAIN, body), owner_public_key=public_key_field(owner_key)
    )
    return decode_resource(message.SerializeToString(), limits)


@dataclass(frozen=True, slots=True)
class IssuerPart:
    """The issuer-signed half of a record, as sent to a remote host for its countersignature."""

    body: bytes
    signature: bytes
    public_key: bytes
    host: bytes

    def to_request(self) -> pb.HostSignRequest:
        return pb.HostSignRequest(
            issuer_body=self.body, issuer_signature=self.signature, issuer_public_key=self.public_key
        )


def _record_body(
    issuer: bytes, resource_id: bytes, host: bytes, service_id: str, value: bytes, now_ms: int, ttl_s: int
) -> bytes:
    return pb.RecordBody(
        resource_id=resource_id,
        issuer=issuer,
        host=host,
        service_id=service_id,
        value=value,
        issued_at_ms=now_ms,
        ttl_s=ttl_s,
    ).SerializeToString()


def _host_sign(
    host_key: SigningKey,
    issuer_body: bytes,
    issuer_signature: bytes,
    issuer_public_key: bytes,
    now_ms: int,
    addrs: Sequence[bytes],
    limits: Limits,
    health: int = HEALTH_PASSING,
) -> SignedRecord:
    # proto3 leaves health out when it is PASSING (the zero value): a passing record's host body
    # is byte-for-byte what it was before the field existed.
    host_body = pb.HostBody(
        issuer_body_sha256=hashlib.sha256(issuer_body).digest(),
        host_signed_at_ms=now_ms,
        addrs=list(addrs),
        health=health,  # type: ignore[arg-type]
    ).SerializeToString()
    message = pb.Record(
        issuer_body=issuer_body,
        issuer_signature=issuer_signature,
        host_body=host_body,
        host_signature=sign(host_key, HOST_DOMAIN, host_body),
        issuer_public_key=issuer_public_key,
        host_public_key=public_key_field(host_key),
    )
    return record_from_pb(message, limits)


def make_record(
    key: SigningKey,
    resource_id: bytes,
    service_id: str,
    value: bytes,
    now_ms: int,
    ttl_s: int | None = None,
    addrs: Sequence[bytes] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> SignedRecord:
    """A self-hosted record: issuer = host = the key's peer; one signature (the host's) covers it."""
    me = peer_id_bytes_of(key)
    body = _record_body(me, resource_id, me, service_id, value, now_ms, ttl_s or limits.default_ttl_s)
    return _host_sign(key, body, b"", b"", now_ms, addrs, limits)


def make_issuer_part(
    issuer_key: SigningKey,
    resource_id: bytes,
    host: bytes,
    service_id: str,
    value: bytes,
    now_ms: int,
    ttl_s: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> IssuerPart:
    """The issuer's half of a record hosted by another peer, to be countersigned by it."""
    me = peer_id_bytes_of(issuer_key)
    if host == me:
        raise ValueError("a self-hosted record is made with make_record")
    body = _record_body(me, resource_id, host, service_id, value, now_ms, ttl_s or limits.default_ttl_s)
    return IssuerPart(body, sign(issuer_key, RECORD_DOMAIN, body), public_key_field(issuer_key), host)


def countersign(
    host_key: SigningKey,
    request: pb.HostSignRequest,
    now_ms: int,
    addrs: Sequence[bytes],
    limits: Limits = DEFAULT_LIMITS,
) -> SignedRecord:
    """The host's side of HostSign: check the request names us as host, then sign the host body.

    The caller validates the returned record (issuer signature, times) before trusting it.
    """
    body = pb.RecordBody.FromString(request.issuer_body)
    if body.host != peer_id_bytes_of(host_key):
        raise RegistryError(Status.NOT_AUTHORIZED, "record names another host")
    if body.issuer == body.host:
        raise RegistryError(Status.MALFORMED, "a self-hosted record needs no countersignature")
    return _host_sign(
        host_key, request.issuer_body, request.issuer_signature, request.issuer_public_key, now_ms, addrs, limits
    )


def renew(
    host_key: SigningKey,
    record: SignedRecord,
    now_ms: int,
    addrs: Sequence[bytes] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    health: int | None = None,
) -> SignedRecord:
    """Re-sign the host part with a new host_signed_at; the issuer's part is untouched.
    `health` (default: the record's own) is the host's status of the service. The new signature
    is dated after the old one even when the clock has not moved, so that it supersedes it."""
    if record.host != peer_id_bytes_of(host_key):
        raise ValueError("only the host renews a record")
    return _host_sign(
        host_key,
        record.issuer_body,
        record.issuer_signature,
        record.issuer_public_key,
        max(now_ms, record.host_signed_at_ms + 1),
        record.addrs if addrs is None else addrs,
        limits,
        record.health if health is None else health,
    )


def make_tombstone(
    issuer_key: SigningKey,
    resource_id: bytes,
    host: bytes,
    service_id: str,
    now_ms: int,
    limits: Limits = DEFAULT_LIMITS,
) -> SignedTombstone:
    body = pb.TombstoneBody(
        resource_id=resource_id,
        issuer=peer_id_bytes_of(issuer_key),
        host=host,
        service_id=service_id,
        issued_at_ms=now_ms,
    ).SerializeToString()
    message = pb.Tombstone(
        body=body, signature=sign(issuer_key, TOMBSTONE_DOMAIN, body), issuer_public_key=public_key_field(issuer_key)
    )
    return tombstone_from_pb(message, limits)


def make_grant(
    owner_key: SigningKey,
    resource_id: bytes,
    grantee: bytes,
    now_ms: int,
    *,
    service_prefix: str = "",
    expires_at_ms: int = 0,
    revoked: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> SignedGrant:
    """A grant (or, `revoked`, a revocation) signed by the resource's owner."""
    body = pb.GrantBody(
        resource_id=resource_id,
        grantee=grantee,
        service_prefix=service_prefix,
        issued_at_ms=now_ms,
        expires_at_ms=expires_at_ms,
        revoked=revoked,
    ).SerializeToString()
    message = pb.Grant(
        body=body, signature=sign(owner_key, GRANT_DOMAIN, body), owner_public_key=public_key_field(owner_key)
    )
    return grant_from_pb(message, limits)
