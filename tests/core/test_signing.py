"""core's signing needs no crypto library: any key that fits `SigningKey`/`PublicKey`, and the
decoder the Verifier is given. A toy keyed-hash scheme (not a signature scheme; only the
plumbing is under test) signs, builds and validates records here without py-libp2p."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from registry_p2p.core import DEFAULT_LIMITS, RegistryError, Status, Verifier, build
from registry_p2p.core.signing import RESOURCE_DOMAIN, PublicKey, SigningKey, sign
from registry_p2p.core.validate import validate_entry, validate_resource

NOW = 1_767_225_600_000
PREFIX = b"toy:"


class ToyPublicKey:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def serialize(self) -> bytes:
        return PREFIX + self.secret

    def verify(self, data: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(hashlib.sha256(self.secret + data).digest(), signature)


class ToyKey:
    def __init__(self, secret: bytes) -> None:
        self.public = ToyPublicKey(secret)

    def sign(self, data: bytes) -> bytes:
        return hashlib.sha256(self.public.secret + data).digest()

    def get_public_key(self) -> ToyPublicKey:
        return self.public


class Decoder:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, serialized: bytes) -> PublicKey:
        self.calls += 1
        if not serialized.startswith(PREFIX):
            raise ValueError("not a toy key")
        return ToyPublicKey(serialized[len(PREFIX) :])


def test_toy_keys_fit_the_protocols() -> None:
    assert isinstance(ToyKey(b"k"), SigningKey)
    assert isinstance(ToyPublicKey(b"k"), PublicKey)


def test_records_signed_with_any_key_validate_through_the_injected_decoder() -> None:
    key, decoder = ToyKey(b"alice"), Decoder()
    verifier = Verifier(decoder)
    resource = build.make_resource(key, "toy", NOW)
    validate_resource(resource, NOW, DEFAULT_LIMITS, verifier)
    for service in ("a", "b"):
        record = build.make_record(key, resource.id, service, b"v", NOW)
        validate_entry(record, NOW, DEFAULT_LIMITS, verifier, resource.id)
    assert decoder.calls == 1, "the decoded key is cached per signer"
    assert verifier.verifications == 3


def test_a_forged_signature_and_an_undecodable_key_are_invalid_signatures() -> None:
    resource = build.make_resource(ToyKey(b"alice"), "toy", NOW)
    forged = sign(ToyKey(b"mallory"), RESOURCE_DOMAIN, resource.body)
    with pytest.raises(RegistryError) as bad:
        Verifier(Decoder()).verify(resource.owner, RESOURCE_DOMAIN, resource.body, forged)
    assert bad.value.status is Status.INVALID_SIGNATURE

    def refuse(serialized: bytes) -> PublicKey:
        raise ValueError("unusable")

    with pytest.raises(RegistryError) as unusable:
        validate_resource(resource, NOW, DEFAULT_LIMITS, Verifier(refuse))
    assert unusable.value.status is Status.INVALID_SIGNATURE
