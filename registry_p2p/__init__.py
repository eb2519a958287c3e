"""registry-p2p: a decentralized service registry for py-libp2p hosts."""

from registry_p2p.core.ids import resource_id
from registry_p2p.core.views import Event, Record, Resource, WriteResult

__version__ = "0.1.0"

__all__ = ["Event", "Record", "Resource", "WriteResult", "__version__", "resource_id"]
