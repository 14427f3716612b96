package edge

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// newServerWithRev is newTestServer plus one distribution "rev" for host
// rev.test whose body (indented 4 spaces, after origins) is given.
func newServerWithRev(t *testing.T, o *httptest.Server, body string) *Server {
	t.Helper()
	hp := strings.TrimPrefix(o.URL, "http://")
	host, port, _ := strings.Cut(hp, ":")
	extra := `  - id: rev
    aliases: [rev.test]
    origins: [{id: o, domain_name: ` + host + `, http_port: ` + port + `}]
` + body
	return newTestServer(t, o.URL, extra)
}

// TestAuthorizationNotForwardedStillCached: under
// Managed-CachingOptimized the viewer's Authorization is not forwarded to
// the origin (CloudFront strips it unless the cache policy names it), so
// the response cannot depend on it. One viewer sending it must not make
// the URL uncacheable for everyone.
func TestAuthorizationNotForwardedStillCached(t *testing.T) {
	var fetches atomic.Int64
	var sawAuth atomic.Bool
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if r.Header.Get("Authorization") != "" {
			sawAuth.Store(true)
		}
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "public asset")
	}))
	defer o.Close()
	s := newTestServer(t, o.URL, "")

	serve(s, "GET", "x.test", "/logo.png", "Authorization", "Bearer whatever")
	if sawAuth.Load() {
		t.Fatal("Authorization reached the origin; the test assumes it is not forwarded")
	}
	serve(s, "GET", "x.test", "/logo.png")
	before := fetches.Load()
	rec := serve(s, "GET", "x.test", "/logo.png")
	if rec.Header().Get("X-Cache") != "Hit from tern" || fetches.Load() != before {
		t.Errorf("after one viewer sent an (unforwarded) Authorization header, plain GETs still go to the origin: X-Cache %q, origin fetches %d (want a hit, 1 fetch)",
			rec.Header().Get("X-Cache"), fetches.Load())
	}
}

// TestRangeNotForwardedOnFill: with an origin request policy that
// forwards all viewer headers (Managed-AllViewer), a miss that starts with
// a Range request must still fetch (and cache) the whole object: the fill
// is shared by every viewer and is what gets stored.
func TestRangeNotForwardedOnFill(t *testing.T) {
	var fetches atomic.Int64
	var sawRange atomic.Bool
	content := strings.Repeat("0123456789", 100)
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if r.Header.Get("Range") != "" {
			sawRange.Store(true)
		}
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "v.bin", time.Time{}, strings.NewReader(content))
	}))
	defer o.Close()
	s := newServerWithRev(t, o, `    default_cache_behavior:
      target_origin_id: o
      origin_request_policy: Managed-AllViewer
`)

	rec := serve(s, "GET", "rev.test", "/video.mp4", "Range", "bytes=0-9")
	if rec.Code != http.StatusPartialContent || rec.Body.String() != "0123456789" {
		t.Fatalf("range miss: %d %q", rec.Code, rec.Body.String())
	}
	serve(s, "GET", "rev.test", "/video.mp4")
	rec = serve(s, "GET", "rev.test", "/video.mp4")
	if rec.Header().Get("X-Cache") != "Hit from tern" || fetches.Load() != 1 {
		t.Errorf("after a Range miss the object is not cached: X-Cache %q, origin fetches %d (want Hit, 1); origin saw Range: %v",
			rec.Header().Get("X-Cache"), fetches.Load(), sawRange.Load())
	}
}

// TestOptionsCached: a behavior with cached_methods [GET, HEAD,
// OPTIONS] caches OPTIONS responses (CloudFront: CORS preflights).
func TestOptionsCached(t *testing.T) {
	var fetches atomic.Int64
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			fetches.Add(1)
		}
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Methods", "GET, PUT")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer o.Close()
	s := newServerWithRev(t, o, `    default_cache_behavior:
      target_origin_id: o
      allowed_methods: [GET, HEAD, OPTIONS]
      cached_methods: [GET, HEAD, OPTIONS]
`)
	for i := 0; i < 3; i++ {
		rec := serve(s, "OPTIONS", "rev.test", "/api/x")
		if rec.Code != http.StatusNoContent {
			t.Fatalf("OPTIONS %d: status %d", i, rec.Code)
		}
	}
	if fetches.Load() != 1 {
		t.Errorf("3 OPTIONS requests with OPTIONS among cached_methods made %d origin requests, want 1", fetches.Load())
	}
}

// TestCustomErrorPageKeepsContentEncoding: the custom error page is
// fetched through the cache with the viewer's (normalised) Accept-Encoding,
// so it may come back compressed. The viewer must be told.
func TestCustomErrorPageKeepsContentEncoding(t *testing.T) {
	const page = "<h1>not here</h1>"
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/404.html" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "Accept-Encoding")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			io.WriteString(zw, page)
			zw.Close()
			return
		}
		io.WriteString(w, page)
	}))
	defer o.Close()
	s := newServerWithRev(t, o, `    default_cache_behavior: {target_origin_id: o}
    custom_error_responses:
      - {error_code: 404, response_page_path: /404.html, response_code: 404}
`)
	rec := serve(s, "GET", "rev.test", "/missing", "Accept-Encoding", "gzip")
	if rec.Code != 404 {
		t.Fatalf("status %d", rec.Code)
	}
	body := rec.Body.Bytes()
	gz := len(body) > 2 && body[0] == 0x1f && body[1] == 0x8b
	if gz && rec.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("custom error page body is gzip but Content-Encoding is %q: the viewer shows binary garbage", rec.Header().Get("Content-Encoding"))
	}
	if !gz && !bytes.Equal(body, []byte(page)) {
		t.Errorf("body %q", body)
	}
}

// TestUnsafeMethodInvalidatesFillInFlight: RFC 9111 §4.4. A GET miss
// is in flight when a PUT to the same URI succeeds. The PUT's invalidation
// finds nothing stored yet; then the GET's (pre-PUT) response lands and is
// stored, and every viewer reads the old content for its whole TTL after
// a successful write. Viewers arriving after the PUT must not be served
// the old fill either.
func TestUnsafeMethodInvalidatesFillInFlight(t *testing.T) {
	var version atomic.Value
	version.Store("v1")
	gate := make(chan struct{})
	var getStarted atomic.Int64
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			version.Store("v2")
			w.WriteHeader(http.StatusNoContent)
		default:
			v := version.Load().(string)
			if getStarted.Add(1) == 1 {
				<-gate // the first GET's answer is slow
			}
			w.Header().Set("Cache-Control", "public, max-age=600")
			io.WriteString(w, v)
		}
	}))
	defer o.Close()
	s := newServerWithRev(t, o, `    default_cache_behavior:
      target_origin_id: o
      allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
`)
	first := make(chan string, 1)
	go func() { first <- serve(s, "GET", "rev.test", "/doc").Body.String() }()
	for getStarted.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if rec := serve(s, "PUT", "rev.test", "/doc"); rec.Code != http.StatusNoContent {
		t.Fatalf("PUT: %d", rec.Code)
	}
	// A viewer reading after its write completed.
	after := make(chan string, 1)
	go func() { after <- serve(s, "GET", "rev.test", "/doc").Body.String() }()
	time.Sleep(100 * time.Millisecond)
	close(gate)
	<-first
	if got := <-after; got != "v2" {
		t.Errorf("GET issued after the PUT succeeded got %q (it joined the pre-PUT fill), want v2", got)
	}
	if got := serve(s, "GET", "rev.test", "/doc").Body.String(); got != "v2" {
		t.Errorf("GET after the PUT and the in-flight fill finished got %q from cache, want v2", got)
	}
}

// TestUnsafePreconditionsReachOrigin: a PUT with If-Match (optimistic
// concurrency, RFC 9110 §13.1.1) passes through the edge, which does not
// evaluate preconditions for unsafe methods. If the edge drops If-Match,
// the origin applies the write unconditionally: a lost update. Here the
// behavior even forwards every viewer header (Managed-AllViewer).
func TestUnsafePreconditionsReachOrigin(t *testing.T) {
	var got atomic.Value
	got.Store("")
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			got.Store(r.Header.Get("If-Match") + "|" + r.Header.Get("If-Unmodified-Since"))
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer o.Close()
	s := newServerWithRev(t, o, `    default_cache_behavior:
      target_origin_id: o
      allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
      origin_request_policy: Managed-AllViewer
`)
	serve(s, "PUT", "rev.test", "/doc", "If-Match", `"v1"`, "If-Unmodified-Since", "Wed, 21 Oct 2015 07:28:00 GMT")
	if g := got.Load().(string); g != `"v1"|Wed, 21 Oct 2015 07:28:00 GMT` {
		t.Errorf("origin saw If-Match|If-Unmodified-Since = %q on a PUT: the precondition was dropped, the write is unconditional", g)
	}
}

// TestAbandonedLargeFillStops: a body too large to retain is never
// stored; its fill exists only to feed the viewers attached to it. When the
// only viewer hangs up, the edge should stop pulling the body from the
// origin instead of downloading all of it for nobody (a client can make
// the edge pull any number of huge objects at one byte each).
func TestAbandonedLargeFillStops(t *testing.T) {
	const size = 32 << 20
	const step = 256 << 10
	var sent atomic.Int64
	done := make(chan struct{})
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Content-Length", "33554432")
		buf := make([]byte, step)
		for sent.Load() < size {
			if _, err := w.Write(buf); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			sent.Add(step)
			time.Sleep(10 * time.Millisecond)
		}
	}))
	defer o.Close()
	s := newTestServer(t, o.URL, "")
	s.fills.RetainLimit = 1 << 20 // as if max_object_size were 1 MiB
	s.fills.Window = 1 << 20
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()

	hangUpAfter1KiB(t, edgeSrv.URL+"/huge.iso")

	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("origin handler still running after 5s")
	}
	if n := sent.Load(); n >= size {
		t.Errorf("the viewer left after 1 KiB of an unretained %d MiB object, yet the edge pulled all %d MiB from the origin", size>>20, n>>20)
	}
}

// hangUpAfter1KiB starts a download and leaves after its first KiB, as a
// viewer who gives up does.
func hangUpAfter1KiB(t *testing.T, url string) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(resp.Body, make([]byte, 1024))
	resp.Body.Close()
}
