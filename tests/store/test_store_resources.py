from __future__ import annotations

from registry_p2p.core.errors import Status
from registry_p2p.core.limits import DEFAULT_LIMITS
from registry_p2p.core.model import SignedResource, decode_resource
from registry_p2p.core.signing import RESOURCE_DOMAIN, sign
from registry_p2p.pb import registry_pb2 as pb
from registry_p2p.store import Store
from tests.store.store_helpers import NOW, StoreFactory, key, pid, record, resource


def _variant(owner: int, label: str, at: int, extra: bytes) -> SignedResource:
    """Same id and created_at as resource(owner, label, at), other signed bytes (an unknown field)."""
    body = pb.ResourceBody(label=label, owner=pid(owner), created_at_ms=at).SerializeToString() + extra
    message = pb.Resource(body=body, signature=sign(key(owner), RESOURCE_DOMAIN, body))
    return decode_resource(message.SerializeToString(), DEFAULT_LIMITS)


def test_round_trip_keeps_every_field(make_store: StoreFactory) -> None:
    st = make_store()
    res = resource(1, "a label with ünïcode", NOW)
    assert st.put_resource(res, NOW).status == Status.OK
    got = st.get_resource(res.id)
    assert got == res
    assert got is not None and got.encode() == res.encode()
    assert st.resource_ids() == [res.id]
    assert st.get_resource(b"\x00" * 32) is None


def test_newest_created_at_wins(make_store: StoreFactory) -> None:
    st = make_store()
    old, new = resource(1, "x", NOW - 1000), resource(1, "x", NOW)
    assert old.id == new.id
    assert st.put_resource(new, NOW).ok
    result = st.put_resource(old, NOW)
    assert result.status == Status.SUPERSEDED
    assert "newer" in result.text
    assert st.get_resource(new.id) == new
    # Refreshing the resource (a newer created_at) replaces it.
    newer = resource(1, "x", NOW + 5)
    assert st.put_resource(newer, NOW + 5).ok
    assert st.get_resource(new.id) == newer


def test_identical_put_is_ok(make_store: StoreFactory) -> None:
    st = make_store()
    assert st.put_resource(resource(), NOW).ok
    assert st.put_resource(resource(), NOW).status == Status.OK
    assert st.counts()["resources"] == 1


def test_equal_created_at_greater_signature_wins_in_any_order(make_store: StoreFactory) -> None:
    a, b = _variant(1, "tie", NOW, b"\x78\x01"), _variant(1, "tie", NOW, b"\x78\x02")
    assert a.id == b.id and a.created_at_ms == b.created_at_ms and a.signature != b.signature
    winner, loser = (a, b) if a.signature > b.signature else (b, a)
    for first, second in ((winner, loser), (loser, winner)):
        st = make_store()
        assert st.put_resource(first, NOW).ok
        result = st.put_resource(second, NOW)
        assert result.status == (Status.SUPERSEDED if second is loser else Status.OK)
        assert st.get_resource(a.id) == winner


def test_refreshing_a_resource_keeps_its_entries(store: Store) -> None:
    assert store.put_entries(resource().id, [record(2)], NOW)[1][0].ok
    assert store.put_resource(resource(1, "echo", NOW + 1), NOW + 1).ok
    assert len(store.get_entries(resource().id, NOW + 1)[0]) == 1


def test_from_future_beyond_skew(make_store: StoreFactory) -> None:
    st = make_store()
    skew = DEFAULT_LIMITS.max_clock_skew_ms
    assert st.put_resource(resource(1, "f", NOW + skew + 1), NOW).status == Status.FROM_FUTURE
    assert st.get_resource(resource(1, "f", NOW).id) is None
    assert st.put_resource(resource(1, "f", NOW + skew), NOW).ok


def test_bad_signature_is_refused(make_store: StoreFactory) -> None:
    st = make_store()
    res = resource(1, "sig")
    forged = SignedResource(
        id=res.id,
        label=res.label,
        owner=res.owner,
        created_at_ms=res.created_at_ms,
        body=res.body,
        signature=bytes([res.signature[0] ^ 1]) + res.signature[1:],
    )
    assert st.put_resource(forged, NOW).status == Status.INVALID_SIGNATURE
    assert st.resource_ids() == []
