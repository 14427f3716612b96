package edge

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkServeMissHTTP is the miss path to a plain-HTTP origin: every
// request is for a new object, fetched over a pooled HTTP/1.1 connection
// and stored.
func BenchmarkServeMissHTTP(b *testing.B) {
	body := strings.Repeat("x", 1024)
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, body)
	}))
	defer o.Close()
	s := newTestServer(b, o.URL, "")
	w := &discardWriter{h: make(http.Header, 16)}
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		clear(w.h)
		req := httptest.NewRequest("GET", fmt.Sprintf("http://bench.test/obj/%d", n), nil)
		req.RemoteAddr = "127.0.0.1:5000"
		s.ServeHTTP(w, req)
		if w.h.Get("X-Cache") != "Miss from tern" {
			b.Fatalf("not a miss: %q", w.h.Get("X-Cache"))
		}
	}
}
