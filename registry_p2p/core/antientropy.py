"""Anti-entropy planning: from our digest of a resource and a replica's, what to push and pull.

Sans-IO: the maintenance loop (or a simulator) exchanges the digests and moves the entries; this
module only decides. A digest is the sorted (identity digest, version) pairs of the live entries
a node holds (core.precedence.digest_items) and their root (digest_root).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from registry_p2p.core.limits import Limits
from registry_p2p.core.model import Entry
from registry_p2p.core.precedence import digest_items, digest_root
from registry_p2p.core.validate import is_live


@dataclass(frozen=True, slots=True)
class PeerDigest:
    """A replica's answer to our digest request for a resource it holds."""

    root: bytes
    resource_created_at_ms: int
    items: Mapping[bytes, bytes]  # identity digest -> version; empty when its root matched ours


@dataclass(frozen=True, slots=True)
class SyncPlan:
    push: tuple[bytes, ...] = ()  # identity digests of the entries to send, sorted
    pull: bool = False  # the replica holds an entry we lack or hold in another version
    push_resource: bool = False  # the replica's resource is older than ours
    # The replica's resource is newer: fetch it first, so that its write policy (an owner-approved
    # version) judges what we hold and what we pull.
    pull_resource: bool = False

    @property
    def idle(self) -> bool:
        return not (self.push or self.pull or self.push_resource or self.pull_resource)


NOTHING = SyncPlan()


def live_digest(entries: Iterable[Entry], now_ms: int, limits: Limits) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """(root, items) over the entries still live at `now_ms`: what a store's digest answers.

    Expired records and tombstones past their lifetime are left out, so they are never pushed."""
    items = digest_items(e for e in entries if is_live(e, now_ms, limits))
    return digest_root(items), items


def plan_sync(
    our_root: bytes,
    our_items: Iterable[tuple[bytes, bytes]],
    our_resource_created_at_ms: int,
    theirs: PeerDigest | None,
) -> SyncPlan:
    """What to exchange with a replica; `theirs` is None when it does not know the resource.

    Equal roots: nothing, unless its resource is older (the resource is pushed alone). Otherwise
    we push every entry it lacks or holds in another version (the receiver keeps whichever wins
    the precedence rule) and pull when it holds any entry we lack or hold differently.
    """
    older = theirs is not None and theirs.resource_created_at_ms < our_resource_created_at_ms
    newer = theirs is not None and theirs.resource_created_at_ms > our_resource_created_at_ms
    if theirs is not None and theirs.root == our_root:
        return SyncPlan(push_resource=older, pull_resource=newer)
    their_items: Mapping[bytes, bytes] = theirs.items if theirs is not None else {}
    mine = dict(our_items)
    push = tuple(sorted(ident for ident, version in mine.items() if their_items.get(ident) != version))
    pull = any(mine.get(ident) != version for ident, version in their_items.items())
    return SyncPlan(push=push, pull=pull, push_resource=older, pull_resource=newer)


# py-libp2p's DHT keeps a value 24 h: a copy put a quarter of that ago still has hours to live.
DHT_REPUBLISH_S = 6 * 3600.0


class DhtRepublish:
    """When the first replica of a resource puts its copy into the DHT again (sans-IO, time in seconds).

    Each anti-entropy round used to put every resource the node leads, changed or not: with many
    resources that was a DHT put per resource per round (attacks.md §1: 6.7 ms of CPU each). Now a
    put happens when the resource's signed bytes changed, when the replica set changed (the DHT's
    closest peers may no longer hold the value), or when the last put is `republish_s` old.
    """

    def __init__(self, republish_s: float = DHT_REPUBLISH_S) -> None:
        self.republish_s = republish_s
        self._last: dict[bytes, tuple[bytes, tuple[bytes, ...], float]] = {}

    def due(self, resource_id: bytes, version: bytes, replicas: Iterable[bytes], now: float) -> bool:
        last = self._last.get(resource_id)
        if last is None:
            return True
        put_version, put_replicas, put_at = last
        return put_version != version or put_replicas != tuple(replicas) or now - put_at >= self.republish_s

    def done(self, resource_id: bytes, version: bytes, replicas: Iterable[bytes], now: float) -> None:
        self._last[resource_id] = (version, tuple(replicas), now)

    def forget_except(self, resource_ids: Iterable[bytes]) -> None:
        """Drop what we remember of resources no longer held (collected, or no longer ours)."""
        keep = set(resource_ids)
        for rid in [rid for rid in self._last if rid not in keep]:
            del self._last[rid]
