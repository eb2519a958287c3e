"""The one precedence rule (DESIGN §2), merge, eviction choice and anti-entropy digests.

For one identity, the entry with the greatest `precedence_key` wins:
record (issued_at, 0, host_signed_at, host_sig, issuer_sig) vs tombstone (issued_at, 1, 0, sig, b"").
A final comparison of the encoded bytes makes the order total even for equal keys, so merge is
commutative, associative and idempotent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from registry_p2p.core.model import Entry, Identity, SignedRecord, identity_digest, precedence_prefix


def order_key(entry: Entry) -> tuple[tuple[int, int, int, bytes, bytes], bytes]:
    return (entry.precedence_key, entry.encode())


def wins(candidate: Entry, incumbent: Entry) -> bool:
    """True when `candidate` strictly supersedes `incumbent` (same identity assumed)."""
    if candidate is incumbent:  # one decoded object per raw entry (a read's memo): the usual case
        return False
    a, b = candidate.precedence_key, incumbent.precedence_key
    if a != b:
        return a > b
    if candidate == incumbent:  # replicas usually agree: skip the encoding below
        return False
    return candidate.encode() > incumbent.encode()


def compare_with_stored(candidate: Entry, issued_at_ms: int, is_tombstone: bool, host_signed_at_ms: int) -> int:
    """Compare `candidate` with a stored entry of its identity known by the columns a store keeps:
    1 when the candidate wins, -1 when the stored entry does, 0 when only the full entries can
    tell (then `wins` decides, from the signatures and encodings)."""
    ours = candidate.precedence_key[:3]
    stored = precedence_prefix(issued_at_ms, is_tombstone, host_signed_at_ms)
    return (ours > stored) - (ours < stored)


def merge_into(state: dict[Identity, Entry], entries: Iterable[Entry]) -> dict[Identity, Entry]:
    for entry in entries:
        current = state.get(entry.identity)
        if current is None or wins(entry, current):
            state[entry.identity] = entry
    return state


def merge(*answers: Iterable[Entry]) -> dict[Identity, Entry]:
    """Merge answers (lists of entries) into the winning entry per identity."""
    state: dict[Identity, Entry] = {}
    for answer in answers:
        merge_into(state, answer)
    return state


def live_records(state: Iterable[Entry], now_ms: int, include_critical: bool = True) -> list[SignedRecord]:
    """Records that are neither tombstoned (already resolved by merge) nor expired; without
    `include_critical`, only those whose host reports them passing (what resolve returns)."""
    return [
        e for e in state if isinstance(e, SignedRecord) and e.expires_at_ms > now_ms and (include_critical or e.passing)
    ]


def sort_for_resolve(records: Iterable[SignedRecord], weight: Callable[[bytes], int]) -> list[SignedRecord]:
    """Highest weight first, then newest issued_at; identity as the final, stable order."""
    return sorted(records, key=lambda r: (-weight(r.issuer), -r.issued_at_ms, r.identity))


@dataclass(frozen=True, slots=True)
class EvictionCandidate:
    identity: Identity
    weight: int
    host_signed_at_ms: int


def outranks_record(newcomer_weight: int, incumbent_weight: int) -> bool:
    """Whether a new record may take the place of a record of `incumbent_weight` (the rule of
    `eviction_victim`, alone: a store can refuse a newcomer from the lowest weight it holds)."""
    return newcomer_weight > incumbent_weight


def outranks_tombstone(newcomer: tuple[int, int], incumbent: tuple[int, int]) -> bool:
    """Whether a new tombstone, as (weight, issued_at), may take an incumbent tombstone's place."""
    return newcomer > incumbent


def eviction_victim(candidates: Iterable[EvictionCandidate], newcomer_weight: int) -> EvictionCandidate | None:
    """At the per-resource limit: the record to evict for a newcomer, or None to refuse it.

    The victim is the lowest weight, then the oldest (least recently host-signed). Incumbents
    keep their place against newcomers of equal weight: otherwise free identities with fresh
    signatures push every established record out (attacks.md: 300 identities erased 4 of 4
    honest records). Only a higher local trust weight takes a place.
    """
    victim = min(candidates, key=lambda c: (c.weight, c.host_signed_at_ms, c.identity), default=None)
    if victim is not None and outranks_record(newcomer_weight, victim.weight):
        return victim
    return None


def tombstone_victim(
    candidates: Iterable[EvictionCandidate], newcomer_weight: int, newcomer_issued_at_ms: int
) -> EvictionCandidate | None:
    """At the per-resource tombstone limit: the tombstone to evict for a newer one, or None.

    Candidates carry their issued_at as `host_signed_at_ms`. Unlike records, a newer deletion of
    equal weight does take the oldest tombstone's place: an unregister must land on a full
    resource, and a lost old tombstone can at worst let its record back until the record expires.
    """
    victim = min(candidates, key=lambda c: (c.weight, c.host_signed_at_ms, c.identity), default=None)
    if victim is None:
        return None
    if outranks_tombstone((newcomer_weight, newcomer_issued_at_ms), (victim.weight, victim.host_signed_at_ms)):
        return victim
    return None


def digest_items(entries: Iterable[Entry]) -> list[tuple[bytes, bytes]]:
    """Sorted (identity digest, version) pairs: what anti-entropy compares."""
    return sorted((identity_digest(e.identity), e.version) for e in entries)


def digest_root(items: list[tuple[bytes, bytes]]) -> bytes:
    h = hashlib.sha256(b"registry-p2p/digest/v1")
    for identity, version in items:
        h.update(identity)
        h.update(version)
    return h.digest()
