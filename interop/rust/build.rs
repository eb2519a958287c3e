// Generates Rust types from ../../protocols/registry.proto with prost-build, using protox
// (a pure-Rust protobuf compiler) so that no system `protoc` is needed.
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let proto_dir = manifest.join("../../protocols");
    let proto = proto_dir.join("registry.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let fds = protox::compile([&proto], [&proto_dir]).expect("protox: cannot compile registry.proto");
    prost_build::Config::new()
        .compile_fds(fds)
        .expect("prost-build: cannot generate code");
}
