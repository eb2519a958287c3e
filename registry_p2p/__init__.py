"""registry-p2p: a decentralized service registry for py-libp2p hosts."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "Event",
    "Grant",
    "Record",
    "Registry",
    "RegistryConfig",
    "Resource",
    "WriteResult",
    "__version__",
    "mount",
    "open_node",
    "resource_id",
]

# Every export loads on first use: importing the package must cost nothing, so that the CLI
# answers Ctrl-C (and --help) at once instead of after py-libp2p's ~1 s of imports.
_EXPORTS = {
    "resource_id": "registry_p2p.core.ids",
    "Event": "registry_p2p.core.views",
    "Grant": "registry_p2p.core.views",
    "Record": "registry_p2p.core.views",
    "Resource": "registry_p2p.core.views",
    "WriteResult": "registry_p2p.core.views",
    "RegistryConfig": "registry_p2p.core.config",
    "Registry": "registry_p2p.registry",
    "mount": "registry_p2p.registry",
    "open_node": "registry_p2p.node",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)
