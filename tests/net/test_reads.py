"""What a reader remembers of the entries it found valid (`Reads._checked`), without a network:
remembered entries are re-checked for what time and the resource change, refusals are never kept."""

from __future__ import annotations

from types import SimpleNamespace

from libp2p.crypto.ed25519 import create_new_key_pair

from registry_p2p.adapter.keys import make_verifier
from registry_p2p.core import build
from registry_p2p.core.limits import Limits
from registry_p2p.registry.reads import Reads

RID = b"\x01" * 32
OTHER_RID = b"\x02" * 32
NOW = 1_800_000_000_000


class CountingVerifier:
    """The real verifier, counting its checks: a remembered entry is not verified again."""

    def __init__(self) -> None:
        self.inner = make_verifier()
        self.checks = 0

    def verify(self, signer: bytes, domain: bytes, body: bytes, signature: bytes, carried_key: bytes = b"") -> None:
        self.checks += 1
        self.inner.verify(signer, domain, body, signature, carried_key)


def reads(verifier: CountingVerifier) -> Reads:
    return Reads(SimpleNamespace(limits=Limits(), verifier=verifier), resources=None)  # type: ignore[arg-type]


def test_a_remembered_entry_is_not_verified_again_and_is_dropped_past_its_lifetime() -> None:
    verifier = CountingVerifier()
    reader = reads(verifier)
    record = build.make_record(create_new_key_pair().private_key, RID, "svc", b"v", NOW, ttl_s=60)
    raw = record.encode()
    first = reader._checked(None, raw, RID, None, NOW)  # type: ignore[arg-type]
    assert first is not None
    checks = verifier.checks
    assert reader._checked(None, raw, RID, None, NOW + 1_000) is first  # type: ignore[arg-type]
    assert verifier.checks == checks, "remembered: no verification"
    assert reader._checked(None, raw, RID, None, NOW + 61_000) is None  # type: ignore[arg-type]
    assert reader._checked(None, raw, OTHER_RID, None, NOW + 1_000) is None  # type: ignore[arg-type]


def test_a_refusal_is_not_remembered() -> None:
    verifier = CountingVerifier()
    reader = reads(verifier)
    future = build.make_record(create_new_key_pair().private_key, RID, "svc", b"v", NOW + 120_000, ttl_s=600)
    raw = future.encode()
    assert reader._checked(None, raw, RID, None, NOW) is None  # type: ignore[arg-type]  # FROM_FUTURE
    assert reader._checked(None, raw, RID, None, NOW + 120_000) is not None  # type: ignore[arg-type]
    assert raw in reader._valid and len(reader._valid) == 1
