package bus

import (
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TestLeafNode: a plain NATS server in a POP, with the control plane's
// server as its leaf remote, lets the POP's clients use the config bucket
// and its watch through it; a leaf without the token is refused.
func TestLeafNode(t *testing.T) {
	leafAddr := freePort(t)
	hub := startServer(t, Options{Dir: t.TempDir(), Listen: "127.0.0.1:0", Token: "s3cret", LeafListen: leafAddr})
	if got := hub.LeafURL(); got != "nats-leaf://leaf:s3cret@"+leafAddr {
		t.Fatalf("LeafURL = %q", got)
	}
	hubKV := openConfig(t, hub)

	leaf := startLeaf(t, hub.LeafURL())
	ctx := testCtx(t)
	c, err := ConnectDomain(ctx, leaf.ClientURL(), "edge via leaf", Domain)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The leaf forwards JetStream to the hub once the leaf connection is up.
	var kv *KV
	deadline := time.Now().Add(10 * time.Second)
	for {
		if kv, err = c.KV(ctx, ConfigBucket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the config bucket through the leaf node: %v (hub leafs %d, leaf leafs %d)", err, hub.ns.NumLeafNodes(), leaf.ns.NumLeafNodes())
		}
		time.Sleep(50 * time.Millisecond)
	}
	ch, err := kv.Watch(ctx, "distribution.>", 0)
	if err != nil {
		t.Fatal(err)
	}
	if e := next(t, ch); e.Op != OpSynced {
		t.Fatalf("first entry %s, want synced", describe(e))
	}
	if _, err := hubKV.Put(ctx, "distribution.a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if e := next(t, ch); e.Key != "distribution.a" || string(e.Value) != "x" {
		t.Fatalf("through the leaf: %s", describe(e))
	}

	// A leaf with a wrong token never connects.
	bad := startLeaf(t, "nats-leaf://leaf:wrong@"+leafAddr)
	time.Sleep(500 * time.Millisecond)
	if n := bad.ns.NumLeafNodes(); n != 0 {
		t.Errorf("a leaf with the wrong token has %d connections", n)
	}
}

// leafServer is a plain NATS server (no JetStream) with one leaf remote.
type leafServer struct{ ns *server.Server }

func (l leafServer) ClientURL() string { return l.ns.ClientURL() }

func startLeaf(t *testing.T, remote string) leafServer {
	t.Helper()
	u, err := url.Parse(remote)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
		LeafNode: server.LeafNodeOpts{Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{u}}}, ReconnectInterval: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("leaf server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return leafServer{ns}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
