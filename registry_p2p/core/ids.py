"""Resource ids, peer ids and their text forms. Pure functions."""

from __future__ import annotations

import functools
import hashlib

import base58

from registry_p2p.core.errors import malformed

RESOURCE_ID_DOMAIN = b"registry-p2p/resource/v1"
RESOURCE_ID_BYTES = 32
_IDENTITY_MULTIHASH = 0x00
_SHA2_256_MULTIHASH = 0x12
_MAX_IDENTITY_PEER_ID = 128


def uvarint(n: int) -> bytes:
    """Unsigned LEB128, as in protobuf and multiformats."""
    if n < 0:
        raise ValueError("uvarint of a negative number")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_uvarint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """Return (value, next position); raise MALFORMED when truncated or over 63 bits."""
    value = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise malformed("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise malformed("varint too long")


def resource_id_bytes(label: str, owner: bytes) -> bytes:
    """sha256(domain ‖ uvarint(len label) ‖ label ‖ uvarint(len owner) ‖ owner): unambiguous."""
    label_bytes = label.encode("utf-8")
    h = hashlib.sha256(RESOURCE_ID_DOMAIN)
    h.update(uvarint(len(label_bytes)))
    h.update(label_bytes)
    h.update(uvarint(len(owner)))
    h.update(owner)
    return h.digest()


def resource_id(label: str, owner: str | bytes) -> str:
    """The base58 resource id of `label` owned by `owner` (a base58 peer id or its bytes)."""
    owner_bytes = peer_id_from_text(owner) if isinstance(owner, str) else check_peer_id(owner)
    return b58(resource_id_bytes(label, owner_bytes))


def b58(data: bytes) -> str:
    return _b58(bytes(data))


@functools.lru_cache(maxsize=16384)
def _b58(data: bytes) -> str:
    # The same few thousand peer and resource ids are rendered over and over (every record of
    # every resolve names its issuer, host and resource), and base58 is pure Python: ~20 us each.
    return str(base58.b58encode(data).decode("ascii"))


def resource_id_from_text(text: str) -> bytes:
    """Parse a base58 resource id; MALFORMED unless it is exactly 32 bytes."""
    try:
        raw = bytes(base58.b58decode(text.strip()))
    except ValueError as exc:
        raise malformed(f"resource id {text!r} is not base58") from exc
    if len(raw) != RESOURCE_ID_BYTES:
        raise malformed(f"resource id {text!r} is {len(raw)} bytes, not {RESOURCE_ID_BYTES}")
    return raw


def check_resource_id(raw: bytes) -> bytes:
    if len(raw) != RESOURCE_ID_BYTES:
        raise malformed(f"resource id is {len(raw)} bytes, not {RESOURCE_ID_BYTES}")
    return raw


def check_peer_id(raw: bytes) -> bytes:
    """Accept a binary peer id: an identity multihash (inlined key) or a sha2-256 multihash."""
    code, pos = read_uvarint(raw)
    length, pos = read_uvarint(raw, pos)
    if len(raw) - pos != length:
        raise malformed("peer id multihash length mismatch")
    if code == _SHA2_256_MULTIHASH and length == 32:
        return raw
    if code == _IDENTITY_MULTIHASH and 0 < length <= _MAX_IDENTITY_PEER_ID:
        return raw
    raise malformed("peer id is not an identity or sha2-256 multihash")


def peer_id_from_text(text: str) -> bytes:
    try:
        raw = bytes(base58.b58decode(text.strip()))
    except ValueError as exc:
        raise malformed(f"peer id {text!r} is not base58") from exc
    try:
        return check_peer_id(raw)
    except Exception as exc:
        raise malformed(f"{text!r} is not a peer id") from exc


def inlined_public_key(peer_id: bytes) -> bytes | None:
    """The libp2p PublicKey protobuf inlined in an identity-multihash peer id, if any."""
    code, pos = read_uvarint(peer_id)
    length, pos = read_uvarint(peer_id, pos)
    if code == _IDENTITY_MULTIHASH:
        return peer_id[pos : pos + length]
    return None


def peer_id_of_public_key(public_key_pb: bytes) -> bytes:
    """The peer id libp2p derives from a serialized PublicKey (inline when ≤ 42 bytes)."""
    if len(public_key_pb) <= 42:
        return uvarint(_IDENTITY_MULTIHASH) + uvarint(len(public_key_pb)) + public_key_pb
    digest = hashlib.sha256(public_key_pb).digest()
    return uvarint(_SHA2_256_MULTIHASH) + uvarint(len(digest)) + digest
