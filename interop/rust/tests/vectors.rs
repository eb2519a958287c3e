//! Checks every shared test vector in tests/vectors/*.json (format: protocols/INTEROP-CONTRACT.md).

use std::cmp::Ordering;
use std::path::PathBuf;

use libp2p::identity::{Keypair, PublicKey};
use registry_peer::core;
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

fn load(name: &str) -> Vec<Value> {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {} ({e}); generate the vectors first (make vectors)", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match v {
        Value::Array(a) => {
            assert!(!a.is_empty(), "{name} has no cases");
            a
        }
        _ => panic!("{name}: expected a JSON array"),
    }
}

fn s<'a>(c: &'a Value, k: &str) -> &'a str {
    c.get(k).and_then(|v| v.as_str()).unwrap_or_else(|| panic!("case {c}: missing string {k:?}"))
}

fn hx(c: &Value, k: &str) -> Vec<u8> {
    hex::decode(s(c, k)).unwrap_or_else(|e| panic!("case {}: field {k:?} is not hex: {e}", name(c)))
}

fn name(c: &Value) -> String {
    c.get("name").and_then(|v| v.as_str()).unwrap_or("?").to_string()
}

/// A domain given as text ("registry-p2p/record/v1:") or as hex.
fn domain(c: &Value) -> Vec<u8> {
    let d = s(c, "domain");
    if d.contains('/') || d.contains(':') {
        d.as_bytes().to_vec()
    } else {
        hex::decode(d).unwrap_or_else(|_| d.as_bytes().to_vec())
    }
}

/// A JSON bool, or the strings "true"/"True"/"false"/"False".
fn boolish(c: &Value, k: &str) -> bool {
    match c.get(k) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(t)) if t.eq_ignore_ascii_case("true") => true,
        Some(Value::String(t)) if t.eq_ignore_ascii_case("false") => false,
        other => panic!("case {}: field {k:?} is not a bool: {other:?}", name(c)),
    }
}

/// A JSON integer, or a decimal string.
fn u64ish(c: &Value, k: &str) -> u64 {
    match c.get(k) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or_else(|| panic!("case {}: {k} not u64", name(c))),
        Some(Value::String(t)) => t.parse().unwrap_or_else(|e| panic!("case {}: {k}: {e}", name(c))),
        other => panic!("case {}: field {k:?} is not an integer: {other:?}", name(c)),
    }
}

struct Key {
    name: String,
    keypair: Keypair,
    peer_id_bytes: Vec<u8>,
}

fn keys() -> Vec<Key> {
    load("keys.json")
        .iter()
        .map(|c| {
            let kp = core::keypair_from_protobuf(&hx(c, "private_key"))
                .unwrap_or_else(|e| panic!("key {}: cannot decode private key: {e}", name(c)));
            Key { name: name(c), peer_id_bytes: hx(c, "peer_id_bytes"), keypair: kp }
        })
        .collect()
}

#[test]
fn keys_json() {
    let cases = load("keys.json");
    for c in &cases {
        let kp = core::keypair_from_protobuf(&hx(c, "private_key")).unwrap_or_else(|e| panic!("{}: {e}", name(c)));
        let pubkey = kp.public();
        assert_eq!(pubkey.encode_protobuf(), hx(c, "public_key"), "{}: public key", name(c));
        assert_eq!(PublicKey::try_decode_protobuf(&hx(c, "public_key")).unwrap(), pubkey);
        let pid = pubkey.to_peer_id();
        assert_eq!(pid.to_base58(), s(c, "peer_id"), "{}: peer id", name(c));
        assert_eq!(pid.to_bytes(), hx(c, "peer_id_bytes"), "{}: peer id bytes", name(c));
        let ty = s(c, "type");
        assert!(ty == "ed25519" || ty == "secp256k1", "{}: unknown type {ty}", name(c));
        // the signer key the verifier recovers from the peer id is the same key
        assert_eq!(core::signer_key(&pid.to_bytes(), &[]).unwrap(), pubkey);
    }
    eprintln!("keys.json: {} cases ok", cases.len());
}

#[test]
fn resource_ids_json() {
    let cases = load("resource_ids.json");
    for c in &cases {
        let owner = hx(c, "owner_bytes");
        assert_eq!(core::b58(&owner), s(c, "owner"), "{}: owner text", name(c));
        let rid = core::resource_id(s(c, "label"), &owner);
        assert_eq!(hex::encode(rid), s(c, "resource_id"), "{}: resource id (label {:?})", name(c), s(c, "label"));
        assert_eq!(core::b58(&rid), s(c, "resource_id_b58"), "{}: base58", name(c));
        assert_eq!(core::resource_id_from_text(s(c, "resource_id_b58")).unwrap(), rid);
    }
    eprintln!("resource_ids.json: {} cases ok", cases.len());
}

#[test]
fn signatures_json() {
    let keys = keys();
    let cases = load("signatures.json");
    let known = [core::RESOURCE_DOMAIN, core::RECORD_DOMAIN, core::HOST_DOMAIN, core::TOMBSTONE_DOMAIN];
    for c in &cases {
        let n = name(c);
        let key = keys.iter().find(|k| k.name == s(c, "key")).unwrap_or_else(|| panic!("{n}: unknown key"));
        let dom = domain(c);
        let body = hx(c, "body");
        let signing = hx(c, "signing_bytes");
        let sig = hx(c, "signature");
        let valid = boolish(c, "valid");
        let mut expect_signing = dom.clone();
        expect_signing.extend_from_slice(&body);
        assert_eq!(signing, expect_signing, "{n}: signing_bytes must be domain || body");
        let ok = key.keypair.public().verify(&signing, &sig);
        assert_eq!(ok, valid, "{n}: raw verification");
        // the verifier used for wire data agrees
        let via_core = core::verify(&key.peer_id_bytes, &dom, &body, &sig, &[]).is_ok();
        assert_eq!(via_core, valid, "{n}: core::verify");
        if valid {
            assert!(known.contains(&dom.as_slice()), "{n}: valid case with unknown domain");
            // our own signer produces a verifiable signature; ed25519 is deterministic
            let mine = core::sign(&key.keypair, &dom, &body);
            assert!(key.keypair.public().verify(&signing, &mine), "{n}: own signature");
            if s(c, "key").contains("ed25519") || mine.len() == 64 {
                assert_eq!(mine, sig, "{n}: ed25519 signature must be byte-identical");
            }
        }
    }
    eprintln!("signatures.json: {} cases ok", cases.len());
}

fn rid_field(c: &Value) -> Option<Vec<u8>> {
    let t = c.get("resource_id")?.as_str()?;
    if t.len() == 64 {
        if let Ok(b) = hex::decode(t) {
            return Some(b);
        }
    }
    core::resource_id_from_text(t).ok().map(|r| r.to_vec())
}

#[test]
fn entries_json() {
    let cases = load("entries.json");
    let mut failures = Vec::new();
    for c in &cases {
        let n = name(c);
        let bytes = hx(c, "bytes");
        let now = u64ish(c, "now_ms");
        let expected = s(c, "status");
        let rid = rid_field(c);
        let got = match s(c, "kind") {
            "resource" => match core::validate_resource_bytes(&bytes, now) {
                Ok(info) if rid.as_ref().is_some_and(|r| r.as_slice() != info.id) => "INVALID_SIGNATURE".to_string(),
                Ok(_) => "OK".to_string(),
                Err(e) => e.status.as_str_name().to_string(),
            },
            "entry" => match core::validate_entry_bytes(&bytes, now, rid.as_deref()) {
                Ok(d) => match c.get("health").and_then(|h| h.as_str()) {
                    Some(h) if h != d.health_name() => format!("OK with health {}", d.health_name()),
                    _ => "OK".to_string(),
                },
                Err(e) => e.status.as_str_name().to_string(),
            },
            k => panic!("{n}: unknown kind {k}"),
        };
        if got != expected {
            failures.push(format!("{n}: expected {expected}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "entries.json mismatches:\n{}", failures.join("\n"));
    eprintln!("entries.json: {} cases ok", cases.len());
}

#[test]
fn precedence_json() {
    let cases = load("precedence.json");
    for c in &cases {
        let n = name(c);
        let a = core::decode_entry_bytes(&hx(c, "a")).unwrap_or_else(|e| panic!("{n}: a: {e}"));
        let b = core::decode_entry_bytes(&hx(c, "b")).unwrap_or_else(|e| panic!("{n}: b: {e}"));
        let got = match core::compare(&a, &b) {
            Ordering::Greater => "a",
            Ordering::Less => "b",
            Ordering::Equal => "equal",
        };
        assert_eq!(got, s(c, "winner"), "{n}: precedence winner");
        // merge agrees with compare, in both orders
        let m1 = core::merge(vec![a.clone(), b.clone()]);
        let m2 = core::merge(vec![b.clone(), a.clone()]);
        if a.identity() == b.identity() {
            assert_eq!(m1.len(), 1, "{n}");
            assert_eq!(m1[0].precedence_key(), m2[0].precedence_key(), "{n}: merge must commute");
        }
    }
    eprintln!("precedence.json: {} cases ok", cases.len());
}

/// grants.json: owner-approved resources (INTEROP-CONTRACT.md, "Test vectors").
#[test]
fn grants_json() {
    let keys = keys();
    let cases = load("grants.json");
    let mut kinds = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    for c in &cases {
        let n = name(c);
        let kind = s(c, "kind");
        *kinds.entry(kind.to_string()).or_insert(0) += 1;
        match kind {
            "signature" => {
                let key = keys
                    .iter()
                    .find(|k| k.name == s(c, "key"))
                    .unwrap_or_else(|| panic!("{n}: unknown key"));
                let (dom, body, sig) = (domain(c), hx(c, "body"), hx(c, "signature"));
                let ok = core::verify(&key.peer_id_bytes, &dom, &body, &sig, &[]).is_ok();
                assert_eq!(ok, boolish(c, "valid"), "{n}: core::verify");
                if ok {
                    assert_eq!(dom.as_slice(), core::GRANT_DOMAIN, "{n}");
                    assert_eq!(
                        core::sign(&key.keypair, &dom, &body),
                        sig,
                        "{n}: ed25519 signature"
                    );
                }
            }
            "resource" | "grant" => {
                let now = u64ish(c, "now_ms");
                let got = if kind == "resource" {
                    core::validate_resource_bytes(&hx(c, "bytes"), now).map(|_| ())
                } else {
                    let res = core::validate_resource_bytes(&hx(c, "resource"), now)
                        .unwrap_or_else(|e| panic!("{n}: resource: {e}"));
                    core::validate_entry_bytes_with(&hx(c, "bytes"), now, Some(&res.id), Some(&res))
                        .map(|d| {
                            assert!(matches!(d, core::Decoded::Grant { .. }), "{n}: not a grant");
                        })
                };
                let got = match got {
                    Ok(()) => "OK".to_string(),
                    Err(e) => e.status.as_str_name().to_string(),
                };
                if got != s(c, "status") {
                    failures.push(format!("{n}: expected {}, got {got}", s(c, "status")));
                }
            }
            "authorize" => {
                let now = u64ish(c, "now_ms");
                let res = core::validate_resource_bytes(&hx(c, "resource"), now)
                    .unwrap_or_else(|e| panic!("{n}: {e}"));
                let record = core::decode_entry_bytes(&hx(c, "record"))
                    .unwrap_or_else(|e| panic!("{n}: {e}"));
                let grant = match c.get("grant") {
                    Some(Value::String(g)) => Some(
                        core::decode_entry_bytes(&hex::decode(g).unwrap())
                            .unwrap_or_else(|e| panic!("{n}: {e}")),
                    ),
                    _ => None,
                };
                let got = core::authorized(&res, &record, grant.as_ref(), now);
                assert_eq!(got, boolish(c, "authorized"), "{n}: authorized");
            }
            "precedence" => {
                let a =
                    core::decode_entry_bytes(&hx(c, "a")).unwrap_or_else(|e| panic!("{n}: a: {e}"));
                let b =
                    core::decode_entry_bytes(&hx(c, "b")).unwrap_or_else(|e| panic!("{n}: b: {e}"));
                assert_eq!(a.identity(), b.identity(), "{n}");
                let got = match core::compare(&a, &b) {
                    Ordering::Greater => "a",
                    Ordering::Less => "b",
                    Ordering::Equal => "equal",
                };
                assert_eq!(got, s(c, "winner"), "{n}: precedence winner");
            }
            k => panic!("{n}: unknown kind {k}"),
        }
    }
    assert!(
        failures.is_empty(),
        "grants.json mismatches:\n{}",
        failures.join("\n")
    );
    for kind in ["signature", "resource", "grant", "authorize", "precedence"] {
        assert!(kinds.get(kind).copied().unwrap_or(0) > 0, "no {kind} cases");
    }
    eprintln!("grants.json: {} cases ok", cases.len());
}
