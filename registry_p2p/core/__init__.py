"""Pure registry logic: ids, signing, validation, precedence, merge. No I/O, no clock; no trio,
py-libp2p or multiaddr (keys come in through `signing.SigningKey` and `signing.PublicKey`)."""

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
