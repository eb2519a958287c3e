"""py-libp2p offers plaintext and secio by default; the registry speaks Noise only."""

from __future__ import annotations

from typing import Any

from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as x25519_pair
from libp2p.custom_types import TProtocol
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport


def noise_only(key_pair: KeyPair) -> dict[TProtocol, Any]:
    """The `sec_opt` for new_host: Noise, and nothing that would accept an unencrypted peer."""
    return {TProtocol(NOISE_PROTOCOL_ID): NoiseTransport(key_pair, noise_privkey=x25519_pair().private_key)}
