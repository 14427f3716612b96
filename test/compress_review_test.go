package test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// compressPolicy is a behavior that compresses with every coding.
const compressPolicy = `      compress: true
      cache_policy:
        min_ttl: 0
        default_ttl: 86400
        max_ttl: 31536000
        enable_accept_encoding_gzip: true
        enable_accept_encoding_brotli: true
        enable_accept_encoding_zstd: true
`

// scriptBody is a compressible script of about 40 KB naming its version.
func scriptBody(version int32) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 40_000; i++ {
		fmt.Fprintf(&b, "export function handler%d(event) { return render(event.v%d, %q); }\n", i, version, strconv.Itoa(i*7919))
	}
	return b.Bytes()
}

// scriptOrigin serves scriptBody at every path, tagged "scripts", with
// ETag "v<version>" and conditional requests, and notes the
// Accept-Encoding of each request.
type scriptOrigin struct {
	*origin
	version atomic.Int32
	mu      sync.Mutex
	asked   []string
}

func startScriptOrigin(t *testing.T) *scriptOrigin {
	so := &scriptOrigin{}
	so.origin = startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		so.mu.Lock()
		so.asked = append(so.asked, r.Header.Get("Accept-Encoding"))
		so.mu.Unlock()
		v := so.version.Load()
		etag := fmt.Sprintf(`"v%d"`, v)
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=3600")
		if strings.HasPrefix(r.URL.Path, "/short") {
			h.Set("Cache-Control", "public, max-age=1")
		}
		h.Set("Content-Type", "text/javascript")
		h.Set("ETag", etag)
		h.Set("Cache-Tag", "scripts")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		body := scriptBody(v)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	return so
}

// rawClient leaves Accept-Encoding alone: Go's transport would otherwise
// ask for gzip itself and decode it out of sight.
var rawClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true}}

// encodedGet fetches path from n with Accept-Encoding ae (none when ""),
// checks that the response is in the coding want, that its
// Content-Length is its length, and that it decodes to body; it returns
// the response.
func encodedGet(t *testing.T, n *node, path, ae, want string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+n.Edge+path, nil)
	if ae != "" {
		req.Header.Set("Accept-Encoding", ae)
	}
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s (%q): %v", n.Edge, path, ae, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s (%q): %v", n.Edge, path, ae, err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s (%q): status %d %s", n.Edge, path, ae, resp.StatusCode, resp.Header.Get("X-Tern-Error"))
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != want {
		t.Fatalf("%s %s (Accept-Encoding %q): Content-Encoding %q, want %q", n.Edge, path, ae, ce, want)
	}
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(b)) {
		t.Errorf("%s %s (%q): Content-Length %q for %d bytes", n.Edge, path, ae, cl, len(b))
	}
	var r io.Reader = bytes.NewReader(b)
	switch want {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("%s %s: gzip: %v", n.Edge, path, err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(r)
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(8<<20))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s %s: decode %s: %v", n.Edge, path, want, err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("%s %s (%q, %s): decoded body is not the origin's (%d bytes, want %d)", n.Edge, path, ae, want, len(got), len(body))
	}
	if want != "" && !strings.HasPrefix(resp.Header.Get("Etag"), "W/") {
		t.Errorf("%s %s (%s): ETag %q, want a weak one", n.Edge, path, want, resp.Header.Get("Etag"))
	}
	return resp
}

// codings are Accept-Encoding fields and the coding each gets.
var codings = []struct{ ae, want string }{
	{"gzip, deflate, br, zstd", "br"},
	{"gzip, zstd", "zstd"},
	{"gzip", "gzip"},
	{"", ""},
	{"br;q=0, gzip;q=0, zstd;q=0", ""},
}

// TestCompressThroughTiers: a control plane, a shield and two edges of one
// POP, as separate processes, in front of one origin, with a behavior
// that compresses. Viewers of both edges get every coding, decoded to the
// origin's bytes, and identity when they take none; the origin is asked
// for the object once by the whole network; an identity copy revalidated
// for a coding keeps its strong ETag; invalidations by path and by tag
// remove every coding on every node.
func TestCompressThroughTiers(t *testing.T) {
	o := startScriptOrigin(t)
	site := fmt.Sprintf(`distributions:
  - id: site
    aliases: ["*"]
    origins:
      - {id: o, domain_name: 127.0.0.1, http_port: %s, origin_shield: {enabled: true, region: shield-eu}}
    default_cache_behavior:
      target_origin_id: o
%s`, o.port(), compressPolicy)
	nw := startNetwork(t, site)
	nw.startShield("shield-eu", "shield-1")
	eu1, eu2 := nw.startEdge("eu", "eu-1"), nw.startEdge("eu", "eu-2")
	waitLong(t, "the configuration on every node", func() bool {
		for _, e := range nw.edges {
			if !slices.Contains(e.distributionIDs(), "site") {
				return false
			}
		}
		return true
	})
	waitLong(t, "three nodes alive", func() bool { return nw.alive() == 3 })
	time.Sleep(1100 * time.Millisecond) // every node hears every other's heartbeat

	check := func(version int32, what string) {
		t.Helper()
		want := scriptBody(version)
		for round := range 2 {
			for _, e := range []*node{eu1, eu2} {
				for _, c := range codings {
					resp := encodedGet(t, e, "/app.js", c.ae, c.want, want)
					if round == 1 && resp.Header.Get("X-Cache") != "Hit from tern" {
						t.Errorf("%s, %s, Accept-Encoding %q again: X-Cache %q", what, e.Edge, c.ae, resp.Header.Get("X-Cache"))
					}
				}
			}
		}
	}
	check(0, "first")
	if n := o.count("/app.js"); n != 1 {
		o.mu.Lock()
		t.Errorf("the origin was asked %d times (Accept-Encoding %q), want once", n, o.asked)
		o.mu.Unlock()
	}

	// Revalidated through the tiers on behalf of a coding, the identity
	// copy keeps its strong ETag (a tier's 304 for its compressed copy
	// carried W/"v0", and that replaced it).
	for _, e := range []*node{eu1, eu2} {
		encodedGet(t, e, "/short.js", "", "", scriptBody(0))
		encodedGet(t, e, "/short.js", "br", "br", scriptBody(0))
	}
	time.Sleep(1100 * time.Millisecond)
	for _, e := range []*node{eu1, eu2} {
		encodedGet(t, e, "/short.js", "br", "br", scriptBody(0))
		if resp := encodedGet(t, e, "/short.js", "", "", scriptBody(0)); resp.Header.Get("Etag") != `"v0"` {
			t.Errorf("%s: identity ETag %s after a revalidation for br, want \"v0\"", e.Edge, resp.Header.Get("Etag"))
		}
	}

	o.version.Store(1)
	nw.invalidate("site", "/app.js")
	check(1, "after the invalidation by path")

	o.version.Store(2)
	if out, err := nw.cli("invalidate", "site", "--tag", "scripts", "--wait", "20s"); err != nil || !strings.Contains(out, "Completed after") {
		t.Fatalf("invalidate --tag scripts: %v\n%s", err, out)
	}
	check(2, "after the invalidation by tag")
	if n := o.count("/app.js"); n != 3 {
		t.Errorf("the origin was asked %d times, want once per version", n)
	}
}

// TestCompressedCopiesSurviveRestart: with a disk tier, the codings of an
// object are served after a clean restart and after kill -9 with their
// headers and lengths, without asking the origin again.
func TestCompressedCopiesSurviveRestart(t *testing.T) {
	o := startScriptOrigin(t)
	cfg := strings.Replace(basicConfig(o.origin, "    default_cache_behavior:\n      target_origin_id: web\n"+compressPolicy),
		"    max_object_size: 4MiB\n",
		"    max_object_size: 4MiB\n    disk: {path: \""+filepath.Join(t.TempDir(), "cache")+"\", size: 256MiB}\n", 1)
	n := startTern(t, cfg)
	want := scriptBody(0)
	for range 3 { // past the disk tier's admission doorkeeper
		for _, c := range codings {
			encodedGet(t, n, "/app.js", c.ae, c.want, want)
		}
	}
	waitFor(t, func() bool { return n.diskObjects() >= 1 })
	time.Sleep(500 * time.Millisecond) // the disk tier writes behind
	fetched := o.total.Load()
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGKILL} {
		n.restart(sig)
		for _, c := range codings {
			resp := encodedGet(t, n, "/app.js", c.ae, c.want, want)
			if resp.Header.Get("X-Cache") != "Hit from tern" {
				t.Errorf("after restart (%v), %q: X-Cache %q", sig, c.ae, resp.Header.Get("X-Cache"))
			}
		}
	}
	if got := o.total.Load(); got != fetched {
		t.Errorf("the origin was asked %d more times after the restarts, want 0", got-fetched)
	}
}
