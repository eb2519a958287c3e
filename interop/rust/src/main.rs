//! registry-peer-rust: a registry-p2p peer driven by line-delimited JSON on stdin/stdout.
//! See README.md for the command set. Logs go to stderr only.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures::stream::{FuturesUnordered, StreamExt};
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use prost::Message as _;
use registry_peer::core::{self, Decoded};
use registry_peer::net::{self, Net, REQUEST_TIMEOUT};
use registry_peer::pb::{self, message::Body, Status};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const EXIT: &str = "\u{0}exit";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

struct App {
    net: Net,
    k: usize,
    resources: Mutex<HashMap<[u8; 32], pb::Resource>>,
    last_ts: Mutex<u64>,
    next_request_id: Mutex<u64>,
}

type Reply = Result<Map<String, Value>, String>;

fn usage() -> ! {
    eprintln!(
        "usage: registry-peer-rust [--listen MULTIADDR]... [--key-hex HEX] [--bootstrap MULTIADDR/p2p/ID]... [--k N]\n\
         Reads one JSON command per line on stdin, answers one JSON line per command on stdout."
    );
    std::process::exit(2)
}

struct Args {
    listen: Vec<Multiaddr>,
    key: Keypair,
    bootstrap: Vec<Multiaddr>,
    k: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = Vec::new();
    let mut key = None;
    let mut bootstrap = Vec::new();
    let mut k = 20usize;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        if name == "-h" || name == "--help" {
            usage();
        }
        let mut val = || inline.clone().or_else(|| it.next()).ok_or_else(|| format!("{name} needs a value"));
        match name.as_str() {
            "--listen" => listen.push(val()?.parse::<Multiaddr>().map_err(|e| format!("--listen: {e}"))?),
            "--bootstrap" => bootstrap.push(val()?.parse::<Multiaddr>().map_err(|e| format!("--bootstrap: {e}"))?),
            "--key-hex" => {
                let bytes = hex::decode(val()?.trim()).map_err(|e| format!("--key-hex: {e}"))?;
                key = Some(core::keypair_from_protobuf(&bytes).map_err(|e| format!("--key-hex: {e}"))?);
            }
            "--k" => k = val()?.parse().map_err(|e| format!("--k: {e}"))?,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if listen.is_empty() {
        listen.push("/ip4/127.0.0.1/tcp/0".parse().unwrap());
    }
    Ok(Args { listen, key: key.unwrap_or_else(Keypair::generate_ed25519), bootstrap, k: k.max(1) })
}

fn with_p2p(addrs: &[Multiaddr], peer: &PeerId) -> Vec<String> {
    addrs.iter().map(|a| format!("{a}/p2p/{peer}")).collect()
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn str_arg<'a>(cmd: &'a Value, name: &str) -> Result<&'a str, String> {
    cmd.get(name).and_then(|v| v.as_str()).ok_or_else(|| format!("missing string field {name:?}"))
}

fn u64_arg(cmd: &Value, name: &str, default: u64) -> Result<u64, String> {
    match cmd.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_u64().ok_or_else(|| format!("field {name:?} must be a non-negative integer")),
    }
}

fn rid_arg(cmd: &Value) -> Result<[u8; 32], String> {
    core::resource_id_from_text(str_arg(cmd, "resource_id")?)
}

fn status_name(r: &Option<pb::Result>) -> Option<String> {
    match r {
        None => None,
        Some(r) if r.status == Status::Ok as i32 => None,
        Some(r) => Some(Status::try_from(r.status).map(|s| s.as_str_name().to_string()).unwrap_or(format!("STATUS_{}", r.status))),
    }
}

fn resource_json(info: &core::ResourceInfo) -> Value {
    json!({
        "resource_id": core::b58(&info.id),
        "label": info.label,
        "owner": core::b58(&info.owner),
        "created_at_ms": info.created_at_ms,
    })
}

impl App {
    fn next_ts(&self) -> u64 {
        let mut last = self.last_ts.lock().unwrap();
        let t = core::now_ms().max(*last + 1);
        *last = t;
        t
    }

    fn msg(&self, body: Body) -> pb::Message {
        let mut n = self.next_request_id.lock().unwrap();
        *n += 1;
        pb::Message { request_id: *n, body: Some(body) }
    }

    async fn own_addrs(&self) -> Vec<Multiaddr> {
        self.net.info().await.map(|(_, a)| a).unwrap_or_default()
    }

    /// Send one request to every peer (concurrently, 6 s each); `check` turns a response into
    /// Ok (an ack) or the status text to report.
    async fn fan_out(
        &self,
        peers: &[PeerId],
        body: Body,
        check: fn(&pb::Message) -> Result<(), String>,
    ) -> (usize, BTreeMap<String, String>) {
        let mut futs: FuturesUnordered<_> = peers
            .iter()
            .map(|p| {
                let msg = self.msg(body.clone());
                let net = self.net.clone();
                let p = *p;
                async move { (p, net.request(p, msg, REQUEST_TIMEOUT + Duration::from_millis(500)).await) }
            })
            .collect();
        let mut acks = 0;
        let mut errors = BTreeMap::new();
        while let Some((p, res)) = futs.next().await {
            match res.and_then(|m| check(&m)) {
                Ok(()) => acks += 1,
                Err(e) => {
                    tracing::info!(peer = %p, "write not acknowledged: {e}");
                    errors.insert(p.to_base58(), e);
                }
            }
        }
        (acks, errors)
    }

    async fn find_resource(&self, rid: &[u8; 32], ack: usize) -> Option<(pb::Resource, core::ResourceInfo)> {
        let replicas = net::replica_set(&self.net, rid, self.k).await;
        let mut futs: FuturesUnordered<_> = replicas
            .iter()
            .map(|p| {
                let msg = self.msg(Body::GetResource(pb::GetResourceRequest { resource_id: rid.to_vec() }));
                let net = self.net.clone();
                let p = *p;
                async move { (p, net.request(p, msg, REQUEST_TIMEOUT).await) }
            })
            .collect();
        let mut best: Option<(pb::Resource, core::ResourceInfo)> = None;
        let mut answers = 0;
        while let Some((p, res)) = futs.next().await {
            let res = match res {
                Ok(pb::Message { body: Some(Body::GetResourceResponse(r)), .. }) => r.resource,
                Ok(_) => None,
                Err(e) => {
                    tracing::debug!(peer = %p, "GetResource: {e}");
                    None
                }
            };
            let Some(res) = res else { continue };
            match core::validate_resource(&res, core::now_ms()) {
                Ok(info) if info.id == *rid => {
                    answers += 1;
                    if best.as_ref().is_none_or(|(_, b)| info.created_at_ms > b.created_at_ms) {
                        best = Some((res, info));
                    }
                    if answers >= ack {
                        break;
                    }
                }
                Ok(_) => tracing::warn!(peer = %p, "GetResource returned another resource"),
                Err(e) => tracing::warn!(peer = %p, "GetResource returned an invalid resource: {e}"),
            }
        }
        if best.is_none() {
            // Fall back to the DHT value (validated).
            let key = core::dht_key(rid);
            if let Ok(vals) = self.net.get_record(key.clone().into_bytes(), Duration::from_secs(12)).await {
                if let Some(i) = core::select_dht_record(key.as_bytes(), &vals, core::now_ms()) {
                    if let Ok(res) = pb::Resource::decode(vals[i].as_slice()) {
                        if let Ok(info) = core::validate_resource(&res, core::now_ms()) {
                            best = Some((res, info));
                        }
                    }
                }
            }
        }
        if let Some((res, _)) = &best {
            self.resources.lock().unwrap().insert(*rid, res.clone());
        }
        best
    }

    async fn resource_for(&self, rid: &[u8; 32]) -> Option<pb::Resource> {
        if let Some(r) = self.resources.lock().unwrap().get(rid) {
            return Some(r.clone());
        }
        self.find_resource(rid, 1).await.map(|(r, _)| r)
    }

    async fn write_entry(&self, rid: &[u8; 32], entry: pb::Entry, ack: usize) -> Reply {
        let resource = self.resource_for(rid).await;
        let replicas = net::replica_set(&self.net, rid, self.k).await;
        let body = Body::PutEntries(pb::PutEntriesRequest { resource_id: rid.to_vec(), entries: vec![entry.encode_to_vec()], resource });
        let (acks, errors) = self.fan_out(&replicas, body, check_put_entries).await;
        Ok(obj(json!({"acks": acks, "errors": errors, "success": acks >= ack, "replicas": replicas.len()})))
    }

    /// Every entry a replica holds, and its copy of the resource (first page), which grants are checked against.
    async fn get_entries_from(&self, peer: PeerId, rid: &[u8; 32]) -> Result<(Vec<Vec<u8>>, Option<pb::Resource>), String> {
        let mut cursor = Vec::new();
        let mut out = Vec::new();
        let mut resource: Option<pb::Resource> = None;
        for _ in 0..1000 {
            let msg = self.msg(Body::GetEntries(pb::GetEntriesRequest {
                resource_id: rid.to_vec(),
                limit: 0,
                cursor: cursor.clone(),
                include_tombstones: true,
            }));
            match self.net.request(peer, msg, REQUEST_TIMEOUT).await? {
                pb::Message { body: Some(Body::GetEntriesResponse(r)), .. } => {
                    if let Some(s) = status_name(&r.result) {
                        return Err(s);
                    }
                    out.extend(r.entries);
                    if resource.is_none() {
                        resource = r.resource;
                    }
                    if r.next_cursor.is_empty() || r.next_cursor == cursor {
                        return Ok((out, resource));
                    }
                    cursor = r.next_cursor;
                }
                pb::Message { body: Some(Body::Error(e)), .. } => return Err(status_name(&Some(e)).unwrap_or("error".into())),
                _ => return Err("unexpected response".into()),
            }
        }
        Ok((out, resource))
    }

    async fn resolve(
        &self,
        rid: &[u8; 32],
        ack: usize,
        include_critical: bool,
    ) -> (Vec<Decoded>, usize, BTreeMap<String, String>) {
        let replicas = net::replica_set(&self.net, rid, self.k).await;
        let mut futs: FuturesUnordered<_> =
            replicas.iter().map(|p| async move { (*p, self.get_entries_from(*p, rid).await) }).collect();
        let mut all = Vec::new();
        let mut newest: Option<core::ResourceInfo> = None;
        let mut answers = 0;
        let mut errors = BTreeMap::new();
        let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
        let mut grace: Option<tokio::time::Instant> = None;
        loop {
            let until = grace.map_or(deadline, |g| g.min(deadline));
            let next = match tokio::time::timeout_at(until, futs.next()).await {
                Ok(Some(x)) => x,
                Ok(None) | Err(_) => break,
            };
            match next {
                (p, Ok((entries, resource))) => {
                    answers += 1;
                    let now = core::now_ms();
                    let copy = resource.and_then(|r| core::validate_resource(&r, now).ok()).filter(|r| r.id == *rid);
                    if let Some(c) = &copy {
                        if newest.as_ref().is_none_or(|n| c.created_at_ms > n.created_at_ms) {
                            newest = Some(c.clone());
                        }
                    }
                    for e in entries {
                        match core::validate_entry_bytes_with(&e, now, Some(rid), copy.as_ref()) {
                            Ok(d) => all.push(d),
                            Err(err) if err.status == Status::Expired => {}
                            Err(err) => tracing::warn!(peer = %p, "invalid entry dropped: {err}"),
                        }
                    }
                    if answers >= ack && grace.is_none() {
                        grace = Some(tokio::time::Instant::now() + Duration::from_millis(300));
                    }
                }
                (p, Err(e)) => {
                    errors.insert(p.to_base58(), e);
                }
            }
        }
        // The newest copy's write policy decides which records stand, judged by the merged grants.
        let now = core::now_ms();
        (
            core::live_records(core::filter_authorized(newest.as_ref(), core::merge(all), now), now, include_critical),
            answers,
            errors,
        )
    }
}

fn check_put_resource(m: &pb::Message) -> Result<(), String> {
    match &m.body {
        Some(Body::PutResourceResponse(r)) => status_name(&r.result).map_or(Ok(()), Err),
        Some(Body::Error(e)) => Err(status_name(&Some(e.clone())).unwrap_or("error".into())),
        _ => Err("unexpected response".into()),
    }
}

fn check_put_entries(m: &pb::Message) -> Result<(), String> {
    match &m.body {
        Some(Body::PutEntriesResponse(r)) => {
            if let Some(s) = status_name(&r.result) {
                return Err(s);
            }
            match r.results.first() {
                Some(item) => status_name(&Some(item.clone())).map_or(Ok(()), Err),
                None => Err("no per-entry result".into()),
            }
        }
        Some(Body::Error(e)) => Err(status_name(&Some(e.clone())).unwrap_or("error".into())),
        _ => Err("unexpected response".into()),
    }
}

async fn handle(app: Arc<App>, cmd: &Value) -> Reply {
    let name = str_arg(cmd, "cmd")?;
    let ack = u64_arg(cmd, "ack", 1)? as usize;
    match name {
        "info" => {
            let (peer, addrs) = app.net.info().await?;
            Ok(obj(json!({"peer_id": peer.to_base58(), "addrs": with_p2p(&addrs, &peer)})))
        }
        "connect" => {
            let addr: Multiaddr = str_arg(cmd, "addr")?.parse().map_err(|e| format!("bad multiaddr: {e}"))?;
            let peer = app.net.dial(addr, Duration::from_secs(10)).await?;
            // Give identify a moment so the peer's protocols are known (not an error if slow).
            let protos = app.net.identify(peer, vec![], Duration::from_secs(3)).await;
            Ok(obj(json!({"peer_id": peer.to_base58(), "protocols": protos.unwrap_or_default()})))
        }
        // /rendezvous/1.0.0 through rust-libp2p's own client (libp2p-rendezvous), at the point `addr`.
        "rv_register" | "rv_unregister" | "rv_discover" => {
            let addr: Multiaddr = str_arg(cmd, "addr")?.parse().map_err(|e| format!("bad multiaddr: {e}"))?;
            let point = app.net.dial(addr, Duration::from_secs(10)).await?;
            let ns = cmd.get("ns").and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_string);
            match name {
                "rv_register" => {
                    let ttl = cmd.get("ttl").and_then(|v| v.as_u64());
                    let granted = app.net.rv_register(point, ns.ok_or("missing ns")?, ttl).await?;
                    Ok(obj(json!({"ttl": granted})))
                }
                "rv_unregister" => {
                    app.net.rv_unregister(point, ns.ok_or("missing ns")?).await?;
                    Ok(Map::new())
                }
                _ => {
                    let cookie = match cmd.get("cookie_base64").and_then(|v| v.as_str()).filter(|s| !s.is_empty()) {
                        Some(c) => Some(B64.decode(c).map_err(|e| format!("cookie_base64: {e}"))?),
                        None => None,
                    };
                    let limit = cmd.get("limit").and_then(|v| v.as_u64());
                    let (found, cookie) = app.net.rv_discover(point, ns, cookie, limit).await?;
                    let regs: Vec<Value> = found
                        .iter()
                        .map(|f| {
                            json!({"ns": f.namespace, "peer_id": f.peer.to_base58(), "ttl": f.ttl,
                                   "addrs": f.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                                   "envelope_base64": B64.encode(&f.envelope)})
                        })
                        .collect();
                    Ok(obj(json!({"registrations": regs, "cookie_base64": B64.encode(cookie)})))
                }
            }
        }
        "closest_peers" => {
            let rid = rid_arg(cmd)?;
            let count = u64_arg(cmd, "count", app.k as u64)?.max(1) as usize;
            let peers = app.net.closest_peers(rid.to_vec(), count, Duration::from_secs(12)).await?;
            let target = libp2p::kad::KBucketKey::new(rid.to_vec());
            let mut ids: Vec<PeerId> = peers.iter().map(|p| p.peer_id).collect();
            ids.sort_by_key(|p| target.distance(&libp2p::kad::KBucketKey::from(*p)));
            ids.dedup();
            ids.truncate(count);
            Ok(obj(json!({"peers": ids.iter().map(|p| p.to_base58()).collect::<Vec<_>>()})))
        }
        "dht_get" => {
            let key = str_arg(cmd, "key")?.to_string();
            if !key.starts_with(core::DHT_KEY_PREFIX) {
                return Err("key must be /reg/<resource id>".into());
            }
            let vals = app.net.get_record(key.clone().into_bytes(), Duration::from_secs(15)).await?;
            let now = core::now_ms();
            for v in &vals {
                if let Err(e) = core::validate_dht_record(key.as_bytes(), v, now) {
                    tracing::warn!(%key, "GET_VALUE result rejected: {e}");
                }
            }
            match core::select_dht_record(key.as_bytes(), &vals, now) {
                Some(i) => {
                    let info = core::validate_dht_record(key.as_bytes(), &vals[i], now).map_err(|e| e.to_string())?;
                    let mut m = obj(resource_json(&info));
                    m.insert("found".into(), json!(true));
                    m.insert("value_hex".into(), json!(hex::encode(&vals[i])));
                    Ok(m)
                }
                None => Ok(obj(json!({"found": false}))),
            }
        }
        "dht_put" | "dht_put_unchecked" => {
            let key = str_arg(cmd, "key")?.to_string();
            let value = hex::decode(str_arg(cmd, "value_hex")?).map_err(|e| format!("value_hex: {e}"))?;
            if name == "dht_put" {
                core::validate_dht_record(key.as_bytes(), &value, core::now_ms()).map_err(|e| e.to_string())?;
            }
            let res = app.net.put_record(key.into_bytes(), value, Duration::from_secs(15)).await;
            Ok(obj(json!({"stored_locally": true, "replicated": res.is_ok(), "replication_error": res.err()})))
        }
        "dht_local_get" => {
            let key = str_arg(cmd, "key")?.to_string();
            let v = app.net.local_get(key.into_bytes()).await?;
            Ok(obj(json!({"found": v.is_some(), "value_hex": v.map(hex::encode)})))
        }
        "validate_resource" => {
            let key = str_arg(cmd, "key")?;
            let value = hex::decode(str_arg(cmd, "value_hex")?).map_err(|e| format!("value_hex: {e}"))?;
            match core::validate_dht_record(key.as_bytes(), &value, core::now_ms()) {
                Ok(info) => {
                    let mut m = obj(resource_json(&info));
                    m.insert("valid".into(), json!(true));
                    m.insert("error".into(), Value::Null);
                    Ok(m)
                }
                Err(e) => Ok(obj(json!({"valid": false, "error": e.to_string(), "status": e.status.as_str_name()}))),
            }
        }
        "create_resource" => {
            let label = str_arg(cmd, "label")?;
            if label.len() > core::MAX_LABEL {
                return Err(format!("TOO_LARGE: label exceeds {} bytes", core::MAX_LABEL));
            }
            let (res, rid) = core::make_resource(&app.net.key, label, app.next_ts());
            app.resources.lock().unwrap().insert(rid, res.clone());
            let key = core::dht_key(&rid).into_bytes();
            let dht = app.net.put_record(key, res.encode_to_vec(), Duration::from_secs(15));
            let replicas = net::replica_set(&app.net, &rid, app.k).await;
            let body = Body::PutResource(pb::PutResourceRequest { resource: Some(res) });
            let (fan, dht_res) = tokio::join!(app.fan_out(&replicas, body, check_put_resource), dht);
            let (acks, errors) = fan;
            Ok(obj(json!({
                "resource_id": core::b58(&rid),
                "acks": acks,
                "errors": errors,
                "success": acks >= ack,
                "dht_replicated": dht_res.is_ok(),
            })))
        }
        "get_resource" => {
            let rid = rid_arg(cmd)?;
            let found = app.find_resource(&rid, ack.max(1)).await;
            Ok(obj(json!({"resource": found.map(|(_, info)| resource_json(&info))})))
        }
        "register" => {
            let rid = rid_arg(cmd)?;
            let service_id = str_arg(cmd, "service_id")?;
            let value = B64.decode(cmd.get("value_base64").and_then(|v| v.as_str()).unwrap_or("")).map_err(|e| format!("value_base64: {e}"))?;
            let ttl = u64_arg(cmd, "ttl_s", core::DEFAULT_TTL_S as u64)?;
            if ttl < core::MIN_TTL_S as u64 || ttl > core::MAX_TTL_S as u64 {
                return Err(format!("MALFORMED: ttl_s must be within [{}, {}]", core::MIN_TTL_S, core::MAX_TTL_S));
            }
            if value.len() > core::MAX_VALUE || service_id.len() > core::MAX_SERVICE_ID {
                return Err("TOO_LARGE: value or service_id too large".into());
            }
            let addrs = app.own_addrs().await.iter().map(|a| a.to_vec()).collect();
            let rec = core::make_self_hosted_record(&app.net.key, &rid, service_id, value, app.next_ts(), ttl as u32, addrs);
            app.write_entry(&rid, pb::Entry { kind: Some(pb::entry::Kind::Record(rec)) }, ack).await
        }
        "unregister" => {
            let rid = rid_arg(cmd)?;
            let service_id = str_arg(cmd, "service_id")?;
            let me = core::own_peer_id_bytes(&app.net.key);
            let host = match cmd.get("host").and_then(|v| v.as_str()) {
                Some(h) => h.parse::<PeerId>().map_err(|e| format!("host: {e}"))?.to_bytes(),
                None => me,
            };
            let t = core::make_tombstone(&app.net.key, &rid, &host, service_id, app.next_ts());
            app.write_entry(&rid, pb::Entry { kind: Some(pb::entry::Kind::Tombstone(t)) }, ack).await
        }
        "resolve" => {
            let rid = rid_arg(cmd)?;
            let include_critical = cmd.get("all").and_then(|v| v.as_bool()).unwrap_or(false);
            let (records, answers, errors) = app.resolve(&rid, ack.max(1), include_critical).await;
            let recs: Vec<Value> = records
                .iter()
                .filter_map(|d| match d {
                    Decoded::Record { body, host, .. } => Some(json!({
                        "issuer": core::b58(&body.issuer),
                        "host": core::b58(&body.host),
                        "service_id": body.service_id,
                        "value_base64": B64.encode(&body.value),
                        "issued_at_ms": body.issued_at_ms,
                        "expires_at_ms": d.expires_at_ms(),
                        "addrs": net::addrs_text(&host.addrs),
                        "health": d.health_name(),
                    })),
                    _ => None,
                })
                .collect();
            Ok(obj(json!({"records": recs, "answers": answers, "success": answers >= ack.max(1), "errors": errors})))
        }
        "watch" => {
            let rid = rid_arg(cmd)?;
            let replicas = net::replica_set(&app.net, &rid, app.k).await;
            app.net.subscribe(rid).await?;
            Ok(obj(json!({
                "topic": core::topic(&rid),
                "replicas": replicas.iter().map(|p| p.to_base58()).collect::<Vec<_>>(),
            })))
        }
        "publish_raw" => {
            let rid = rid_arg(cmd)?;
            let data = hex::decode(str_arg(cmd, "data_hex")?).map_err(|e| format!("data_hex: {e}"))?;
            let id = app.net.publish(core::topic(&rid), data).await?;
            Ok(obj(json!({"message_id": id})))
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("registry_peer=info,registry_peer_rust=info,warn"));
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).with_ansi(false).init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            usage();
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    rt.block_on(run(args));
}

async fn run(args: Args) {
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    let net = match net::spawn(net::Config { key: args.key.clone(), listen: args.listen.clone() }, out_tx.clone()) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    // The writer: every stdout line goes through here, so lines are never interleaved.
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = out_rx.recv().await {
            if line == EXIT {
                let _ = stdout.flush().await;
                std::process::exit(0);
            }
            let _ = stdout.write_all(line.as_bytes()).await;
            let _ = stdout.write_all(b"\n").await;
            let _ = stdout.flush().await;
        }
    });

    let addrs = match net.wait_listening(Duration::from_secs(10)).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: not listening: {e}");
            std::process::exit(1);
        }
    };
    for b in &args.bootstrap {
        match net.dial(b.clone(), Duration::from_secs(10)).await {
            Ok(p) => tracing::info!("bootstrap peer {p} connected"),
            Err(e) => tracing::warn!("bootstrap {b}: {e}"),
        }
    }
    let peer = net.peer_id;
    let _ = out_tx.send(json!({"event": "ready", "peer_id": peer.to_base58(), "addrs": with_p2p(&addrs, &peer)}).to_string());

    let app = Arc::new(App {
        net,
        k: args.k,
        resources: Mutex::new(HashMap::new()),
        last_ts: Mutex::new(0),
        next_request_id: Mutex::new(0),
    });
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut running = tokio::task::JoinSet::new();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(l)) => l,
            Ok(None) | Err(_) => break,
        };
        if line.trim().is_empty() {
            continue;
        }
        let cmd: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                let _ = out_tx.send(json!({"id": null, "ok": false, "error": format!("bad json: {e}")}).to_string());
                continue;
            }
        };
        let id = cmd.get("id").cloned().unwrap_or(Value::Null);
        if cmd.get("cmd").and_then(|c| c.as_str()) == Some("quit") {
            let _ = out_tx.send(json!({"id": id, "ok": true}).to_string());
            let _ = out_tx.send(EXIT.to_string());
            break;
        }
        let app = app.clone();
        let out = out_tx.clone();
        while running.try_join_next().is_some() {}
        running.spawn(async move {
            // A global bound for any command (each network wait below has its own timeout too).
            let res = match tokio::time::timeout(Duration::from_secs(60), handle(app, &cmd)).await {
                Ok(r) => r,
                Err(_) => Err("timeout".to_string()),
            };
            let mut m = Map::new();
            m.insert("id".into(), id);
            match res {
                Ok(fields) => {
                    m.insert("ok".into(), json!(true));
                    m.extend(fields);
                }
                Err(e) => {
                    m.insert("ok".into(), json!(false));
                    m.insert("error".into(), json!(e));
                }
            }
            let _ = out.send(Value::Object(m).to_string());
        });
    }
    // stdin closed: answer the commands still running (each is bounded), then exit 0.
    // (After "quit" the writer exits as soon as it reaches the EXIT marker.)
    let _ = tokio::time::timeout(Duration::from_secs(65), async { while running.join_next().await.is_some() {} }).await;
    let _ = out_tx.send(EXIT.to_string());
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    std::process::exit(0);
}
