"""Deterministic keys and entries for the store tests (ed25519 signatures are deterministic)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import PrivateKey

from registry_p2p.adapter.keys import make_verifier
from registry_p2p.core.build import (
    countersign,
    make_grant,
    make_issuer_part,
    make_record,
    make_resource,
    make_tombstone,
    renew,
)
from registry_p2p.core.limits import DEFAULT_LIMITS, Limits
from registry_p2p.core.model import POLICY_OWNER_APPROVED, SignedGrant, SignedRecord, SignedResource, SignedTombstone
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.store import Store

NOW = 1_700_000_000_000
LOCAL = 0  # key index of the node that owns the store under test

# One verifier for the whole suite: every test signs the same deterministic entries, so most
# verifications after the first are cache hits, which keeps the suite fast.
VERIFIER = make_verifier()

StoreFactory = Callable[..., Store]


@functools.cache
def key(i: int) -> PrivateKey:
    return create_new_key_pair(bytes([i + 1]) * 32).private_key


@functools.cache
def pid(i: int) -> bytes:
    return peer_id_bytes_of(key(i))


@functools.cache
def resource(owner: int = 1, label: str = "echo", at: int = NOW) -> SignedResource:
    return make_resource(key(owner), label, at)


def record(
    issuer: int,
    service_id: str = "svc",
    *,
    res: SignedResource | None = None,
    value: bytes = b"value",
    at: int = NOW,
    signed_at: int | None = None,
    ttl_s: int | None = None,
    addrs: Sequence[bytes] = (),
    host: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> SignedRecord:
    """A record issued at `at`; hosted by `host` (default: the issuer) and host-signed at `signed_at`."""
    rid = (res or resource()).id
    if host is None or host == issuer:
        rec = make_record(key(issuer), rid, service_id, value, at, ttl_s=ttl_s, addrs=addrs, limits=limits)
        host_key = key(issuer)
    else:
        part = make_issuer_part(key(issuer), rid, pid(host), service_id, value, at, ttl_s=ttl_s, limits=limits)
        rec = countersign(key(host), part.to_request(), at, addrs, limits)
        host_key = key(host)
    if signed_at is not None and signed_at != at:
        rec = renew(host_key, rec, signed_at, limits=limits)
    return rec


def tombstone(
    issuer: int,
    service_id: str = "svc",
    *,
    res: SignedResource | None = None,
    at: int = NOW,
    host: int | None = None,
) -> SignedTombstone:
    rid = (res or resource()).id
    return make_tombstone(key(issuer), rid, pid(issuer if host is None else host), service_id, at)


# Used by the crash test's child process and by the parent that checks what survived.
def crash_batch(n: int, size: int = 20) -> list[SignedRecord]:
    return [record(2 + (i % 5), f"crash-{n}-{i}", at=NOW) for i in range(size)]


@functools.cache
def approved_resource(owner: int = 1, label: str = "fleet", at: int = NOW) -> SignedResource:
    """An owner-approved resource: only the owner and its grantees may write records."""
    return make_resource(key(owner), label, at, policy=POLICY_OWNER_APPROVED)


def grant(
    grantee: int,
    *,
    res: SignedResource | None = None,
    at: int = NOW,
    prefix: str = "",
    expires_at: int = 0,
    revoked: bool = False,
    signer: int = 1,
) -> SignedGrant:
    """A grant (or revocation) for `grantee`, signed by key `signer` (the owner by default)."""
    rid = (res or approved_resource()).id
    return make_grant(
        key(signer), rid, pid(grantee), at, service_prefix=prefix, expires_at_ms=expires_at, revoked=revoked
    )
