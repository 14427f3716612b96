package main

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// newServer is an HTTPS server answering every GET with body, counting the
// handshakes it completes.
func newServer(t *testing.T, body string) (*httptest.Server, *atomic.Int64) {
	var handshakes atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(body))
	}))
	s.TLS = &tls.Config{
		VerifyConnection: func(tls.ConnectionState) error { handshakes.Add(1); return nil },
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s, &handshakes
}

func TestRunFullHandshakes(t *testing.T) {
	s, handshakes := newServer(t, strings.Repeat("x", 1024))
	r, err := run(config{
		addr: s.Listener.Addr().String(), path: "/obj/1k/1", serverName: "bench.test",
		conns: 4, duration: 300 * time.Millisecond, wantLen: 1024, curves: []tls.CurveID{tls.X25519},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK < 4 || r.Errors != 0 {
		t.Fatalf("ok %d errors %d (first: %v), want at least 4 answers and no errors", r.OK, r.Errors, r.FirstErr)
	}
	// Each answer took its own connection and handshake.
	if got := handshakes.Load(); got != int64(r.handshakes) || r.handshakes != r.OK {
		t.Errorf("server saw %d handshakes, client %d, answers %d; want all equal", got, r.handshakes, r.OK)
	}
	if r.resumed != 0 {
		t.Errorf("resumed %d, want 0: the client keeps no sessions", r.resumed)
	}
	line := r.handshakeLine()
	for _, want := range []string{"resumed=0", "version=TLS 1.3:", "curve=X25519:", "cipher=TLS_AES_128_GCM_SHA256:"} {
		if !strings.Contains(line, want) {
			t.Errorf("handshake line %q lacks %q", line, want)
		}
	}
	if !strings.HasPrefix(r.Line(), "RESULT requests=") || !strings.HasSuffix(r.Line(), "errors=0") {
		t.Errorf("result line %q", r.Line())
	}
}

// With a session cache the server resumes (Go's server issues tickets),
// and the run must say so: this is the check that makes "resumed=0" mean
// something.
func TestRunCountsResumption(t *testing.T) {
	s, _ := newServer(t, "hello")
	r, err := run(config{
		addr: s.Listener.Addr().String(), path: "/", serverName: "bench.test",
		conns: 1, duration: 200 * time.Millisecond, wantLen: 5,
		sessions: tls.NewLRUClientSessionCache(8),
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK < 2 || r.resumed == 0 || r.resumed >= r.handshakes {
		t.Fatalf("ok %d handshakes %d resumed %d: want the first full and later ones resumed", r.OK, r.handshakes, r.resumed)
	}
}

func TestRunCountsWrongAnswers(t *testing.T) {
	s, _ := newServer(t, "short")
	r, err := run(config{
		addr: s.Listener.Addr().String(), path: "/", serverName: "bench.test",
		conns: 2, duration: 100 * time.Millisecond, wantLen: 1024,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 0 || r.Errors == 0 || !strings.Contains(r.FirstErr.Error(), "5 body bytes, want 1024") {
		t.Fatalf("ok %d errors %d first %v: want every answer counted as wrong", r.OK, r.Errors, r.FirstErr)
	}
}

func TestParseCurves(t *testing.T) {
	if ids, err := parseCurves("x25519,P256"); err != nil || len(ids) != 2 || ids[0] != tls.X25519 || ids[1] != tls.CurveP256 {
		t.Errorf("parseCurves: %v %v", ids, err)
	}
	if ids, err := parseCurves("default"); err != nil || ids != nil {
		t.Errorf("parseCurves(default): %v %v", ids, err)
	}
	if _, err := parseCurves("x448"); err == nil || !strings.Contains(err.Error(), `"x448"`) {
		t.Errorf("parseCurves(x448): %v", err)
	}
}
