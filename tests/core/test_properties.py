"""Hypothesis properties of the precedence rule and the decoders."""

from __future__ import annotations

import contextlib
import functools

from hypothesis import given, settings
from hypothesis import strategies as st
from libp2p.crypto.ed25519 import create_new_key_pair

from registry_p2p.adapter.keys import make_verifier
from registry_p2p.core import DEFAULT_LIMITS, RegistryError, build
from registry_p2p.core.model import Entry, decode_entry, decode_resource
from registry_p2p.core.precedence import merge
from registry_p2p.core.validate import check_entry_bytes
from registry_p2p.pb import registry_pb2 as pb

from .conftest import NOW


@functools.cache
def pool() -> tuple[Entry, ...]:
    """Signed entries over two identities with colliding versions: ties, renewals, tombstones."""
    key = create_new_key_pair(b"\x33" * 32).private_key
    rid = build.make_resource(key, "p", NOW).id
    entries: list[Entry] = []
    for service in ("a", "b"):
        for issued in (NOW, NOW + 1):
            for value in (b"x", b"y"):
                rec = build.make_record(key, rid, service, value, issued)
                entries += [rec, build.renew(key, rec, issued + 7)]
            host = entries[-1].host
            entries.append(build.make_tombstone(key, rid, host, service, issued))
    return tuple(entries)


entry_lists = st.lists(st.sampled_from(range(len(pool()))), max_size=12).map(lambda ix: [pool()[i] for i in ix])


def canon(state: dict) -> dict:  # type: ignore[type-arg]
    return {k: v.encode() for k, v in state.items()}


@given(entry_lists, entry_lists)
def test_merge_is_commutative(a: list[Entry], b: list[Entry]) -> None:
    assert canon(merge(a, b)) == canon(merge(b, a))


@given(entry_lists, entry_lists, entry_lists)
def test_merge_is_associative(a: list[Entry], b: list[Entry], c: list[Entry]) -> None:
    left = merge(list(merge(a, b).values()), c)
    right = merge(a, list(merge(b, c).values()))
    assert canon(left) == canon(right)


@given(entry_lists)
def test_merge_is_idempotent(a: list[Entry]) -> None:
    once = merge(a)
    assert canon(merge(list(once.values()), a)) == canon(once)
    assert canon(merge(a, a)) == canon(once)


@given(entry_lists, st.randoms(use_true_random=False))
def test_merge_ignores_order(a: list[Entry], rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(a)
    rnd.shuffle(shuffled)
    assert canon(merge(a)) == canon(merge(shuffled))


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_random_bytes_only_raise_our_error(data: bytes) -> None:
    for decode in (decode_entry, decode_resource):
        with contextlib.suppress(RegistryError):
            decode(data, DEFAULT_LIMITS)


@settings(max_examples=300)
@given(
    st.binary(max_size=80),
    st.binary(max_size=80),
    st.binary(max_size=80),
    st.binary(max_size=80),
    st.sampled_from(["record", "tombstone"]),
)
def test_structured_garbage_only_raises_our_error(a: bytes, b: bytes, c: bytes, d: bytes, kind: str) -> None:
    if kind == "record":
        msg = pb.Entry(record=pb.Record(issuer_body=a, issuer_signature=b, host_body=c, host_signature=d))
    else:
        msg = pb.Entry(tombstone=pb.Tombstone(body=a, signature=b, issuer_public_key=c))
    with contextlib.suppress(RegistryError):
        check_entry_bytes(msg.SerializeToString(), NOW, DEFAULT_LIMITS, make_verifier())
