package test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terncdn/tern/config"
)

func thousandBytes() string {
	var b strings.Builder
	for i := 0; b.Len() < 1000; i++ {
		fmt.Fprintf(&b, "%d,", i)
	}
	return b.String()[:1000]
}

func TestRanges(t *testing.T) {
	content := thousandBytes()
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("ETag", `"r1"`)
		// The origin ignores Range: the edge must cut ranges itself.
		io.WriteString(w, content)
	})
	n := startTern(t, basicConfig(o, defaultBehavior))

	// A range on a miss is answered with the right bytes.
	resp, body := n.get("/r", "Range", "bytes=10-19")
	if resp.StatusCode != 206 || body != content[10:20] || resp.Header.Get("Content-Range") != "bytes 10-19/1000" {
		t.Fatalf("range miss: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Range"), body)
	}
	// From cache: single, suffix, multi and unsatisfiable.
	resp, body = n.get("/r", "Range", "bytes=-5")
	if resp.StatusCode != 206 || body != content[995:] || resp.Header.Get("X-Cache") != "Hit from tern" {
		t.Errorf("suffix range hit: %d %q %q", resp.StatusCode, resp.Header.Get("X-Cache"), body)
	}
	resp, body = n.get("/r", "Range", "bytes=0-1,500-501")
	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != 206 || mt != "multipart/byteranges" {
		t.Fatalf("multi-range: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(strings.NewReader(body), params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, p.Header.Get("Content-Range")+"="+string(b))
	}
	want := []string{"bytes 0-1/1000=" + content[0:2], "bytes 500-501/1000=" + content[500:502]}
	if fmt.Sprint(parts) != fmt.Sprint(want) {
		t.Errorf("multipart parts %q, want %q", parts, want)
	}
	resp, _ = n.get("/r", "Range", "bytes=2000-")
	if resp.StatusCode != 416 || resp.Header.Get("Content-Range") != "bytes */1000" {
		t.Errorf("unsatisfiable: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	// If-Range with a different validator: the whole object.
	resp, body = n.get("/r", "Range", "bytes=0-9", "If-Range", `"other"`)
	if resp.StatusCode != 200 || len(body) != 1000 {
		t.Errorf("If-Range mismatch: %d len %d, want 200 and the whole object", resp.StatusCode, len(body))
	}
	if c := o.count("/r"); c != 1 {
		t.Errorf("origin fetched %d times", c)
	}
}

func TestUnsafeMethodInvalidates(t *testing.T) {
	var mu sync.Mutex
	var posted string
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			posted = string(b)
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=600")
		io.WriteString(w, "item")
	})
	n := startTern(t, basicConfig(o, `    default_cache_behavior:
      target_origin_id: web
      allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
`))
	n.get("/items/1")
	if resp, _ := n.get("/items/1"); resp.Header.Get("X-Cache") != "Hit from tern" {
		t.Fatalf("not cached: %q", resp.Header.Get("X-Cache"))
	}
	resp, _ := n.do("POST", "/items/1", map[string]string{"Content-Type": "text/plain"}, strings.NewReader("new value"))
	if resp.StatusCode != 204 {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	mu.Lock()
	if posted != "new value" {
		t.Errorf("origin got body %q", posted)
	}
	mu.Unlock()
	if resp, _ := n.get("/items/1"); resp.Header.Get("X-Cache") != "Miss from tern" {
		t.Errorf("after POST, X-Cache = %q, want Miss (RFC 9111 §4.4)", resp.Header.Get("X-Cache"))
	}
}

func TestMethodNotAllowed(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	n := startTern(t, basicConfig(o, defaultBehavior))
	resp, _ := n.do("DELETE", "/x", nil, nil)
	if resp.StatusCode != 403 || resp.Header.Get("X-Tern-Error") != "method-not-allowed" {
		t.Errorf("DELETE on a GET/HEAD behavior: %d %q", resp.StatusCode, resp.Header.Get("X-Tern-Error"))
	}
	if o.total.Load() != 0 {
		t.Error("a refused request reached the origin")
	}
}

func TestVaryKeepsVariantsApart(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Vary", "Accept-Encoding")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			io.WriteString(w, "gzip variant")
			return
		}
		io.WriteString(w, "identity variant")
	})
	n := startTern(t, basicConfig(o, defaultBehavior)) // CachingOptimized: gzip+br in the key
	for i := 0; i < 2; i++ {
		if _, b := n.get("/v", "Accept-Encoding", "gzip"); b != "gzip variant" {
			t.Errorf("gzip viewer got %q", b)
		}
		if _, b := n.get("/v", "Accept-Encoding", "identity"); b != "identity variant" {
			t.Errorf("identity viewer got %q", b)
		}
	}
	if c := o.count("/v"); c != 2 {
		t.Errorf("origin fetched %d times, want one per variant (2)", c)
	}
}

func TestOnlyPolicyItemsReachOrigin(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		io.WriteString(w, "ok")
	})
	n := startTern(t, basicConfig(o, `    default_cache_behavior:
      target_origin_id: web
    cache_behaviors:
      - path_pattern: "/q/*"
        target_origin_id: web
        cache_policy:
          min_ttl: 0
          default_ttl: 60
          max_ttl: 600
          query_strings: {behavior: whitelist, names: [a, b]}
          headers: {behavior: whitelist, names: [X-Tenant]}
`))
	n.get("/plain?secret=1", "Cookie", "session=abc", "X-Secret", "s", "X-Tenant", "t1")
	r := o.last.Load()
	if r.URL.RawQuery != "" || r.Header.Get("Cookie") != "" || r.Header.Get("X-Secret") != "" || r.Header.Get("X-Tenant") != "" {
		t.Errorf("CachingOptimized forwarded query %q cookie %q x-secret %q x-tenant %q",
			r.URL.RawQuery, r.Header.Get("Cookie"), r.Header.Get("X-Secret"), r.Header.Get("X-Tenant"))
	}
	if !strings.HasPrefix(r.Header.Get("X-Forwarded-For"), "127.0.0.1") {
		t.Errorf("X-Forwarded-For = %q", r.Header.Get("X-Forwarded-For"))
	}

	// Whitelisted query strings and header reach the origin and form the key;
	// the order of parameters does not matter.
	n.get("/q/x?b=2&a=1&c=3", "X-Tenant", "t1")
	r = o.last.Load()
	if q := r.URL.Query(); q.Get("a") != "1" || q.Get("b") != "2" || q.Has("c") || r.Header.Get("X-Tenant") != "t1" {
		t.Errorf("origin got query %q tenant %q", r.URL.RawQuery, r.Header.Get("X-Tenant"))
	}
	if resp, _ := n.get("/q/x?a=1&b=2&c=9", "X-Tenant", "t1"); resp.Header.Get("X-Cache") != "Hit from tern" {
		t.Errorf("reordered query with another unlisted param: %q, want Hit", resp.Header.Get("X-Cache"))
	}
	if resp, _ := n.get("/q/x?a=1&b=2", "X-Tenant", "t2"); resp.Header.Get("X-Cache") != "Miss from tern" {
		t.Errorf("another tenant: %q, want Miss", resp.Header.Get("X-Cache"))
	}
}

func TestNotStorableResponses(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/nostore":
			w.Header().Set("Cache-Control", "no-store")
		case "/private":
			w.Header().Set("Cache-Control", "private, max-age=60")
		case "/cookie":
			w.Header().Set("Set-Cookie", "id=1")
		}
		io.WriteString(w, "x")
	})
	n := startTern(t, basicConfig(o, defaultBehavior))
	for _, p := range []string{"/nostore", "/private", "/cookie"} {
		n.get(p)
		if resp, _ := n.get(p); resp.Header.Get("X-Cache") == "Hit from tern" {
			t.Errorf("%s was served from cache", p)
		}
		if c := o.count(p); c != 2 {
			t.Errorf("%s: origin fetched %d times, want 2", p, c)
		}
	}
}

func TestCustomErrorResponse(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/errors/404.html" {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<h1>our 404 page</h1>")
			return
		}
		http.NotFound(w, r)
	})
	n := startTern(t, basicConfig(o, defaultBehavior+`    custom_error_responses:
      - error_code: 404
        response_page_path: /errors/404.html
        response_code: 404
        error_caching_min_ttl: 30
`))
	resp, body := n.get("/missing")
	if resp.StatusCode != 404 || body != "<h1>our 404 page</h1>" {
		t.Fatalf("custom error: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Cache") != "Error from tern" {
		t.Errorf("X-Cache = %q", resp.Header.Get("X-Cache"))
	}
	n.get("/missing")
	if c := o.count("/missing"); c != 1 {
		t.Errorf("the 404 was fetched %d times, want 1 (error caching min TTL)", c)
	}
}

func TestOriginGroupFailover(t *testing.T) {
	primary := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "primary down", http.StatusServiceUnavailable)
	})
	secondary := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		io.WriteString(w, "from secondary")
	})
	cfg := fmt.Sprintf(`edge:
  listen: "%%EDGE%%"
admin:
  listen: "%%ADMIN%%"
distributions:
  - id: ha
    origins:
      - {id: a, domain_name: 127.0.0.1, http_port: %s}
      - {id: b, domain_name: 127.0.0.1, http_port: %s}
    origin_groups:
      - id: pair
        members: [a, b]
        failover_criteria: {status_codes: [500, 502, 503, 504]}
    default_cache_behavior:
      target_origin_id: pair
`, primary.port(), secondary.port())
	n := startTern(t, cfg)
	resp, body := n.get("/f")
	if resp.StatusCode != 200 || body != "from secondary" {
		t.Errorf("failover: %d %q", resp.StatusCode, body)
	}
	if primary.count("/f") != 1 || secondary.count("/f") != 1 {
		t.Errorf("primary %d, secondary %d requests", primary.count("/f"), secondary.count("/f"))
	}
}

func TestLargeObjectStreamsThroughUncached(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 6<<20/16) // 6 MiB > max_object_size 4MiB
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Write(big)
	})
	n := startTern(t, basicConfig(o, defaultBehavior))
	for i := 0; i < 2; i++ {
		resp, body := n.get("/big")
		if resp.StatusCode != 200 || body != string(big) {
			t.Fatalf("big object: %d, %d bytes", resp.StatusCode, len(body))
		}
	}
	if c := o.count("/big"); c != 2 {
		t.Errorf("origin fetched %d times, want 2 (too large for the memory tier)", c)
	}
}

func TestAccessLogAndMetrics(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		io.WriteString(w, "logged")
	})
	n := startTern(t, basicConfig(o, defaultBehavior))
	n.get("/log-me?x=1", "User-Agent", "e2e agent")
	n.get("/log-me?x=1")

	resp, err := http.Get("http://" + n.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"tern_requests_total", `distribution="site"`, "tern_cache_objects"} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	var lines []string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f, err := os.Open(filepath.Join(n.Dir, "access.log"))
		if err == nil {
			lines = readLines(f)
			f.Close()
		}
		if len(lines) >= 4 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "#Version: 1.0") || !strings.HasPrefix(lines[1], "#Fields: date time x-edge-location") {
		t.Fatalf("access log:\n%s", strings.Join(lines, "\n"))
	}
	miss := strings.Split(lines[2], "\t")
	hit := strings.Split(lines[3], "\t")
	if len(miss) != 33 || len(hit) != 33 {
		t.Fatalf("fields: %d and %d, want 33", len(miss), len(hit))
	}
	if miss[5] != "GET" || miss[7] != "/log-me" || miss[8] != "200" || miss[11] != "x=1" || miss[13] != "Miss" || hit[13] != "Hit" {
		t.Errorf("miss line %q\nhit line %q", lines[2], lines[3])
	}
	if miss[10] != "e2e%20agent" {
		t.Errorf("user agent field %q", miss[10])
	}
}

func TestValidateNamesEveryBadField(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte(`edge:
  listen: "127.0.0.1:8080"
distributions:
  - id: a
    origins:
      - {id: o1, domain_name: example.com, http_port: 70000}
    default_cache_behavior:
      target_origin_id: nowhere
      cache_policy: No-Such-Policy
`), 0o644)
	out, err := exec.Command(ternBin, "validate", "--config", path).CombinedOutput()
	if err == nil {
		t.Fatalf("validate accepted a bad file:\n%s", out)
	}
	for _, want := range []string{"http_port", "target_origin_id", "cache_policy"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output does not name %s:\n%s", want, out)
		}
	}
	out, err = exec.Command(ternBin, "validate", "--config", filepath.Join(dir, "unknown.yaml")).CombinedOutput()
	if err == nil {
		t.Errorf("validate of a missing file succeeded: %s", out)
	}
	os.WriteFile(path, []byte("edge:\n  lisen: x\n"), 0o644)
	out, _ = exec.Command(ternBin, "validate", "--config", path).CombinedOutput()
	if !strings.Contains(string(out), "lisen") {
		t.Errorf("unknown field not named:\n%s", out)
	}
}

// TestServeWithNoConfig runs the README's first command (with free ports):
// the built-in example in front of the demo origin.
// TestServeDemoRouterPortTaken: the demo's router is an extra. When its
// default port (127.0.0.1:8053) is taken, tern serve with no --config
// still runs the CDN and says how to move the router.
func TestServeDemoRouterPortTaken(t *testing.T) {
	// Hold 8053 ourselves; if something else holds it, so much the
	// better: it is taken either way.
	if pc, err := net.ListenPacket("udp", "127.0.0.1:8053"); err == nil {
		defer pc.Close()
	}
	n := &node{t: t, Edge: freeAddr(t), Admin: freeAddr(t), output: &lockedBuffer{}}
	n.start("serve", "--listen", n.Edge, "--admin", n.Admin, "--demo-origin", freeAddr(t), "--data-dir", "off")
	if resp, _ := n.get("/"); resp.StatusCode != 200 {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	if out := n.output.String(); !strings.Contains(out, "router: not running") || !strings.Contains(out, "--router-listen") {
		t.Errorf("banner does not say the router is not running and how to move it:\n%s", out)
	}
}

func TestServeWithNoConfig(t *testing.T) {
	n := &node{t: t, Edge: freeAddr(t), Admin: freeAddr(t), output: &lockedBuffer{}}
	demo, dnsAddr := freeAddr(t), freeAddr(t)
	// Its state (control plane, disk cache) would go to ./tern-data.
	dataDir := filepath.Join(t.TempDir(), "tern-data")
	tlsAddr := freeAddr(t)
	n.start("serve", "--listen", n.Edge, "--admin", n.Admin, "--demo-origin", demo, "--data-dir", dataDir, "--router-listen", dnsAddr, "--listen-tls", tlsAddr)
	resp, body := n.get("/")
	if resp.StatusCode != 200 || !strings.Contains(strings.ToLower(body), "tern") {
		t.Fatalf("GET /: %d %.200q", resp.StatusCode, body)
	}
	if resp, _ := n.get("/"); resp.Header.Get("X-Cache") != "Hit from tern" {
		t.Errorf("second GET / X-Cache = %q", resp.Header.Get("X-Cache"))
	}
	resp, body = n.get("/api/time")
	var v map[string]any
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &v) != nil {
		t.Errorf("/api/time: %d %q", resp.StatusCode, body)
	}
	resp, body = n.get("/download/big.bin", "Range", "bytes=0-99")
	if resp.StatusCode != 206 || len(body) != 100 {
		t.Errorf("range of the download: %d, %d bytes", resp.StatusCode, len(body))
	}
	if out := n.output.String(); !strings.Contains(out, "curl") || !strings.Contains(out, n.Edge) {
		t.Errorf("banner does not say what to curl:\n%s", out)
	}
	// The demo serves HTTPS too, with a self-signed certificate kept under
	// its data dir, and says so.
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	if resp, err := insecure.Get("https://" + tlsAddr + "/"); err != nil {
		t.Errorf("the demo over HTTPS: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" || resp.TLS.PeerCertificates[0].VerifyHostname("127.0.0.1") != nil {
			t.Errorf("the demo over HTTPS: %d %s", resp.StatusCode, resp.Proto)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "tls", "cert.pem")); err != nil {
		t.Errorf("the demo's certificate: %v", err)
	}
	if out := n.output.String(); !strings.Contains(out, "https://"+tlsAddr) || !strings.Contains(out, "curl -ski https://"+tlsAddr) {
		t.Errorf("banner does not show the HTTPS address:\n%s", out)
	}
	// The demo runs the control plane and a disk tier under its data dir.
	out, err := exec.Command(ternBin, "invalidate", "demo", "/*", "--wait", "10s", "--data-dir", dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Completed") {
		t.Errorf("invalidate through the demo's control plane: %v\n%s", err, out)
	}
	if resp, _ := n.get("/"); resp.Header.Get("X-Cache") != "Miss from tern" {
		t.Errorf("GET / after invalidating everything: X-Cache %q", resp.Header.Get("X-Cache"))
	}
	if tiers, _ := n.status()["cache"].([]any); len(tiers) != 2 {
		t.Errorf("the demo's cache tiers: %v, want memory and a disk", tiers)
	}

	// The demo runs the router: its DNS answers the demo's generated name
	// with the edge's address, and the edge serves the demo at that name.
	name := config.GeneratedLabel("demo") + ".cdn.localhost"
	edgeIP, edgePort, _ := net.SplitHostPort(n.Edge)
	if got := lookupA(t, dnsAddr, name); !slices.Equal(got, []string{edgeIP}) {
		t.Errorf("the router's answer for %s: %v, want the edge's %s", name, got, edgeIP)
	}
	resp, body = n.get("/", "Host", name+":"+edgePort)
	if resp.StatusCode != 200 || !strings.Contains(strings.ToLower(body), "tern") {
		t.Errorf("GET / at %s: %d %.200q", name, resp.StatusCode, body)
	}
	// The README shows that name.
	if readme, err := os.ReadFile("../README.md"); err != nil || !strings.Contains(string(readme), "--resolve "+name+":8080:127.0.0.1") {
		t.Errorf("README.md does not show the demo's generated name %s (%v)", name, err)
	}
	// The banner says how to ask the router and reach that name.
	dnsHost, dnsPort, _ := net.SplitHostPort(dnsAddr)
	for _, want := range []string{
		"dig @" + dnsHost + " -p " + dnsPort + " +short " + name,
		"curl -si --resolve " + name + ":" + edgePort + ":" + edgeIP + " http://" + name + ":" + edgePort + "/",
	} {
		if !strings.Contains(n.output.String(), want) {
			t.Errorf("the banner has no %q:\n%s", want, n.output.String())
		}
	}
}

// TestLargeObjectCollapsesWhileStreaming: viewers arriving while an object
// too large for the memory tier is streaming share the one origin fetch.
func TestLargeObjectCollapsesWhileStreaming(t *testing.T) {
	big := bytes.Repeat([]byte("abcdefghijklmnop"), 6<<20/16)
	release := make(chan struct{})
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		w.Write(big[:1<<20])
		w.(http.Flusher).Flush()
		<-release
		w.Write(big[1<<20:])
	})
	n := startTern(t, basicConfig(o, defaultBehavior))
	results := make(chan string, 2)
	for i := 0; i < 2; i++ {
		go func() {
			resp, err := http.Get("http://" + n.Edge + "/huge")
			if err != nil {
				results <- err.Error()
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || !bytes.Equal(b, big) {
				results <- fmt.Sprintf("got %d bytes, err %v", len(b), err)
				return
			}
			results <- ""
		}()
	}
	waitFor(t, func() bool { return o.count("/huge") == 1 })
	time.Sleep(200 * time.Millisecond) // both viewers are attached to the fetch
	close(release)
	for i := 0; i < 2; i++ {
		if r := <-results; r != "" {
			t.Error(r)
		}
	}
	if c := o.count("/huge"); c != 1 {
		t.Errorf("origin fetched %d times for two concurrent viewers, want 1", c)
	}
}
