"""One accepted encoding per signed content: a relay cannot make a bigger or tie-winning copy.

The attack this closes (attacks.md §6): an honest 263-byte record re-sent with ~1 MiB of junk in
an unsigned `*_public_key` field replaced the stored copy (the longer encoding won the tie) and
every resolve then overflowed its frame.
"""

from __future__ import annotations

import pytest
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.rsa import create_new_key_pair as rsa_pair

from registry_p2p.core import DEFAULT_LIMITS, RegistryError, Status, build
from registry_p2p.core.ids import uvarint
from registry_p2p.core.model import SignedResource, decode_entry, decode_resource, resource_from_pb
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.pb import registry_pb2 as pb

from .conftest import NOW

L = DEFAULT_LIMITS
JUNK = b"\x08\x01\x12\x20" + b"j" * 32


def refusal(fn, *args) -> Status | None:  # type: ignore[no-untyped-def]
    try:
        fn(*args)
    except RegistryError as err:
        return err.status
    return None


def test_a_key_field_the_peer_id_already_holds_is_refused(
    alice: KeyPair, bob: KeyPair, resource: SignedResource
) -> None:
    record = build.make_record(alice.private_key, resource.id, "s", b"v", NOW).to_pb()
    record.host_public_key = JUNK * 1000
    assert refusal(decode_entry, pb.Entry(record=record).SerializeToString(), L) is Status.MALFORMED
    tombstone = build.make_tombstone(alice.private_key, resource.id, peer_id_bytes_of(alice.private_key), "s", NOW)
    bloated_tombstone = tombstone.to_pb()
    bloated_tombstone.issuer_public_key = JUNK
    assert refusal(decode_entry, pb.Entry(tombstone=bloated_tombstone).SerializeToString(), L) is Status.MALFORMED
    bloated_resource = resource.to_pb()
    bloated_resource.owner_public_key = JUNK
    # Every path: bytes (DHT, GetResource answers) and a message inside a request (PutEntries, PutResource).
    assert refusal(decode_resource, bloated_resource.SerializeToString(), L) is Status.MALFORMED
    assert refusal(resource_from_pb, bloated_resource, L) is Status.MALFORMED


def test_an_issuer_key_on_a_self_hosted_record_is_refused() -> None:
    rsa = rsa_pair(bits=1024)  # a key the peer id does not inline: its host key is needed and carried
    rid = b"\x01" * 32
    record = build.make_record(rsa.private_key, rid, "s", b"v", NOW)
    assert record.host_public_key and not record.issuer_public_key
    assert decode_entry(record.encode(), L) == record
    message = record.to_pb()
    message.issuer_public_key = record.host_public_key  # the right key, but nothing checks it
    assert refusal(decode_entry, pb.Entry(record=message).SerializeToString(), L) is Status.MALFORMED


def test_a_remote_hosted_record_carries_the_key_its_issuer_signature_needs(bob: KeyPair) -> None:
    rsa = rsa_pair(bits=1024)
    rid = b"\x02" * 32
    part = build.make_issuer_part(rsa.private_key, rid, peer_id_bytes_of(bob.private_key), "s", b"v", NOW)
    record = build.countersign(bob.private_key, part.to_request(), NOW, [])
    assert record.issuer_public_key and not record.host_public_key
    assert decode_entry(record.encode(), L) == record


@pytest.mark.parametrize(
    "suffix",
    [
        b"\xf8\x01\x07",  # an unknown varint field
        b"\x82\x01\x03abc",  # an unknown length-delimited field
    ],
)
def test_unknown_fields_outside_the_signed_parts_are_refused(
    alice: KeyPair, resource: SignedResource, suffix: bytes
) -> None:
    record = build.make_record(alice.private_key, resource.id, "s", b"v", NOW)
    assert refusal(decode_entry, record.encode() + suffix, L) is Status.MALFORMED
    inner = record.to_pb().SerializeToString() + suffix
    assert refusal(decode_entry, b"\x0a" + uvarint(len(inner)) + inner, L) is Status.MALFORMED
    assert refusal(decode_resource, resource.encode() + suffix, L) is Status.MALFORMED
    message = pb.Resource.FromString(resource.encode() + suffix)
    assert refusal(resource_from_pb, message, L) is Status.MALFORMED


def test_a_repeated_field_is_not_another_encoding(alice: KeyPair, resource: SignedResource) -> None:
    record = build.make_record(alice.private_key, resource.id, "s", b"v", NOW)
    message = record.to_pb()
    # Protobuf keeps the last of a repeated scalar field: the signature sent twice decodes to the
    # same fields, so those bytes must be refused rather than stored as a longer twin.
    doubled = message.SerializeToString() + pb.Record(host_signature=message.host_signature).SerializeToString()
    assert pb.Record.FromString(doubled) == message
    entry = pb.Entry(record=pb.Record.FromString(doubled)).SerializeToString()
    assert entry == record.encode()  # re-encoded, it is the canonical entry...
    wrapped = b"\x0a" + uvarint(len(doubled)) + doubled
    assert refusal(decode_entry, wrapped, L) is Status.MALFORMED  # ...received as is, refused


def test_resources_over_the_size_cap_are_refused_on_every_path(resource: SignedResource) -> None:
    message = resource.to_pb()
    message.signature = message.signature + b"\x00" * 5000
    assert refusal(resource_from_pb, message, L) is Status.TOO_LARGE
