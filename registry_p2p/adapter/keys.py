"""core's Verifier over py-libp2p's key classes: the one place that decodes a libp2p PublicKey.

py-libp2p's `PrivateKey` and `PublicKey` already satisfy core's `SigningKey` and `PublicKey`
protocols, so signing needs nothing here; verification needs the decoder.
"""

from __future__ import annotations

from libp2p.crypto.ed25519 import Ed25519PrivateKey
from libp2p.crypto.serialization import deserialize_public_key

from registry_p2p.core.rendezvous import OWNER_KEY_SEED
from registry_p2p.core.signing import KEY_CACHE_SIZE, VALID_CACHE_SIZE, PublicKey, Verifier


def decode_public_key(serialized: bytes) -> PublicKey:
    """A serialized libp2p PublicKey protobuf (ed25519, secp256k1, ECDSA, RSA) as a key object."""
    key: PublicKey = deserialize_public_key(serialized)
    return key


def make_verifier(cache_size: int = VALID_CACHE_SIZE, key_cache_size: int = KEY_CACHE_SIZE) -> Verifier:
    return Verifier(decode_public_key, cache_size=cache_size, key_cache_size=key_cache_size)


def rendezvous_key() -> Ed25519PrivateKey:
    """The well-known key that owns, issues and hosts every rendezvous namespace's records.

    Its seed is public (`core.rendezvous.OWNER_KEY_SEED`): the key proves nothing about who
    signed with it; a registration's authority is the client's envelope it carries.
    """
    return Ed25519PrivateKey.from_bytes(OWNER_KEY_SEED)
