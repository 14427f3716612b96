package edge

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/storage/memory"
	"github.com/terncdn/tern/tier"
)

// headersOrigin is a real origin whose answers carry headers a policy
// acts on; it counts the requests it gets.
type headersOrigin struct {
	*httptest.Server
	hits    atomic.Int32
	options atomic.Int32
}

func newHeadersOrigin(t *testing.T) *headersOrigin {
	o := &headersOrigin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		h := w.Header()
		if r.Method == http.MethodOptions {
			o.options.Add(1)
			h.Set("Access-Control-Allow-Methods", "GET")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		switch {
		case strings.HasPrefix(r.URL.Path, "/broken"):
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		case strings.Contains(r.URL.Path, "/own-cors"):
			h.Set("Access-Control-Allow-Origin", "https://origin-says.example")
		}
		h.Set("Cache-Control", "max-age=600")
		h.Set("ETag", `"v1"`)
		h.Set("X-Powered-By", "PHP/5")
		h.Set("X-Frame-Options", "ALLOW-FROM https://x.example") // the origin's own: kept (override false)
		h.Set("X-Content-Type-Options", "origin")                // replaced (override true)
		h.Set("Server-Timing", `app;dur=3`)
		io.WriteString(w, "body of "+r.URL.Path)
	}))
	t.Cleanup(o.Close)
	return o
}

const headersPolicies = `
response_headers_policies:
  - name: site
    cors_config:
      access_control_allow_origins: ["https://app.example.com", "https://*.example.org"]
      access_control_allow_headers: [Content-Type, Authorization]
      access_control_allow_methods: [GET, POST, OPTIONS]
      access_control_allow_credentials: true
      access_control_expose_headers: [X-Request-Id]
      access_control_max_age_sec: 600
      origin_override: true
    security_headers_config:
      strict_transport_security: {access_control_max_age_sec: 63072000, include_subdomains: true, preload: true}
      content_type_options: {override: true}
      frame_options: {frame_option: SAMEORIGIN}
    custom_headers_config:
      - {header: X-Team, value: edge, override: true}
    remove_headers_config: [X-Powered-By]
    server_timing_headers_config: {enabled: true, sampling_rate: 100}
  - name: quiet-timing
    server_timing_headers_config: {enabled: true, sampling_rate: 0}
`

func newHeadersServer(t *testing.T, o *headersOrigin, policies, behaviors string) (*Server, *httptest.Server) {
	t.Helper()
	u, _ := url.Parse(o.URL)
	yaml := `
edge: {node_id: t1, pop: tst}
admin: {listen: "off"}
` + policies + `
distributions:
  - id: d
    origins: [{id: o, domain_name: ` + u.Hostname() + `, http_port: ` + u.Port() + `}]
    default_cache_behavior:
      target_origin_id: o
      allowed_methods: [GET, HEAD, OPTIONS]
      response_headers_policy: site
    cache_behaviors:
` + behaviors
	c, err := config.Parse([]byte(yaml), "test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Config: c, Storage: memory.New(64<<20, 8<<20)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

const headersBehaviors = `
      - {path_pattern: /https/*, target_origin_id: o, viewer_protocol_policy: redirect-to-https, response_headers_policy: site}
      - {path_pattern: /managed/*, target_origin_id: o, allowed_methods: [GET, HEAD, OPTIONS], response_headers_policy: Managed-CORS-with-preflight-and-SecurityHeadersPolicy}
      - {path_pattern: /byid/*, target_origin_id: o, response_headers_policy: 60669652-455b-4ae9-85a4-c4c02393f86c}
      - {path_pattern: /quiet/*, target_origin_id: o, response_headers_policy: quiet-timing}
      - {path_pattern: /none/*, target_origin_id: o}
`

func do(t *testing.T, ts *httptest.Server, method, path string, header map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestSecurityAndCustomHeaders: the policy's headers are on misses, hits,
// 304s, redirects and the edge's own errors; the origin's header stays
// where override is false and goes where it is true; removed headers are
// gone from hits too; and nothing of the policy is stored with the object.
func TestSecurityAndCustomHeaders(t *testing.T) {
	o := newHeadersOrigin(t)
	s, ts := newHeadersServer(t, o, headersPolicies, headersBehaviors)

	check := func(what string, resp *http.Response, status int) {
		t.Helper()
		if resp.StatusCode != status {
			t.Errorf("%s: status %d, want %d", what, resp.StatusCode, status)
		}
		h := resp.Header
		if got := h.Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains; preload" {
			t.Errorf("%s: Strict-Transport-Security %q", what, got)
		}
		if got := h.Values("X-Content-Type-Options"); len(got) != 1 || got[0] != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", what, got)
		}
		if got := h.Get("X-Team"); got != "edge" {
			t.Errorf("%s: X-Team %q", what, got)
		}
		if got := h.Get("X-Powered-By"); got != "" {
			t.Errorf("%s: X-Powered-By %q not removed", what, got)
		}
		if h.Get("X-Tern-Id") == "" || h.Get("X-Cache") == "" {
			t.Errorf("%s: the edge's own headers are missing", what)
		}
	}
	miss := do(t, ts, "GET", "/a", nil)
	check("miss", miss, 200)
	if got := miss.Header.Get("X-Frame-Options"); got != "ALLOW-FROM https://x.example" {
		t.Errorf("miss: X-Frame-Options %q, want the origin's (override false)", got)
	}
	hit := do(t, ts, "GET", "/a", nil)
	check("hit", hit, 200)
	if hit.Header.Get("X-Cache") != "Hit from tern" {
		t.Fatalf("second request: %s", hit.Header.Get("X-Cache"))
	}
	check("304", do(t, ts, "GET", "/a", map[string]string{"If-None-Match": `"v1"`}), 304)
	check("redirect", do(t, ts, "GET", "/https/a", nil), 301)
	check("method not allowed", do(t, ts, "POST", "/a", nil), 403)
	broken := do(t, ts, "GET", "/broken", nil)
	check("origin error", broken, 500)
	if got := broken.Header.Get("X-Frame-Options"); got != "SAMEORIGIN" {
		t.Errorf("origin error: X-Frame-Options %q, want the policy's", got)
	}

	// The stored object is the origin's: a behavior without a policy
	// serves the same cached bytes with none of the policy's headers.
	c, err := config.Parse([]byte(strings.Replace(`
edge: {node_id: t1, pop: tst}
admin: {listen: "off"}
distributions:
  - id: d
    origins: [{id: o, domain_name: HOST, http_port: PORT}]
    default_cache_behavior: {target_origin_id: o}
`, "HOST, http_port: PORT", strings.Replace(strings.TrimPrefix(o.URL, "http://"), ":", ", http_port: ", 1), 1)), "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(c); err != nil {
		t.Fatal(err)
	}
	plain := do(t, ts, "GET", "/a", nil)
	if plain.Header.Get("X-Cache") != "Hit from tern" {
		t.Fatalf("after reload: %s", plain.Header.Get("X-Cache"))
	}
	if plain.Header.Get("X-Team") != "" || plain.Header.Get("Strict-Transport-Security") != "" ||
		plain.Header.Get("X-Powered-By") != "PHP/5" || plain.Header.Get("X-Content-Type-Options") != "origin" {
		t.Errorf("the cached object carries the policy's changes: %v", plain.Header)
	}
}

// TestCORSHeaders: CORS headers go to CORS requests from allowed origins
// only, with the origin echoed (and Vary: Origin) unless "*" is allowed.
func TestCORSHeaders(t *testing.T) {
	o := newHeadersOrigin(t)
	_, ts := newHeadersServer(t, o, headersPolicies, headersBehaviors)

	none := do(t, ts, "GET", "/c", nil)
	if v := none.Header.Get("Access-Control-Allow-Origin"); v != "" || none.Header.Get("Vary") != "Origin" {
		t.Errorf("no Origin: Access-Control-Allow-Origin %q, Vary %q (want Vary: Origin all the same)", v, none.Header.Get("Vary"))
	}
	for origin, allowed := range map[string]bool{
		"https://app.example.com":  true,
		"HTTPS://APP.EXAMPLE.COM":  true,
		"https://a.b.example.org":  true,
		"https://example.org":      false,
		"http://app.example.com":   false,
		"https://evil.example.com": false,
		"null":                     false,
	} {
		resp := do(t, ts, "GET", "/c", map[string]string{"Origin": origin})
		h := resp.Header
		if !allowed {
			if v := h.Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("%s: Access-Control-Allow-Origin %q, want none", origin, v)
			}
			continue
		}
		want := map[string]string{
			"Access-Control-Allow-Origin":      origin,
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Expose-Headers":    "X-Request-Id",
			"Access-Control-Allow-Methods":     "", // preflights only
			"Access-Control-Max-Age":           "",
			"Vary":                             "Origin",
		}
		for k, v := range want {
			if got := h.Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", origin, k, got, v)
			}
		}
	}
	// Managed-SimpleCORS, named by its CloudFront id: "*", and the
	// origin's own header wins (override false).
	star := do(t, ts, "GET", "/byid/x", map[string]string{"Origin": "https://any.example"})
	if v := star.Header.Get("Access-Control-Allow-Origin"); v != "*" || star.Header.Get("Vary") != "" {
		t.Errorf("SimpleCORS: Access-Control-Allow-Origin %q, Vary %q", v, star.Header.Get("Vary"))
	}
	own := do(t, ts, "GET", "/byid/own-cors", map[string]string{"Origin": "https://any.example"})
	if v := own.Header.Get("Access-Control-Allow-Origin"); v != "https://origin-says.example" {
		t.Errorf("SimpleCORS with the origin's own header: %q", v)
	}
	// origin_override: the policy's value replaces the origin's.
	over := do(t, ts, "GET", "/own-cors", map[string]string{"Origin": "https://app.example.com"})
	if v := over.Header.Values("Access-Control-Allow-Origin"); len(v) != 1 || v[0] != "https://app.example.com" {
		t.Errorf("origin_override: %q", v)
	}
}

// TestPreflight: with origin_override the edge answers preflights itself;
// without it (the managed policy) they go to the origin and the policy
// fills in the headers the origin did not send.
func TestPreflight(t *testing.T) {
	o := newHeadersOrigin(t)
	_, ts := newHeadersServer(t, o, headersPolicies, headersBehaviors)
	pre := map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}

	before := o.hits.Load()
	resp := do(t, ts, "OPTIONS", "/api", pre)
	if resp.StatusCode != 200 || o.hits.Load() != before {
		t.Fatalf("edge preflight: status %d, origin asked %d times", resp.StatusCode, o.hits.Load()-before)
	}
	for k, v := range map[string]string{
		"Access-Control-Allow-Origin":      "https://app.example.com",
		"Access-Control-Allow-Methods":     "GET, POST, OPTIONS",
		"Access-Control-Allow-Headers":     "Content-Type, Authorization",
		"Access-Control-Max-Age":           "600",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Expose-Headers":    "",
		"Strict-Transport-Security":        "max-age=63072000; includeSubDomains; preload",
		"Content-Length":                   "0",
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("edge preflight: %s %q, want %q", k, got, v)
		}
	}
	// An OPTIONS that is not a preflight goes to the origin.
	if resp := do(t, ts, "OPTIONS", "/api", map[string]string{"Origin": "https://app.example.com"}); resp.StatusCode != 204 || o.options.Load() != 1 {
		t.Errorf("plain OPTIONS: status %d, origin OPTIONS %d", resp.StatusCode, o.options.Load())
	}

	resp = do(t, ts, "OPTIONS", "/managed/api", pre)
	if resp.StatusCode != 204 || o.options.Load() != 2 {
		t.Fatalf("managed preflight: status %d, origin OPTIONS %d (want it forwarded)", resp.StatusCode, o.options.Load())
	}
	for k, v := range map[string]string{
		"Access-Control-Allow-Methods": "GET", // the origin's, kept
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Headers": "*",
		"X-Frame-Options":              "SAMEORIGIN",
		"Referrer-Policy":              "strict-origin-when-cross-origin",
		"X-Xss-Protection":             "1; mode=block",
		"Strict-Transport-Security":    "max-age=31536000",
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("managed preflight: %s %q, want %q", k, got, v)
		}
	}
}

// TestServerTiming: CloudFront's metrics, after the origin's on a miss
// and alone on a hit; a rate of 0 adds none unless the viewer asks with
// Pragma: server-timing.
func TestServerTiming(t *testing.T) {
	o := newHeadersOrigin(t)
	_, ts := newHeadersServer(t, o, headersPolicies, headersBehaviors)

	miss := do(t, ts, "GET", "/t", nil).Header
	st := miss.Get("Server-Timing")
	id := miss.Get("X-Tern-Id")
	for _, part := range []string{"app;dur=3, cdn-cache-miss,", `cdn-pop;desc="tst"`, `cdn-rid;desc="` + id + `"`, "cdn-upstream-fbl;dur=", "cdn-downstream-fbl;dur="} {
		if !strings.Contains(st, part) {
			t.Errorf("miss: Server-Timing %q lacks %q", st, part)
		}
	}
	if !strings.HasPrefix(st, "app;dur=3, ") {
		t.Errorf("miss: the origin's Server-Timing does not come first: %q", st)
	}
	hit := do(t, ts, "GET", "/t", nil).Header.Get("Server-Timing")
	if !strings.HasPrefix(hit, "cdn-cache-hit,") || !strings.Contains(hit, `cdn-hit-layer;desc="EDGE"`) ||
		strings.Contains(hit, "app;dur") || strings.Contains(hit, "upstream") {
		t.Errorf("hit: Server-Timing %q", hit)
	}

	quiet := do(t, ts, "GET", "/quiet/t", nil).Header.Values("Server-Timing")
	if len(quiet) != 1 || quiet[0] != "app;dur=3" {
		t.Errorf("rate 0: Server-Timing %q, want the origin's alone", quiet)
	}
	asked := do(t, ts, "GET", "/quiet/t", map[string]string{"Pragma": "server-timing"}).Header.Get("Server-Timing")
	if !strings.HasPrefix(asked, "cdn-cache-hit,") {
		t.Errorf("rate 0 with Pragma: Server-Timing %q", asked)
	}
	if got := do(t, ts, "GET", "/none/t", nil).Header.Values("Server-Timing"); len(got) != 1 || got[0] != "app;dur=3" {
		t.Errorf("no policy: Server-Timing %q", got)
	}
}

// BenchmarkServeHitHeadersPolicy is BenchmarkServeHit with a response
// headers policy: CloudFront's CORS-and-SecurityHeadersPolicy on a
// request without Origin, and with a CORS request from an allowed origin.
func BenchmarkServeHitHeadersPolicy(b *testing.B) {
	for _, tc := range []struct{ name, policy, origin string }{
		{"security", "Managed-SecurityHeadersPolicy", ""},
		{"cors-and-security", "Managed-CORS-and-SecurityHeadersPolicy", "https://app.example.com"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "public, max-age=3600")
				w.Header().Set("ETag", `"b"`)
				io.WriteString(w, strings.Repeat("x", 1024))
			}))
			defer o.Close()
			u, _ := url.Parse(o.URL)
			s := newTestServer(b, "http://127.0.0.1:1", `  - id: hdrs
    aliases: [bench.test]
    origins: [{id: o, domain_name: `+u.Hostname()+`, http_port: `+u.Port()+`}]
    default_cache_behavior: {target_origin_id: o, response_headers_policy: `+tc.policy+`}
`)
			req := httptest.NewRequest("GET", "http://bench.test/obj/1k", nil)
			req.RemoteAddr = "127.0.0.1:5000"
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			s.ServeHTTP(httptest.NewRecorder(), req)
			w := &discardWriter{h: make(http.Header, 16)}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				clear(w.h)
				s.ServeHTTP(w, req)
			}
			if w.h.Get("X-Cache") != "Hit from tern" || w.h.Get("X-Content-Type-Options") != "nosniff" {
				b.Fatalf("not a hit with the policy: %v", w.h)
			}
		})
	}
}

// TestPolicyNotAppliedBetweenTiers: a node answering another node (its POP
// peer) leaves the response headers policy to the viewer-facing node, so
// each viewer sees its own edge's policy, once, and no node caches another
// node's. Each node's policy names itself in a header with override
// false: a peer's policy in the tier response would win over it.
func TestPolicyNotAppliedBetweenTiers(t *testing.T) {
	_, origin := newCountingOrigin(t)
	members := tier.NewStatic()
	extra := func(id string) string {
		return `    cache_behaviors:
      - {path_pattern: /obj/*, target_origin_id: o, response_headers_policy: who}
response_headers_policies:
  - name: who
    custom_headers_config: [{header: X-Who, value: ` + id + `, override: false}]
    server_timing_headers_config: {enabled: true, sampling_rate: 100}
`
	}
	a := startTierNode(t, "fra-a", "fra", origin.URL, members, nodeOptions{extra: extra("fra-a")})
	b := startTierNode(t, "fra-b", "fra", origin.URL, members, nodeOptions{extra: extra("fra-b")})
	members.Set(a.member(), b.member())
	for i := range 8 {
		path := fmt.Sprintf("/obj/%d", i)
		for round := range 2 {
			for _, n := range []*tierNode{a, b} {
				resp, _ := fetchVia(t, n.url(path))
				if got := resp.Header.Values("X-Who"); len(got) != 1 || got[0] != n.id {
					t.Errorf("%s via %s (round %d): X-Who %q, want its own", path, n.id, round, got)
				}
				if st := resp.Header.Values("Server-Timing"); len(st) != 1 || strings.Count(st[0], "cdn-rid") != 1 {
					t.Errorf("%s via %s: Server-Timing %q, want one set of metrics", path, n.id, st)
				}
			}
		}
	}
	if a.tierRequests.Load()+b.tierRequests.Load() == 0 {
		t.Fatal("no request went from one node to the other")
	}
}

// BenchmarkHeaderPolicyApply is the policy's own cost on a response head
// (what WriteHeader adds to a hit): a managed security policy, and CORS
// with security for a request from an allowed origin.
func BenchmarkHeaderPolicyApply(b *testing.B) {
	for _, name := range []string{"Managed-SecurityHeadersPolicy", "Managed-CORS-and-SecurityHeadersPolicy"} {
		b.Run(name, func(b *testing.B) {
			var c config.Config
			p, ok := c.ResponseHeadersPolicy(name)
			if !ok {
				b.Fatal("no policy")
			}
			hp := compileHeaderPolicy(p, "tst")
			r := httptest.NewRequest("GET", "http://bench.test/", nil)
			r.Header.Set("Origin", "https://app.example.com")
			x := &exchange{r: r}
			stored := http.Header{"Content-Type": {"text/plain"}, "Etag": {`"b"`}, "Cache-Control": {"max-age=3600"}}
			h := make(http.Header, 16)
			b.ReportAllocs()
			for b.Loop() {
				clear(h)
				for k, v := range stored {
					h[k] = v
				}
				hp.apply(x, h)
			}
		})
	}
}
