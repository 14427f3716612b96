package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source for the handler under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var t0 = time.Date(2026, 11, 25, 19, 10, 33, 0, time.UTC)

func newTestHandler() (http.Handler, *clock) {
	c := &clock{t: t0}
	return newHandler(c.now), c
}

func do(t *testing.T, h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestRoutesHeaders(t *testing.T) {
	h, _ := newTestHandler()
	tests := []struct {
		path, status, cacheControl, contentType string
	}{
		{"/", "200", ccSite, "text/html; charset=utf-8"},
		{"/index.html", "200", ccSite, "text/html; charset=utf-8"},
		{"/style.css", "200", ccSite, "text/css; charset=utf-8"},
		{"/app.js", "200", ccSite, "text/javascript; charset=utf-8"},
		{"/logo.svg", "200", ccSite, "image/svg+xml"},
		{"/api/time", "200", "public, max-age=5, stale-while-revalidate=10", "application/json"},
		{"/api/minute", "200", ccMinute, "application/json"},
		{"/api/echo?x=1", "200", ccShortAPI, "application/json"},
		{"/api/slow?ms=0", "200", ccShortAPI, "application/json"},
		{"/api/nocache", "200", "no-store", "application/json"},
		{"/download/big.bin", "200", "public, max-age=86400", "application/octet-stream"},
		{"/download/1MiB.bin", "200", "public, max-age=86400", "application/octet-stream"},
		{"/health", "200", "no-store", "text/plain; charset=utf-8"},
		{"/nope", "404", "max-age=10", "text/html; charset=utf-8"},
		{"/api/time/extra", "404", "max-age=10", "text/html; charset=utf-8"},
		{"/download/0MiB.bin", "404", "max-age=10", "text/html; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			for _, method := range []string{"GET", "HEAD"} {
				rec := do(t, h, method, tt.path)
				if got := strconv.Itoa(rec.Code); got != tt.status {
					t.Errorf("%s: status %s, want %s", method, got, tt.status)
				}
				if got := rec.Header().Get("Cache-Control"); got != tt.cacheControl {
					t.Errorf("%s: Cache-Control %q, want %q", method, got, tt.cacheControl)
				}
				if got := rec.Header().Get("Content-Type"); got != tt.contentType {
					t.Errorf("%s: Content-Type %q, want %q", method, got, tt.contentType)
				}
				if got := rec.Header().Get(HeaderOriginTime); got != "2026-11-25T19:10:33.000Z" {
					t.Errorf("%s: %s = %q", method, HeaderOriginTime, got)
				}
				if method == "HEAD" && rec.Body.Len() != 0 {
					t.Errorf("HEAD sent a body of %d bytes", rec.Body.Len())
				}
				if method == "GET" && rec.Body.Len() == 0 {
					t.Errorf("GET sent no body")
				}
				if cl := rec.Header().Get("Content-Length"); method == "GET" && cl != "" && cl != strconv.Itoa(rec.Body.Len()) && !strings.HasPrefix(tt.path, "/download/") {
					t.Errorf("Content-Length %s, body %d", cl, rec.Body.Len())
				}
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h, _ := newTestHandler()
	for _, method := range []string{"POST", "PUT", "DELETE"} {
		rec := do(t, h, method, "/")
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /: %d Allow=%q", method, rec.Code, rec.Header().Get("Allow"))
		}
		if rec.Header().Get(HeaderOriginTime) == "" {
			t.Errorf("%s: no %s", method, HeaderOriginTime)
		}
	}
}

func TestIndexShowsOriginTimeAndValidates(t *testing.T) {
	h, c := newTestHandler()
	rec := do(t, h, "GET", "/")
	body := rec.Body.String()
	for _, want := range []string{`datetime="2026-11-25T19:10:33Z"`, "2026-11-25 19:10:33 UTC", "curl -sI", "/api/time", "X-Cache"} {
		if !strings.Contains(body, want) {
			t.Errorf("index lacks %q", want)
		}
	}
	if got := rec.Header().Get("Last-Modified"); got != "Wed, 25 Nov 2026 19:10:33 GMT" {
		t.Errorf("Last-Modified %q", got)
	}
	etag := rec.Header().Get("ETag")
	if !strings.HasPrefix(etag, `"`) {
		t.Fatalf("ETag %q is not strong", etag)
	}
	if rec := do(t, h, "GET", "/", "If-None-Match", etag); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("If-None-Match current ETag: %d with %d bytes", rec.Code, rec.Body.Len())
	}
	if rec := do(t, h, "GET", "/", "If-Modified-Since", "Wed, 25 Nov 2026 19:10:33 GMT"); rec.Code != http.StatusNotModified {
		t.Errorf("If-Modified-Since render time: %d", rec.Code)
	}

	c.add(time.Minute)
	rec = do(t, h, "GET", "/", "If-None-Match", etag)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "19:11:33") {
		t.Errorf("a minute later the old ETag must not validate: %d", rec.Code)
	}
	if rec.Header().Get("ETag") == etag {
		t.Error("ETag unchanged although the page changed")
	}
}

func TestStaticAssetValidationAndRanges(t *testing.T) {
	h, c := newTestHandler()
	first := do(t, h, "GET", "/style.css")
	etag, lm := first.Header().Get("ETag"), first.Header().Get("Last-Modified")
	if etag == "" || lm == "" {
		t.Fatalf("ETag %q Last-Modified %q", etag, lm)
	}
	c.add(time.Hour)
	again := do(t, h, "GET", "/style.css")
	if again.Header().Get("ETag") != etag || again.Header().Get("Last-Modified") != lm {
		t.Error("validators of an unchanged file changed")
	}
	if !bytes.Equal(again.Body.Bytes(), first.Body.Bytes()) {
		t.Error("body changed")
	}
	full := first.Body.Bytes()

	tests := []struct {
		name         string
		hdr          []string
		status       int
		body         []byte
		contentRange string
	}{
		{"if-none-match", []string{"If-None-Match", etag}, 304, nil, ""},
		{"if-none-match list", []string{"If-None-Match", `"other", ` + etag}, 304, nil, ""},
		{"if-none-match other", []string{"If-None-Match", `"other"`}, 200, full, ""},
		{"if-modified-since", []string{"If-Modified-Since", lm}, 304, nil, ""},
		{"range", []string{"Range", "bytes=0-9"}, 206, full[:10], fmt.Sprintf("bytes 0-9/%d", len(full))},
		{"suffix range", []string{"Range", "bytes=-5"}, 206, full[len(full)-5:], fmt.Sprintf("bytes %d-%d/%d", len(full)-5, len(full)-1, len(full))},
		{"if-range match", []string{"Range", "bytes=0-9", "If-Range", etag}, 206, full[:10], fmt.Sprintf("bytes 0-9/%d", len(full))},
		{"if-range stale", []string{"Range", "bytes=0-9", "If-Range", `"old"`}, 200, full, ""},
		{"unsatisfiable", []string{"Range", fmt.Sprintf("bytes=%d-", len(full)+10)}, 416, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, h, "GET", "/style.css", tt.hdr...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if tt.body != nil && !bytes.Equal(rec.Body.Bytes(), tt.body) {
				t.Errorf("body %q, want %q", rec.Body.Bytes(), tt.body)
			}
			if rec.Header().Get("Content-Range") != tt.contentRange && tt.contentRange != "" {
				t.Errorf("Content-Range %q, want %q", rec.Header().Get("Content-Range"), tt.contentRange)
			}
			if tt.status == 304 && rec.Header().Get("ETag") != etag {
				t.Errorf("304 without the ETag")
			}
		})
	}
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %q: %v", rec.Body.String(), err)
	}
	return v
}

func TestAPITime(t *testing.T) {
	h, c := newTestHandler()
	a := decode[timeAnswer](t, do(t, h, "GET", "/api/time"))
	if a.Time != "2026-11-25T19:10:33Z" || a.UnixMilli != t0.UnixMilli() || a.OriginRequests != 1 {
		t.Errorf("first answer %+v", a)
	}
	c.add(2 * time.Second)
	rec := do(t, h, "GET", "/api/time")
	b := decode[timeAnswer](t, rec)
	if b.Time != "2026-11-25T19:10:35Z" || b.OriginRequests != 2 {
		t.Errorf("second answer %+v", b)
	}
	if rec.Header().Get("Last-Modified") != "Wed, 25 Nov 2026 19:10:35 GMT" {
		t.Errorf("Last-Modified %q", rec.Header().Get("Last-Modified"))
	}
}

func TestAPIMinuteRevalidates(t *testing.T) {
	h, c := newTestHandler()
	first := do(t, h, "GET", "/api/minute")
	etag := first.Header().Get("ETag")
	if got := decode[minuteAnswer](t, first).Minute; got != "2026-11-25T19:10:00Z" {
		t.Errorf("minute %q", got)
	}
	c.add(20 * time.Second) // stale after 5s, but the same minute
	if rec := do(t, h, "GET", "/api/minute", "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("revalidation within the minute: %d, want 304", rec.Code)
	}
	c.add(time.Minute)
	rec := do(t, h, "GET", "/api/minute", "If-None-Match", etag)
	if rec.Code != http.StatusOK || decode[minuteAnswer](t, rec).Minute != "2026-11-25T19:11:00Z" {
		t.Errorf("revalidation in the next minute: %d %s", rec.Code, rec.Body)
	}
}

func TestAPIEcho(t *testing.T) {
	h, _ := newTestHandler()
	a := decode[echoAnswer](t, do(t, h, "GET", "/api/echo?x=a%20b&x=2&y="))
	if a.RawQuery != "x=a%20b&x=2&y=" || strings.Join(a.Query["x"], ",") != "a b,2" || len(a.Query["y"]) != 1 {
		t.Errorf("echo %+v", a)
	}
	if a.OriginRequests != 1 {
		t.Errorf("origin_requests %d", a.OriginRequests)
	}
}

func TestAPISlow(t *testing.T) {
	h, _ := newTestHandler()
	start := time.Now()
	rec := do(t, h, "GET", "/api/slow?ms=60")
	if took := time.Since(start); took < 60*time.Millisecond {
		t.Errorf("answered after %v, want at least 60ms", took)
	}
	if a := decode[slowAnswer](t, rec); a.WaitedMillis != 60 || a.OriginRequests != 1 {
		t.Errorf("answer %+v", a)
	}
	for _, q := range []string{"ms=-1", "ms=abc", "ms=10001", "ms=1.5"} {
		rec := do(t, h, "GET", "/api/slow?"+q)
		if rec.Code != http.StatusBadRequest || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %q", q, rec.Code, rec.Header().Get("Cache-Control"))
		}
	}
}

func TestAPISlowStopsWhenClientLeaves(t *testing.T) {
	h, _ := newTestHandler()
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("GET", "/api/slow?ms=10000", nil).WithContext(ctx)
	done := make(chan struct{})
	go func() { h.ServeHTTP(httptest.NewRecorder(), req); close(done) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("slow handler kept waiting after the request was cancelled")
	}
}

func TestAPINoCacheCountsEveryRequest(t *testing.T) {
	h, _ := newTestHandler()
	for want := uint64(1); want <= 3; want++ {
		if a := decode[noCacheAnswer](t, do(t, h, "GET", "/api/nocache")); a.OriginRequests != want {
			t.Errorf("origin_requests %d, want %d", a.OriginRequests, want)
		}
	}
}

func TestDownloads(t *testing.T) {
	h, _ := newTestHandler()
	sizes := map[string]int64{"big.bin": 64 * mib, "huge.bin": 10 << 30, "1MiB.bin": mib, "256MiB.bin": 256 * mib, "17MiB.bin": 17 * mib}
	for name, size := range sizes {
		rec := do(t, h, "HEAD", "/download/"+name)
		if rec.Code != 200 || rec.Header().Get("Content-Length") != strconv.FormatInt(size, 10) {
			t.Errorf("%s: %d Content-Length %s, want %d", name, rec.Code, rec.Header().Get("Content-Length"), size)
		}
		if rec.Header().Get("Accept-Ranges") != "bytes" {
			t.Errorf("%s: Accept-Ranges %q", name, rec.Header().Get("Accept-Ranges"))
		}
		if rec.Header().Get("Last-Modified") != "Thu, 01 Jan 2026 00:00:00 GMT" {
			t.Errorf("%s: Last-Modified %q", name, rec.Header().Get("Last-Modified"))
		}
	}
	for _, name := range []string{"0MiB.bin", "257MiB.bin", "01MiB.bin", "+1MiB.bin", "1mib.bin", "big.zip", "1MiB.bin.bak"} {
		if rec := do(t, h, "GET", "/download/"+name); rec.Code != 404 {
			t.Errorf("%s: %d, want 404", name, rec.Code)
		}
	}

	full := do(t, h, "GET", "/download/1MiB.bin")
	if full.Body.Len() != mib {
		t.Fatalf("1MiB.bin has %d bytes", full.Body.Len())
	}
	if again := do(t, h, "GET", "/download/1MiB.bin"); !bytes.Equal(again.Body.Bytes(), full.Body.Bytes()) {
		t.Fatal("download is not deterministic")
	}
	if bytes.Count(full.Body.Bytes()[:4096], []byte{0}) > 64 {
		t.Error("download bytes look constant, not generated")
	}
	big := do(t, h, "GET", "/download/2MiB.bin", "Range", "bytes=0-1048575")
	if !bytes.Equal(big.Body.Bytes(), full.Body.Bytes()) {
		t.Error("1MiB.bin is not the first MiB of 2MiB.bin")
	}

	etag := full.Header().Get("ETag")
	if etag != `"tern-demo-1048576-v1"` {
		t.Errorf("ETag %q", etag)
	}
	b := full.Body.Bytes()
	tests := []struct {
		rng          string
		from, to     int
		contentRange string
	}{
		{"bytes=0-15", 0, 16, "bytes 0-15/1048576"},
		{"bytes=1000003-1000020", 1000003, 1000021, "bytes 1000003-1000020/1048576"},
		{"bytes=-7", mib - 7, mib, "bytes 1048569-1048575/1048576"},
		{"bytes=1048570-", mib - 6, mib, "bytes 1048570-1048575/1048576"},
	}
	for _, tt := range tests {
		rec := do(t, h, "GET", "/download/1MiB.bin", "Range", tt.rng)
		if rec.Code != 206 || rec.Header().Get("Content-Range") != tt.contentRange {
			t.Errorf("%s: %d Content-Range %q", tt.rng, rec.Code, rec.Header().Get("Content-Range"))
		}
		if !bytes.Equal(rec.Body.Bytes(), b[tt.from:tt.to]) {
			t.Errorf("%s: range bytes differ from the full body", tt.rng)
		}
	}
	if rec := do(t, h, "GET", "/download/1MiB.bin", "If-None-Match", etag); rec.Code != 304 {
		t.Errorf("If-None-Match: %d", rec.Code)
	}
	rec := do(t, h, "GET", "/download/1MiB.bin", "Range", "bytes=0-1,10-11")
	if rec.Code != 206 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "multipart/byteranges") {
		t.Errorf("multi-range: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}

func TestPatternReadAtAnyOffset(t *testing.T) {
	var whole [64]byte
	pattern{}.ReadAt(whole[:], 0)
	for off := 0; off < 32; off++ {
		for n := 1; off+n <= len(whole); n += 7 {
			got := make([]byte, n)
			pattern{}.ReadAt(got, int64(off))
			if !bytes.Equal(got, whole[off:off+n]) {
				t.Fatalf("ReadAt(%d bytes, off %d) = %x, want %x", n, off, got, whole[off:off+n])
			}
		}
	}
}

func TestHealth(t *testing.T) {
	h, _ := newTestHandler()
	rec := do(t, h, "GET", "/health")
	if rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Errorf("health: %d %q", rec.Code, rec.Body.String())
	}
}

func TestNotFoundIsFriendlyAndEscaped(t *testing.T) {
	h, _ := newTestHandler()
	rec := do(t, h, "GET", "/%3Cscript%3Ealert(1)%3C/script%3E")
	body := rec.Body.String()
	if rec.Code != 404 || strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("404 page: %d %q", rec.Code, body)
	}
	if !strings.Contains(body, `href="/"`) {
		t.Error("404 page has no way back to the demo page")
	}
}

func TestServeListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- ServeListener(ctx, ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" || resp.Header.Get(HeaderOriginTime) == "" {
		t.Errorf("GET /health over the network: %d %q", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("ServeListener after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeListener did not return after ctx was cancelled")
	}
}

func TestServeBadAddress(t *testing.T) {
	err := Serve(context.Background(), "127.0.0.1:-1")
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("Serve on a bad address: %v", err)
	}
}

func BenchmarkDownload(b *testing.B) {
	h := NewHandler()
	req := httptest.NewRequest("GET", "/download/1MiB.bin", nil)
	b.SetBytes(mib)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(discardRecorder{httptest.NewRecorder()}, req)
	}
}

// discardRecorder drops the body, so the benchmark measures generation.
type discardRecorder struct{ *httptest.ResponseRecorder }

func (discardRecorder) Write(p []byte) (int, error) { return len(p), nil }
