package control

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/invalidations"
)

// newInvalidationsBus starts NATS with the config bucket and a store
// holding distribution "site".
func newInvalidationsBus(t *testing.T, ctx context.Context) (*bus.Conn, *Store) {
	t.Helper()
	s, err := bus.Start(bus.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return newInvalidationsBusOn(t, ctx, s)
}

// newTracker is newInvalidationsBus with the edge registry and the
// invalidation tracker on it.
func newTracker(t *testing.T, ctx context.Context) (*bus.Conn, *Store, *Invalidations) {
	t.Helper()
	conn, store := newInvalidationsBus(t, ctx)
	edges, err := WatchEdges(ctx, conn.NATS())
	if err != nil {
		t.Fatal(err)
	}
	iv, err := NewInvalidations(ctx, conn, store, edges)
	if err != nil {
		t.Fatal(err)
	}
	return conn, store, iv
}

// newInvalidationsBusOn is newInvalidationsBus on a server already
// started, for tests that connect edges to it.
func newInvalidationsBusOn(t *testing.T, ctx context.Context, s *bus.Server) (*bus.Conn, *Store) {
	t.Helper()
	conn, err := s.Connect(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if err := conn.EnsureBuckets(ctx, bus.BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	kv, _ := conn.KV(ctx, bus.ConfigBucket)
	store, err := NewStore(kv, []byte(testBase), "tern.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Create(ctx, []byte(dist("site", "site.example"))); err != nil {
		t.Fatal(err)
	}
	return conn, store
}

// TestControlPlaneRestartKeepsInvalidationsInProgress: a control plane
// that restarts has heard no heartbeat yet, but the edges it heard before
// are still alive (they heartbeat every HeartbeatInterval). An invalidation
// a live edge has not applied must stay InProgress across the restart, and
// one issued just after the restart must wait for that edge too.
func TestControlPlaneRestartKeepsInvalidationsInProgress(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, store := newInvalidationsBus(t, ctx)
	heartbeat := func() {
		b, _ := json.Marshal(Heartbeat{NodeID: "e1", POP: "p", Sent: time.Now()})
		if err := conn.NATS().Publish(bus.HeartbeatSubject("p", "e1"), b); err != nil {
			t.Fatal(err)
		}
		conn.NATS().Flush()
	}
	cpCtx, stopCP := context.WithCancel(ctx)
	edges, err := WatchEdges(cpCtx, conn.NATS())
	if err != nil {
		t.Fatal(err)
	}
	iv, err := NewInvalidations(cpCtx, conn, store, edges)
	if err != nil {
		t.Fatal(err)
	}
	// The edge follows the stream but is slow: it applies nothing yet.
	gate := make(chan struct{})
	defer close(gate)
	f, err := invalidations.New(ctx, invalidations.Options{Conn: conn, Node: "e1", POP: "p",
		Purge: func(string, invalidations.Target) error { <-gate; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	go f.Run(ctx)

	heartbeat()
	waitUntil(t, "the edge alive", func() bool { l := edges.List(); return len(l) == 1 && l[0].Alive })
	before, err := iv.Create(ctx, "site", InvalidationRequest{Paths: []string{"/a.jpg"}})
	if err != nil || before.Status != InProgress {
		t.Fatalf("with a live edge that has not applied it: %+v %v", before, err)
	}

	// The control plane restarts; the edge goes on, heartbeating every
	// second (one just before the restart, the next within the second).
	stopCP()
	heartbeat()
	edges, err = WatchEdges(ctx, conn.NATS())
	if err != nil {
		t.Fatal(err)
	}
	iv, err = NewInvalidations(ctx, conn, store, edges)
	if err != nil {
		t.Fatal(err)
	}
	after, err := iv.Create(ctx, "site", InvalidationRequest{Paths: []string{"/b.jpg"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // two reconcile rounds
	heartbeat()                        // the edge is alive, within its interval
	waitUntil(t, "the edge alive", func() bool { l := edges.List(); return len(l) == 1 && l[0].Alive })
	for _, id := range []string{before.ID, after.ID} {
		got, err := iv.Get(ctx, "site", id)
		if err != nil || got.Status != InProgress {
			t.Errorf("invalidation %s after the restart: %+v %v, want InProgress: edge e1 is alive and has not applied it", id, got, err)
		}
	}
}

// TestListInvalidationsOfUnknownDistribution: the API answers 404 for a
// distribution that does not exist, as it does for POST and for one
// invalidation, not an empty list.
func TestListInvalidationsOfUnknownDistribution(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, store, iv := newTracker(t, ctx)
	h, err := API(store, "tok", WithInvalidations(iv))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		body         string
		want         int
	}{
		{"GET", "/api/v1/distributions/site/invalidations", "", 200},
		{"POST", "/api/v1/distributions/nope/invalidations", `{"paths":["/a"]}`, 404},
		{"GET", "/api/v1/distributions/nope/invalidations/I123", "", 404},
		{"GET", "/api/v1/distributions/nope/invalidations", "", 404},
	} {
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer tok")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, rec.Code, rec.Body, c.want)
		}
	}
}
