package invalidations

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"github.com/terncdn/tern/bus"
)

// TestCatchUpReplaysOnlyWhatWasMissed: an edge that was away applies, on
// its return, the invalidations issued meanwhile, and not again those it
// had applied.
func TestCatchUpReplaysOnlyWhatWasMissed(t *testing.T) {
	ctx := context.Background()
	conn := startStream(t)
	publish := func(id string, paths ...string) {
		b, _ := json.Marshal(bus.Invalidation{ID: id, Distribution: "d", Paths: paths})
		if _, err := conn.JetStream().Publish(ctx, bus.InvalidationSubject("d"), b); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var purged []string
	follower := func() *Follower {
		f, err := New(ctx, Options{Conn: conn, Node: "edge.1", POP: "p", Purge: func(d string, t Target) error {
			p := t.Path
			mu.Lock()
			purged = append(purged, p)
			mu.Unlock()
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	publish("I1", "/a", "/b")
	if n, err := follower().CatchUp(ctx); err != nil || n != 1 {
		t.Fatalf("first start: %d, %v", n, err)
	}
	// Away: two more are issued.
	publish("I2", "/c")
	publish("I3", "/d/*")
	if n, err := follower().CatchUp(ctx); err != nil || n != 2 {
		t.Fatalf("back: %d, %v", n, err)
	}
	if n, err := follower().CatchUp(ctx); err != nil || n != 0 {
		t.Fatalf("nothing new: %d, %v", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"/a", "/b", "/c", "/d/*"}; !slices.Equal(purged, want) {
		t.Errorf("purged %q, want %q in order, each once", purged, want)
	}
}

// startStream starts an embedded NATS server with the invalidations
// stream and returns a connection to it.
func startStream(t *testing.T) *bus.Conn {
	t.Helper()
	s, err := bus.Start(bus.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	ctx := context.Background()
	conn, err := s.Connect(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if err := conn.EnsureInvalidations(ctx, bus.BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return conn
}
