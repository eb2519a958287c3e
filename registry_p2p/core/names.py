"""Every name the registry is known by on the network: its protocol id, its topics, its DHT keys.

Another implementation must use exactly these strings to interoperate (protocols/registry.proto).
"""

from __future__ import annotations

from registry_p2p.core.ids import b58

PROTOCOL_ID = "/registry/1.0.0"
# One gossipsub topic per resource: the change feed of its records and tombstones.
TOPIC_PREFIX = PROTOCOL_ID + "/"
# Short on purpose: py-libp2p 0.8.1 ignores FIND_NODE requests whose key is over 50 bytes and is
# not a multihash; "/reg/<44 base58 chars>" is at most 49 bytes.
DHT_NAMESPACE = "reg"


def topic_of(resource_id: bytes) -> str:
    return TOPIC_PREFIX + b58(resource_id)


def dht_key(resource_id: bytes) -> str:
    """The DHT key under which the owner-signed resource is stored, for plain libp2p peers."""
    return f"/{DHT_NAMESPACE}/{b58(resource_id)}"
