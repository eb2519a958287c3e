"""The shared vectors: the Go and Rust suites check these same files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from libp2p.crypto.serialization import deserialize_private_key, deserialize_public_key

from registry_p2p.adapter.keys import make_verifier
from registry_p2p.core import DEFAULT_LIMITS, RegistryError, Status, b58, resource_id_bytes
from registry_p2p.core.grants import is_authorized
from registry_p2p.core.model import HEALTH_NAMES, SignedGrant, SignedRecord, decode_entry, decode_resource
from registry_p2p.core.precedence import wins
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.core.validate import check_entry_bytes, check_resource_bytes
from registry_p2p.tools import gen_vectors

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def load(name: str) -> list[dict]:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def test_regeneration_reproduces_committed_vectors(tmp_path: Path) -> None:
    for name, text in gen_vectors.render(gen_vectors.generate()).items():
        assert (VECTORS / name).read_text(encoding="utf-8") == text, f"{name} differs: run `make vectors`"


def test_keys_derive_their_peer_ids() -> None:
    for row in load("keys.json"):
        private = deserialize_private_key(bytes.fromhex(row["private_key"]))
        assert private.get_public_key().serialize().hex() == row["public_key"]
        assert peer_id_bytes_of(private).hex() == row["peer_id_bytes"]
        assert b58(bytes.fromhex(row["peer_id_bytes"])) == row["peer_id"]


def test_resource_ids() -> None:
    rows = load("resource_ids.json")
    assert len(rows) >= 10
    for row in rows:
        rid = resource_id_bytes(row["label"], bytes.fromhex(row["owner_bytes"]))
        assert rid.hex() == row["resource_id"]
        assert b58(rid) == row["resource_id_b58"]


def test_signatures() -> None:
    keys = {row["name"]: row for row in load("keys.json")}
    rows = load("signatures.json")
    assert {r["valid"] for r in rows} == {True, False}
    for row in rows:
        public = deserialize_public_key(bytes.fromhex(keys[row["key"]]["public_key"]))
        signing_bytes = bytes.fromhex(row["signing_bytes"])
        assert signing_bytes == row["domain"].encode() + bytes.fromhex(row["body"])
        assert public.verify(signing_bytes, bytes.fromhex(row["signature"])) == row["valid"], row["name"]


@pytest.mark.parametrize("row", load("entries.json"), ids=lambda r: r["name"])
def test_entry_validation_status(row: dict) -> None:
    verifier = make_verifier()
    data = bytes.fromhex(row["bytes"])
    try:
        if row["kind"] == "resource":
            check_resource_bytes(data, row["now_ms"], DEFAULT_LIMITS, verifier)
        else:
            entry = check_entry_bytes(data, row["now_ms"], DEFAULT_LIMITS, verifier, bytes.fromhex(row["resource_id"]))
            if "health" in row:
                assert isinstance(entry, SignedRecord)
                assert HEALTH_NAMES[entry.health] == row["health"]
        status = Status.OK
    except RegistryError as err:
        status = err.status
    assert status.name == row["status"]


@pytest.mark.parametrize("row", load("precedence.json"), ids=lambda r: r["name"])
def test_precedence(row: dict) -> None:
    a = decode_entry(bytes.fromhex(row["a"]), DEFAULT_LIMITS)
    b = decode_entry(bytes.fromhex(row["b"]), DEFAULT_LIMITS)
    assert a.identity == b.identity
    expected = {"a": (True, False), "b": (False, True), "equal": (False, False)}[row["winner"]]
    assert (wins(a, b), wins(b, a)) == expected


GRANTS = load("grants.json")


def _grant_rows(kind: str) -> list[dict]:
    rows = [r for r in GRANTS if r["kind"] == kind]
    assert rows, kind
    return rows


def test_grant_signatures() -> None:
    keys = {row["name"]: row for row in load("keys.json")}
    for row in _grant_rows("signature"):
        public = deserialize_public_key(bytes.fromhex(keys[row["key"]]["public_key"]))
        signing_bytes = bytes.fromhex(row["signing_bytes"])
        assert signing_bytes == row["domain"].encode() + bytes.fromhex(row["body"])
        assert public.verify(signing_bytes, bytes.fromhex(row["signature"])) == row["valid"], row["name"]


@pytest.mark.parametrize("row", [r for r in GRANTS if r["kind"] in ("grant", "resource")], ids=lambda r: r["name"])
def test_grant_validation_status(row: dict) -> None:
    verifier = make_verifier()
    try:
        if row["kind"] == "resource":
            check_resource_bytes(bytes.fromhex(row["bytes"]), row["now_ms"], DEFAULT_LIMITS, verifier)
        else:
            resource = check_resource_bytes(bytes.fromhex(row["resource"]), row["now_ms"], DEFAULT_LIMITS, verifier)
            entry = check_entry_bytes(
                bytes.fromhex(row["bytes"]), row["now_ms"], DEFAULT_LIMITS, verifier, resource.id, resource
            )
            assert isinstance(entry, SignedGrant)
        status = Status.OK
    except RegistryError as err:
        status = err.status
    assert status.name == row["status"]


@pytest.mark.parametrize("row", _grant_rows("authorize"), ids=lambda r: r["name"])
def test_authorization(row: dict) -> None:
    resource = decode_resource(bytes.fromhex(row["resource"]), DEFAULT_LIMITS)
    record = decode_entry(bytes.fromhex(row["record"]), DEFAULT_LIMITS)
    grant = decode_entry(bytes.fromhex(row["grant"]), DEFAULT_LIMITS) if row["grant"] else None
    assert isinstance(record, SignedRecord) and (grant is None or isinstance(grant, SignedGrant))
    assert is_authorized(resource, record, grant, row["now_ms"]) == row["authorized"]


@pytest.mark.parametrize("row", _grant_rows("precedence"), ids=lambda r: r["name"])
def test_grant_precedence(row: dict) -> None:
    test_precedence(row)
