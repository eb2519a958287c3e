//! Pure rules of the registry (INTEROP-CONTRACT.md): ids, signing domains, signature
//! verification over the exact bytes carried, validation statuses, and precedence.
//! No I/O; time is a parameter.

use std::cmp::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use libp2p::identity::{Keypair, PublicKey};
use prost::Message as _;
use sha2::{Digest, Sha256};

use crate::frame::{decode_uvarint, encode_uvarint};
use crate::pb::{self, Status};

pub const RESOURCE_ID_DOMAIN: &[u8] = b"registry-p2p/resource/v1";
pub const RESOURCE_DOMAIN: &[u8] = b"registry-p2p/resource/v1:";
pub const RECORD_DOMAIN: &[u8] = b"registry-p2p/record/v1:";
pub const HOST_DOMAIN: &[u8] = b"registry-p2p/host/v1:";
pub const TOMBSTONE_DOMAIN: &[u8] = b"registry-p2p/tombstone/v1:";
/// A GrantBody, signed by the resource's owner (the grant names no signer; its resource does).
pub const GRANT_DOMAIN: &[u8] = b"registry-p2p/grant/v1:";
/// DHT validator namespace and value-key prefix: `/reg/<b58 id>`, at most 49 bytes. (Not
/// `/registry/<b58 id>`: py-libp2p 0.8.1 refuses FIND_NODE for keys over 50 bytes that are not
/// multihashes, so lookups for that 53-54 byte key never left a Python node.)
pub const DHT_NAMESPACE: &str = "reg";
pub const DHT_KEY_PREFIX: &str = "/reg/";
pub const TOPIC_PREFIX: &str = "/registry/1.0.0/";

pub const MAX_CLOCK_SKEW_MS: u64 = 60_000;
pub const MIN_TTL_S: u32 = 60;
pub const MAX_TTL_S: u32 = 259_200;
pub const DEFAULT_TTL_S: u32 = 86_400;
pub const TOMBSTONE_LIFETIME_MS: u64 = MAX_TTL_S as u64 * 1000;
pub const MAX_VALUE: usize = 4096;
pub const MAX_LABEL: usize = 255;
pub const MAX_SERVICE_ID: usize = 128;
pub const MAX_MESSAGE: usize = 1 << 20;

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// `sha256("registry-p2p/resource/v1" || uvarint(len label) || label || uvarint(len owner) || owner)`
pub fn resource_id(label: &str, owner: &[u8]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(64 + label.len() + owner.len());
    buf.extend_from_slice(RESOURCE_ID_DOMAIN);
    encode_uvarint(label.len() as u64, &mut buf);
    buf.extend_from_slice(label.as_bytes());
    encode_uvarint(owner.len() as u64, &mut buf);
    buf.extend_from_slice(owner);
    sha256(&buf)
}

pub fn b58(data: &[u8]) -> String {
    bs58::encode(data).into_string()
}

pub fn resource_id_from_text(text: &str) -> Result<[u8; 32], String> {
    let raw = bs58::decode(text.trim()).into_vec().map_err(|_| format!("resource id {text:?} is not base58"))?;
    raw.try_into().map_err(|r: Vec<u8>| format!("resource id {text:?} is {} bytes, not 32", r.len()))
}

pub fn dht_key(rid: &[u8]) -> String {
    format!("{DHT_KEY_PREFIX}{}", b58(rid))
}

pub fn topic(rid: &[u8]) -> String {
    format!("{TOPIC_PREFIX}{}", b58(rid))
}

/// A refusal: the wire status and a readable text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub status: Status,
    pub text: String,
}

impl Invalid {
    pub fn new(status: Status, text: impl Into<String>) -> Self {
        Invalid { status, text: text.into() }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status.as_str_name(), self.text)
    }
}

fn malformed(text: impl Into<String>) -> Invalid {
    Invalid::new(Status::Malformed, text)
}

/// Parse a binary peer id (identity multihash or sha2-256 multihash): returns (code, digest).
pub fn parse_peer_id(raw: &[u8]) -> Result<(u64, &[u8]), Invalid> {
    let (code, a) = decode_uvarint(raw).ok_or_else(|| malformed("peer id: bad multihash"))?;
    let (len, b) = decode_uvarint(&raw[a..]).ok_or_else(|| malformed("peer id: bad multihash"))?;
    let digest = &raw[a + b..];
    if digest.len() as u64 != len {
        return Err(malformed("peer id multihash length mismatch"));
    }
    match code {
        0x12 if len == 32 => Ok((code, digest)),
        0x00 if len > 0 && len <= 128 => Ok((code, digest)),
        _ => Err(malformed("peer id is not an identity or sha2-256 multihash")),
    }
}

pub fn peer_id_text(raw: &[u8]) -> String {
    b58(raw)
}

/// The public key of `signer`: inlined in an identity peer id, or carried (and then it must
/// derive to `signer`).
pub fn signer_key(signer: &[u8], carried: &[u8]) -> Result<PublicKey, Invalid> {
    let (code, digest) = parse_peer_id(signer)?;
    let encoded = if code == 0 {
        digest
    } else {
        if carried.is_empty() {
            return Err(Invalid::new(
                Status::InvalidSignature,
                "signer's peer id does not inline its key and none was carried",
            ));
        }
        carried
    };
    let key = PublicKey::try_decode_protobuf(encoded)
        .map_err(|e| Invalid::new(Status::InvalidSignature, format!("unusable public key: {e}")))?;
    if code != 0 && key.to_peer_id().to_bytes() != signer {
        return Err(Invalid::new(Status::InvalidSignature, "carried public key does not match the signer"));
    }
    Ok(key)
}

/// Check that `signer` signed `domain || body` (the exact received bytes).
pub fn verify(signer: &[u8], domain: &[u8], body: &[u8], signature: &[u8], carried: &[u8]) -> Result<(), Invalid> {
    if signature.is_empty() {
        return Err(Invalid::new(Status::InvalidSignature, "missing signature"));
    }
    let key = signer_key(signer, carried)?;
    let mut msg = Vec::with_capacity(domain.len() + body.len());
    msg.extend_from_slice(domain);
    msg.extend_from_slice(body);
    if key.verify(&msg, signature) {
        Ok(())
    } else {
        let name = std::str::from_utf8(domain).unwrap_or("?").trim_end_matches(':');
        Err(Invalid::new(Status::InvalidSignature, format!("bad {name} signature")))
    }
}

pub fn sign(key: &Keypair, domain: &[u8], body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(domain.len() + body.len());
    msg.extend_from_slice(domain);
    msg.extend_from_slice(body);
    key.sign(&msg).expect("signing with a local key")
}

/// What goes into a `*_public_key` field: empty when the peer id inlines the key.
pub fn public_key_field(key: &Keypair) -> Vec<u8> {
    let enc = key.public().encode_protobuf();
    if enc.len() <= 42 {
        Vec::new()
    } else {
        enc
    }
}

pub fn own_peer_id_bytes(key: &Keypair) -> Vec<u8> {
    key.public().to_peer_id().to_bytes()
}

/// Decode a libp2p `PrivateKey` protobuf. Besides the standard encodings this accepts an
/// ed25519 `Data` of 32 bytes (the seed alone, as py-libp2p writes it) as well as 64 bytes
/// (seed || public key, as Go and Rust write it).
pub fn keypair_from_protobuf(bytes: &[u8]) -> Result<Keypair, String> {
    if let Ok(k) = Keypair::from_protobuf_encoding(bytes) {
        return Ok(k);
    }
    // minimal parse: field 1 (varint) = key type, field 2 (bytes) = data
    let mut pos = 0;
    let (mut ty, mut data) = (None, None);
    while pos < bytes.len() {
        let (tag, n) = decode_uvarint(&bytes[pos..]).ok_or("bad protobuf tag")?;
        pos += n;
        match (tag >> 3, tag & 7) {
            (1, 0) => {
                let (v, n) = decode_uvarint(&bytes[pos..]).ok_or("bad key type")?;
                pos += n;
                ty = Some(v);
            }
            (2, 2) => {
                let (len, n) = decode_uvarint(&bytes[pos..]).ok_or("bad key data")?;
                pos += n;
                let end = pos.checked_add(len as usize).filter(|e| *e <= bytes.len()).ok_or("truncated key data")?;
                data = Some(bytes[pos..end].to_vec());
                pos = end;
            }
            _ => return Err("unexpected field in PrivateKey".into()),
        }
    }
    match (ty, data) {
        (Some(1), Some(d)) if d.len() == 32 || d.len() == 64 => {
            let mut seed = d[..32].to_vec();
            let kp = Keypair::ed25519_from_bytes(&mut seed).map_err(|e| e.to_string())?;
            if d.len() == 64 && kp.public().try_into_ed25519().map(|p| p.to_bytes().to_vec()).ok() != Some(d[32..].to_vec()) {
                return Err("ed25519 private key does not match its public half".into());
            }
            Ok(kp)
        }
        (Some(2), Some(mut d)) => {
            let sk = libp2p::identity::secp256k1::SecretKey::try_from_bytes(&mut d).map_err(|e| e.to_string())?;
            Ok(libp2p::identity::secp256k1::Keypair::from(sk).into())
        }
        _ => Err("unsupported or malformed PrivateKey protobuf".into()),
    }
}

// ---------------------------------------------------------------- resources

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    pub id: [u8; 32],
    pub label: String,
    pub owner: Vec<u8>,
    pub created_at_ms: u64,
    /// write_policy OWNER_APPROVED: records only from the owner and the issuers it grants.
    pub owner_approved: bool,
}

pub fn make_resource(key: &Keypair, label: &str, created_at_ms: u64) -> (pb::Resource, [u8; 32]) {
    let owner = own_peer_id_bytes(key);
    let body = pb::ResourceBody { label: label.to_string(), owner: owner.clone(), created_at_ms, write_policy: 0 }
        .encode_to_vec();
    let signature = sign(key, RESOURCE_DOMAIN, &body);
    let res = pb::Resource { body, signature, owner_public_key: public_key_field(key) };
    (res, resource_id(label, &owner))
}

/// A `*_public_key` field is unsigned: it may hold only the key a signature check needs (the
/// signer's peer id does not inline it; for an issuer key, the record is remote-hosted), so that
/// one signed content has one encoding.
fn check_key_field(signer: &[u8], key: &[u8], checked: bool, what: &str) -> Result<(), Invalid> {
    if key.is_empty() {
        return Ok(());
    }
    if !checked {
        return Err(malformed(format!("{what} is set, but no signature of its signer is checked")));
    }
    if parse_peer_id(signer)?.0 == 0 {
        return Err(malformed(format!("{what} must be empty: the signer's peer id inlines its key")));
    }
    Ok(())
}

/// Received bytes must be the encoding of the fields they decode to: no unknown fields (prost
/// drops them), no repeated or reordered fields. A relay cannot grow signed content.
fn check_canonical(message: &impl prost::Message, bytes: &[u8], what: &str) -> Result<(), Invalid> {
    if message.encode_to_vec() != bytes {
        return Err(malformed(format!("{what} is not in its canonical encoding")));
    }
    Ok(())
}

/// Validate a `Resource` already decoded from the wire: label size, structure, future, signature.
pub fn validate_resource(res: &pb::Resource, now_ms: u64) -> Result<ResourceInfo, Invalid> {
    let body = pb::ResourceBody::decode(res.body.as_slice()).map_err(|e| malformed(format!("resource body: {e}")))?;
    if body.label.len() > MAX_LABEL {
        return Err(Invalid::new(Status::TooLarge, format!("label is over {MAX_LABEL} bytes")));
    }
    if body.label.is_empty() {
        return Err(malformed("resource label is empty"));
    }
    parse_peer_id(&body.owner)?;
    check_key_field(&body.owner, &res.owner_public_key, true, "owner_public_key")?;
    let policy = pb::WritePolicy::try_from(body.write_policy)
        .map_err(|_| malformed(format!("unknown write policy {}", body.write_policy)))?;
    if res.encoded_len() > MAX_RESOURCE_BYTES {
        return Err(Invalid::new(Status::TooLarge, format!("resource is over {MAX_RESOURCE_BYTES} bytes")));
    }
    not_future(body.created_at_ms, now_ms, "resource created_at")?;
    verify(&body.owner, RESOURCE_DOMAIN, &res.body, &res.signature, &res.owner_public_key)?;
    let id = resource_id(&body.label, &body.owner);
    let owner_approved = policy == pb::WritePolicy::OwnerApproved;
    Ok(ResourceInfo { id, label: body.label, owner: body.owner, created_at_ms: body.created_at_ms, owner_approved })
}

pub fn validate_resource_bytes(bytes: &[u8], now_ms: u64) -> Result<ResourceInfo, Invalid> {
    if bytes.len() > MAX_RESOURCE_BYTES {
        return Err(Invalid::new(Status::TooLarge, format!("resource is over {MAX_RESOURCE_BYTES} bytes")));
    }
    let res = pb::Resource::decode(bytes).map_err(|e| malformed(format!("resource: {e}")))?;
    check_canonical(&res, bytes, "resource")?;
    validate_resource(&res, now_ms)
}

/// The DHT validator `reg`: key must be `/reg/<b58 id>` with the id of the body.
pub fn validate_dht_record(key: &[u8], value: &[u8], now_ms: u64) -> Result<ResourceInfo, Invalid> {
    let key = std::str::from_utf8(key).map_err(|_| malformed("key is not utf-8"))?;
    let id_text = key.strip_prefix(DHT_KEY_PREFIX).ok_or_else(|| malformed("key is not in the /reg/ namespace"))?;
    let id = resource_id_from_text(id_text).map_err(malformed)?;
    let info = validate_resource_bytes(value, now_ms)?;
    if info.id != id {
        return Err(malformed("key does not match resource_id(label, owner)"));
    }
    Ok(info)
}

/// The DHT selector: index of the value with the highest created_at_ms (ties: first).
/// Invalid values are never selected; None when none is valid.
pub fn select_dht_record(key: &[u8], values: &[Vec<u8>], now_ms: u64) -> Option<usize> {
    let mut best: Option<(usize, u64)> = None;
    for (i, v) in values.iter().enumerate() {
        if let Ok(info) = validate_dht_record(key, v, now_ms) {
            if best.is_none_or(|(_, c)| info.created_at_ms > c) {
                best = Some((i, info.created_at_ms));
            }
        }
    }
    best.map(|(i, _)| i)
}

// ---------------------------------------------------------------- entries

/// A decoded record, tombstone or grant (bodies decoded from the carried bytes). A grant's
/// identity is (resource_id, grantee, b"", ""): no record has an empty host.
#[derive(Debug, Clone)]
pub enum Decoded {
    Record { raw: pb::Record, body: pb::RecordBody, host: pb::HostBody },
    Tombstone { raw: pb::Tombstone, body: pb::TombstoneBody },
    Grant { raw: pb::Grant, body: pb::GrantBody },
}

pub type Identity = (Vec<u8>, Vec<u8>, Vec<u8>, String);

/// Precedence tuple of the contract: record (issued, 0, host_signed, host_sig, issuer_sig),
/// tombstone (issued, 1, 0, sig, b"").
pub type PrecedenceKey = (u64, u8, u64, Vec<u8>, Vec<u8>);

impl Decoded {
    pub fn identity(&self) -> Identity {
        match self {
            Decoded::Record { body, .. } => {
                (body.resource_id.clone(), body.issuer.clone(), body.host.clone(), body.service_id.clone())
            }
            Decoded::Tombstone { body, .. } => {
                (body.resource_id.clone(), body.issuer.clone(), body.host.clone(), body.service_id.clone())
            }
            Decoded::Grant { body, .. } => (body.resource_id.clone(), body.grantee.clone(), Vec::new(), String::new()),
        }
    }

    /// The issuer of a record or tombstone; the grantee of a grant.
    pub fn issuer(&self) -> &[u8] {
        match self {
            Decoded::Record { body, .. } => &body.issuer,
            Decoded::Tombstone { body, .. } => &body.issuer,
            Decoded::Grant { body, .. } => &body.grantee,
        }
    }

    pub fn resource_id(&self) -> &[u8] {
        match self {
            Decoded::Record { body, .. } => &body.resource_id,
            Decoded::Tombstone { body, .. } => &body.resource_id,
            Decoded::Grant { body, .. } => &body.resource_id,
        }
    }

    pub fn issued_at_ms(&self) -> u64 {
        match self {
            Decoded::Record { body, .. } => body.issued_at_ms,
            Decoded::Tombstone { body, .. } => body.issued_at_ms,
            Decoded::Grant { body, .. } => body.issued_at_ms,
        }
    }

    pub fn precedence_key(&self) -> PrecedenceKey {
        match self {
            Decoded::Record { raw, body, host } => (
                body.issued_at_ms,
                0,
                host.host_signed_at_ms,
                raw.host_signature.clone(),
                raw.issuer_signature.clone(),
            ),
            Decoded::Tombstone { raw, body } => (body.issued_at_ms, 1, 0, raw.signature.clone(), Vec::new()),
            // A revocation beats a grant of the same instant, as a tombstone beats a record.
            Decoded::Grant { raw, body } => (body.issued_at_ms, u8::from(body.revoked), 0, raw.signature.clone(), Vec::new()),
        }
    }

    pub fn is_tombstone(&self) -> bool {
        matches!(self, Decoded::Tombstone { .. })
    }

    /// The host-signed health of a record (HostBody.health, absent = passing); tombstones and grants pass.
    pub fn passing(&self) -> bool {
        match self {
            Decoded::Record { host, .. } => host.health == pb::HealthStatus::HealthPassing as i32,
            _ => true,
        }
    }

    /// "passing" or "critical", as the Python views name the status.
    pub fn health_name(&self) -> &'static str {
        if self.passing() {
            "passing"
        } else {
            "critical"
        }
    }

    /// Records expire at host_signed_at + ttl; tombstones are kept for the longest TTL; grants
    /// until their expiry (none: u64::MAX).
    pub fn expires_at_ms(&self) -> u64 {
        match self {
            Decoded::Grant { body, .. } if body.expires_at_ms == 0 => u64::MAX,
            Decoded::Grant { body, .. } => body.expires_at_ms,
            Decoded::Record { body, host, .. } => host.host_signed_at_ms.saturating_add(body.ttl_s as u64 * 1000),
            Decoded::Tombstone { body, .. } => body.issued_at_ms.saturating_add(TOMBSTONE_LIFETIME_MS),
        }
    }

    pub fn to_entry(&self) -> pb::Entry {
        let kind = match self {
            Decoded::Record { raw, .. } => pb::entry::Kind::Record(raw.clone()),
            Decoded::Tombstone { raw, .. } => pb::entry::Kind::Tombstone(raw.clone()),
            Decoded::Grant { raw, .. } => pb::entry::Kind::Grant(raw.clone()),
        };
        pb::Entry { kind: Some(kind) }
    }
}

/// Compare two entries of the same identity by the contract's precedence rule.
pub fn compare(a: &Decoded, b: &Decoded) -> Ordering {
    a.precedence_key().cmp(&b.precedence_key())
}

/// True when `candidate` strictly supersedes `incumbent` (same identity): precedence, then the
/// encoded entry bytes, so that merge is a total order (commutative and idempotent).
pub fn wins(candidate: &Decoded, incumbent: &Decoded) -> bool {
    match compare(candidate, incumbent) {
        Ordering::Equal => candidate.to_entry().encode_to_vec() > incumbent.to_entry().encode_to_vec(),
        o => o == Ordering::Greater,
    }
}

/// Decode the bodies of an entry (no signature check).
pub fn decode_entry(entry: &pb::Entry) -> Result<Decoded, Invalid> {
    match &entry.kind {
        Some(pb::entry::Kind::Record(r)) => {
            let body = pb::RecordBody::decode(r.issuer_body.as_slice()).map_err(|e| malformed(format!("record body: {e}")))?;
            let host = pb::HostBody::decode(r.host_body.as_slice()).map_err(|e| malformed(format!("host body: {e}")))?;
            Ok(Decoded::Record { raw: r.clone(), body, host })
        }
        Some(pb::entry::Kind::Tombstone(t)) => {
            let body = pb::TombstoneBody::decode(t.body.as_slice()).map_err(|e| malformed(format!("tombstone body: {e}")))?;
            Ok(Decoded::Tombstone { raw: t.clone(), body })
        }
        Some(pb::entry::Kind::Grant(g)) => {
            let body = pb::GrantBody::decode(g.body.as_slice()).map_err(|e| malformed(format!("grant body: {e}")))?;
            Ok(Decoded::Grant { raw: g.clone(), body })
        }
        None => Err(malformed("entry is neither a record, a tombstone nor a grant")),
    }
}

pub fn decode_entry_bytes(bytes: &[u8]) -> Result<Decoded, Invalid> {
    let entry = pb::Entry::decode(bytes).map_err(|e| malformed(format!("entry: {e}")))?;
    decode_entry(&entry)
}

pub const MAX_ADDRS: usize = 16;
pub const MAX_ADDR_BYTES: usize = 256;
pub const MAX_RESOURCE_BYTES: usize = 4096;

fn check_service_id(service_id: &str) -> Result<(), Invalid> {
    if service_id.len() > MAX_SERVICE_ID {
        return Err(Invalid::new(Status::TooLarge, format!("service id is over {MAX_SERVICE_ID} bytes")));
    }
    Ok(())
}

fn check_rid(rid: &[u8]) -> Result<(), Invalid> {
    if rid.len() != 32 {
        return Err(malformed(format!("resource id is {} bytes, not 32", rid.len())));
    }
    Ok(())
}

fn not_future(ts: u64, now_ms: u64, what: &str) -> Result<(), Invalid> {
    if ts > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
        return Err(Invalid::new(Status::FromFuture, format!("{what} is in the future")));
    }
    Ok(())
}

/// Structural checks done while decoding (contract check order: sizes, then structure).
pub fn check_structure(d: &Decoded) -> Result<(), Invalid> {
    match d {
        Decoded::Record { raw, body, host } => {
            if body.value.len() > MAX_VALUE {
                return Err(Invalid::new(Status::TooLarge, format!("value is over {MAX_VALUE} bytes")));
            }
            check_service_id(&body.service_id)?;
            if host.addrs.len() > MAX_ADDRS {
                return Err(Invalid::new(Status::TooLarge, format!("more than {MAX_ADDRS} addrs")));
            }
            if host.addrs.iter().any(|a| a.len() > MAX_ADDR_BYTES) {
                return Err(Invalid::new(Status::TooLarge, format!("an addr is over {MAX_ADDR_BYTES} bytes")));
            }
            if body.ttl_s > MAX_TTL_S {
                return Err(Invalid::new(Status::TooLarge, format!("ttl {} s is over {MAX_TTL_S} s", body.ttl_s)));
            }
            if body.ttl_s < MIN_TTL_S {
                return Err(malformed(format!("ttl {} s is under {MIN_TTL_S} s", body.ttl_s)));
            }
            parse_peer_id(&body.issuer)?;
            parse_peer_id(&body.host)?;
            if body.issuer == body.host && !raw.issuer_signature.is_empty() {
                return Err(malformed("a self-hosted record carries no issuer signature"));
            }
            check_key_field(&body.host, &raw.host_public_key, true, "host_public_key")?;
            check_key_field(&body.issuer, &raw.issuer_public_key, body.issuer != body.host, "issuer_public_key")?;
            if pb::HealthStatus::try_from(host.health).is_err() {
                return Err(malformed(format!("health status {} is not one of the protocol's", host.health)));
            }
            // The host body is signed, but one content still has one encoding (no unknown fields,
            // health PASSING left out), as in Python and Go.
            check_canonical(host, &raw.host_body, "record host body")?;
            check_rid(&body.resource_id)
        }
        Decoded::Tombstone { raw, body } => {
            check_service_id(&body.service_id)?;
            check_rid(&body.resource_id)?;
            parse_peer_id(&body.issuer)?;
            parse_peer_id(&body.host)?;
            check_key_field(&body.issuer, &raw.issuer_public_key, true, "issuer_public_key")
        }
        Decoded::Grant { body, .. } => {
            if body.service_prefix.len() > MAX_SERVICE_ID {
                return Err(Invalid::new(Status::TooLarge, format!("service prefix is over {MAX_SERVICE_ID} bytes")));
            }
            check_rid(&body.resource_id)?;
            parse_peer_id(&body.grantee)?;
            Ok(())
        }
    }
}

/// Full validation of an entry at `now_ms` (optionally for the resource `expected_rid`), in the
/// contract's order: sizes, structure, resource id, future, expiry, signatures.
pub fn validate_entry(entry: &pb::Entry, now_ms: u64, expected_rid: Option<&[u8]>) -> Result<Decoded, Invalid> {
    validate_entry_with(entry, now_ms, expected_rid, None)
}

/// `validate_entry` with the resource a grant is checked against (its owner signs grants).
pub fn validate_entry_with(
    entry: &pb::Entry,
    now_ms: u64,
    expected_rid: Option<&[u8]>,
    resource: Option<&ResourceInfo>,
) -> Result<Decoded, Invalid> {
    let d = decode_entry(entry)?;
    check_structure(&d)?;
    if expected_rid.is_some_and(|r| r != d.resource_id()) {
        return Err(Invalid::new(Status::InvalidSignature, "entry is signed for another resource"));
    }
    match &d {
        Decoded::Record { raw, body, host } => {
            not_future(body.issued_at_ms, now_ms, "record issued_at")?;
            not_future(host.host_signed_at_ms, now_ms, "record host_signed_at")?;
            if d.expires_at_ms() <= now_ms {
                return Err(Invalid::new(Status::Expired, "record expired"));
            }
            if host.issuer_body_sha256 != sha256(&raw.issuer_body) {
                return Err(Invalid::new(Status::InvalidSignature, "host signature does not cover this issuer body"));
            }
            verify(&body.host, HOST_DOMAIN, &raw.host_body, &raw.host_signature, &raw.host_public_key)?;
            if body.issuer != body.host {
                verify(&body.issuer, RECORD_DOMAIN, &raw.issuer_body, &raw.issuer_signature, &raw.issuer_public_key)?;
            }
        }
        Decoded::Tombstone { raw, body } => {
            not_future(body.issued_at_ms, now_ms, "tombstone issued_at")?;
            if d.expires_at_ms() <= now_ms {
                return Err(Invalid::new(Status::Expired, "tombstone is past its lifetime"));
            }
            verify(&body.issuer, TOMBSTONE_DOMAIN, &raw.body, &raw.signature, &raw.issuer_public_key)?;
        }
        Decoded::Grant { raw, body } => {
            let res = resource.ok_or_else(|| {
                Invalid::new(Status::UnknownResource, "a grant is checked against its resource, which is unknown")
            })?;
            if body.resource_id != res.id {
                return Err(Invalid::new(Status::InvalidSignature, "grant is signed for another resource"));
            }
            if body.grantee == res.owner {
                return Err(malformed("the owner needs no grant to write in its own resource"));
            }
            not_future(body.issued_at_ms, now_ms, "grant issued_at")?;
            if body.expires_at_ms != 0 && body.expires_at_ms <= now_ms {
                return Err(Invalid::new(Status::Expired, "grant expired"));
            }
            if body.expires_at_ms != 0 && body.expires_at_ms <= body.issued_at_ms {
                return Err(malformed("grant expires before it is issued"));
            }
            check_key_field(&res.owner, &raw.owner_public_key, true, "owner_public_key")?;
            verify(&res.owner, GRANT_DOMAIN, &raw.body, &raw.signature, &raw.owner_public_key)?;
        }
    }
    Ok(d)
}

/// A grant entry (the issuer's winning one, or None) lets it write `service_id` at `now_ms`.
pub fn grant_allows(grant: Option<&Decoded>, service_id: &str, now_ms: u64) -> bool {
    match grant {
        Some(Decoded::Grant { body, .. }) => {
            !body.revoked
                && (body.expires_at_ms == 0 || body.expires_at_ms > now_ms)
                && service_id.starts_with(&body.service_prefix)
        }
        _ => false,
    }
}

/// May record or tombstone `d` stand under `res`'s write policy, given its issuer's winning grant entry?
pub fn authorized(res: &ResourceInfo, d: &Decoded, grant: Option<&Decoded>, now_ms: u64) -> bool {
    if !res.owner_approved || d.issuer() == res.owner.as_slice() {
        return true;
    }
    match d {
        Decoded::Grant { .. } => true,
        Decoded::Tombstone { .. } => grant.is_some(),
        Decoded::Record { body, .. } => grant_allows(grant, &body.service_id, now_ms),
    }
}

/// Merged entries less what `res`'s policy refuses, judged by the grants among them.
pub fn filter_authorized(res: Option<&ResourceInfo>, merged: Vec<Decoded>, now_ms: u64) -> Vec<Decoded> {
    let Some(res) = res.filter(|r| r.owner_approved) else {
        return merged;
    };
    let grants: std::collections::HashMap<Vec<u8>, Decoded> = merged
        .iter()
        .filter(|d| matches!(d, Decoded::Grant { .. }))
        .map(|d| (d.issuer().to_vec(), d.clone()))
        .collect();
    merged.into_iter().filter(|d| authorized(res, d, grants.get(d.issuer()), now_ms)).collect()
}

pub fn validate_entry_bytes(bytes: &[u8], now_ms: u64, expected_rid: Option<&[u8]>) -> Result<Decoded, Invalid> {
    validate_entry_bytes_with(bytes, now_ms, expected_rid, None)
}

pub fn validate_entry_bytes_with(
    bytes: &[u8],
    now_ms: u64,
    expected_rid: Option<&[u8]>,
    resource: Option<&ResourceInfo>,
) -> Result<Decoded, Invalid> {
    if bytes.len() > MAX_MESSAGE {
        return Err(Invalid::new(Status::TooLarge, "entry exceeds 1 MiB"));
    }
    let entry = pb::Entry::decode(bytes).map_err(|e| malformed(format!("entry: {e}")))?;
    check_structure(&decode_entry(&entry)?)?;
    check_canonical(&entry, bytes, "entry")?;
    validate_entry_with(&entry, now_ms, expected_rid, resource)
}

/// First byte of a serialized EntryBatch (field 15, length-delimited); no serialized Entry
/// begins with it (records are field 1, tombstones field 2).
pub const BATCH_TAG: u8 = 0x7A;
pub const MAX_BATCH_ENTRIES: usize = 256;

/// Validate a gossip payload: one serialized Entry, or an EntryBatch of several. An entry that
/// expired in transit inside a batch is skipped; any other invalid entry fails the payload.
pub fn validate_gossip(data: &[u8], now_ms: u64, expected_rid: Option<&[u8]>) -> Result<Vec<Decoded>, Invalid> {
    if data.first() != Some(&BATCH_TAG) {
        return match validate_entry_bytes(data, now_ms, expected_rid) {
            Ok(d) => Ok(vec![d]),
            Err(e) if e.status == Status::UnknownResource => Ok(Vec::new()),
            Err(e) => Err(e),
        };
    }
    let batch = pb::EntryBatch::decode(data).map_err(|e| malformed(format!("entry batch: {e}")))?;
    if batch.entries.is_empty() {
        return Err(malformed("empty entry batch"));
    }
    if batch.entries.len() > MAX_BATCH_ENTRIES {
        return Err(Invalid::new(Status::TooLarge, format!("entry batch over {MAX_BATCH_ENTRIES} entries")));
    }
    let mut out = Vec::with_capacity(batch.entries.len());
    for raw in &batch.entries {
        match validate_entry_bytes(raw, now_ms, expected_rid) {
            Ok(d) => out.push(d),
            Err(e) if e.status == Status::Expired => continue,
            // A grant cannot be judged without its resource: not a forgery.
            Err(e) if e.status == Status::UnknownResource => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A self-hosted record (issuer = host = `key`), both parts signed by the same key.
pub fn make_self_hosted_record(
    key: &Keypair,
    rid: &[u8],
    service_id: &str,
    value: Vec<u8>,
    issued_at_ms: u64,
    ttl_s: u32,
    addrs: Vec<Vec<u8>>,
) -> pb::Record {
    let me = own_peer_id_bytes(key);
    let issuer_body = pb::RecordBody {
        resource_id: rid.to_vec(),
        issuer: me.clone(),
        host: me,
        service_id: service_id.to_string(),
        value,
        issued_at_ms,
        ttl_s,
    }
    .encode_to_vec();
    let host_body = pb::HostBody {
        issuer_body_sha256: sha256(&issuer_body).to_vec(),
        host_signed_at_ms: issued_at_ms,
        addrs,
        health: pb::HealthStatus::HealthPassing as i32, // the zero value: not encoded
    }
    .encode_to_vec();
    let pk = public_key_field(key);
    pb::Record {
        issuer_public_key: Vec::new(),
        // self-hosted: the issuer signature MUST be empty; the host signature covers the
        // issuer body through its sha256 (INTEROP-CONTRACT.md).
        issuer_signature: Vec::new(),
        host_signature: sign(key, HOST_DOMAIN, &host_body),
        issuer_body,
        host_body,
        host_public_key: pk,
    }
}

pub fn make_tombstone(key: &Keypair, rid: &[u8], host: &[u8], service_id: &str, issued_at_ms: u64) -> pb::Tombstone {
    let body = pb::TombstoneBody {
        resource_id: rid.to_vec(),
        issuer: own_peer_id_bytes(key),
        host: host.to_vec(),
        service_id: service_id.to_string(),
        issued_at_ms,
    }
    .encode_to_vec();
    pb::Tombstone { signature: sign(key, TOMBSTONE_DOMAIN, &body), body, issuer_public_key: public_key_field(key) }
}

/// Merge entries with the precedence rule: one winner per identity.
pub fn merge(entries: impl IntoIterator<Item = Decoded>) -> Vec<Decoded> {
    let mut best: std::collections::HashMap<Identity, Decoded> = std::collections::HashMap::new();
    for e in entries {
        let id = e.identity();
        match best.get(&id) {
            Some(cur) if !wins(&e, cur) => {}
            _ => {
                best.insert(id, e);
            }
        }
    }
    best.into_values().collect()
}

/// Live records after a merge: tombstoned and expired ones removed, newest issued_at first.
/// Live records, newest issued_at first: only those their host reports passing unless
/// `include_critical` (as the Python resolve).
pub fn live_records(merged: Vec<Decoded>, now_ms: u64, include_critical: bool) -> Vec<Decoded> {
    let mut out: Vec<Decoded> = merged
        .into_iter()
        .filter(|e| matches!(e, Decoded::Record { .. }) && now_ms < e.expires_at_ms() && (include_critical || e.passing()))
        .collect();
    out.sort_by(|a, b| b.issued_at_ms().cmp(&a.issued_at_ms()).then_with(|| a.identity().cmp(&b.identity())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gossip_batches_carry_several_entries_and_a_forgery_fails_them() {
        let key = Keypair::generate_ed25519();
        let now = now_ms();
        let rid = resource_id("batch", &key.public().to_peer_id().to_bytes());
        let entry = |service: &str| {
            let record = make_self_hosted_record(&key, &rid, service, b"v".to_vec(), now, 3600, vec![]);
            pb::Entry { kind: Some(pb::entry::Kind::Record(record)) }.encode_to_vec()
        };
        let (a, b) = (entry("a"), entry("b"));
        let batch = pb::EntryBatch { entries: vec![a.clone(), b.clone()] }.encode_to_vec();
        assert_eq!(batch[0], BATCH_TAG);
        assert_eq!(validate_gossip(&batch, now, Some(&rid)).unwrap().len(), 2);
        assert_eq!(validate_gossip(&a, now, Some(&rid)).unwrap().len(), 1);
        let mut forged = b.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let bad = pb::EntryBatch { entries: vec![a, forged] }.encode_to_vec();
        assert!(validate_gossip(&bad, now, Some(&rid)).is_err());
        assert!(validate_gossip(&[BATCH_TAG], now, Some(&rid)).is_err());
    }

    #[test]
    fn sign_and_validate_roundtrip() {
        let key = Keypair::generate_ed25519();
        let now = now_ms();
        let (res, rid) = make_resource(&key, "echo", now);
        let info = validate_resource(&res, now).unwrap();
        assert_eq!(info.id, rid);
        let bytes = res.encode_to_vec();
        assert!(validate_dht_record(dht_key(&rid).as_bytes(), &bytes, now).is_ok());
        let mut tampered = res.clone();
        tampered.signature[3] ^= 1;
        assert_eq!(validate_resource(&tampered, now).unwrap_err().status, Status::InvalidSignature);
        // wrong key
        let other = resource_id("other", &own_peer_id_bytes(&key));
        assert!(validate_dht_record(dht_key(&other).as_bytes(), &bytes, now).is_err());
        // future
        assert_eq!(validate_resource(&res, now - 61_000).unwrap_err().status, Status::FromFuture);

        let rec = make_self_hosted_record(&key, &rid, "svc", b"v".to_vec(), now, 60, vec![]);
        let e = pb::Entry { kind: Some(pb::entry::Kind::Record(rec)) };
        let d = validate_entry(&e, now, Some(&rid)).unwrap();
        assert_eq!(validate_entry(&e, now + 60_000, None).unwrap_err().status, Status::Expired);
        let t = make_tombstone(&key, &rid, &own_peer_id_bytes(&key), "svc", now);
        let te = pb::Entry { kind: Some(pb::entry::Kind::Tombstone(t)) };
        let td = validate_entry(&te, now, None).unwrap();
        assert_eq!(compare(&td, &d), Ordering::Greater);
        assert!(live_records(merge(vec![d.clone(), td]), now, true).is_empty());
        assert_eq!(live_records(merge(vec![d]), now, true).len(), 1);
    }

    #[test]
    fn secp256k1_signatures() {
        let key = Keypair::generate_secp256k1();
        let (res, _) = make_resource(&key, "x", now_ms());
        validate_resource(&res, now_ms()).unwrap();
    }
}
