"""A discrete-event simulator of the registry at internet scale (issue 16).

It drives the project's own pure logic from `registry_p2p.core` -- `LookupState` for sampled
lookups, `ReplicaChoice` for the replica sets those lookups choose, `plan_sync` for every
anti-entropy exchange, `plan_read_repair` for resolves, `precedence.wins` for every store update,
`validate.is_live` for expiry -- over a modelled network: per-message latency and loss, node
sessions from a churn model, joins, leaves, crashes keeping or losing the store, partitions and
Sybil nodes. It imports nothing with trio or libp2p (tests/test_imports.py checks it).

`run(Params(...))` returns a `Report`; `registry-p2p sim` is the command line.
"""

from registry_p2p.sim.sim import Params, Report, run

__all__ = ["Params", "Report", "run"]
