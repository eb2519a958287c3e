"""registry-p2p: a decentralized service registry for py-libp2p hosts."""

from registry_p2p.core.ids import resource_id
from registry_p2p.core.views import Event, Record, Resource, WriteResult

__version__ = "0.1.0"

__all__ = ["Event", "Record", "Resource", "WriteResult", "__version__", "resource_id"]


def __getattr__(name: str) -> object:
    # The network layer imports py-libp2p's host stack (~1 s): load it only when asked for.
    if name == "open_node":
        from registry_p2p.node import open_node

        return open_node
    if name == "mount":
        from registry_p2p.registry import mount

        return mount
    if name in ("Registry", "RegistryConfig"):
        from registry_p2p.core.config import RegistryConfig
        from registry_p2p.registry import Registry

        return {"Registry": Registry, "RegistryConfig": RegistryConfig}[name]
    raise AttributeError(name)
