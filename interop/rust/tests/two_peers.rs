//! Starts two registry-peer-rust processes on 127.0.0.1 and checks the DHT `reg`
//! validator end to end: a valid resource is stored and found; a tampered one is refused
//! locally, not stored by the remote peer on PUT_VALUE, and not returned by GET_VALUE.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use libp2p::identity::Keypair;
use prost::Message as _;
use registry_peer::core;
use serde_json::{json, Value};

struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    next_id: u64,
    ready: Value,
}

impl Peer {
    fn start(extra: &[String]) -> Peer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_registry-peer-rust"))
            .args(["--listen", "/ip4/127.0.0.1/tcp/0"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn registry-peer-rust");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = rx.recv_timeout(Duration::from_secs(30)).expect("ready line");
        let ready: Value = serde_json::from_str(&ready).unwrap();
        assert_eq!(ready["event"], "ready");
        Peer { child, stdin, lines: rx, next_id: 0, ready }
    }

    fn addr(&self) -> String {
        self.ready["addrs"][0].as_str().unwrap().to_string()
    }

    fn call(&mut self, mut cmd: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        cmd["id"] = json!(id);
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        loop {
            let line = self.lines.recv_timeout(Duration::from_secs(40)).expect("reply before timeout");
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad json {line}: {e}"));
            if v.get("id") == Some(&json!(id)) {
                return v;
            }
        }
    }

    fn quit(mut self) {
        let r = self.call(json!({"cmd": "quit"}));
        assert_eq!(r["ok"], true);
        let status = wait_timeout(&mut self.child, Duration::from_secs(10));
        assert_eq!(status, Some(0), "peer must exit 0 after quit");
    }
}

fn wait_timeout(child: &mut Child, t: Duration) -> Option<i32> {
    let end = std::time::Instant::now() + t;
    while std::time::Instant::now() < end {
        if let Ok(Some(s)) = child.try_wait() {
            return s.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

#[test]
fn dht_put_get_and_tamper_refusal() {
    let mut a = Peer::start(&[]);
    let mut b = Peer::start(&["--bootstrap".into(), a.addr()]);
    let info = b.call(json!({"cmd": "info"}));
    assert_eq!(info["ok"], true);
    // A connects back (already connected): this waits for identify, so A's routing table has B.
    let c = a.call(json!({"cmd": "connect", "addr": b.addr()}));
    assert_eq!(c["ok"], true, "{c}");
    assert!(c["protocols"].as_array().unwrap().iter().any(|p| p == "/ipfs/kad/1.0.0"), "{c}");
    let closest = a.call(json!({"cmd": "closest_peers", "resource_id": core::b58(&[7u8; 32]), "count": 5}));
    assert_eq!(closest["peers"], json!([b.ready["peer_id"]]), "{closest}");

    // A valid resource signed by a third key.
    let owner = Keypair::generate_ed25519();
    let (res, rid) = core::make_resource(&owner, "echo", core::now_ms());
    let key = core::dht_key(&rid);
    let value = hex::encode(res.encode_to_vec());

    let v = a.call(json!({"cmd": "validate_resource", "key": key, "value_hex": value}));
    assert_eq!(v["valid"], true, "{v}");
    let put = a.call(json!({"cmd": "dht_put", "key": key, "value_hex": value}));
    assert_eq!(put["ok"], true, "{put}");
    assert_eq!(put["replicated"], true, "{put}");
    let local = b.call(json!({"cmd": "dht_local_get", "key": key}));
    assert_eq!(local["found"], true, "B must have stored the valid PUT_VALUE: {local}");
    let got = b.call(json!({"cmd": "dht_get", "key": key}));
    assert_eq!(got["ok"], true, "{got}");
    assert_eq!(got["found"], true, "{got}");
    assert_eq!(got["value_hex"], json!(value));
    assert_eq!(got["label"], "echo");
    assert_eq!(got["owner"], json!(owner.public().to_peer_id().to_base58()));

    // Tampered: a flipped signature bit, under another resource's key.
    let (mut bad, rid2) = core::make_resource(&owner, "tampered", core::now_ms());
    bad.signature[10] ^= 0x01;
    let key2 = core::dht_key(&rid2);
    let bad_hex = hex::encode(bad.encode_to_vec());
    let v = a.call(json!({"cmd": "validate_resource", "key": key2, "value_hex": bad_hex}));
    assert_eq!(v["valid"], false, "{v}");
    let put = a.call(json!({"cmd": "dht_put", "key": key2, "value_hex": bad_hex}));
    assert_eq!(put["ok"], false, "the local validator must refuse: {put}");
    assert!(put["error"].as_str().unwrap().contains("INVALID_SIGNATURE"), "{put}");
    // A value valid in itself but stored under the wrong key is refused too.
    let put = a.call(json!({"cmd": "dht_put", "key": key2, "value_hex": value}));
    assert_eq!(put["ok"], false, "{put}");

    // Bypass A's validator: B must refuse the inbound PUT_VALUE, and B's GET must reject
    // the tampered copy A serves.
    let put = a.call(json!({"cmd": "dht_put_unchecked", "key": key2, "value_hex": bad_hex}));
    assert_eq!(put["ok"], true, "{put}");
    let local = b.call(json!({"cmd": "dht_local_get", "key": key2}));
    assert_eq!(local["found"], false, "B must not store an invalid PUT_VALUE: {local}");
    let got = b.call(json!({"cmd": "dht_get", "key": key2}));
    assert_eq!(got["ok"], true, "{got}");
    assert_eq!(got["found"], false, "tampered GET results must be dropped: {got}");

    // A newer valid version wins selection (highest created_at_ms).
    let (res3, _) = core::make_resource(&owner, "echo", core::now_ms() + 5);
    let put = b.call(json!({"cmd": "dht_put", "key": key, "value_hex": hex::encode(res3.encode_to_vec())}));
    assert_eq!(put["ok"], true, "{put}");
    let got = a.call(json!({"cmd": "dht_get", "key": key}));
    assert_eq!(got["value_hex"], json!(hex::encode(res3.encode_to_vec())), "{got}");

    let bad = b.call(json!({"cmd": "nope"}));
    assert_eq!(bad["ok"], false);
    a.quit();
    b.quit();
}
