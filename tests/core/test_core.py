"""Core rules: ids, signing, validation against `now` and the limits, precedence, eviction."""

from __future__ import annotations

from dataclasses import replace

import pytest
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.rsa import create_new_key_pair as rsa_pair
from libp2p.crypto.secp256k1 import create_new_key_pair as secp_pair
from multiaddr import Multiaddr

import registry_p2p
from registry_p2p.adapter.keys import make_verifier
from registry_p2p.core import DEFAULT_LIMITS, RegistryError, Status, Verifier, b58, build, resource_id_bytes
from registry_p2p.core.ids import peer_id_from_text, resource_id_from_text, uvarint
from registry_p2p.core.model import SignedResource, decode_entry, decode_resource, entry_from_pb
from registry_p2p.core.precedence import (
    EvictionCandidate,
    eviction_victim,
    live_records,
    merge,
    sort_for_resolve,
    tombstone_victim,
    wins,
)
from registry_p2p.core.signing import RECORD_DOMAIN, peer_id_bytes_of, sign
from registry_p2p.core.validate import check_entry_bytes, validate_entry, validate_resource
from registry_p2p.core.views import Record
from registry_p2p.net.addrs import addr_text
from registry_p2p.pb import registry_pb2 as pb

from .conftest import NOW

L = DEFAULT_LIMITS
WIDE = replace(
    L,
    max_value_bytes=1 << 20,
    max_ttl_s=1 << 30,
    min_ttl_s=1,
    max_label_bytes=1 << 20,
    max_addr_bytes=1 << 20,
    max_service_id_bytes=1 << 20,
    max_addrs=1 << 10,
)


def status_of(fn, *args) -> Status:  # type: ignore[no-untyped-def]
    try:
        fn(*args)
    except RegistryError as err:
        return err.status
    return Status.OK


def test_resource_id_is_length_prefixed_and_exported(alice: KeyPair) -> None:
    owner = peer_id_bytes_of(alice.private_key)
    assert registry_p2p.resource_id("echo", b58(owner)) == b58(resource_id_bytes("echo", owner))
    # Fluence's sha256(label ‖ owner) let "ab"+"c…" collide with "a"+"bc…"; the length prefix forbids it.
    assert resource_id_bytes("ab", owner) != resource_id_bytes("a", b"b" + owner)
    assert uvarint(300) == b"\xac\x02"
    with pytest.raises(RegistryError) as err:
        resource_id_from_text("not-base58-0OIl")
    assert err.value.status is Status.MALFORMED
    with pytest.raises(RegistryError):
        resource_id_from_text(b58(b"short"))
    with pytest.raises(RegistryError):
        peer_id_from_text("Qmnotapeer")


def test_resource_round_trip(resource: SignedResource, verifier: Verifier) -> None:
    again = decode_resource(resource.encode(), L)
    assert again == resource
    validate_resource(again, NOW, L, verifier)
    assert resource.dht_key == f"/reg/{b58(resource.id)}"


def test_record_round_trips_every_field(alice: KeyPair, resource: SignedResource, verifier: Verifier) -> None:
    addrs = [Multiaddr("/ip4/127.0.0.1/tcp/4001").to_bytes(), Multiaddr("/ip4/10.0.0.1/udp/1/quic-v1").to_bytes()]
    rec = build.make_record(alice.private_key, resource.id, "id", b"some_value", NOW, ttl_s=3600, addrs=addrs)
    again = decode_entry(rec.encode(), L)
    assert again == rec
    validate_entry(again, NOW, L, verifier, resource.id)
    view = Record.of(again, addr_text=addr_text)
    assert (view.service_id, view.value, view.issued_at_ms, view.expires_at_ms) == (
        "id",
        b"some_value",
        NOW,
        NOW + 3_600_000,
    )
    assert view.issuer == view.host == b58(peer_id_bytes_of(alice.private_key))
    assert view.addrs == ("/ip4/127.0.0.1/tcp/4001", "/ip4/10.0.0.1/udp/1/quic-v1")


def test_copied_host_signature_fails(alice: KeyPair, resource: SignedResource, verifier: Verifier) -> None:
    """Fluence signed sha256("") as every host signature, so one could be pasted onto any record."""
    real = build.make_record(alice.private_key, resource.id, "a", b"1", NOW)
    other = build.make_record(alice.private_key, resource.id, "b", b"2", NOW).to_pb()
    other.host_signature = real.host_signature
    forged = entry_from_pb(pb.Entry(record=other), L)
    assert status_of(validate_entry, forged, NOW, L, verifier) is Status.INVALID_SIGNATURE


def test_remote_hosted_record_needs_both_signatures(
    alice: KeyPair, bob: KeyPair, resource: SignedResource, verifier: Verifier
) -> None:
    host = peer_id_bytes_of(alice.private_key)
    part = build.make_issuer_part(bob.private_key, resource.id, host, "svc", b"v", NOW)
    rec = build.countersign(alice.private_key, part.to_request(), NOW, [])
    validate_entry(rec, NOW, L, verifier, resource.id)
    assert rec.issuer == peer_id_bytes_of(bob.private_key) and rec.host == host
    # Bob cannot make a record claim Alice hosts it without her countersignature.
    fake = build.make_record(bob.private_key, resource.id, "svc", b"v", NOW).to_pb()
    body = pb.RecordBody.FromString(fake.issuer_body)
    body.host = host
    fake.issuer_body = body.SerializeToString()
    fake.issuer_signature = sign(bob.private_key, RECORD_DOMAIN, fake.issuer_body)
    assert status_of(lambda: validate_entry(entry_from_pb(pb.Entry(record=fake), L), NOW, L, verifier)) in (
        Status.INVALID_SIGNATURE,
    )
    # A host countersigns only records that name it.
    with pytest.raises(RegistryError) as err:
        build.countersign(bob.private_key, part.to_request(), NOW, [])
    assert err.value.status is Status.NOT_AUTHORIZED


def test_other_key_types(resource: SignedResource, verifier: Verifier) -> None:
    secp = secp_pair(b"\x05" * 32)
    rec = build.make_record(secp.private_key, resource.id, "s", b"", NOW)
    validate_entry(decode_entry(rec.encode(), L), NOW, L, verifier)
    rsa = rsa_pair(bits=1024)  # small: only the carried-key path is under test
    rec = build.make_record(rsa.private_key, resource.id, "r", b"", NOW)
    assert rec.host_public_key, "an RSA peer id does not inline its key, so the record carries it"
    validate_entry(decode_entry(rec.encode(), L), NOW, L, make_verifier())
    wrong = rec.to_pb()
    wrong.host_public_key = secp.public_key.serialize()
    assert status_of(validate_entry, entry_from_pb(pb.Entry(record=wrong), L), NOW, L, make_verifier()) is (
        Status.INVALID_SIGNATURE
    )


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("value", lambda k, rid: build.make_record(k, rid, "s", b"x" * 4097, NOW, limits=WIDE)),
        ("service_id", lambda k, rid: build.make_record(k, rid, "s" * 129, b"", NOW, limits=WIDE)),
        ("ttl", lambda k, rid: build.make_record(k, rid, "s", b"", NOW, ttl_s=72 * 3600 + 1, limits=WIDE)),
        ("addrs", lambda k, rid: build.make_record(k, rid, "s", b"", NOW, addrs=[b"\x04" * 8] * 17, limits=WIDE)),
        ("addr", lambda k, rid: build.make_record(k, rid, "s", b"", NOW, addrs=[b"\x04" * 257], limits=WIDE)),
        (
            "tombstone_service_id",
            lambda k, rid: build.make_tombstone(k, rid, peer_id_bytes_of(k), "s" * 129, NOW, limits=WIDE),
        ),
    ],
)
def test_every_limit_answers_too_large(name: str, make, alice: KeyPair, resource: SignedResource) -> None:  # type: ignore[no-untyped-def]
    entry = make(alice.private_key, resource.id)
    assert status_of(decode_entry, entry.encode(), L) is Status.TOO_LARGE, name


def test_label_and_message_limits(alice: KeyPair) -> None:
    big_label = build.make_resource(alice.private_key, "l" * 256, NOW, WIDE)
    assert status_of(decode_resource, big_label.encode(), L) is Status.TOO_LARGE
    assert status_of(decode_resource, b"\x0a" + b"\xff" * 5000, L) is Status.TOO_LARGE
    assert status_of(decode_entry, b"\x00" * (L.max_message_bytes + 1), L) is Status.TOO_LARGE


def test_time_rules(alice: KeyPair, resource: SignedResource, verifier: Verifier) -> None:
    skew = L.max_clock_skew_ms
    at_limit = build.make_record(alice.private_key, resource.id, "s", b"", NOW + skew)
    beyond = build.make_record(alice.private_key, resource.id, "s", b"", NOW + skew + 1)
    assert status_of(validate_entry, at_limit, NOW, L, verifier) is Status.OK
    assert status_of(validate_entry, beyond, NOW, L, verifier) is Status.FROM_FUTURE
    future_res = build.make_resource(alice.private_key, "echo", NOW + skew + 1)
    assert status_of(validate_resource, future_res, NOW, L, verifier) is Status.FROM_FUTURE
    rec = build.make_record(alice.private_key, resource.id, "s", b"", NOW, ttl_s=60)
    assert status_of(validate_entry, rec, NOW + 59_999, L, verifier) is Status.OK
    assert status_of(validate_entry, rec, NOW + 60_000, L, verifier) is Status.EXPIRED
    assert live_records([rec], NOW + 60_000) == []
    tomb = build.make_tombstone(alice.private_key, resource.id, rec.host, "s", NOW)
    assert status_of(validate_entry, tomb, NOW + L.tombstone_lifetime_ms - 1, L, verifier) is Status.OK
    assert status_of(validate_entry, tomb, NOW + L.tombstone_lifetime_ms, L, verifier) is Status.EXPIRED


def test_entry_for_another_resource_is_a_forgery(alice: KeyPair, resource: SignedResource, verifier: Verifier) -> None:
    rec = build.make_record(alice.private_key, resource.id, "s", b"", NOW)
    other = resource_id_bytes("other", rec.issuer)
    with pytest.raises(RegistryError) as err:
        check_entry_bytes(rec.encode(), NOW, L, verifier, other)
    assert err.value.status is Status.INVALID_SIGNATURE


def test_precedence_rules(alice: KeyPair, resource: SignedResource) -> None:
    key = alice.private_key
    rec = build.make_record(key, resource.id, "s", b"v1", NOW)
    tomb_newer = build.make_tombstone(key, resource.id, rec.host, "s", NOW + 1)
    tomb_same = build.make_tombstone(key, resource.id, rec.host, "s", NOW)
    rec_later = build.make_record(key, resource.id, "s", b"v2", NOW + 2)
    renewed = build.renew(key, rec, NOW + 10)
    assert wins(tomb_newer, rec) and not wins(rec, tomb_newer)  # a newer tombstone hides the record
    assert wins(tomb_same, rec)  # a tombstone beats a record with issued_at <= its own
    assert wins(rec_later, tomb_newer)  # a later registration replaces the tombstone
    assert wins(renewed, rec) and renewed.issuer_body == rec.issuer_body  # renewal touches only the host part
    assert wins(rec_later, renewed)  # a newer issue beats any renewal of an older one
    state = merge([rec, tomb_newer], [renewed])
    assert list(state.values()) == [tomb_newer]
    assert live_records(state.values(), NOW) == []


def test_resolve_order(alice: KeyPair, bob: KeyPair, resource: SignedResource) -> None:
    a = build.make_record(alice.private_key, resource.id, "a", b"", NOW)
    b_old = build.make_record(bob.private_key, resource.id, "b", b"", NOW - 5)
    b_new = build.make_record(bob.private_key, resource.id, "c", b"", NOW)
    heavy = {a.issuer: 0, b_old.issuer: 5}
    ordered = sort_for_resolve([a, b_old, b_new], lambda p: heavy[p])
    assert [r.service_id for r in ordered] == ["c", "b", "a"]


def test_eviction_choice() -> None:
    rid = b"\x01" * 32
    cands = [
        EvictionCandidate((rid, b"i", b"h", str(n)), weight=w, host_signed_at_ms=t)
        for n, (w, t) in enumerate([(1, 10), (0, 50), (0, 20), (2, 5)])
    ]
    assert eviction_victim(cands, 1) == cands[2]  # higher weight evicts the lowest (oldest among them)
    assert eviction_victim(cands, 0) is None  # equal weight: the incumbents keep their place
    assert eviction_victim(cands, -1) is None  # lower weight: refused
    assert eviction_victim([], 5) is None
    # Tombstones: a newer deletion of equal weight takes the oldest one's place.
    assert tombstone_victim(cands, 0, 21) == cands[2]
    assert tombstone_victim(cands, 0, 20) is None
    assert tombstone_victim(cands, 1, 0) == cands[2]
    assert tombstone_victim([], 0, 0) is None


def test_verifier_caches_only_valid(alice: KeyPair, resource: SignedResource) -> None:
    v = make_verifier(cache_size=2)
    rec = build.make_record(alice.private_key, resource.id, "s", b"", NOW)
    validate_entry(rec, NOW, L, v)
    validate_entry(rec, NOW, L, v)
    assert (v.verifications, v.cache_hits) == (1, 1)
    bad = rec.to_pb()
    bad.host_signature = bytes(64)
    forged = entry_from_pb(pb.Entry(record=bad), L)
    for _ in range(2):
        assert status_of(validate_entry, forged, NOW, L, v) is Status.INVALID_SIGNATURE
    assert v.verifications == 3
    for n in range(3):  # the LRU stays bounded
        validate_entry(build.make_record(alice.private_key, resource.id, str(n), b"", NOW), NOW, L, v)
    assert len(v._valid) == 2
