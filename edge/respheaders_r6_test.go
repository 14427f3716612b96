package edge

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/origin"
	"github.com/terncdn/tern/storage/disk"
	"github.com/terncdn/tern/storage/memory"
	"github.com/terncdn/tern/storage/tiered"
	"github.com/terncdn/tern/tier"
)

// timingMetric returns the dur of metric name in a Server-Timing value,
// or -1 when it is not there.
func timingMetric(st, name string) int {
	m := regexp.MustCompile(`(?:^|[, ])` + regexp.QuoteMeta(name) + `;dur=(\d+)`).FindStringSubmatch(st)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestServerTimingUpstreamMetrics: a response the edge fetched for (a
// miss, a refresh, a compressed miss, a pass) carries cdn-upstream-dns,
// cdn-upstream-connect and cdn-upstream-fbl, and a miss from the origin
// cdn-upstream-layer;desc="EDGE" as well; connect is the time to set
// up a new connection and 0 on a reused one; a response served from the
// cache, also to a viewer who waited on another viewer's fetch, carries
// none of them.
func TestServerTimingUpstreamMetrics(t *testing.T) {
	const slowConnect = 80 * time.Millisecond
	var gate sync.Mutex // held: /slow/ answers wait for it
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch {
		case strings.HasPrefix(r.URL.Path, "/slow/"):
			gate.Lock()
			gate.Unlock() //nolint:staticcheck // a barrier
		case strings.HasPrefix(r.URL.Path, "/refresh/"):
			h.Set("ETag", `"r"`)
			if r.Header.Get("If-None-Match") == `"r"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			h.Set("Cache-Control", "max-age=0")
			io.WriteString(w, "refresh me")
			return
		}
		h.Set("Cache-Control", "max-age=600")
		h.Set("Content-Type", "text/plain")
		io.WriteString(w, strings.Repeat("compress me ", 100)) // under 2 KiB: sent with Content-Length
	}))
	t.Cleanup(o.Close)
	u, _ := url.Parse(o.URL)

	// New connections to the origin take slowConnect after the dial.
	d := &net.Dialer{}
	client := origin.NewClient(origin.ClientOptions{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		time.Sleep(slowConnect)
		return conn, err
	}})
	c, err := config.Parse([]byte(`
edge: {node_id: t1, pop: tst}
admin: {listen: "off"}
response_headers_policies:
  - name: timing
    server_timing_headers_config: {enabled: true, sampling_rate: 100}
distributions:
  - id: d
    origins: [{id: o, domain_name: `+u.Hostname()+`, http_port: `+u.Port()+`}]
    default_cache_behavior: {target_origin_id: o, response_headers_policy: timing, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]}
    cache_behaviors:
      - {path_pattern: /gz/*, target_origin_id: o, compress: true, response_headers_policy: timing}
      - {path_pattern: /refresh/*, target_origin_id: o, cache_policy: Tern-OriginControlled, response_headers_policy: timing}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Config: c, Storage: memory.New(64<<20, 8<<20), Client: client})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)

	timing := func(what string, resp *http.Response, cache string) string {
		t.Helper()
		if got := resp.Header.Get("X-Cache"); got != cache {
			t.Errorf("%s: X-Cache %q, want %q", what, got, cache)
		}
		return resp.Header.Get("Server-Timing")
	}
	fetched := func(what, st string, minConnect int) {
		t.Helper()
		// cdn-upstream-layer says which layer asked the origin for the
		// whole object: this edge, on a miss; a refresh is no such request.
		if layer := strings.Contains(st, `cdn-upstream-layer;desc="EDGE"`); layer != strings.Contains(st, "cdn-cache-miss") {
			t.Errorf("%s: Server-Timing %q: cdn-upstream-layer %v on a miss %v", what, st, layer, !layer)
		}
		dns, connect, fbl := timingMetric(st, "cdn-upstream-dns"), timingMetric(st, "cdn-upstream-connect"), timingMetric(st, "cdn-upstream-fbl")
		if dns != 0 || fbl < 0 || connect < minConnect || (minConnect == 0 && connect != 0) {
			t.Errorf("%s: Server-Timing %q: dns %d (want 0: an address), connect %d (want %s), fbl %d", what, st, dns, connect,
				map[bool]string{true: "0: a reused connection", false: ">= " + strconv.Itoa(minConnect)}[minConnect == 0], fbl)
		}
	}

	st := timing("first miss", do(t, ts, "GET", "/a", nil), "Miss from tern")
	fetched("first miss", st, int(slowConnect.Milliseconds()))
	fetched("second miss", timing("second miss", do(t, ts, "GET", "/b", nil), "Miss from tern"), 0)
	if st := timing("hit", do(t, ts, "GET", "/a", nil), "Hit from tern"); strings.Contains(st, "cdn-upstream") {
		t.Errorf("hit: Server-Timing %q has upstream metrics", st)
	}
	do(t, ts, "GET", "/refresh/x", nil)
	fetched("refresh hit", timing("refresh hit", do(t, ts, "GET", "/refresh/x", nil), "RefreshHit from tern"), 0)
	fetched("pass", timing("pass", do(t, ts, "POST", "/p", nil), "Miss from tern"), 0)

	// The edge compresses the origin's identity response: still a miss
	// that went upstream.
	gz := do(t, ts, "GET", "/gz/a", map[string]string{"Accept-Encoding": "gzip"})
	if gz.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("compressed miss: Content-Encoding %q: %v", gz.Header.Get("Content-Encoding"), gz.Header)
	}
	fetched("compressed miss", timing("compressed miss", gz, "Miss from tern"), 0)

	// A viewer who joins another's fetch is served from it as a hit, and
	// says so without the fetch's upstream metrics.
	gate.Lock()
	var wg sync.WaitGroup
	results := make([]*http.Response, 2)
	for i := range results {
		wg.Go(func() { results[i] = do(t, ts, "GET", "/slow/1", nil) })
		time.Sleep(100 * time.Millisecond) // the first is the leader
	}
	gate.Unlock()
	wg.Wait()
	fetched("collapsed leader", timing("collapsed leader", results[0], "Miss from tern"), 0)
	if st := timing("collapsed joiner", results[1], "Hit from tern"); strings.Contains(st, "cdn-upstream") || !strings.Contains(st, "cdn-cache-hit") {
		t.Errorf("collapsed joiner: Server-Timing %q, want a hit's (no upstream metrics)", st)
	}
}

// TestPolicyOnRefusedWebSocketUpgrade: when the origin answers a
// WebSocket upgrade with anything but 101, that answer goes to the viewer
// as any other response does: with the behavior's response headers
// policy and the edge's own headers.
func TestPolicyOnRefusedWebSocketUpgrade(t *testing.T) {
	o := newHeadersOrigin(t) // answers a GET with 200: no upgrade
	_, ts := newHeadersServer(t, o, headersPolicies, headersBehaviors)
	resp := do(t, ts, "GET", "/ws", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket",
		"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": "https://app.example.com"})
	if resp.StatusCode != http.StatusOK || o.hits.Load() != 1 {
		t.Fatalf("status %d, origin asked %d times", resp.StatusCode, o.hits.Load())
	}
	for k, v := range map[string]string{
		"X-Team":                      "edge",
		"X-Content-Type-Options":      "nosniff",
		"X-Powered-By":                "",
		"Access-Control-Allow-Origin": "https://app.example.com",
		"X-Cache":                     "Miss from tern",
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("refused upgrade: %s %q, want %q", k, got, v)
		}
	}
}

// TestCORSVaryKeptWithCustomVary: a policy whose CORS answer depends on
// the request's Origin keeps Origin in Vary even when the same policy
// sets Vary itself as a custom header with override: a browser cache
// must not answer a request from one origin with another's response.
func TestCORSVaryKeptWithCustomVary(t *testing.T) {
	o := newHeadersOrigin(t)
	_, ts := newHeadersServer(t, o, `
response_headers_policies:
  - name: site
    cors_config:
      access_control_allow_origins: ["https://app.example.com"]
      origin_override: false
    custom_headers_config:
      - {header: Vary, value: Accept-Encoding, override: true}
`, "      - {path_pattern: /none/*, target_origin_id: o}\n")
	for _, origin := range []string{"", "https://app.example.com"} {
		resp := do(t, ts, "GET", "/v", map[string]string{"Origin": origin})
		if vary := resp.Header.Values("Vary"); !headerHasToken(vary, "Origin") || !headerHasToken(vary, "Accept-Encoding") {
			t.Errorf("Origin %q: Vary %q, want Accept-Encoding and Origin", origin, vary)
		}
	}
}

// TestServerTimingUpstreamLayerBetweenTiers: a miss this node fetched
// from the origin says cdn-upstream-layer;desc="EDGE"; one it fetched
// from its POP peer does not claim the origin request, which the peer
// made (or did not need).
func TestServerTimingUpstreamLayerBetweenTiers(t *testing.T) {
	_, origin := newCountingOrigin(t)
	members := tier.NewStatic()
	extra := `    cache_behaviors:
      - {path_pattern: /obj/*, target_origin_id: o, response_headers_policy: timing}
response_headers_policies:
  - name: timing
    server_timing_headers_config: {enabled: true, sampling_rate: 100}
`
	a := startTierNode(t, "fra-a", "fra", origin.URL, members, nodeOptions{extra: extra})
	b := startTierNode(t, "fra-b", "fra", origin.URL, members, nodeOptions{extra: extra})
	members.Set(a.member(), b.member())
	viaPeer, direct := 0, 0
	for i := range 8 {
		before := b.tierRequests.Load()
		resp, _ := fetchVia(t, a.url(fmt.Sprintf("/obj/%d", i)))
		st := resp.Header.Get("Server-Timing")
		if !strings.Contains(st, "cdn-cache-miss") || !strings.Contains(st, "cdn-upstream-fbl") {
			t.Fatalf("first request: Server-Timing %q, want a miss's", st)
		}
		fromPeer := b.tierRequests.Load() > before
		if layer := strings.Contains(st, `cdn-upstream-layer;desc="EDGE"`); layer == fromPeer {
			t.Errorf("/obj/%d (from the peer: %v): Server-Timing %q", i, fromPeer, st)
		}
		if fromPeer {
			viaPeer++
		} else {
			direct++
		}
	}
	if viaPeer == 0 || direct == 0 {
		t.Fatalf("%d objects came through the peer and %d from the origin: want both", viaPeer, direct)
	}
}

// TestServerTimingSamplingRate: a rate of 25 gives about a quarter of the
// responses the header; one of 0 gives none, and with the header off the
// response carries the origin's own Server-Timing and none of the edge's
// metrics.
func TestServerTimingSamplingRate(t *testing.T) {
	o := newHeadersOrigin(t)
	s, _ := newHeadersServer(t, o, `
response_headers_policies:
  - name: site
  - name: quarter
    server_timing_headers_config: {enabled: true, sampling_rate: 25}
  - name: never
    server_timing_headers_config: {enabled: true, sampling_rate: 0}
  - name: off
    server_timing_headers_config: {enabled: false, sampling_rate: 100}
`, `      - {path_pattern: /quarter/*, target_origin_id: o, response_headers_policy: quarter}
      - {path_pattern: /never/*, target_origin_id: o, response_headers_policy: never}
      - {path_pattern: /off/*, target_origin_id: o, response_headers_policy: off}
`)
	const n = 2000
	for _, tc := range []struct {
		path     string
		min, max int
	}{{"/quarter/x", n / 5, n * 3 / 10}, {"/never/x", 0, 0}, {"/off/x", 0, 0}} {
		sampled := 0
		for range n {
			rec := serve(s, "GET", "t.test", tc.path)
			st := rec.Header().Values("Server-Timing")
			if strings.Contains(strings.Join(st, ","), "cdn-") {
				sampled++
			} else if len(st) != 1 || st[0] != "app;dur=3" {
				t.Fatalf("%s, not sampled: Server-Timing %q, want the origin's", tc.path, st)
			}
		}
		if sampled < tc.min || sampled > tc.max {
			t.Errorf("%s: %d of %d responses sampled, want %d to %d", tc.path, sampled, n, tc.min, tc.max)
		}
	}
}

// TestServerTimingSlicedMiss: a range of a large object, fetched as a
// span for the disk tier's slices, is a miss with the upstream metrics;
// the same range again is a hit without them.
func TestServerTimingSlicedMiss(t *testing.T) {
	o := &sparseOrigin{size: 64 << 20}
	origin := httptest.NewServer(o)
	t.Cleanup(origin.Close)
	u, _ := url.Parse(origin.URL)
	c, err := config.Parse([]byte(`
edge: {node_id: t1, pop: tst, cache: {memory: 64MiB, max_object_size: 1MiB}}
admin: {listen: "off"}
response_headers_policies:
  - name: timing
    server_timing_headers_config: {enabled: true, sampling_rate: 100}
distributions:
  - id: any
    aliases: ["*"]
    origins: [{id: o, domain_name: `+u.Hostname()+`, http_port: `+u.Port()+`}]
    default_cache_behavior: {target_origin_id: o, response_headers_policy: timing}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.New(64<<20, 1<<20)
	d, err := disk.Open(disk.Options{Path: t.TempDir(), Size: 256 << 20, SliceSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ts := tiered.New(mem, []tiered.Disk{d}, tiered.Options{PromoteMax: 16 << 10, DiskMax: 1 << 40})
	s, err := New(Options{Config: c, Storage: ts, Bodies: ts, BodiesMax: 1 << 30, Slices: ts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); ts.Close(); d.Close() })
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)

	for i, want := range []string{"Miss from tern", "Hit from tern"} {
		resp, _, err := getSettled(t, s, srv.URL+"/big.bin", "bytes=10000000-10000999")
		if err != nil {
			t.Fatal(err)
		}
		st := resp.Header.Get("Server-Timing")
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("X-Cache") != want {
			t.Fatalf("request %d: status %d, X-Cache %q, want 206 and %q", i, resp.StatusCode, resp.Header.Get("X-Cache"), want)
		}
		if fetched := timingMetric(st, "cdn-upstream-fbl") >= 0 && timingMetric(st, "cdn-upstream-connect") >= 0; fetched != (i == 0) {
			t.Errorf("request %d (%s): Server-Timing %q", i, want, st)
		}
	}
}
