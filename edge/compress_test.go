package edge

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/storage/disk"
	"github.com/terncdn/tern/storage/memory"
	"github.com/terncdn/tern/storage/tiered"
)

// jsBody is about 64 KiB of JavaScript-like code, made from a seeded
// generator: identifiers from a vocabulary, numbers and strings, so that
// it compresses about as well as real code (gzip: about a quarter).
var jsBody = func() []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields(`request response headers value event handler config options result
		index length items element document window render update state props context cache
		key token user session error message status data buffer stream promise resolve reject
		callback timeout interval listener target source path query params body fetch method`)
	word := func() string {
		w := words[rng.IntN(len(words))]
		if rng.IntN(3) == 0 {
			w += strings.ToUpper(words[rng.IntN(len(words))][:1]) + words[rng.IntN(len(words))][1:]
		}
		return w
	}
	var b bytes.Buffer
	for b.Len() < 64<<10 {
		switch rng.IntN(5) {
		case 0:
			fmt.Fprintf(&b, "function %s(%s, %s) {\n", word(), word(), word())
		case 1:
			fmt.Fprintf(&b, "  const %s = %s.%s(%q, %d);\n", word(), word(), word(), word()+"-"+strconv.Itoa(rng.IntN(1e6)), rng.IntN(1e5))
		case 2:
			fmt.Fprintf(&b, "  if (%s.%s === %d) { return %s[%d]; }\n", word(), word(), rng.IntN(1000), word(), rng.IntN(64))
		case 3:
			fmt.Fprintf(&b, "  %s.%s = %s || %q;\n", word(), word(), word(), strconv.FormatUint(rng.Uint64(), 36))
		default:
			b.WriteString("}\n")
		}
	}
	return b.Bytes()
}()

// compressOrigin is an origin for the compression tests. It counts the
// requests per path and keeps the Accept-Encoding each one came with.
type compressOrigin struct {
	*httptest.Server
	mu       sync.Mutex
	fetches  map[string]int
	encoding map[string][]string // path → Accept-Encoding of each request
	// conditional is the If-None-Match of each request for a path that
	// may answer 304.
	conditional map[string][]string
	maxAge      atomic.Int64
}

func (o *compressOrigin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fetches[path]
}

func (o *compressOrigin) asked(path string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.encoding[path]...)
}

func newCompressOrigin(t testing.TB) *compressOrigin {
	o := &compressOrigin{fetches: map[string]int{}, encoding: map[string][]string{}, conditional: map[string][]string{}}
	o.maxAge.Store(3600)
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.fetches[r.URL.Path]++
		o.encoding[r.URL.Path] = append(o.encoding[r.URL.Path], r.Header.Get("Accept-Encoding"))
		o.mu.Unlock()
		h := w.Header()
		h.Set("Cache-Control", "public, max-age="+strconv.FormatInt(o.maxAge.Load(), 10))
		body, ct := jsBody, "application/javascript; charset=utf-8"
		switch r.URL.Path {
		case "/small.js":
			body = jsBody[:999]
		case "/edge.js":
			body = jsBody[:1000]
		case "/img.png":
			ct = "image/png"
		case "/nt.js":
			h.Set("Cache-Control", "public, max-age=3600, no-transform")
		case "/big.txt":
			body, ct = bytes.Repeat([]byte("0123456789"), 1_000_001)[:10_000_001], "text/plain"
		case "/chunked.js":
			// No Content-Length: the length is not known when the head goes out.
			h.Set("Content-Type", ct)
			h.Set("ETag", `"v1"`)
			w.Write(jsBody[:4096])
			w.(http.Flusher).Flush()
			w.Write(jsBody[4096:])
			return
		case "/nocache.js":
			h.Set("Cache-Control", "no-cache")
		case "/swr.js":
			h.Set("Cache-Control", "max-age=1, stale-while-revalidate=60")
		case "/large.js":
			body = bytes.Repeat(jsBody, 32) // 2 MiB: beyond the memory tier's objects
		case "/vary.js":
			// A response that varies on Origin besides the coding.
			h.Set("Vary", "Origin, Accept-Encoding")
			body = append([]byte("// for "+r.Header.Get("Origin")+"\n"), jsBody...)
		case "/pre.js":
			// An origin that compresses gzip itself.
			h.Set("Vary", "Accept-Encoding")
			if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				h.Set("Content-Type", ct)
				h.Set("Content-Encoding", "gzip")
				h.Set("ETag", `"pre-gz"`)
				w.Write(gzipped(jsBody))
				return
			}
		}
		h.Set("Content-Type", ct)
		h.Set("ETag", `"v1"`)
		o.mu.Lock()
		o.conditional[r.URL.Path] = append(o.conditional[r.URL.Path], r.Header.Get("If-None-Match"))
		o.mu.Unlock()
		if inm := r.Header.Get("If-None-Match"); inm == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	t.Cleanup(o.Close)
	return o
}

var gzipOnce = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(jsBody)
	w.Close()
	return b.Bytes()
})

func gzipped(b []byte) []byte {
	if bytes.Equal(b, jsBody) {
		return gzipOnce()
	}
	panic("gzipped: only jsBody")
}

// newCompressServer is an edge whose default behavior compresses, with
// gzip, Brotli and zstd enabled in its cache policy.
func newCompressServer(t testing.TB, originURL string) *Server {
	t.Helper()
	s, err := New(Options{Config: compressConfig(t, originURL, ""), Storage: memory.New(256<<20, 64<<20)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func compressConfig(t testing.TB, originURL, cache string) *config.Config {
	t.Helper()
	u, _ := url.Parse(originURL)
	c, err := config.Parse([]byte(`
edge: {node_id: t1, pop: tst`+cache+`}
admin: {listen: "off"}
distributions:
  - id: c
    aliases: [c.test]
    origins: [{id: o, domain_name: `+u.Hostname()+`, http_port: `+u.Port()+`}]
    default_cache_behavior:
      target_origin_id: o
      compress: true
      origin_request_policy: Managed-CORS-CustomOrigin
      cache_policy:
        min_ttl: 0
        default_ttl: 86400
        max_ttl: 31536000
        enable_accept_encoding_gzip: true
        enable_accept_encoding_brotli: true
        enable_accept_encoding_zstd: true
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func cget(s *Server, path string, hdr ...string) *httptest.ResponseRecorder {
	return serve(s, "GET", "c.test", path, hdr...)
}

// decode undoes a response's Content-Encoding.
func decode(t *testing.T, rec *httptest.ResponseRecorder) []byte {
	t.Helper()
	body := rec.Body.Bytes()
	var r io.Reader
	switch ce := rec.Header().Get("Content-Encoding"); ce {
	case "":
		return body
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("unexpected Content-Encoding %q", ce)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", rec.Header().Get("Content-Encoding"), err)
	}
	return out
}

// TestCompressEveryCoding: each coding decodes to the origin's bytes, with
// a weak ETag, Vary: Accept-Encoding and its own length; the origin is
// asked once for the object, whatever the codings, and each coding is a
// hit from its second request on.
func TestCompressEveryCoding(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	for i, enc := range []string{"br", "zstd", "gzip", ""} {
		for round := range 2 {
			rec := cget(s, "/app.js", "Accept-Encoding", enc)
			if rec.Code != 200 {
				t.Fatalf("%s: status %d", enc, rec.Code)
			}
			h := rec.Header()
			if got := h.Get("Content-Encoding"); got != enc {
				t.Fatalf("%q: Content-Encoding %q", enc, got)
			}
			if got := decode(t, rec); !bytes.Equal(got, jsBody) {
				t.Fatalf("%q: decoded body differs from the origin's (%d bytes, want %d)", enc, len(got), len(jsBody))
			}
			if cl := h.Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
				t.Errorf("%q: Content-Length %s for %d bytes", enc, cl, rec.Body.Len())
			}
			wantTag := `"v1"`
			if enc != "" {
				wantTag = `W/"v1"`
				if rec.Body.Len() >= len(jsBody)/2 {
					t.Errorf("%s: %d bytes of %d: hardly compressed", enc, rec.Body.Len(), len(jsBody))
				}
				if !headerHasToken(h["Vary"], "accept-encoding") {
					t.Errorf("%s: Vary %q lacks Accept-Encoding", enc, h["Vary"])
				}
			}
			if got := h.Get("Etag"); got != wantTag {
				t.Errorf("%q: ETag %s, want %s", enc, got, wantTag)
			}
			wantCache := "Hit from tern"
			if i == 0 && round == 0 {
				wantCache = "Miss from tern"
			}
			if got := h.Get("X-Cache"); got != wantCache {
				t.Errorf("%q round %d: X-Cache %q, want %q", enc, round, got, wantCache)
			}
		}
	}
	if n := o.count("/app.js"); n != 1 {
		t.Errorf("origin asked %d times, want once for every coding", n)
	}
	if got := o.asked("/app.js"); len(got) != 1 || got[0] != "br" {
		t.Errorf("origin asked with Accept-Encoding %q, want the chosen coding alone", got)
	}
}

// TestCompressQValues: the viewer's weights choose the coding; q=0 refuses
// one; "*" stands for the codings not named.
func TestCompressQValues(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	for _, c := range []struct{ ae, want string }{
		{"gzip, deflate, br, zstd", "br"},
		{"gzip, zstd", "zstd"},
		{"gzip;q=1, br;q=0.5", "gzip"},
		{"br;q=0, gzip", "gzip"},
		{"zstd;q=0.9, br;q=0.8, gzip", "gzip"},
		{"*", "br"},
		{"*;q=0.1, br;q=0", "zstd"},
		{"identity", ""},
		{"deflate", ""},
		{"gzip;q=0, br;q=0.000", ""},
	} {
		rec := cget(s, "/app.js", "Accept-Encoding", c.ae)
		if got := rec.Header().Get("Content-Encoding"); got != c.want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", c.ae, got, c.want)
		}
		if got := decode(t, rec); !bytes.Equal(got, jsBody) {
			t.Errorf("Accept-Encoding %q: body differs", c.ae)
		}
	}
	if n := o.count("/app.js"); n != 1 {
		t.Errorf("origin asked %d times, want 1", n)
	}
}

// TestCompressedRanges: a range of a compressed copy is a range of its
// compressed bytes (RFC 9110 §14.1.2); If-Range with its weak ETag never
// allows a range (strong comparison): the whole copy is sent.
func TestCompressedRanges(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	full := cget(s, "/app.js", "Accept-Encoding", "br")
	whole := full.Body.Bytes()
	rec := cget(s, "/app.js", "Accept-Encoding", "br", "Range", "bytes=10-109")
	if rec.Code != http.StatusPartialContent {
		t.Fatalf("range: status %d", rec.Code)
	}
	if !bytes.Equal(rec.Body.Bytes(), whole[10:110]) {
		t.Error("the range is not of the compressed bytes")
	}
	if got, want := rec.Header().Get("Content-Range"), fmt.Sprintf("bytes 10-109/%d", len(whole)); got != want {
		t.Errorf("Content-Range %q, want %q", got, want)
	}
	if rec.Header().Get("Content-Encoding") != "br" {
		t.Errorf("Content-Encoding %q on the range", rec.Header().Get("Content-Encoding"))
	}
	rec = cget(s, "/app.js", "Accept-Encoding", "br", "Range", "bytes=10-109", "If-Range", `W/"v1"`)
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), whole) {
		t.Errorf("If-Range with a weak ETag: status %d, %d bytes; want the whole copy", rec.Code, rec.Body.Len())
	}
	// A range request that finds nothing cached for its coding gets the
	// range of the compressed copy made for it.
	rec = cget(s, "/app.js", "Accept-Encoding", "gzip", "Range", "bytes=0-1")
	if rec.Code != http.StatusPartialContent || rec.Header().Get("Content-Encoding") != "gzip" || !bytes.Equal(rec.Body.Bytes(), []byte{0x1f, 0x8b}) {
		t.Errorf("gzip range: %d %q % x", rec.Code, rec.Header().Get("Content-Encoding"), rec.Body.Bytes())
	}
}

// TestCompressedNotModified: the weak ETag of a compressed copy validates
// it (If-None-Match compares weakly, RFC 9110 §13.1.2).
func TestCompressedNotModified(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	cget(s, "/app.js", "Accept-Encoding", "br")
	for _, inm := range []string{`W/"v1"`, `"v1"`, `"x", W/"v1"`} {
		rec := cget(s, "/app.js", "Accept-Encoding", "br", "If-None-Match", inm)
		if rec.Code != http.StatusNotModified {
			t.Errorf("If-None-Match %s: status %d, want 304", inm, rec.Code)
		}
		if rec.Header().Get("Etag") != `W/"v1"` {
			t.Errorf("If-None-Match %s: 304 with ETag %q", inm, rec.Header().Get("Etag"))
		}
	}
	if rec := cget(s, "/app.js", "Accept-Encoding", "br", "If-None-Match", `"v2"`); rec.Code != 200 {
		t.Errorf("another ETag: status %d", rec.Code)
	}
}

// TestCompressOnlyWhatQualifies: small and over-large bodies, types not on
// the list and no-transform go out as the origin sent them, from one
// cached copy; a HEAD gets a compressed copy's head without its body.
func TestCompressOnlyWhatQualifies(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	for _, path := range []string{"/small.js", "/img.png", "/nt.js", "/big.txt"} {
		for _, enc := range []string{"br", "gzip", "", "br"} {
			rec := cget(s, path, "Accept-Encoding", enc)
			if rec.Code != 200 || rec.Header().Get("Content-Encoding") != "" {
				t.Errorf("%s %q: status %d, Content-Encoding %q; want it as it is", path, enc, rec.Code, rec.Header().Get("Content-Encoding"))
			}
			if rec.Header().Get("Etag") != `"v1"` {
				t.Errorf("%s: ETag %q", path, rec.Header().Get("Etag"))
			}
		}
		if n := o.count(path); n != 1 {
			t.Errorf("%s: origin asked %d times, want 1", path, n)
		}
	}
	if rec := cget(s, "/edge.js", "Accept-Encoding", "gzip"); rec.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("1,000 bytes: not compressed")
	}

	rec := serve(s, "HEAD", "c.test", "/app.js", "Accept-Encoding", "br")
	if rec.Code != 200 || rec.Header().Get("Content-Encoding") != "br" || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d, Content-Encoding %q, %d body bytes", rec.Code, rec.Header().Get("Content-Encoding"), rec.Body.Len())
	}
	get := cget(s, "/app.js", "Accept-Encoding", "br")
	if rec.Header().Get("Content-Length") != get.Header().Get("Content-Length") {
		t.Errorf("HEAD Content-Length %s, GET %s", rec.Header().Get("Content-Length"), get.Header().Get("Content-Length"))
	}
}

// TestCompressUnknownLength: a response without Content-Length is
// compressed as it streams the first time (compress_stream.go), then
// compressed from the cached copy without asking the origin again.
func TestCompressUnknownLength(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	first := cget(s, "/chunked.js", "Accept-Encoding", "br")
	if first.Header().Get("Content-Encoding") != "br" || !bytes.Equal(decode(t, first), jsBody) {
		t.Fatalf("first: Content-Encoding %q, %d bytes", first.Header().Get("Content-Encoding"), first.Body.Len())
	}
	second := cget(s, "/chunked.js", "Accept-Encoding", "br")
	if second.Header().Get("Content-Encoding") != "br" || !bytes.Equal(decode(t, second), jsBody) {
		t.Errorf("second: Content-Encoding %q", second.Header().Get("Content-Encoding"))
	}
	if second.Header().Get("X-Cache") != "Hit from tern" {
		t.Errorf("second: X-Cache %q", second.Header().Get("X-Cache"))
	}
	if n := o.count("/chunked.js"); n != 1 {
		t.Errorf("origin asked %d times", n)
	}
}

// TestOriginEncodedPassthrough: what the origin encodes itself is stored
// and served as it came (its own ETag, its bytes); a coding it does not
// make is made at the edge; a viewer that takes no coding gets identity,
// asked of the origin without Accept-Encoding.
func TestOriginEncodedPassthrough(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	for range 2 {
		rec := cget(s, "/pre.js", "Accept-Encoding", "gzip")
		if rec.Header().Get("Content-Encoding") != "gzip" || !bytes.Equal(rec.Body.Bytes(), gzipped(jsBody)) {
			t.Fatalf("gzip: Content-Encoding %q; want the origin's own bytes", rec.Header().Get("Content-Encoding"))
		}
		if rec.Header().Get("Etag") != `"pre-gz"` {
			t.Errorf("gzip: ETag %q, want the origin's", rec.Header().Get("Etag"))
		}
	}
	rec := cget(s, "/pre.js", "Accept-Encoding", "br")
	if rec.Header().Get("Content-Encoding") != "br" || !bytes.Equal(decode(t, rec), jsBody) {
		t.Errorf("br: Content-Encoding %q", rec.Header().Get("Content-Encoding"))
	}
	rec = cget(s, "/pre.js")
	if rec.Header().Get("Content-Encoding") != "" || !bytes.Equal(rec.Body.Bytes(), jsBody) {
		t.Errorf("identity: Content-Encoding %q", rec.Header().Get("Content-Encoding"))
	}
	if got, want := o.asked("/pre.js"), []string{"gzip", "br"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("origin asked with Accept-Encoding %q, want %q (identity made from the br fetch's copy)", got, want)
	}
}

// TestIdentityFirst: a viewer that takes no coding fetches the identity
// copy (the origin is asked for no coding), and the codings are made
// from it.
func TestIdentityFirst(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	if rec := cget(s, "/pre.js", "Accept-Encoding", "deflate"); rec.Header().Get("Content-Encoding") != "" || !bytes.Equal(rec.Body.Bytes(), jsBody) {
		t.Fatalf("identity: Content-Encoding %q", rec.Header().Get("Content-Encoding"))
	}
	rec := cget(s, "/pre.js", "Accept-Encoding", "br")
	if rec.Header().Get("Content-Encoding") != "br" || rec.Header().Get("X-Cache") != "Hit from tern" || !bytes.Equal(decode(t, rec), jsBody) {
		t.Errorf("br: Content-Encoding %q, X-Cache %q", rec.Header().Get("Content-Encoding"), rec.Header().Get("X-Cache"))
	}
	if got := o.asked("/pre.js"); len(got) != 1 || got[0] != "" {
		t.Errorf("origin asked with Accept-Encoding %q, want none", got)
	}
}

// TestPurgeRemovesEveryCoding: an invalidation of the path removes the
// identity copy and every compressed one.
func TestPurgeRemovesEveryCoding(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	for _, enc := range []string{"br", "gzip", "zstd", ""} {
		cget(s, "/app.js", "Accept-Encoding", enc)
	}
	if n := s.store.Len(); n != 4 {
		t.Fatalf("%d objects stored, want 4 (identity, br, gzip, zstd)", n)
	}
	// The memory tier weighs each copy at its own size: the identity copy
	// and three compressed ones (each under half of it).
	if b := s.store.Bytes(); b < int64(len(jsBody)) || b > int64(len(jsBody))*5/2 {
		t.Errorf("memory tier holds %d bytes for a %d-byte object and its codings", b, len(jsBody))
	}
	if n, err := s.Purge("c", "/app.js"); err != nil || n != 4 {
		t.Fatalf("purge removed %d (%v), want 4", n, err)
	}
	for _, enc := range []string{"gzip", "br"} {
		if rec := cget(s, "/app.js", "Accept-Encoding", enc); !bytes.Equal(decode(t, rec), jsBody) {
			t.Fatalf("%s after the purge: body differs", enc)
		}
	}
	if n := o.count("/app.js"); n != 2 {
		t.Errorf("origin asked %d times, want 2 (once before the purge, once after)", n)
	}
}

// TestCompressRevalidatesIdentity: once stale, the identity copy is
// revalidated with its own validators, and a 304 refreshes it and makes
// the compressed copy again without the body crossing the network.
func TestCompressRevalidatesIdentity(t *testing.T) {
	o := newCompressOrigin(t)
	o.maxAge.Store(1)
	s := newCompressServer(t, o.URL)
	cget(s, "/app.js", "Accept-Encoding", "gzip")
	time.Sleep(1100 * time.Millisecond)
	rec := cget(s, "/app.js", "Accept-Encoding", "gzip")
	if rec.Header().Get("X-Cache") != "RefreshHit from tern" || rec.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("after expiry: X-Cache %q, Content-Encoding %q", rec.Header().Get("X-Cache"), rec.Header().Get("Content-Encoding"))
	}
	if !bytes.Equal(decode(t, rec), jsBody) {
		t.Error("body differs after revalidation")
	}
	if got := o.asked("/app.js"); len(got) != 2 {
		t.Fatalf("origin asked %d times, want 2", len(got))
	}
	rec = cget(s, "/app.js", "Accept-Encoding", "gzip")
	if rec.Header().Get("X-Cache") != "Hit from tern" {
		t.Errorf("after the refresh: X-Cache %q", rec.Header().Get("X-Cache"))
	}
}

// TestCompressNoCache: a response to validate on every use is
// revalidated through its identity copy's ETag (not the weak one of the
// compressed copy), and served compressed each time.
func TestCompressNoCache(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	for i := range 3 {
		rec := cget(s, "/nocache.js", "Accept-Encoding", "br")
		if rec.Header().Get("Content-Encoding") != "br" || !bytes.Equal(decode(t, rec), jsBody) {
			t.Fatalf("request %d: Content-Encoding %q", i, rec.Header().Get("Content-Encoding"))
		}
		if want := []string{"Miss from tern", "RefreshHit from tern"}[min(i, 1)]; rec.Header().Get("X-Cache") != want {
			t.Errorf("request %d: X-Cache %q, want %q", i, rec.Header().Get("X-Cache"), want)
		}
	}
	o.mu.Lock()
	got := fmt.Sprint(o.conditional["/nocache.js"])
	o.mu.Unlock()
	if want := fmt.Sprint([]string{"", `"v1"`, `"v1"`}); got != want {
		t.Errorf("If-None-Match sent %s, want %s", got, want)
	}
}

// TestCompressStaleWhileRevalidate: a stale compressed copy within
// stale-while-revalidate is served at once, and refreshed behind it
// through the identity copy.
func TestCompressStaleWhileRevalidate(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	cget(s, "/swr.js", "Accept-Encoding", "zstd")
	time.Sleep(1100 * time.Millisecond)
	rec := cget(s, "/swr.js", "Accept-Encoding", "zstd")
	if rec.Header().Get("X-Cache") != "Hit from tern" || rec.Header().Get("Content-Encoding") != "zstd" || !bytes.Equal(decode(t, rec), jsBody) {
		t.Errorf("stale: X-Cache %q, Content-Encoding %q", rec.Header().Get("X-Cache"), rec.Header().Get("Content-Encoding"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for o.count("/swr.js") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	o.mu.Lock()
	got := fmt.Sprint(o.conditional["/swr.js"])
	o.mu.Unlock()
	if want := fmt.Sprint([]string{"", `"v1"`}); got != want {
		t.Errorf("If-None-Match sent %s, want %s (the background refresh of the identity copy)", got, want)
	}
}

// TestCompressCollapsed: viewers that ask for one coding at once cause one
// origin request and get the same compressed copy.
func TestCompressCollapsed(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	var wg sync.WaitGroup
	var bad atomic.Int32
	for range 8 {
		wg.Go(func() {
			rec := cget(s, "/app.js", "Accept-Encoding", "br")
			if rec.Header().Get("Content-Encoding") != "br" || !bytes.Equal(decodeBr(rec.Body.Bytes()), jsBody) {
				bad.Add(1)
			}
		})
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Errorf("%d viewers got no br copy", bad.Load())
	}
	if n := o.count("/app.js"); n != 1 {
		t.Errorf("origin asked %d times, want 1", n)
	}
}

// TestCompressVariants: a response that varies on another field than
// Accept-Encoding is compressed per variant.
func TestCompressVariants(t *testing.T) {
	o := newCompressOrigin(t)
	s := newCompressServer(t, o.URL)
	for range 2 {
		for _, origin := range []string{"https://a.test", "https://b.test"} {
			for _, enc := range []string{"br", "gzip", ""} {
				rec := cget(s, "/vary.js", "Accept-Encoding", enc, "Origin", origin)
				want := append([]byte("// for "+origin+"\n"), jsBody...)
				if rec.Header().Get("Content-Encoding") != enc || !bytes.Equal(decode(t, rec), want) {
					t.Fatalf("%s %q: Content-Encoding %q, or the body of another variant", origin, enc, rec.Header().Get("Content-Encoding"))
				}
			}
		}
	}
	if n := o.count("/vary.js"); n != 2 {
		t.Errorf("origin asked %d times, want once per Origin", n)
	}
}

// TestCompressFromDisk: an identity copy too large for the memory tier
// streams into the disk tier, and to the viewer compressed as it streams;
// the next viewer gets it compressed from the disk copy, and a purge
// removes both.
func TestCompressFromDisk(t *testing.T) {
	o := newCompressOrigin(t)
	c := compressConfig(t, o.URL, ", cache: {memory: 64MiB, max_object_size: 1MiB}")
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
	large := bytes.Repeat(jsBody, 32)

	first := cget(s, "/large.js", "Accept-Encoding", "br")
	if first.Header().Get("Content-Encoding") != "br" || !bytes.Equal(decode(t, first), large) {
		t.Fatalf("first: Content-Encoding %q, %d bytes", first.Header().Get("Content-Encoding"), first.Body.Len())
	}
	for _, enc := range []string{"br", "zstd", "br"} {
		rec := cget(s, "/large.js", "Accept-Encoding", enc)
		if rec.Header().Get("Content-Encoding") != enc || !bytes.Equal(decode(t, rec), large) {
			t.Fatalf("%s: Content-Encoding %q", enc, rec.Header().Get("Content-Encoding"))
		}
		if rec.Header().Get("X-Cache") != "Hit from tern" {
			t.Errorf("%s: X-Cache %q", enc, rec.Header().Get("X-Cache"))
		}
	}
	if n := o.count("/large.js"); n != 1 {
		t.Errorf("origin asked %d times, want 1", n)
	}
	s.Purge("c", "/large.js")
	if rec := cget(s, "/large.js", "Accept-Encoding", "zstd"); rec.Header().Get("X-Cache") != "Miss from tern" {
		t.Errorf("after the purge: X-Cache %q", rec.Header().Get("X-Cache"))
	}
	if n := o.count("/large.js"); n != 2 {
		t.Errorf("origin asked %d times, want 2", n)
	}
}

func decodeBr(b []byte) []byte {
	out, _ := io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
	return out
}

// BenchmarkCompress compresses 64 KiB of JavaScript with each coding at a
// few levels: what a miss (or the first request for a coding) pays.
func BenchmarkCompress(b *testing.B) {
	for _, c := range []struct {
		name string
		enc  func([]byte) []byte
	}{
		{"gzip-1", gzipAt(1)}, {"gzip-5", gzipAt(5)}, {"gzip-6", gzipAt(6)}, {"gzip-9", gzipAt(9)},
		{"br-1", brAt(1)}, {"br-4", brAt(4)}, {"br-5", brAt(5)}, {"br-6", brAt(6)}, {"br-11", brAt(11)},
		{"zstd-fastest", zstdAt(zstd.SpeedFastest)}, {"zstd-default", zstdAt(zstd.SpeedDefault)}, {"zstd-better", zstdAt(zstd.SpeedBetterCompression)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(jsBody)))
			var n int
			for b.Loop() {
				n = len(c.enc(jsBody))
			}
			b.ReportMetric(float64(n)/float64(len(jsBody))*100, "%size")
		})
	}
}

func gzipAt(level int) func([]byte) []byte {
	w, _ := gzip.NewWriterLevel(io.Discard, level)
	return func(src []byte) []byte {
		var buf bytes.Buffer
		w.Reset(&buf)
		w.Write(src)
		w.Close()
		return buf.Bytes()
	}
}

func brAt(level int) func([]byte) []byte {
	w := brotli.NewWriterLevel(io.Discard, level)
	return func(src []byte) []byte {
		var buf bytes.Buffer
		w.Reset(&buf)
		w.Write(src)
		w.Close()
		return buf.Bytes()
	}
}

func zstdAt(level zstd.EncoderLevel) func([]byte) []byte {
	e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(level))
	return func(src []byte) []byte { return e.EncodeAll(src, nil) }
}

// BenchmarkServeHitCompressed is the hit path for a compressed copy.
func BenchmarkServeHitCompressed(b *testing.B) {
	o := newCompressOrigin(b)
	s := newCompressServer(b, o.URL)
	req := httptest.NewRequest("GET", "http://c.test/app.js", nil)
	req.RemoteAddr = "127.0.0.1:5000"
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	s.ServeHTTP(httptest.NewRecorder(), req)
	w := &discardWriter{h: make(http.Header, 16)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		s.ServeHTTP(w, req)
	}
	if w.h.Get("X-Cache") != "Hit from tern" || w.h.Get("Content-Encoding") != "br" {
		b.Fatalf("not a br hit: %q %q", w.h.Get("X-Cache"), w.h.Get("Content-Encoding"))
	}
}
