"""py-libp2p's DHT values: get_value answers from any local copy, which it caches for 24 h."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry_p2p.adapter.types import DhtLike

log = logging.getLogger("registry_p2p.adapter.dht_values")


def local_dht_value(dht: DhtLike, key: str) -> bytes | None:
    """The DHT value this node holds for `key` (put here by the DHT), without a network lookup."""
    try:
        record = dht.value_store.get(key.encode("utf-8"))
    except Exception as exc:
        log.debug("local DHT value of %s unavailable: %s", key, exc)
        return None
    return bytes(record.value) if record is not None and record.value else None


async def fresh_get_value(dht: DhtLike, key: str) -> bytes | None:
    """get_value answers from any local copy (and caches fetched values for 24 h): drop it first."""
    with contextlib.suppress(Exception):
        dht.value_store.remove(key.encode("utf-8"))
    value: bytes | None = await dht.get_value(key)
    return value
