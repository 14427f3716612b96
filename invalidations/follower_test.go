package invalidations

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

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

// TestCatchUpAfterTheStreamForgot: an edge away longer than the stream
// keeps invalidations (here the stream is purged instead of waiting 7
// days) cannot replay what it missed: it empties its cache, once. An edge
// that missed nothing keeps its cache; so does a new edge on a stream that
// never lost anything.
func TestCatchUpAfterTheStreamForgot(t *testing.T) {
	ctx := context.Background()
	conn := startStream(t)
	publish := func(id string) {
		b, _ := json.Marshal(bus.Invalidation{ID: id, Distribution: "d", Paths: []string{"/" + id}})
		if _, err := conn.JetStream().Publish(ctx, bus.InvalidationSubject("d"), b); err != nil {
			t.Fatal(err)
		}
	}
	var emptied int
	dir := t.TempDir()
	follower := func(node string) *Follower {
		f, err := New(ctx, Options{Conn: conn, Node: node, POP: "p",
			Purge:        func(string, Target) error { return nil },
			PurgeAll:     func() { emptied++ },
			PositionFile: filepath.Join(dir, node+".position")})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	publish("I1")
	if _, err := follower("e1").CatchUp(ctx); err != nil || emptied != 0 {
		t.Fatalf("a new edge on a complete stream: emptied %d, %v", emptied, err)
	}
	// e1 is away: I2 and I3 are issued, then age out.
	publish("I2")
	publish("I3")
	st, err := conn.JetStream().Stream(ctx, bus.InvalidationsStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	publish("I4")
	if n, err := follower("e1").CatchUp(ctx); err != nil || emptied != 1 || n != 1 {
		t.Fatalf("back after the stream forgot two: emptied %d times, applied %d, %v; want emptied once, I4 applied", emptied, n, err)
	}
	if _, err := follower("e1").CatchUp(ctx); err != nil || emptied != 1 {
		t.Fatalf("nothing missed since: emptied %d times, %v", emptied, err)
	}
	// A new edge joining after invalidations aged out may hold a cache
	// older than them.
	if _, err := follower("e2").CatchUp(ctx); err != nil || emptied != 2 {
		t.Fatalf("a new edge after the stream forgot: emptied %d times, %v", emptied, err)
	}
}

// TestAppliedAndSeq: each purge target carries its invalidation's stream
// sequence, and Applied hears how far the stream is applied: after a
// catch-up, and after each invalidation.
func TestAppliedAndSeq(t *testing.T) {
	ctx := context.Background()
	conn := startStream(t)
	publish := func(id string) {
		b, _ := json.Marshal(bus.Invalidation{ID: id, Distribution: "d", Paths: []string{"/" + id}})
		if _, err := conn.JetStream().Publish(ctx, bus.InvalidationSubject("d"), b); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var seqs, applied []uint64
	f, err := New(ctx, Options{Conn: conn, Node: "e1", POP: "p",
		Purge:   func(_ string, tg Target) error { mu.Lock(); seqs = append(seqs, tg.Seq); mu.Unlock(); return nil },
		Applied: func(seq uint64) { mu.Lock(); applied = append(applied, seq); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	publish("I1")
	publish("I2")
	if _, err := f.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if !slices.Equal(seqs, []uint64{1, 2}) || len(applied) == 0 || applied[len(applied)-1] != 2 {
		t.Errorf("after catching up: targets at %v, applied %v; want 1, 2 and applied up to 2", seqs, applied)
	}
	mu.Unlock()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go f.Run(rctx)
	publish("I3")
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		last := applied[len(applied)-1]
		mu.Unlock()
		if last == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("applied %v, want it to reach 3", applied)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
