package control

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/terncdn/tern/invalidations"
)

func TestInvalidationsCompleteWhenEveryLiveEdgeApplied(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, store := newInvalidationsBus(t, ctx)
	edges, err := WatchEdges(ctx, conn.NATS())
	if err != nil {
		t.Fatal(err)
	}
	edges.mu.Lock()
	edges.started = edges.started.Add(-GoneAfter) // listening long enough to know every live edge
	edges.mu.Unlock()
	iv, err := NewInvalidations(ctx, conn, store, edges)
	if err != nil {
		t.Fatal(err)
	}

	// No edge yet: nothing to wait for.
	inv, err := iv.Create(ctx, "site", InvalidationRequest{Paths: []string{"/a.jpg"}, CallerReference: "ref-1"})
	if err != nil || inv.Status != Completed {
		t.Fatalf("with no live edge: %+v %v", inv, err)
	}

	// One live edge, following the stream.
	go SendHeartbeats(ctx, conn.NATS(), 20*time.Millisecond, func() Heartbeat { return Heartbeat{NodeID: "e1", POP: "p"} })
	waitUntil(t, "the edge alive", func() bool { l := edges.List(); return len(l) == 1 && l[0].Alive })
	var mu sync.Mutex
	var purged []string
	gate := make(chan struct{})
	f, err := invalidations.New(ctx, invalidations.Options{Conn: conn, Node: "e1", POP: "p", Purge: func(d string, t invalidations.Target) error {
		p := t.Path
		<-gate
		mu.Lock()
		purged = append(purged, d+p)
		mu.Unlock()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	close(gate) // the first invalidation (issued before the edge) is caught up on
	if n, err := f.CatchUp(ctx); err != nil || n != 1 {
		t.Fatalf("catch up: %d, %v", n, err)
	}
	gate = make(chan struct{})
	go f.Run(ctx)

	inv, err = iv.Create(ctx, "site", InvalidationRequest{Paths: []string{"/img/*", "/b.css"}, CallerReference: "ref-2"})
	if err != nil || inv.Status != InProgress || len(inv.Waiting) != 1 || inv.Waiting[0] != "e1" {
		t.Fatalf("with a live edge that has not applied it: %+v %v", inv, err)
	}
	close(gate)
	waitUntil(t, "Completed", func() bool {
		got, err := iv.Get(ctx, "site", inv.ID)
		return err == nil && got.Status == Completed
	})
	mu.Lock()
	if len(purged) != 3 || purged[1] != "site/img/*" || purged[2] != "site/b.css" {
		t.Errorf("purged %q", purged)
	}
	mu.Unlock()
	list, err := iv.List(ctx, "site")
	if err != nil || len(list) != 2 || list[0].ID != inv.ID {
		t.Errorf("list: %+v %v", list, err)
	}

	// Refused: bad paths, no paths, an unknown distribution.
	for _, c := range []struct {
		dist  string
		paths []string
		want  error
	}{
		{"site", []string{"img/a.jpg"}, ErrBadInvalidation},
		{"site", []string{"/a*b"}, ErrBadInvalidation},
		{"site", nil, ErrBadInvalidation},
		{"nope", []string{"/a"}, ErrNotFound},
	} {
		if _, err := iv.Create(ctx, c.dist, InvalidationRequest{Paths: c.paths}); !errors.Is(err, c.want) {
			t.Errorf("Create(%q, %q): %v, want %v", c.dist, c.paths, err, c.want)
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
