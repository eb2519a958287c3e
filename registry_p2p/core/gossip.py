"""Gossip payloads on a resource's topic: one serialized Entry, or an EntryBatch of several.

A write that stores many entries at once (a PutEntries batch, a replication push) announces them
in one gossipsub message instead of one per entry: py-libp2p spends about 1 ms of CPU per
published message (signing, peer bookkeeping), which was half of a node's write cost. The two
kinds are told apart by the first byte (see protocols/registry.proto, EntryBatch).
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.pb import registry_pb2 as pb

BATCH_TAG = 0x7A  # field 15, wire type 2
MAX_BATCH_ENTRIES = 256
# Well under gossipsub's 1 MiB message limit, with room for its envelope.
MAX_BATCH_BYTES = 512 * 1024


def encode_payloads(raws: list[bytes]) -> list[bytes]:
    """The messages that announce `raws`: a lone entry as itself, more as batches within limits."""
    if len(raws) == 1:
        return [raws[0]]
    payloads: list[bytes] = []
    batch: list[bytes] = []
    size = 0
    for raw in raws:
        if batch and (len(batch) == MAX_BATCH_ENTRIES or size + len(raw) + 8 > MAX_BATCH_BYTES):
            payloads.append(_encode_batch(batch))
            batch, size = [], 0
        batch.append(raw)
        size += len(raw) + 8
    if batch:
        payloads.append(batch[0] if len(batch) == 1 else _encode_batch(batch))
    return payloads


def _encode_batch(raws: list[bytes]) -> bytes:
    return pb.EntryBatch(entries=raws).SerializeToString()


def decode_payload(data: bytes) -> list[bytes]:
    """The serialized entries a message carries (not yet decoded or checked)."""
    if not data or data[0] != BATCH_TAG:
        return [data]
    batch = pb.EntryBatch()
    try:
        batch.ParseFromString(data)
    except DecodeError as exc:
        raise RegistryError(Status.MALFORMED, f"entry batch does not decode: {exc}") from exc
    if not batch.entries:
        raise RegistryError(Status.MALFORMED, "empty entry batch")
    if len(batch.entries) > MAX_BATCH_ENTRIES:
        raise RegistryError(Status.TOO_LARGE, f"entry batch of {len(batch.entries)} (at most {MAX_BATCH_ENTRIES})")
    return list(batch.entries)
