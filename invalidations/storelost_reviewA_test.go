package invalidations

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/terncdn/tern/bus"
)

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRunningEdgeFollowsAControlPlaneThatLostItsStore: the control plane
// comes back on the same address with an empty store (its data dir was
// lost or wiped): the stream and every edge's consumer are new. An edge
// that stayed up through it must go on applying invalidations; else it
// serves what they removed and, as it still sends heartbeats, every
// invalidation stays InProgress for good.
func TestRunningEdgeFollowsAControlPlaneThatLostItsStore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := freeAddr(t)
	start := func() (*bus.Server, *bus.Conn) {
		s, err := bus.Start(bus.Options{Dir: t.TempDir(), Listen: addr})
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.Connect(ctx, "control")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.EnsureInvalidations(ctx, bus.BucketOptions{}); err != nil {
			t.Fatal(err)
		}
		return s, c
	}
	publish := func(c *bus.Conn, id string) {
		b, _ := json.Marshal(bus.Invalidation{ID: id, Distribution: "d", Paths: []string{"/" + id}})
		if _, err := c.JetStream().Publish(ctx, bus.InvalidationSubject("d"), b); err != nil {
			t.Fatal(err)
		}
	}
	s1, c1 := start()
	edgeConn, err := bus.Connect(ctx, "nats://"+addr, "edge")
	if err != nil {
		t.Fatal(err)
	}
	defer edgeConn.Close()
	var mu sync.Mutex
	purged := map[string]bool{}
	f, err := New(ctx, Options{Conn: edgeConn, Node: "e1", POP: "p",
		Purge: func(_ string, tg Target) error {
			mu.Lock()
			defer mu.Unlock()
			purged[tg.Path] = true
			return nil
		},
		PositionFile: t.TempDir() + "/position"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	go f.Run(ctx)
	has := func(p string) bool {
		mu.Lock()
		defer mu.Unlock()
		return purged[p]
	}
	waitPurged := func(p string, within time.Duration) bool {
		for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if has(p) {
				return true
			}
		}
		return false
	}
	publish(c1, "I1")
	if !waitPurged("/I1", 5*time.Second) {
		t.Fatal("I1 not applied before the restart")
	}
	c1.Close()
	s1.Shutdown()

	s2, c2 := start() // the same address, an empty store
	defer s2.Shutdown()
	defer c2.Close()
	for end := time.Now().Add(10 * time.Second); !edgeConn.NATS().IsConnected(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the edge did not reconnect")
		}
	}
	publish(c2, "I2")
	if !waitPurged("/I2", 20*time.Second) {
		t.Fatal("an invalidation issued after the control plane came back with an empty store was never applied by the running edge")
	}
}
