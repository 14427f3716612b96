package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// barrier answers nobody until n requests are in flight at once (or the
// wait times out with 504), then answers them all.
type barrier struct {
	n       int
	status  int
	body    string
	xcache  func(i int64) string
	arrived atomic.Int64
	once    sync.Once
	all     chan struct{}
}

func (b *barrier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := b.arrived.Add(1)
	if int(i) == b.n {
		b.once.Do(func() { close(b.all) })
	}
	select {
	case <-b.all:
	case <-time.After(5 * time.Second):
		w.WriteHeader(http.StatusGatewayTimeout)
		return
	}
	if b.xcache != nil {
		w.Header().Set("X-Cache", b.xcache(i))
	}
	w.WriteHeader(b.status)
	w.Write([]byte(b.body))
}

func TestRun(t *testing.T) {
	const n = 50
	missFirst := func(i int64) string {
		if i == 1 {
			return "Miss from tern"
		}
		return "Hit from tern"
	}
	tests := []struct {
		name      string
		status    int
		body      string
		wantLen   int64
		xcache    func(int64) string
		ok, fail  int
		badLen    int
		wantInOut []string
	}{
		{"all answered together", 200, "0123456789", 10, missFirst, n, 0, 0,
			[]string{"ok=50 fail=0 bytes_bad=0", "cache=Hit:49,Miss:1"}},
		{"length not checked", 200, "abc", -1, nil, n, 0, 0, []string{"bytes_bad=0"}},
		{"wrong length", 200, "abc", 10, nil, n, 0, n, []string{"bytes_bad=50"}},
		{"errors count as failures", 503, "x", -1, nil, 0, n, 0, []string{`fail=50`, `first_err="status 503"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &barrier{n: n, status: tt.status, body: tt.body, xcache: tt.xcache, all: make(chan struct{})}
			srv := httptest.NewServer(h)
			defer srv.Close()
			r, err := run(config{
				target: srv.Listener.Addr().String(), path: "/obj/1k/x?delay=1ms", n: n,
				wantLen: tt.wantLen, timeout: 10 * time.Second, cacheHeaders: []string{"X-Cache"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.ok != tt.ok || r.fail != tt.fail || r.badLen != tt.badLen {
				t.Errorf("ok=%d fail=%d bytes_bad=%d, want %d %d %d (%s)", r.ok, r.fail, r.badLen, tt.ok, tt.fail, tt.badLen, r)
			}
			// The barrier answers only once all n requests are in flight:
			// a storm that sent them one after another would time out.
			if r.all >= 5*time.Second {
				t.Errorf("all answered after %v: requests were not concurrent", r.all)
			}
			if r.max > r.all+time.Millisecond || r.min > r.p50 || r.p50 > r.max {
				t.Errorf("latencies out of order: %s", r)
			}
			out := r.String()
			for _, want := range tt.wantInOut {
				if !strings.Contains(out, want) {
					t.Errorf("output %q lacks %q", out, want)
				}
			}
		})
	}
}

func TestRunOriginDelay(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	r, err := run(config{target: srv.Listener.Addr().String(), path: "/", n: 3, wantLen: 2,
		timeout: 5 * time.Second, originDelay: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.all < 30*time.Millisecond || r.ok != 3 {
		t.Fatalf("all=%v ok=%d, want >= 30ms and 3", r.all, r.ok)
	}
	if !strings.Contains(r.String(), " over_origin_ms=") {
		t.Errorf("output %q lacks over_origin_ms", r)
	}
}

func TestRunFailsToConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	tests := []struct {
		name string
		cfg  config
	}{
		{"refused", config{target: addr, path: "/", n: 2, timeout: 2 * time.Second}},
		{"no connections", config{target: addr, path: "/", n: 0, timeout: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r, err := run(tt.cfg); err == nil {
				t.Errorf("run = %s, want an error", r)
			}
		})
	}
}
