package invalidations_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/control"
	"github.com/terncdn/tern/edge"
	"github.com/terncdn/tern/invalidations"
	"github.com/terncdn/tern/storage/disk"
	"github.com/terncdn/tern/storage/memory"
	"github.com/terncdn/tern/storage/tiered"
)

// tagOrigin serves each path with its tags, an ETag, and 304 for a
// matching If-None-Match, counting full and conditional fetches per path.
type tagOrigin struct {
	mu         sync.Mutex
	full, cond map[string]int
}

var originTags = map[string][2]string{ // Surrogate-Key, Cache-Tag
	"/a": {"red", ""},
	"/b": {"", "red, blue"},
	"/c": {"blue", ""},
	"/d": {"", ""},
}

func (o *tagOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := originTags[r.URL.Path]
	if t[0] != "" {
		w.Header().Set("Surrogate-Key", t[0])
	}
	if t[1] != "" {
		w.Header().Set("Cache-Tag", t[1])
	}
	w.Header().Set("Cache-Control", "public, max-age=600")
	etag := `"` + r.URL.Path + `"`
	w.Header().Set("ETag", etag)
	o.mu.Lock()
	defer o.mu.Unlock()
	if r.Header.Get("If-None-Match") == etag {
		o.cond[r.URL.Path]++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	o.full[r.URL.Path]++
	io.WriteString(w, "body of "+r.URL.Path)
}

func (o *tagOrigin) counts() (full, cond map[string]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	full, cond = map[string]int{}, map[string]int{}
	for k, v := range o.full {
		full[k] = v
	}
	for k, v := range o.cond {
		cond[k] = v
	}
	return full, cond
}

// testEdge is one edge: a tiered cache over a disk directory, its HTTP
// server and its invalidation follower.
type testEdge struct {
	srv    *edge.Server
	store  *tiered.Store
	disk   *disk.Store
	http   *httptest.Server
	cancel context.CancelFunc
	done   chan struct{}
}

func startEdge(t *testing.T, conn *bus.Conn, originURL, diskDir string) *testEdge {
	t.Helper()
	u, _ := url.Parse(originURL)
	c, err := config.Parse([]byte(`
edge: {node_id: e1, pop: p}
admin: {listen: "off"}
distributions:
  - id: site
    aliases: [site.example]
    origins: [{id: o, domain_name: `+u.Hostname()+`, http_port: `+u.Port()+`}]
    default_cache_behavior: {target_origin_id: o}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	d, err := disk.Open(disk.Options{Path: diskDir, Size: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ts := tiered.New(memory.New(16<<20, 1<<20), []tiered.Disk{d}, tiered.Options{PromoteMax: 16 << 10, DiskMax: 1 << 30})
	srv, err := edge.New(edge.Options{Config: c, Storage: ts, Bodies: ts, BodiesMax: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// As tern serve wires it.
	f, err := invalidations.New(ctx, invalidations.Options{Conn: conn, Node: "e1", POP: "p",
		Purge: func(dist string, t invalidations.Target) error {
			if t.Tag != "" {
				_, err := srv.PurgeTag(dist, t.Tag, t.Soft)
				return err
			}
			_, err := srv.PurgePath(dist, t.Path, t.Soft)
			return err
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	e := &testEdge{srv: srv, store: ts, disk: d, http: httptest.NewServer(srv), cancel: cancel, done: make(chan struct{})}
	go func() { defer close(e.done); f.Run(ctx) }()
	return e
}

// stop stops the edge as a process exit would, after its disk writes.
func (e *testEdge) stop() {
	e.cancel()
	<-e.done
	e.http.Close()
	e.srv.Close()
	e.store.Close()
	e.disk.Close()
}

func (e *testEdge) get(t *testing.T, path string) (xcache, body string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.http.URL+path, nil)
	req.Host = "site.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, f := range []string{"Surrogate-Key", "Cache-Tag"} {
		if v := resp.Header.Get(f); v != "" {
			t.Errorf("GET %s: the viewer sees %s: %q", path, f, v)
		}
	}
	return resp.Header.Get("X-Cache"), string(b)
}

// TestInvalidationByTagAndSoftPurgeEndToEnd issues invalidations through
// the control API; they travel the NATS stream to an edge's follower,
// which applies them to a memory and disk cache in front of a real origin.
func TestInvalidationByTagAndSoftPurgeEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns, err := bus.Start(bus.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	conn, err := ns.Connect(ctx, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.EnsureBuckets(ctx, bus.BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	kv, _ := conn.KV(ctx, bus.ConfigBucket)
	store, err := control.NewStore(kv, []byte("edge: {node_id: c}\nadmin: {listen: \"off\"}\n"), "tern.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Create(ctx, []byte("id: site\naliases: [site.example]\norigins: [{id: o, domain_name: origin.example.org}]\ndefault_cache_behavior: {target_origin_id: o}\n")); err != nil {
		t.Fatal(err)
	}
	edges, err := control.WatchEdges(ctx, conn.NATS())
	if err != nil {
		t.Fatal(err)
	}
	iv, err := control.NewInvalidations(ctx, conn, store, edges)
	if err != nil {
		t.Fatal(err)
	}
	api, err := control.API(store, "tok", control.WithInvalidations(iv))
	if err != nil {
		t.Fatal(err)
	}
	apiSrv := httptest.NewServer(api)
	defer apiSrv.Close()
	go control.SendHeartbeats(ctx, conn.NATS(), 100*time.Millisecond, func() control.Heartbeat { return control.Heartbeat{NodeID: "e1", POP: "p"} })

	o := &tagOrigin{full: map[string]int{}, cond: map[string]int{}}
	originSrv := httptest.NewServer(o)
	defer originSrv.Close()
	diskDir := t.TempDir()
	e := startEdge(t, conn, originSrv.URL, diskDir)
	defer func() { e.stop() }()

	// invalidate issues one invalidation through the API and waits until
	// it is Completed: the edge has applied it.
	invalidate := func(body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", apiSrv.URL+"/api/v1/distributions/site/invalidations", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var inv control.Invalidation
		json.NewDecoder(resp.Body).Decode(&inv)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %d", body, resp.StatusCode)
		}
		deadline := time.Now().Add(15 * time.Second)
		for inv.Status != control.Completed {
			if time.Now().After(deadline) {
				t.Fatalf("invalidation %s not Completed: %+v", body, inv)
			}
			time.Sleep(20 * time.Millisecond)
			req, _ := http.NewRequest("GET", apiSrv.URL+"/api/v1/distributions/site/invalidations/"+inv.ID, nil)
			req.Header.Set("Authorization", "Bearer tok")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			json.NewDecoder(resp.Body).Decode(&inv)
			resp.Body.Close()
		}
	}
	expect := func(when string, want map[string]string) {
		t.Helper()
		for _, p := range []string{"/a", "/b", "/c", "/d"} {
			if got, body := e.get(t, p); got != want[p] || body != "body of "+p {
				t.Errorf("%s: GET %s = %s %q, want %s", when, p, got, body, want[p])
			}
		}
	}
	hits := map[string]string{"/a": "Hit from tern", "/b": "Hit from tern", "/c": "Hit from tern", "/d": "Hit from tern"}
	expect("first fetch", map[string]string{"/a": "Miss from tern", "/b": "Miss from tern", "/c": "Miss from tern", "/d": "Miss from tern"})
	expect("cached", hits)

	// A hard purge of tag red removes exactly /a and /b.
	invalidate(`{"tags":["red"]}`)
	expect("after purging tag red", map[string]string{"/a": "Miss from tern", "/b": "Miss from tern", "/c": "Hit from tern", "/d": "Hit from tern"})
	full, _ := o.counts()
	if full["/a"] != 2 || full["/b"] != 2 || full["/c"] != 1 || full["/d"] != 1 {
		t.Errorf("origin full fetches after the tag purge: %v", full)
	}

	// A soft purge (a path and a tag) keeps the objects: the next request
	// revalidates (If-None-Match, 304) and serves the stored body.
	invalidate(`{"paths":["/d"],"tags":["blue"],"mode":"soft"}`)
	expect("after the soft purge", map[string]string{"/a": "Hit from tern", "/b": "RefreshHit from tern", "/c": "RefreshHit from tern", "/d": "RefreshHit from tern"})
	expect("after the revalidations", hits)
	full2, cond := o.counts()
	for p, n := range full {
		if p != "/a" && p != "/b" && full2[p] != n {
			t.Errorf("%s: %d full fetches after the soft purge, want still %d", p, full2[p], n)
		}
	}
	if cond["/b"] != 1 || cond["/c"] != 1 || cond["/d"] != 1 || cond["/a"] != 0 {
		t.Errorf("conditional fetches after the soft purge: %v, want one each for /b, /c, /d", cond)
	}

	// Restart the edge on the same disk: the objects come back from disk
	// with their tags, and a purge by tag reaches them there.
	e.stop()
	e = startEdge(t, conn, originSrv.URL, diskDir)
	expect("after a restart", hits)
	invalidate(`{"tags":["blue"]}`)
	expect("after purging tag blue after the restart", map[string]string{"/a": "Hit from tern", "/b": "Miss from tern", "/c": "Miss from tern", "/d": "Hit from tern"})
}
