"""compare_with_stored: the precedence rule from a store's columns agrees with `wins` on full entries."""

from __future__ import annotations

import itertools

from libp2p.crypto.keys import KeyPair

from registry_p2p.core import build
from registry_p2p.core.model import Entry, SignedRecord, SignedResource
from registry_p2p.core.precedence import compare_with_stored, wins

from .conftest import NOW


def _columns(entry: Entry) -> tuple[int, bool, int]:
    """What the store keeps: issued_at, is_tombstone, host_signed_at (0 for a tombstone)."""
    signed = entry.host_signed_at_ms if isinstance(entry, SignedRecord) else 0
    return entry.issued_at_ms, entry.is_tombstone, signed


def test_the_column_comparison_never_contradicts_wins(alice: KeyPair, resource: SignedResource) -> None:
    key = alice.private_key
    rec = build.make_record(key, resource.id, "s", b"v", NOW)
    versions: list[Entry] = [
        rec,
        build.renew(key, rec, NOW + 5),
        build.make_record(key, resource.id, "s", b"w", NOW),  # a full tie but for the signatures
        build.make_record(key, resource.id, "s", b"v", NOW + 1),
        build.make_tombstone(key, resource.id, rec.host, "s", NOW),
        build.make_tombstone(key, resource.id, rec.host, "s", NOW + 1),
    ]
    for candidate, stored in itertools.product(versions, repeat=2):
        order = compare_with_stored(candidate, *_columns(stored))
        if order > 0:
            assert wins(candidate, stored)
        elif order < 0:
            assert wins(stored, candidate)
        else:
            assert candidate.precedence_key[:3] == stored.precedence_key[:3]
    # A tombstone beats a record issued at the same instant, from the columns alone.
    assert compare_with_stored(versions[4], *_columns(rec)) == 1
