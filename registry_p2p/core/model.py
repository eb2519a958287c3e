"""Decoded, signed entries: resources, records, tombstones and grants, and their wire encoding.

Each type keeps the exact bytes it was signed over (`*_body`) next to the decoded fields, so
verification always runs over what was carried, and re-publishing forwards the same bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TypeAlias, TypeVar

from google.protobuf.message import DecodeError, Message

from registry_p2p.core.errors import RegistryError, Status, malformed
from registry_p2p.core.health import HEALTH_CRITICAL as HEALTH_CRITICAL  # HostBody.health
from registry_p2p.core.health import HEALTH_NAMES as HEALTH_NAMES
from registry_p2p.core.health import HEALTH_PASSING as HEALTH_PASSING
from registry_p2p.core.ids import b58, check_peer_id, check_resource_id, inlined_public_key, resource_id_bytes
from registry_p2p.core.limits import Limits
from registry_p2p.pb import registry_pb2 as pb

# (resource_id, issuer, host, service_id)
Identity: TypeAlias = tuple[bytes, bytes, bytes, str]


# The largest encoded resource: label, owner, signature and an optional (RSA) public key.
MAX_RESOURCE_BYTES = 4096


M = TypeVar("M", bound=Message)

# Who may write records in a resource (protocols/registry.proto, WritePolicy).
POLICY_OPEN = "open"
POLICY_OWNER_APPROVED = "owner-approved"
POLICIES = (POLICY_OPEN, POLICY_OWNER_APPROVED)
_POLICY_OF_PB = {pb.WRITE_POLICY_OPEN: POLICY_OPEN, pb.WRITE_POLICY_OWNER_APPROVED: POLICY_OWNER_APPROVED}
POLICY_PB = {name: number for number, name in _POLICY_OF_PB.items()}
# A grant without expiry (and a revocation of one) is stored this long: as long as its resource.
NEVER_MS = 2**62


def precedence_prefix(issued_at_ms: int, is_tombstone: bool, host_signed_at_ms: int) -> tuple[int, int, int]:
    """The leading part of every precedence key (DESIGN §2): newer issue first, then a tombstone
    over a record issued at the same instant, then the newer host signature (0 for a tombstone).
    A store compares it from its columns without decoding the stored entry."""
    return (issued_at_ms, int(is_tombstone), host_signed_at_ms)


def policy_of_body(body: bytes) -> str:
    """The write policy of a stored (already validated) resource body."""
    return _POLICY_OF_PB.get(pb.ResourceBody.FromString(body).write_policy, POLICY_OPEN)


def _parse(message_type: type[M], data: bytes, what: str) -> M:
    try:
        return message_type.FromString(data)
    except (DecodeError, ValueError, TypeError, RuntimeError) as exc:
        raise malformed(f"{what} does not decode: {exc}") from exc


@dataclass(frozen=True, slots=True)
class SignedResource:
    id: bytes
    label: str
    owner: bytes
    created_at_ms: int
    body: bytes
    signature: bytes
    owner_public_key: bytes = b""
    policy: str = POLICY_OPEN

    @property
    def owner_approved(self) -> bool:
        return self.policy == POLICY_OWNER_APPROVED

    def to_pb(self) -> pb.Resource:
        return pb.Resource(body=self.body, signature=self.signature, owner_public_key=self.owner_public_key)

    def encode(self) -> bytes:
        return self.to_pb().SerializeToString()

    @property
    def dht_key(self) -> str:
        return f"/reg/{b58(self.id)}"


@dataclass(frozen=True, slots=True)
class SignedRecord:
    resource_id: bytes
    issuer: bytes
    host: bytes
    service_id: str
    value: bytes
    issued_at_ms: int
    ttl_s: int
    host_signed_at_ms: int
    addrs: tuple[bytes, ...]
    issuer_body: bytes
    issuer_signature: bytes
    host_body: bytes
    host_signature: bytes
    issuer_public_key: bytes = b""
    host_public_key: bytes = b""
    issuer_body_sha256: bytes = field(default=b"", compare=False)
    health: int = HEALTH_PASSING  # host-signed (HostBody.health)

    is_tombstone = False

    @property
    def passing(self) -> bool:
        return self.health == HEALTH_PASSING

    @property
    def identity(self) -> Identity:
        return (self.resource_id, self.issuer, self.host, self.service_id)

    @property
    def expires_at_ms(self) -> int:
        return self.host_signed_at_ms + self.ttl_s * 1000

    @property
    def self_hosted(self) -> bool:
        return self.issuer == self.host

    @property
    def precedence_key(self) -> tuple[int, int, int, bytes, bytes]:
        prefix = precedence_prefix(self.issued_at_ms, False, self.host_signed_at_ms)
        return (*prefix, self.host_signature, self.issuer_signature)

    @property
    def version(self) -> bytes:
        """Encoding-independent fingerprint of this exact signed entry."""
        return hashlib.sha256(b"r" + self.host_signature + b"\x00" + self.issuer_signature).digest()[:16]

    def to_pb(self) -> pb.Record:
        return pb.Record(
            issuer_body=self.issuer_body,
            issuer_signature=self.issuer_signature,
            host_body=self.host_body,
            host_signature=self.host_signature,
            issuer_public_key=self.issuer_public_key,
            host_public_key=self.host_public_key,
        )

    def to_entry_pb(self) -> pb.Entry:
        return pb.Entry(record=self.to_pb())

    def encode(self) -> bytes:
        return self.to_entry_pb().SerializeToString()


@dataclass(frozen=True, slots=True)
class SignedTombstone:
    resource_id: bytes
    issuer: bytes
    host: bytes
    service_id: str
    issued_at_ms: int
    body: bytes
    signature: bytes
    issuer_public_key: bytes = b""

    is_tombstone = True

    @property
    def identity(self) -> Identity:
        return (self.resource_id, self.issuer, self.host, self.service_id)

    @property
    def precedence_key(self) -> tuple[int, int, int, bytes, bytes]:
        return (*precedence_prefix(self.issued_at_ms, True, 0), self.signature, b"")

    @property
    def version(self) -> bytes:
        return hashlib.sha256(b"t" + self.signature).digest()[:16]

    def to_pb(self) -> pb.Tombstone:
        return pb.Tombstone(body=self.body, signature=self.signature, issuer_public_key=self.issuer_public_key)

    def to_entry_pb(self) -> pb.Entry:
        return pb.Entry(tombstone=self.to_pb())

    def encode(self) -> bytes:
        return self.to_entry_pb().SerializeToString()


@dataclass(frozen=True, slots=True)
class SignedGrant:
    """The owner's permission for `grantee` to write in a resource, or (`revoked`) its withdrawal.

    Its identity (resource_id, grantee, b"", "") has an empty host, which no record or tombstone
    has (their host is a peer id): grants and records never share an identity. For code that
    treats entries alike, `issuer` is the grantee, `host` b"" and `service_id` "".
    """

    resource_id: bytes
    grantee: bytes
    service_prefix: str
    issued_at_ms: int
    expires_at_ms: int  # 0 = no expiry
    revoked: bool
    body: bytes
    signature: bytes
    owner_public_key: bytes = b""

    is_tombstone = False
    is_grant = True
    host = b""
    service_id = ""

    @property
    def issuer(self) -> bytes:
        return self.grantee

    @property
    def identity(self) -> Identity:
        return (self.resource_id, self.grantee, b"", "")

    @property
    def precedence_key(self) -> tuple[int, int, int, bytes, bytes]:
        # The one precedence rule: newer issue first; a revocation over a grant of the same instant.
        return (*precedence_prefix(self.issued_at_ms, self.revoked, 0), self.signature, b"")

    @property
    def version(self) -> bytes:
        return hashlib.sha256(b"g" + self.signature).digest()[:16]

    @property
    def stored_until_ms(self) -> int:
        """How long a replica keeps it: its expiry, or as long as the resource when it has none."""
        return self.expires_at_ms or NEVER_MS

    def to_pb(self) -> pb.Grant:
        return pb.Grant(body=self.body, signature=self.signature, owner_public_key=self.owner_public_key)

    def to_entry_pb(self) -> pb.Entry:
        return pb.Entry(grant=self.to_pb())

    def encode(self) -> bytes:
        return self.to_entry_pb().SerializeToString()


Entry: TypeAlias = SignedRecord | SignedTombstone | SignedGrant


def identity_digest(identity: Identity) -> bytes:
    rid, issuer, host, service_id = identity
    h = hashlib.sha256()
    for part in (rid, issuer, host, service_id.encode("utf-8")):
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.digest()[:16]


# ---------------------------------------------------------------- decoding


def check_key_field(signer: bytes, key: bytes, checked: bool, what: str) -> None:
    """A `*_public_key` field is unsigned: anyone relaying an entry could fill it. It may hold
    only the key a signature check needs, so that one signed content has one encoding."""
    if not key:
        return
    if not checked:
        raise malformed(f"{what} is set, but no signature of its signer is checked")
    if inlined_public_key(signer) is not None:
        raise malformed(f"{what} must be empty: the signer's peer id inlines its key")


def _require_canonical(received: Message, canonical: Message, what: str) -> None:
    """Refuse an encoding other than the one the decoded fields give (unknown fields, repeats,
    another order): otherwise a relay could re-encode signed content into a copy that wins ties."""
    if received.SerializeToString() != canonical.SerializeToString():
        raise malformed(f"{what} is not in its canonical encoding")


def _check_text(value: str, limit: int, what: str) -> None:
    if len(value.encode("utf-8")) > limit:
        raise RegistryError(Status.TOO_LARGE, f"{what} is over {limit} bytes")


def resource_from_pb(message: pb.Resource, limits: Limits) -> SignedResource:
    body = _parse(pb.ResourceBody, message.body, "resource body")
    _check_text(body.label, limits.max_label_bytes, "label")
    if not body.label:
        raise malformed("resource label is empty")
    owner = check_peer_id(body.owner)
    check_key_field(owner, message.owner_public_key, True, "owner_public_key")
    policy = _POLICY_OF_PB.get(body.write_policy)
    if policy is None:
        raise malformed(f"unknown write policy {body.write_policy}")
    resource = SignedResource(
        id=resource_id_bytes(body.label, owner),
        label=body.label,
        owner=owner,
        created_at_ms=body.created_at_ms,
        body=message.body,
        signature=message.signature,
        owner_public_key=message.owner_public_key,
        policy=policy,
    )
    canonical = resource.to_pb()
    if canonical.ByteSize() > MAX_RESOURCE_BYTES:
        raise RegistryError(Status.TOO_LARGE, f"resource is over {MAX_RESOURCE_BYTES} bytes")
    _require_canonical(message, canonical, "resource")
    return resource


def decode_resource(data: bytes, limits: Limits) -> SignedResource:
    if len(data) > MAX_RESOURCE_BYTES:
        raise RegistryError(Status.TOO_LARGE, f"resource is over {MAX_RESOURCE_BYTES} bytes")
    message = _parse(pb.Resource, data, "resource")
    return resource_from_pb(message, limits)


def record_from_pb(message: pb.Record, limits: Limits) -> SignedRecord:
    body = _parse(pb.RecordBody, message.issuer_body, "record issuer body")
    host = _parse(pb.HostBody, message.host_body, "record host body")
    if len(body.value) > limits.max_value_bytes:
        raise RegistryError(Status.TOO_LARGE, f"value is over {limits.max_value_bytes} bytes")
    _check_text(body.service_id, limits.max_service_id_bytes, "service id")
    if len(host.addrs) > limits.max_addrs:
        raise RegistryError(Status.TOO_LARGE, f"more than {limits.max_addrs} addrs")
    if any(len(a) > limits.max_addr_bytes for a in host.addrs):
        raise RegistryError(Status.TOO_LARGE, f"an addr is over {limits.max_addr_bytes} bytes")
    if body.ttl_s > limits.max_ttl_s:
        raise RegistryError(Status.TOO_LARGE, f"ttl {body.ttl_s} s is over the maximum {limits.max_ttl_s} s")
    if body.ttl_s < limits.min_ttl_s:
        raise malformed(f"ttl {body.ttl_s} s is under the minimum {limits.min_ttl_s} s")
    if host.health not in HEALTH_NAMES:
        raise malformed(f"health status {host.health} is not one of the protocol's")
    # The host body is signed, but one content still has one encoding (no unknown fields, health
    # PASSING left out), as in Go and Rust: then every peer accepts and refuses the same bytes.
    canonical_host = pb.HostBody(
        issuer_body_sha256=host.issuer_body_sha256,
        host_signed_at_ms=host.host_signed_at_ms,
        addrs=list(host.addrs),
        health=host.health,
    )
    if canonical_host.SerializeToString() != message.host_body:
        raise malformed("record host body is not in its canonical encoding")
    issuer = check_peer_id(body.issuer)
    host_id = check_peer_id(body.host)
    if issuer == host_id and message.issuer_signature:
        raise malformed("a self-hosted record carries no issuer signature (the host signature covers it)")
    check_key_field(host_id, message.host_public_key, True, "host_public_key")
    check_key_field(issuer, message.issuer_public_key, issuer != host_id, "issuer_public_key")
    record = SignedRecord(
        resource_id=check_resource_id(body.resource_id),
        issuer=issuer,
        host=host_id,
        service_id=body.service_id,
        value=body.value,
        issued_at_ms=body.issued_at_ms,
        ttl_s=body.ttl_s,
        host_signed_at_ms=host.host_signed_at_ms,
        addrs=tuple(host.addrs),
        issuer_body=message.issuer_body,
        issuer_signature=message.issuer_signature,
        host_body=message.host_body,
        host_signature=message.host_signature,
        issuer_public_key=message.issuer_public_key,
        host_public_key=message.host_public_key,
        issuer_body_sha256=host.issuer_body_sha256,
        health=host.health,
    )
    _require_canonical(message, record.to_pb(), "record")
    return record


def tombstone_from_pb(message: pb.Tombstone, limits: Limits) -> SignedTombstone:
    body = _parse(pb.TombstoneBody, message.body, "tombstone body")
    _check_text(body.service_id, limits.max_service_id_bytes, "service id")
    issuer = check_peer_id(body.issuer)
    check_key_field(issuer, message.issuer_public_key, True, "issuer_public_key")
    tombstone = SignedTombstone(
        resource_id=check_resource_id(body.resource_id),
        issuer=issuer,
        host=check_peer_id(body.host),
        service_id=body.service_id,
        issued_at_ms=body.issued_at_ms,
        body=message.body,
        signature=message.signature,
        issuer_public_key=message.issuer_public_key,
    )
    _require_canonical(message, tombstone.to_pb(), "tombstone")
    return tombstone


def grant_from_pb(message: pb.Grant, limits: Limits) -> SignedGrant:
    """Decode a grant. Its signer is the resource's owner, which the grant does not name: the
    signature is checked against a resource (`validate.validate_grant`)."""
    body = _parse(pb.GrantBody, message.body, "grant body")
    _check_text(body.service_prefix, limits.max_service_id_bytes, "service prefix")
    # The owner's key may be carried: whose it must be is known with the resource (validate_grant).
    grant = SignedGrant(
        resource_id=check_resource_id(body.resource_id),
        grantee=check_peer_id(body.grantee),
        service_prefix=body.service_prefix,
        issued_at_ms=body.issued_at_ms,
        expires_at_ms=body.expires_at_ms,
        revoked=body.revoked,
        body=message.body,
        signature=message.signature,
        owner_public_key=message.owner_public_key,
    )
    _require_canonical(message, grant.to_pb(), "grant")
    return grant


def entry_from_pb(message: pb.Entry, limits: Limits) -> Entry:
    kind = message.WhichOneof("kind")
    if kind == "record":
        return record_from_pb(message.record, limits)
    if kind == "tombstone":
        return tombstone_from_pb(message.tombstone, limits)
    if kind == "grant":
        return grant_from_pb(message.grant, limits)
    raise malformed("entry is neither a record, a tombstone nor a grant")


def decode_entry(data: bytes, limits: Limits) -> Entry:
    """Bytes → entry, raising only RegistryError (MALFORMED or TOO_LARGE)."""
    if len(data) > limits.max_message_bytes:
        raise RegistryError(Status.TOO_LARGE, f"entry is over {limits.max_message_bytes} bytes")
    message = _parse(pb.Entry, data, "entry")
    try:
        entry = entry_from_pb(message, limits)
    except RegistryError:
        raise
    except Exception as exc:  # any decoding surprise is the sender's fault, never ours
        raise malformed(f"entry does not decode: {exc}") from exc
    if entry.encode() != data:
        raise malformed("entry is not in its canonical encoding")
    return entry


@dataclass(frozen=True, slots=True)
class RecordPeek:
    """What an encoded record says it is, read without validating it (`peek_record`)."""

    ident: bytes  # identity_digest of its identity
    resource_id: bytes
    issuer: bytes
    host: bytes


def peek_record(data: bytes, limits: Limits) -> RecordPeek | None:
    """The identity of an encoded record entry from two parses, with none of `decode_entry`'s
    checks: None for a tombstone, a grant, or anything that does not parse. A store may refuse
    on it what it would refuse for that identity whatever the rest held (a newcomer to a full
    resource): a parse costs ~10 us, a decode with its checks ~90 (attack 1 of issue 11).
    Anything it admits is decoded and checked in full first."""
    if len(data) > limits.max_message_bytes:
        return None
    try:
        message = pb.Entry.FromString(data)
        if message.WhichOneof("kind") != "record":
            return None
        body = pb.RecordBody.FromString(message.record.issuer_body)
        identity = (bytes(body.resource_id), bytes(body.issuer), bytes(body.host), body.service_id)
    except (DecodeError, ValueError, TypeError, RuntimeError):
        return None
    return RecordPeek(identity_digest(identity), *identity[:3])
