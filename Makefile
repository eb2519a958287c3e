# registry-p2p — every command a developer or CI needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test lint typecheck unit demo proto vectors bench bench-rendezvous bench-store bench-cli clean interop interop-build

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	touch $(STAMP)

lint: venv
	$(VENV)/bin/ruff check registry_p2p tests examples
	$(VENV)/bin/ruff format --check registry_p2p tests examples

typecheck: venv
	$(VENV)/bin/mypy

unit: venv
	$(PY) -m pytest -q tests --ignore=tests/interop

test: lint typecheck unit interop

# The Go and Rust peers (interop/go, interop/rust): build both, run their own suites, then the
# cross-language tests. Cargo's target dir lives outside the clone, so rebuilds stay incremental.
GO ?= $(or $(shell command -v go 2>/dev/null),/usr/local/go/bin/go)
CARGO ?= $(or $(shell command -v cargo 2>/dev/null),$(HOME)/.cargo/bin/cargo)
CARGO_TARGET_DIR ?= $(HOME)/.cache/registry-p2p/cargo-target

interop-build:
	cd interop/go && $(GO) build -o bin/registry-peer-go ./cmd/registry-peer-go
	cd interop/rust && CARGO_TARGET_DIR=$(CARGO_TARGET_DIR) $(CARGO) build --locked

interop: venv interop-build
	cd interop/go && $(GO) test ./...
	cd interop/rust && CARGO_TARGET_DIR=$(CARGO_TARGET_DIR) $(CARGO) test --locked
	CARGO_TARGET_DIR=$(CARGO_TARGET_DIR) $(PY) -m pytest -q tests/interop

demo: venv
	$(VENV)/bin/registry-p2p testnet --demo

# Regenerate the Python protobuf code (grpcio-tools' bundled protoc: no system protoc needed).
proto: venv
	$(PY) -m grpc_tools.protoc -Iprotocols --python_out=registry_p2p/pb --pyi_out=registry_p2p/pb protocols/registry.proto protocols/rendezvous.proto

vectors: venv
	$(PY) -m registry_p2p.tools.gen_vectors

# The registry against py-libp2p's own DHT records on a 20-node loopback network (ARGS="--json F").
bench: venv
	$(PY) -m registry_p2p.tools.bench $(ARGS)

bench-rendezvous: venv
	$(PY) -m registry_p2p.tools.bench_rendezvous $(ARGS)

bench-store: venv
	$(PY) -m registry_p2p.tools.bench_store

# Whole `registry-p2p` processes against a local node's API, with the light-node path as baseline.
bench-cli: venv
	$(PY) -m registry_p2p.tools.bench_cli $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
