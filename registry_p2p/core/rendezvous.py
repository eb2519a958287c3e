"""`/rendezvous/1.0.0` (libp2p/specs rendezvous r1), sans-IO: parsing, validation, cookies, pages.

A namespace is a registry resource with no owner of its own (DESIGN §11): its label is the
namespace and its owner is one well-known ed25519 key whose private half anyone can derive
(`OWNER_KEY_SEED`). A registration is a self-hosted record of that key in that resource whose
`service_id` is the registering peer's id (base58) and whose `value` is the client's signed peer
record envelope, byte for byte. Since anyone can sign with the well-known key, what makes such a
record genuine is its value: `check_registration_record` (run by `core.validate` on every path,
store, gossip and reads) requires a valid `libp2p-peer-record` envelope of the peer it names.

Nothing here does I/O or reads a clock: the stream handler (`net/rendezvous.py`) and the
registry side (`registry/rendezvous.py`) drive it.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import zlib
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from google.protobuf.message import DecodeError

from registry_p2p.core.errors import RegistryError
from registry_p2p.core.ids import b58, peer_id_of_public_key, resource_id_bytes, uvarint
from registry_p2p.pb import rendezvous_pb2 as rpb

if TYPE_CHECKING:
    from registry_p2p.core.model import SignedRecord
    from registry_p2p.core.signing import SignatureChecker

PROTOCOL_ID = "/rendezvous/1.0.0"

# The spec's recommendations (README "Recommendations for Rendezvous Points configurations").
DEFAULT_TTL_S = 2 * 3600
MIN_TTL_S = 2 * 3600
MAX_TTL_S = 72 * 3600
MAX_NAMESPACE_BYTES = 255
MAX_REGISTRATIONS_PER_PEER = 1000
MAX_DISCOVER_LIMIT = 1000

ENVELOPE_DOMAIN = b"libp2p-peer-record"
PEER_RECORD_PAYLOAD_TYPE = b"\x03\x01"
# rust-libp2p's rendezvous crate (0.18, in libp2p 0.57) signs and reads peer records only in its
# older encoding: the same PeerRecord protobuf under another domain and payload type. A server
# that refused it would refuse every unmodified Rust client, so both are accepted.
LEGACY_ENVELOPE_DOMAIN = b"libp2p-routing-state"
LEGACY_PAYLOAD_TYPE = b"/libp2p/routing-state-record"
ENVELOPE_ENCODINGS = {PEER_RECORD_PAYLOAD_TYPE: ENVELOPE_DOMAIN, LEGACY_PAYLOAD_TYPE: LEGACY_ENVELOPE_DOMAIN}

# The well-known owner (and issuer and host) of every namespace resource. Its private key is
# ed25519 with this 32-byte seed; `adapter/keys.rendezvous_key()` builds it and a test checks
# that its peer id is `OWNER`.
OWNER_KEY_SEED = hashlib.sha256(b"registry-p2p/rendezvous/v1 well-known key").digest()
OWNER = bytes.fromhex("002408011220aafe9bbcc4edf486fd50a378cc14ea729c793588f6b2cb1c9399eaec75dd6942")
# Every node builds the same resource bytes for a namespace (ed25519 signatures are deterministic).
RESOURCE_CREATED_AT_MS = 0

_COOKIE_HEAD = 8
_TAG_BITS = 16
_POSITION_BITS = 64 - _TAG_BITS
_TIME_BITS = 42  # ms since 1970 fit in 42 bits until the year 2109
_HASH_BITS = _POSITION_BITS - _TIME_BITS


class Code(enum.IntEnum):
    """The spec's ResponseStatus values."""

    OK = rpb.Message.OK
    E_INVALID_NAMESPACE = rpb.Message.E_INVALID_NAMESPACE
    E_INVALID_SIGNED_PEER_RECORD = rpb.Message.E_INVALID_SIGNED_PEER_RECORD
    E_INVALID_TTL = rpb.Message.E_INVALID_TTL
    E_INVALID_COOKIE = rpb.Message.E_INVALID_COOKIE
    E_NOT_AUTHORIZED = rpb.Message.E_NOT_AUTHORIZED
    E_INTERNAL_ERROR = rpb.Message.E_INTERNAL_ERROR
    E_UNAVAILABLE = rpb.Message.E_UNAVAILABLE


class RendezvousError(Exception):
    """A refusal with the spec's status."""

    def __init__(self, code: Code, text: str) -> None:
        super().__init__(f"{code.name}: {text}")
        self.code = code
        self.text = text


class BadMessage(Exception):
    """Not a rendezvous message a server can answer (undecodable, no type, a response type)."""


# ---------------------------------------------------------------- namespaces and envelopes


def check_namespace(ns: str, *, allow_empty: bool = False) -> None:
    if not ns and not allow_empty:
        raise RendezvousError(Code.E_INVALID_NAMESPACE, "namespace is empty")
    if len(ns.encode("utf-8")) > MAX_NAMESPACE_BYTES:
        raise RendezvousError(Code.E_INVALID_NAMESPACE, f"namespace is over {MAX_NAMESPACE_BYTES} bytes")


def namespace_resource_id(ns: str) -> bytes:
    """The registry resource of a namespace: label = the namespace, owner = `OWNER`."""
    return resource_id_bytes(ns, OWNER)


def service_id_of(peer_id: bytes) -> str:
    """A registration's service_id: the registering peer's id as base58 (at most 128 bytes)."""
    return b58(peer_id)


@dataclass(frozen=True, slots=True)
class SignedPeerRecord:
    peer_id: bytes
    seq: int
    addrs: tuple[bytes, ...]


def envelope_signed_bytes(payload_type: bytes, payload: bytes) -> bytes:
    """What an envelope's signature covers (RFC 0002): each field length-prefixed, the domain
    being the one of its payload type."""
    domain = ENVELOPE_ENCODINGS[payload_type]
    return b"".join(uvarint(len(part)) + part for part in (domain, payload_type, payload))


def open_envelope(data: bytes, verifier: SignatureChecker) -> SignedPeerRecord:
    """Check a signed peer record envelope (the spec's encoding or rust-libp2p's older one);
    raise E_INVALID_SIGNED_PEER_RECORD on any flaw."""
    try:
        envelope = rpb.Envelope.FromString(data)
        if envelope.payload_type not in ENVELOPE_ENCODINGS:
            raise RendezvousError(Code.E_INVALID_SIGNED_PEER_RECORD, "envelope payload is not a peer record")
        if not envelope.public_key or not envelope.signature:
            raise RendezvousError(Code.E_INVALID_SIGNED_PEER_RECORD, "envelope has no key or no signature")
        signer = peer_id_of_public_key(envelope.public_key)
        record = rpb.PeerRecord.FromString(envelope.payload)
    except (DecodeError, ValueError, RuntimeError, RegistryError) as exc:
        raise RendezvousError(Code.E_INVALID_SIGNED_PEER_RECORD, f"undecodable envelope: {exc}") from exc
    if record.peer_id != signer:
        raise RendezvousError(Code.E_INVALID_SIGNED_PEER_RECORD, "peer record names another peer than its signer")
    try:
        verifier.verify(
            signer, b"", envelope_signed_bytes(envelope.payload_type, envelope.payload), envelope.signature,
            envelope.public_key,
        )  # fmt: skip
    except RegistryError as exc:
        raise RendezvousError(Code.E_INVALID_SIGNED_PEER_RECORD, "bad envelope signature") from exc
    return SignedPeerRecord(record.peer_id, record.seq, tuple(a.multiaddr for a in record.addresses))


def check_registration_record(record: SignedRecord, verifier: SignatureChecker) -> None:
    """A record of the well-known key is a registration only with the envelope of the peer it names.

    Raises RegistryError(INVALID_SIGNATURE) otherwise: anyone can sign with the well-known key,
    nobody but the peer itself can sign its envelope.
    """
    from registry_p2p.core.errors import Status

    if record.issuer != OWNER:
        return
    if record.host != OWNER:
        raise RegistryError(Status.NOT_AUTHORIZED, "a rendezvous registration is hosted by the namespace key")
    try:
        signed = open_envelope(record.value, verifier)
    except RendezvousError as exc:
        raise RegistryError(Status.INVALID_SIGNATURE, f"rendezvous registration: {exc.text}") from exc
    if service_id_of(signed.peer_id) != record.service_id:
        raise RegistryError(Status.INVALID_SIGNATURE, "rendezvous registration names another peer than its envelope")


# ---------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class Registration:
    ns: str
    peer_id: bytes
    envelope: bytes
    ttl_s: int


@dataclass(frozen=True, slots=True)
class Unregistration:
    ns: str
    peer_id: bytes


@dataclass(frozen=True, slots=True)
class Discovery:
    ns: str  # "" = every namespace
    limit: int
    cookie: bytes  # b"" = from the start


Request = Registration | Unregistration | Discovery | RendezvousError


def granted_ttl(ttl: int | None) -> int:
    if ttl is None:
        return DEFAULT_TTL_S
    if not MIN_TTL_S <= ttl <= MAX_TTL_S:
        raise RendezvousError(Code.E_INVALID_TTL, f"ttl {ttl} s is outside {MIN_TTL_S}-{MAX_TTL_S} s")
    return ttl


def decode_request(frame: bytes) -> rpb.Message:
    try:
        message = rpb.Message.FromString(frame)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise BadMessage(f"not a rendezvous Message: {exc}") from exc
    if not message.HasField("type"):
        raise BadMessage("message has no type")
    if message.type not in (rpb.Message.REGISTER, rpb.Message.UNREGISTER, rpb.Message.DISCOVER):
        raise BadMessage(f"a server does not take message type {message.type}")
    return message


def parse_request(message: rpb.Message, remote_peer: bytes, verifier: SignatureChecker) -> Request:
    """A request checked against the spec's rules, or the refusal to answer it with.

    `remote_peer` is the authenticated peer at the other end of the connection: a peer may
    register (and unregister) only itself.
    """
    try:
        if message.type == rpb.Message.REGISTER:
            reg = message.register
            check_namespace(reg.ns)
            ttl = granted_ttl(reg.ttl if reg.HasField("ttl") else None)
            signed = open_envelope(reg.signedPeerRecord, verifier)
            if signed.peer_id != remote_peer:
                raise RendezvousError(Code.E_NOT_AUTHORIZED, "a peer may register only itself")
            return Registration(reg.ns, signed.peer_id, reg.signedPeerRecord, ttl)
        if message.type == rpb.Message.UNREGISTER:
            check_namespace(message.unregister.ns)
            return Unregistration(message.unregister.ns, remote_peer)
        disc = message.discover
        check_namespace(disc.ns, allow_empty=True)
        limit = disc.limit if disc.HasField("limit") and disc.limit > 0 else MAX_DISCOVER_LIMIT
        return Discovery(disc.ns, min(limit, MAX_DISCOVER_LIMIT), disc.cookie)
    except RendezvousError as err:
        return err


# ---------------------------------------------------------------- responses (every field set)


def register_response(code: Code, text: str = "", ttl_s: int = 0) -> rpb.Message:
    return rpb.Message(
        type=rpb.Message.REGISTER_RESPONSE,
        registerResponse=rpb.Message.RegisterResponse(status=code.name, statusText=text, ttl=ttl_s),
    )


@dataclass(frozen=True, slots=True)
class Found:
    """One registration as DISCOVER returns it, with its place in the namespace's order."""

    ns: str
    envelope: bytes
    expires_at_ms: int
    position: int


def discover_response(
    code: Code, text: str = "", found: Sequence[Found] = (), cookie: bytes = b"", now_ms: int = 0
) -> rpb.Message:
    message = rpb.Message(type=rpb.Message.DISCOVER_RESPONSE)
    response = message.discoverResponse
    response.cookie = cookie
    response.status = code.name  # type: ignore[assignment]  # the enum's name, as every decoder takes it
    response.statusText = text
    # Built in place: a Register constructed apart and then copied into the list cost 2.5x as much
    # (1,000 registrations: 3.4 ms against 1.3).
    add = response.registrations.add
    for f in found:
        registration = add()
        registration.ns = f.ns
        registration.signedPeerRecord = f.envelope
        registration.ttl = max(1, (f.expires_at_ms - now_ms) // 1000)
    return message


# ---------------------------------------------------------------- order, pages and cookies


def position_of(issued_at_ms: int, ns: str, peer_id: bytes) -> int:
    """A registration's place in DISCOVER order: its issue time, then a hash of who and where.

    Issue times are signed and the same on every replica, so every node orders a namespace the
    same way, and a registration made after a cookie was issued sorts after it (polling).
    """
    tiebreak = zlib.crc32(peer_id, zlib.crc32(ns.encode("utf-8"))) >> (32 - _HASH_BITS)
    return (min(issued_at_ms, (1 << _TIME_BITS) - 1) << _HASH_BITS) | tiebreak


class Cookies:
    """Opaque, stateless cookies: 8 bytes (a position, an HMAC tag) then the namespace.

    The layout fits rust-libp2p's client, which reads a cookie as 8 bytes followed by the UTF-8
    namespace. The 16-bit tag (HMAC-SHA256 under a node-local key, over namespace and position)
    binds it to its namespace and this node; a cookie of another namespace, another node or made
    up is refused with E_INVALID_COOKIE. A forged one that passes (1 in 65,536) only moves a page
    boundary over registrations anyone may list.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a cookie key needs at least 16 bytes")
        self._key = key

    def _tag(self, ns: str, position: int) -> int:
        mac = hmac.new(self._key, uvarint(position) + ns.encode("utf-8"), hashlib.sha256).digest()
        return int.from_bytes(mac[:2], "big")

    def make(self, ns: str, position: int) -> bytes:
        head = (position << _TAG_BITS) | self._tag(ns, position)
        return head.to_bytes(_COOKIE_HEAD, "big") + ns.encode("utf-8")

    def read(self, ns: str, cookie: bytes) -> int | None:
        """The position a cookie stands for (None for no cookie); E_INVALID_COOKIE when foreign."""
        if not cookie:
            return None
        if len(cookie) < _COOKIE_HEAD or cookie[_COOKIE_HEAD:] != ns.encode("utf-8"):
            raise RendezvousError(Code.E_INVALID_COOKIE, "cookie is not one of this namespace")
        head = int.from_bytes(cookie[:_COOKIE_HEAD], "big")
        position = head >> _TAG_BITS
        if not hmac.compare_digest(
            (head & ((1 << _TAG_BITS) - 1)).to_bytes(2, "big"), self._tag(ns, position).to_bytes(2, "big")
        ):
            raise RendezvousError(Code.E_INVALID_COOKIE, "cookie was not issued by this node")
        return position


T = TypeVar("T", bound=Found)


def by_position(found: Found) -> int:
    return found.position


def page(found: Sequence[T], after: int | None, limit: int, *, in_order: bool = False) -> tuple[list[T], int | None]:
    """The next page after `after`, and the position its cookie carries. `in_order`: `found` is
    already sorted by position (what a node keeps of a namespace), so it is not sorted again.

    Registrations sharing a position are never split across pages (a cookie holds a position,
    not an item): a page stops before such a group, or takes it whole when it starts the page.
    """
    if in_order:
        start = 0 if after is None else bisect_right(found, after, key=by_position)
        ordered = list(found[start:])
    else:
        ordered = sorted((f for f in found if after is None or f.position > after), key=by_position)
    if len(ordered) <= limit:
        return ordered, ordered[-1].position if ordered else after
    cut = limit
    while cut > 0 and ordered[cut].position == ordered[cut - 1].position:
        cut -= 1
    if cut == 0:
        cut = limit
        while cut < len(ordered) and ordered[cut].position == ordered[cut - 1].position:
            cut += 1
    chosen = ordered[:cut]
    return chosen, chosen[-1].position
