package control

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/invalidations"
)

// startEdge runs a heartbeating edge, node, following the invalidations
// on a connection of its own, until ctx ends; purge runs for each path.
func startEdge(t *testing.T, ctx context.Context, s *bus.Server, node string, purge func(d, p string) error) {
	t.Helper()
	conn, err := s.Connect(ctx, node)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	f, err := invalidations.New(ctx, invalidations.Options{Conn: conn, Node: node, POP: "p",
		Purge: func(d string, t invalidations.Target) error { return purge(d, t.Path) }})
	if err != nil {
		t.Fatal(err)
	}
	go f.Run(ctx)
	go SendHeartbeats(ctx, conn.NATS(), 50*time.Millisecond, func() Heartbeat { return Heartbeat{NodeID: node, POP: "p"} })
}

// recordWrites counts the writes of each invalidation record, and keeps
// the last one of each.
func recordWrites(t *testing.T, ctx context.Context, conn *bus.Conn) func(id string) (int, Invalidation) {
	t.Helper()
	kv, err := conn.KV(ctx, bus.InvalidationsBucket)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := kv.Watch(ctx, ">", 0)
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		n    int
		last Invalidation
	}
	got := make(chan map[string]seen)
	go func() {
		m := map[string]seen{}
		for {
			select {
			case e, ok := <-ch:
				if !ok {
					return
				}
				if e.Op == bus.OpPut {
					var inv Invalidation
					json.Unmarshal(e.Value, &inv)
					m[e.Key] = seen{m[e.Key].n + 1, inv}
				}
			case got <- m:
				m2 := map[string]seen{}
				for k, v := range m {
					m2[k] = v
				}
				m = m2
			}
		}
	}()
	return func(id string) (int, Invalidation) {
		s := (<-got)[id]
		return s.n, s.last
	}
}

// TestInvalidationCompletedOnceKeptWithFewWrites: with many edges
// acknowledging at once, the invalidation is Completed once every one
// has, its record is written a few times (not once per edge), and the
// API reports Completed only once the record says so.
func TestInvalidationCompletedOnceKeptWithFewWrites(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := bus.Start(bus.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	conn, store := newInvalidationsBusOn(t, ctx, s)
	edges, err := WatchEdges(ctx, conn.NATS())
	if err != nil {
		t.Fatal(err)
	}
	edges.mu.Lock()
	edges.started = edges.started.Add(-GoneAfter)
	edges.mu.Unlock()
	iv, err := NewInvalidations(ctx, conn, store, edges)
	if err != nil {
		t.Fatal(err)
	}
	writes := recordWrites(t, ctx, conn)
	// The moment the bucket says Completed, so does the API.
	disagree := make(chan string, 1)
	kv, err := conn.KV(ctx, bus.InvalidationsBucket)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := kv.Watch(ctx, ">", 0)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for e := range ch {
			var rec Invalidation
			if e.Op != bus.OpPut || json.Unmarshal(e.Value, &rec) != nil || rec.Status != Completed {
				continue
			}
			if got, err := iv.Get(ctx, "site", rec.ID); err != nil || got.Status != Completed {
				select {
				case disagree <- fmt.Sprintf("the bucket says Completed, the API %s (%v)", got.Status, err):
				default:
				}
			}
		}
	}()
	const n = 20
	for i := range n {
		startEdge(t, ctx, s, fmt.Sprintf("e%02d", i), func(string, string) error { return nil })
	}
	waitUntil(t, "the edges alive", func() bool { return len(edges.List()) == n })

	inv, err := iv.Create(ctx, "site", InvalidationRequest{Paths: []string{"/a"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, inv.ID); err != nil {
		t.Errorf("Create returned before the record was kept: %v", err)
	}
	var got Invalidation
	waitUntil(t, "Completed", func() bool {
		got, err = iv.Get(ctx, "site", inv.ID)
		return err == nil && got.Status == Completed
	})
	e, err := kv.Get(ctx, inv.ID)
	var rec Invalidation
	if err == nil {
		err = json.Unmarshal(e.Value, &rec)
	}
	if err != nil || rec.Status != Completed || !rec.Completed.Equal(got.Completed) || len(rec.Acked) != n {
		t.Errorf("the API reports Completed at %v, the record says %s at %v with %d acknowledgements (%v)",
			got.Completed, rec.Status, rec.Completed, len(rec.Acked), err)
	}
	var w int
	waitUntil(t, "the Completed record watched", func() bool {
		var last Invalidation
		w, last = writes(inv.ID)
		return last.Status == Completed
	})
	select {
	case msg := <-disagree:
		t.Error(msg)
	default:
	}
	if w > 3 {
		t.Errorf("record written %d times for %d acknowledgements, want at most 3", w, n)
	}
	if len(got.Acked) != n || len(got.Waiting) != 0 {
		t.Errorf("Completed with %d acknowledgements, %d waiting; want %d, 0", len(got.Acked), len(got.Waiting), n)
	}
}

// TestLostAcknowledgementsMadeGoodFromTheStream: edges apply an
// invalidation while the control plane is away, so their
// acknowledgements are lost; the control plane that comes back completes
// it from the edges' places in the stream, whether it asks about each
// edge (a few) or lists them all (many).
func TestLostAcknowledgementsMadeGoodFromTheStream(t *testing.T) {
	for _, n := range []int{1, askOneByOne + 2} {
		t.Run(fmt.Sprintf("%d edges", n), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := bus.Start(bus.Options{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Shutdown)
			conn, store := newInvalidationsBusOn(t, ctx, s)
			cpCtx, stopCP := context.WithCancel(ctx)
			edges, err := WatchEdges(cpCtx, conn.NATS())
			if err != nil {
				t.Fatal(err)
			}
			iv, err := NewInvalidations(cpCtx, conn, store, edges)
			if err != nil {
				t.Fatal(err)
			}
			gate := make(chan struct{})
			applied := make(chan string, n)
			for i := range n {
				node := fmt.Sprintf("e%02d", i)
				startEdge(t, ctx, s, node, func(string, string) error {
					<-gate
					applied <- node
					return nil
				})
			}
			waitUntil(t, "the edges alive", func() bool { return len(edges.List()) == n })
			inv, err := iv.Create(ctx, "site", InvalidationRequest{Paths: []string{"/a"}})
			if err != nil || inv.Status != InProgress {
				t.Fatalf("%+v %v", inv, err)
			}

			stopCP()                          // away: no one hears the acknowledgements
			time.Sleep(50 * time.Millisecond) // its subscription ends
			close(gate)
			for range n {
				<-applied
			}

			edges, err = WatchEdges(ctx, conn.NATS())
			if err != nil {
				t.Fatal(err)
			}
			iv, err = NewInvalidations(ctx, conn, store, edges)
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(GoneAfter + ackGrace + 3*time.Second)
			for {
				got, err := iv.Get(ctx, "site", inv.ID)
				if err == nil && got.Status == Completed {
					if len(got.Acked) != n {
						t.Errorf("Completed with %d acknowledgements, want %d", len(got.Acked), n)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("not Completed from the stream: %+v %v", got, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestInvalidationCompletesWithoutAnEdgeThatWentAway: an edge that stops
// heartbeating is no longer waited for.
func TestInvalidationCompletesWithoutAnEdgeThatWentAway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := bus.Start(bus.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	conn, store := newInvalidationsBusOn(t, ctx, s)
	edges, err := WatchEdges(ctx, conn.NATS())
	if err != nil {
		t.Fatal(err)
	}
	edges.mu.Lock()
	edges.goneAfter = 300 * time.Millisecond
	edges.started = edges.started.Add(-time.Second)
	edges.mu.Unlock()
	iv, err := NewInvalidations(ctx, conn, store, edges)
	if err != nil {
		t.Fatal(err)
	}
	startEdge(t, ctx, s, "up", func(string, string) error { return nil })
	stuckCtx, stopStuck := context.WithCancel(ctx)
	startEdge(t, stuckCtx, s, "stuck", func(string, string) error { <-ctx.Done(); return nil })
	waitUntil(t, "both edges alive", func() bool { return len(edges.List()) == 2 })

	inv, err := iv.Create(ctx, "site", InvalidationRequest{Paths: []string{"/a"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if got, _ := iv.Get(ctx, "site", inv.ID); got.Status != InProgress || len(got.Waiting) != 1 || got.Waiting[0] != "stuck" {
		t.Fatalf("with a live edge that has not applied it: %+v", got)
	}
	stopStuck() // its heartbeats stop
	waitUntil(t, "Completed without the edge gone", func() bool {
		got, err := iv.Get(ctx, "site", inv.ID)
		return err == nil && got.Status == Completed
	})
}
