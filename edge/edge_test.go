package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/storage/memory"
	"github.com/terncdn/tern/telemetry"
	"github.com/terncdn/tern/tier"
)

func newTestServer(tb testing.TB, originURL string, extra string) *Server {
	tb.Helper()
	u, _ := url.Parse(originURL)
	yaml := `
edge: {node_id: t1, pop: tst}
admin: {listen: "off"}
distributions:
  - id: exact
    aliases: [www.example.com]
    origins: [{id: o, domain_name: ` + u.Hostname() + `, http_port: ` + u.Port() + `}]
    default_cache_behavior: {target_origin_id: o}
  - id: wild
    aliases: ["*.example.com"]
    origins: [{id: o, domain_name: ` + u.Hostname() + `, http_port: ` + u.Port() + `}]
    default_cache_behavior: {target_origin_id: o}
  - id: deeper
    aliases: ["*.img.example.com"]
    origins: [{id: o, domain_name: ` + u.Hostname() + `, http_port: ` + u.Port() + `}]
    default_cache_behavior: {target_origin_id: o}
  - id: any
    aliases: ["*"]
    origins: [{id: o, domain_name: ` + u.Hostname() + `, http_port: ` + u.Port() + `}]
    default_cache_behavior: {target_origin_id: o}
` + extra
	c, err := config.Parse([]byte(yaml), "test")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Options{Config: c, Storage: memory.New(64<<20, 8<<20)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

func TestDistributionForHost(t *testing.T) {
	s := newTestServer(t, "http://127.0.0.1:1", "")
	rt := s.routes.Load()
	for host, want := range map[string]string{
		"www.example.com":      "exact",
		"WWW.Example.COM:8080": "exact",
		"www.example.com.":     "exact",
		"a.example.com":        "wild",
		"x.img.example.com":    "deeper",
		"example.com":          "any",
		"other.test":           "any",
		"[::1]:8080":           "any",
		"img.example.com":      "wild",
		// Generated names: the first label is a distribution's generated
		// label, under any zone; aliases win over it.
		config.GeneratedLabel("exact") + ".cdn.example":             "exact",
		strings.ToUpper(config.GeneratedLabel("exact")) + ".CDN.x.": "exact",
		config.GeneratedLabel("deeper") + ".fra.cdn.example:8080":   "deeper",
		config.GeneratedLabel("any") + ".cdn.example":               "any",
		config.GeneratedLabel("exact") + ".example.com":             "wild",
		config.GeneratedLabel("exact"):                              "any", // no label after it
		config.GeneratedLabel("exact") + "x.cdn.example":            "any",
		"d00000000.cdn.example":                                     "any", // nobody's label
	} {
		if d := rt.distributionFor(host); d == nil || d.id != want {
			t.Errorf("host %q → %v, want %s", host, d, want)
		}
	}
}

// TestGeneratedNameOfDisabled: a disabled distribution is not served at
// its generated name either.
func TestGeneratedNameOfDisabled(t *testing.T) {
	s := newTestServer(t, "http://127.0.0.1:1", `  - id: off
    enabled: false
    aliases: [off.test]
    origins: [{id: o, domain_name: 127.0.0.1, http_port: 1}]
    default_cache_behavior: {target_origin_id: o}
`)
	if d := s.routes.Load().distributionFor(config.GeneratedLabel("off") + ".cdn.example"); d == nil || d.id != "any" {
		t.Errorf("a disabled distribution's generated name → %v, want the catch-all", d)
	}
}

// discardWriter is a reusable ResponseWriter for benchmarks.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkServeHit is the hit path from ServeHTTP to the body write, with
// net/http's connection handling left out; ...WithMetrics adds the
// Prometheus accounting tern serve always has.
func BenchmarkServeHit(b *testing.B) { benchmarkServeHit(b, false, nil) }

func BenchmarkServeHitWithMetrics(b *testing.B) { benchmarkServeHit(b, true, nil) }

// BenchmarkServeHitBrowser is the hit path for a request with the header
// fields a browser sends, which the pipeline may look through.
func BenchmarkServeHitBrowser(b *testing.B) {
	benchmarkServeHit(b, false, http.Header{
		"Accept":          {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		"Accept-Encoding": {"gzip, deflate, br, zstd"},
		"Accept-Language": {"en-US,en;q=0.5"},
		"Cache-Control":   {"no-cache"},
		"Cookie":          {"session=abc; theme=dark"},
		"Referer":         {"https://bench.test/"},
		"Sec-Fetch-Dest":  {"document"},
		"Sec-Fetch-Mode":  {"navigate"},
		"User-Agent":      {"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"},
	})
}

// BenchmarkServeHitWithTiers is the hit path of an edge that has a tier
// membership: it looks for a Tern-Tier header on every request.
func BenchmarkServeHitWithTiers(b *testing.B) { benchmarkServeHit(b, false, nil, tier.NewStatic()) }

func benchmarkServeHit(b *testing.B, withMetrics bool, header http.Header, tiers ...tier.Members) {
	body := strings.Repeat("x", 1024)
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("ETag", `"b"`)
		io.WriteString(w, body)
	}))
	defer o.Close()
	s := newTestServer(b, o.URL, "")
	if withMetrics {
		s.metrics = telemetry.NewMetrics(prometheus.NewRegistry(), "t1", "tst")
	}
	for _, m := range tiers {
		s.SetTiers(m)
	}
	req := httptest.NewRequest("GET", "http://bench.test/obj/1k", nil)
	req.RemoteAddr = "127.0.0.1:5000"
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("warm: %d", rec.Code)
	}
	w := &discardWriter{h: make(http.Header, 16)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		s.ServeHTTP(w, req)
	}
	if w.h.Get("X-Cache") != "Hit from tern" {
		b.Fatalf("not a hit: %q", w.h.Get("X-Cache"))
	}
}

// TestApplyKeepsUnchangedOrigins: a reload reuses an origin whose settings
// did not change (keeping its warm connection pool) and replaces one whose
// settings did.
func TestApplyKeepsUnchangedOrigins(t *testing.T) {
	s := newTestServer(t, "http://127.0.0.1:1", "")
	parse := func(timeout string) *config.Config {
		c, err := config.Parse([]byte(`
distributions:
  - id: a
    origins: [{id: o, domain_name: 127.0.0.1, http_port: 1, response_timeout: `+timeout+`}]
    default_cache_behavior: {target_origin_id: o}
  - id: b
    aliases: [b.test]
    origins: [{id: o, domain_name: 127.0.0.1, http_port: 2, custom_headers: {X-A: "1", X-B: "2", X-C: "3"}}]
    default_cache_behavior: {target_origin_id: o}
`), "test")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := s.Apply(parse("5")); err != nil {
		t.Fatal(err)
	}
	a1, b1 := s.origins["a\x00o"], s.origins["b\x00o"]
	if err := s.Apply(parse("5")); err != nil {
		t.Fatal(err)
	}
	if s.origins["a\x00o"] != a1 || s.origins["b\x00o"] != b1 {
		t.Error("an unchanged origin was replaced on reload")
	}
	if err := s.Apply(parse("7")); err != nil {
		t.Fatal(err)
	}
	if s.origins["a\x00o"] == a1 {
		t.Error("a changed origin was kept")
	}
	if s.origins["b\x00o"] != b1 {
		t.Error("an unchanged origin was replaced when another one changed")
	}
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"a.example": "a.example", "a.example:8080": "a.example", "[::1]:8080": "::1",
		"[::1]": "::1", "::1": "::1", "127.0.0.1:80": "127.0.0.1", "": "",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{
		"/plain/path":   "/plain/path",
		"/%61dmin/x":    "/admin/x",
		"/%7euser":      "/~user",
		"/a%2fb":        "/a%2Fb", // reserved: stays escaped, upper-cased
		"/a%20b":        "/a%20b",
		"/bad%zz%4":     "/bad%zz%4",
		"/%41%42%2D%5f": "/AB-_",
	} {
		if got := normalizePath(in); got != want {
			t.Errorf("normalizePath(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { normalizePath("/no/escapes/here") }); n != 0 {
		t.Errorf("%v allocations for a path without escapes", n)
	}
}

// TestEncodedPathCannotSkipBehavior: a percent-encoded spelling of a path
// is matched by the behavior its decoded form matches.
func TestEncodedPathCannotSkipBehavior(t *testing.T) {
	s := newTestServer(t, "http://127.0.0.1:1", "")
	d := s.routes.Load().exact["www.example.com"]
	admin := *d.behaviors[0]
	admin.pattern, admin.viewerProtocol = "/admin/*", "https-only"
	d.behaviors = append([]*behavior{&admin}, d.behaviors...)
	req := httptest.NewRequest("GET", "http://www.example.com/%61dmin/secret", nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || rec.Header().Get(HeaderError) != "https-only" {
		t.Errorf("/%%61dmin/secret over HTTP: %d %q, want the /admin/* behavior's 403", rec.Code, rec.Header().Get(HeaderError))
	}
}

func TestPurge(t *testing.T) {
	var fetches atomic.Int32
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=600")
		io.WriteString(w, r.URL.Path)
	}))
	defer o.Close()
	s := newTestServer(t, o.URL, "")
	for _, p := range []string{"/img/a.jpg", "/img/b.jpg", "/doc%20x.txt", "/keep"} {
		get(s, p)
	}
	if _, err := s.Purge("any", "/img/*"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Purge("any", "/doc x.txt"); err != nil {
		t.Fatal(err)
	}
	before := fetches.Load()
	for _, p := range []string{"/img/a.jpg", "/img/b.jpg", "/doc%20x.txt"} {
		if rec := get(s, p); rec.Header().Get("X-Cache") != "Miss from tern" {
			t.Errorf("%s after purge: %s", p, rec.Header().Get("X-Cache"))
		}
	}
	if rec := get(s, "/keep"); rec.Header().Get("X-Cache") != "Hit from tern" {
		t.Errorf("/keep was purged too")
	}
	if fetches.Load() != before+3 {
		t.Errorf("%d fetches after the purge, want 3", fetches.Load()-before)
	}
	for _, bad := range []string{"", "img/*", "/a*b", "/a?x=1"} {
		if _, err := s.Purge("any", bad); err == nil {
			t.Errorf("Purge(%q) accepted", bad)
		}
	}
	if _, err := s.Purge("nope", "/x"); err == nil {
		t.Error("Purge of an unknown distribution accepted")
	}
}

// TestPurgeAll: every object goes, whatever its distribution or path.
func TestPurgeAll(t *testing.T) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		io.WriteString(w, r.URL.Path)
	}))
	defer o.Close()
	s := newTestServer(t, o.URL, "")
	paths := []string{"/", "/img/a.jpg", "/doc%20x.txt", "/keep?q=1"}
	for _, p := range paths {
		get(s, p)
	}
	if n := s.PurgeAll(); n != len(paths) {
		t.Errorf("PurgeAll dropped %d objects, want %d", n, len(paths))
	}
	for _, p := range paths {
		if rec := get(s, p); rec.Header().Get("X-Cache") != "Miss from tern" {
			t.Errorf("%s after PurgeAll: %s", p, rec.Header().Get("X-Cache"))
		}
	}
}
