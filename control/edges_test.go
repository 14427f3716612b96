package control

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/terncdn/tern/bus"
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
