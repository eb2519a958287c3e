"""core/rendezvous.py: envelopes (sealed by py-libp2p), requests, cookies and pages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.secp256k1 import create_new_key_pair as create_secp256k1_pair
from libp2p.peer.id import ID

from registry_p2p.adapter.keys import make_verifier, rendezvous_key
from registry_p2p.core import build
from registry_p2p.core import rendezvous as rv
from registry_p2p.core.errors import RegistryError
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.core.validate import validate_record
from registry_p2p.pb import rendezvous_pb2 as rpb
from tests.net import rendezvous_client as rc

KEY = b"k" * 32


def test_the_well_known_owner_is_the_peer_id_of_the_seeded_key() -> None:
    assert peer_id_bytes_of(rendezvous_key()) == rv.OWNER
    assert ID(rv.OWNER).to_base58() == "12D3KooWMKreuU7Ph8Yd7nab1vwRFJ2hGdC8QTSnS1zS3MgkGzkR"


@pytest.mark.parametrize("make", [create_new_key_pair, create_secp256k1_pair])
def test_an_envelope_sealed_by_py_libp2p_opens(make) -> None:  # type: ignore[no-untyped-def]
    key = make().private_key
    signed = rv.open_envelope(rc.envelope(key, seq=7), make_verifier())
    assert signed.peer_id == peer_id_bytes_of(key) and signed.seq == 7 and len(signed.addrs) == 1


def test_a_register_is_checked_against_the_connections_peer() -> None:
    key = create_new_key_pair().private_key
    message = rc.register("ns", rc.envelope(key))
    ok = rv.parse_request(message, peer_id_bytes_of(key), make_verifier())
    assert ok == rv.Registration("ns", peer_id_bytes_of(key), message.register.signedPeerRecord, rv.DEFAULT_TTL_S)
    other = rv.parse_request(message, peer_id_bytes_of(create_new_key_pair().private_key), make_verifier())
    assert isinstance(other, rv.RendezvousError) and other.code == rv.Code.E_NOT_AUTHORIZED


def test_responses_carry_every_field_even_when_zero() -> None:
    """proto2 presence: rust-libp2p refuses a response without status, ttl or cookie."""
    reply = rpb.Message.FromString(rv.register_response(rv.Code.OK, ttl_s=0).SerializeToString())
    assert reply.HasField("type") and reply.registerResponse.HasField("status")
    assert reply.registerResponse.HasField("ttl")
    found = rpb.Message.FromString(rv.discover_response(rv.Code.OK).SerializeToString())
    assert found.discoverResponse.HasField("status") and found.discoverResponse.HasField("cookie")


def test_a_registration_record_needs_the_envelope_of_the_peer_it_names() -> None:
    key = create_new_key_pair().private_key
    signed = rc.envelope(key)
    rid = rv.namespace_resource_id("ns")
    good = build.make_record(rendezvous_key(), rid, rv.service_id_of(peer_id_bytes_of(key)), signed, 1000, 7200)
    validate_record(good, 1000, build.DEFAULT_LIMITS, make_verifier())
    impostor = rv.service_id_of(peer_id_bytes_of(create_new_key_pair().private_key))
    bad = build.make_record(rendezvous_key(), rid, impostor, signed, 1000, 7200)
    with pytest.raises(RegistryError):
        validate_record(bad, 1000, build.DEFAULT_LIMITS, make_verifier())


def test_cookies_are_bound_to_namespace_and_key_and_read_by_rust_as_8_bytes_then_the_namespace() -> None:
    cookies = rv.Cookies(KEY)
    cookie = cookies.make("chat", 12345)
    assert len(cookie) == 8 + 4 and cookie[8:] == b"chat"
    assert cookies.read("chat", cookie) == 12345
    assert cookies.read("chat", b"") is None
    for ns, bad in (("other", cookie), ("chat", cookie[:7] + bytes([cookie[7] ^ 1]) + cookie[8:])):
        with pytest.raises(rv.RendezvousError) as err:
            cookies.read(ns, bad)
        assert err.value.code == rv.Code.E_INVALID_COOKIE
    assert rv.Cookies(KEY).read("", rv.Cookies(KEY).make("", 0)) == 0


@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(0, 2**20)), max_size=200, unique_by=lambda t: t[1]),
    st.integers(1, 40),
)
def test_paging_returns_every_registration_once_whatever_the_ties(items: list[tuple[int, int]], limit: int) -> None:
    found = [rv.Found("ns", n.to_bytes(4, "big"), 0, position) for position, n in items]
    seen: list[bytes] = []
    after: int | None = None
    for _ in range(len(found) + 2):
        chosen, after = rv.page(found, after, limit)
        if not chosen:
            break
        assert len(chosen) <= limit or len({f.position for f in chosen}) == 1
        seen.extend(f.envelope for f in chosen)
    assert sorted(seen) == sorted(f.envelope for f in found)


@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(0, 2**20)), max_size=200, unique_by=lambda t: t[1]),
    st.integers(1, 40),
    st.none() | st.integers(-1, 51),
)
def test_a_page_of_registrations_kept_in_order_is_the_page_of_them_unordered(
    items: list[tuple[int, int]], limit: int, after: int | None
) -> None:
    found = [rv.Found("ns", n.to_bytes(4, "big"), 0, position) for position, n in items]
    kept = sorted(found, key=rv.by_position)
    assert rv.page(kept, after, limit, in_order=True) == rv.page(found, after, limit)


def test_positions_follow_issue_time() -> None:
    assert rv.position_of(2, "ns", b"a") > rv.position_of(1, "ns", b"zzz")


def test_rust_libp2ps_older_peer_record_encoding_opens_too() -> None:
    """libp2p-rendezvous 0.18 signs under "libp2p-routing-state", payload type "/libp2p/routing-state-record"."""
    key = create_new_key_pair().private_key
    payload = rpb.PeerRecord(peer_id=peer_id_bytes_of(key), seq=3).SerializeToString()
    unsigned = rv.envelope_signed_bytes(rv.LEGACY_PAYLOAD_TYPE, payload)
    assert unsigned.startswith(b"\x14libp2p-routing-state\x1c/libp2p/routing-state-record")
    envelope = rpb.Envelope(
        public_key=key.get_public_key().serialize(),
        payload_type=rv.LEGACY_PAYLOAD_TYPE,
        payload=payload,
        signature=key.sign(unsigned),
    ).SerializeToString()
    assert rv.open_envelope(envelope, make_verifier()).seq == 3
    # Signed under the other encoding's domain: refused.
    wrong = rpb.Envelope.FromString(envelope)
    wrong.signature = key.sign(b"\x12libp2p-peer-record" + unsigned[21:])
    with pytest.raises(rv.RendezvousError):
        rv.open_envelope(wrong.SerializeToString(), make_verifier())
