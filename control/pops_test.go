package control

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/configwatch"
)

// popsAPI is the API with WithEdges and WithPOPs over one embedded NATS
// server, and an edge in "fra" heartbeating to it.
func newPOPsAPI(t *testing.T) (*testAPI, *bus.KV) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	conn, store := newInvalidationsBus(t, ctx)
	edges, err := WatchEdges(ctx, conn.NATS())
	if err != nil {
		t.Fatal(err)
	}
	go SendHeartbeats(ctx, conn.NATS(), 20*time.Millisecond, func() Heartbeat { return Heartbeat{NodeID: "fra-1", POP: "fra"} })
	waitUntil(t, "a heartbeat", func() bool { return len(edges.List()) == 1 })
	kv, _ := conn.KV(ctx, bus.ConfigBucket)
	h, err := API(store, testToken, WithEdges(edges), WithPOPs(edges, NewDrains(kv)))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &testAPI{t: t, kv: kv, srv: srv}, kv
}

func (a *testAPI) pops() []POP {
	a.t.Helper()
	r := a.do("GET", "/api/v1/pops", "")
	want(a.t, r, 200)
	var out struct{ POPs []POP }
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		a.t.Fatalf("GET /api/v1/pops: %q: %v", r.body, err)
	}
	return out.POPs
}

// TestDrainAPI: a drain is kept in the config bucket under its own key,
// listed with the POPs heard from, and undrained; bad names and bodies
// are refused naming the field; the API's token guards it.
func TestDrainAPI(t *testing.T) {
	a, kv := newPOPsAPI(t)
	if p := a.pops(); len(p) != 1 || p[0].Name != "fra" || p[0].LiveEdges != 1 || p[0].Drained {
		t.Fatalf("before any drain: %+v", p)
	}

	r := a.do("PUT", "/api/v1/pops/fra/drain", `{"reason": "disk swap"}`, "Content-Type", "application/json")
	want(t, r, 200)
	var got POP
	if json.Unmarshal([]byte(r.body), &got) != nil || !got.Drained || got.Reason != "disk swap" || got.LiveEdges != 1 || got.Since.IsZero() {
		t.Fatalf("PUT drain: %s", r.body)
	}
	e, err := kv.Get(context.Background(), "drain.fra")
	if err != nil || !strings.Contains(string(e.Value), "disk swap") {
		t.Fatalf("drain.fra in the bucket: %q %v", e.Value, err)
	}
	// A POP not heard from can be drained too (its edges are not up yet);
	// no body is a drain without a reason.
	want(t, a.do("PUT", "/api/v1/pops/nrt-2/drain", ""), 200)
	p := a.pops()
	if len(p) != 2 || p[0].Name != "fra" || !p[0].Drained || p[0].Reason != "disk swap" || p[1].Name != "nrt-2" || !p[1].Drained || p[1].Edges != 0 {
		t.Fatalf("listed: %+v", p)
	}
	// Draining again keeps when it began.
	time.Sleep(5 * time.Millisecond)
	r = a.do("PUT", "/api/v1/pops/fra/drain", `{"reason": "still swapping"}`, "Content-Type", "application/json")
	want(t, r, 200)
	var again POP
	json.Unmarshal([]byte(r.body), &again)
	if again.Reason != "still swapping" || !again.Since.Equal(got.Since) {
		t.Errorf("drained again: %+v, first since %v", again, got.Since)
	}

	want(t, a.do("DELETE", "/api/v1/pops/fra/drain", ""), 204)
	if _, err := kv.Get(context.Background(), "drain.fra"); err == nil {
		t.Error("drain.fra still in the bucket")
	}
	r = a.do("DELETE", "/api/v1/pops/fra/drain", "")
	want(t, r, 404)
	if e := r.errorBody(t); !strings.Contains(e.Error, "not drained") {
		t.Errorf("undrain twice: %s", r.body)
	}
	if p := a.pops(); len(p) != 2 || p[0].Drained || !p[1].Drained {
		t.Errorf("after undrain: %+v", p)
	}

	for _, tc := range []struct{ path, body, field string }{
		{"/api/v1/pops/a..b/drain", "", "pop"},
		{"/api/v1/pops/a.b/drain", "", "pop"},
		{"/api/v1/pops/FRA/drain", "", "pop"},
		{"/api/v1/pops/-x/drain", "", "pop"},
		{"/api/v1/pops/x%2Ay/drain", "", "pop"},
		{"/api/v1/pops/d1a2b3c4e/drain", "", "pop"},
		{"/api/v1/pops/" + strings.Repeat("a", 64) + "/drain", "", "pop"},
		{"/api/v1/pops/fra/drain", `{"reason": "` + strings.Repeat("r", MaxDrainReason+1) + `"}`, "reason"},
	} {
		r := a.do("PUT", tc.path, tc.body, "Content-Type", "application/json")
		want(t, r, 400)
		if e := r.errorBody(t); len(e.Fields) != 1 || e.Fields[0].Field != tc.field {
			t.Errorf("PUT %s: %s, want field %q named", tc.path, r.body, tc.field)
		}
	}
	want(t, a.do("DELETE", "/api/v1/pops/a..b/drain", ""), 400)
	want(t, a.do("PUT", "/api/v1/pops/fra/drain", `{"why": "x"}`, "Content-Type", "application/json"), 400)
	want(t, a.do("PUT", "/api/v1/pops/fra/drain", `reason: x`, "Content-Type", "application/yaml"), 415)
	want(t, a.do("POST", "/api/v1/pops/fra/drain", ""), 405)
	want(t, a.do("POST", "/api/v1/pops", ""), 405)
	want(t, a.do("PUT", "/api/v1/pops/fra/drain", "", "Authorization", ""), 401)
	want(t, a.do("GET", "/api/v1/pops", "", "Authorization", "Bearer wrong"), 401)
	if _, err := kv.Get(context.Background(), "drain.fra"); err == nil {
		t.Error("a refused request drained fra")
	}
}

// TestDrainKeysAreNotDistributions: a node following the configuration
// never sees a drain key: its revision does not move and nothing is
// refused.
func TestDrainKeysAreNotDistributions(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, _ := newInvalidationsBus(t, ctx)
	kv, _ := conn.KV(ctx, bus.ConfigBucket)
	var mu sync.Mutex
	applied := 0
	w := configwatch.New(configwatch.Options{Base: []byte(testBase), BaseSource: "tern.yaml", Apply: func(*config.Config) error {
		mu.Lock()
		applied++
		mu.Unlock()
		return nil
	}})
	go w.RunOn(ctx, kv)
	<-w.Synced()
	before := w.Status()
	if _, err := NewDrains(kv).Set(ctx, "fra", "maintenance"); err != nil {
		t.Fatal(err)
	}
	if err := NewDrains(kv).Clear(ctx, "fra"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if st := w.Status(); applied != 1 || st.Revision != before.Revision || st.Error != "" {
		t.Errorf("after a drain and undrain: applied %d times, status %+v (was %+v)", applied, st, before)
	}
}

// TestDrainWatcher: a node's watcher applies the bucket's drains whole at
// start (replacing the set kept from before), then each change, and
// keeps the set on disk for a start without the control plane.
func TestDrainWatcher(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, _ := newInvalidationsBus(t, ctx)
	kv, _ := conn.KV(ctx, bus.ConfigBucket)
	drains := NewDrains(kv)
	if _, err := drains.Set(ctx, "fra", "one"); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "drains.json")
	// A set kept from before: iad was drained then, and is not now.
	if err := os.WriteFile(state, []byte(`[{"pop":"iad","reason":"old","since":"2024-01-01T00:00:00Z"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var last map[string]Drain
	w := NewDrainWatcher(state, func(m map[string]Drain) {
		mu.Lock()
		last = m
		mu.Unlock()
	})
	current := func() map[string]Drain {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
	if ok, err := w.LoadState(); !ok || err != nil || current()["iad"].Reason != "old" {
		t.Fatalf("LoadState: %v %v %+v", ok, err, current())
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.RunOn(wctx, kv) }()
	<-w.Synced()
	if m := current(); len(m) != 1 || m["fra"].Reason != "one" {
		t.Fatalf("at sync: %+v", m)
	}
	if _, err := drains.Set(ctx, "nrt", "two"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "nrt drained", func() bool { return current()["nrt"].Reason == "two" })
	if err := drains.Clear(ctx, "fra"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "fra undrained", func() bool { _, ok := current()["fra"]; return !ok })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A new watcher starting from the file alone has the last set.
	w2 := NewDrainWatcher(state, func(m map[string]Drain) {
		mu.Lock()
		last = m
		mu.Unlock()
	})
	if ok, err := w2.LoadState(); !ok || err != nil {
		t.Fatalf("LoadState: %v %v", ok, err)
	}
	if m := current(); len(m) != 1 || m["nrt"].Reason != "two" {
		t.Errorf("from the state file: %+v", m)
	}
}
