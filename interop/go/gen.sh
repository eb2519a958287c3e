#!/usr/bin/env bash
# Regenerates pb/registry.pb.go and rendezvouspb/rendezvous.pb.go from ../../protocols/*.proto.
# Needs: Go (installs protoc-gen-go at the version pinned in go.mod) and the project's
# Python venv with grpcio-tools (which bundles protoc). No system protoc is required.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
cd "$here"
ver="$(go list -m -f '{{.Version}}' google.golang.org/protobuf)"
GOBIN="$here/bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$ver"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$python" -m grpc_tools.protoc \
  --plugin=protoc-gen-go="$here/bin/protoc-gen-go" \
  --go_out="$tmp" \
  -I "$root/protocols" "$root/protocols/registry.proto" "$root/protocols/rendezvous.proto"
# go_package is "registryp2p/interop/go/pb;pb": the output lands under that import path.
mkdir -p "$here/pb"
cp "$tmp/registryp2p/interop/go/pb/registry.pb.go" "$here/pb/registry.pb.go"
mkdir -p "$here/rendezvouspb"
cp "$tmp/registryp2p/interop/go/rendezvouspb/rendezvous.pb.go" "$here/rendezvouspb/rendezvous.pb.go"
echo "generated pb/registry.pb.go and rendezvouspb/rendezvous.pb.go"
