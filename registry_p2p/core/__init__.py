"""Pure registry logic: ids, signing, validation, precedence, merge. No I/O, no clock; no trio,
py-libp2p or multiaddr (keys come in through `signing.SigningKey` and `signing.PublicKey`).

The exports load on first use (as the package's own): importing one light module of core, such
as `core.shapes` for the CLI's JSON output, must not load protobuf and the wire model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry_p2p.core.errors import RegistryError, Status
    from registry_p2p.core.ids import b58, resource_id, resource_id_bytes, resource_id_from_text
    from registry_p2p.core.limits import DEFAULT_LIMITS, Limits
    from registry_p2p.core.model import (
        Entry,
        Identity,
        SignedRecord,
        SignedResource,
        SignedTombstone,
        decode_entry,
        decode_resource,
    )
    from registry_p2p.core.signing import Verifier

_EXPORTS = {
    "RegistryError": "errors",
    "Status": "errors",
    "b58": "ids",
    "resource_id": "ids",
    "resource_id_bytes": "ids",
    "resource_id_from_text": "ids",
    "DEFAULT_LIMITS": "limits",
    "Limits": "limits",
    "Entry": "model",
    "Identity": "model",
    "SignedRecord": "model",
    "SignedResource": "model",
    "SignedTombstone": "model",
    "decode_entry": "model",
    "decode_resource": "model",
    "Verifier": "signing",
}

__all__ = [
    "DEFAULT_LIMITS",
    "Entry",
    "Identity",
    "Limits",
    "RegistryError",
    "SignedRecord",
    "SignedResource",
    "SignedTombstone",
    "Status",
    "Verifier",
    "b58",
    "decode_entry",
    "decode_resource",
    "resource_id",
    "resource_id_bytes",
    "resource_id_from_text",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f"registry_p2p.core.{module}"), name)
