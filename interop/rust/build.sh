#!/usr/bin/env bash
# Build (and optionally test) the Rust peer with a target dir that outlives the clone.
#   interop/rust/build.sh            # debug build -> $CARGO_TARGET_DIR/debug/registry-peer-rust
#   interop/rust/build.sh test       # cargo test (vectors + two-peer test)
#   interop/rust/build.sh --release  # lean release build (profile "release")
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/registry-p2p/cargo-target}"
if [[ "${1:-}" == "test" ]]; then
    shift
    exec cargo test --locked "$@"
fi
cargo build --locked "$@"
profile=debug
[[ " $* " == *" --release "* ]] && profile=release
echo "$CARGO_TARGET_DIR/$profile/registry-peer-rust"
