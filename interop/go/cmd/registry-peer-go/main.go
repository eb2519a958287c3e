// Command registry-peer-go is a registry-p2p peer built on go-libp2p, driven by
// line-delimited JSON on stdin/stdout (see README.md). Logs go to stderr.
package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"registryp2p/interop/go/core"

	"registryp2p/interop/go/peer"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var listen, bootstrap multiFlag
	keyHex := flag.String("key-hex", "", "libp2p PrivateKey protobuf, hex (default: a fresh ed25519 key)")
	k := flag.Int("k", 20, "replica set size")
	timeout := flag.Duration("timeout", 6*time.Second, "timeout of network operations")
	flag.Var(&listen, "listen", "listen multiaddr (repeatable; default /ip4/127.0.0.1/tcp/0)")
	flag.Var(&bootstrap, "bootstrap", "bootstrap multiaddr with /p2p/<id> (repeatable)")
	bench := flag.Bool("bench", false, "run the go-libp2p-kad-dht bench network instead (JSON on stdout), then exit")
	benchServers := flag.Int("bench-servers", 20, "bench: DHT servers")
	benchClients := flag.Int("bench-clients", 2, "bench: light clients (DHT client mode)")
	benchSamples := flag.Int("bench-samples", 30, "bench: samples per metric")
	flag.Parse()
	if *bench {
		if err := runBench(*benchServers, *benchClients, *benchSamples, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}

	logger := log.New(os.Stderr, "registry-peer-go: ", log.LstdFlags|log.Lmicroseconds)
	cfg := peer.Config{Listen: listen, Bootstrap: bootstrap, K: *k, Timeout: *timeout, Logger: logger}
	if *keyHex != "" {
		raw, err := hex.DecodeString(*keyHex)
		if err == nil {
			cfg.Key, err = core.UnmarshalPrivateKey(raw)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad --key-hex:", err)
			os.Exit(2)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := peer.New(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		os.Exit(1)
	}
	srv := peer.NewServer(n, os.Stdout)
	srv.Ready()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, os.Stdin) }()
	select {
	case err = <-done:
	case <-ctx.Done():
	}
	closed := make(chan struct{})
	go func() { _ = n.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		logger.Print("close timed out")
	}
	if err != nil {
		logger.Print(err)
		os.Exit(1)
	}
}
