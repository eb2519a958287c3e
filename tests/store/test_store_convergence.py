"""Replicas converge: the same entries in any order and any batching give the same state."""

from __future__ import annotations

import functools
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from registry_p2p.core.antientropy import live_digest
from registry_p2p.core.limits import DEFAULT_LIMITS
from registry_p2p.core.model import Entry, SignedRecord
from registry_p2p.core.precedence import digest_items, digest_root, live_records, merge, sort_for_resolve
from registry_p2p.core.validate import is_live
from registry_p2p.store import Store
from tests.store.store_helpers import LOCAL, NOW, VERIFIER, pid, record, resource, tombstone

RID = resource().id
LATER = NOW + 100


@functools.cache
def pool() -> tuple[Entry, ...]:
    """Several versions of six identities, including full ties broken only by signature bytes."""
    entries: list[Entry] = []
    identities = [(2, "a", None), (2, "b", None), (3, "a", None), (4, "a", 5), (LOCAL, "mine", None), (6, "c", LOCAL)]
    for issuer, service, host in identities:
        entries += [
            record(issuer, service, host=host, at=NOW),
            record(issuer, service, host=host, at=NOW, signed_at=NOW + 5),
            record(issuer, service, host=host, at=NOW, addrs=(b"\x04\x7f\x00\x00\x01",)),
            record(issuer, service, host=host, at=NOW, addrs=(b"\x04\x7f\x00\x00\x02",)),
            record(issuer, service, host=host, at=NOW + 10, ttl_s=60),
            tombstone(issuer, service, host=host, at=NOW),
            tombstone(issuer, service, host=host, at=NOW + 10),
            tombstone(issuer, service, host=host, at=NOW + 20),
        ]
    return tuple(entries)


def _state(
    batches: list[list[bytes | Entry]], now: int
) -> tuple[bytes, list[tuple[bytes, bytes]], list[bytes], list[SignedRecord]]:
    with Store(local_peer=pid(LOCAL), verifier=VERIFIER) as st:
        st.put_resource(resource(), NOW)
        for batch in batches:
            whole, _ = st.put_entries(RID, batch, now)
            assert whole.ok
        root, items = st.digest(RID, now)
        entries, cursor = st.get_entries(RID, now, include_tombstones=True, limit=1000)
        assert cursor == b""
        assert items == sorted(items)
        return root, items, entries, st.live_records(RID, now)


@settings(max_examples=150, deadline=None)
@given(chosen=st.lists(st.integers(0, 47), min_size=1, max_size=40), data=st.data())
def test_any_order_and_batching_converges(chosen: list[int], data: st.DataObject) -> None:
    entries = [pool()[i] for i in chosen]
    reference = _state([list(entries)], LATER)
    for _ in range(2):
        shuffled = data.draw(st.permutations(entries))
        cuts = sorted(data.draw(st.lists(st.integers(0, len(shuffled)), max_size=5)))
        bounds = [0, *cuts, len(shuffled)]
        as_bytes = data.draw(st.booleans())
        batches: list[list[bytes | Entry]] = [
            [e.encode() if as_bytes else e for e in shuffled[a:b]] for a, b in itertools.pairwise(bounds)
        ]
        assert _state(batches, LATER) == reference
    # And the store agrees with the core merge that resolve uses.
    winners = [e for e in merge(entries).values() if is_live(e, LATER, DEFAULT_LIMITS)]
    root, items, served, live = reference
    assert items == digest_items(winners)
    assert root == digest_root(items)
    assert (root, items) == live_digest(merge(entries).values(), LATER, DEFAULT_LIMITS)  # what anti-entropy plans from
    assert sorted(served) == sorted(e.encode() for e in winners)
    assert live == sort_for_resolve(live_records(winners, LATER), lambda peer: 0)
