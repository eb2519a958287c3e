package main

// The go-libp2p-kad-dht baseline of `registry-p2p bench` (issue 13): an N-node kad-dht network in
// this one process on loopback (TCP+Noise+Yamux, fresh ed25519 keys), measured from two light
// clients (DHT client mode) the way the Python bench measures py-libp2p and the registry: the
// writer provides key i and puts value i, the reader (which holds neither) finds key i's
// providers and gets value i. Also the floor of go-libp2p itself: one request/response on an
// open stream and on a new stream per request, between two of the servers. Prints one JSON
// object on stdout; logs nothing else there.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	corepeer "github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/multiformats/go-multihash"
)

const (
	benchNS       = "bench"
	benchPrefix   = "/registry-p2p-bench" // not /ipfs: that prefix forbids other validators
	benchEcho     = "/registry-p2p-bench/echo/1.0.0"
	benchOpTimout = 60 * time.Second
	echoBytes     = 64
)

// anyValue accepts any non-empty value, as the Python bench's baseline namespace does.
type anyValue struct{}

func (anyValue) Validate(_ string, value []byte) error {
	if len(value) == 0 {
		return errors.New("empty")
	}
	return nil
}

func (anyValue) Select(_ string, _ [][]byte) (int, error) { return 0, nil }

type metric struct {
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	N        int     `json:"n"`
	Failures int     `json:"failures"`
}

type timings struct {
	samples  map[string][]time.Duration
	failures map[string]int
	reasons  map[string][]string
}

func (t *timings) time(name string, op func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), benchOpTimout)
	defer cancel()
	started := time.Now()
	err := op(ctx)
	elapsed := time.Since(started)
	if err != nil {
		t.failures[name]++
		if len(t.reasons[name]) < 5 {
			t.reasons[name] = append(t.reasons[name], err.Error())
		}
		return
	}
	t.samples[name] = append(t.samples[name], elapsed)
}

// quantiles: the median and the nearest-rank p99, as registry_p2p.tools.bench.quantiles.
func quantiles(samples []time.Duration, failures int) metric {
	if len(samples) == 0 {
		return metric{Failures: failures} // n = 0: no figure (JSON has no NaN)
	}
	ms := make([]float64, len(samples))
	for i, d := range samples {
		ms[i] = float64(d.Nanoseconds()) / 1e6
	}
	sort.Float64s(ms)
	n := len(ms)
	p50 := ms[n/2]
	if n%2 == 0 {
		p50 = (ms[n/2-1] + ms[n/2]) / 2
	}
	rank := (99*n + 99) / 100 // ceil(0.99 n)
	if rank < 1 {
		rank = 1
	}
	return metric{P50ms: p50, P99ms: ms[rank-1], N: n, Failures: failures}
}

func benchHost() (host.Host, error) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, err
	}
	return libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.NoTransports,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
	)
}

type benchPeer struct {
	h   host.Host
	kad *dht.IpfsDHT
}

func startPeer(ctx context.Context, mode dht.ModeOpt, boot []benchPeer) (benchPeer, error) {
	h, err := benchHost()
	if err != nil {
		return benchPeer{}, err
	}
	kad, err := dht.New(h,
		dht.Mode(mode),
		dht.ProtocolPrefix(benchPrefix),
		dht.NamespacedValidator(benchNS, anyValue{}),
	)
	if err != nil {
		_ = h.Close()
		return benchPeer{}, err
	}
	for _, b := range boot {
		if err := h.Connect(ctx, corepeer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()}); err != nil {
			return benchPeer{}, fmt.Errorf("connect: %w", err)
		}
	}
	return benchPeer{h, kad}, nil
}

// refreshAll: every peer's routing-table refresh (a self-lookup and one per bucket), concurrently,
// once everyone is up (the early joiners met only the first node), as the Python bench does.
func refreshAll(peers []benchPeer) {
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Add(1)
		go func(p benchPeer) {
			defer wg.Done()
			select {
			case <-p.kad.RefreshRoutingTable():
			case <-time.After(30 * time.Second):
			}
		}(p)
	}
	wg.Wait()
}

func benchKey(i int, tag string) []byte {
	sum := sha256.Sum256(fmt.Appendf(nil, "registry-p2p go bench %s %d %d", tag, i, os.Getpid()))
	return sum[:]
}

func benchCid(i int) (cid.Cid, error) {
	mh, err := multihash.Encode(benchKey(i, "p"), multihash.SHA2_256)
	if err != nil {
		return cid.Undef, err
	}
	return cid.NewCidV1(cid.Raw, mh), nil
}

func valueKey(i int) string { return "/" + benchNS + "/" + hex.EncodeToString(benchKey(i, "v")) }

func findProviders(ctx context.Context, reader benchPeer, c cid.Cid, count int, want corepeer.ID) error {
	found := false
	for ai := range reader.kad.FindProvidersAsync(ctx, c, count) {
		if ai.ID == want {
			found = true
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !found {
		return errors.New("provider not found")
	}
	return nil
}

// echoFloor: one request of echoBytes and its echo, on an open stream and on a new stream each.
func echoFloor(t *timings, from, to host.Host, samples int) error {
	to.SetStreamHandler(benchEcho, func(s network.Stream) {
		defer s.Close()
		buf := make([]byte, echoBytes)
		for {
			if _, err := io.ReadFull(s, buf); err != nil {
				return
			}
			if _, err := s.Write(buf); err != nil {
				return
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), benchOpTimout)
	defer cancel()
	if err := from.Connect(ctx, corepeer.AddrInfo{ID: to.ID(), Addrs: to.Addrs()}); err != nil {
		return err
	}
	request := make([]byte, echoBytes)
	roundTrip := func(s network.Stream) error {
		if _, err := s.Write(request); err != nil {
			return err
		}
		_, err := io.ReadFull(s, make([]byte, echoBytes))
		return err
	}
	open, err := from.NewStream(ctx, to.ID(), benchEcho)
	if err != nil {
		return err
	}
	defer open.Close()
	if err := roundTrip(open); err != nil { // negotiation happens on the first write: untimed
		return err
	}
	for range samples {
		t.time("go_floor_open_stream", func(context.Context) error { return roundTrip(open) })
	}
	for range samples {
		t.time("go_floor_new_stream", func(ctx context.Context) error {
			s, err := from.NewStream(ctx, to.ID(), benchEcho)
			if err != nil {
				return err
			}
			defer s.Close()
			return roundTrip(s)
		})
	}
	return nil
}

func moduleVersions() map[string]string {
	out := map[string]string{}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			switch dep.Path {
			case "github.com/libp2p/go-libp2p", "github.com/libp2p/go-libp2p-kad-dht":
				out[dep.Path] = dep.Version
			}
		}
		out["go"] = info.GoVersion
	}
	return out
}

// runBench starts `servers` DHT servers and `clients` (>= 2) light clients, measures, prints JSON.
func runBench(servers, clients, samples int, out io.Writer) error {
	if servers < 2 || clients < 2 || samples < 1 {
		return errors.New("need at least 2 servers, 2 clients and 1 sample")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	began := time.Now()
	var all []benchPeer
	defer func() {
		for _, p := range all {
			_ = p.kad.Close()
			_ = p.h.Close()
		}
	}()
	first, err := startPeer(ctx, dht.ModeServer, nil)
	if err != nil {
		return err
	}
	all = append(all, first)
	for range servers - 1 {
		p, err := startPeer(ctx, dht.ModeServer, []benchPeer{first})
		if err != nil {
			return err
		}
		all = append(all, p)
	}
	refreshAll(all)
	var light []benchPeer
	for range clients {
		p, err := startPeer(ctx, dht.ModeClient, all[:3])
		if err != nil {
			return err
		}
		light = append(light, p)
	}
	refreshAll(light)
	all = append(all, light...)
	startup := time.Since(began)
	writer, reader := light[0], light[1]

	t := &timings{samples: map[string][]time.Duration{}, failures: map[string]int{}, reasons: map[string][]string{}}
	if err := echoFloor(t, all[0].h, all[1].h, samples); err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	cids := make([]cid.Cid, samples)
	for i := range samples {
		if cids[i], err = benchCid(i); err != nil {
			return err
		}
	}
	for i := range samples {
		t.time("go_provide", func(ctx context.Context) error { return writer.kad.Provide(ctx, cids[i], true) })
		t.time("go_put_value", func(ctx context.Context) error {
			return writer.kad.PutValue(ctx, valueKey(i), fmt.Appendf(nil, "value %d", i))
		})
	}
	for i := range samples {
		t.time("go_find_providers", func(ctx context.Context) error {
			return findProviders(ctx, reader, cids[i], 20, writer.h.ID())
		})
		t.time("go_find_providers_1", func(ctx context.Context) error {
			return findProviders(ctx, reader, cids[i], 1, writer.h.ID())
		})
		// A fresh reader's value store holds nothing of value i, and GetValue stores nothing.
		t.time("go_get_value", func(ctx context.Context) error {
			got, err := reader.kad.GetValue(ctx, valueKey(i))
			if err != nil {
				return err
			}
			if string(got) != fmt.Sprintf("value %d", i) {
				return fmt.Errorf("wrong value %q", got)
			}
			return nil
		})
	}
	metrics := map[string]metric{}
	for _, name := range []string{
		"go_provide", "go_find_providers", "go_find_providers_1", "go_put_value", "go_get_value",
		"go_floor_open_stream", "go_floor_new_stream",
	} {
		metrics[name] = quantiles(t.samples[name], t.failures[name])
	}
	return json.NewEncoder(out).Encode(map[string]any{
		"servers":         servers,
		"clients":         clients,
		"samples":         samples,
		"versions":        moduleVersions(),
		"startup_s":       startup.Seconds(),
		"wall_s":          time.Since(began).Seconds(),
		"metrics":         metrics,
		"failure_reasons": t.reasons,
	})
}
