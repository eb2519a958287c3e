"""The one signing function and the one verifier ("sign the bytes you carry", DESIGN §2).

A signature covers `domain ‖ body`, where body is the exact serialized bytes carried on the wire.
Verification checks those received bytes; nothing is re-encoded first.

Keys are seen through two small protocols, so that core needs no crypto library: py-libp2p's
`PrivateKey` and `PublicKey` classes satisfy `SigningKey` and `PublicKey` as they are. The
decoder from a serialized libp2p PublicKey is given to the `Verifier`; py-libp2p's is wired in
by `registry_p2p.adapter.keys.make_verifier`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.ids import inlined_public_key, peer_id_of_public_key

RESOURCE_DOMAIN = b"registry-p2p/resource/v1:"
RECORD_DOMAIN = b"registry-p2p/record/v1:"
HOST_DOMAIN = b"registry-p2p/host/v1:"
TOMBSTONE_DOMAIN = b"registry-p2p/tombstone/v1:"
GRANT_DOMAIN = b"registry-p2p/grant/v1:"
DOMAINS = (RESOURCE_DOMAIN, RECORD_DOMAIN, HOST_DOMAIN, TOMBSTONE_DOMAIN, GRANT_DOMAIN)


@runtime_checkable
class PublicKey(Protocol):
    """A public key: its libp2p PublicKey protobuf serialization, and signature checking."""

    def serialize(self) -> bytes: ...

    def verify(self, data: bytes, signature: bytes) -> bool: ...


@runtime_checkable
class SigningKey(Protocol):
    """A private key that signs (py-libp2p's `PrivateKey` is one)."""

    def sign(self, data: bytes) -> bytes: ...

    def get_public_key(self) -> PublicKey: ...


class SignatureChecker(Protocol):
    """What validation asks of a verifier: `verify` raises INVALID_SIGNATURE on a bad signature."""

    def verify(self, signer: bytes, domain: bytes, body: bytes, signature: bytes, carried_key: bytes = b"") -> None: ...


PublicKeyDecoder = Callable[[bytes], PublicKey]
"""Turns a serialized libp2p PublicKey protobuf into a PublicKey; raises on an unusable one."""

VALID_CACHE_SIZE = 65536
KEY_CACHE_SIZE = 8192


def sign(private_key: SigningKey, domain: bytes, body: bytes) -> bytes:
    if domain not in DOMAINS:
        raise ValueError(f"unknown signing domain {domain!r}")
    return bytes(private_key.sign(domain + body))


def public_key_field(private_key: SigningKey) -> bytes:
    """What goes into a `*_public_key` field: empty when the peer id already inlines the key."""
    serialized = private_key.get_public_key().serialize()
    return b"" if len(serialized) <= 42 else serialized


def peer_id_bytes_of(private_key: SigningKey) -> bytes:
    return peer_id_of_public_key(private_key.get_public_key().serialize())


class Verifier:
    """Checks signatures, remembering the digests of those already found valid.

    Verification (~100 µs for ed25519) dominates every per-record cost, and the same entry is
    seen many times (replication, read repair, pubsub), so valid results are cached in a bounded
    LRU keyed by sha256(signer ‖ signature ‖ domain ‖ body). Failures are not cached: an attacker
    must not be able to fill the cache with garbage.
    """

    def __init__(
        self,
        decode_public_key: PublicKeyDecoder,
        cache_size: int = VALID_CACHE_SIZE,
        key_cache_size: int = KEY_CACHE_SIZE,
    ) -> None:
        self._decode_public_key = decode_public_key
        self._cache_size = cache_size
        self._valid: OrderedDict[bytes, None] = OrderedDict()
        self._key_cache_size = key_cache_size
        self._keys: OrderedDict[tuple[bytes, bytes], PublicKey] = OrderedDict()
        self.verifications = 0
        self.cache_hits = 0

    def _public_key(self, signer: bytes, carried_key: bytes) -> PublicKey:
        cache_key = (signer, carried_key)
        key = self._keys.get(cache_key)
        if key is not None:
            self._keys.move_to_end(cache_key)
            return key
        serialized = inlined_public_key(signer)
        if serialized is None:
            if not carried_key:
                raise RegistryError(
                    Status.INVALID_SIGNATURE, "signer's peer id does not inline its key and none was carried"
                )
            if peer_id_of_public_key(carried_key) != signer:
                raise RegistryError(Status.INVALID_SIGNATURE, "carried public key does not match the signer")
            serialized = carried_key
        try:
            key = self._decode_public_key(serialized)
        except Exception as exc:
            raise RegistryError(Status.INVALID_SIGNATURE, f"unusable public key: {exc}") from exc
        self._keys[cache_key] = key
        if len(self._keys) > self._key_cache_size:
            self._keys.popitem(last=False)
        return key

    def verify(self, signer: bytes, domain: bytes, body: bytes, signature: bytes, carried_key: bytes = b"") -> None:
        """Raise INVALID_SIGNATURE unless `signer` signed `domain ‖ body`."""
        digest = hashlib.sha256(signer + b"\x00" + signature + b"\x00" + domain + body).digest()
        if digest in self._valid:
            self._valid.move_to_end(digest)
            self.cache_hits += 1
            return
        if not signature:
            raise RegistryError(Status.INVALID_SIGNATURE, "missing signature")
        key = self._public_key(signer, carried_key)
        self.verifications += 1
        try:
            ok = key.verify(domain + body, signature)
        except Exception:
            ok = False
        if not ok:
            raise RegistryError(Status.INVALID_SIGNATURE, f"bad {domain.decode().rstrip(':')} signature")
        self._valid[digest] = None
        if len(self._valid) > self._cache_size:
            self._valid.popitem(last=False)


class DeferredSignatures:
    """The signature checks a validation asked for, kept to be run later, or never.

    A store decides first whether an entry could be stored at all (precedence and quotas need
    only its decoded fields) and verifies only what it is about to write: refusing a flood of
    entries then costs a decode each, not a verification (~100 us each for ed25519), so the
    peer sending it pays more than the node refusing it (DESIGN §7).
    """

    __slots__ = ("_checks", "_failure")

    def __init__(self) -> None:
        self._checks: list[tuple[bytes, bytes, bytes, bytes, bytes]] = []
        self._failure: RegistryError | None = None

    def verify(self, signer: bytes, domain: bytes, body: bytes, signature: bytes, carried_key: bytes = b"") -> None:
        self._checks.append((signer, domain, body, signature, carried_key))

    def settle(self, verifier: Verifier) -> None:
        """Run the kept checks with `verifier`; raise the first failure (again on every call)."""
        if self._failure is not None:
            raise self._failure
        checks, self._checks = self._checks, []
        for check in checks:
            try:
                verifier.verify(*check)
            except RegistryError as err:
                self._failure = err
                raise
