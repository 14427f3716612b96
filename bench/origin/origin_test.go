package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, uri string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, uri, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return b
}

func TestObject(t *testing.T) {
	s := newServer(1<<20, 0)
	tests := []struct {
		uri      string
		status   int
		wantSize int
	}{
		{"/obj/1k/1", http.StatusOK, 1024},
		{"/obj/64k/1", http.StatusOK, 64 << 10},
		{"/obj/1m/7", http.StatusOK, 1 << 20},
		{"/obj/100/x?delay=1ms", http.StatusOK, 100},
		{"/obj/2m/1", http.StatusNotFound, -1},           // above -max-size
		{"/obj/1q/1", http.StatusNotFound, -1},           // not a size
		{"/obj/1k/", http.StatusNotFound, -1},            // no name
		{"/obj/1k", http.StatusNotFound, -1},             // no name
		{"/elsewhere", http.StatusNotFound, -1},          // not an object
		{"/obj/-5/1", http.StatusNotFound, -1},           // negative
		{"/obj/99999999999m/1", http.StatusNotFound, -1}, // overflow
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			resp := get(t, s, tt.uri)
			b := body(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.wantSize < 0 {
				return
			}
			if len(b) != tt.wantSize {
				t.Errorf("body %d bytes, want %d", len(b), tt.wantSize)
			}
			if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(tt.wantSize) {
				t.Errorf("Content-Length %q, want %d", got, tt.wantSize)
			}
			if got := resp.Header.Get("Cache-Control"); got != "public, max-age=3600" {
				t.Errorf("Cache-Control %q", got)
			}
			if resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" {
				t.Errorf("missing validators: %v", resp.Header)
			}
			if b[len(b)-1] != '\n' {
				t.Errorf("body does not end in a newline")
			}
		})
	}
}

func TestObjectDeterministic(t *testing.T) {
	a, b := newServer(1<<20, 0), newServer(1<<20, 0)
	one := body(t, get(t, a, "/obj/64k/1"))
	again := body(t, get(t, b, "/obj/64k/1"))
	other := body(t, get(t, a, "/obj/64k/2"))
	if !bytes.Equal(one, again) {
		t.Error("the same object differs between two servers")
	}
	if bytes.Equal(one, other) {
		t.Error("objects 1 and 2 have the same bytes")
	}
	e1 := get(t, a, "/obj/64k/1").Header.Get("ETag")
	e2 := get(t, a, "/obj/64k/2").Header.Get("ETag")
	if e1 == e2 {
		t.Errorf("objects 1 and 2 share ETag %s", e1)
	}
}

func TestConditional(t *testing.T) {
	s := newServer(1<<20, 0)
	tag := get(t, s, "/obj/1k/1").Header.Get("ETag")
	tests := []struct {
		name   string
		hdr    []string
		status int
	}{
		{"matching If-None-Match", []string{"If-None-Match", tag}, http.StatusNotModified},
		{"other If-None-Match", []string{"If-None-Match", `"nope"`}, http.StatusOK},
		{"If-Modified-Since later", []string{"If-Modified-Since", "Tue, 02 Jan 2024 00:00:00 GMT"}, http.StatusNotModified},
		{"range", []string{"Range", "bytes=0-9"}, http.StatusPartialContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := get(t, s, "/obj/1k/1", tt.hdr...).StatusCode; got != tt.status {
				t.Errorf("status %d, want %d", got, tt.status)
			}
		})
	}
}

func TestDelay(t *testing.T) {
	tests := []struct {
		name  string
		flag  time.Duration
		uri   string
		least time.Duration
	}{
		{"query duration", 0, "/obj/1k/d?delay=30ms", 30 * time.Millisecond},
		{"query milliseconds", 0, "/obj/1k/d?delay=30", 30 * time.Millisecond},
		{"flag and query add", 20 * time.Millisecond, "/obj/1k/d?delay=20ms", 40 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(1<<20, tt.flag)
			start := time.Now()
			resp := get(t, s, tt.uri)
			if took := time.Since(start); took < tt.least {
				t.Errorf("answered after %v, want at least %v", took, tt.least)
			}
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
}

func TestStats(t *testing.T) {
	s := newServer(1<<20, 0)
	for _, uri := range []string{"/obj/1k/1", "/obj/1k/1", "/obj/1k/s?delay=1ms", "/obj/1k/2"} {
		get(t, s, uri)
	}
	get(t, s, "/stats") // not counted
	count := func(path string) string {
		return strings.TrimSpace(string(body(t, get(t, s, "/stats?path="+path))))
	}
	tests := []struct{ path, want string }{
		{"/obj/1k/1", "2"},
		{"/obj/1k/s%3Fdelay%3D1ms", "1"}, // the query is part of the counted URI
		{"/obj/1k/s", "0"},
		{"/obj/1k/2", "1"},
		{"/stats", "0"},
	}
	for _, tt := range tests {
		if got := count(tt.path); got != tt.want {
			t.Errorf("stats for %s = %s, want %s", tt.path, got, tt.want)
		}
	}
	if all := string(body(t, get(t, s, "/stats"))); !strings.Contains(all, `"total":4`) {
		t.Errorf("/stats = %s, want total 4", all)
	}
	get(t, s, "/stats/reset")
	if got := count("/obj/1k/1"); got != "0" {
		t.Errorf("after reset, stats = %s, want 0", got)
	}
}

func BenchmarkObject1k(b *testing.B) {
	s := newServer(1<<20, 0)
	req := httptest.NewRequest(http.MethodGet, "/obj/1k/1", nil)
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		s.ServeHTTP(w, req)
	}
}

// discardWriter is an http.ResponseWriter that keeps nothing, so the
// benchmark measures the handler, not a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
