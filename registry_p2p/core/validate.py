"""Validation of decoded entries against `now`, the limits and the signatures. Pure."""

from __future__ import annotations

import hashlib

from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.limits import Limits
from registry_p2p.core.model import (
    Entry,
    SignedGrant,
    SignedRecord,
    SignedResource,
    SignedTombstone,
    check_key_field,
    decode_entry,
    decode_resource,
)
from registry_p2p.core.rendezvous import check_registration_record
from registry_p2p.core.signing import (
    GRANT_DOMAIN,
    HOST_DOMAIN,
    RECORD_DOMAIN,
    RESOURCE_DOMAIN,
    TOMBSTONE_DOMAIN,
    SignatureChecker,
)


def _not_future(timestamp_ms: int, now_ms: int, limits: Limits, what: str) -> None:
    if timestamp_ms > now_ms + limits.max_clock_skew_ms:
        raise RegistryError(
            Status.FROM_FUTURE,
            f"{what} is {(timestamp_ms - now_ms) / 1000:.1f} s in the future (skew allowed: "
            f"{limits.max_clock_skew_ms / 1000:.0f} s)",
        )


def validate_resource(resource: SignedResource, now_ms: int, limits: Limits, verifier: SignatureChecker) -> None:
    _not_future(resource.created_at_ms, now_ms, limits, "resource created_at")
    verifier.verify(resource.owner, RESOURCE_DOMAIN, resource.body, resource.signature, resource.owner_public_key)


def validate_record(record: SignedRecord, now_ms: int, limits: Limits, verifier: SignatureChecker) -> None:
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


def validate_tombstone(tombstone: SignedTombstone, now_ms: int, limits: Limits, verifier: SignatureChecker) -> None:
    _not_future(tombstone.issued_at_ms, now_ms, limits, "tombstone issued_at")
    if tombstone.issued_at_ms + limits.tombstone_lifetime_ms <= now_ms:
        raise RegistryError(Status.EXPIRED, "tombstone is past its lifetime")
    verifier.verify(
        tombstone.issuer, TOMBSTONE_DOMAIN, tombstone.body, tombstone.signature, tombstone.issuer_public_key
    )


def validate_grant(
    grant: SignedGrant, resource: SignedResource, now_ms: int, limits: Limits, verifier: SignatureChecker
) -> None:
    """Raise RegistryError unless `grant` is a live grant (or revocation) signed by `resource`'s owner.

    Every version of a resource has the same owner (the id binds it), so any valid copy will do.
    """
    if grant.resource_id != resource.id:
        raise RegistryError(Status.INVALID_SIGNATURE, "grant is signed for another resource")
    if grant.grantee == resource.owner:
        raise RegistryError(Status.MALFORMED, "the owner needs no grant to write in its own resource")
    _not_future(grant.issued_at_ms, now_ms, limits, "grant issued_at")
    if grant.expires_at_ms and grant.expires_at_ms <= now_ms:
        raise RegistryError(Status.EXPIRED, "revocation expired" if grant.revoked else "grant expired")
    if grant.expires_at_ms and grant.expires_at_ms <= grant.issued_at_ms:
        raise RegistryError(Status.MALFORMED, "grant expires before it is issued")
    check_key_field(resource.owner, grant.owner_public_key, True, "owner_public_key")
    try:
        verifier.verify(resource.owner, GRANT_DOMAIN, grant.body, grant.signature, grant.owner_public_key)
    except RegistryError as err:
        raise RegistryError(
            Status.INVALID_SIGNATURE, f"grant is not signed by the resource's owner ({err.text})"
        ) from err


def validate_entry(
    entry: Entry,
    now_ms: int,
    limits: Limits,
    verifier: SignatureChecker,
    resource_id: bytes | None = None,
    resource: SignedResource | None = None,
) -> None:
    """Raise RegistryError unless `entry` may be stored at `now_ms` (under `resource_id`, if given).

    A grant is signed by the resource's owner, whom only the resource names: it needs `resource`.
    """
    if resource_id is not None and entry.resource_id != resource_id:
        # The signature binds the entry to its own resource: moving it elsewhere is a forgery.
        raise RegistryError(Status.INVALID_SIGNATURE, "entry is signed for another resource")
    if isinstance(entry, SignedRecord):
        validate_record(entry, now_ms, limits, verifier)
    elif isinstance(entry, SignedTombstone):
        validate_tombstone(entry, now_ms, limits, verifier)
    else:
        if resource is None:
            raise RegistryError(Status.UNKNOWN_RESOURCE, "a grant is checked against its resource, which is unknown")
        validate_grant(entry, resource, now_ms, limits, verifier)


def is_live(entry: Entry, now_ms: int, limits: Limits) -> bool:
    """Still worth keeping: a record before its expiry, a tombstone within its lifetime, a grant
    (or revocation) before its expiry."""
    if isinstance(entry, SignedRecord):
        return entry.expires_at_ms > now_ms
    if isinstance(entry, SignedGrant):
        return entry.stored_until_ms > now_ms
    return entry.issued_at_ms + limits.tombstone_lifetime_ms > now_ms


def check_entry_bytes(
    data: bytes,
    now_ms: int,
    limits: Limits,
    verifier: SignatureChecker,
    resource_id: bytes | None = None,
    resource: SignedResource | None = None,
) -> Entry:
    """Decode and validate wire bytes; raise RegistryError (never anything else) on refusal."""
    entry = decode_entry(data, limits)
    validate_entry(entry, now_ms, limits, verifier, resource_id, resource)
    return entry


def check_resource_bytes(data: bytes, now_ms: int, limits: Limits, verifier: SignatureChecker) -> SignedResource:
    resource = decode_resource(data, limits)
    validate_resource(resource, now_ms, limits, verifier)
    return resource
