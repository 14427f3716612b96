package configwatch

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/terncdn/tern/bus"
)

// TestRunningWatcherFollowsAControlPlaneThatLostItsStore: the control
// plane comes back on the same address with an empty store (its data dir
// lost or wiped), so the config bucket's revisions start again at 1. A
// node that stayed up through it must end up serving the new bucket's
// distributions, not the old ones: its watch must not resume after the old
// bucket's last revision, which the new one has not reached.
func TestRunningWatcherFollowsAControlPlaneThatLostItsStore(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := func() (*bus.Server, *bus.KV) {
		s, err := bus.Start(bus.Options{Dir: t.TempDir(), Listen: addr})
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.Connect(ctx, "control")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if err := c.EnsureBuckets(ctx, bus.BucketOptions{}); err != nil {
			t.Fatal(err)
		}
		kv, err := c.KV(ctx, bus.ConfigBucket)
		if err != nil {
			t.Fatal(err)
		}
		return s, kv
	}
	s1, kv1 := start()
	for _, id := range []string{"a", "b", "c"} {
		if _, err := kv1.Put(ctx, DistributionPrefix+id, dist(id, id+".example")); err != nil {
			t.Fatal(err)
		}
	}
	edgeConn, err := bus.Connect(ctx, "nats://"+addr, "edge")
	if err != nil {
		t.Fatal(err)
	}
	defer edgeConn.Close()
	edgeKV, err := edgeConn.KV(ctx, bus.ConfigBucket)
	if err != nil {
		t.Fatal(err)
	}
	var got applied
	w := New(Options{Base: []byte(base), BaseSource: "node.yaml", Apply: got.apply})
	done := make(chan error, 1)
	go func() { done <- w.RunOn(ctx, edgeKV) }()
	waitFor(t, "the old bucket's distributions", func() bool { return got.last() == "a,b,c" })

	s1.Shutdown()
	s2, kv2 := start() // the same address, an empty store
	defer s2.Shutdown()
	if _, err := kv2.Put(ctx, DistributionPrefix+"x", dist("x", "x.example")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for got.last() != "x" {
		if time.Now().After(deadline) {
			t.Fatalf("after the control plane came back with an empty store holding only x: in service %q, status %+v", got.last(), w.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}
