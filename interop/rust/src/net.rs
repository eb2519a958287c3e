//! The libp2p side: one tokio task owns the swarm (TCP + Noise + Yamux, identify, ping,
//! Kademlia in server mode with the `registry` validator, gossipsub, and a request-response
//! client of `/registry/1.0.0`). Other tasks talk to it through [`Net`], whose methods send an
//! [`Op`] and await a oneshot answer; every wait is bounded by a timeout.

use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroUsize;
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, TopicHash};
use libp2p::identity::Keypair;
use libp2p::kad::{self, store::RecordStore, GetClosestPeersError, GetRecordOk, QueryId, QueryResult};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identify, noise, ping, rendezvous, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::core::{self, Decoded, Identity, PrecedenceKey};
use crate::frame::{RegistryCodec, PROTOCOL};
use crate::pb;

pub const IDENTIFY_PROTOCOL_VERSION: &str = "/registry-p2p/1.0.0";
pub const KAD_PROTOCOL: &str = "/ipfs/kad/1.0.0";
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(6);

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    gossipsub: gossipsub::Behaviour,
    rr: request_response::Behaviour<RegistryCodec>,
    /// rust-libp2p's own /rendezvous/1.0.0 client (libp2p-rendezvous), unmodified.
    rendezvous: rendezvous::client::Behaviour,
}

/// One registration as DISCOVER returned it (decoded and verified by libp2p-rendezvous).
pub struct Found {
    pub namespace: String,
    pub peer: PeerId,
    pub addrs: Vec<Multiaddr>,
    pub ttl: u64,
    pub envelope: Vec<u8>,
}

type Reply<T> = oneshot::Sender<T>;

pub enum Op {
    Info(Reply<(PeerId, Vec<Multiaddr>)>),
    WaitListening(Reply<Vec<Multiaddr>>),
    Dial(Multiaddr, Reply<Result<PeerId, String>>),
    Closest(Vec<u8>, usize, Reply<Vec<kad::PeerInfo>>),
    GetRecord(Vec<u8>, Reply<Vec<Vec<u8>>>),
    PutRecord(Vec<u8>, Vec<u8>, Reply<Result<(), String>>),
    Request(PeerId, pb::Message, Reply<Result<pb::Message, String>>),
    Identify(PeerId, Vec<Multiaddr>, Reply<Option<Vec<String>>>),
    Subscribe([u8; 32], Reply<Result<(), String>>),
    Publish(String, Vec<u8>, Reply<Result<String, String>>),
    LocalGet(Vec<u8>, Reply<Option<Vec<u8>>>),
    RvRegister(PeerId, String, Option<u64>, Reply<Result<u64, String>>),
    RvUnregister(PeerId, String, Reply<Result<(), String>>),
    RvDiscover(PeerId, Option<String>, Option<Vec<u8>>, Option<u64>, Reply<Result<(Vec<Found>, Vec<u8>), String>>),
}

/// Handle to the swarm task.
#[derive(Clone)]
pub struct Net {
    tx: mpsc::UnboundedSender<Op>,
    pub peer_id: PeerId,
    pub key: Keypair,
}

async fn ask<T>(tx: &mpsc::UnboundedSender<Op>, make: impl FnOnce(Reply<T>) -> Op, timeout: Duration) -> Result<T, String> {
    let (s, r) = oneshot::channel();
    tx.send(make(s)).map_err(|_| "swarm task stopped".to_string())?;
    match tokio::time::timeout(timeout, r).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(_)) => Err("swarm task dropped the request".into()),
        Err(_) => Err("timeout".into()),
    }
}

impl Net {
    pub async fn info(&self) -> Result<(PeerId, Vec<Multiaddr>), String> {
        ask(&self.tx, Op::Info, Duration::from_secs(5)).await
    }
    pub async fn wait_listening(&self, t: Duration) -> Result<Vec<Multiaddr>, String> {
        ask(&self.tx, Op::WaitListening, t).await
    }
    pub async fn dial(&self, addr: Multiaddr, t: Duration) -> Result<PeerId, String> {
        ask(&self.tx, |r| Op::Dial(addr, r), t).await?
    }
    /// Iterative FIND_NODE lookup for `key` (raw bytes); returns responding peers with addrs.
    pub async fn closest_peers(&self, key: Vec<u8>, count: usize, t: Duration) -> Result<Vec<kad::PeerInfo>, String> {
        ask(&self.tx, |r| Op::Closest(key, count, r), t).await
    }
    /// All values found for `key` by a GET_VALUE lookup (local copy included), unvalidated.
    pub async fn get_record(&self, key: Vec<u8>, t: Duration) -> Result<Vec<Vec<u8>>, String> {
        ask(&self.tx, |r| Op::GetRecord(key, r), t).await
    }
    /// Store locally, then PUT_VALUE to the closest peers found by a lookup on the key;
    /// Ok when at least one of them stored it.
    pub async fn put_record(&self, key: Vec<u8>, value: Vec<u8>, t: Duration) -> Result<(), String> {
        ask(&self.tx, |r| Op::PutRecord(key, value, r), t).await?
    }
    pub async fn request(&self, peer: PeerId, msg: pb::Message, t: Duration) -> Result<pb::Message, String> {
        ask(&self.tx, |r| Op::Request(peer, msg, r), t).await?
    }
    /// The protocols a peer announced through identify (dialing it first if needed).
    pub async fn identify(&self, peer: PeerId, addrs: Vec<Multiaddr>, t: Duration) -> Option<Vec<String>> {
        ask(&self.tx, |r| Op::Identify(peer, addrs, r), t).await.ok().flatten()
    }
    pub async fn subscribe(&self, rid: [u8; 32]) -> Result<(), String> {
        ask(&self.tx, |r| Op::Subscribe(rid, r), Duration::from_secs(5)).await?
    }
    /// The raw value in this peer's own kad store (no network, no validation).
    pub async fn local_get(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, String> {
        ask(&self.tx, |r| Op::LocalGet(key, r), Duration::from_secs(5)).await
    }
    /// REGISTER this peer (its external addresses) in `ns` at `point`: the granted TTL.
    pub async fn rv_register(&self, point: PeerId, ns: String, ttl: Option<u64>) -> Result<u64, String> {
        ask(&self.tx, |r| Op::RvRegister(point, ns, ttl, r), REQUEST_TIMEOUT * 3).await?
    }
    pub async fn rv_unregister(&self, point: PeerId, ns: String) -> Result<(), String> {
        ask(&self.tx, |r| Op::RvUnregister(point, ns, r), REQUEST_TIMEOUT).await?
    }
    /// DISCOVER at `point`: the registrations and the cookie (its wire encoding).
    pub async fn rv_discover(
        &self,
        point: PeerId,
        ns: Option<String>,
        cookie: Option<Vec<u8>>,
        limit: Option<u64>,
    ) -> Result<(Vec<Found>, Vec<u8>), String> {
        ask(&self.tx, |r| Op::RvDiscover(point, ns, cookie, limit, r), REQUEST_TIMEOUT * 3).await?
    }
    pub async fn publish(&self, topic: String, data: Vec<u8>) -> Result<String, String> {
        ask(&self.tx, |r| Op::Publish(topic, data, r), Duration::from_secs(5)).await?
    }
}

pub struct Config {
    pub key: Keypair,
    pub listen: Vec<Multiaddr>,
}

struct WatchState {
    rid: [u8; 32],
    seen: HashMap<Identity, (PrecedenceKey, bool)>, // the winner's key, and whether it passes
}

struct State {
    events: mpsc::UnboundedSender<String>,
    listen_addrs: Vec<Multiaddr>,
    listen_waiters: Vec<Reply<Vec<Multiaddr>>>,
    protocols: HashMap<PeerId, Vec<String>>,
    identify_waiters: HashMap<PeerId, Vec<Reply<Option<Vec<String>>>>>,
    dial_waiters: HashMap<PeerId, Vec<Reply<Result<PeerId, String>>>>,
    closest: HashMap<QueryId, Reply<Vec<kad::PeerInfo>>>,
    gets: HashMap<QueryId, (Vec<Vec<u8>>, Reply<Vec<Vec<u8>>>)>,
    puts: HashMap<QueryId, Reply<Result<(), String>>>,
    requests: HashMap<OutboundRequestId, Reply<Result<pb::Message, String>>>,
    watches: HashMap<TopicHash, WatchState>,
    rv_registers: HashMap<(PeerId, String), Vec<Reply<Result<u64, String>>>>,
    // libp2p-rendezvous reports a discovery by rendezvous node only: answered in order.
    rv_discovers: HashMap<PeerId, VecDeque<Reply<Result<(Vec<Found>, Vec<u8>), String>>>>,
}

pub fn build_swarm(key: &Keypair) -> Result<Swarm<Behaviour>, Box<dyn std::error::Error + Send + Sync>> {
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key.clone())
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key| {
            let peer = key.public().to_peer_id();
            let identify = identify::Behaviour::new(
                identify::Config::new(IDENTIFY_PROTOCOL_VERSION.to_string(), key.public())
                    .with_agent_version(format!("registry-peer-rust/{}", env!("CARGO_PKG_VERSION"))),
            );
            let mut kcfg = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
            kcfg.set_max_packet_size(2 << 20)
                .set_record_filtering(kad::StoreInserts::FilterBoth)
                .set_query_timeout(Duration::from_secs(10))
                .set_caching(kad::Caching::Disabled);
            let mut kad = kad::Behaviour::with_config(peer, kad::store::MemoryStore::new(peer), kcfg);
            kad.set_mode(Some(kad::Mode::Server));

            let gcfg = gossipsub::ConfigBuilder::default()
                .validation_mode(gossipsub::ValidationMode::Strict)
                .message_id_fn(|m: &gossipsub::Message| gossipsub::MessageId::from(core::sha256(&m.data).to_vec()))
                .max_transmit_size(1 << 20)
                .mesh_n_low(1)
                .mesh_n(2)
                .mesh_n_high(4)
                .mesh_outbound_min(0)
                .gossip_lazy(2)
                .heartbeat_interval(Duration::from_millis(700))
                .validate_messages()
                .build()
                .map_err(|e| format!("gossipsub config: {e:?}"))?;
            let gossipsub = gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), gcfg)?;

            let rr = request_response::Behaviour::with_codec(
                RegistryCodec,
                [(StreamProtocol::new(PROTOCOL), ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(REQUEST_TIMEOUT),
            );
            let rendezvous = rendezvous::client::Behaviour::new(key.clone());
            Ok(Behaviour { identify, ping: ping::Behaviour::default(), kad, gossipsub, rr, rendezvous })
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();
    Ok(swarm)
}

/// Start the swarm task. `events` receives asynchronous JSON event lines (watch events).
pub fn spawn(cfg: Config, events: mpsc::UnboundedSender<String>) -> Result<Net, String> {
    let mut swarm = build_swarm(&cfg.key).map_err(|e| e.to_string())?;
    for addr in &cfg.listen {
        swarm.listen_on(addr.clone()).map_err(|e| format!("listen on {addr}: {e}"))?;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Op>();
    let net = Net { tx, peer_id: *swarm.local_peer_id(), key: cfg.key.clone() };
    let mut st = State {
        events,
        listen_addrs: Vec::new(),
        listen_waiters: Vec::new(),
        protocols: HashMap::new(),
        identify_waiters: HashMap::new(),
        dial_waiters: HashMap::new(),
        closest: HashMap::new(),
        gets: HashMap::new(),
        puts: HashMap::new(),
        requests: HashMap::new(),
        watches: HashMap::new(),
        rv_registers: HashMap::new(),
        rv_discovers: HashMap::new(),
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                op = rx.recv() => match op {
                    Some(op) => st.on_op(&mut swarm, op),
                    None => break,
                },
                ev = swarm.select_next_some() => st.on_event(&mut swarm, ev),
            }
        }
    });
    Ok(net)
}

fn split_p2p(addr: &Multiaddr) -> (Multiaddr, Option<PeerId>) {
    let mut base = addr.clone();
    match base.pop() {
        Some(Protocol::P2p(p)) => (base, Some(p)),
        _ => (addr.clone(), None),
    }
}

impl State {
    fn on_op(&mut self, swarm: &mut Swarm<Behaviour>, op: Op) {
        match op {
            Op::Info(r) => {
                let _ = r.send((*swarm.local_peer_id(), self.listen_addrs.clone()));
            }
            Op::WaitListening(r) => {
                if self.listen_addrs.is_empty() {
                    self.listen_waiters.push(r);
                } else {
                    let _ = r.send(self.listen_addrs.clone());
                }
            }
            Op::Dial(addr, r) => {
                let (base, peer) = split_p2p(&addr);
                let Some(peer) = peer else {
                    let _ = r.send(Err("address has no /p2p/<peer id>".into()));
                    return;
                };
                swarm.behaviour_mut().kad.add_address(&peer, base.clone());
                if swarm.is_connected(&peer) {
                    let _ = r.send(Ok(peer));
                    return;
                }
                let opts = DialOpts::peer_id(peer).addresses(vec![base]).build();
                match swarm.dial(opts) {
                    Ok(()) => self.dial_waiters.entry(peer).or_default().push(r),
                    Err(e) => {
                        let _ = r.send(Err(format!("dial {addr}: {e}")));
                    }
                }
            }
            Op::Closest(key, count, r) => {
                let n = NonZeroUsize::new(count.max(1)).unwrap();
                let q = swarm.behaviour_mut().kad.get_n_closest_peers(key, n);
                self.closest.insert(q, r);
            }
            Op::GetRecord(key, r) => {
                let q = swarm.behaviour_mut().kad.get_record(kad::RecordKey::new(&key));
                self.gets.insert(q, (Vec::new(), r));
            }
            Op::PutRecord(key, value, r) => {
                // Standard Kademlia PUT: stored locally, then FIND_NODE on the record key and
                // PUT_VALUE to every closest peer found. This works against py-libp2p 0.8.1
                // because `/reg/<b58>` is at most 49 bytes: py refuses FIND_NODE only for
                // non-multihash keys over 50 bytes (the old `/registry/<b58>` was 54).
                // Quorum::All, so the PUT goes to all of them: with a smaller quorum
                // rust-libp2p stops the query at the first acknowledgement, and the other
                // closest peers (often every Python node) never receive the value.
                let local = *swarm.local_peer_id();
                let rec = kad::Record { key: kad::RecordKey::new(&key), value, publisher: Some(local), expires: None };
                match swarm.behaviour_mut().kad.put_record(rec, kad::Quorum::All) {
                    Ok(q) => {
                        self.puts.insert(q, r);
                    }
                    Err(e) => {
                        let _ = r.send(Err(format!("local store: {e}")));
                    }
                }
            }
            Op::Request(peer, msg, r) => {
                let id = swarm.behaviour_mut().rr.send_request(&peer, msg);
                self.requests.insert(id, r);
            }
            Op::Identify(peer, addrs, r) => {
                if let Some(p) = self.protocols.get(&peer) {
                    let _ = r.send(Some(p.clone()));
                    return;
                }
                if !swarm.is_connected(&peer) {
                    let opts = DialOpts::peer_id(peer).addresses(addrs).build();
                    if let Err(e) = swarm.dial(opts) {
                        tracing::debug!(%peer, "dial for identify failed: {e}");
                        let _ = r.send(None);
                        return;
                    }
                }
                self.identify_waiters.entry(peer).or_default().push(r);
            }
            Op::Subscribe(rid, r) => {
                let topic = IdentTopic::new(core::topic(&rid));
                let res = swarm.behaviour_mut().gossipsub.subscribe(&topic).map(|_| ()).map_err(|e| e.to_string());
                if res.is_ok() {
                    self.watches.entry(topic.hash()).or_insert_with(|| WatchState { rid, seen: HashMap::new() });
                }
                let _ = r.send(res);
            }
            Op::LocalGet(key, r) => {
                let v = swarm.behaviour_mut().kad.store_mut().get(&kad::RecordKey::new(&key)).map(|r| r.value.clone());
                let _ = r.send(v);
            }
            Op::RvRegister(point, ns, ttl, r) => {
                let namespace = match rendezvous::Namespace::new(ns.clone()) {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = r.send(Err(format!("namespace: {e}")));
                        return;
                    }
                };
                match swarm.behaviour_mut().rendezvous.register(namespace, point, ttl) {
                    Ok(()) => self.rv_registers.entry((point, ns)).or_default().push(r),
                    Err(e) => {
                        let _ = r.send(Err(format!("register: {e}")));
                    }
                }
            }
            Op::RvUnregister(point, ns, r) => {
                let res = rendezvous::Namespace::new(ns)
                    .map(|n| swarm.behaviour_mut().rendezvous.unregister(n, point))
                    .map_err(|e| format!("namespace: {e}"));
                let _ = r.send(res);
            }
            Op::RvDiscover(point, ns, cookie, limit, r) => {
                let namespace = match ns.map(rendezvous::Namespace::new).transpose() {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = r.send(Err(format!("namespace: {e}")));
                        return;
                    }
                };
                let cookie = match cookie.map(rendezvous::Cookie::from_wire_encoding).transpose() {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = r.send(Err(format!("cookie: {e}")));
                        return;
                    }
                };
                swarm.behaviour_mut().rendezvous.discover(namespace, cookie, limit, point);
                self.rv_discovers.entry(point).or_default().push_back(r);
            }
            Op::Publish(topic, data, r) => {
                let res = swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(IdentTopic::new(topic), data)
                    .map(|id| hex::encode(id.0))
                    .map_err(|e| e.to_string());
                let _ = r.send(res);
            }
        }
    }

    fn on_event(&mut self, swarm: &mut Swarm<Behaviour>, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!("listening on {address}");
                // What a rendezvous REGISTER advertises (loopback in the tests).
                swarm.add_external_address(address.clone());
                self.listen_addrs.push(address);
                for w in self.listen_waiters.drain(..) {
                    let _ = w.send(self.listen_addrs.clone());
                }
            }
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                tracing::debug!(%peer_id, addr = %endpoint.get_remote_address(), "connected");
                for w in self.dial_waiters.remove(&peer_id).unwrap_or_default() {
                    let _ = w.send(Ok(peer_id));
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id: Some(peer), error, .. } => {
                if swarm.is_connected(&peer) {
                    return;
                }
                tracing::debug!(%peer, "outgoing connection error: {error}");
                for w in self.dial_waiters.remove(&peer).unwrap_or_default() {
                    let _ = w.send(Err(format!("dial {peer}: {error}")));
                }
                for w in self.identify_waiters.remove(&peer).unwrap_or_default() {
                    let _ = w.send(None);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                let protos: Vec<String> = info.protocols.iter().map(|p| p.to_string()).collect();
                if protos.iter().any(|p| p == KAD_PROTOCOL) {
                    for a in &info.listen_addrs {
                        swarm.behaviour_mut().kad.add_address(&peer_id, a.clone());
                    }
                }
                tracing::debug!(%peer_id, ?protos, "identified");
                for w in self.identify_waiters.remove(&peer_id).unwrap_or_default() {
                    let _ = w.send(Some(protos.clone()));
                }
                self.protocols.insert(peer_id, protos);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(ev)) => self.on_kad(swarm, ev),
            SwarmEvent::Behaviour(BehaviourEvent::Rendezvous(ev)) => self.on_rendezvous(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Rr(ev)) => match ev {
                request_response::Event::Message { message: request_response::Message::Response { request_id, response }, .. } => {
                    if let Some(w) = self.requests.remove(&request_id) {
                        let _ = w.send(Ok(response));
                    }
                }
                request_response::Event::OutboundFailure { request_id, error, peer, .. } => {
                    tracing::debug!(%peer, "request failed: {error}");
                    if let Some(w) = self.requests.remove(&request_id) {
                        let text = match error {
                            request_response::OutboundFailure::Timeout => "timeout".to_string(),
                            e => e.to_string(),
                        };
                        let _ = w.send(Err(text));
                    }
                }
                _ => {}
            },
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let acceptance = self.on_pubsub(&message);
                swarm.behaviour_mut().gossipsub.report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    acceptance,
                );
            }
            _ => {}
        }
    }

    fn on_kad(&mut self, swarm: &mut Swarm<Behaviour>, ev: kad::Event) {
        match ev {
            kad::Event::InboundRequest { request: kad::InboundRequest::PutRecord { source, record: Some(rec), .. } } => {
                match core::validate_dht_record(rec.key.as_ref(), &rec.value, core::now_ms()) {
                    Ok(info) => {
                        let store = swarm.behaviour_mut().kad.store_mut();
                        let newer = match store.get(&rec.key) {
                            Some(cur) => core::validate_dht_record(cur.key.as_ref(), &cur.value, core::now_ms())
                                .map(|c| info.created_at_ms > c.created_at_ms)
                                .unwrap_or(true),
                            None => true,
                        };
                        if newer {
                            if let Err(e) = store.put(rec) {
                                tracing::warn!("kad store: {e}");
                            }
                        }
                        tracing::info!(%source, label = %info.label, newer, "PUT_VALUE accepted");
                    }
                    Err(e) => tracing::warn!(%source, key = %String::from_utf8_lossy(rec.key.as_ref()), "PUT_VALUE rejected: {e}"),
                }
            }
            kad::Event::InboundRequest { request: kad::InboundRequest::AddProvider { record: Some(p) } } => {
                let _ = swarm.behaviour_mut().kad.store_mut().add_provider(p);
            }
            kad::Event::OutboundQueryProgressed { id, result, step, .. } => match result {
                QueryResult::GetClosestPeers(res) => {
                    let peers = match res {
                        Ok(ok) => ok.peers,
                        Err(GetClosestPeersError::Timeout { peers, .. }) => peers,
                    };
                    if let Some(w) = self.closest.remove(&id) {
                        let _ = w.send(peers);
                    }
                }
                QueryResult::GetRecord(res) => {
                    let mut done = step.last;
                    match res {
                        Ok(GetRecordOk::FoundRecord(r)) => {
                            if let Some((vals, _)) = self.gets.get_mut(&id) {
                                vals.push(r.record.value);
                            }
                        }
                        Ok(GetRecordOk::FinishedWithNoAdditionalRecord { .. }) => done = true,
                        Err(e) => {
                            tracing::debug!("get_record: {e}");
                            done = true;
                        }
                    }
                    if done {
                        if let Some((vals, w)) = self.gets.remove(&id) {
                            let _ = w.send(vals);
                        }
                    }
                }
                QueryResult::PutRecord(res) => {
                    if let Some(w) = self.puts.remove(&id) {
                        // py-libp2p answers a PUT_VALUE only when it stored the value, so a
                        // missed Quorum::All is normal: success means at least one peer stored it.
                        let stored = match &res {
                            Ok(_) => Ok(()),
                            Err(kad::PutRecordError::QuorumFailed { success, .. })
                            | Err(kad::PutRecordError::Timeout { success, .. })
                                if !success.is_empty() =>
                            {
                                Ok(())
                            }
                            Err(e) => Err(e.to_string()),
                        };
                        let _ = w.send(stored);
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn on_rendezvous(&mut self, ev: rendezvous::client::Event) {
        use rendezvous::client::Event;
        match ev {
            Event::Registered { rendezvous_node, ttl, namespace } => {
                for w in self.rv_registers.remove(&(rendezvous_node, namespace.to_string())).unwrap_or_default() {
                    let _ = w.send(Ok(ttl));
                }
            }
            Event::RegisterFailed { rendezvous_node, namespace, error } => {
                for w in self.rv_registers.remove(&(rendezvous_node, namespace.to_string())).unwrap_or_default() {
                    let _ = w.send(Err(format!("{error:?}")));
                }
            }
            Event::Discovered { rendezvous_node, registrations, cookie } => {
                if let Some(w) = self.rv_discovers.get_mut(&rendezvous_node).and_then(|q| q.pop_front()) {
                    let found = registrations
                        .into_iter()
                        .map(|r| Found {
                            namespace: r.namespace.to_string(),
                            peer: r.record.peer_id(),
                            addrs: r.record.addresses().to_vec(),
                            ttl: r.ttl,
                            envelope: r.record.into_signed_envelope().into_protobuf_encoding(),
                        })
                        .collect();
                    let _ = w.send(Ok((found, cookie.into_wire_encoding())));
                }
            }
            Event::DiscoverFailed { rendezvous_node, error, .. } => {
                if let Some(w) = self.rv_discovers.get_mut(&rendezvous_node).and_then(|q| q.pop_front()) {
                    let _ = w.send(Err(format!("{error:?}")));
                }
            }
            Event::Expired { .. } => {}
        }
    }

    /// Validate a pubsub message of a watched topic; print it as a watch event when it is
    /// valid and newer than what this watcher has seen for the same identity.
    fn on_pubsub(&mut self, message: &gossipsub::Message) -> MessageAcceptance {
        let Some(w) = self.watches.get_mut(&message.topic) else {
            return MessageAcceptance::Ignore;
        };
        let src = message.source.map(|p| p.to_base58()).unwrap_or_default();
        let decoded = match core::validate_gossip(&message.data, core::now_ms(), Some(&w.rid)) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(source = %src, "pubsub entry rejected: {e}");
                return MessageAcceptance::Reject;
            }
        };
        for d in decoded {
            let id = d.identity();
            let key = d.precedence_key();
            let was_passing = match w.seen.get(&id) {
                Some((cur, _)) if *cur >= key => continue,
                Some((_, passing)) => Some(*passing),
                None => None,
            };
            w.seen.insert(id, (key, d.passing()));
            let _ = self.events.send(watch_event(&w.rid, &d, was_passing).to_string());
        }
        MessageAcceptance::Accept
    }
}

/// The event for `d`, which superseded an entry that passed (Some(true)), was critical
/// (Some(false)) or was not there (None): "critical" for a record its host reports critical,
/// "passing" for one that was critical and passes again.
pub fn watch_event(rid: &[u8], d: &Decoded, was_passing: Option<bool>) -> serde_json::Value {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let kind = if !d.passing() {
        "critical"
    } else if was_passing == Some(false) {
        "passing"
    } else {
        "registered"
    };
    match d {
        Decoded::Record { body, host, .. } => json!({
            "event": "watch",
            "resource_id": core::b58(rid),
            "kind": kind,
            "health": d.health_name(),
            "issuer": core::b58(&body.issuer),
            "host": core::b58(&body.host),
            "service_id": body.service_id,
            "value_base64": b64.encode(&body.value),
            "issued_at_ms": body.issued_at_ms,
            "expires_at_ms": d.expires_at_ms(),
            "addrs": addrs_text(&host.addrs),
        }),
        Decoded::Grant { body, .. } => json!({
            "event": "watch",
            "resource_id": core::b58(rid),
            "kind": if body.revoked { "revoked" } else { "granted" },
            "issuer": core::b58(&body.grantee),
            "issued_at_ms": body.issued_at_ms,
        }),
        Decoded::Tombstone { body, .. } => json!({
            "event": "watch",
            "resource_id": core::b58(rid),
            "kind": "unregistered",
            "issuer": core::b58(&body.issuer),
            "host": core::b58(&body.host),
            "service_id": body.service_id,
            "value_base64": null,
            "issued_at_ms": body.issued_at_ms,
        }),
    }
}

pub fn addrs_text(addrs: &[Vec<u8>]) -> Vec<String> {
    addrs.iter().filter_map(|a| Multiaddr::try_from(a.clone()).ok()).map(|a| a.to_string()).collect()
}

/// Peers of `key` (raw resource id) that speak /registry/1.0.0, closest first, at most k.
pub async fn replica_set(net: &Net, rid: &[u8; 32], k: usize) -> Vec<PeerId> {
    let peers = net.closest_peers(rid.to_vec(), 20.max(k), Duration::from_secs(12)).await.unwrap_or_else(|e| {
        tracing::warn!("closest peers lookup: {e}");
        Vec::new()
    });
    let mut seen = HashSet::new();
    let checks = peers.into_iter().filter(|p| seen.insert(p.peer_id)).map(|p| {
        let net = net.clone();
        async move {
            let protos = net.identify(p.peer_id, p.addrs, Duration::from_secs(4)).await;
            (p.peer_id, protos.is_some_and(|ps| ps.iter().any(|x| x == PROTOCOL)))
        }
    });
    let results = futures::future::join_all(checks).await;
    let target = libp2p::kad::KBucketKey::new(rid.to_vec());
    let mut out: Vec<PeerId> = results.into_iter().filter(|(_, ok)| *ok).map(|(p, _)| p).collect();
    out.sort_by_key(|p| target.distance(&libp2p::kad::KBucketKey::from(*p)));
    out.truncate(k);
    out
}
