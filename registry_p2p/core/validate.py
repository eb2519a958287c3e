"""Validation of decoded entries against `now`, the limits and the signatures. Pure."""

from __future__ import annotations

import hashlib

from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.limits import Limits
from registry_p2p.core.model import Entry, SignedRecord, SignedResource, SignedTombstone, decode_entry, decode_resource
from registry_p2p.core.rendezvous import check_registration_record
from registry_p2p.core.signing import HOST_DOMAIN, RECORD_DOMAIN, RESOURCE_DOMAIN, TOMBSTONE_DOMAIN, Verifier


def _not_future(timestamp_ms: int, now_ms: int, limits: Limits, what: str) -> None:
    if timestamp_ms > now_ms + limits.max_clock_skew_ms:
        raise RegistryError(
            Status.FROM_FUTURE,
            f"{what} is {(timestamp_ms - now_ms) / 1000:.1f} s in the future (skew allowed: "
            f"{limits.max_clock_skew_ms / 1000:.0f} s)",
        )


def validate_resource(resource: SignedResource, now_ms: int, limits: Limits, verifier: Verifier) -> None:
    _not_future(resource.created_at_ms, now_ms, limits, "resource created_at")
    verifier.verify(resource.owner, RESOURCE_DOMAIN, resource.body, resource.signature, resource.owner_public_key)


def validate_record(record: SignedRecord, now_ms: int, limits: Limits, verifier: Verifier) -> None:
    _not_future(record.issued_at_ms, now_ms, limits, "record issued_at")
    _not_future(record.host_signed_at_ms, now_ms, limits, "record host_signed_at")
    if record.expires_at_ms <= now_ms:
        raise RegistryError(Status.EXPIRED, "record expired")
    if hashlib.sha256(record.issuer_body).digest() != record.issuer_body_sha256:
        raise RegistryError(Status.INVALID_SIGNATURE, "host signature does not cover this issuer body")
    verifier.verify(record.host, HOST_DOMAIN, record.host_body, record.host_signature, record.host_public_key)
    if not record.self_hosted:
        verifier.verify(
            record.issuer, RECORD_DOMAIN, record.issuer_body, record.issuer_signature, record.issuer_public_key
        )
    check_registration_record(record, verifier)


def validate_tombstone(tombstone: SignedTombstone, now_ms: int, limits: Limits, verifier: Verifier) -> None:
    _not_future(tombstone.issued_at_ms, now_ms, limits, "tombstone issued_at")
    if tombstone.issued_at_ms + limits.tombstone_lifetime_ms <= now_ms:
        raise RegistryError(Status.EXPIRED, "tombstone is past its lifetime")
    verifier.verify(
        tombstone.issuer, TOMBSTONE_DOMAIN, tombstone.body, tombstone.signature, tombstone.issuer_public_key
    )


def validate_entry(
    entry: Entry, now_ms: int, limits: Limits, verifier: Verifier, resource_id: bytes | None = None
) -> None:
    """Raise RegistryError unless `entry` may be stored at `now_ms` (under `resource_id`, if given)."""
    if resource_id is not None and entry.resource_id != resource_id:
        # The signature binds the entry to its own resource: moving it elsewhere is a forgery.
        raise RegistryError(Status.INVALID_SIGNATURE, "entry is signed for another resource")
    if isinstance(entry, SignedRecord):
        validate_record(entry, now_ms, limits, verifier)
    else:
        validate_tombstone(entry, now_ms, limits, verifier)


def is_live(entry: Entry, now_ms: int, limits: Limits) -> bool:
    """Still worth keeping: a record before its expiry, a tombstone within its lifetime."""
    if isinstance(entry, SignedRecord):
        return entry.expires_at_ms > now_ms
    return entry.issued_at_ms + limits.tombstone_lifetime_ms > now_ms


def check_entry_bytes(
    data: bytes, now_ms: int, limits: Limits, verifier: Verifier, resource_id: bytes | None = None
) -> Entry:
    """Decode and validate wire bytes; raise RegistryError (never anything else) on refusal."""
    entry = decode_entry(data, limits)
    validate_entry(entry, now_ms, limits, verifier, resource_id)
    return entry


def check_resource_bytes(data: bytes, now_ms: int, limits: Limits, verifier: Verifier) -> SignedResource:
    resource = decode_resource(data, limits)
    validate_resource(resource, now_ms, limits, verifier)
    return resource
