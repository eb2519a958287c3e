from __future__ import annotations

import pytest
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair

from registry_p2p.adapter.keys import make_verifier
from registry_p2p.core import DEFAULT_LIMITS, Verifier, build
from registry_p2p.core.model import SignedResource

NOW = 1_767_225_600_000


@pytest.fixture(scope="session")
def alice() -> KeyPair:
    return create_new_key_pair(b"\x11" * 32)


@pytest.fixture(scope="session")
def bob() -> KeyPair:
    return create_new_key_pair(b"\x22" * 32)


@pytest.fixture(scope="session")
def resource(alice: KeyPair) -> SignedResource:
    return build.make_resource(alice.private_key, "echo", NOW, DEFAULT_LIMITS)


@pytest.fixture
def verifier() -> Verifier:
    return make_verifier()
