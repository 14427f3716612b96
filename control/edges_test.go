package control

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/telemetry"
)

func TestHeartbeatsMakeEdgesAliveThenGone(t *testing.T) {
	srv, err := bus.Start(bus.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := srv.Connect(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	edges, err := WatchEdges(ctx, conn.NATS())
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	edges.mu.Lock()
	edges.now = func() time.Time { return clock }
	edges.mu.Unlock()

	hbCtx, stopHB := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		SendHeartbeats(hbCtx, conn.NATS(), 10*time.Millisecond, func() Heartbeat {
			return Heartbeat{NodeID: "edge-1", POP: "fra", Version: "v1", ConfigRevision: 7}
		})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(edges.List()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := edges.List()[0]
	if !got.Alive || got.POP != "fra" || got.ConfigRevision != 7 || got.Version != "v1" {
		t.Fatalf("edge %+v", got)
	}
	stopHB()
	<-done
	// GoneAfter without a heartbeat: listed, not alive.
	edges.mu.Lock()
	clock = clock.Add(GoneAfter + time.Second)
	edges.mu.Unlock()
	if l := edges.List(); len(l) != 1 || l[0].Alive {
		t.Fatalf("after %v of silence: %+v", GoneAfter, l)
	}

	// Through the API, with the token.
	store, err := NewStore(newKV(t), []byte(testBase), "tern.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h, err := API(store, "tok", WithEdges(edges))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/api/v1/edges", nil)
	req.Header.Set("Authorization", "Bearer tok")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body struct{ Edges []Edge }
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &body) != nil || len(body.Edges) != 1 || body.Edges[0].NodeID != "edge-1" {
		t.Fatalf("GET /api/v1/edges: %d %s", rec.Code, rec.Body)
	}
}

// TestEdgeRates: the control plane turns two heartbeats' totals into the
// edge's rates over the interval between them, and shows none across a
// restart of the edge (its totals start again).
func TestEdgeRates(t *testing.T) {
	e := &Edges{goneAfter: GoneAfter, now: time.Now, started: time.Now(), edges: map[string]*Edge{}, byPOP: map[string]map[string]*Edge{}}
	start, t0 := time.Now().Add(-time.Hour), time.Now()
	hb := func(sent time.Time, started time.Time, req, hits, bytes, origin uint64) Heartbeat {
		return Heartbeat{NodeID: "e1", POP: "p", Started: started, Sent: sent,
			Metrics: &telemetry.Summary{Requests: req, Hits: hits, BytesOut: bytes, OriginRequests: origin}}
	}
	e.seen(hb(t0, start, 100, 50, 10000, 50))
	if r := e.List()[0].Rates; r != nil {
		t.Fatalf("rates from one heartbeat: %+v", r)
	}
	e.seen(hb(t0.Add(2*time.Second), start, 300, 230, 30000, 70))
	r := e.List()[0].Rates
	if r == nil || r.RequestsPerSecond != 100 || r.HitRatio != 0.9 || r.BytesOutPerSecond != 10000 || r.OriginRequestsPerSecond != 10 {
		t.Fatalf("rates %+v, want 100 req/s, 0.9 hit ratio, 10000 B/s, 10 origin req/s", r)
	}
	// Restarted: its totals start again; no negative rates.
	e.seen(hb(t0.Add(3*time.Second), t0.Add(2500*time.Millisecond), 5, 0, 100, 5))
	if r := e.List()[0].Rates; r != nil {
		t.Fatalf("rates across a restart: %+v", r)
	}
}
