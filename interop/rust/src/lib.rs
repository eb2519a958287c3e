//! registry-p2p peer in Rust: the pure rules of INTEROP-CONTRACT.md (ids, signing domains,
//! validation, precedence) plus the libp2p networking used by the `registry-peer-rust` binary.

pub mod core;
pub mod frame;
pub mod net;

/// Types generated from `protocols/registry.proto` by build.rs (prost-build + protox).
pub mod pb {
    #![allow(clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/registry.v1.rs"));
}
