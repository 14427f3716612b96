package edge

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
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
	"github.com/terncdn/tern/storage/memory"
)

// dynOrigin is an origin of responses the edge does not cache (or cannot
// compress whole), for the tests of compression as a body streams.
type dynOrigin struct {
	*httptest.Server
	fetches atomic.Int64
	// gate, when set, is waited on by /lines.json between its lines and
	// by /swr.js before it answers a revalidation.
	gate     chan struct{}
	mu       sync.Mutex
	inm      []string // If-None-Match of each /swr.js request
	lastAE   string   // Accept-Encoding of the last request
	lastInm  string
	lastPath string
}

func newDynOrigin(t testing.TB) *dynOrigin {
	o := &dynOrigin{gate: make(chan struct{})}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.fetches.Add(1)
		o.mu.Lock()
		o.lastAE, o.lastInm, o.lastPath = r.Header.Get("Accept-Encoding"), r.Header.Get("If-None-Match"), r.URL.Path
		o.mu.Unlock()
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Type", "application/javascript")
		h.Set("ETag", `"v1"`)
		body := jsBody
		switch r.URL.Path {
		case "/private.js":
			h.Set("Cache-Control", "private, max-age=60")
		case "/small.js":
			body = jsBody[:999]
		case "/img.png":
			h.Set("Content-Type", "image/png")
		case "/nt.js":
			h.Set("Cache-Control", "no-store, no-transform")
		case "/error.js":
			h.Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusInternalServerError)
			w.Write(body)
			return
		case "/pre.js":
			h.Set("Content-Encoding", "gzip")
			body = gzipped(jsBody)
		case "/range.js":
			// An origin that answers ranges itself.
			http.ServeContent(w, r, "range.js", time.Time{}, bytes.NewReader(jsBody)) // honours If-None-Match (weak comparison)
			return
		case "/chunked.js":
			h.Set("Cache-Control", "max-age=3600")
			w.Write(jsBody[:4096])
			w.(http.Flusher).Flush()
			w.Write(jsBody[4096:])
			return
		case "/empty.json":
			// No Content-Length and no bytes: the length is unknown until
			// the end.
			h.Set("Content-Type", "application/json")
			w.(http.Flusher).Flush()
			return
		case "/lines.json":
			// A long poll answering line by line: each line is flushed,
			// then the origin waits before the next.
			h.Set("Content-Type", "application/json")
			h.Del("ETag")
			for i := range 3 {
				fmt.Fprintf(w, "{\"event\":%d,\"pad\":%q}\n", i, strings.Repeat("x", 100))
				w.(http.Flusher).Flush()
				if i < 2 {
					select {
					case <-o.gate:
					case <-r.Context().Done():
						return
					}
				}
			}
			return
		case "/swr.js":
			h.Set("Cache-Control", "max-age=1, stale-while-revalidate=60")
			o.mu.Lock()
			o.inm = append(o.inm, r.Header.Get("If-None-Match"))
			n := len(o.inm)
			o.mu.Unlock()
			if n > 1 {
				<-o.gate // the revalidation waits until the test lets it go
			}
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	t.Cleanup(func() {
		o.CloseClientConnections()
		o.Close()
	})
	return o
}

// dynConfig is compressConfig with the behavior's methods and cache policy
// TTLs given: "0" for all three makes caching disabled.
func dynServer(t testing.TB, originURL string, ttls string) *Server {
	t.Helper()
	u, _ := url.Parse(originURL)
	c, err := config.Parse([]byte(`
edge: {node_id: t1, pop: tst}
admin: {listen: "off"}
distributions:
  - id: c
    aliases: [c.test]
    origins: [{id: o, domain_name: `+u.Hostname()+`, http_port: `+u.Port()+`}]
    default_cache_behavior:
      target_origin_id: o
      compress: true
      allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
      cache_policy:
        min_ttl: 0
        default_ttl: `+ttls+`
        max_ttl: `+ttls+`
        enable_accept_encoding_gzip: true
        enable_accept_encoding_brotli: true
        enable_accept_encoding_zstd: true
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Config: c, Storage: memory.New(256<<20, 64<<20)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// checkStreamed checks a response compressed as it streamed: the coding,
// the origin's bytes, a weak ETag, Vary: Accept-Encoding, and no
// Content-Length or Accept-Ranges (neither is known for the coding).
func checkStreamed(t *testing.T, rec *httptest.ResponseRecorder, enc string) {
	t.Helper()
	h := rec.Header()
	if rec.Code != http.StatusOK || h.Get("Content-Encoding") != enc {
		t.Fatalf("status %d, Content-Encoding %q, want 200 %q", rec.Code, h.Get("Content-Encoding"), enc)
	}
	if got := decode(t, rec); !bytes.Equal(got, jsBody) {
		t.Errorf("decoded %d bytes, not the origin's %d", len(got), len(jsBody))
	}
	if h.Get("Etag") != `W/"v1"` {
		t.Errorf("ETag %q, want W/\"v1\"", h.Get("Etag"))
	}
	if !strings.Contains(strings.Join(h["Vary"], ","), "Accept-Encoding") {
		t.Errorf("Vary %q lacks Accept-Encoding", h["Vary"])
	}
	if cl, ar := h.Get("Content-Length"), h.Get("Accept-Ranges"); cl != "" || ar != "" {
		t.Errorf("Content-Length %q, Accept-Ranges %q: want neither", cl, ar)
	}
	if rec.Body.Len() >= len(jsBody)/2 {
		t.Errorf("%d bytes on the wire for %d: not compressed much", rec.Body.Len(), len(jsBody))
	}
}

// TestCompressNotStored: a response the edge may not store (no-store,
// private) is compressed for the viewer that fetched it and for the ones
// after it, which pass through (hit-for-pass); a viewer that takes no
// coding gets the origin's bytes.
func TestCompressNotStored(t *testing.T) {
	o := newDynOrigin(t)
	s := dynServer(t, o.URL, "86400")
	for _, path := range []string{"/nostore.js", "/private.js"} {
		for i, enc := range []string{"br", "gzip", "zstd"} {
			rec := cget(s, path, "Accept-Encoding", enc)
			checkStreamed(t, rec, enc)
			if rec.Header().Get("X-Cache") != "Miss from tern" {
				t.Errorf("%s request %d: X-Cache %q", path, i, rec.Header().Get("X-Cache"))
			}
		}
		rec := cget(s, path)
		if rec.Header().Get("Content-Encoding") != "" || !bytes.Equal(rec.Body.Bytes(), jsBody) || rec.Header().Get("Etag") != `"v1"` {
			t.Errorf("%s identity: Content-Encoding %q, ETag %q, %d bytes", path, rec.Header().Get("Content-Encoding"), rec.Header().Get("Etag"), rec.Body.Len())
		}
	}
	if n := o.fetches.Load(); n != 8 {
		t.Errorf("origin asked %d times, want 8 (nothing is cached)", n)
	}
}

// TestCompressCachingDisabled: a behavior whose cache policy disables
// caching passes every request through, and compresses what comes back,
// for GET and for POST.
func TestCompressCachingDisabled(t *testing.T) {
	o := newDynOrigin(t)
	s := dynServer(t, o.URL, "0")
	checkStreamed(t, cget(s, "/api.js", "Accept-Encoding", "gzip, br"), "br")
	o.mu.Lock()
	ae := o.lastAE
	o.mu.Unlock()
	if ae != "br" {
		t.Errorf("origin asked with Accept-Encoding %q, want the chosen coding br", ae)
	}
	checkStreamed(t, serve(s, "POST", "c.test", "/api.js", "Accept-Encoding", "gzip"), "gzip")
	head := serve(s, "HEAD", "c.test", "/api.js", "Accept-Encoding", "gzip")
	if head.Header().Get("Content-Encoding") != "gzip" || head.Header().Get("Content-Length") != "" || head.Body.Len() != 0 {
		t.Errorf("HEAD: Content-Encoding %q, Content-Length %q, %d bytes", head.Header().Get("Content-Encoding"), head.Header().Get("Content-Length"), head.Body.Len())
	}
}

// TestCompressStreamOnlyWhatQualifies: the conditions of cached
// compression hold for streamed responses: too small, not a listed type,
// no-transform, encoded by the origin, or a status other than 200, 403 and
// 404 go out as the origin sent them.
func TestCompressStreamOnlyWhatQualifies(t *testing.T) {
	o := newDynOrigin(t)
	for _, ttls := range []string{"0", "86400"} {
		s := dynServer(t, o.URL, ttls)
		for _, path := range []string{"/small.js", "/img.png", "/nt.js", "/error.js"} {
			rec := cget(s, path, "Accept-Encoding", "gzip")
			if rec.Header().Get("Content-Encoding") != "" || rec.Header().Get("Etag") != `"v1"` {
				t.Errorf("ttl %s %s: Content-Encoding %q, ETag %q", ttls, path, rec.Header().Get("Content-Encoding"), rec.Header().Get("Etag"))
			}
		}
		rec := cget(s, "/pre.js", "Accept-Encoding", "gzip")
		if rec.Header().Get("Content-Encoding") != "gzip" || !bytes.Equal(rec.Body.Bytes(), gzipped(jsBody)) {
			t.Errorf("ttl %s: origin's gzip not passed as it is (Content-Encoding %q)", ttls, rec.Header().Get("Content-Encoding"))
		}
	}
}

// TestCompressStreamRange: a viewer's Range request on a response passed
// through is not compressed: the origin's 206 goes out as it came.
func TestCompressStreamRange(t *testing.T) {
	o := newDynOrigin(t)
	s := dynServer(t, o.URL, "0")
	rec := cget(s, "/range.js", "Accept-Encoding", "gzip", "Range", "bytes=100-199")
	if rec.Code != http.StatusPartialContent || rec.Header().Get("Content-Encoding") != "" || !bytes.Equal(rec.Body.Bytes(), jsBody[100:200]) {
		t.Errorf("status %d, Content-Encoding %q, %d bytes: want the origin's 206 of 100 bytes", rec.Code, rec.Header().Get("Content-Encoding"), rec.Body.Len())
	}
	if cr := rec.Header().Get("Content-Range"); cr != fmt.Sprintf("bytes 100-199/%d", len(jsBody)) {
		t.Errorf("Content-Range %q", cr)
	}
	// The same URL without Range is compressed.
	rec = cget(s, "/range.js", "Accept-Encoding", "gzip")
	if rec.Header().Get("Content-Encoding") != "gzip" || !bytes.Equal(decode(t, rec), jsBody) {
		t.Errorf("whole: Content-Encoding %q", rec.Header().Get("Content-Encoding"))
	}
}

// TestCompressStreamNotModified: a viewer that holds the compressed
// response (its weak ETag) gets 304 from the edge.
func TestCompressStreamNotModified(t *testing.T) {
	o := newDynOrigin(t)
	s := dynServer(t, o.URL, "86400")
	rec := cget(s, "/nostore.js", "Accept-Encoding", "gzip", "If-None-Match", `W/"v1"`)
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 || rec.Header().Get("Etag") != `W/"v1"` {
		t.Errorf("status %d, ETag %q, %d bytes: want 304 with W/\"v1\"", rec.Code, rec.Header().Get("Etag"), rec.Body.Len())
	}
}

// TestCompressUnknownLengthStreamed: a response without Content-Length is
// compressed as it streams the first time, and its identity copy cached,
// so the next request is a compressed hit.
func TestCompressUnknownLengthStreamed(t *testing.T) {
	o := newDynOrigin(t)
	s := dynServer(t, o.URL, "86400")
	first := cget(s, "/chunked.js", "Accept-Encoding", "gzip")
	checkStreamed(t, first, "gzip")
	second := cget(s, "/chunked.js", "Accept-Encoding", "gzip")
	if second.Header().Get("X-Cache") != "Hit from tern" || second.Header().Get("Content-Encoding") != "gzip" || !bytes.Equal(decode(t, second), jsBody) {
		t.Errorf("second: X-Cache %q, Content-Encoding %q", second.Header().Get("X-Cache"), second.Header().Get("Content-Encoding"))
	}
	if n := o.fetches.Load(); n != 1 {
		t.Errorf("origin asked %d times, want 1", n)
	}
}

// TestCompressStreamEmpty: a body of unknown length that turns out empty
// goes out as a valid empty stream of the coding, which viewers decode.
func TestCompressStreamEmpty(t *testing.T) {
	o := newDynOrigin(t)
	s := dynServer(t, o.URL, "0")
	for _, enc := range []string{"gzip", "br", "zstd"} {
		rec := cget(s, "/empty.json", "Accept-Encoding", enc)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != enc {
			t.Fatalf("%s: status %d, Content-Encoding %q", enc, rec.Code, rec.Header().Get("Content-Encoding"))
		}
		if got := decode(t, rec); len(got) != 0 {
			t.Errorf("%s: decoded %q, want nothing", enc, got)
		}
	}
}

// TestCompressStreamFlushes: a compressed response reaches the viewer as
// the origin sends it: the first line decodes while the origin still
// holds the second (a long poll, a stream of JSON lines). Over real
// connections, for each coding.
func TestCompressStreamFlushes(t *testing.T) {
	for _, enc := range []string{"gzip", "br", "zstd"} {
		t.Run(enc, func(t *testing.T) {
			o := newDynOrigin(t)
			s := dynServer(t, o.URL, "0")
			front := httptest.NewServer(s)
			t.Cleanup(front.Close)
			req, _ := http.NewRequest("GET", front.URL+"/lines.json", nil)
			req.Host = "c.test"
			req.Header.Set("Accept-Encoding", enc)
			client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.Header.Get("Content-Encoding") != enc {
				t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
			}
			var zr io.Reader
			switch enc {
			case "gzip":
				g, err := gzip.NewReader(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				zr = g
			case "br":
				zr = brotli.NewReader(resp.Body)
			case "zstd":
				d, err := zstd.NewReader(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				zr = d
			}
			lines := bufio.NewReader(zr)
			for i := range 3 {
				got := make(chan string, 1)
				go func() {
					l, _ := lines.ReadString('\n')
					got <- l
				}()
				select {
				case l := <-got:
					if !strings.HasPrefix(l, fmt.Sprintf("{\"event\":%d,", i)) {
						t.Fatalf("line %d: %q", i, l)
					}
				case <-time.After(3 * time.Second):
					t.Fatalf("line %d did not arrive while the origin held the next one", i)
				}
				if i < 2 {
					o.gate <- struct{}{}
				}
			}
		})
	}
}

// TestCompressStaleIdentity: a request for a coding whose only copy is the
// identity one, stale within stale-while-revalidate, is answered at once
// from that copy, compressed, while the origin revalidates it behind the
// response; the revalidation refreshes both copies.
func TestCompressStaleIdentity(t *testing.T) {
	o := newDynOrigin(t)
	s := dynServer(t, o.URL, "86400")
	if rec := cget(s, "/swr.js"); rec.Header().Get("Content-Encoding") != "" {
		t.Fatalf("identity request: Content-Encoding %q", rec.Header().Get("Content-Encoding"))
	}
	time.Sleep(1100 * time.Millisecond)
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- cget(s, "/swr.js", "Accept-Encoding", "zstd") }()
	var rec *httptest.ResponseRecorder
	select {
	case rec = <-done:
	case <-time.After(3 * time.Second):
		close(o.gate)
		<-done
		t.Fatal("the viewer waited for the revalidation of the identity copy")
	}
	if rec.Header().Get("X-Cache") != "Hit from tern" || rec.Header().Get("Content-Encoding") != "zstd" || !bytes.Equal(decode(t, rec), jsBody) {
		t.Errorf("stale: X-Cache %q, Content-Encoding %q", rec.Header().Get("X-Cache"), rec.Header().Get("Content-Encoding"))
	}
	// While the refresh is held, the next viewers hit the compressed stale
	// copy the first one stored.
	for range 3 {
		if rec := cget(s, "/swr.js", "Accept-Encoding", "zstd"); rec.Header().Get("X-Cache") != "Hit from tern" || rec.Header().Get("Content-Encoding") != "zstd" {
			t.Errorf("during the refresh: X-Cache %q, Content-Encoding %q", rec.Header().Get("X-Cache"), rec.Header().Get("Content-Encoding"))
		}
	}
	close(o.gate)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if rec := cget(s, "/swr.js", "Accept-Encoding", "zstd"); rec.Header().Get("Age") == "0" && rec.Header().Get("Content-Encoding") == "zstd" {
			break // refreshed
		}
		if time.Now().After(deadline) {
			t.Fatal("the compressed copy was not refreshed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	o.mu.Lock()
	got := fmt.Sprint(o.inm)
	o.mu.Unlock()
	if want := fmt.Sprint([]string{"", `"v1"`}); got != want {
		t.Errorf("If-None-Match sent %s, want %s (one background revalidation of the identity copy)", got, want)
	}
}

// BenchmarkServePass is the pass path (caching disabled) of a 64 KiB
// JavaScript body, with and without a viewer that takes gzip.
func BenchmarkServePass(b *testing.B) {
	o := newDynOrigin(b)
	s := dynServer(b, o.URL, "0")
	for _, ae := range []string{"", "gzip", "br", "zstd"} {
		name := ae
		if name == "" {
			name = "identity"
		}
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "http://c.test/api.js", nil)
			req.RemoteAddr = "127.0.0.1:5000"
			if ae != "" {
				req.Header.Set("Accept-Encoding", ae)
			}
			w := &discardWriter{h: make(http.Header, 16)}
			b.SetBytes(int64(len(jsBody)))
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				s.ServeHTTP(w, req)
			}
			if w.h.Get("Content-Encoding") != ae {
				b.Fatalf("Content-Encoding %q, want %q", w.h.Get("Content-Encoding"), ae)
			}
		})
	}
}

// BenchmarkCompressStream is the encoders' cost on a stream: 64 KiB of
// JavaScript written in chunks, each flushed, at a few levels per coding.
// MB/s is per core (one goroutine); %size is what the stream weighs.
func BenchmarkCompressStream(b *testing.B) {
	type enc struct {
		name string
		make func() streamEncoder
	}
	encs := []enc{
		{"gzip-1", func() streamEncoder { w, _ := gzip.NewWriterLevel(io.Discard, 1); return w }},
		{"gzip-6", func() streamEncoder { w, _ := gzip.NewWriterLevel(io.Discard, 6); return w }},
		{"br-1", func() streamEncoder {
			return brotli.NewWriterOptions(io.Discard, brotli.WriterOptions{Quality: 1, LGWin: brotliStreamWindow})
		}},
		{"br-3", func() streamEncoder {
			return brotli.NewWriterOptions(io.Discard, brotli.WriterOptions{Quality: 3, LGWin: brotliStreamWindow})
		}},
		{"br-5", func() streamEncoder {
			return brotli.NewWriterOptions(io.Discard, brotli.WriterOptions{Quality: 5, LGWin: brotliStreamWindow})
		}},
		{"zstd-fastest", func() streamEncoder {
			w, _ := zstd.NewWriter(io.Discard, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdStreamWindow), zstd.WithLowerEncoderMem(true))
			return w
		}},
		{"zstd-default", func() streamEncoder {
			w, _ := zstd.NewWriter(io.Discard, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdStreamWindow), zstd.WithLowerEncoderMem(true))
			return w
		}},
	}
	for _, chunk := range []int{4 << 10, 32 << 10} {
		for _, e := range encs {
			b.Run(fmt.Sprintf("%s/chunk-%dk", e.name, chunk>>10), func(b *testing.B) {
				z := e.make()
				var out byteCounter
				b.SetBytes(int64(len(jsBody)))
				for b.Loop() {
					out = 0
					z.Reset(&out)
					for p := jsBody; len(p) > 0; {
						n := min(chunk, len(p))
						z.Write(p[:n])
						z.Flush()
						p = p[n:]
					}
					z.Close()
				}
				b.ReportMetric(float64(out)/float64(len(jsBody))*100, "%size")
			})
		}
	}
}

// BenchmarkStreamEncoderNew is what an encoder costs to make, which the
// pools save per response: allocations and bytes.
func BenchmarkStreamEncoderNew(b *testing.B) {
	for _, enc := range []string{"gzip", "br", "zstd"} {
		b.Run(enc, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				z := streamEncoders[enc].New().(streamEncoder)
				z.Reset(io.Discard)
				z.Write(jsBody[:4096]) // encoders allocate their window on first use
				z.Close()
			}
		})
	}
}

type byteCounter int

func (c *byteCounter) Write(p []byte) (int, error) { *c += byteCounter(len(p)); return len(p), nil }

// BenchmarkCompressBytes is compressBytes, the cached copies' encoder, as
// the edge calls it (pooled gzip and Brotli writers, zstd's EncodeAll):
// what one compressed copy allocates beyond its own bytes.
func BenchmarkCompressBytes(b *testing.B) {
	for _, enc := range []string{"gzip", "br", "zstd"} {
		b.Run(enc, func(b *testing.B) {
			b.SetBytes(int64(len(jsBody)))
			b.ReportAllocs()
			for b.Loop() {
				compressBytes(enc, jsBody)
			}
		})
	}
}

// TestCompressPassNotModified: a viewer revalidating the compressed
// response it holds (W/"v1") through a pass gets the origin's 304 with the
// ETag it holds, not the origin's strong one: a 304 whose validator
// matches no stored response updates nothing (RFC 9111 §4.3.4).
func TestCompressPassNotModified(t *testing.T) {
	o := newDynOrigin(t)
	s := dynServer(t, o.URL, "0")
	first := cget(s, "/range.js", "Accept-Encoding", "gzip")
	if first.Header().Get("Etag") != `W/"v1"` {
		t.Fatalf("first: ETag %q", first.Header().Get("Etag"))
	}
	rec := cget(s, "/range.js", "Accept-Encoding", "gzip", "If-None-Match", `W/"v1"`)
	if rec.Code != http.StatusNotModified || rec.Header().Get("Etag") != `W/"v1"` {
		t.Errorf("revalidation: status %d, ETag %q, want 304 with W/\"v1\"", rec.Code, rec.Header().Get("Etag"))
	}
	// A viewer that holds the identity response keeps its strong ETag.
	rec = cget(s, "/range.js", "If-None-Match", `"v1"`)
	if rec.Code != http.StatusNotModified || rec.Header().Get("Etag") != `"v1"` {
		t.Errorf("identity revalidation: status %d, ETag %q, want 304 with \"v1\"", rec.Code, rec.Header().Get("Etag"))
	}
}

// TestCompressedStreamsBounded: with as many compressed streams open as
// the bound allows, the next response goes out uncompressed (and intact),
// and once one closes, responses are compressed again.
func TestCompressedStreamsBounded(t *testing.T) {
	o := newDynOrigin(t)
	s := dynServer(t, o.URL, "86400")
	old := maxCompressedStreams
	maxCompressedStreams = 1
	t.Cleanup(func() { maxCompressedStreams = old })

	compressedStreams.Add(1) // one stream held open
	rec := cget(s, "/nostore.js", "Accept-Encoding", "gzip")
	compressedStreams.Add(-1)
	if rec.Header().Get("Content-Encoding") != "" || !bytes.Equal(rec.Body.Bytes(), jsBody) {
		t.Errorf("past the bound: Content-Encoding %q, %d bytes; want identity, the origin's %d bytes",
			rec.Header().Get("Content-Encoding"), rec.Body.Len(), len(jsBody))
	}
	checkStreamed(t, cget(s, "/nostore.js", "Accept-Encoding", "gzip"), "gzip")
	if n := compressedStreams.Load(); n != 0 {
		t.Errorf("%d compressed streams counted after every response ended", n)
	}
}
