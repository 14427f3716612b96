package edge

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/terncdn/tern/tier"
)

// compressBehavior is a cache behavior for *.js that compresses with
// every coding, for startTierNode's extra YAML.
const compressBehavior = `    cache_behaviors:
      - path_pattern: "*.js"
        target_origin_id: o
        compress: true
        cache_policy:
          min_ttl: 0
          default_ttl: 86400
          max_ttl: 31536000
          enable_accept_encoding_gzip: true
          enable_accept_encoding_brotli: true
          enable_accept_encoding_zstd: true
`

// rawClient leaves Accept-Encoding to the test: Go's transport would
// otherwise ask for gzip itself and decode it out of sight.
var rawClient = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableCompression: true}}

// rawGet fetches url with header pairs, Accept-Encoding as given.
func rawGet(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp, body
}

// decodeResp undoes a response's Content-Encoding.
func decodeResp(t *testing.T, resp *http.Response, body []byte) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	for k, v := range resp.Header {
		rec.Header()[k] = v
	}
	rec.Body.Write(body)
	return decode(t, rec)
}

// TestCompressTierKeepsIdentityETag: an edge that revalidates its
// identity copy on behalf of a coding asks the next tier about the
// identity representation, so the answer's validator is the identity
// copy's. Before, the request named the coding (Accept-Encoding: br) with
// the identity copy's strong ETag; the shield answered 304 for its br copy,
// with W/"v1", and that weak ETag replaced the identity copy's strong one
// (RFC 9111 §4.3.4 updates the stored header with the 304's fields): the
// identity viewers then got W/"v1", and If-Range with "v1" no longer
// allowed a range.
func TestCompressTierKeepsIdentityETag(t *testing.T) {
	o := newCompressOrigin(t)
	o.maxAge.Store(1)
	members := tier.NewStatic()
	opt := nodeOptions{shield: "shd", extra: compressBehavior}
	edge := startTierNode(t, "fra-1", "fra", o.URL, members, opt)
	opt.role = tier.RoleShield
	shield := startTierNode(t, "shd-1", "shd", o.URL, members, opt)
	members.Set(edge.member(), shield.member())

	resp, body := rawGet(t, edge.url("/app.js"))
	if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, jsBody) || resp.Header.Get("Etag") != `"v1"` {
		t.Fatalf("identity: Content-Encoding %q, ETag %q, %d bytes", resp.Header.Get("Content-Encoding"), resp.Header.Get("Etag"), len(body))
	}
	resp, body = rawGet(t, edge.url("/app.js"), "Accept-Encoding", "br")
	if resp.Header.Get("Content-Encoding") != "br" || !bytes.Equal(decodeResp(t, resp, body), jsBody) {
		t.Fatalf("br: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	time.Sleep(1100 * time.Millisecond)
	resp, body = rawGet(t, edge.url("/app.js"), "Accept-Encoding", "br")
	if resp.Header.Get("Content-Encoding") != "br" || !bytes.Equal(decodeResp(t, resp, body), jsBody) || resp.Header.Get("Etag") != `W/"v1"` {
		t.Fatalf("br after expiry: Content-Encoding %q, ETag %q", resp.Header.Get("Content-Encoding"), resp.Header.Get("Etag"))
	}
	resp, body = rawGet(t, edge.url("/app.js"))
	if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, jsBody) {
		t.Fatalf("identity after the refresh: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	if got := resp.Header.Get("Etag"); got != `"v1"` {
		t.Errorf("identity after the refresh: ETag %s, want the origin's strong \"v1\"", got)
	}
	resp, body = rawGet(t, edge.url("/app.js"), "Range", "bytes=0-9", "If-Range", `"v1"`)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, jsBody[:10]) {
		t.Errorf("identity range with If-Range \"v1\": status %d, %d bytes; want 206 with 10", resp.StatusCode, len(body))
	}
}

// TestCompressThroughTiers: an edge in front of a shield, both
// compressing. Every coding reaches the viewer decoded to the origin's
// bytes, a viewer that takes none never gets an encoded body, each node
// keeps each coding apart, the origin is asked once, and a purge on both
// nodes removes every coding.
func TestCompressThroughTiers(t *testing.T) {
	o := newCompressOrigin(t)
	members := tier.NewStatic()
	opt := nodeOptions{shield: "shd", extra: compressBehavior}
	edge := startTierNode(t, "fra-1", "fra", o.URL, members, opt)
	opt.role = tier.RoleShield
	shield := startTierNode(t, "shd-1", "shd", o.URL, members, opt)
	members.Set(edge.member(), shield.member())

	for round := range 2 {
		for _, ae := range []string{"br", "gzip, deflate", "", "zstd", "gzip;q=0, br;q=0", "identity", "BR", "*;q=0"} {
			want := cache_ChooseEncoding(ae)
			resp, body := rawGet(t, edge.url("/app.js"), "Accept-Encoding", ae)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != want {
				t.Fatalf("round %d, Accept-Encoding %q: status %d, Content-Encoding %q, want %q", round, ae, resp.StatusCode, resp.Header.Get("Content-Encoding"), want)
			}
			if !bytes.Equal(decodeResp(t, resp, body), jsBody) {
				t.Fatalf("Accept-Encoding %q: body differs from the origin's", ae)
			}
			if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
				t.Errorf("Accept-Encoding %q: Content-Length %s for %d bytes", ae, cl, len(body))
			}
			if round == 1 && resp.Header.Get(HeaderCache) != "Hit from tern" {
				t.Errorf("round 2, Accept-Encoding %q: X-Cache %q", ae, resp.Header.Get(HeaderCache))
			}
		}
	}
	if n := o.count("/app.js"); n != 1 {
		t.Errorf("origin asked %d times, want once", n)
	}
	for _, n := range []*tierNode{edge, shield} {
		if got, err := n.srv.Purge("d", "/app.js"); err != nil || got < 2 {
			t.Errorf("%s: purge removed %d (%v)", n.id, got, err)
		}
		if l := n.srv.store.Len(); l != 0 {
			t.Errorf("%s: %d objects left after the purge", n.id, l)
		}
	}
	resp, body := rawGet(t, edge.url("/app.js"), "Accept-Encoding", "gzip")
	if resp.Header.Get(HeaderCache) != "Miss from tern" || !bytes.Equal(decodeResp(t, resp, body), jsBody) {
		t.Errorf("after the purge: X-Cache %q", resp.Header.Get(HeaderCache))
	}
	if n := o.count("/app.js"); n != 2 {
		t.Errorf("origin asked %d times, want 2", n)
	}
}

// cache_ChooseEncoding is the coding the test expects for ae (all three
// enabled).
func cache_ChooseEncoding(ae string) string {
	switch ae {
	case "br", "BR":
		return "br"
	case "gzip, deflate":
		return "gzip"
	case "zstd":
		return "zstd"
	}
	return ""
}

// sizedOrigin serves /N.txt as N bytes of text, cacheable, with ETag "v1".
func sizedOrigin(t *testing.T) *httptest.Server {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), ".txt"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(sizedBody(n))
	}))
	t.Cleanup(o.Close)
	return o
}

func sizedBody(n int) []byte {
	return bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz\n"), n/37+1)[:n]
}

// TestCompressZstdWindow: browsers refuse zstd frames whose window is
// above 8 MiB (RFC 9659 §3); the largest bodies the edge compresses
// (up to 10,000,000 bytes) decode with a decoder limited to 8 MiB.
func TestCompressZstdWindow(t *testing.T) {
	o := sizedOrigin(t)
	s := newCompressServer(t, o.URL)
	for _, n := range []int{8 << 20, 8<<20 + 1, 10_000_000} {
		rec := cget(s, fmt.Sprintf("/%d.txt", n), "Accept-Encoding", "zstd")
		if rec.Header().Get("Content-Encoding") != "zstd" {
			t.Fatalf("%d bytes: Content-Encoding %q", n, rec.Header().Get("Content-Encoding"))
		}
		d, err := zstd.NewReader(bytes.NewReader(rec.Body.Bytes()), zstd.WithDecoderMaxWindow(8<<20), zstd.WithDecoderMaxMemory(64<<20))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(d)
		d.Close()
		if err != nil {
			t.Fatalf("%d bytes: a decoder limited to an 8 MiB window: %v", n, err)
		}
		if !bytes.Equal(got, sizedBody(n)) {
			t.Errorf("%d bytes: decoded %d bytes, not the origin's", n, len(got))
		}
	}
}

// TestCompressSizeBounds: 999 bytes and 10,000,001 are sent as they are;
// 1,000 and 10,000,000 are compressed (CloudFront's bounds, inclusive).
func TestCompressSizeBounds(t *testing.T) {
	o := sizedOrigin(t)
	s := newCompressServer(t, o.URL)
	for _, c := range []struct {
		n   int
		enc string
	}{{999, ""}, {1000, "gzip"}, {10_000_000, "gzip"}, {10_000_001, ""}} {
		for range 2 {
			rec := cget(s, fmt.Sprintf("/%d.txt", c.n), "Accept-Encoding", "gzip")
			if got := rec.Header().Get("Content-Encoding"); got != c.enc {
				t.Errorf("%d bytes: Content-Encoding %q, want %q", c.n, got, c.enc)
			}
			if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
				t.Errorf("%d bytes: Content-Length %s for %d bytes", c.n, cl, rec.Body.Len())
			}
			if !bytes.Equal(decode(t, rec), sizedBody(c.n)) {
				t.Errorf("%d bytes: body differs", c.n)
			}
		}
	}
}

// TestCompressedHeadRangesConditionals: on a compressed copy, a HEAD
// has the GET's Content-Length; a multi-range and a suffix range are of
// the compressed bytes; If-Range with the weak ETag or the identity's
// strong one gives the whole copy (strong comparison); If-None-Match with
// either gives 304; a strong If-Match fails (412).
func TestCompressedHeadRangesConditionals(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	get := cget(s, "/app.js", "Accept-Encoding", "gzip")
	whole := get.Body.Bytes()
	if get.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", get.Header().Get("Content-Encoding"))
	}
	head := serve(s, "HEAD", "c.test", "/app.js", "Accept-Encoding", "gzip")
	if head.Header().Get("Content-Length") != strconv.Itoa(len(whole)) || head.Body.Len() != 0 || head.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("HEAD: Content-Length %s, Content-Encoding %q, want %d and gzip", head.Header().Get("Content-Length"), head.Header().Get("Content-Encoding"), len(whole))
	}
	// A HEAD first, for a coding not made yet.
	head = serve(s, "HEAD", "c.test", "/app.js", "Accept-Encoding", "zstd")
	zs := cget(s, "/app.js", "Accept-Encoding", "zstd")
	if head.Header().Get("Content-Length") != zs.Header().Get("Content-Length") || head.Header().Get("Content-Encoding") != "zstd" {
		t.Errorf("first HEAD for zstd: Content-Length %s, GET %s", head.Header().Get("Content-Length"), zs.Header().Get("Content-Length"))
	}

	rec := cget(s, "/app.js", "Accept-Encoding", "gzip", "Range", "bytes=-10")
	if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), whole[len(whole)-10:]) {
		t.Errorf("suffix range: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	rec = cget(s, "/app.js", "Accept-Encoding", "gzip", "Range", "bytes=0-9,100-199")
	if rec.Code != http.StatusPartialContent {
		t.Fatalf("multi-range: status %d", rec.Code)
	}
	mt, params, _ := mime.ParseMediaType(rec.Header().Get("Content-Type"))
	if mt != "multipart/byteranges" {
		t.Fatalf("multi-range: Content-Type %q", rec.Header().Get("Content-Type"))
	}
	if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
		t.Errorf("multi-range: Content-Length %s for %d bytes", cl, rec.Body.Len())
	}
	mr := multipart.NewReader(bytes.NewReader(rec.Body.Bytes()), params["boundary"])
	for _, want := range [][]byte{whole[0:10], whole[100:200]} {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		if !bytes.Equal(b, want) {
			t.Errorf("multi-range part %s: not the compressed bytes", p.Header.Get("Content-Range"))
		}
	}
	for _, ir := range []string{`W/"v1"`, `"v1"`} {
		rec = cget(s, "/app.js", "Accept-Encoding", "gzip", "Range", "bytes=0-9", "If-Range", ir)
		if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), whole) {
			t.Errorf("If-Range %s: status %d, %d bytes; want 200 with the whole copy", ir, rec.Code, rec.Body.Len())
		}
	}
	for _, inm := range []string{`W/"v1"`, `"v1"`, `*`} {
		if rec = cget(s, "/app.js", "Accept-Encoding", "gzip", "If-None-Match", inm); rec.Code != http.StatusNotModified {
			t.Errorf("If-None-Match %s: status %d", inm, rec.Code)
		}
	}
	if rec = cget(s, "/app.js", "Accept-Encoding", "gzip", "If-Match", `"v1"`); rec.Code != http.StatusPreconditionFailed {
		t.Errorf("If-Match \"v1\" on the gzip copy: status %d, want 412 (strong comparison with W/\"v1\")", rec.Code)
	}
}

// TestCompressAcceptEncodingEdgeCases: odd Accept-Encoding fields choose
// as RFC 9110 §12.5.3 says, and never get a coding the viewer refused.
func TestCompressAcceptEncodingEdgeCases(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	huge := strings.Repeat("x-unknown;q=0.5, ", 4000) + "gzip"
	for _, c := range []struct{ ae, want string }{
		{"identity;q=0", ""},
		{"identity;q=0, gzip", "gzip"},
		{"GZIP", "gzip"},
		{"x-gzip", "gzip"},
		{"gzip, gzip;q=0", ""}, // the last weight counts
		{"br;q=0, *", "zstd"},
		{"*;q=0", ""},
		{"gzip;q=0.001", "gzip"},
		{"gzip;q=1.5", "gzip"},
		{"br ; q = 0", ""},
		{huge, "gzip"},
		{"gzip\t,\tbr", "br"},
	} {
		rec := cget(s, "/app.js", "Accept-Encoding", c.ae)
		name := c.ae
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		if got := rec.Header().Get("Content-Encoding"); got != c.want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", name, got, c.want)
		}
		if !bytes.Equal(decode(t, rec), jsBody) {
			t.Errorf("Accept-Encoding %q: body differs", name)
		}
	}
}

// TestCompressConcurrentCodings: many viewers asking for every coding of
// one object at once: each gets its coding, the origin is asked at most
// once per coding, and each coding is stored once.
func TestCompressConcurrentCodings(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 48 {
		enc := []string{"br", "zstd", "gzip", ""}[i%4]
		wg.Go(func() {
			rec := cget(s, "/app.js", "Accept-Encoding", enc)
			if rec.Header().Get("Content-Encoding") != enc {
				errs <- fmt.Sprintf("%q: Content-Encoding %q", enc, rec.Header().Get("Content-Encoding"))
				return
			}
			rd := httptest.NewRecorder()
			rd.Header().Set("Content-Encoding", enc)
			rd.Body.Write(rec.Body.Bytes())
			if !bytes.Equal(decode(t, rd), jsBody) {
				errs <- fmt.Sprintf("%q: body differs", enc)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	// Cold, each coding's fill fetches for itself (the identity copy is
	// not there yet to compress from): at most once per coding.
	if n := o.count("/app.js"); n < 1 || n > 4 {
		t.Errorf("origin asked %d times, want once per coding at most", n)
	}
	if n := s.store.Len(); n != 4 {
		t.Errorf("%d objects stored, want 4", n)
	}
}

// TestCompressWhenBusy: when every compression slot stays taken (the
// edge busy compressing other objects), a viewer is not held longer than
// compressWait: it gets the identity copy, and the coding is made by a
// later request once a slot is free.
func TestCompressWhenBusy(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	cget(s, "/app.js") // the identity copy
	for range cap(compressors) {
		compressors <- struct{}{}
	}
	start := time.Now()
	rec := cget(s, "/app.js", "Accept-Encoding", "br")
	waited := time.Since(start)
	for range cap(compressors) {
		<-compressors
	}
	if rec.Header().Get("Content-Encoding") != "" || !bytes.Equal(rec.Body.Bytes(), jsBody) {
		t.Errorf("busy: Content-Encoding %q, %d bytes; want the identity copy", rec.Header().Get("Content-Encoding"), rec.Body.Len())
	}
	if waited < compressWait || waited > compressWait+2*time.Second {
		t.Errorf("busy: answered after %v, want about %v", waited, compressWait)
	}
	// A miss while busy: the identity copy is served and stored.
	for range cap(compressors) {
		compressors <- struct{}{}
	}
	rec = cget(s, "/other.js", "Accept-Encoding", "gzip")
	for range cap(compressors) {
		<-compressors
	}
	if rec.Header().Get("Content-Encoding") != "" || !bytes.Equal(rec.Body.Bytes(), jsBody) {
		t.Errorf("busy miss: Content-Encoding %q; want the identity copy", rec.Header().Get("Content-Encoding"))
	}
	for _, path := range []string{"/app.js", "/other.js"} {
		rec = cget(s, path, "Accept-Encoding", "br")
		if rec.Header().Get("Content-Encoding") != "br" || !bytes.Equal(decode(t, rec), jsBody) || rec.Header().Get("X-Cache") != "Hit from tern" {
			t.Errorf("%s once free: Content-Encoding %q, X-Cache %q", path, rec.Header().Get("Content-Encoding"), rec.Header().Get("X-Cache"))
		}
	}
	if n := o.count("/app.js") + o.count("/other.js"); n != 2 {
		t.Errorf("origin asked %d times, want once per object", n)
	}
}

// TestCompressCollapsesUncompressibleVariants: viewers asking at once
// for a coding of an object the edge does not compress (an image) whose
// response varies on Origin, as CORS responses do, wait for the one
// fetch. Before, the fetch's answer was named by its identity key's
// variant and every viewer but the first, asking under the coding's key,
// took it for another variant and went to the origin itself.
func TestCompressCollapsesUncompressibleVariants(t *testing.T) {
	var mu sync.Mutex
	fetches := 0
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetches++
		mu.Unlock()
		time.Sleep(300 * time.Millisecond) // the viewers gather behind the first
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Vary", "Origin")
		w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		w.Write(jsBody)
	}))
	t.Cleanup(o.Close)
	s := newCompressServer(t, o.URL)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			rec := cget(s, "/img.png", "Accept-Encoding", "br", "Origin", "https://a.test")
			if rec.Code != 200 || rec.Header().Get("Content-Encoding") != "" || !bytes.Equal(rec.Body.Bytes(), jsBody) {
				t.Errorf("status %d, Content-Encoding %q", rec.Code, rec.Header().Get("Content-Encoding"))
			}
		})
	}
	wg.Wait()
	if fetches != 1 {
		t.Errorf("origin asked %d times by viewers of one variant at once, want once", fetches)
	}
}

// TestTierMixedCompressConfigs: the two nodes of a POP at different
// configurations, as while a change that turns on compression reaches
// them one after the other: fra-b's behavior neither compresses nor keys
// on Accept-Encoding; fra-a's compresses. fra-b's request to fra-a
// carries the viewer's Accept-Encoding, and fra-a answers with a coding;
// its Vary: Accept-Encoding makes fra-b keep that answer for viewers of
// the same field only, so a viewer that takes no coding never gets it.
func TestTierMixedCompressConfigs(t *testing.T) {
	o := newCompressOrigin(t)
	members := tier.NewStatic()
	plain := strings.NewReplacer("compress: true", "compress: false",
		"          enable_accept_encoding_gzip: true\n", "",
		"          enable_accept_encoding_brotli: true\n", "",
		"          enable_accept_encoding_zstd: true\n", "").Replace(compressBehavior)
	a := startTierNode(t, "fra-a", "fra", o.URL, members, nodeOptions{extra: compressBehavior})
	b := startTierNode(t, "fra-b", "fra", o.URL, members, nodeOptions{extra: plain})
	members.Set(a.member(), b.member())
	for i := range 100 {
		p := fmt.Sprintf("/lib/%d.js", i)
		before := a.tierRequests.Load()
		resp, body := rawGet(t, b.url(p), "Accept-Encoding", "gzip, br")
		if a.tierRequests.Load() == before {
			continue // fra-b owns it
		}
		if ce := resp.Header.Get("Content-Encoding"); ce != "" {
			// An encoded answer is fine for this viewer, if it decodes.
			if !bytes.Equal(decodeResp(t, resp, body), jsBody) {
				t.Fatalf("%s: %s body differs", p, ce)
			}
		}
		resp, body = rawGet(t, b.url(p))
		if ce := resp.Header.Get("Content-Encoding"); ce != "" || !bytes.Equal(body, jsBody) {
			t.Fatalf("%s: a viewer that takes no coding got Content-Encoding %q (X-Cache %q)", p, ce, resp.Header.Get(HeaderCache))
		}
		return
	}
	t.Fatal("fra-b fetched nothing through fra-a")
}

// TestCompressedIfRangeDate: a viewer resuming a compressed copy with
// If-Range: <Last-Modified> gets the whole copy, not a range. The
// compressed bytes are only weakly validated (the copy's ETag is weak):
// the same Last-Modified may name the origin's own encoding on one node
// and the edge's on another, or a copy compressed again, and a range of
// one spliced onto a prefix of the other does not decode (RFC 9110
// §13.1.5: If-Range needs a strong validator).
func TestCompressedIfRangeDate(t *testing.T) {
	lm := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Type", "application/javascript")
		w.Header().Set("Last-Modified", lm)
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(jsBody)))
		w.Write(jsBody)
	}))
	t.Cleanup(o.Close)
	s := newCompressServer(t, o.URL)
	whole := cget(s, "/app.js", "Accept-Encoding", "gzip").Body.Bytes()
	rec := cget(s, "/app.js", "Accept-Encoding", "gzip", "Range", "bytes=100-", "If-Range", lm)
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), whole) {
		t.Errorf("gzip copy, If-Range with its Last-Modified: status %d, %d bytes; want 200 with all %d", rec.Code, rec.Body.Len(), len(whole))
	}
	// The edge busy, a viewer of gzip gets the identity copy: a range of
	// it is not to be spliced onto the gzip bytes the date validated.
	cget(s, "/app.js")
	cget(s, "/other.js")
	for range cap(compressors) {
		compressors <- struct{}{}
	}
	rec = cget(s, "/other.js", "Accept-Encoding", "gzip", "Range", "bytes=100-", "If-Range", lm)
	for range cap(compressors) {
		<-compressors
	}
	if rec.Code != 200 || rec.Header().Get("Content-Encoding") != "" || !bytes.Equal(rec.Body.Bytes(), jsBody) {
		t.Errorf("busy, identity for gzip, If-Range with its Last-Modified: status %d, Content-Encoding %q, %d bytes; want 200 with the whole identity copy", rec.Code, rec.Header().Get("Content-Encoding"), rec.Body.Len())
	}
	// The identity copy has a strong ETag: its Last-Modified is a strong
	// validator too, and the range is served.
	rec = cget(s, "/app.js", "Range", "bytes=100-", "If-Range", lm)
	if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), jsBody[100:]) {
		t.Errorf("identity copy, If-Range with its Last-Modified: status %d", rec.Code)
	}
}
