"""The registry mounted on a py-libp2p host: `Registry` (a facade over its parts) and `mount`.

Parts, each with one role, share one `Context` (context.py): resources.py (create, fetch, the
copy a write carries), writes.py (records, countersigning, tombstones), reads.py (resolve and read
repair), execute.py (execute_on_resource), maintenance.py (anti-entropy, renewal, gc loops).
facade.py holds `Registry` itself (lifecycle, change feed, watch) and `mount`.
"""

from registry_p2p.registry.context import MaintenanceStats, wall_clock_ms
from registry_p2p.registry.facade import Registry, mount

__all__ = ["MaintenanceStats", "Registry", "mount", "wall_clock_ms"]
