"""Gossip payloads: a lone entry travels as itself, several as EntryBatch messages within limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.gossip import BATCH_TAG, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, decode_payload, encode_payloads
from registry_p2p.pb import registry_pb2 as pb

raw_entries = st.lists(st.binary(min_size=1, max_size=3000).map(lambda b: b"\x0a" + b), min_size=1, max_size=700)


@given(raw_entries)
def test_payloads_carry_every_entry_in_order_within_limits(raws: list[bytes]) -> None:
    payloads = encode_payloads(raws)
    assert [raw for p in payloads for raw in decode_payload(p)] == raws
    for payload in payloads:
        assert len(decode_payload(payload)) <= MAX_BATCH_ENTRIES
        if payload[0] == BATCH_TAG:
            assert len(payload) <= MAX_BATCH_BYTES + 16
    if len(raws) == 1:
        assert payloads == raws


def test_no_serialized_entry_begins_like_a_batch() -> None:
    record = pb.Entry(record=pb.Record(issuer_body=b"x")).SerializeToString()
    tombstone = pb.Entry(tombstone=pb.Tombstone(body=b"x")).SerializeToString()
    assert record[0] != BATCH_TAG and tombstone[0] != BATCH_TAG
    assert pb.EntryBatch(entries=[b"a"]).SerializeToString()[0] == BATCH_TAG


def test_bad_batches_are_refused_clearly() -> None:
    with pytest.raises(RegistryError) as err:
        decode_payload(bytes([BATCH_TAG, 0x05, 0x01]))
    assert err.value.status is Status.MALFORMED
    too_many = pb.EntryBatch(entries=[b"\x0a"] * (MAX_BATCH_ENTRIES + 1)).SerializeToString()
    with pytest.raises(RegistryError) as err:
        decode_payload(too_many)
    assert err.value.status is Status.TOO_LARGE
    with pytest.raises(RegistryError) as err:
        decode_payload(bytes([BATCH_TAG]))  # a tag with no length: truncated
    assert err.value.status is Status.MALFORMED
