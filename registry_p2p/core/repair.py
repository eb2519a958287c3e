"""Read-repair planning: from several replicas' answers to a resolve, the merged state and what
each replica that answered lacks or holds stale.

Sans-IO: the resolve path gathers the answers and sends the repairs; a simulator can drive the
same function. The merge is core.precedence's, never another.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from registry_p2p.core.model import Entry, Identity, SignedRecord
from registry_p2p.core.precedence import merge

Replica = TypeVar("Replica", bound=Hashable)


@dataclass(frozen=True, slots=True)
class RepairPlan(Generic[Replica]):
    state: dict[Identity, Entry]  # the winning entry per identity among all answers
    # Per replica that answered: the winning entries it did not return, in state order. Replicas
    # that failed or were not asked are absent: nothing is known of what they hold.
    missing: dict[Replica, list[Entry]] = field(default_factory=dict)


def plan_read_repair(answers: Mapping[Replica, Sequence[Entry]], now_ms: int) -> RepairPlan[Replica]:
    """Merge `answers` (replica -> the entries it returned) and list each replica's gaps.

    A replica returning another version of an identity holds it stale (the merge chose a winner
    over it). Records expired by `now_ms` are not sent: a replica would refuse them.
    """
    state = merge(*answers.values())
    wanted = [e for e in state.values() if not (isinstance(e, SignedRecord) and e.expires_at_ms <= now_ms)]
    missing: dict[Replica, list[Entry]] = {}
    for replica, entries in answers.items():
        have = {e.identity: e for e in entries}
        # The same object when both came from one raw entry (a read decodes each raw once).
        gaps = [
            e for e in wanted if (held := have.get(e.identity)) is not e and (held is None or held.version != e.version)
        ]
        if gaps:
            missing[replica] = gaps
    return RepairPlan(state, missing)
