"""Generate tests/vectors/*.json from fixed keys and timestamps.

Python, Go and Rust test suites all check these files, so ids, canonical bytes, signatures and
precedence agree byte for byte across languages. Everything is deterministic (ed25519 and
RFC 6979 secp256k1 signatures), so regenerating reproduces the committed files exactly.

    python -m registry_p2p.tools.gen_vectors [OUTPUT_DIR]
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from libp2p.crypto.ed25519 import create_new_key_pair as ed25519_pair
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.secp256k1 import create_new_key_pair as secp256k1_pair
from multiaddr import Multiaddr

from registry_p2p.core import build
from registry_p2p.core.ids import b58, resource_id_bytes
from registry_p2p.core.limits import DEFAULT_LIMITS
from registry_p2p.core.model import HEALTH_CRITICAL, HEALTH_NAMES, Entry, SignedGrant, SignedRecord, SignedResource
from registry_p2p.core.signing import (
    GRANT_DOMAIN,
    HOST_DOMAIN,
    RECORD_DOMAIN,
    RESOURCE_DOMAIN,
    TOMBSTONE_DOMAIN,
    peer_id_bytes_of,
    sign,
)
from registry_p2p.pb import registry_pb2 as pb

NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "tests" / "vectors"


def _keys() -> dict[str, tuple[str, KeyPair]]:
    return {
        "alice": ("ed25519", ed25519_pair(bytes(range(1, 33)))),
        "bob": ("ed25519", ed25519_pair(bytes(range(33, 65)))),
        "carol": ("secp256k1", secp256k1_pair(bytes(range(65, 97)))),
    }


def _flip(data: bytes, index: int = -1) -> bytes:
    buf = bytearray(data)
    buf[index] ^= 0x01
    return bytes(buf)


def generate() -> dict[str, Any]:
    keys = _keys()
    pid = {name: peer_id_bytes_of(kp.private_key) for name, (_, kp) in keys.items()}
    alice, bob, carol = (keys[n][1].private_key for n in ("alice", "bob", "carol"))

    key_rows = [
        {
            "name": name,
            "type": kind,
            "private_key": kp.private_key.serialize().hex(),
            "public_key": kp.public_key.serialize().hex(),
            "peer_id": b58(pid[name]),
            "peer_id_bytes": pid[name].hex(),
        }
        for name, (kind, kp) in keys.items()
    ]

    labels = ["echo", "", "a", "ünïcødé/сервис", "x" * 127, "y" * 128, "z" * 255, "label with spaces"]
    id_rows = []
    for owner in ("alice", "carol"):
        for label in labels:
            rid = resource_id_bytes(label, pid[owner])
            id_rows.append(
                {
                    "label": label,
                    "owner": b58(pid[owner]),
                    "owner_bytes": pid[owner].hex(),
                    "resource_id": rid.hex(),
                    "resource_id_b58": b58(rid),
                }
            )

    echo = resource_id_bytes("echo", pid["alice"])
    addr = Multiaddr("/ip4/127.0.0.1/tcp/4001").to_bytes()
    res = build.make_resource(alice, "echo", NOW_MS)
    res_carol = build.make_resource(carol, "echo", NOW_MS)
    rec = build.make_record(alice, echo, "svc", b"some_value", NOW_MS, addrs=[addr])
    rec_other = build.make_record(alice, echo, "other", b"v2", NOW_MS)
    part = build.make_issuer_part(bob, echo, pid["alice"], "remote", b"hosted by alice", NOW_MS)
    remote = build.countersign(alice, part.to_request(), NOW_MS, [addr])
    rec_carol = build.make_record(carol, echo, "svc", b"secp", NOW_MS)
    tomb = build.make_tombstone(alice, echo, pid["alice"], "svc", NOW_MS + 1000)
    # Health (HostBody field 4): a critical re-sign of `rec`, and a remote-hosted one.
    rec_critical = build.renew(alice, rec, NOW_MS + 5000, health=HEALTH_CRITICAL)
    remote_critical = build.renew(alice, remote, NOW_MS + 5000, health=HEALTH_CRITICAL)

    sig_rows = []
    signed_parts: list[tuple[str, bytes, str, bytes]] = [
        ("resource_alice", RESOURCE_DOMAIN, "alice", res.body),
        ("resource_carol", RESOURCE_DOMAIN, "carol", res_carol.body),
        ("host_alice", HOST_DOMAIN, "alice", rec.host_body),
        ("host_alice_critical", HOST_DOMAIN, "alice", rec_critical.host_body),
        ("record_bob", RECORD_DOMAIN, "bob", remote.issuer_body),
        ("host_carol", HOST_DOMAIN, "carol", rec_carol.host_body),
        ("tombstone_alice", TOMBSTONE_DOMAIN, "alice", tomb.body),
    ]
    for name, domain, key_name, body in signed_parts:
        signature = sign(keys[key_name][1].private_key, domain, body)
        base = {"domain": domain.decode(), "key": key_name}
        sig_rows.append(
            {
                "name": name,
                **base,
                "body": body.hex(),
                "signing_bytes": (domain + body).hex(),
                "signature": signature.hex(),
                "valid": True,
            }
        )
        sig_rows.append(
            {
                "name": name + "_tampered_body",
                **base,
                "body": _flip(body).hex(),
                "signing_bytes": (domain + _flip(body)).hex(),
                "signature": signature.hex(),
                "valid": False,
            }
        )
        sig_rows.append(
            {
                "name": name + "_tampered_signature",
                **base,
                "body": body.hex(),
                "signing_bytes": (domain + body).hex(),
                "signature": _flip(signature, 10).hex(),
                "valid": False,
            }
        )
        other = RECORD_DOMAIN if domain != RECORD_DOMAIN else TOMBSTONE_DOMAIN
        sig_rows.append(
            {
                "name": name + "_wrong_domain",
                "domain": other.decode(),
                "key": key_name,
                "body": body.hex(),
                "signing_bytes": (other + body).hex(),
                "signature": signature.hex(),
                "valid": False,
            }
        )

    def entry_row(
        name: str, data: bytes, status: str, now: int = NOW_MS, rid: bytes = echo, health: int | None = None
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "name": name,
            "kind": "entry",
            "bytes": data.hex(),
            "now_ms": now,
            "status": status,
            "resource_id": rid.hex(),
        }
        if health is not None:  # what a checker must decode from a valid record's HostBody.health
            row["health"] = HEALTH_NAMES[health]
        return row

    def host_body_variant(record: SignedRecord, host_body: bytes) -> bytes:
        """`record` with another host body, signed by its host: a fault in the host body alone."""
        message = record.to_pb()
        message.host_body = host_body
        message.host_signature = sign(alice, HOST_DOMAIN, host_body)
        return pb.Entry(record=message).SerializeToString()

    critical_body = pb.HostBody.FromString(rec_critical.host_body)
    unknown_health = pb.HostBody.FromString(rec_critical.host_body)
    unknown_health.health = 2  # type: ignore[assignment]
    # health PASSING (0) written out: field 4, varint 0. An encoder leaves a zero value out.
    passing_written = rec.host_body + b"\x20\x00"
    host_unknown_field = rec.host_body + unknown_field_bytes()
    unordered = (
        pb.HostBody(health=critical_body.health).SerializeToString()  # field 4 first
        + pb.HostBody(
            issuer_body_sha256=critical_body.issuer_body_sha256,
            host_signed_at_ms=critical_body.host_signed_at_ms,
            addrs=list(critical_body.addrs),
        ).SerializeToString()
    )

    def resource_row(name: str, data: bytes, status: str, now: int = NOW_MS) -> dict[str, Any]:
        return {"name": name, "kind": "resource", "bytes": data.hex(), "now_ms": now, "status": status}

    # Forgeries and faults, one fault each.
    copied_host_sig = rec_other.to_pb()
    copied_host_sig.host_signature = rec.host_signature  # Fluence's constant-signature bug
    swapped_body = rec.to_pb()
    swapped_body.issuer_body = rec_other.issuer_body  # host body no longer covers this issuer body
    self_with_issuer_sig = rec.to_pb()
    self_with_issuer_sig.issuer_signature = sign(alice, RECORD_DOMAIN, rec.issuer_body)
    remote_bad_issuer = remote.to_pb()
    remote_bad_issuer.issuer_signature = _flip(remote.issuer_signature, 5)
    tampered_res = res.to_pb()
    tampered_res.signature = _flip(res.signature, 3)
    big_value = build.make_record(alice, echo, "big", b"\0" * 4097, NOW_MS, limits=_unbounded())
    long_ttl = build.make_record(alice, echo, "ttl", b"", NOW_MS, ttl_s=259_201, limits=_unbounded())
    short_ttl = build.make_record(alice, echo, "ttl", b"", NOW_MS, ttl_s=59, limits=_unbounded())
    future = build.make_record(alice, echo, "future", b"", NOW_MS + 60_001)
    future_ok = build.make_record(alice, echo, "skew", b"", NOW_MS + 60_000)
    short = build.make_record(alice, echo, "short", b"", NOW_MS - 60_000, ttl_s=60)
    old_tomb = build.make_tombstone(alice, echo, pid["alice"], "svc", NOW_MS - 259_200_000)
    res_future = build.make_resource(alice, "echo", NOW_MS + 60_001)
    long_label = build.make_resource(alice, "l" * 256, NOW_MS, limits=_unbounded())
    # Canonical encodings: unsigned key fields only where a signature check needs them, no
    # unknown fields (a relay could otherwise grow signed content or make a tie-winning twin).
    alice_key = keys["alice"][1].public_key.serialize()
    bob_key = keys["bob"][1].public_key.serialize()
    host_key_carried = rec.to_pb()
    host_key_carried.host_public_key = alice_key
    self_issuer_key = rec.to_pb()
    self_issuer_key.issuer_public_key = alice_key
    remote_issuer_key = remote.to_pb()
    remote_issuer_key.issuer_public_key = bob_key
    tomb_key = tomb.to_pb()
    tomb_key.issuer_public_key = alice_key
    res_key = res.to_pb()
    res_key.owner_public_key = alice_key
    unknown_field = unknown_field_bytes()
    inner_unknown = pb.Entry(record=pb.Record.FromString(rec.to_pb().SerializeToString() + unknown_field))

    entry_rows = [
        resource_row("resource_ok", res.encode(), "OK"),
        resource_row("resource_secp256k1_ok", res_carol.encode(), "OK"),
        resource_row("resource_tampered_signature", tampered_res.SerializeToString(), "INVALID_SIGNATURE"),
        resource_row("resource_from_future", res_future.encode(), "FROM_FUTURE"),
        resource_row("resource_label_too_large", long_label.encode(), "TOO_LARGE"),
        resource_row("resource_garbage", b"\xff\xff\xff", "MALFORMED"),
        resource_row("resource_owner_key_already_in_peer_id", res_key.SerializeToString(), "MALFORMED"),
        resource_row("resource_unknown_field", res.encode() + unknown_field, "MALFORMED"),
        entry_row("record_self_hosted_ok", rec.encode(), "OK", health=rec.health),
        entry_row("record_remote_hosted_ok", remote.encode(), "OK", health=remote.health),
        entry_row("record_critical_ok", rec_critical.encode(), "OK", now=NOW_MS + 5000, health=HEALTH_CRITICAL),
        entry_row(
            "record_remote_hosted_critical_ok",
            remote_critical.encode(),
            "OK",
            now=NOW_MS + 5000,
            health=HEALTH_CRITICAL,
        ),
        entry_row(
            "record_health_unknown_value",
            host_body_variant(rec, unknown_health.SerializeToString()),
            "MALFORMED",
            now=NOW_MS + 5000,
        ),
        entry_row("record_health_passing_written_out", host_body_variant(rec, passing_written), "MALFORMED"),
        entry_row("record_host_body_unknown_field", host_body_variant(rec, host_unknown_field), "MALFORMED"),
        entry_row("record_host_body_out_of_order", host_body_variant(rec, unordered), "MALFORMED", now=NOW_MS + 5000),
        entry_row("record_secp256k1_ok", rec_carol.encode(), "OK"),
        entry_row("record_at_skew_limit_ok", future_ok.encode(), "OK"),
        entry_row(
            "record_copied_host_signature", pb.Entry(record=copied_host_sig).SerializeToString(), "INVALID_SIGNATURE"
        ),
        entry_row("record_issuer_body_swapped", pb.Entry(record=swapped_body).SerializeToString(), "INVALID_SIGNATURE"),
        entry_row(
            "record_remote_bad_issuer_signature",
            pb.Entry(record=remote_bad_issuer).SerializeToString(),
            "INVALID_SIGNATURE",
        ),
        entry_row(
            "record_self_hosted_with_issuer_signature",
            pb.Entry(record=self_with_issuer_sig).SerializeToString(),
            "MALFORMED",
        ),
        entry_row(
            "record_for_another_resource",
            rec.encode(),
            "INVALID_SIGNATURE",
            rid=resource_id_bytes("other", pid["alice"]),
        ),
        entry_row("record_value_too_large", big_value.encode(), "TOO_LARGE"),
        entry_row("record_ttl_too_large", long_ttl.encode(), "TOO_LARGE"),
        entry_row("record_ttl_too_small", short_ttl.encode(), "MALFORMED"),
        entry_row("record_from_future", future.encode(), "FROM_FUTURE"),
        entry_row("record_expired_exactly", short.encode(), "EXPIRED"),
        entry_row("record_live_one_ms_before_expiry", short.encode(), "OK", now=NOW_MS - 1),
        entry_row("tombstone_ok", tomb.encode(), "OK"),
        entry_row(
            "tombstone_tampered",
            pb.Entry(
                tombstone=pb.Tombstone(body=_flip(tomb.body, tomb.body.index(b"svc")), signature=tomb.signature)
            ).SerializeToString(),
            "INVALID_SIGNATURE",
        ),
        entry_row("tombstone_past_lifetime", old_tomb.encode(), "EXPIRED"),
        entry_row(
            "record_host_key_already_in_peer_id", pb.Entry(record=host_key_carried).SerializeToString(), "MALFORMED"
        ),
        entry_row(
            "record_self_hosted_with_issuer_key", pb.Entry(record=self_issuer_key).SerializeToString(), "MALFORMED"
        ),
        entry_row(
            "record_issuer_key_already_in_peer_id", pb.Entry(record=remote_issuer_key).SerializeToString(), "MALFORMED"
        ),
        entry_row("tombstone_key_already_in_peer_id", pb.Entry(tombstone=tomb_key).SerializeToString(), "MALFORMED"),
        entry_row("entry_unknown_field", rec.encode() + unknown_field, "MALFORMED"),
        entry_row("record_unknown_field", inner_unknown.SerializeToString(), "MALFORMED"),
        entry_row("entry_empty", b"", "MALFORMED"),
        entry_row("entry_garbage", b"\x0a\x05\x0a\x03\xff\xfe", "MALFORMED"),
    ]

    # Precedence: same identity (alice, alice, "svc") unless noted.
    def at(issued: int, signed: int, value: bytes = b"v") -> SignedRecord:
        r = build.make_record(alice, echo, "svc", value, issued)
        return r if signed == issued else build.renew(alice, r, signed)

    t_same = build.make_tombstone(alice, echo, pid["alice"], "svc", NOW_MS)
    t_later = build.make_tombstone(alice, echo, pid["alice"], "svc", NOW_MS + 1)
    r_now = at(NOW_MS, NOW_MS)
    r_renewed = at(NOW_MS, NOW_MS + 5000)
    r_other_value = at(NOW_MS, NOW_MS, b"w")
    tie_a, tie_b = sorted([r_now, r_other_value], key=lambda e: e.host_signature)
    prec_rows: list[tuple[str, Entry, Entry, str]] = [
        ("newer_issued_at_wins", at(NOW_MS + 1, NOW_MS + 1), r_now, "a"),
        ("older_issued_at_loses", r_now, at(NOW_MS + 1, NOW_MS + 1), "b"),
        ("tombstone_beats_record_same_issued_at", t_same, r_now, "a"),
        ("tombstone_beats_older_record", t_later, r_renewed, "a"),
        ("newer_record_beats_tombstone", at(NOW_MS + 2, NOW_MS + 2), t_later, "a"),
        ("renewed_record_wins", r_renewed, r_now, "a"),
        # A change of health is a re-sign: the newer host signature wins, whichever the status.
        ("critical_resign_beats_passing", build.renew(alice, r_now, NOW_MS + 5000, health=HEALTH_CRITICAL), r_now, "a"),
        (
            "passing_resign_beats_critical",
            build.renew(alice, r_now, NOW_MS + 9000),
            build.renew(alice, r_now, NOW_MS + 5000, health=HEALTH_CRITICAL),
            "a",
        ),
        (
            "older_critical_loses_to_newer_passing",
            build.renew(alice, r_now, NOW_MS + 5000, health=HEALTH_CRITICAL),
            build.renew(alice, r_now, NOW_MS + 6000),
            "b",
        ),
        ("full_tie_greater_host_signature_wins", tie_a, tie_b, "b"),
        ("identical", r_now, r_now, "equal"),
        ("identical_tombstones", t_same, t_same, "equal"),
    ]
    precedence = [{"name": n, "a": a.encode().hex(), "b": b.encode().hex(), "winner": w} for n, a, b, w in prec_rows]
    return {
        "keys.json": key_rows,
        "resource_ids.json": id_rows,
        "signatures.json": sig_rows,
        "entries.json": entry_rows,
        "precedence.json": precedence,
        "grants.json": _grant_rows(keys, pid),
    }


def _grant_rows(keys: dict[str, tuple[str, KeyPair]], pid: dict[str, bytes]) -> list[dict[str, Any]]:
    """Owner-approved resources (grants.json), kept apart so that older checkers' files are unchanged.

    Rows by `kind`: "signature" (as signatures.json), "resource" (as in entries.json: an
    owner-approved resource, OK, and one with an unknown policy number, MALFORMED), "grant" (a
    grant entry validated against `resource` at `now_ms`: `status`), "authorize" (may `record`,
    with `grant` as its issuer's winning grant entry or absent, be stored under `resource` at
    `now_ms`: `authorized`) and "precedence" (as precedence.json, grant vs revocation).
    """
    alice, bob = keys["alice"][1].private_key, keys["bob"][1].private_key
    fleet = build.make_resource(alice, "fleet", NOW_MS, policy="owner-approved")
    open_fleet = build.make_resource(alice, "fleet", NOW_MS - 1)
    rid = fleet.id

    def grant(at: int = NOW_MS, **kw: Any) -> SignedGrant:
        return build.make_grant(alice, rid, pid["bob"], at, **kw)

    g = grant(service_prefix="web/", expires_at_ms=NOW_MS + 3_600_000)
    g_any = grant()
    rev = grant(revoked=True)
    rev_later = grant(NOW_MS + 1, revoked=True)
    g_newer = grant(NOW_MS + 2)
    signature = sign(alice, GRANT_DOMAIN, g.body)
    rows: list[dict[str, Any]] = [
        {
            "name": "grant_alice",
            "kind": "signature",
            "domain": GRANT_DOMAIN.decode(),
            "key": "alice",
            "body": g.body.hex(),
            "signing_bytes": (GRANT_DOMAIN + g.body).hex(),
            "signature": signature.hex(),
            "valid": True,
        },
        {
            "name": "grant_alice_wrong_domain",
            "kind": "signature",
            "domain": RESOURCE_DOMAIN.decode(),
            "key": "alice",
            "body": g.body.hex(),
            "signing_bytes": (RESOURCE_DOMAIN + g.body).hex(),
            "signature": signature.hex(),
            "valid": False,
        },
    ]

    def grant_row(name: str, entry: bytes, status: str, resource: SignedResource = fleet, now: int = NOW_MS) -> None:
        rows.append(
            {
                "name": name,
                "kind": "grant",
                "resource": resource.encode().hex(),
                "bytes": entry.hex(),
                "now_ms": now,
                "status": status,
            }
        )

    by_bob = build.make_grant(bob, rid, pid["bob"], NOW_MS)
    other = build.make_grant(alice, resource_id_bytes("other", pid["alice"]), pid["bob"], NOW_MS)
    tampered = g.to_pb()
    tampered.signature = _flip(g.signature, 7)
    carried_key = g.to_pb()
    carried_key.owner_public_key = keys["alice"][1].public_key.serialize()
    rows.append(
        {
            "name": "resource_owner_approved_ok",
            "kind": "resource",
            "bytes": fleet.encode().hex(),
            "now_ms": NOW_MS,
            "status": "OK",
        }
    )
    # Field 4 (write_policy) = 7, a number no policy has; appended by hand (protobuf enums are open).
    body = open_fleet.body + b"\x20\x07"
    rows.append(
        {
            "name": "resource_unknown_policy",
            "kind": "resource",
            "bytes": pb.Resource(body=body, signature=sign(alice, RESOURCE_DOMAIN, body)).SerializeToString().hex(),
            "now_ms": NOW_MS,
            "status": "MALFORMED",
        }
    )
    grant_row("grant_ok", g.encode(), "OK")
    grant_row("grant_without_prefix_or_expiry_ok", g_any.encode(), "OK")
    grant_row("revocation_ok", rev.encode(), "OK")
    grant_row("grant_signed_by_non_owner", by_bob.encode(), "INVALID_SIGNATURE")
    grant_row("grant_for_another_resource", other.encode(), "INVALID_SIGNATURE")
    grant_row("grant_tampered_signature", pb.Entry(grant=tampered).SerializeToString(), "INVALID_SIGNATURE")
    grant_row("grant_from_future", grant(NOW_MS + 60_001).encode(), "FROM_FUTURE")
    grant_row("grant_expired", g.encode(), "EXPIRED", now=NOW_MS + 3_600_000)
    grant_row("grant_to_the_owner", build.make_grant(alice, rid, pid["alice"], NOW_MS).encode(), "MALFORMED")
    grant_row("grant_owner_key_already_in_peer_id", pb.Entry(grant=carried_key).SerializeToString(), "MALFORMED")
    grant_row(
        "grant_prefix_too_large",
        build.make_grant(alice, rid, pid["bob"], NOW_MS, service_prefix="p" * 129, limits=_wide_prefix()).encode(),
        "TOO_LARGE",
    )
    grant_row("grant_unknown_field", g.encode() + b"\xf8\x01\x07", "MALFORMED")

    def authorize(name: str, record: SignedRecord, entry: SignedGrant | None, ok: bool, **kw: Any) -> None:
        rows.append(
            {
                "name": name,
                "kind": "authorize",
                "resource": kw.get("resource", fleet).encode().hex(),
                "record": record.encode().hex(),
                "grant": entry.encode().hex() if entry is not None else None,
                "now_ms": kw.get("now", NOW_MS),
                "authorized": ok,
            }
        )

    web = build.make_record(bob, rid, "web/1", b"v", NOW_MS)
    db = build.make_record(bob, rid, "db/1", b"v", NOW_MS)
    own = build.make_record(alice, rid, "any", b"v", NOW_MS)
    authorize("owner_needs_no_grant", own, None, True)
    authorize("stranger_refused", web, None, False)
    authorize("granted_prefix_accepted", web, g, True)
    authorize("granted_other_prefix_refused", db, g, False)
    authorize("grant_without_prefix_accepts_any", db, g_any, True)
    authorize("expired_grant_refused", web, g, False, now=NOW_MS + 3_600_000)
    authorize("revoked_refused", web, rev, False)
    authorize("open_resource_accepts_stranger", web, None, True, resource=open_fleet)
    precedence = [
        ("revocation_beats_grant_same_issued_at", rev, g_any, "a"),
        ("grant_loses_to_revocation_same_issued_at", g_any, rev, "b"),
        ("newer_revocation_beats_grant", rev_later, g, "a"),
        ("newer_grant_beats_revocation", g_newer, rev_later, "a"),
        ("identical_grants", g, g, "equal"),
    ]
    rows.extend(
        {"name": n, "kind": "precedence", "a": a.encode().hex(), "b": b.encode().hex(), "winner": w}
        for n, a, b, w in precedence
    )
    return rows


def _wide_prefix() -> Any:
    from dataclasses import replace

    return replace(DEFAULT_LIMITS, max_service_id_bytes=1 << 20)


def unknown_field_bytes() -> bytes:
    return b"\xf8\x01\x07"  # field 31, varint 7: in no message of registry.proto


def _unbounded() -> Any:
    """Limits wide enough to build the over-limit vectors (the checker uses the defaults)."""
    from dataclasses import replace

    return replace(DEFAULT_LIMITS, max_value_bytes=1 << 20, max_ttl_s=1 << 30, min_ttl_s=1, max_label_bytes=1 << 20)


def render(files: dict[str, Any]) -> dict[str, str]:
    return {name: json.dumps(rows, indent=1, ensure_ascii=False) + "\n" for name, rows in files.items()}


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    for name, text in render(generate()).items():
        (out / name).write_text(text, encoding="utf-8")
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        print(f"{out / name}  sha256:{digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
