// Package peer runs a go-libp2p host with the registry DHT validator, gossipsub and the
// /registry/1.0.0 client, and answers the line-delimited JSON commands of registry-peer-go.
package peer

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pspb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	corepeer "github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"registryp2p/interop/go/core"
)

// KadProtocol is the only Kademlia wire id py-libp2p speaks.
const KadProtocol = "/ipfs/kad/1.0.0"

// Config configures a Node.
type Config struct {
	Listen    []string       // multiaddrs; default /ip4/127.0.0.1/tcp/0
	Key       crypto.PrivKey // nil: a fresh ed25519 key
	Bootstrap []string       // multiaddrs with /p2p/<id>
	K         int            // replica set size; default 20
	Timeout   time.Duration  // network operations; default 6 s
	Logger    *log.Logger    // stderr logger; nil discards
}

// Node is one running peer.
type Node struct {
	cfg    Config
	Host   host.Host
	DHT    *dht.IpfsDHT
	PS     *pubsub.PubSub
	key    crypto.PrivKey
	logf   func(string, ...any)
	ctx    context.Context
	cancel context.CancelFunc

	rpc *rpcClient

	mu         sync.Mutex
	resources  map[string]*core.ResourceInfo // by b58 id: ones we created or fetched
	topics     map[string]*pubsub.Topic
	watching   map[string]bool
	lastIssued uint64
	events     func(map[string]any) // watch events sink
}

// New starts a node.
func New(ctx context.Context, cfg Config) (*Node, error) {
	if len(cfg.Listen) == 0 {
		cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	if cfg.K <= 0 {
		cfg.K = 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 6 * time.Second
	}
	key := cfg.Key
	if key == nil {
		var err error
		key, _, err = crypto.GenerateEd25519Key(nil)
		if err != nil {
			return nil, err
		}
	}
	n := &Node{
		cfg: cfg, key: key,
		resources: map[string]*core.ResourceInfo{},
		topics:    map[string]*pubsub.Topic{},
		watching:  map[string]bool{},
		events:    func(map[string]any) {},
		logf:      func(string, ...any) {},
	}
	if cfg.Logger != nil {
		n.logf = cfg.Logger.Printf
	}
	n.ctx, n.cancel = context.WithCancel(ctx)

	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(cfg.Listen...),
		libp2p.NoTransports,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New), // Noise first, TLS as a fallback
		libp2p.Security(tls.ID, tls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
	)
	if err != nil {
		n.cancel()
		return nil, fmt.Errorf("libp2p host: %w", err)
	}
	n.Host = h
	n.rpc = newRPCClient(h)

	var boot []corepeer.AddrInfo
	for _, s := range cfg.Bootstrap {
		ai, err := parseP2PAddr(s)
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("bootstrap %q: %w", s, err)
		}
		boot = append(boot, *ai)
	}
	kad, err := dht.New(h,
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix("/registry-p2p"), // not /ipfs: that prefix forbids extra validators
		dht.V1ProtocolOverride(KadProtocol), // the wire id stays /ipfs/kad/1.0.0
		dht.NamespacedValidator(core.DHTNamespace, core.DHTValidator{}),
		dht.BootstrapPeers(boot...),
	)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("kad dht: %w", err)
	}
	n.DHT = kad

	gp := pubsub.DefaultGossipSubParams()
	gp.D, gp.Dlo, gp.Dhi, gp.Dout, gp.Dscore, gp.Dlazy = 4, 2, 8, 1, 2, 4
	ps, err := pubsub.NewGossipSub(n.ctx, h,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMessageIdFn(func(m *pspb.Message) string {
			d := sha256.Sum256(m.Data)
			return string(d[:])
		}),
		pubsub.WithGossipSubParams(gp),
	)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("gossipsub: %w", err)
	}
	n.PS = ps

	for _, ai := range boot {
		if err := n.Connect(n.ctx, ai); err != nil {
			n.logf("bootstrap %s: %v", ai.ID, err)
		}
	}
	return n, nil
}

// Close stops the node.
func (n *Node) Close() error {
	n.cancel()
	if n.DHT != nil {
		_ = n.DHT.Close()
	}
	if n.Host != nil {
		return n.Host.Close()
	}
	return nil
}

// ID is the node's peer id.
func (n *Node) ID() corepeer.ID { return n.Host.ID() }

// Addrs are the listen addresses with /p2p/<id>.
func (n *Node) Addrs() []string {
	var out []string
	for _, a := range n.Host.Addrs() {
		out = append(out, a.String()+"/p2p/"+n.ID().String())
	}
	return out
}

// binaryAddrs are the node's addresses (without /p2p) as binary multiaddrs, for records.
func (n *Node) binaryAddrs() [][]byte {
	var out [][]byte
	for _, a := range n.Host.Addrs() {
		out = append(out, a.Bytes())
	}
	return out
}

func parseP2PAddr(s string) (*corepeer.AddrInfo, error) {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, err
	}
	return corepeer.AddrInfoFromP2pAddr(m)
}

// Connect dials a peer, waits for identify and offers it to the DHT routing table.
func (n *Node) Connect(ctx context.Context, ai corepeer.AddrInfo) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	if err := n.Host.Connect(ctx, ai); err != nil {
		return err
	}
	n.waitIdentify(ctx, ai.ID)
	if n.DHT != nil {
		if ok, _ := n.DHT.RoutingTable().TryAddPeer(ai.ID, true, false); !ok {
			n.logf("routing table did not take %s (kad protocol not announced?)", ai.ID)
		}
	}
	return nil
}

// waitIdentify blocks until identify finished on a connection to p, or ctx ends.
func (n *Node) waitIdentify(ctx context.Context, p corepeer.ID) {
	idh, ok := n.Host.(interface{ IDService() identify.IDService })
	if !ok {
		return
	}
	for _, c := range n.Host.Network().ConnsToPeer(p) {
		select {
		case <-idh.IDService().IdentifyWait(c):
		case <-ctx.Done():
			return
		}
	}
}

// supportsRegistry tells whether p announced /registry/1.0.0 in identify.
func (n *Node) supportsRegistry(p corepeer.ID) bool {
	got, err := n.Host.Peerstore().SupportsProtocols(p, core.ProtocolID)
	return err == nil && len(got) > 0
}

// ReseedRoutingTable offers every connected peer that speaks Kademlia to the routing table.
// go-libp2p-kad-dht evicts a peer after one failed query, and py-libp2p resets streams it
// cannot parse (for example the refresh's random keys), so the table of a Go peer in a small
// Python network can run empty although the connections are fine.
func (n *Node) ReseedRoutingTable() {
	for _, p := range n.Host.Network().Peers() {
		if got, err := n.Host.Peerstore().SupportsProtocols(p, KadProtocol); err == nil && len(got) > 0 {
			_, _ = n.DHT.RoutingTable().TryAddPeer(p, true, false)
		}
	}
}

// ClosestPeers runs an iterative lookup for the 32 raw bytes of a resource id.
func (n *Node) ClosestPeers(ctx context.Context, rid []byte) ([]corepeer.ID, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	n.ReseedRoutingTable()
	return n.DHT.GetClosestPeers(ctx, string(rid))
}

// ReplicaSet is the K closest peers to rid that speak /registry/1.0.0 (after identify).
func (n *Node) ReplicaSet(ctx context.Context, rid []byte) ([]corepeer.ID, error) {
	peers, err := n.ClosestPeers(ctx, rid)
	if err != nil && len(peers) == 0 {
		// An empty routing table still leaves directly connected registry peers.
		n.logf("closest peers lookup: %v", err)
	}
	seen := map[corepeer.ID]bool{}
	var cands []corepeer.ID
	for _, p := range peers {
		if p != n.ID() && !seen[p] {
			seen[p] = true
			cands = append(cands, p)
		}
	}
	for _, p := range n.Host.Network().Peers() {
		if !seen[p] {
			seen[p] = true
			cands = append(cands, p)
		}
	}
	// Make sure every candidate is connected and identified, in parallel.
	var wg sync.WaitGroup
	ok := make([]bool, len(cands))
	for i, p := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !n.supportsRegistry(p) {
				cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				defer cancel()
				if n.Host.Network().Connectedness(p) != network.Connected {
					if err := n.Host.Connect(cctx, n.Host.Peerstore().PeerInfo(p)); err != nil {
						return
					}
				}
				n.waitIdentify(cctx, p)
			}
			ok[i] = n.supportsRegistry(p)
		}()
	}
	wg.Wait()
	var out []corepeer.ID
	for i, p := range cands {
		if ok[i] {
			out = append(out, p)
		}
	}
	sortByDistance(out, rid)
	if len(out) > n.cfg.K {
		out = out[:n.cfg.K]
	}
	return out, nil
}
