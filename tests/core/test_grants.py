"""core.grants: the write policy as a pure function, and grant vs revocation precedence."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from libp2p.crypto.keys import KeyPair

from registry_p2p.core import DEFAULT_LIMITS, RegistryError, Status, Verifier, build
from registry_p2p.core.grants import authorized, check_authorized, grant_allows, grants_of, is_authorized
from registry_p2p.core.model import SignedGrant, SignedResource, decode_entry, decode_resource
from registry_p2p.core.precedence import merge, wins
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.core.validate import check_entry_bytes, validate_grant
from tests.core.conftest import NOW


def _approved(owner: KeyPair) -> SignedResource:
    return build.make_resource(owner.private_key, "fleet", NOW, DEFAULT_LIMITS, policy="owner-approved")


def test_grant_round_trips_and_verifies(alice: KeyPair, bob: KeyPair, verifier: Verifier) -> None:
    res = _approved(alice)
    g = build.make_grant(alice.private_key, res.id, peer_id_bytes_of(bob.private_key), NOW, service_prefix="w/")
    again = decode_entry(g.encode(), DEFAULT_LIMITS)
    assert again == g and again.identity == (res.id, g.grantee, b"", "")
    assert decode_resource(res.encode(), DEFAULT_LIMITS).policy == "owner-approved"
    assert check_entry_bytes(g.encode(), NOW, DEFAULT_LIMITS, verifier, res.id, res) == g
    with pytest.raises(RegistryError) as err:
        check_entry_bytes(g.encode(), NOW, DEFAULT_LIMITS, verifier, res.id)
    assert err.value.status == Status.UNKNOWN_RESOURCE


def test_grant_signed_by_another_key_is_refused(alice: KeyPair, bob: KeyPair, verifier: Verifier) -> None:
    res = _approved(alice)
    forged = build.make_grant(bob.private_key, res.id, peer_id_bytes_of(bob.private_key), NOW)
    with pytest.raises(RegistryError) as err:
        validate_grant(forged, res, NOW, DEFAULT_LIMITS, verifier)
    assert err.value.status == Status.INVALID_SIGNATURE and "owner" in err.value.text


def test_revocation_wins_at_the_same_instant_and_newer_grant_wins_after(alice: KeyPair, bob: KeyPair) -> None:
    rid, grantee = _approved(alice).id, peer_id_bytes_of(bob.private_key)
    g = build.make_grant(alice.private_key, rid, grantee, NOW)
    r = build.make_grant(alice.private_key, rid, grantee, NOW, revoked=True)
    g2 = build.make_grant(alice.private_key, rid, grantee, NOW + 1)
    assert wins(r, g) and not wins(g, r)
    assert wins(g2, r)
    assert list(merge([g, r]).values()) == [r] == list(merge([r], [g]).values())


def test_policy(alice: KeyPair, bob: KeyPair) -> None:
    res = _approved(alice)
    bob_id = peer_id_bytes_of(bob.private_key)
    bob_record = build.make_record(bob.private_key, res.id, "web/1", b"v", NOW)
    owner_record = build.make_record(alice.private_key, res.id, "x", b"v", NOW)
    assert is_authorized(res, owner_record, None, NOW)
    assert not is_authorized(res, bob_record, None, NOW)
    with pytest.raises(RegistryError) as err:
        check_authorized(res, bob_record, None, NOW)
    assert err.value.status == Status.NOT_AUTHORIZED
    g = build.make_grant(alice.private_key, res.id, bob_id, NOW, service_prefix="web/", expires_at_ms=NOW + 10)
    assert is_authorized(res, bob_record, g, NOW + 9)
    assert not is_authorized(res, bob_record, g, NOW + 10)  # expired
    revoked = build.make_grant(alice.private_key, res.id, bob_id, NOW + 1, revoked=True)
    assert not is_authorized(res, bob_record, revoked, NOW)
    # A revoked grantee may still delete its records; a stranger may not.
    bob_tomb = build.make_tombstone(bob.private_key, res.id, bob_id, "web/1", NOW)
    assert is_authorized(res, bob_tomb, revoked, NOW) and not is_authorized(res, bob_tomb, None, NOW)
    # An open resource authorizes everyone.
    open_res = build.make_resource(alice.private_key, "fleet", NOW, DEFAULT_LIMITS)
    assert is_authorized(open_res, bob_record, None, NOW)
    state = [g, bob_record, owner_record]
    assert authorized(res, state, NOW + 100, grants_of(state)) == [g, owner_record]
    assert authorized(res, state, NOW, grants_of(state)) == state


@settings(max_examples=200)
@given(prefix=st.text(max_size=6), service_id=st.text(max_size=8))
def test_prefix_property(alice: KeyPair, bob: KeyPair, prefix: str, service_id: str) -> None:
    rid = _approved(alice).id
    g = build.make_grant(alice.private_key, rid, peer_id_bytes_of(bob.private_key), NOW, service_prefix=prefix)
    assert grant_allows(g, service_id, NOW) == service_id.startswith(prefix)
    assert grant_allows(g, prefix + service_id, NOW)


@settings(max_examples=100)
@given(st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=6), st.randoms())
def test_merge_of_grants_is_order_independent(
    alice: KeyPair, bob: KeyPair, specs: list[tuple[int, bool]], rnd: object
) -> None:
    rid, grantee = _approved(alice).id, peer_id_bytes_of(bob.private_key)
    entries: list[SignedGrant] = [
        build.make_grant(alice.private_key, rid, grantee, NOW + at, revoked=rv) for at, rv in specs
    ]
    shuffled = list(entries)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert merge(entries) == merge(shuffled)
    (winner,) = merge(entries).values()
    newest = max(at for at, _ in specs)
    assert isinstance(winner, SignedGrant) and winner.issued_at_ms == NOW + newest
    assert winner.revoked == any(rv for at, rv in specs if at == newest)
